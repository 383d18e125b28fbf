//! CSV import and export over HTTP, against the real server: streamed uploads, header
//! mapping, per-line errors, merging by email, durable chunks, limits and workspaces.

use crate::support;

use std::time::Duration;

use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};
use support::Herald;
use support::api::{Api, wait_for};

fn declare(api: &Api, key: &str, field_type: &str) {
    let r = api.post(
        "/api/contact-fields",
        &json!({"key": key, "label": key, "type": field_type}),
    );
    assert_eq!(r.status(), 201);
}

/// Posts a CSV body; `query` is appended as is.
fn upload(api: &Api, csv: impl Into<reqwest::blocking::Body>, query: &str) -> Response {
    api.send_body(
        "POST",
        &format!("/api/contacts/import{query}"),
        "text/csv",
        csv,
    )
}

/// Uploads and waits until the import is over; returns its final status.
fn import(api: &Api, csv: &str, query: &str) -> Value {
    let r = upload(api, csv.to_string(), query);
    assert_eq!(r.status(), 202, "upload accepted");
    let accepted: Value = r.json().unwrap();
    assert_eq!(accepted["status"], "queued");
    import_finished(api, accepted["id"].as_str().unwrap())
}

fn import_finished(api: &Api, id: &str) -> Value {
    wait_for(
        "the import to finish",
        Duration::from_secs(60),
        || api.get(&format!("/api/contacts/imports/{id}")),
        |status| status["status"] == "completed" || status["status"] == "failed",
    )
}

fn find(api: &Api, search: &str) -> Vec<Value> {
    let q = serde_urlencoded::to_string([("search", search)]).unwrap();
    api.get(&format!("/api/contacts?{q}"))["contacts"]
        .as_array()
        .unwrap()
        .clone()
}

fn export(api: &Api) -> (Vec<String>, Vec<Vec<String>>) {
    let r = api.get_response("/api/contacts/export");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let body = r.text().unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

const PEOPLE: &str = "E-mail,First name,Last Name,plan,Tags,Notes
ada@example.com,Ada,Lovelace,pro,vip;early,hello
ADA@Example.COM,,King,,beta,
bob@example.com,Bob,,free,\"a, b\",
not-an-email,Carl,,,,
carol@example.com,\"Carol
Second line\",,team,,
dave@example.com,Dave,,,,
,Nobody,,,,
";

#[test]
fn import_merges_duplicates_reports_bad_lines_and_fills_custom_fields() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    declare(&api, "plan", "text");
    let done = import(&api, PEOPLE, "?filename=people.csv");
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["filename"], "people.csv");
    assert_eq!(done["rowsDone"], 7);
    assert_eq!(done["created"], 4, "{done}");
    assert_eq!(
        done["updated"], 1,
        "the second Ada row merges into the first"
    );
    assert_eq!(done["failed"], 2);
    assert_eq!(done["bytesDone"], done["bytesTotal"]);
    assert!(done["finishedAt"].is_string());
    let errors = done["errors"].as_array().unwrap();
    assert_eq!(errors[0]["line"], 5, "{done}");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("not-an-email")
    );
    assert_eq!(
        errors[1]["line"], 9,
        "lines count the multi-line cell: {done}"
    );
    assert!(errors[1]["message"].as_str().unwrap().contains("email"));

    let ada = find(&api, "ada@example.com");
    assert_eq!(ada.len(), 1);
    assert_eq!(ada[0]["firstName"], "Ada", "an empty cell leaves the value");
    assert_eq!(ada[0]["lastName"], "King", "the later row wins");
    assert_eq!(ada[0]["properties"]["plan"], "pro");
    assert_eq!(
        ada[0]["tags"],
        json!(["vip", "early", "beta"]),
        "tags are merged"
    );
    let bob = find(&api, "bob@example.com");
    assert_eq!(bob[0]["tags"], json!(["a", "b"]));
    assert_eq!(bob[0]["properties"]["plan"], "free");
    let carol = find(&api, "carol@example.com");
    assert_eq!(carol[0]["firstName"], "Carol\nSecond line");
    assert!(find(&api, "carl").is_empty(), "the bad row created nothing");

    // Imported contacts are recorded like any other new contact.
    let log = api.get("/api/events?eventName=contact_added");
    assert_eq!(log["events"].as_array().unwrap().len(), 4, "{log}");
}

#[test]
fn a_custom_mapping_overrides_the_guessed_columns() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    let csv = "Contact,Who,Email\nzed@example.com,Zed,ignored-not-an-email\n";
    let mapping = serde_urlencoded::to_string([(
        "mapping",
        json!({"Contact": "email", "Who": "firstName", "Email": "ignore"}).to_string(),
    )])
    .unwrap();
    let done = import(&api, csv, &format!("?{mapping}"));
    assert_eq!(done["created"], 1, "{done}");
    assert_eq!(done["failed"], 0);
    assert_eq!(done["mapping"]["Email"], "ignore");
    assert_eq!(find(&api, "zed@example.com")[0]["firstName"], "Zed");

    for (bad, why) in [
        (json!({"Contact": "bogus"}), "Cannot map"),
        (json!({"Nope": "email"}), "not in the CSV header"),
        (json!({"Email": "ignore", "Contact": "ignore"}), "email"),
    ] {
        let q = serde_urlencoded::to_string([("mapping", bad.to_string())]).unwrap();
        let r = upload(&api, csv.to_string(), &format!("?{q}"));
        assert_eq!(r.status(), 400, "{bad}");
        let body: Value = r.json().unwrap();
        assert_eq!(body["statusCode"], 400);
        assert!(body["message"].as_str().unwrap().contains(why), "{body}");
    }
    let r = upload(&api, "{\"a\":1}", "");
    assert_eq!(
        r.status(),
        400,
        "JSON is not a CSV header with an email column"
    );
    let json_typed = api.post("/api/contacts/import", &json!({"email": "x@example.com"}));
    assert_eq!(json_typed.status(), 415);
    assert_eq!(upload(&api, "", "").status(), 400);
}

#[test]
fn a_large_import_runs_in_chunks_and_exports_every_contact() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    declare(&api, "seats", "number");
    let mut csv = String::from("email,firstName,seats,subscribed\n");
    for i in 0..12_000 {
        let email = if i == 10_500 {
            "broken".to_string()
        } else {
            format!("user{}@example.com", i % 11_000)
        };
        csv.push_str(&format!(
            "{email},User {i},{},{}\n",
            i % 7,
            if i % 2 == 0 { "yes" } else { "no" }
        ));
    }
    let done = import(&api, &csv, "");
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["rowsDone"], 12_000);
    assert_eq!(done["created"], 10_999, "{done}");
    assert_eq!(done["updated"], 1_000, "repeats in a later chunk merge");
    assert_eq!(done["failed"], 1);
    assert_eq!(done["errors"][0]["line"], 10_502);
    assert_eq!(api.get("/api/contacts?limit=1")["total"], 10_999);

    let (header, rows) = export(&api);
    assert_eq!(
        header,
        [
            "email",
            "externalId",
            "phone",
            "firstName",
            "lastName",
            "name",
            "tags",
            "subscribed",
            "createdAt",
            "seats"
        ]
    );
    assert_eq!(rows.len(), 10_999, "every contact, across export pages");
    let user5 = rows.iter().find(|r| r[0] == "user5@example.com").unwrap();
    assert_eq!(
        user5[3], "User 11005",
        "the later row, in a later chunk, wins"
    );
    assert_eq!(user5[7], "false");
    assert_eq!(user5[9], "1");
    assert!(user5[8].ends_with('Z'));
    assert!(rows.iter().all(|r| r.len() == 10));
}

#[test]
fn export_round_trips_tags_and_custom_fields() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    declare(&api, "plan", "text");
    import(&api, PEOPLE, "");
    let (header, rows) = export(&api);
    assert_eq!(header.last().unwrap(), "plan");
    assert_eq!(rows.len(), 4);
    let ada = rows.iter().find(|r| r[0] == "ada@example.com").unwrap();
    assert_eq!(&ada[3..5], ["Ada", "King"]);
    assert_eq!(ada[6], "vip;early;beta");
    assert_eq!(ada[7], "true");
    assert_eq!(ada[9], "pro");
}

#[test]
fn uploads_over_the_limit_are_refused_with_413() {
    let herald = Herald::start_with(&[("HERALD_CONTACTS__IMPORT_MAX_BYTES", "2048")]);
    let api = Api::new(&herald, "Acme");
    let big = format!("email\n{}", "someone@example.com\n".repeat(200));
    let r = upload(&api, big.clone(), "");
    assert_eq!(r.status(), 413);
    let body: Value = r.json().unwrap();
    assert_eq!(body["statusCode"], 413);
    assert_eq!(body["error"], "Payload Too Large");

    // Without a Content-Length the limit is enforced while streaming.
    let chunked = reqwest::blocking::Body::new(std::io::Cursor::new(big.into_bytes()));
    assert_eq!(upload(&api, chunked, "").status(), 413);

    let small = import(&api, "email\nfits@example.com\n", "");
    assert_eq!(small["created"], 1);
    // A finished import's file is removed right after its last chunk commits, so the
    // status can say "completed" a moment before the file is gone.
    let imports = herald.data_dir().join("imports");
    wait_for(
        "refused and finished uploads to leave no files",
        Duration::from_secs(5),
        || std::fs::read_dir(&imports).unwrap().count(),
        |leftovers| *leftovers == 0,
    );
}

#[test]
fn imports_and_exports_stay_inside_their_workspace() {
    let herald = Herald::start();
    let a = Api::new(&herald, "Acme");
    let b = Api::new(&herald, "Globex");
    let r = upload(&a, "email\nsecret@acme.example.com\n", "");
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    import_finished(&a, &id);
    let r = b.get_response(&format!("/api/contacts/imports/{id}"));
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().unwrap()["statusCode"], 404);
    let (header, rows) = export(&b);
    assert_eq!(header[0], "email");
    assert!(rows.is_empty(), "B sees none of A's contacts");
    let (_, rows) = export(&a);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        Client::new()
            .get(herald.url("/api/contacts/export"))
            .send()
            .unwrap()
            .status(),
        401
    );
}

#[test]
fn external_ids_stay_unique_across_rows_and_stored_contacts() {
    let herald = Herald::start();
    let api = Api::new(&herald, "Acme");
    import(&api, "email,externalId\nold@example.com,cus_1\n", "");
    let csv = "email,externalId,phone\nnew@example.com,cus_2,+14155550123\ntwin@example.com,cus_2,\nthief@example.com,cus_1,\nold@example.com,,12\n";
    let done = import(&api, csv, "");
    assert_eq!(
        done["status"], "completed",
        "a conflicting row fails alone: {done}"
    );
    assert_eq!(done["created"], 1, "{done}");
    assert_eq!(done["failed"], 3);
    let lines: Vec<&Value> = done["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["line"])
        .collect();
    assert_eq!(lines, [&json!(3), &json!(4), &json!(5)]);
    assert!(
        done["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("cus_2")
    );
    assert!(
        done["errors"][2]["message"]
            .as_str()
            .unwrap()
            .contains("E.164")
    );
    assert_eq!(find(&api, "new@example.com")[0]["phone"], "+14155550123");
    assert!(find(&api, "twin@example.com").is_empty());
}
