//! Channel and channel-token rows. Credentials are sealed on the way in and opened on the
//! way out, so no caller handles the sealed form.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::{Map, Value, json};

use super::dkim::{Algorithm, DkimKey};
use super::input::ChannelInput;
use super::providers::{twilio::TwilioAccount, whatsapp::WhatsAppAccount};
use super::{Channel, ChannelError, ChannelKind, Mailbox, Settings, SmsNumber, SmtpServer};
use super::{TokenInfo, WhatsAppNumber};
use crate::auth::secrets::{new_token, token_hash};
use crate::kinds::WorkspaceId;
use crate::store::StoreError;

/// Every channel token starts with this, so a leaked one is recognisable.
pub const TOKEN_PREFIX: &str = "hc_";

const COLUMNS: &str =
    "id, uid, workspace_id, kind, name, settings, credentials, created_at, updated_at";

fn purpose(uid: &str) -> String {
    format!("channel:{uid}")
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<Channel> {
    let uid: String = r.get(1)?;
    let kind: String = r.get(3)?;
    let settings: String = r.get(5)?;
    let sealed: String = r.get(6)?;
    let settings: Map<String, Value> = serde_json::from_str(&settings).unwrap_or_default();
    // A value that does not open (another key) reads as no credentials: the send then
    // fails with the server's refusal, and the owner can enter them again.
    let credentials: Map<String, Value> = crate::store::here()
        .vault()
        .open_sealed(&purpose(&uid), &sealed)
        .and_then(|plain| serde_json::from_str(&plain).ok())
        .unwrap_or_default();
    let settings = match ChannelKind::parse(&kind) {
        Some(ChannelKind::Email) | None => Settings::Email(mailbox(&settings, &credentials)),
        Some(ChannelKind::Sms) => Settings::Sms(sms(&settings, &credentials)),
        Some(ChannelKind::WhatsApp) => Settings::WhatsApp(whatsapp(&settings, &credentials)),
    };
    Ok(Channel {
        id: r.get(0)?,
        uid,
        workspace_id: r.get(2)?,
        name: r.get(4)?,
        settings,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

fn text(m: &Map<String, Value>, key: &str) -> String {
    m.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

fn mailbox(s: &Map<String, Value>, c: &Map<String, Value>) -> Mailbox {
    let smtp = s
        .get("smtp")
        .and_then(Value::as_object)
        .map(|m| SmtpServer {
            host: text(m, "host"),
            port: m.get("port").and_then(Value::as_u64).unwrap_or(587) as u16,
            tls: serde_json::from_value(m.get("tls").cloned().unwrap_or(json!("starttls")))
                .unwrap_or(crate::config::SmtpTls::Starttls),
            username: text(m, "username"),
            password: text(c, "smtpPassword"),
        });
    Mailbox {
        from_name: text(s, "fromName"),
        from_address: text(s, "fromAddress"),
        reply_to: s.get("replyTo").and_then(Value::as_str).map(String::from),
        rate_per_second: s
            .get("ratePerSecond")
            .and_then(Value::as_f64)
            .unwrap_or(0.0),
        smtp,
        dkim: dkim_key(s, c),
    }
}

fn optional(m: &Map<String, Value>, key: &str) -> Option<String> {
    m.get(key).and_then(Value::as_str).map(String::from)
}

fn sms(s: &Map<String, Value>, c: &Map<String, Value>) -> SmsNumber {
    SmsNumber {
        account: TwilioAccount {
            base_url: text(s, "baseUrl"),
            account_sid: text(s, "accountSid"),
            auth_token: text(c, "authToken"),
            from: optional(s, "from"),
            messaging_service_sid: optional(s, "messagingServiceSid"),
        },
    }
}

fn whatsapp(s: &Map<String, Value>, c: &Map<String, Value>) -> WhatsAppNumber {
    WhatsAppNumber {
        account: WhatsAppAccount {
            base_url: text(s, "baseUrl"),
            api_version: text(s, "apiVersion"),
            phone_number_id: text(s, "phoneNumberId"),
            access_token: text(c, "accessToken"),
        },
        app_secret: text(c, "appSecret"),
        verify_token: text(s, "verifyToken"),
    }
}

/// A random secret for a channel (a WhatsApp verify token the owner did not choose).
pub fn fresh_secret() -> String {
    new_token("hv_")
}

fn dkim_key(s: &Map<String, Value>, c: &Map<String, Value>) -> Option<DkimKey> {
    let d = s.get("dkim")?.as_object()?;
    Some(DkimKey {
        selector: text(d, "selector"),
        algorithm: Algorithm::parse(d.get("algorithm")?.as_str()?)?,
        private_key: c.get("dkimPrivateKey")?.as_str()?.to_string(),
        public_key: text(d, "publicKey"),
    })
}

/// The stored forms of a channel's settings: what is shown back, and what is sealed.
/// What a channel stores in the clear (shown back) and what it seals.
fn stored(settings: &Settings) -> (Value, Value) {
    let m = match settings {
        Settings::Email(m) => m,
        Settings::Sms(n) => {
            let a = &n.account;
            return (
                json!({"baseUrl": a.base_url, "accountSid": a.account_sid, "from": a.from,
                       "messagingServiceSid": a.messaging_service_sid}),
                json!({"authToken": a.auth_token}),
            );
        }
        Settings::WhatsApp(w) => {
            let a = &w.account;
            return (
                json!({"baseUrl": a.base_url, "apiVersion": a.api_version,
                       "phoneNumberId": a.phone_number_id, "verifyToken": w.verify_token}),
                json!({"accessToken": a.access_token, "appSecret": w.app_secret}),
            );
        }
    };
    let smtp = m
        .smtp
        .as_ref()
        .map(|s| json!({"host": s.host, "port": s.port, "tls": s.tls, "username": s.username}));
    let dkim = m.dkim.as_ref().map(|k| {
        json!({"selector": k.selector, "algorithm": k.algorithm.as_str(), "publicKey": k.public_key})
    });
    let shown = json!({
        "fromName": m.from_name, "fromAddress": m.from_address, "replyTo": m.reply_to,
        "ratePerSecond": m.rate_per_second, "smtp": smtp, "dkim": dkim,
    });
    let password = m
        .smtp
        .as_ref()
        .map(|s| s.password.clone())
        .unwrap_or_default();
    let private = m.dkim.as_ref().map(|k| k.private_key.clone());
    (
        shown,
        json!({ "smtpPassword": password, "dkimPrivateKey": private }),
    )
}

/// Creates a channel; returns it.
pub fn create(
    conn: &Connection,
    ws: WorkspaceId,
    input: &ChannelInput,
) -> Result<Channel, ChannelError> {
    let now = crate::store::here().now_ms();
    let uid = format!("ch_{}", uuid::Uuid::now_v7().simple());
    let (shown, secret) = stored(&input.settings);
    let sealed = crate::store::here()
        .vault()
        .seal(&purpose(&uid), &secret.to_string());
    conn.prepare_cached(
        "INSERT INTO channels (uid, workspace_id, kind, name, settings, credentials, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    )?
    .execute(params![uid, ws, input.kind().as_str(), input.name, shown.to_string(), sealed, now])?;
    get(conn, ws, &uid)?.ok_or(ChannelError::NotFound)
}

/// Replaces a channel's name and settings.
pub fn update(
    conn: &Connection,
    ws: WorkspaceId,
    uid: &str,
    input: &ChannelInput,
) -> Result<Channel, ChannelError> {
    let now = crate::store::here().now_ms();
    let (shown, secret) = stored(&input.settings);
    let sealed = crate::store::here()
        .vault()
        .seal(&purpose(uid), &secret.to_string());
    let n = conn
        .prepare_cached(
            "UPDATE channels SET name = ?3, settings = ?4, credentials = ?5, updated_at = ?6
             WHERE workspace_id = ?1 AND uid = ?2",
        )?
        .execute(params![ws, uid, input.name, shown.to_string(), sealed, now])?;
    if n == 0 {
        return Err(ChannelError::NotFound);
    }
    get(conn, ws, uid)?.ok_or(ChannelError::NotFound)
}

/// Gives a mailbox its DKIM key, or takes it away (`None`).
pub fn set_dkim(
    conn: &Connection,
    channel: &Channel,
    key: Option<DkimKey>,
) -> Result<Channel, ChannelError> {
    let Settings::Email(mut mailbox) = channel.settings.clone() else {
        return Err(ChannelError::invalid(
            "kind",
            "only an email mailbox signs with DKIM",
        ));
    };
    mailbox.dkim = key;
    let input = ChannelInput {
        name: channel.name.clone(),
        settings: Settings::Email(mailbox),
    };
    update(conn, channel.workspace_id, &channel.uid, &input)
}

/// A channel by its public id in any workspace: for provider webhooks, which carry no
/// workspace and are believed only once their signature checks with its credentials.
pub fn by_uid(conn: &Connection, uid: &str) -> Result<Option<Channel>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM channels WHERE uid = ?1"))?
        .query_row([uid], from_row)
        .optional()?)
}

/// One channel of the workspace.
pub fn get(conn: &Connection, ws: WorkspaceId, uid: &str) -> Result<Option<Channel>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM channels WHERE workspace_id = ?1 AND uid = ?2"
        ))?
        .query_row(params![ws, uid], from_row)
        .optional()?)
}

/// One channel by row id (the send job's look-up).
pub fn by_id(conn: &Connection, id: i64) -> Result<Option<Channel>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM channels WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

/// The workspace's channels, oldest first.
pub fn list(conn: &Connection, ws: WorkspaceId) -> Result<Vec<Channel>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM channels WHERE workspace_id = ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map([ws], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes a channel; its tokens stay, answering 404 CHANNEL_NOT_FOUND.
pub fn delete(conn: &Connection, ws: WorkspaceId, uid: &str) -> Result<(), ChannelError> {
    let n = conn
        .prepare_cached("DELETE FROM channels WHERE workspace_id = ?1 AND uid = ?2")?
        .execute(params![ws, uid])?;
    if n == 0 {
        return Err(ChannelError::NotFound);
    }
    Ok(())
}

fn token_from_row(r: &Row<'_>) -> rusqlite::Result<TokenInfo> {
    Ok(TokenInfo {
        uid: r.get(0)?,
        name: r.get(1)?,
        prefix: r.get(2)?,
        created_at: r.get(3)?,
        rotated_at: r.get(4)?,
        last_used_at: r.get(5)?,
    })
}

const TOKEN_COLUMNS: &str = "uid, name, prefix, created_at, rotated_at, last_used_at";

/// The channel's tokens, oldest first.
pub fn tokens(conn: &Connection, channel_id: i64) -> Result<Vec<TokenInfo>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TOKEN_COLUMNS} FROM channel_tokens WHERE channel_id = ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map([channel_id], token_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn fresh_token() -> (String, String) {
    let token = new_token(TOKEN_PREFIX);
    let prefix = token[..TOKEN_PREFIX.len() + 8].to_string();
    (token, prefix)
}

/// Makes a token for the channel: the only moment it exists outside the caller.
pub fn create_token(
    conn: &Connection,
    channel: &Channel,
    name: &str,
) -> Result<(TokenInfo, String), ChannelError> {
    let now = crate::store::here().now_ms();
    let uid = format!("tok_{}", uuid::Uuid::now_v7().simple());
    let (token, prefix) = fresh_token();
    conn.prepare_cached(
        "INSERT INTO channel_tokens (uid, workspace_id, channel_id, name, prefix, token_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![uid, channel.workspace_id, channel.id, name, prefix, token_hash(&token), now])?;
    let info = token_info(conn, channel.id, &uid)?.ok_or(ChannelError::TokenNotFound)?;
    Ok((info, token))
}

fn token_info(
    conn: &Connection,
    channel_id: i64,
    uid: &str,
) -> Result<Option<TokenInfo>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {TOKEN_COLUMNS} FROM channel_tokens WHERE channel_id = ?1 AND uid = ?2"
        ))?
        .query_row(params![channel_id, uid], token_from_row)
        .optional()?)
}

/// Gives the token a new value; the old one stops working at once.
pub fn rotate_token(
    conn: &Connection,
    channel_id: i64,
    uid: &str,
) -> Result<(TokenInfo, String), ChannelError> {
    let now = crate::store::here().now_ms();
    let (token, prefix) = fresh_token();
    let n = conn
        .prepare_cached(
            "UPDATE channel_tokens SET token_hash = ?3, prefix = ?4, rotated_at = ?5
             WHERE channel_id = ?1 AND uid = ?2",
        )?
        .execute(params![channel_id, uid, token_hash(&token), prefix, now])?;
    if n == 0 {
        return Err(ChannelError::TokenNotFound);
    }
    let info = token_info(conn, channel_id, uid)?.ok_or(ChannelError::TokenNotFound)?;
    Ok((info, token))
}

/// Deletes a token; it stops working at once.
pub fn delete_token(conn: &Connection, channel_id: i64, uid: &str) -> Result<(), ChannelError> {
    let n = conn
        .prepare_cached("DELETE FROM channel_tokens WHERE channel_id = ?1 AND uid = ?2")?
        .execute(params![channel_id, uid])?;
    if n == 0 {
        return Err(ChannelError::TokenNotFound);
    }
    Ok(())
}

/// What a presented token opens.
#[derive(Debug)]
pub enum Bearer {
    /// No token has this value.
    Unknown,
    /// The token's channel was deleted after it was made.
    ChannelGone,
    /// The channel the token belongs to.
    Channel(Box<Channel>),
}

/// Looks a presented token up by its hash.
pub fn by_token(conn: &Connection, token: &str) -> Result<Bearer, StoreError> {
    let found: Option<Option<i64>> = conn
        .prepare_cached("SELECT channel_id FROM channel_tokens WHERE token_hash = ?1")?
        .query_row([token_hash(token)], |r| r.get(0))
        .optional()?;
    Ok(match found {
        None => Bearer::Unknown,
        Some(None) => Bearer::ChannelGone,
        Some(Some(id)) => match by_id(conn, id)? {
            Some(c) => Bearer::Channel(Box::new(c)),
            None => Bearer::ChannelGone,
        },
    })
}

/// Records that the token was just used (shown in the token list).
pub fn touch_token(conn: &Connection, token: &str) -> Result<(), StoreError> {
    let now = crate::store::here().now_ms();
    conn.prepare_cached("UPDATE channel_tokens SET last_used_at = ?2 WHERE token_hash = ?1")?
        .execute(params![token_hash(token), now])?;
    Ok(())
}
