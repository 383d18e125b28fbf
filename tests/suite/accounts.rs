//! Sign-in, setup link, sessions, CSRF, throttling and the workspace switcher, through
//! the real server as a browser uses them.

use crate::support;

use reqwest::blocking::{Client, Response};
use serde_json::Value;
use support::{Herald, csrf_from, get_text, login, page_csrf};

fn setup_link(herald: &Herald) -> String {
    let log = herald.log();
    let start = log.find("/setup/").expect("setup link in the log");
    let token: String = log[start + 7..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    assert_eq!(token.len(), 64, "setup token has 256 bits");
    format!("/setup/{token}")
}

#[test]
fn setup_link_creates_the_owner_once_then_expires() {
    let herald = Herald::start();
    let link = setup_link(&herald);
    let browser = herald.browser();
    let page = browser.get(herald.url(&link)).send().unwrap();
    assert_eq!(page.status(), 200);
    let token = csrf_from(&page.text().unwrap());
    let created = browser
        .post(herald.url(&link))
        .form(&[
            ("email", "Owner@Example.com"),
            ("workspace", "Acme"),
            ("password", "correct horse battery"),
            ("password_confirm", "correct horse battery"),
            ("csrf_token", &token),
        ])
        .send()
        .unwrap();
    assert_eq!(created.status(), 303);
    // The new owner is signed in and sees their workspace.
    let home = browser.get(herald.url("/")).send().unwrap();
    assert_eq!(home.status(), 200);
    let html = home.text().unwrap();
    assert!(html.contains("Acme"));
    assert!(html.contains("owner@example.com"));

    // The link is spent: a second visitor gets a clear "gone" page, for GET and POST.
    let other = herald.browser();
    assert_eq!(other.get(herald.url(&link)).send().unwrap().status(), 410);
    let login_page = get_text(&herald, &other, "/login");
    let token = csrf_from(&login_page);
    let again = other
        .post(herald.url(&link))
        .form(&[
            ("email", "intruder@example.com"),
            ("workspace", "Evil"),
            ("password", "whatever123"),
            ("password_confirm", "whatever123"),
            ("csrf_token", &token),
        ])
        .send()
        .unwrap();
    assert_eq!(again.status(), 410);
    assert!(
        login(
            &herald,
            &herald.browser(),
            "intruder@example.com",
            "whatever123"
        )
        .status()
            == 401
    );
}

#[test]
fn no_setup_link_once_a_user_exists() {
    let mut herald = Herald::start();
    let link = setup_link(&herald);
    herald.add_user("admin@example.com", "Acme", "password-one", "owner");
    assert_eq!(
        herald
            .browser()
            .get(herald.url(&link))
            .send()
            .unwrap()
            .status(),
        410
    );
    herald.terminate();
    let before = herald.log().matches("/setup/").count();
    herald.spawn();
    assert_eq!(
        herald.log().matches("/setup/").count(),
        before,
        "no new setup link is printed"
    );
}

#[test]
fn login_logout_and_wrong_password() {
    let herald = Herald::start();
    herald.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    let browser = herald.browser();

    assert_eq!(
        browser
            .get(herald.url("/settings"))
            .send()
            .unwrap()
            .status(),
        303,
        "signed out is sent to login"
    );
    let wrong = login(&herald, &browser, "ada@example.com", "wrong password");
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().unwrap().contains("Wrong email or password"));
    assert_eq!(
        browser
            .get(herald.url("/settings"))
            .send()
            .unwrap()
            .status(),
        303
    );

    // Email is matched case-insensitively.
    let ok = login(&herald, &browser, "ADA@example.com", "analytical-engine");
    assert_eq!(ok.status(), 303);
    assert_eq!(
        browser
            .get(herald.url("/settings"))
            .send()
            .unwrap()
            .status(),
        200
    );

    let token = page_csrf(&herald, &browser, "/");
    let out = browser
        .post(herald.url("/logout"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(
        browser
            .get(herald.url("/settings"))
            .send()
            .unwrap()
            .status(),
        303
    );
}

#[test]
fn logged_out_session_token_is_dead_even_if_replayed() {
    let herald = Herald::start();
    herald.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    let browser = herald.browser();
    let response = login(&herald, &browser, "ada@example.com", "analytical-engine");
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("herald_session="))
        .unwrap();
    let value = cookie.split(';').next().unwrap().to_string();
    let token = page_csrf(&herald, &browser, "/");
    browser
        .post(herald.url("/logout"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .unwrap();
    let replay = herald
        .browser()
        .get(herald.url("/api/workspace"))
        .header("cookie", value)
        .send()
        .unwrap();
    assert_eq!(replay.status(), 401);
}

#[test]
fn repeated_failed_logins_are_throttled() {
    let herald = Herald::start_with(&[("HERALD_AUTH__LOGIN_MAX_FAILURES", "3")]);
    herald.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    let browser = herald.browser();
    for _ in 0..3 {
        assert_eq!(
            login(&herald, &browser, "ada@example.com", "guess").status(),
            401
        );
    }
    // Even the right password is refused while locked out, with a Retry-After.
    let locked = login(&herald, &browser, "ada@example.com", "analytical-engine");
    assert_eq!(locked.status(), 429);
    let retry: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
}

#[test]
fn forms_without_a_valid_csrf_token_are_refused() {
    let herald = Herald::start();
    herald.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    let browser = herald.signed_in("ada@example.com", "analytical-engine");

    for token in ["", "forged-token"] {
        let created = browser
            .post(herald.url("/settings/api-keys"))
            .form(&[("name", "sneaky"), ("csrf_token", token)])
            .send()
            .unwrap();
        assert_eq!(created.status(), 403);
    }
    let settings = get_text(&herald, &browser, "/settings");
    assert!(!settings.contains("sneaky"), "nothing was created");
    let logout = browser
        .post(herald.url("/logout"))
        .form(&[("csrf_token", "nope")])
        .send()
        .unwrap();
    assert_eq!(logout.status(), 403);

    // The login form itself needs the browser's own token.
    let stranger = herald.browser();
    let forged = stranger
        .post(herald.url("/login"))
        .form(&[
            ("email", "ada@example.com"),
            ("password", "analytical-engine"),
            ("csrf_token", "x"),
        ])
        .send()
        .unwrap();
    assert_eq!(forged.status(), 403);
}

fn cookie_header(response: &reqwest::blocking::Response, name: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie"))
}

#[test]
fn session_cookie_is_httponly_lax_and_secure_only_over_https() {
    let herald = Herald::start();
    herald.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    let response = login(
        &herald,
        &herald.browser(),
        "ada@example.com",
        "analytical-engine",
    );
    let cookie = cookie_header(&response, "herald_session");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
    let value = cookie.split(';').next().unwrap().split('=').nth(1).unwrap();
    assert_eq!(value.len(), 64, "256-bit session token");

    let https = Herald::start_with(&[("HERALD_SERVER__BASE_URL", "https://herald.example.com")]);
    https.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    let response = login(
        &https,
        &https.browser(),
        "ada@example.com",
        "analytical-engine",
    );
    let cookie = cookie_header(&response, "herald_session");
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");

    // Only a hash of the token is stored.
    let conn = rusqlite::Connection::open(herald.db_path()).unwrap();
    let stored: Vec<u8> = conn
        .query_row("SELECT token_hash FROM sessions", [], |r| r.get(0))
        .unwrap();
    assert_ne!(stored, value.as_bytes());
    assert_eq!(stored.len(), 32);
}

#[test]
fn password_change_revokes_every_session() {
    let herald = Herald::start();
    herald.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    let laptop = herald.signed_in("ada@example.com", "analytical-engine");
    let phone = herald.signed_in("ada@example.com", "analytical-engine");
    let token = page_csrf(&herald, &laptop, "/account");
    let changed = laptop
        .post(herald.url("/account/password"))
        .form(&[
            ("current", "analytical-engine"),
            ("new", "difference-engine"),
            ("confirm", "difference-engine"),
            ("csrf_token", &token),
        ])
        .send()
        .unwrap();
    assert_eq!(changed.status(), 303);
    assert_eq!(
        phone.get(herald.url("/account")).send().unwrap().status(),
        303,
        "other session is gone"
    );
    assert_eq!(
        laptop.get(herald.url("/account")).send().unwrap().status(),
        200,
        "this browser stays in"
    );
    assert_eq!(
        login(
            &herald,
            &herald.browser(),
            "ada@example.com",
            "analytical-engine"
        )
        .status(),
        401
    );
    assert_eq!(
        login(
            &herald,
            &herald.browser(),
            "ada@example.com",
            "difference-engine"
        )
        .status(),
        303
    );
}

#[test]
fn wrong_current_password_changes_nothing() {
    let herald = Herald::start();
    herald.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    let browser = herald.signed_in("ada@example.com", "analytical-engine");
    let token = page_csrf(&herald, &browser, "/account");
    browser
        .post(herald.url("/account/password"))
        .form(&[
            ("current", "nope-nope"),
            ("new", "difference-engine"),
            ("confirm", "difference-engine"),
            ("csrf_token", &token),
        ])
        .send()
        .unwrap();
    let page = get_text(&herald, &browser, "/account");
    assert!(page.contains("current password is wrong"));
    assert_eq!(
        login(
            &herald,
            &herald.browser(),
            "ada@example.com",
            "analytical-engine"
        )
        .status(),
        303
    );
}

/// The workspace the browser's session acts in, as the API reports it.
fn session_workspace(herald: &Herald, browser: &Client) -> Value {
    browser
        .get(herald.url("/api/workspace"))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// Submits the workspace switcher for the workspace with `uid`.
fn switch_to(herald: &Herald, browser: &Client, uid: &str, token: &str) -> Response {
    browser
        .post(herald.url("/workspaces/switch"))
        .form(&[("workspace_id", uid), ("csrf_token", token)])
        .send()
        .unwrap()
}

#[test]
fn workspace_switcher_moves_the_session_between_memberships() {
    let herald = Herald::start();
    herald.add_user("ada@example.com", "Acme", "analytical-engine", "owner");
    herald.add_user("ada@example.com", "Globex", "ignored-password", "member");
    herald.add_user("eve@example.com", "Initech", "eve-password", "owner");
    let browser = herald.signed_in("ada@example.com", "analytical-engine");
    let home = get_text(&herald, &browser, "/");
    assert!(
        home.contains("workspace_id"),
        "switcher shown for two workspaces"
    );
    assert!(home.contains("Globex") && home.contains("Acme"));
    assert!(!home.contains("Initech"), "only own workspaces are offered");

    assert_eq!(session_workspace(&herald, &browser)["name"], "Acme");
    let globex_id = extract_option_value(&home, "Globex");
    let token = csrf_from(&home);
    let switched = switch_to(&herald, &browser, &globex_id, &token);
    assert_eq!(switched.status(), 303);
    assert_eq!(session_workspace(&herald, &browser)["name"], "Globex");

    // A workspace the user is not a member of cannot be switched to.
    let conn = rusqlite::Connection::open(herald.db_path()).unwrap();
    let initech: String = conn
        .query_row(
            "SELECT uid FROM workspaces WHERE name = 'Initech'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let refused = switch_to(&herald, &browser, &initech, &token);
    assert_eq!(refused.status(), 404);
    assert_eq!(session_workspace(&herald, &browser)["name"], "Globex");
}

fn extract_option_value(html: &str, label: &str) -> String {
    let end = html.find(&format!(">{label}</option>")).unwrap();
    let start = html[..end].rfind("value=\"").unwrap() + 7;
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

#[test]
fn members_can_be_added_and_only_managers_manage() {
    let herald = Herald::start();
    herald.add_user("owner@example.com", "Acme", "owner-password", "owner");
    let owner = herald.signed_in("owner@example.com", "owner-password");
    let token = page_csrf(&herald, &owner, "/settings");
    let added = owner
        .post(herald.url("/settings/members"))
        .form(&[
            ("email", "Bob@Example.com"),
            ("role", "member"),
            ("password", "bob-password"),
            ("csrf_token", &token),
        ])
        .send()
        .unwrap();
    assert_eq!(added.status(), 303);
    let settings = get_text(&herald, &owner, "/settings");
    assert!(settings.contains("bob@example.com"));

    let bob = herald.signed_in("bob@example.com", "bob-password");
    let token = page_csrf(&herald, &bob, "/settings");
    let refused = bob
        .post(herald.url("/settings/api-keys"))
        .form(&[("name", "bobs key"), ("csrf_token", &token)])
        .send()
        .unwrap();
    assert_eq!(refused.status(), 403, "members cannot create keys");
}

#[test]
fn user_data_is_escaped_in_pages() {
    let herald = Herald::start();
    herald.add_user(
        "ada@example.com",
        "<script>alert(1)</script>",
        "analytical-engine",
        "owner",
    );
    let browser = herald.signed_in("ada@example.com", "analytical-engine");
    let token = page_csrf(&herald, &browser, "/settings");
    browser
        .post(herald.url("/settings/api-keys"))
        .form(&[
            ("name", "<img src=x onerror=alert(2)>"),
            ("csrf_token", &token),
        ])
        .send()
        .unwrap();
    let settings = get_text(&herald, &browser, "/settings");
    assert!(!settings.contains("<script>alert(1)"));
    assert!(!settings.contains("<img src=x"));
    assert!(settings.contains("&lt;img src=x onerror=alert(2)&gt;"));
    let home = get_text(&herald, &browser, "/");
    assert!(home.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}
