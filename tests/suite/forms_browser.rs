//! A form embedded on another site, filled in by a real browser: a static page served
//! from a second origin carries the snippet exactly as the form page shows it, headless
//! Chromium (driven over the WebDriver protocol by chromedriver) fills it in with
//! JavaScript on and off, the double opt-in email reaches a real SMTP server, and the
//! link in it confirms the membership.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them the test fails under
//! `CI=true` and is skipped, loudly, elsewhere.

use crate::support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::{Value, json};
use support::api::{Api, wait_for, wait_until};
use support::smtp::SmtpSink;
use support::{Herald, free_port, page_html};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C name of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const WAIT: Duration = Duration::from_secs(30);

/// Whether the browser is here; without it the test cannot run.
fn browser_available() -> bool {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(
        !ci,
        "CI=true but {CHROMIUM} or {CHROMEDRIVER} is missing: apt-get install -y chromium chromium-driver"
    );
    eprintln!(
        "\n\n*** SKIPPED forms_browser: {CHROMIUM} or {CHROMEDRIVER} is missing. \
         Install them with `apt-get install -y chromium chromium-driver` to run this test. ***\n\n"
    );
    false
}

/// A running chromedriver, stopped when dropped.
struct Driver {
    child: Child,
    base: String,
    http: Client,
}

impl Driver {
    fn start() -> Driver {
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: Client::builder().timeout(WAIT).build().unwrap(),
        };
        wait_until("chromedriver to answer", WAIT, || {
            driver
                .http
                .get(format!("{}/status", driver.base))
                .send()
                .ok()
                .and_then(|r| r.json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true)
        });
        driver
    }

    /// A new headless browser session, with JavaScript on or off.
    fn session(&self, javascript: bool, profile: &Path) -> Session<'_> {
        let mut options = json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     format!("--user-data-dir={}", profile.display())],
        });
        if !javascript {
            options["prefs"] = json!({"profile.managed_default_content_settings.javascript": 2});
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}});
        let answer = self.call("POST", "/session", Some(caps));
        let id = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_string();
        Session { driver: self, id }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let request = self.http.request(method.parse().unwrap(), url);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        let answer: Value = request.send().unwrap().json().unwrap();
        answer["value"].clone()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser window.
struct Session<'a> {
    driver: &'a Driver,
    id: String,
}

impl Session<'_> {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.driver
            .call(method, &format!("/session/{}{path}", self.id), body)
    }

    fn open(&self, url: &str) {
        self.call("POST", "/url", Some(json!({"url": url})));
    }

    fn find(&self, css: &str) -> String {
        let found = self.call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_string()
    }

    fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.call(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({"text": text})),
        );
    }

    fn click(&self, css: &str) {
        let element = self.find(css);
        self.call(
            "POST",
            &format!("/element/{element}/click"),
            Some(json!({})),
        );
    }

    fn text(&self, css: &str) -> String {
        let element = self.find(css);
        self.call("GET", &format!("/element/{element}/text"), None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    fn url(&self) -> String {
        self.call("GET", "/url", None).as_str().unwrap().to_string()
    }

    fn source(&self) -> String {
        self.call("GET", "/source", None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Whether the page's own scripts ran: its inline script marks the document. (The
    /// driver's own scripts run either way, so they cannot tell.)
    fn page_scripts_ran(&self) -> bool {
        let answer = self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": "return document.documentElement.dataset.js || null;", "args": []})),
        );
        answer == json!("on")
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        self.driver
            .call("DELETE", &format!("/session/{}", self.id), None);
    }
}

/// A tiny web server on its own port (another origin than Herald's) serving one page.
fn serve_page(html: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 8192];
            let _ = stream.read(&mut buf);
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}",
                html.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    format!("http://127.0.0.1:{port}")
}

/// The snippet as the form page shows it for copying, unescaped as a copy would be.
fn copied_snippet(herald: &Herald, browser: &Client, form_id: &str) -> String {
    let page = page_html(herald, browser, &format!("/forms/{form_id}"));
    let start = page.find("<code data-copy>").expect("the snippet") + "<code data-copy>".len();
    let end = start + page[start..].find("</code>").unwrap();
    page[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

fn fill_in(session: &Session<'_>, email: &str, name: &str) {
    session.type_into("input[name=email]", email);
    session.type_into("input[name=firstName]", name);
    session.click("input[name=consent]");
    session.click("button[type=submit]");
}

/// Waits for the confirmation email to `to`, follows its link (a GET shows a button, the
/// POST confirms), and returns the page the POST answered.
fn confirm_by_email(herald: &Herald, sink: &SmtpSink, to: &str) -> String {
    let mail = wait_for(
        "the confirmation email",
        WAIT,
        || {
            sink.messages()
                .into_iter()
                .find(|m| m.to.iter().any(|t| t.contains(to)))
        },
        Option::is_some,
    )
    .unwrap();
    let body = mail.body();
    let marker = format!("{}/confirm/", herald.base);
    let start = body.find(&marker).expect("a confirmation link");
    let link: String = body[start..]
        .chars()
        .take_while(|c| !matches!(c, '"' | '<' | ' ' | '\r' | '\n'))
        .collect();
    let client = Client::new();
    let page = client.get(&link).send().unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text().unwrap().contains("Yes, subscribe me"),
        "a GET only shows the button"
    );
    let done = client.post(&link).send().unwrap();
    assert_eq!(done.status(), 200);
    done.text().unwrap()
}

fn confirmed_members(api: &Api, list: &str) -> Vec<String> {
    api.get(&format!("/api/lists/{list}/members?status=confirmed"))["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn an_embedded_form_signs_people_up_with_javascript_on_and_off() {
    if !browser_available() {
        return;
    }
    let sink = SmtpSink::start();
    let herald = Herald::start_with_smtp(sink.port, &[]);
    let (owner, api) =
        herald.owner_signed_in("owner@acme.example", "Acme Bakery", "acme-password-1");
    let list = api.create(
        "/api/lists",
        &json!({"name": "Bread news", "optIn": "double"}),
    );
    let form = api.post_ok(
        "/api/forms",
        &json!({"name": "Bread news", "fields": [{"key": "email"}, {"key": "firstName", "required": true}],
                "listIds": [list], "consent": {"text": "Send me the bread news."},
                "successMessage": "Thanks! Almost done.", "minFillSeconds": 0}),
    );
    let id = form["id"].as_str().unwrap();
    let snippet = copied_snippet(&herald, &owner, id);
    assert!(snippet.contains(&format!("action=\"{}/f/bread-news\"", herald.base)));
    let page = format!(
        "<!doctype html><html><head><meta charset=utf-8><title>Bakery</title><script>document.documentElement.dataset.js = 'on';</script></head><body><h1>The bakery</h1>{snippet}</body></html>"
    );
    let site = serve_page(page);
    // The site's origin is known once its server runs; from then the form accepts only it.
    let r = api.put(
        &format!("/api/forms/{id}"),
        &json!({"allowedOrigins": [site.clone()]}),
    );
    assert_eq!(r.status(), 200);

    let driver = Driver::start();
    let profiles = tempfile::tempdir().unwrap();

    // JavaScript on: the script fetches a timing token and answers in place.
    {
        let session = driver.session(true, &profiles.path().join("js"));
        session.open(&site);
        assert!(session.page_scripts_ran());
        wait_until("the script to fill the timing token", WAIT, || {
            session.source().contains("name=\"_t\"")
        });
        fill_in(&session, "ada@example.com", "Ada");
        wait_for(
            "the answer in place",
            WAIT,
            || session.text("[data-herald-message]"),
            |t| t.contains("Thanks! Almost done."),
        );
        assert!(
            session.url().starts_with(&site),
            "the person never left the page"
        );
    }
    // JavaScript off: the plain form posts and Herald's page answers.
    {
        let session = driver.session(false, &profiles.path().join("nojs"));
        session.open(&site);
        assert!(!session.page_scripts_ran(), "JavaScript is off");
        fill_in(&session, "bob@example.com", "Bob");
        wait_until("Herald's answer page", WAIT, || {
            session.url().starts_with(&herald.base)
                && session.source().contains("Thanks! Almost done.")
        });
        assert!(
            session.source().contains("Acme Bakery"),
            "under the workspace's name"
        );
    }

    assert!(
        confirmed_members(&api, &list).is_empty(),
        "double opt-in waits for the link"
    );
    for email in ["ada@example.com", "bob@example.com"] {
        let done = confirm_by_email(&herald, &sink, email);
        assert!(done.contains("your subscription is confirmed"), "{done}");
    }
    let mut members = confirmed_members(&api, &list);
    members.sort();
    assert_eq!(members, ["ada@example.com", "bob@example.com"]);
    let stats = api.get(&format!("/api/forms/{id}"))["stats"].clone();
    assert_eq!(stats["submissions"]["embed"], 2, "{stats}");
    assert!(stats["views"]["script"].as_i64().unwrap() >= 1, "{stats}");
    let conn = rusqlite::Connection::open(herald.db_path()).unwrap();
    let consents: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM consents WHERE source = 'form' AND text = 'Send me the bread news.'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(consents, 2);
}
