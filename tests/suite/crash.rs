//! Nothing lost: under load on the async endpoint the server is killed with SIGKILL;
//! after a restart every trigger that got a 201 exists and is processed exactly once.

use crate::support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::{Value, json};
use support::Herald;
use support::api::{Api, wait_for, wait_until};

/// Eight clients send events as fast as they can until `stop`, keeping the trigger id
/// of every 201 in `acknowledged`; after a request that fails (the server is down) a
/// client counts it in `refused`, pauses briefly (pacing, not waiting for a state) and
/// sends the next.
fn keep_sending(
    api: &Api,
    acknowledged: &Arc<Mutex<Vec<String>>>,
    refused: &Arc<AtomicUsize>,
    stop: &Arc<AtomicBool>,
) -> Vec<JoinHandle<()>> {
    let url = format!("{}/api/v1/events/send", api.base);
    (0..8)
        .map(|worker| {
            let (acknowledged, refused, stop) = (acknowledged.clone(), refused.clone(), stop.clone());
            let (url, key) = (url.clone(), api.key.clone());
            std::thread::spawn(move || {
                let client = Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let body = json!({
                        "event_name": "order_placed",
                        "user_info": {"email": format!("buyer{}@example.com", (worker * 1000 + n) % 300)},
                        "event_data": {"worker": worker, "n": n}
                    });
                    match client.post(&url).header("X-API-Key", &key).json(&body).send() {
                        Ok(r) if r.status() == 201 => {
                            let v: Value = r.json().unwrap();
                            acknowledged.lock().unwrap().push(v["trigger_id"].as_str().unwrap().to_string());
                        }
                        Ok(r) => panic!("unexpected status {}", r.status()),
                        Err(_) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                }
            })
        })
        .collect()
}

fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Every acknowledged trigger exists, completed, and stored its event exactly once; no
/// event is stored without its trigger.
fn every_acknowledged_trigger_ran_once(conn: &rusqlite::Connection, acknowledged: &[String]) {
    let mut stmt = conn
        .prepare(
            "SELECT t.status, (SELECT COUNT(*) FROM events e WHERE e.trigger_id = t.id AND e.name = 'order_placed')
             FROM triggers t WHERE t.uid = ?1",
        )
        .unwrap();
    for id in acknowledged {
        let (status, events): (String, i64) = stmt
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap_or_else(|_| panic!("acknowledged trigger {id} is missing after the crash"));
        assert_eq!(status, "completed", "trigger {id}");
        assert_eq!(events, 1, "trigger {id} ran exactly once");
    }
    let orphans = count(
        conn,
        "SELECT COUNT(*) FROM events WHERE name = 'order_placed' AND trigger_id IS NULL",
    );
    assert_eq!(orphans, 0);
    let failed = count(
        conn,
        "SELECT COUNT(*) FROM triggers WHERE status != 'completed'",
    );
    assert_eq!(failed, 0, "every queued event was processed");
}

#[test]
fn kill_9_under_load_loses_no_acknowledged_event_and_runs_each_once() {
    let mut herald = Herald::start_with(&[("HERALD_RATELIMIT__REQUESTS_PER_SECOND", "0")]);
    let api = Api::new(&herald, "Acme");
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let refused = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let clients = keep_sending(&api, &acknowledged, &refused, &stop);

    wait_until(
        "the server to be under load",
        Duration::from_secs(30),
        || acknowledged.lock().unwrap().len() > 300,
    );
    let before_kill = acknowledged.lock().unwrap().len();
    herald.crash();
    wait_until(
        "the clients to find the server gone",
        Duration::from_secs(10),
        || refused.load(Ordering::Relaxed) >= 8,
    );
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        before_kill > 100,
        "the server was under load: {before_kill} acknowledged"
    );

    herald.spawn();
    let conn = rusqlite::Connection::open(herald.db_path()).unwrap();
    wait_for(
        "every trigger to complete after the restart",
        Duration::from_secs(60),
        || {
            count(
                &conn,
                "SELECT COUNT(*) FROM triggers WHERE status != 'completed'",
            )
        },
        |pending| *pending == 0,
    );
    every_acknowledged_trigger_ran_once(&conn, &acknowledged);

    // The API agrees; the restarted server listens on a new port.
    let api = Api::with_key(&herald, api.key);
    let sample = &acknowledged[acknowledged.len() / 2];
    let t = api.get(&format!("/api/v1/triggers/{sample}"));
    assert_eq!(t["status"], "completed");
}
