//! The Contacts pages as a signed-in owner sees them: list and search, a contact's
//! timeline, edit, delete with confirmation, custom fields, and the CSV import steps.

use crate::support;

use std::time::Duration;

use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};
use support::api::{Api, wait_for};
use support::{Herald, location, page_csrf, page_html};

const PASSWORD: &str = "analytical-engine";

fn setup() -> (Herald, Client, Api) {
    let herald = Herald::start();
    let (browser, api) = herald.owner_signed_in("ada@acme.example.com", "Acme", PASSWORD);
    (herald, browser, api)
}

/// Creates a contact through the API: `email` plus any other properties in `extra`.
fn add(api: &Api, email: &str, mut extra: Value) -> String {
    extra["email"] = json!(email);
    let body = extra;
    let r = api.post("/api/contacts", &body);
    assert_eq!(r.status(), 201, "{body}");
    r.json::<Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn contact(api: &Api, id: &str) -> Response {
    api.get_response(&format!("/api/contacts/{id}"))
}

fn text(browser: &Client, herald: &Herald, path: &str) -> String {
    page_html(herald, browser, path)
}

fn post(browser: &Client, herald: &Herald, path: &str, form: &[(&str, &str)]) -> Response {
    browser.post(herald.url(path)).form(form).send().unwrap()
}

#[test]
fn the_list_searches_counts_and_pages() {
    let (herald, browser, api) = setup();
    for i in 0..55 {
        add(&api, &format!("bulk{i}@example.com"), json!({}));
    }
    let grace = json!({"firstName": "Grace", "tags": ["navy"]});
    add(&api, "grace@example.com", grace);
    add(&api, "linus@example.com", json!({"name": "Linus <script>"}));
    let page = text(&browser, &herald, "/contacts");
    assert!(page.contains("57 contacts"));
    assert!(
        page.contains("Add contact")
            && page.contains("Export CSV")
            && page.contains("href=\"/contacts/import\"")
    );
    assert!(page.contains("Page 1 of 2"));
    assert!(page.contains("grace@example.com") && page.contains("navy"));
    assert!(
        page.contains("Linus &lt;script&gt;") && !page.contains("Linus <script>"),
        "escaped"
    );
    assert!(
        !page.contains("bulk0@example.com"),
        "newest first, 50 a page"
    );
    let second = text(&browser, &herald, "/contacts?page=2");
    assert!(second.contains("bulk0@example.com") && !second.contains("grace@example.com"));
    let found = text(&browser, &herald, "/contacts?search=grace");
    assert!(found.contains("1 contact") && found.contains("grace@example.com"));
    assert!(!found.contains("linus@example.com"));
    let download = browser.get(herald.url("/contacts/export")).send().unwrap();
    assert_eq!(download.status(), 200);
    let csv = download.text().unwrap();
    assert!(csv.starts_with("email,externalId,phone"));
}

#[test]
fn the_contact_page_shows_properties_and_a_timeline() {
    let (herald, browser, api) = setup();
    let r = api.post(
        "/api/events/send",
        &json!({"email": "carol@example.com", "eventName": "invoicePaid", "eventProperties": {"amount": 42}, "contactProperties": {"firstName": "Carol"}}),
    );
    assert_eq!(r.status(), 200);
    let list = api.get("/api/contacts?search=carol");
    let id = list["contacts"][0]["id"].as_str().unwrap().to_string();
    assert!(text(&browser, &herald, "/contacts?search=carol").contains(&format!("/contacts/{id}")));
    let page = text(&browser, &herald, &format!("/contacts/{id}"));
    assert!(page.contains("Carol") && page.contains("carol@example.com"));
    assert!(page.contains("invoicePaid") && page.contains("contact_added"));
    assert!(page.contains("42"));
    assert!(
        page.find("invoicePaid").unwrap() < page.find("contact_added").unwrap(),
        "newest first"
    );
    assert!(page.contains("/events?email=carol%40example.com"));
    let missing = browser.get(herald.url("/contacts/no-such-contact")).send();
    assert_eq!(missing.unwrap().status(), 404);
}

/// Declares a number field "seats" on the fields page.
fn declare_seats(herald: &Herald, browser: &Client) {
    let fields = page_csrf(herald, browser, "/contacts/fields");
    let r = post(
        browser,
        herald,
        "/contacts/fields",
        &[
            ("csrf_token", fields.as_str()),
            ("key", "seats"),
            ("label", "Seats"),
            ("type", "number"),
        ],
    );
    assert_eq!(r.status(), 303);
    assert!(text(browser, herald, "/contacts/fields").contains("seats"));
}

/// Saves every field of the edit form and returns the form's CSRF token.
fn edit_every_field(herald: &Herald, browser: &Client, api: &Api, id: &str) -> String {
    let edit = text(browser, herald, &format!("/contacts/{id}/edit"));
    assert!(edit.contains("name=\"field.seats\"") && edit.contains("type=\"number\""));
    let token = support::csrf_from(&edit);
    let r = post(
        browser,
        herald,
        &format!("/contacts/{id}/edit"),
        &[
            ("csrf_token", token.as_str()),
            ("first_name", "Alan"),
            ("last_name", "Turing"),
            ("phone", "+44 20 7946 0958"),
            ("tags", "math, bletchley"),
            ("field.seats", "3"),
        ],
    );
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), format!("/contacts/{id}"));
    let saved: Value = contact(api, id).json().unwrap();
    assert_eq!(saved["lastName"], "Turing");
    assert_eq!(saved["phone"], "+442079460958");
    assert_eq!(saved["tags"], json!(["math", "bletchley"]));
    assert_eq!(saved["subscribed"], false, "an unticked box unsubscribes");
    assert_eq!(saved["properties"]["seats"], 3);
    assert!(text(browser, herald, &format!("/contacts/{id}")).contains("contact_updated"));
    token
}

/// A bad phone number comes back as a message, with the form as typed, and saves nothing.
fn a_bad_edit_is_refused(herald: &Herald, browser: &Client, api: &Api, id: &str, token: &str) {
    let r = post(
        browser,
        herald,
        &format!("/contacts/{id}/edit"),
        &[
            ("csrf_token", token),
            ("phone", "12"),
            ("first_name", "Typed but not saved"),
            ("subscribed", "1"),
        ],
    );
    assert_eq!(r.status(), 422, "a validation error is never a 500");
    let again = r.text().unwrap();
    assert!(again.contains("not an E.164 phone number"));
    assert!(
        again.contains("value=\"Typed but not saved\"") && again.contains("value=\"12\""),
        "the form keeps what was typed"
    );
    let unchanged: Value = contact(api, id).json().unwrap();
    assert_eq!(unchanged["phone"], "+442079460958");
}

/// A new contact is added once; a second one with the same email is refused, the form
/// keeping what was typed.
fn add_a_contact_twice(herald: &Herald, browser: &Client) {
    let new = page_csrf(herald, browser, "/contacts/new");
    let r = post(
        browser,
        herald,
        "/contacts/new",
        &[
            ("csrf_token", new.as_str()),
            ("email", "New@Example.com"),
            ("subscribed", "1"),
        ],
    );
    assert_eq!(r.status(), 303);
    assert!(text(browser, herald, &location(&r)).contains("new@example.com"));
    let dup = post(
        browser,
        herald,
        "/contacts/new",
        &[
            ("csrf_token", new.as_str()),
            ("email", "new@example.com"),
            ("last_name", "Kept"),
        ],
    );
    assert_eq!(dup.status(), 422);
    let again = dup.text().unwrap();
    assert!(again.contains("already exists"));
    assert!(again.contains("value=\"new@example.com\"") && again.contains("value=\"Kept\""));
}

#[test]
fn editing_saves_and_bad_input_comes_back_as_a_message() {
    let (herald, browser, api) = setup();
    let id = add(&api, "alan@example.com", json!({"firstName": "Alan"}));
    declare_seats(&herald, &browser);
    let token = edit_every_field(&herald, &browser, &api, &id);
    a_bad_edit_is_refused(&herald, &browser, &api, &id, &token);
    add_a_contact_twice(&herald, &browser);
}

#[test]
fn deleting_asks_first_then_erases() {
    let (herald, browser, api) = setup();
    let id = add(&api, "gone@example.com", json!({}));
    let confirm = text(&browser, &herald, &format!("/contacts/{id}/delete"));
    assert!(confirm.contains("gone@example.com") && confirm.contains("cannot be undone"));
    let before = contact(&api, &id).status();
    assert_eq!(before, 200, "showing the question deletes nothing");
    let token = support::csrf_from(&confirm);
    let form = [("csrf_token", token.as_str())];
    let r = post(&browser, &herald, &format!("/contacts/{id}/delete"), &form);
    assert_eq!(r.status(), 303);
    assert_eq!(contact(&api, &id).status(), 404);
    assert!(text(&browser, &herald, "/contacts").contains("deleted"));
}

fn multipart(token: Option<&str>, csv: &str) -> (String, Vec<u8>) {
    let boundary = "----herald-test-boundary";
    let mut body = String::new();
    if let Some(token) = token {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n"
        ));
    }
    body.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"people.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
    ));
    (
        format!("multipart/form-data; boundary={boundary}"),
        body.into_bytes(),
    )
}

fn upload(herald: &Herald, browser: &Client, token: Option<&str>, csv: &str) -> Response {
    let (content_type, body) = multipart(token, csv);
    let url = herald.url("/contacts/import");
    let request = browser.post(url).header("content-type", content_type);
    request.body(body).send().unwrap()
}

#[test]
fn importing_goes_through_upload_mapping_and_progress() {
    let (herald, browser, _api) = setup();
    let token = page_csrf(&herald, &browser, "/contacts/import");
    let csv = "Email Address,Given Name,Shoe size\nada@example.com,Ada,38\nbad,Nope,40\nbob@example.com,Bob,44\n";
    let r = upload(&herald, &browser, Some(&token), csv);
    assert_eq!(r.status(), 303);
    let mapping_url = location(&r);
    assert!(mapping_url.starts_with("/contacts/import/"));

    let mapping = text(&browser, &herald, &mapping_url);
    assert!(mapping.contains("Email Address") && mapping.contains("Shoe size"));
    assert!(mapping.contains("people.csv"));
    assert!(
        mapping.contains("<option value=\"email\" selected>"),
        "email guessed"
    );
    assert!(mapping.contains("<option value=\"firstName\" selected>"));
    let token = support::csrf_from(&mapping);
    let mut form = [
        ("csrf_token", token.as_str()),
        ("col0", "ignore"),
        ("col1", "firstName"),
        ("col2", "ignore"),
    ];
    let r = post(&browser, &herald, &mapping_url, &form);
    assert_eq!(
        location(&r),
        mapping_url,
        "no email column: back to the mapping"
    );
    assert!(text(&browser, &herald, &mapping_url).contains("No column is mapped to email"));
    form[1].1 = "email";
    let r = post(&browser, &herald, &mapping_url, &form);
    assert_eq!(r.status(), 303);
    let progress_url = location(&r);
    assert!(progress_url.starts_with("/contacts/imports/"));

    let page = wait_for(
        "the import to finish",
        Duration::from_secs(30),
        || {
            let page = text(&browser, &herald, &progress_url);
            if !page.contains("completed") {
                let refreshes = page.contains("http-equiv=\"refresh\"");
                assert!(refreshes, "a running import refreshes itself");
            }
            page
        },
        |page| page.contains("completed"),
    );
    assert!(!page.contains("http-equiv=\"refresh\""));
    assert!(page.contains("100%"));
    assert!(page.contains("'bad' is not a valid email address"));
    assert!(page.contains("<td>3</td>"), "the bad row's line");
    let list = text(&browser, &herald, "/contacts");
    assert!(list.contains("ada@example.com") && list.contains("bob@example.com"));
    let imports = text(&browser, &herald, "/contacts/import");
    assert!(
        imports.contains("people.csv"),
        "listed under recent imports"
    );
    let again = browser.get(herald.url(&mapping_url)).send().unwrap();
    assert_eq!(again.status(), 404, "a started upload cannot start twice");
}

#[test]
fn forms_without_the_csrf_token_are_refused() {
    let (herald, browser, api) = setup();
    let id = add(&api, "kept@example.com", json!({}));
    let delete = format!("/contacts/{id}/delete");
    let edit = format!("/contacts/{id}/edit");
    let attempts: [(&str, &[(&str, &str)]); 4] = [
        (&delete, &[("x", "y")]),
        (
            &edit,
            &[("csrf_token", "forged"), ("first_name", "Mallory")],
        ),
        ("/contacts/new", &[("email", "x@example.com")]),
        ("/contacts/fields", &[("key", "plan"), ("type", "text")]),
    ];
    for (path, form) in attempts {
        assert_eq!(post(&browser, &herald, path, form).status(), 403, "{path}");
    }
    let r = upload(&herald, &browser, None, "email\nsneaky@example.com\n");
    assert_eq!(r.status(), 403);
    let kept: Value = contact(&api, &id).json().unwrap();
    assert_eq!(kept["firstName"], Value::Null);
    let anonymous = herald
        .browser()
        .get(herald.url("/contacts"))
        .send()
        .unwrap();
    assert_eq!(anonymous.status(), 303, "pages need a session");
}
