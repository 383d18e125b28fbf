//! The numbers that asked a channel to stop (STOP, UNSUBSCRIBE, …, as the provider
//! reported them): nothing more goes to them through that channel until they text START.

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::StoreError;

/// Records that `address` (E.164 with +) opted out of the channel, with the word it sent.
pub fn record(
    conn: &Connection,
    channel_id: i64,
    address: &str,
    keyword: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO channel_opt_outs (channel_id, address, keyword, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (channel_id, address) DO UPDATE SET keyword = excluded.keyword",
    )?
    .execute(params![channel_id, address, keyword, crate::store::here().now_ms()])?;
    Ok(())
}

/// Lets `address` hear from the channel again (it texted START).
pub fn clear(conn: &Connection, channel_id: i64, address: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM channel_opt_outs WHERE channel_id = ?1 AND address = ?2")?
        .execute(params![channel_id, address])?;
    Ok(())
}

/// The word `address` opted out of the channel with, if it did.
pub fn keyword(
    conn: &Connection,
    channel_id: i64,
    address: &str,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT keyword FROM channel_opt_outs WHERE channel_id = ?1 AND address = ?2",
        )?
        .query_row(params![channel_id, address], |r| r.get(0))
        .optional()?)
}

/// How many numbers opted out of the channel (shown on its settings page).
pub fn count(conn: &Connection, channel_id: i64) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM channel_opt_outs WHERE channel_id = ?1")?
        .query_row([channel_id], |r| r.get(0))?)
}
