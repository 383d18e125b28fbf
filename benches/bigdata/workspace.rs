//! The big workspace the read figures run on: 1,000,000 contacts and 10,000,000 events,
//! with tags, two declared fields (`plan` text, `seats` number) and a list of 300,000
//! members for the segment figures, created with the CLI (so the schema is exactly the one the migrations make), filled
//! straight through rusqlite in large transactions (the FTS triggers fire on every contact
//! insert, as they do in the app), then `ANALYZE`d, and cached under
//! `target/bigdata-cache/<hash of the migrations and this generator>/`.

use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rusqlite::{Connection, params};

use crate::common::workspace_with_key;

pub const CONTACTS: i64 = 1_000_000;
const EVENTS: i64 = 10_000_000;
const GENERATOR_VERSION: u32 = 2;
const YEAR_MS: i64 = 365 * 86_400_000;

const FIRST_NAMES: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Linus",
    "Barbara",
    "Margaret",
    "Dennis",
    "Ken",
    "Edsger",
    "Donald",
    "Frances",
    "Hedy",
    "Katherine",
    "Radia",
    "Sophie",
    "John",
    "Tim",
    "Vint",
    "Bjarne",
    "Guido",
    "Anita",
    "Shafi",
    "Leslie",
    "Niklaus",
    "Tony",
    "Robin",
    "Adele",
    "Mary",
    "Annie",
    "Jean",
    "Karen",
    "Carol",
    "Evelyn",
    "Joan",
    "Ruth",
    "Lynn",
    "Susan",
    "Marian",
    "Irma",
    "Betty",
];
const LAST_NAMES: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Torvalds",
    "Liskov",
    "Hamilton",
    "Ritchie",
    "Thompson",
    "Dijkstra",
    "Knuth",
    "Allen",
    "Lamarr",
    "Johnson",
    "Perlman",
    "Wilson",
    "McCarthy",
    "Berners",
    "Cerf",
    "Stroustrup",
    "Rossum",
    "Borg",
    "Goldwasser",
    "Lamport",
    "Wirth",
    "Hoare",
    "Milner",
    "Goldberg",
    "Keller",
    "Easley",
    "Bartik",
    "Jones",
    "Shaw",
    "Boyd",
    "Clarke",
    "Teitelbaum",
    "Conway",
    "Kare",
    "Croft",
    "Wescoff",
    "Holberton",
];
pub const EVENT_NAMES: &[&str] = &[
    "signUp",
    "login",
    "logout",
    "pageView",
    "purchase",
    "refund",
    "trialStarted",
    "trialEnded",
    "planUpgraded",
    "planDowngraded",
    "invoicePaid",
    "invoiceFailed",
    "emailOpened",
    "emailClicked",
    "formSubmitted",
    "featureUsed",
    "projectCreated",
    "teamInvited",
    "passwordReset",
    "accountDeleted",
];

/// A small deterministic generator (splitmix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub fn first_name(i: i64) -> &'static str {
    FIRST_NAMES[(i as usize * 7 + i as usize / 13) % FIRST_NAMES.len()]
}

pub fn last_name(i: i64) -> &'static str {
    LAST_NAMES[(i as usize * 11 + i as usize / 17) % LAST_NAMES.len()]
}

pub fn email(i: i64) -> String {
    format!("user{i}@example{}.com", i % 50)
}

/// Hash of every migration file and of the generator's parameters.
fn cache_key() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in files {
        h.write(f.file_name().unwrap().as_encoded_bytes());
        h.write(&std::fs::read(&f).unwrap());
    }
    h.write_u32(GENERATOR_VERSION);
    h.write_i64(CONTACTS);
    h.write_i64(EVENTS);
    format!("{:016x}", h.finish())
}

fn progress(what: &str, done: i64, total: i64, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    println!(
        "  {what}: {done}/{total} ({:.0} rows/s, {secs:.0} s)",
        done as f64 / secs
    );
}

/// Builds (or reuses) the big workspace; returns its data dir and API key.
pub fn big_workspace() -> (PathBuf, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("bigdata-cache");
    let cache = root.join(cache_key());
    let data = cache.join("data");
    let done_marker = cache.join("complete");
    if done_marker.exists() {
        let key = std::fs::read_to_string(cache.join("key.txt")).unwrap();
        let notes = std::fs::read_to_string(&done_marker).unwrap_or_default();
        println!("reusing the cached database in {}", cache.display());
        print!("{notes}");
        return (data, key.trim().to_string());
    }
    if root.exists() {
        // Databases built for other schemas are stale.
        std::fs::remove_dir_all(&root).unwrap();
    }
    std::fs::create_dir_all(&cache).unwrap();
    println!("building the big workspace in {} ...", cache.display());
    let key = workspace_with_key(&data, "Big");
    std::fs::write(cache.join("key.txt"), &key).unwrap();

    let conn = open_for_bulk_load(&data.join("herald.db"));
    let ws: i64 = conn
        .query_row("SELECT id FROM workspaces WHERE name = 'Big'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let year_start = now_ms() - YEAR_MS;
    let mut rng = Rng(0x5EED);
    let mut notes = String::new();
    let first_id = insert_contacts(&conn, ws, year_start, &mut rng, &mut notes);
    insert_audience(&conn, ws, first_id, now_ms(), &mut notes);
    insert_events(&conn, ws, year_start, first_id, &mut rng, &mut notes);
    analyze_and_checkpoint(conn, &data, &mut notes);
    print!("{notes}");
    std::fs::write(&done_marker, notes).unwrap();
    (data, key)
}

/// Opens the new database for the build: WAL, no fsync, a 1 GiB cache. The build is
/// thrown away if interrupted (no `complete` marker), so durability buys nothing here.
fn open_for_bulk_load(db: &Path) -> Connection {
    let conn = Connection::open(db).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA cache_size = -1048576;
         PRAGMA temp_store = MEMORY;",
    )
    .unwrap();
    conn
}

/// A v4-shaped uid from one random draw and the row number (unique by the row number).
fn contact_uid(r: u64, i: i64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        r >> 32,
        (r >> 16) & 0xffff,
        r & 0xfff,
        (r >> 20) & 0xfff,
        i
    )
}

/// Inserts the contacts through the table (not around it), so the FTS triggers index
/// each one as they do in the app; returns the first contact's row id.
fn insert_contacts(
    conn: &Connection,
    ws: i64,
    year_start: i64,
    rng: &mut Rng,
    notes: &mut String,
) -> i64 {
    let started = Instant::now();
    let mut first_id = None;
    let batch = 100_000;
    for chunk in 0..CONTACTS / batch {
        let tx = conn.unchecked_transaction().unwrap();
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO contacts (uid, workspace_id, email, first_name, last_name, properties, tags, subscribed, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?8)",
                )
                .unwrap();
            for i in chunk * batch..(chunk + 1) * batch {
                let r = rng.next();
                let created = year_start + i * (YEAR_MS / CONTACTS);
                let props = match i % 3 {
                    0 => format!(r#"{{"plan":"pro","seats":{}}}"#, i % 50),
                    1 => format!(r#"{{"plan":"basic","seats":{}}}"#, i % 20),
                    _ => "{}".to_string(),
                };
                stmt.execute(params![
                    contact_uid(r, i),
                    ws,
                    email(i),
                    first_name(i),
                    last_name(i),
                    props,
                    tags(i),
                    created
                ])
                .unwrap();
                if first_id.is_none() {
                    first_id = Some(tx.last_insert_rowid());
                }
            }
        }
        tx.commit().unwrap();
        progress("contacts", (chunk + 1) * batch, CONTACTS, started);
    }
    let contacts_time = started.elapsed();
    *notes += &format!(
        "build: 1,000,000 contacts through the FTS triggers in {:.1} s ({:.0} rows/s)\n",
        contacts_time.as_secs_f64(),
        CONTACTS as f64 / contacts_time.as_secs_f64()
    );
    first_id.unwrap()
}

/// Tags of contact `i`: 10% `vip`, about 13% `eu` and `beta` (as JSON, the way the app
/// stores them).
fn tags(i: i64) -> &'static str {
    if i % 10 == 0 {
        r#"["vip"]"#
    } else if i % 7 == 0 {
        r#"["eu","beta"]"#
    } else {
        "[]"
    }
}

/// The audience the segment figures filter on: the declared fields `plan` and `seats`,
/// and a list "Newsletter" whose members are every 4th contact (confirmed) and every 20th
/// from the second on (unconfirmed): 300,000 memberships.
fn insert_audience(conn: &Connection, ws: i64, first_id: i64, now: i64, notes: &mut String) {
    let started = Instant::now();
    conn.execute_batch(&format!(
        "INSERT INTO contact_fields (workspace_id, key, label, type, created_at)
         VALUES ({ws}, 'plan', 'Plan', 'text', {now}), ({ws}, 'seats', 'Seats', 'number', {now});
         INSERT INTO lists (uid, workspace_id, name, description, opt_in, public, created_at, updated_at)
         VALUES ('00000000-0000-4000-8000-00000000b1c0', {ws}, 'Newsletter', '', 'single', 1, {now}, {now});
         INSERT INTO list_members (list_id, contact_id, status, source, created_at, changed_at)
         SELECT (SELECT id FROM lists WHERE workspace_id = {ws} AND name = 'Newsletter'), id,
                CASE WHEN (id - {first_id}) % 4 = 0 THEN 'confirmed' ELSE 'unconfirmed' END,
                'import', created_at, created_at
         FROM contacts WHERE workspace_id = {ws} AND ((id - {first_id}) % 4 = 0 OR (id - {first_id}) % 20 = 1);"
    ))
    .unwrap();
    *notes += &format!(
        "build: fields, tags and a 300,000-member list in {:.1} s\n",
        started.elapsed().as_secs_f64()
    );
}

/// Inserts the events in time order over the year, on random contacts with random
/// names, and registers the names, as the event log's name list expects.
fn insert_events(
    conn: &Connection,
    ws: i64,
    year_start: i64,
    first_id: i64,
    rng: &mut Rng,
    notes: &mut String,
) {
    let started = Instant::now();
    let batch = 500_000;
    for chunk in 0..EVENTS / batch {
        let tx = conn.unchecked_transaction().unwrap();
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO events (workspace_id, contact_id, name, properties, source, created_at)
                     VALUES (?1, ?2, ?3, ?4, 'api', ?5)",
                )
                .unwrap();
            for j in chunk * batch..(chunk + 1) * batch {
                let contact = first_id + rng.below(CONTACTS as u64) as i64;
                let name = EVENT_NAMES[rng.below(EVENT_NAMES.len() as u64) as usize];
                let created = year_start + j * (YEAR_MS / EVENTS) + rng.below(1000) as i64;
                let props = format!(r#"{{"plan":"pro","amount":{}}}"#, j % 500);
                stmt.execute(params![ws, contact, name, props, created])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
        if (chunk + 1) * batch % 1_000_000 == 0 {
            progress("events", (chunk + 1) * batch, EVENTS, started);
        }
    }
    for name in EVENT_NAMES {
        conn.execute(
            "INSERT OR IGNORE INTO event_names (workspace_id, name, first_seen_at) VALUES (?1, ?2, ?3)",
            params![ws, name, year_start],
        )
        .unwrap();
    }
    let events_time = started.elapsed();
    *notes += &format!(
        "build: 10,000,000 events in {:.1} s ({:.0} rows/s)\n",
        events_time.as_secs_f64(),
        EVENTS as f64 / events_time.as_secs_f64()
    );
}

/// Gives the planner its statistics (as a long-lived database would have) and folds the
/// WAL into the file, so the first reads neither plan blind nor replay the build's WAL.
fn analyze_and_checkpoint(conn: Connection, data: &Path, notes: &mut String) {
    let started = Instant::now();
    conn.execute_batch("ANALYZE; PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    drop(conn);
    let size = std::fs::metadata(data.join("herald.db")).unwrap().len();
    *notes += &format!(
        "build: ANALYZE + checkpoint in {:.1} s; database file {:.2} GiB\n",
        started.elapsed().as_secs_f64(),
        size as f64 / (1u64 << 30) as f64
    );
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
