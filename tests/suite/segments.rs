//! Segments end to end: every kind of condition and operator selects the contacts it
//! says, event history follows the clock, segments are saved, paged and previewed
//! through the API, the contacts API and page filter and sort by them, automations
//! branch on them, and nothing crosses workspaces. Herald runs in this process on a
//! manual clock, so "in the last 30 days" is tested by moving time, not by waiting.

use crate::support;

use std::time::Duration;

use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};
use support::api::{Api, status_and_json, wait_for};
use support::{InProcessHerald, location, page_csrf, page_html};

const DAY: Duration = Duration::from_secs(86_400);
const PASSWORD: &str = "difference-engine";

fn start() -> (InProcessHerald, Api) {
    let herald = InProcessHerald::start_with(|c| c.ratelimit.requests_per_second = 0.0);
    let api = Api::new(&herald, "Acme");
    (herald, api)
}

/// Creates a contact: `email` plus the other properties in `extra`; returns its id.
fn contact(api: &Api, email: &str, mut extra: Value) -> String {
    extra["email"] = json!(email);
    api.create("/api/contacts", &extra)
}

fn declare(api: &Api, key: &str, kind: &str) {
    api.post_ok("/api/contact-fields", &json!({"key": key, "type": kind}));
}

fn event(api: &Api, email: &str, name: &str) {
    let r = api.post(
        "/api/events/send",
        &json!({"email": email, "eventName": name}),
    );
    assert_eq!(r.status(), 200);
}

/// The emails a filter selects (in contact order) and its count, through the preview.
fn selected(api: &Api, filter: Value) -> Vec<String> {
    let (status, body) = status_and_json(api.post(
        "/api/segments/preview",
        &json!({"filter": filter, "limit": 1000}),
    ));
    assert_eq!(status, 200, "{filter}: {body}");
    let emails: Vec<String> = body["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["email"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        body["count"],
        emails.len(),
        "count and page agree for {filter}"
    );
    emails
}

fn names(emails: &[&str]) -> Vec<String> {
    emails.iter().map(|e| format!("{e}@example.com")).collect()
}

/// A 400 from the preview, with the path it names.
fn refused(api: &Api, filter: Value) -> (String, String) {
    let (status, body) =
        status_and_json(api.post("/api/segments/preview", &json!({"filter": filter})));
    assert_eq!(status, 400, "{filter}: {body}");
    assert_eq!(body["error"], "Bad Request");
    assert_eq!(body["statusCode"], 400);
    (
        body["details"]["path"].as_str().unwrap_or("").to_string(),
        body["message"].as_str().unwrap().to_string(),
    )
}

fn list(api: &Api, name: &str, opt_in: &str) -> String {
    api.create("/api/lists", &json!({"name": name, "optIn": opt_in}))
}

/// Sets a membership's state straight in the database: the state a contact reaches by
/// unsubscribing on the preferences page, which this test does not walk through.
fn set_membership(herald: &InProcessHerald, list: &str, email: &str, status: &str) {
    let conn = rusqlite::Connection::open(herald.db_path()).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let n = conn
        .execute(
            "UPDATE list_members SET status = ?3 WHERE list_id = (SELECT id FROM lists WHERE uid = ?1)
             AND contact_id = (SELECT id FROM contacts WHERE email = ?2)",
            rusqlite::params![list, email, status],
        )
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn tags_lists_subscription_and_nesting_select_the_right_contacts() {
    let (herald, api) = start();
    let a = contact(&api, "a@example.com", json!({"tags": ["vip", "eu"]}));
    let b = contact(
        &api,
        "b@example.com",
        json!({"tags": ["vip"], "subscribed": false}),
    );
    contact(&api, "c@example.com", json!({"tags": ["x\"vip"]}));
    contact(&api, "d@example.com", json!({}));
    let news = list(&api, "News", "single");
    let members = json!({"contactIds": [a, b]});
    api.post_ok(&format!("/api/lists/{news}/members"), &members);
    let double = list(&api, "Double", "double");
    api.post_ok(
        "/api/contacts/subscribe",
        &json!({"email": "d@example.com", "listIds": [double], "consent": {"text": "Yes"}}),
    );
    set_membership(&herald, &news, "b@example.com", "unsubscribed");

    assert_eq!(
        selected(&api, json!({"tag": "vip"})),
        names(&["a", "b"]),
        "exact tags only"
    );
    assert_eq!(selected(&api, json!({"tag": "x\"vip"})), names(&["c"]));
    assert_eq!(selected(&api, json!({"tag": "VIP"})), Vec::<String>::new());
    assert_eq!(
        selected(&api, json!({"list": news})),
        names(&["a"]),
        "confirmed by default"
    );
    assert_eq!(
        selected(&api, json!({"list": news, "status": "unsubscribed"})),
        names(&["b"])
    );
    assert_eq!(
        selected(&api, json!({"list": news, "status": "any"})),
        names(&["a", "b"])
    );
    assert_eq!(
        selected(&api, json!({"list": double, "status": "unconfirmed"})),
        names(&["d"])
    );
    assert_eq!(
        selected(&api, json!({"list": double})),
        Vec::<String>::new()
    );
    assert_eq!(selected(&api, json!({"subscribed": false})), names(&["b"]));
    assert_eq!(
        selected(&api, json!({"subscribed": true})),
        names(&["a", "c", "d"])
    );
    assert_eq!(
        selected(&api, json!({"all": []})).len(),
        4,
        "an empty all is everyone"
    );
    assert!(
        selected(&api, json!({"any": []})).is_empty(),
        "an empty any is no one"
    );
    let nested = json!({"any": [
        {"all": [{"tag": "vip"}, {"subscribed": true}]},
        {"all": [{"not": {"tag": "vip"}}, {"list": double, "status": "any"}]}
    ]});
    assert_eq!(selected(&api, nested), names(&["a", "d"]));
    assert_eq!(
        selected(
            &api,
            json!({"not": {"any": [{"tag": "vip"}, {"tag": "eu"}]}})
        ),
        names(&["c", "d"])
    );
}

#[test]
fn typed_field_operators_compare_text_numbers_dates_and_booleans() {
    let (_herald, api) = start();
    declare(&api, "plan", "text");
    declare(&api, "seats", "number");
    declare(&api, "renews", "date");
    declare(&api, "beta", "boolean");
    let props = |p: Value| json!({"properties": p});
    contact(
        &api,
        "a@example.com",
        props(json!({"plan": "Pro", "seats": 5, "renews": "2025-03-01", "beta": true})),
    );
    contact(
        &api,
        "b@example.com",
        props(
            json!({"plan": "pro-plus", "seats": 12.5, "renews": "2025-03-01T23:30:00Z", "beta": false}),
        ),
    );
    contact(
        &api,
        "c@example.com",
        props(json!({"plan": "basic", "seats": 1, "renews": "2025-02-28T23:59:59+01:00"})),
    );
    contact(&api, "d@example.com", json!({"firstName": "Dora"}));
    let f = |field: &str, op: &str, value: Value| json!({"field": field, "op": op, "value": value});

    assert_eq!(
        selected(&api, f("plan", "equals", json!("pro"))),
        names(&["a"]),
        "text equals ignores case"
    );
    assert_eq!(
        selected(&api, f("plan", "contains", json!("PRO"))),
        names(&["a", "b"])
    );
    assert_eq!(
        selected(&api, json!({"field": "plan", "op": "isSet"})),
        names(&["a", "b", "c"])
    );
    assert_eq!(
        selected(&api, f("plan", "isSet", json!(false))),
        names(&["d"])
    );
    assert_eq!(
        selected(&api, json!({"not": f("plan", "equals", json!("pro"))})),
        names(&["b", "c", "d"]),
        "not is the exact complement"
    );
    assert_eq!(
        selected(&api, f("seats", "greater", json!(4))),
        names(&["a", "b"])
    );
    assert_eq!(selected(&api, f("seats", "less", json!(5))), names(&["c"]));
    assert_eq!(
        selected(&api, f("seats", "equals", json!("12.5"))),
        names(&["b"])
    );
    assert_eq!(
        selected(&api, f("renews", "equals", json!("2025-03-01"))),
        names(&["a", "b"]),
        "a day is the whole UTC day"
    );
    assert_eq!(
        selected(&api, f("renews", "before", json!("2025-03-01"))),
        names(&["c"]),
        "+01:00 is converted to UTC"
    );
    assert_eq!(
        selected(&api, f("renews", "after", json!("2025-03-01T12:00:00Z"))),
        names(&["b"])
    );
    assert_eq!(
        selected(&api, f("renews", "after", json!("2025-02-28"))),
        names(&["a", "b"])
    );
    assert_eq!(
        selected(&api, f("beta", "equals", json!(true))),
        names(&["a"])
    );
    assert_eq!(
        selected(&api, f("beta", "equals", json!(false))),
        names(&["b"])
    );
    assert_eq!(
        selected(&api, f("email", "contains", json!("c@"))),
        names(&["c"])
    );
    assert_eq!(
        selected(&api, f("firstName", "equals", json!("dora"))),
        names(&["d"])
    );
    assert_eq!(
        selected(&api, f("createdAt", "after", json!("2000-01-01"))).len(),
        4
    );
    assert!(selected(&api, f("createdAt", "before", json!("2000-01-01"))).is_empty());

    let (path, message) = refused(
        &api,
        json!({"all": [{"tag": "x"}, f("plan", "before", json!("2025-01-01"))]}),
    );
    assert_eq!(path, "filter.all[1].op");
    assert!(message.contains("equals, contains, isSet"), "{message}");
    assert_eq!(
        refused(&api, f("seats", "greater", json!("many"))).0,
        "filter.value"
    );
    assert_eq!(
        refused(&api, f("renews", "after", json!("soon"))).0,
        "filter.value"
    );
    assert_eq!(
        refused(&api, f("beta", "equals", json!("yes"))).0,
        "filter.value"
    );
    assert_eq!(
        refused(&api, json!({"field": "plan", "op": "equals"})).0,
        "filter.value"
    );
    let (path, message) = refused(&api, f("shoeSize", "equals", json!(9)));
    assert_eq!(path, "filter.field");
    assert!(
        message.contains("no contact field 'shoeSize'") && message.contains("plan"),
        "{message}"
    );
}

#[test]
fn event_history_counts_in_a_window_that_moves_with_the_clock() {
    let (herald, api) = start();
    event(&api, "old@example.com", "purchase");
    event(&api, "old@example.com", "purchase");
    herald.advance(DAY * 20);
    event(&api, "new@example.com", "purchase");
    event(&api, "new@example.com", "purchase");
    event(&api, "new@example.com", "refund");
    event(&api, "once@example.com", "purchase");
    contact(&api, "none@example.com", json!({}));
    let twice_in_30 = json!({"event": "purchase", "atLeast": 2, "withinDays": 30});

    assert_eq!(selected(&api, twice_in_30.clone()), names(&["old", "new"]));
    herald.advance(DAY * 11);
    assert_eq!(
        selected(&api, twice_in_30.clone()),
        names(&["new"]),
        "the old purchases left the window"
    );
    assert_eq!(
        selected(&api, json!({"event": "purchase", "atLeast": 2})),
        names(&["old", "new"]),
        "ever"
    );
    assert_eq!(
        selected(&api, json!({"event": "purchase"})),
        names(&["old", "new", "once"])
    );
    assert_eq!(
        selected(&api, json!({"event": "purchase", "withinDays": 15})),
        names(&["new", "once"])
    );
    assert_eq!(
        selected(&api, json!({"event": "purchase", "atMost": 1})),
        names(&["once", "none"])
    );
    assert_eq!(
        selected(
            &api,
            json!({"event": "purchase", "atLeast": 1, "atMost": 1})
        ),
        names(&["once"])
    );
    assert_eq!(
        selected(&api, json!({"event": "refund", "never": true})),
        names(&["old", "once", "none"])
    );
    assert_eq!(
        selected(
            &api,
            json!({"event": "purchase", "never": true, "withinDays": 15})
        ),
        names(&["old", "none"])
    );
    herald.advance(DAY * 30);
    assert_eq!(
        selected(
            &api,
            json!({"event": "purchase", "never": true, "withinDays": 30})
        )
        .len(),
        4
    );

    assert_eq!(
        refused(&api, json!({"event": "purchase", "atLeast": 0})).0,
        "filter.atLeast"
    );
    assert_eq!(
        refused(&api, json!({"event": "purchase", "withinDays": 4000})).0,
        "filter.withinDays"
    );
    assert_eq!(
        refused(
            &api,
            json!({"event": "purchase", "never": true, "atLeast": 2})
        )
        .0,
        "filter.never"
    );
    assert_eq!(
        refused(
            &api,
            json!({"event": "purchase", "atLeast": 3, "atMost": 2})
        )
        .0,
        "filter.atMost"
    );
    assert_eq!(refused(&api, json!({"event": ""})).0, "filter.event");
}

#[test]
fn the_filter_shape_is_refused_where_it_goes_wrong() {
    let (_herald, api) = start();
    let (path, message) = refused(
        &api,
        json!({"all": [{"tag": "a"}, {"any": [{"colour": "red"}]}]}),
    );
    assert_eq!(path, "filter.all[1].any[0]");
    assert!(message.contains("needs one of the keys"), "{message}");
    assert_eq!(refused(&api, json!({"tag": "a", "list": "b"})).0, "filter");
    assert_eq!(
        refused(&api, json!({"tag": "a", "op": "equals"})).0,
        "filter.op"
    );
    assert_eq!(refused(&api, json!({"all": {"tag": "a"}})).0, "filter.all");
    assert_eq!(refused(&api, json!(["tag"])).0, "filter");
    assert_eq!(
        refused(&api, json!({"not": {"subscribed": "yes"}})).0,
        "filter.not.subscribed"
    );
    assert_eq!(
        refused(&api, json!({"list": "no-such-list"})).0,
        "filter.list"
    );
    assert_eq!(
        refused(&api, json!({"list": "x", "status": "maybe"})).0,
        "filter.status"
    );
    let mut deep = json!({"tag": "a"});
    for _ in 0..20 {
        deep = json!({"not": deep});
    }
    assert!(refused(&api, deep).1.contains("nest deeper"));
    let many: Vec<Value> = (0..250).map(|i| json!({"tag": format!("t{i}")})).collect();
    assert!(
        refused(&api, json!({"any": many}))
            .1
            .contains("at most 200")
    );
}

/// Creates a segment; returns its JSON.
fn segment(api: &Api, name: &str, filter: Value) -> Value {
    let (status, body) =
        status_and_json(api.post("/api/segments", &json!({"name": name, "filter": filter})));
    assert_eq!(status, 201, "{body}");
    body
}

#[test]
fn segments_are_saved_counted_changed_and_deleted() {
    let (_herald, api) = start();
    contact(&api, "a@example.com", json!({"tags": ["vip"]}));
    contact(&api, "b@example.com", json!({}));
    let vip = segment(&api, "VIPs", json!({"all": [{"tag": "vip"}]}));
    let id = vip["id"].as_str().unwrap();
    assert_eq!(vip["summary"], "has tag “vip”");
    assert_eq!(vip["filter"], json!({"all": [{"tag": "vip"}]}));
    let shown = api.get(&format!("/api/segments/{id}"));
    assert_eq!(shown["count"], 1);
    assert_eq!(shown["name"], "VIPs");
    let listed = api.get("/api/segments?withCounts=true");
    assert_eq!(listed["segments"][0]["count"], 1);
    assert!(
        api.get("/api/segments")["segments"][0]
            .get("count")
            .is_none()
    );

    let (status, body) = status_and_json(api.post(
        "/api/segments",
        &json!({"name": "vips", "filter": {"tag": "x"}}),
    ));
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("Conflict")),
        "names are unique ignoring case"
    );
    let (status, body) = status_and_json(api.post("/api/segments", &json!({"name": "No filter"})));
    assert_eq!(
        (status, body["details"]["path"].as_str()),
        (400, Some("filter"))
    );
    let (status, body) =
        status_and_json(api.post("/api/segments", &json!({"filter": {"tag": "x"}})));
    assert_eq!(
        (status, body["details"]["path"].as_str()),
        (400, Some("name"))
    );
    let (status, body) = status_and_json(api.post(
        "/api/segments",
        &json!({"name": "Bad", "filter": {"tag": ""}}),
    ));
    assert_eq!(
        (status, body["details"]["path"].as_str()),
        (400, Some("filter.tag"))
    );
    let (status, _) = status_and_json(api.post(
        "/api/segments",
        &json!({"name": "X", "filter": {}, "colour": 1}),
    ));
    assert_eq!(status, 400);

    let r = api.put(
        &format!("/api/segments/{id}"),
        &json!({"filter": {"not": {"tag": "vip"}}}),
    );
    assert_eq!(r.status(), 200);
    let changed = api.get(&format!("/api/segments/{id}"));
    assert_eq!(
        (changed["name"].as_str(), changed["count"].as_i64()),
        (Some("VIPs"), Some(1))
    );
    assert_eq!(changed["summary"], "not (has tag “vip”)");
    api.put(&format!("/api/segments/{id}"), &json!({"name": "Not VIPs"}));
    assert_eq!(api.get(&format!("/api/segments/{id}"))["name"], "Not VIPs");
    let (status, body) = status_and_json(api.put(
        &format!("/api/segments/{id}"),
        &json!({"filter": {"tag": 3}}),
    ));
    assert_eq!(
        (status, body["details"]["path"].as_str()),
        (400, Some("filter.tag"))
    );

    let r = api.delete(&format!("/api/segments/{id}"));
    assert_eq!(r.status(), 200);
    let (status, body) = status_and_json(api.get_response(&format!("/api/segments/{id}")));
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("Segment not found"))
    );
    assert_eq!(api.delete(&format!("/api/segments/{id}")).status(), 404);
}

#[test]
fn a_saved_filter_that_no_longer_fits_selects_no_one_and_says_why() {
    let (_herald, api) = start();
    declare(&api, "plan", "text");
    contact(
        &api,
        "a@example.com",
        json!({"properties": {"plan": "pro"}}),
    );
    let pro = segment(
        &api,
        "Pro",
        json!({"field": "plan", "op": "equals", "value": "pro"}),
    );
    let id = pro["id"].as_str().unwrap();
    assert_eq!(api.delete("/api/contact-fields/plan").status(), 204);
    let shown = api.get(&format!("/api/segments/{id}"));
    assert!(shown["count"].is_null());
    assert!(
        shown["problem"]
            .as_str()
            .unwrap()
            .contains("no contact field 'plan'"),
        "{shown}"
    );
    let (status, body) = status_and_json(api.get_response(&format!("/api/contacts?segment={id}")));
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        api.get_response(&format!("/api/segments/{id}/contacts"))
            .status(),
        409
    );
}

#[test]
fn a_segment_pages_through_its_contacts_with_a_cursor() {
    let (_herald, api) = start();
    for i in 0..25 {
        let tags = if i % 2 == 0 {
            json!(["even"])
        } else {
            json!([])
        };
        contact(&api, &format!("p{i:02}@example.com"), json!({"tags": tags}));
    }
    let even = segment(&api, "Even", json!({"tag": "even"}));
    let base = format!("/api/segments/{}/contacts", even["id"].as_str().unwrap());
    let mut seen = Vec::new();
    let mut cursor: Option<i64> = None;
    let mut pages = 0;
    loop {
        let path = match cursor {
            Some(c) => format!("{base}?limit=5&cursor={c}"),
            None => format!("{base}?limit=5"),
        };
        let page = api.get(&path);
        pages += 1;
        for c in page["contacts"].as_array().unwrap() {
            seen.push(c["email"].as_str().unwrap().to_string());
        }
        match page["nextCursor"].as_i64() {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25)
        .step_by(2)
        .map(|i| format!("p{i:02}@example.com"))
        .collect();
    assert_eq!(seen, expected, "every member once, in order");
    assert_eq!(pages, 3);
    assert_eq!(api.get_response(&format!("{base}?limit=0")).status(), 400);
    assert_eq!(
        api.get_response(&format!("{base}?limit=5000")).status(),
        400
    );
    let preview = api.post_ok(
        "/api/segments/preview",
        &json!({"filter": {"tag": "even"}, "limit": 3}),
    );
    assert_eq!(
        (
            preview["count"].as_i64(),
            preview["contacts"].as_array().unwrap().len()
        ),
        (Some(13), 3)
    );
    assert!(preview["nextCursor"].is_i64());
    assert_eq!(preview["summary"], "has tag “even”");
}

fn emails_of(body: &Value) -> Vec<String> {
    body["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["email"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_contacts_api_filters_by_segment_or_filter_and_sorts() {
    let (_herald, api) = start();
    declare(&api, "seats", "number");
    contact(
        &api,
        "carol@example.com",
        json!({"tags": ["vip"], "properties": {"seats": 3}}),
    );
    contact(
        &api,
        "alice@example.com",
        json!({"tags": ["vip"], "properties": {"seats": 10}}),
    );
    contact(&api, "bob@example.com", json!({"properties": {"seats": 7}}));
    contact(&api, "dave@example.com", json!({"tags": ["vip"]}));
    let vip = segment(&api, "VIP", json!({"tag": "vip"}));
    let id = vip["id"].as_str().unwrap();

    let body = api.get(&format!("/api/contacts?segment={id}&sort=email&order=asc"));
    assert_eq!(
        emails_of(&body),
        ["alice", "carol", "dave"].map(|n| format!("{n}@example.com"))
    );
    assert_eq!(
        (
            body["total"].as_i64(),
            body["sort"].as_str(),
            body["order"].as_str()
        ),
        (Some(3), Some("email"), Some("asc"))
    );
    let body = api.get(&format!(
        "/api/contacts?segment={id}&sort=email&order=desc&limit=2&page=2"
    ));
    assert_eq!(emails_of(&body), ["alice@example.com"], "page 2 of 2");
    let filter = urlencode(&json!({"field": "seats", "op": "greater", "value": 5}).to_string());
    let body = api.get(&format!("/api/contacts?filter={filter}&sort=seats"));
    assert_eq!(emails_of(&body), ["bob@example.com", "alice@example.com"]);
    let body = api.get("/api/contacts?sort=seats&order=desc");
    assert_eq!(
        emails_of(&body),
        ["alice", "bob", "carol", "dave"].map(|n| format!("{n}@example.com")),
        "unset values last"
    );
    let body = api.get("/api/contacts?sort=createdAt");
    assert_eq!(
        emails_of(&body)[0],
        "dave@example.com",
        "times sort newest first"
    );
    let body = api.get(&format!("/api/contacts?segment={id}&search=car"));
    assert_eq!(
        emails_of(&body),
        ["carol@example.com"],
        "search narrows a segment"
    );

    let (status, body) = status_and_json(api.get_response("/api/contacts?sort=shoeSize"));
    assert_eq!(
        (status, body["details"]["path"].as_str()),
        (400, Some("sort"))
    );
    assert_eq!(
        api.get_response("/api/contacts?sort=email&order=up")
            .status(),
        400
    );
    let (status, body) = status_and_json(api.get_response("/api/contacts?filter=%7Bnope"));
    assert_eq!(
        (status, body["details"]["path"].as_str()),
        (400, Some("filter"))
    );
    let both = format!("/api/contacts?segment={id}&filter={filter}");
    assert_eq!(api.get_response(&both).status(), 400);
    let (status, body) = status_and_json(api.get_response("/api/contacts?segment=no-such-segment"));
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("Segment not found"))
    );
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("v", s)]).unwrap()[2..].to_string()
}

#[test]
fn another_workspace_cannot_see_use_or_name_a_workspaces_segments_and_lists() {
    let (herald, api) = start();
    let other = Api::new(&herald, "Other");
    contact(&api, "a@example.com", json!({"tags": ["vip"]}));
    contact(&other, "o@example.com", json!({"tags": ["vip"]}));
    let news = list(&api, "News", "single");
    let vip = segment(&api, "VIP", json!({"tag": "vip"}));
    let id = vip["id"].as_str().unwrap();
    for (method, path) in [
        ("GET", format!("/api/segments/{id}")),
        ("PUT", format!("/api/segments/{id}")),
        ("DELETE", format!("/api/segments/{id}")),
        ("GET", format!("/api/segments/{id}/contacts")),
        ("GET", format!("/api/contacts?segment={id}")),
    ] {
        let body = (method == "PUT").then(|| json!({"name": "Mine"}));
        let (status, answer) = status_and_json(other.send(method, &path, body.as_ref()));
        assert_eq!(status, 404, "{method} {path}: {answer}");
    }
    assert!(
        other.get("/api/segments")["segments"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        refused(&other, json!({"list": news})).0,
        "filter.list",
        "another workspace's list"
    );
    let (status, _) = status_and_json(other.post(
        "/api/segments",
        &json!({"name": "Theirs", "filter": {"list": news}}),
    ));
    assert_eq!(status, 400);
    assert_eq!(
        selected(&other, json!({"tag": "vip"})),
        ["o@example.com"],
        "counts stay in the workspace"
    );
    let (status, body) = status_and_json(other.post(
        "/api/automations",
        &json!({"name": "A", "trigger": {"type": "event", "event": "x"}, "filters": {"segment": id}, "steps": []}),
    ));
    assert_eq!(
        (status, body["details"]["path"].as_str()),
        (400, Some("filters.segment"))
    );
    assert_eq!(
        api.get(&format!("/api/segments/{id}"))["name"],
        "VIP",
        "unchanged"
    );
}

/// The contact's tags, once the automation's steps have run.
fn tags_once_run(api: &Api, email: &str) -> Vec<Value> {
    let found = wait_for(
        "the branch to tag the contact",
        Duration::from_secs(10),
        || api.get(&format!("/api/contacts?search={email}"))["contacts"][0]["tags"].clone(),
        |tags| {
            tags.as_array()
                .is_some_and(|t| t.iter().any(|x| x == "in" || x == "out"))
        },
    );
    found.as_array().unwrap().clone()
}

#[test]
fn an_automation_branches_and_filters_on_a_segment() {
    let (herald, api) = start();
    contact(&api, "buyer@example.com", json!({"tags": ["vip"]}));
    contact(&api, "browser@example.com", json!({"tags": ["vip"]}));
    let staff = contact(&api, "staff@example.com", json!({"tags": ["vip"]}));
    let team = list(&api, "Team", "single");
    api.post_ok(
        &format!("/api/lists/{team}/members"),
        &json!({"contactId": staff}),
    );
    for who in ["buyer", "buyer", "staff", "staff"] {
        event(&api, &format!("{who}@example.com"), "purchase");
    }
    // Asked about one contact at a time: tag, list and event conditions all take their
    // per-contact form.
    let buyers = segment(
        &api,
        "Buyers",
        json!({"all": [
            {"tag": "vip"},
            {"not": {"list": team, "status": "any"}},
            {"event": "purchase", "atLeast": 2, "withinDays": 7}
        ]}),
    );
    let id = buyers["id"].as_str().unwrap();
    let tag = |t: &str| json!([{"type": "update_contact", "addTags": [t]}]);
    let branch = json!({
        "name": "Sort buyers", "status": "active", "trigger": {"type": "event", "event": "visit"},
        "steps": [{"type": "branch", "if": {"segment": id}, "then": tag("in"), "else": tag("out")}]
    });
    api.post_ok("/api/automations", &branch);
    event(&api, "buyer@example.com", "visit");
    event(&api, "browser@example.com", "visit");
    assert_eq!(
        tags_once_run(&api, "buyer@example.com"),
        [json!("vip"), json!("in")]
    );
    assert_eq!(
        tags_once_run(&api, "browser@example.com"),
        [json!("vip"), json!("out")]
    );
    event(&api, "staff@example.com", "visit");
    assert_eq!(
        tags_once_run(&api, "staff@example.com"),
        [json!("vip"), json!("out")]
    );

    let filtered = json!({
        "name": "Buyers only", "status": "active", "trigger": {"type": "event", "event": "visit"},
        "filters": {"segment": id}, "steps": []
    });
    api.post_ok("/api/automations", &filtered);
    herald.advance(DAY * 8);
    let outcome: Value = api
        .post(
            "/api/v1/events/trigger",
            &json!({"event_name": "visit", "user_info": {"email": "buyer@example.com"}}),
        )
        .json()
        .unwrap();
    assert_eq!(
        outcome["summary"]["filtered"], 1,
        "the purchases left the 7-day window: {outcome}"
    );

    let (status, body) = status_and_json(api.delete(&format!("/api/segments/{id}")));
    assert_eq!(status, 409);
    assert!(
        body["message"].as_str().unwrap().contains("'Sort buyers'"),
        "{body}"
    );
    let bad = json!({"name": "B", "trigger": {"type": "event", "event": "x"}, "steps": [{"type": "branch", "if": {"segment": "nope"}, "then": []}]});
    let (status, body) = status_and_json(api.post("/api/automations", &bad));
    assert_eq!(
        (status, body["details"]["path"].as_str()),
        (400, Some("steps[0].if.segment"))
    );
}

/// A signed-in owner of the API's workspace.
fn owner(herald: &InProcessHerald) -> (Client, Api) {
    herald.owner_signed_in("ada@acme.example.com", "Acme", PASSWORD)
}

fn submit(
    herald: &InProcessHerald,
    browser: &Client,
    path: &str,
    form: &[(&str, &str)],
) -> Response {
    browser.post(herald.url(path)).form(form).send().unwrap()
}

#[test]
fn the_segments_pages_list_create_preview_edit_and_delete() {
    let herald = InProcessHerald::start();
    let (browser, api) = owner(&herald);
    contact(&api, "vip@example.com", json!({"tags": ["vip"]}));
    contact(&api, "plain@example.com", json!({}));
    let index = page_html(&herald, &browser, "/segments");
    assert!(index.contains("href=\"/segments\"") && index.contains("No segments yet"));
    let token = page_csrf(&herald, &browser, "/segments/new");

    let typo = "{\"tag\": \"vip\"";
    let r = submit(
        &herald,
        &browser,
        "/segments/new",
        &[
            ("csrf_token", &token),
            ("name", "VIPs"),
            ("filter", typo),
            ("intent", "save"),
        ],
    );
    assert_eq!(r.status(), 422);
    let page = r.text().unwrap();
    assert!(
        page.contains("not valid JSON")
            && page.contains("value=\"VIPs\"")
            && page.contains("{&quot;tag&quot;: &quot;vip&quot;"),
        "input kept"
    );
    let wrong = "{\"field\": \"plan\", \"op\": \"equals\", \"value\": 1}";
    let r = submit(
        &herald,
        &browser,
        "/segments/new",
        &[
            ("csrf_token", &token),
            ("name", "VIPs"),
            ("filter", wrong),
            ("intent", "save"),
        ],
    );
    assert_eq!(r.status(), 422);
    let page = r.text().unwrap();
    assert!(
        page.contains("filter.field: no contact field") && page.contains("value=\"VIPs\""),
        "{page}"
    );

    let filter = "{\"tag\": \"vip\"}";
    let r = submit(
        &herald,
        &browser,
        "/segments/new",
        &[
            ("csrf_token", &token),
            ("name", "VIPs"),
            ("filter", filter),
            ("intent", "preview"),
        ],
    );
    assert_eq!(r.status(), 200);
    let page = r.text().unwrap();
    assert!(
        page.contains("Preview")
            && page.contains("has tag “vip”")
            && page.contains("vip@example.com")
            && !page.contains("plain@example.com")
    );
    assert!(
        api.get("/api/segments")["segments"]
            .as_array()
            .unwrap()
            .is_empty(),
        "a preview saves nothing"
    );

    let r = submit(
        &herald,
        &browser,
        "/segments/new",
        &[
            ("csrf_token", &token),
            ("name", "VIPs"),
            ("filter", filter),
            ("intent", "save"),
        ],
    );
    assert_eq!(r.status(), 303);
    let at = location(&r);
    let shown = page_html(&herald, &browser, &at);
    assert!(
        shown.contains("VIPs")
            && shown.contains("vip@example.com")
            && shown.contains("Delete segment")
    );
    let index = page_html(&herald, &browser, "/segments");
    assert!(
        index.contains("VIPs") && index.contains("<td>1</td>"),
        "live count"
    );

    let r = submit(
        &herald,
        &browser,
        &at,
        &[
            ("csrf_token", &token),
            ("name", "Everyone"),
            ("filter", "{\"all\": []}"),
            ("intent", "save"),
        ],
    );
    assert_eq!(r.status(), 303);
    assert!(page_html(&herald, &browser, "/segments").contains("<td>2</td>"));
    let r = submit(
        &herald,
        &browser,
        &at,
        &[
            ("csrf_token", &token),
            ("name", ""),
            ("filter", "{\"all\": []}"),
            ("intent", "save"),
        ],
    );
    assert_eq!(r.status(), 422);

    let r = submit(
        &herald,
        &browser,
        &format!("{at}/delete"),
        &[("csrf_token", &token)],
    );
    assert_eq!(
        (r.status().as_u16(), location(&r)),
        (303, "/segments".to_string())
    );
    assert!(page_html(&herald, &browser, "/segments").contains("No segments yet"));
}

#[test]
fn the_contacts_page_filters_by_a_segment_sorts_and_shows_fields() {
    let herald = InProcessHerald::start();
    let (browser, api) = owner(&herald);
    declare(&api, "plan", "text");
    contact(
        &api,
        "zed@example.com",
        json!({"tags": ["vip"], "properties": {"plan": "gold"}}),
    );
    contact(
        &api,
        "amy@example.com",
        json!({"tags": ["vip"], "properties": {"plan": "silver"}}),
    );
    contact(&api, "bo@example.com", json!({}));
    let vip = segment(&api, "VIP", json!({"tag": "vip"}));
    let id = vip["id"].as_str().unwrap();

    let page = page_html(
        &herald,
        &browser,
        &format!("/contacts?segment={id}&sort=email&order=asc&fields=plan"),
    );
    assert!(page.contains("2 contacts in segment “VIP”"), "count");
    assert!(!page.contains("bo@example.com"));
    let (amy, zed) = (
        page.find("amy@example.com").unwrap(),
        page.find("zed@example.com").unwrap(),
    );
    assert!(amy < zed, "sorted by email");
    assert!(
        page.contains("<td>gold</td>") && page.contains(">plan<"),
        "the field is a column"
    );
    assert!(
        page.contains("order=desc"),
        "the sorted header flips the order"
    );

    let page = page_html(
        &herald,
        &browser,
        &format!("/contacts?segment={id}&sort=email&order=desc"),
    );
    assert!(page.find("zed@example.com").unwrap() < page.find("amy@example.com").unwrap());
    let filter = urlencode("{\"not\": {\"tag\": \"vip\"}}");
    let page = page_html(&herald, &browser, &format!("/contacts?filter={filter}"));
    assert!(page.contains("1 contact matching the filter") && page.contains("bo@example.com"));

    let r = browser
        .get(herald.url("/contacts?filter=%7B%22tag%22%3A"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 422);
    let page = r.text().unwrap();
    assert!(
        page.contains("must be a JSON filter") && page.contains("{&quot;tag&quot;:"),
        "the filter is kept"
    );
}

#[test]
fn another_workspaces_session_finds_no_segment_pages() {
    let herald = InProcessHerald::start();
    let (_, api) = owner(&herald);
    let vip = segment(&api, "VIP", json!({"tag": "vip"}));
    let id = vip["id"].as_str().unwrap();
    let (stranger, _) = herald.owner_signed_in("eve@other.example.com", "Other", PASSWORD);
    let token = page_csrf(&herald, &stranger, "/segments");
    assert!(!page_html(&herald, &stranger, "/segments").contains("VIP"));
    let r = stranger
        .get(herald.url(&format!("/segments/{id}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    let filter = "{\"tag\": \"x\"}";
    let form = [
        ("csrf_token", token.as_str()),
        ("name", "Mine"),
        ("filter", filter),
        ("intent", "save"),
    ];
    assert_eq!(
        submit(&herald, &stranger, &format!("/segments/{id}"), &form).status(),
        404
    );
    let r = submit(
        &herald,
        &stranger,
        &format!("/segments/{id}/delete"),
        &[("csrf_token", &token)],
    );
    assert_eq!(r.status(), 404);
    let r = stranger
        .get(herald.url(&format!("/api/segments/{id}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    let page = stranger
        .get(herald.url(&format!("/contacts?segment={id}")))
        .send()
        .unwrap();
    assert_eq!(page.status(), 422);
    assert!(page.text().unwrap().contains("Segment not found"));
    assert_eq!(
        api.get(&format!("/api/segments/{id}"))["name"],
        "VIP",
        "unchanged"
    );
}
