//! Events over HTTP: the Sendra-shaped and v1 endpoints, triggers, the event log,
//! patterns, idempotency, rate limits and bad input.

use crate::support;

use std::time::{Duration, Instant};

use herald::kinds::time::{iso_time, parse_time};
use reqwest::blocking::Response;
use serde_json::{Value, json};
use support::api::{Api, wait_for};
use support::{Herald, InProcessHerald};

fn send_event(api: &Api, body: Value) -> Response {
    api.post("/api/events/send", &body)
}

fn contacts(api: &Api, search: &str) -> Value {
    api.get(&format!("/api/contacts?search={search}"))
}

fn error(r: Response, status: u16) -> String {
    assert_eq!(r.status().as_u16(), status);
    let body: Value = r.json().unwrap();
    assert_eq!(body["statusCode"], status);
    assert!(body["error"].is_string());
    body["message"].as_str().unwrap().to_string()
}

#[test]
fn send_event_creates_one_contact_whatever_the_email_case() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    for email in ["Ada@Example.com", "ada@example.com", "ADA@EXAMPLE.COM"] {
        let r = send_event(
            &api,
            json!({"email": email, "eventName": "signUp", "eventProperties": {"plan": "pro"}}),
        );
        assert_eq!(r.status(), 200);
        let body: Value = r.json().unwrap();
        assert_eq!(body, json!({"enrolled": 0, "exited": 0}));
    }
    let contacts = contacts(&api, "");
    assert_eq!(contacts["total"], 1);
    assert_eq!(contacts["contacts"][0]["email"], "ada@example.com");
    let events = api.events("eventName=signUp");
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["properties"], json!({"plan": "pro"}));
    assert_eq!(events[0]["email"], "ada@example.com");
    assert_eq!(
        api.events("eventName=contact_added").len(),
        1,
        "contact_added recorded once"
    );
}

#[test]
fn contact_properties_patch_only_the_named_fields() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    send_event(
        &api,
        json!({"email": "ada@example.com", "eventName": "a", "contactProperties": {"firstName": "Ada", "lastName": "Byron"}}),
    );
    send_event(
        &api,
        json!({"email": "ada@example.com", "eventName": "b", "contactProperties": {"lastName": "Lovelace"}}),
    );
    let contact = &contacts(&api, "ada")["contacts"][0];
    assert_eq!(contact["firstName"], "Ada", "untouched");
    assert_eq!(contact["lastName"], "Lovelace", "patched");
    let updates = api.events("eventName=contact_updated");
    assert_eq!(
        updates.len(),
        1,
        "only a real change records contact_updated"
    );
    assert_eq!(
        updates[0]["properties"]["changes"]["lastName"],
        json!({"from": "Byron", "to": "Lovelace"})
    );
    // Same values again: nothing changes, nothing is recorded.
    send_event(
        &api,
        json!({"email": "ada@example.com", "eventName": "c", "contactProperties": {"lastName": "Lovelace"}}),
    );
    assert_eq!(api.events("eventName=contact_updated").len(), 1);
}

#[test]
fn custom_fields_must_be_declared_and_typed() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    let before = api.events("").len();
    let message = error(
        send_event(
            &api,
            json!({"email": "ada@example.com", "eventName": "x", "contactProperties": {"plan": "pro"}}),
        ),
        400,
    );
    assert!(message.contains("plan"), "{message}");
    assert_eq!(api.events("").len(), before, "nothing written");
    assert_eq!(contacts(&api, "")["total"], 0, "no contact created");

    assert_eq!(
        api.post(
            "/api/contact-fields",
            &json!({"key": "seats", "type": "number"})
        )
        .status(),
        201
    );
    assert_eq!(
        api.post(
            "/api/contact-fields",
            &json!({"key": "vip", "type": "boolean"})
        )
        .status(),
        201
    );
    error(
        api.post(
            "/api/contact-fields",
            &json!({"key": "bad key", "type": "number"}),
        ),
        400,
    );
    error(
        api.post(
            "/api/contact-fields",
            &json!({"key": "x", "type": "colour"}),
        ),
        400,
    );
    error(
        send_event(
            &api,
            json!({"email": "ada@example.com", "eventName": "x", "contactProperties": {"seats": "many"}}),
        ),
        400,
    );
    let ok = send_event(
        &api,
        json!({"email": "ada@example.com", "eventName": "x", "contactProperties": {"seats": 12, "vip": true}}),
    );
    assert_eq!(ok.status(), 200);
    let contact = &contacts(&api, "ada")["contacts"][0];
    assert_eq!(contact["properties"], json!({"seats": 12, "vip": true}));
    let fields = api.get("/api/contact-fields");
    assert_eq!(fields["fields"].as_array().unwrap().len(), 2);
}

#[test]
fn bad_input_is_a_400_and_nothing_is_written() {
    let herald = Herald::start_with(&[("HERALD_LIMITS__MAX_STRING_BYTES", "100")]);
    let api = Api::new(&herald, "Acme");
    let mut deep = json!({"leaf": 1});
    for _ in 0..40 {
        deep = json!({"d": deep});
    }
    let cases = [
        json!({"eventName": "x"}),
        json!({"email": "not-an-email", "eventName": "x"}),
        json!({"email": 5, "eventName": "x"}),
        json!({"email": "a@example.com"}),
        json!({"email": "a@example.com", "eventName": ""}),
        json!({"email": "a@example.com", "eventName": "x", "eventProperties": [1, 2]}),
        json!({"email": "a@example.com", "eventName": "x", "eventProperties": "plan"}),
        json!({"email": "a@example.com", "eventName": "x", "contactProperties": 3}),
        json!({"email": "a@example.com", "eventName": "x", "eventProperties": deep}),
        json!({"email": "a@example.com", "eventName": "x", "eventProperties": {"s": "y".repeat(101)}}),
        json!({"email": "a@example.com", "eventName": "x", "unexpected": true}),
    ];
    for case in cases {
        let r = send_event(&api, case.clone());
        let message = error(r, 400);
        assert!(!message.is_empty(), "{case}");
    }
    error(
        api.send_body(
            "POST",
            "/api/events/send",
            "application/json",
            "{\"email\": ",
        ),
        400,
    );
    error(
        api.send_body("POST", "/api/events/send", "text/plain", "{}"),
        415,
    );
    error(
        api.send_body(
            "POST",
            "/api/events/send",
            "application/json",
            vec![b' '; 2 * 1024 * 1024],
        ),
        413,
    );
    assert!(api.events("").is_empty(), "no event stored");
    assert_eq!(contacts(&api, "")["total"], 0, "no contact stored");
}

fn trigger(api: &Api, id: &str) -> Value {
    api.get(&format!("/api/v1/triggers/{id}"))
}

fn wait_for_status(api: &Api, id: &str, status: &str, within: Duration) -> Value {
    wait_for(
        &format!("trigger {id} to be {status}"),
        within,
        || trigger(api, id),
        |t| t["status"] == status,
    )
}

#[test]
fn v1_send_queues_durably_and_a_worker_completes_it_at_once() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    let started = Instant::now();
    let r = api.post(
        "/api/v1/events/send",
        &json!({
            "event_name": "user_signup",
            "user_info": {"contact_external_id": "user_12345", "email": "John.Doe@example.com", "name": "John Doe"},
            "source": {"type": "web_signup", "ip": "192.168.1.1"},
            "event_data": {"signup_method": "google_oauth"},
            "variables": {"plan": "pro"}
        }),
    );
    assert_eq!(r.status(), 201);
    let body: Value = r.json().unwrap();
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "Event queued successfully");
    assert!(body["job_id"].is_string());
    assert!(body.get("scheduled_for").is_none());
    let id = body["trigger_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 36);
    let done = wait_for_status(&api, &id, "completed", Duration::from_secs(5));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no polling lag: {:?}",
        started.elapsed()
    );
    assert_eq!(
        done["summary"],
        json!({"total_contacts": 1, "sent": 0, "failed": 0, "filtered": 0})
    );
    assert!(done["started_at"].is_string() && done["completed_at"].is_string());
    // The advertised details path resolves with the same key.
    let details = done["details_endpoint"].as_str().unwrap();
    assert_eq!(details, format!("/api/v1/triggers/{id}/workflow"));
    let workflow = api.get(details);
    assert_eq!(workflow["workflows"], json!([]));

    let events = api.events("eventName=user_signup");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["email"], "john.doe@example.com");
    assert_eq!(
        events[0]["properties"],
        json!({"signup_method": "google_oauth"})
    );
    let contact = &contacts(&api, "user_12345")["contacts"][0];
    assert_eq!(contact["externalId"], "user_12345");
    assert_eq!(contact["name"], "John Doe");

    // Matched by external id first: a new email on the same external id is the same contact.
    let r = api.post("/api/v1/events/send", &json!({"event_name": "purchase_completed", "user_info": {"contact_external_id": "user_12345"}}));
    let id = r.json::<Value>().unwrap()["trigger_id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for_status(&api, &id, "completed", Duration::from_secs(5));
    assert_eq!(contacts(&api, "")["total"], 1);
}

#[test]
fn v1_validation_uses_the_seed_messages() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    let user = json!({"email": "a@example.com"});
    assert_eq!(
        error(
            api.post("/api/v1/events/send", &json!({"user_info": user})),
            400
        ),
        "Event name is required"
    );
    assert_eq!(
        error(
            api.post(
                "/api/v1/events/send",
                &json!({"event_name": "", "user_info": user})
            ),
            400
        ),
        "Event name is required"
    );
    for bad in ["tomorrow", "2024-13-45T10:00:00Z", "12/25/2030"] {
        assert_eq!(
            error(
                api.post(
                    "/api/v1/events/send",
                    &json!({"event_name": "x", "user_info": user, "trigger_at": bad})
                ),
                400
            ),
            "Invalid trigger_at format"
        );
    }
    assert_eq!(
        error(
            api.post(
                "/api/v1/events/send",
                &json!({"event_name": "x", "user_info": user, "trigger_at": "2020-01-01T00:00:00Z"})
            ),
            400
        ),
        "trigger_at must be a future date"
    );
    error(
        api.post("/api/v1/events/send", &json!({"event_name": "x"})),
        400,
    );
    error(
        api.post(
            "/api/v1/events/send",
            &json!({"event_name": "x", "user_info": {"email": "nope"}}),
        ),
        400,
    );
    error(
        api.post(
            "/api/v1/events/send",
            &json!({"event_name": "x", "user_info": user, "event_data": [1]}),
        ),
        400,
    );
    error(api.post("/api/v1/events/send", &json!({"event_name": "x", "user_info": {"email": "a@example.com", "custom_fields": {"undeclared": 1}}})), 400);
    let conn = rusqlite::Connection::open(herald.db_path()).unwrap();
    let triggers: i64 = conn
        .query_row("SELECT COUNT(*) FROM triggers", [], |r| r.get(0))
        .unwrap();
    assert_eq!(triggers, 0, "nothing queued for bad input");
}

#[test]
fn a_scheduled_event_runs_at_its_time_and_not_before() {
    let herald = InProcessHerald::start();
    let api = Api::new(&herald, "Acme");
    let at = herald.now_ms() + 1500;
    let r = api.post("/api/v1/events/send", &json!({"event_name": "renewal_reminder", "user_info": {"email": "c@example.com"}, "trigger_at": iso_time(at)}));
    assert_eq!(r.status(), 201);
    let body: Value = r.json().unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Event scheduled for ")
    );
    assert!(body["scheduled_for"].is_string());
    let id = body["trigger_id"].as_str().unwrap().to_string();
    assert_eq!(trigger(&api, &id)["status"], "scheduled");
    herald.advance(Duration::from_millis(1499));
    assert_eq!(
        trigger(&api, &id)["status"],
        "scheduled",
        "not before its time"
    );
    assert!(api.events("eventName=renewal_reminder").is_empty());
    herald.advance(Duration::from_millis(1));
    let done = wait_for_status(&api, &id, "completed", Duration::from_secs(5));
    let completed = parse_time(done["completed_at"].as_str().unwrap()).unwrap();
    assert!(completed >= at, "ran at or after trigger_at");
    assert!(
        completed - at < 1000,
        "and on time: {} ms late",
        completed - at
    );
    assert_eq!(api.events("eventName=renewal_reminder").len(), 1);
}

#[test]
fn one_unreadable_queued_event_fails_alone_and_its_batch_completes() {
    let herald = InProcessHerald::start();
    let api = Api::new(&herald, "Acme");
    let at_text = iso_time(herald.now_ms() + 2000);
    let ids: Vec<String> = (0..3)
        .map(|i| {
            let r = api.post("/api/v1/events/send", &json!({"event_name": "batch_member", "user_info": {"email": format!("b{i}@example.com")}, "trigger_at": at_text}));
            assert_eq!(r.status(), 201);
            r.json::<Value>().unwrap()["trigger_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    // The middle one's stored payload is damaged before it comes due, so the three are
    // ingested in one batch and one of them cannot be read.
    let conn = rusqlite::Connection::open(herald.db_path()).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let damaged = conn
        .execute(
            "UPDATE triggers SET payload = '{not json' WHERE uid = ?1 AND status = 'scheduled'",
            [&ids[1]],
        )
        .unwrap();
    assert_eq!(damaged, 1, "damaged while still scheduled");
    drop(conn);
    herald.advance(Duration::from_secs(2));
    wait_for_status(&api, &ids[0], "completed", Duration::from_secs(6));
    wait_for_status(&api, &ids[2], "completed", Duration::from_secs(6));
    let failed = wait_for_status(&api, &ids[1], "failed", Duration::from_secs(6));
    assert_eq!(failed["summary"]["failed"], 1);
    let emails: Vec<Value> = api
        .events("eventName=batch_member")
        .iter()
        .map(|e| e["email"].clone())
        .collect();
    assert_eq!(
        emails.len(),
        2,
        "only the readable two were stored: {emails:?}"
    );
    assert!(!emails.contains(&json!("b1@example.com")));
}

#[test]
fn writes_refused_inside_a_busy_batch_leave_their_neighbours_intact() {
    // Many concurrent sends share the writer's batches; some are refused inside the write
    // (an Idempotency-Key reused with another body). Every accepted one must be stored
    // exactly once and every refused one must store nothing.
    let herald = Herald::start_with(&[("HERALD_RATELIMIT__REQUESTS_PER_SECOND", "0")]);
    let api = Api::new(&herald, "Acme");
    let first = api
        .request("POST", "/api/events/send")
        .header("Idempotency-Key", "shared-key")
        .json(&json!({"email": "first@example.com", "eventName": "busy"}))
        .send()
        .unwrap();
    assert_eq!(first.status(), 200);
    let outcomes: Vec<(usize, u16)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..16)
            .map(|t| {
                let api = &api;
                scope.spawn(move || {
                    (0..25)
                        .map(|i| {
                            let n = t * 25 + i;
                            let mut req = api
                                .request("POST", "/api/events/send")
                                .json(&json!({"email": format!("busy{n}@example.com"), "eventName": "busy", "eventProperties": {"n": n}}));
                            if n % 10 == 3 {
                                req = req.header("Idempotency-Key", "shared-key");
                            }
                            (n, req.send().unwrap().status().as_u16())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    for (n, status) in &outcomes {
        let expected = if n % 10 == 3 { 409 } else { 200 };
        assert_eq!(*status, expected, "request {n}");
    }
    let conn = rusqlite::Connection::open(herald.db_path()).unwrap();
    let stored: Vec<i64> = conn
        .prepare("SELECT CAST(json_extract(properties, '$.n') AS INTEGER) FROM events WHERE name = 'busy' AND json_extract(properties, '$.n') IS NOT NULL ORDER BY 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let accepted: Vec<i64> = (0..400).filter(|n| n % 10 != 3).collect();
    assert_eq!(stored, accepted, "each accepted event once, no refused one");
    let refused_contacts: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM contacts WHERE email LIKE 'busy%3@example.com'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(refused_contacts, 0, "a refused send creates no contact");
}

#[test]
fn idempotency_key_replays_the_first_response_and_refuses_another_body() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    let send = |key: &str, body: &Value, path: &str| {
        api.request("POST", path)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .unwrap()
    };
    let body = json!({"email": "ada@example.com", "eventName": "paid"});
    let first = send("k1", &body, "/api/events/send");
    assert_eq!(first.status(), 200);
    let replay = send("k1", &body, "/api/events/send");
    assert_eq!(replay.status(), 200);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(api.events("eventName=paid").len(), 1, "stored once");
    let other = send(
        "k1",
        &json!({"email": "ada@example.com", "eventName": "refunded"}),
        "/api/events/send",
    );
    error(other, 409);
    assert!(api.events("eventName=refunded").is_empty());

    let v1 = json!({"event_name": "order", "user_info": {"email": "b@example.com"}});
    let a: Value = send("k2", &v1, "/api/v1/events/send").json().unwrap();
    let b = send("k2", &v1, "/api/v1/events/send");
    assert_eq!(b.status(), 201);
    let b: Value = b.json().unwrap();
    assert_eq!(a["trigger_id"], b["trigger_id"], "same trigger returned");
    wait_for_status(
        &api,
        a["trigger_id"].as_str().unwrap(),
        "completed",
        Duration::from_secs(5),
    );
    assert_eq!(api.events("eventName=order").len(), 1);
    error(
        send(
            "k2",
            &json!({"event_name": "order2", "user_info": {"email": "b@example.com"}}),
            "/api/v1/events/send",
        ),
        409,
    );
}

#[test]
fn over_the_rate_limit_gets_429_with_retry_after() {
    let herald = InProcessHerald::start_with(|config| {
        config.ratelimit.requests_per_second = 1.0;
        config.ratelimit.burst = 3.0;
    });
    let api = Api::new(&herald, "Acme");
    let body = json!({"email": "a@example.com", "eventName": "x"});
    for _ in 0..3 {
        assert_eq!(send_event(&api, body.clone()).status(), 200);
    }
    let limited = send_event(&api, body.clone());
    assert_eq!(limited.status(), 429);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    for name in ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"] {
        assert!(limited.headers().contains_key(name), "{name}");
    }
    assert_eq!(limited.headers()["ratelimit-limit"], "3");
    error(limited, 429);
    let conn = rusqlite::Connection::open(herald.db_path()).unwrap();
    let stored: i64 = conn
        .query_row("SELECT COUNT(*) FROM events WHERE name = 'x'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(stored, 3, "the refused request stored nothing");
    assert_eq!(send_event(&api, body.clone()).status(), 429, "still empty");
    herald.advance(Duration::from_secs(1));
    assert_eq!(send_event(&api, body).status(), 200, "tokens refill");
}

#[test]
fn event_log_filters_and_pages() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    for i in 0..7 {
        send_event(
            &api,
            json!({"email": format!("u{}@example.com", i % 2), "eventName": if i % 3 == 0 { "upgraded" } else { "signedIn" }, "eventProperties": {"i": i}}),
        );
    }
    let signed_in = api.events("eventName=signedIn");
    assert_eq!(signed_in.len(), 4);
    assert!(signed_in.iter().all(|e| e["eventName"] == "signedIn"));
    let by_email = api.events("email=U0@example.com&eventName=upgraded");
    assert_eq!(by_email.len(), 2, "{by_email:?}");
    assert!(api.events("email=nobody@example.com").is_empty());

    // Keyset pages: newest first, no overlap, nothing missed.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = api.get(&format!(
            "/api/events?eventName=signedIn&limit=3&cursor={cursor}"
        ));
        seen.extend(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["properties"]["i"].as_i64().unwrap()),
        );
        match page["nextCursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, vec![5, 4, 2, 1]);

    let today = time::OffsetDateTime::now_utc().date();
    let tomorrow = today.next_day().unwrap();
    assert_eq!(
        api.events(&format!("from={today}&eventName=upgraded"))
            .len(),
        3
    );
    assert!(api.events(&format!("from={tomorrow}")).is_empty());
    assert_eq!(
        api.events(&format!("to={today}&eventName=upgraded")).len(),
        3,
        "a bare `to` date covers the day"
    );
    error(api.get_response("/api/events?from=yesterday"), 400);
    error(api.get_response("/api/events?limit=100000"), 400);
    error(api.get_response("/api/events?cursor=garbage"), 400);
}

#[test]
fn patterns_are_validated_and_mark_events_declared() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    send_event(
        &api,
        json!({"email": "a@example.com", "eventName": "signUp"}),
    );
    assert_eq!(api.events("eventName=signUp")[0]["declared"], false);
    for bad in ["1abc", "has space", "", "a/b", &"x".repeat(121)] {
        error(api.post("/api/event-patterns", &json!({"name": bad})), 400);
    }
    assert_eq!(
        api.post("/api/event-patterns", &json!({"name": "signUp"}))
            .status(),
        201
    );
    assert_eq!(
        api.post("/api/event-patterns", &json!({"name": "invoice.paid-v2_x"}))
            .status(),
        201
    );
    assert_eq!(api.events("eventName=signUp")[0]["declared"], true);
    let names: Vec<String> = api.get("/api/event-patterns")["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["invoice.paid-v2_x", "signUp"]);
    let gone = api.delete("/api/event-patterns/signUp");
    assert_eq!(gone.status(), 204);
    let again = api.delete("/api/event-patterns/signUp");
    error(again, 404);
}

#[test]
fn contacts_api_creates_searches_updates_and_erases() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    let created = api.post("/api/contacts", &json!({"email": "Grace@Navy.mil", "firstName": "Grace", "tags": ["vip", "vip", "navy"], "phone": "+1 415 555 0100"}));
    assert_eq!(created.status(), 201);
    let contact: Value = created.json().unwrap();
    assert_eq!(contact["email"], "grace@navy.mil");
    assert_eq!(contact["tags"], json!(["vip", "navy"]));
    assert_eq!(contact["phone"], "+14155550100");
    error(
        api.post("/api/contacts", &json!({"email": "grace@navy.mil"})),
        409,
    );
    error(
        api.post("/api/contacts", &json!({"firstName": "No email"})),
        400,
    );
    error(
        api.post(
            "/api/contacts",
            &json!({"email": "x@example.com", "phone": "12"}),
        ),
        400,
    );
    let id = contact["id"].as_str().unwrap();
    for i in 0..30 {
        api.post(
            "/api/contacts",
            &json!({"email": format!("person{i:02}@example.com"), "name": format!("Person {i}")}),
        );
    }
    let page = api.get("/api/contacts?page=2&limit=10");
    assert_eq!(page["total"], 31);
    assert_eq!(page["contacts"].as_array().unwrap().len(), 10);
    let page1 = api.get("/api/contacts?page=1&limit=10");
    assert_ne!(page1["contacts"][0]["id"], page["contacts"][0]["id"]);
    assert_eq!(contacts(&api, "navy")["total"], 1, "substring of the email");
    assert_eq!(contacts(&api, "Person 1")["total"], 11, "name substring");
    assert_eq!(contacts(&api, "gr")["total"], 1, "short prefix");
    error(api.get_response("/api/contacts?limit=0"), 400);

    let updated = api.put(
        &format!("/api/contacts/{id}"),
        &json!({"lastName": "Hopper", "subscribed": false}),
    );
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().unwrap();
    assert_eq!(updated["firstName"], "Grace");
    assert_eq!(updated["lastName"], "Hopper");
    assert_eq!(updated["subscribed"], false);
    assert_eq!(api.events("eventName=contact_updated").len(), 1);

    send_event(
        &api,
        json!({"email": "grace@navy.mil", "eventName": "compiled"}),
    );
    let deleted = api.delete(&format!("/api/contacts/{id}"));
    assert_eq!(deleted.status(), 200);
    error(api.get_response(&format!("/api/contacts/{id}")), 404);
    assert!(
        api.events("email=grace@navy.mil").is_empty(),
        "erasure removes the contact's events"
    );
    assert!(api.events("eventName=compiled").is_empty());
    assert_eq!(contacts(&api, "")["total"], 30, "counts stay honest");
    assert_eq!(contacts(&api, "navy")["total"], 0, "gone from search");
}

#[test]
fn no_endpoint_crosses_workspaces() {
    let herald = Herald::start();
    let a = Api::new(&herald, "Acme");
    let b = Api::new(&herald, "Globex");
    send_event(
        &a,
        json!({"email": "secret@acme.com", "eventName": "acmeOnly"}),
    );
    a.post(
        "/api/contact-fields",
        &json!({"key": "acmefield", "type": "text"}),
    );
    a.post("/api/event-patterns", &json!({"name": "acmePattern"}));
    let contact = contacts(&a, "secret")["contacts"][0].clone();
    let id = contact["id"].as_str().unwrap();
    let t: Value = a
        .post(
            "/api/v1/events/send",
            &json!({"event_name": "acmeQueued", "user_info": {"email": "secret@acme.com"}}),
        )
        .json()
        .unwrap();
    let trigger_id = t["trigger_id"].as_str().unwrap();

    assert_eq!(contacts(&b, "")["total"], 0);
    assert_eq!(contacts(&b, "secret")["total"], 0);
    error(b.get_response(&format!("/api/contacts/{id}")), 404);
    let put = b.put(
        &format!("/api/contacts/{id}"),
        &json!({"firstName": "Hacked"}),
    );
    error(put, 404);
    error(b.delete(&format!("/api/contacts/{id}")), 404);
    assert!(b.events("").is_empty());
    assert!(b.events("email=secret@acme.com").is_empty());
    assert!(b.events("eventName=acmeOnly").is_empty());
    error(
        b.get_response(&format!("/api/v1/triggers/{trigger_id}")),
        404,
    );
    error(
        b.get_response(&format!("/api/v1/triggers/{trigger_id}/workflow")),
        404,
    );
    assert_eq!(b.get("/api/event-patterns")["patterns"], json!([]));
    assert_eq!(b.get("/api/contact-fields")["fields"], json!([]));
    error(b.delete("/api/event-patterns/acmePattern"), 404);
    error(b.delete("/api/contact-fields/acmefield"), 404);
    // B sending the same email makes B's own contact, leaving A's untouched.
    send_event(
        &b,
        json!({"email": "secret@acme.com", "eventName": "globex", "contactProperties": {"firstName": "B"}}),
    );
    assert_eq!(
        contacts(&a, "secret")["contacts"][0]["firstName"],
        Value::Null
    );
    assert_eq!(
        a.get(&format!("/api/contacts/{id}"))["email"],
        "secret@acme.com"
    );
    // Idempotency keys are per workspace too.
    let k = |api: &Api| {
        api.request("POST", "/api/events/send")
            .header("Idempotency-Key", "shared")
            .json(&json!({"email": "x@example.com", "eventName": "k"}))
            .send()
            .unwrap()
    };
    assert_eq!(k(&a).status(), 200);
    assert_eq!(k(&b).status(), 200);
    assert_eq!(b.events("eventName=k").len(), 1);
}
