//! The Templates and Automations pages as a signed-in owner uses them: templates with a
//! sandboxed preview, an automation built click by click through the no-JavaScript editor,
//! the list with counts and pause / resume, the automation page and its "Log →" link.

use crate::support;

use std::time::Duration;

use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};
use support::api::{Api, wait_until};
use support::{Herald, location, page_csrf, page_html};

struct Setup {
    herald: Herald,
    browser: Client,
    api: Api,
}

fn setup() -> Setup {
    let herald = Herald::start();
    let (browser, api) = herald.owner_signed_in("ada@example.com", "Acme", "analytical-engine");
    Setup {
        herald,
        browser,
        api,
    }
}

impl Setup {
    fn page(&self, path: &str) -> String {
        page_html(&self.herald, &self.browser, path)
    }

    fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.browser
            .post(self.herald.url(path))
            .form(form)
            .send()
            .unwrap()
    }

    /// Creates a template through the form and returns its id.
    fn template_via_form(&self, name: &str, subject: &str, html: &str) -> String {
        let token = page_csrf(&self.herald, &self.browser, "/templates/new");
        let r = self.post(
            "/templates/new",
            &[
                ("csrf_token", &token),
                ("name", name),
                ("subject", subject),
                ("html", html),
                ("text", ""),
                ("op", "save"),
            ],
        );
        assert_eq!(r.status(), 303);
        location(&r).trim_start_matches("/templates/").to_string()
    }

    /// How many templates the API lists.
    fn templates(&self) -> usize {
        self.api.get("/api/templates")["templates"]
            .as_array()
            .unwrap()
            .len()
    }
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// `key="value"` pairs and bare boolean attributes of one tag.
fn attributes(tag: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut rest = tag
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim_end_matches('/');
    rest = rest.split_once(char::is_whitespace).map_or("", |(_, r)| r);
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return out;
        }
        let end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let key = rest[..end].to_string();
        rest = &rest[end..];
        if let Some(after) = rest.strip_prefix("=\"") {
            let close = after.find('"').unwrap();
            out.push((key, Some(unescape(&after[..close]))));
            rest = &after[close + 1..];
        } else {
            out.push((key, None));
        }
    }
}

fn attr(attrs: &[(String, Option<String>)], name: &str) -> Option<String> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone().unwrap_or_default())
}

/// The editor form as a browser would submit it: inputs, checked boxes, selected options,
/// textareas; buttons are left out (the clicked one is added on submit).
struct EditorForm {
    action: String,
    fields: Vec<(String, String)>,
}

impl EditorForm {
    fn parse(page: &str) -> EditorForm {
        let start = page
            .find("<form id=\"automation-editor\"")
            .expect("editor form");
        let form = &page[start..start + page[start..].find("</form>").unwrap()];
        let action = attr(&attributes(&form[..form.find('>').unwrap() + 1]), "action").unwrap();
        let mut fields = Vec::new();
        let mut at = 0;
        while let Some(offset) = form[at..].find('<') {
            let tag_start = at + offset;
            let tag_end = tag_start + form[tag_start..].find('>').unwrap() + 1;
            let tag = &form[tag_start..tag_end];
            let attrs = attributes(tag);
            at = tag_end;
            if tag.starts_with("<input ") {
                let kind = attr(&attrs, "type").unwrap_or_default();
                let Some(name) = attr(&attrs, "name") else {
                    continue;
                };
                if kind == "checkbox" && attr(&attrs, "checked").is_none() {
                    continue;
                }
                fields.push((name, attr(&attrs, "value").unwrap_or_default()));
            } else if tag.starts_with("<select ") {
                let name = attr(&attrs, "name").unwrap();
                let end = at + form[at..].find("</select>").unwrap();
                let options: Vec<_> = form[at..end]
                    .split("<option")
                    .skip(1)
                    .map(|o| attributes(&format!("<option{}", &o[..o.find('>').unwrap() + 1])))
                    .collect();
                let chosen = options
                    .iter()
                    .find(|o| attr(o, "selected").is_some())
                    .or(options.first());
                fields.push((
                    name,
                    chosen.and_then(|o| attr(o, "value")).unwrap_or_default(),
                ));
                at = end;
            } else if tag.starts_with("<textarea ") {
                let end = at + form[at..].find("</textarea>").unwrap();
                fields.push((attr(&attrs, "name").unwrap(), unescape(&form[at..end])));
                at = end;
            }
        }
        EditorForm { action, fields }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn set(&mut self, name: &str, value: &str) -> &mut Self {
        let slot = self
            .fields
            .iter_mut()
            .find(|(k, _)| k == name)
            .unwrap_or_else(|| panic!("no field {name}"));
        slot.1 = value.to_string();
        self
    }

    /// Clicks the button with `op` and returns the response.
    fn click(&self, s: &Setup, op: &str) -> Response {
        let mut form = self.fields.clone();
        form.push(("op".into(), op.into()));
        s.browser
            .post(s.herald.url(&self.action))
            .form(&form)
            .send()
            .unwrap()
    }

    /// Clicks a button that shows the editor again, and reads the new editor.
    fn click_and_reload(&self, s: &Setup, op: &str) -> EditorForm {
        let r = self.click(s, op);
        assert_eq!(r.status(), 200, "{op}");
        EditorForm::parse(&r.text().unwrap())
    }
}

/// The template's page previews it for the sample contact, and the list links it.
fn the_template_is_previewed_and_listed(s: &Setup, id: &str) {
    let page = s.page(&format!("/templates/{id}"));
    assert!(
        page.contains("Welcome, Ada!"),
        "preview subject rendered for the sample contact"
    );
    assert!(page.contains("<iframe") && page.contains("sandbox=\"\""));
    assert!(
        page.contains("srcdoc=\"&lt;p&gt;Hello Ada&lt;/p&gt;\""),
        "body rendered into srcdoc, escaped"
    );
    let list = s.page("/templates");
    assert!(list.contains("Welcome") && list.contains(&format!("/templates/{id}")));
}

/// Saving a template that does not compile shows the error and the typed form back.
fn a_broken_template_is_refused(s: &Setup, token: &str) {
    let broken = s.post(
        "/templates/new",
        &[
            ("csrf_token", token),
            ("name", "Broken"),
            ("subject", "Hi"),
            ("html", "<p>{{#if}}</p>"),
            ("op", "save"),
        ],
    );
    assert_eq!(broken.status(), 422);
    let body = broken.text().unwrap();
    assert!(
        body.contains("html does not compile"),
        "error shown: {body}"
    );
    assert!(body.contains("Broken"), "the form keeps what was typed");
    assert_eq!(s.templates(), 1, "nothing saved");
}

/// The preview button renders the draft without saving it.
fn a_draft_is_previewed_unsaved(s: &Setup, token: &str) {
    let preview = s.post(
        "/templates/new",
        &[
            ("csrf_token", token),
            ("name", "Draft"),
            ("subject", "Hey {{contact.lastName}}"),
            ("html", "<h1>Hi {{contact.firstName}}</h1>"),
            ("op", "preview"),
        ],
    );
    assert_eq!(preview.status(), 200);
    let body = preview.text().unwrap();
    assert!(
        body.contains("Hey Lovelace") && body.contains("srcdoc=\"&lt;h1&gt;Hi Ada&lt;/h1&gt;\"")
    );
    assert_eq!(s.templates(), 1, "preview saves nothing");
}

/// A test send goes back to the template, which links to the queued message.
fn a_test_send_links_to_its_message(s: &Setup, id: &str, token: &str) {
    let test = s.post(
        &format!("/templates/{id}/test"),
        &[("csrf_token", token), ("to", "qa@example.com")],
    );
    assert_eq!(test.status(), 303);
    let back = location(&test);
    assert!(back.starts_with(&format!("/templates/{id}?sent=")));
    assert!(
        s.page(&back).contains("/outbox/"),
        "links to the queued message"
    );
}

#[test]
fn templates_are_created_previewed_and_refused_when_broken() {
    let s = setup();
    let id = s.template_via_form(
        "Welcome",
        "Welcome, {{contact.firstName}}!",
        "<p>Hello {{contact.firstName}}</p>",
    );
    the_template_is_previewed_and_listed(&s, &id);

    let token = page_csrf(&s.herald, &s.browser, "/templates/new");
    a_broken_template_is_refused(&s, &token);
    a_draft_is_previewed_unsaved(&s, &token);
    a_test_send_links_to_its_message(&s, &id, &token);

    let edited = s.post(
        &format!("/templates/{id}"),
        &[
            ("csrf_token", &token),
            ("name", "Welcome"),
            ("subject", "Hello again"),
            ("html", "<p>x</p>"),
            ("op", "save"),
        ],
    );
    assert_eq!(edited.status(), 303);
    assert_eq!(
        s.api.get(&format!("/api/templates/{id}"))["subject"],
        "Hello again"
    );
}

#[test]
fn a_template_in_use_cannot_be_deleted() {
    let s = setup();
    let id = s.template_via_form("Welcome", "Hi", "<p>Hi</p>");
    let r = s.api.post(
        "/api/automations",
        &json!({"name": "Uses it", "trigger": {"type": "contact_added"}, "steps": [{"type": "email", "template": id}]}),
    );
    assert_eq!(r.status(), 201);
    let token = page_csrf(&s.herald, &s.browser, "/templates");
    let refused = s.post(
        &format!("/templates/{id}/delete"),
        &[("csrf_token", &token)],
    );
    assert_eq!(refused.status(), 303);
    assert!(s.page(&location(&refused)).contains("used by: Uses it"));
    assert!(
        s.page("/templates").contains("Uses it"),
        "the list shows who uses it"
    );
    let unused = s.template_via_form("Spare", "Hi", "<p>Hi</p>");
    let deleted = s.post(
        &format!("/templates/{unused}/delete"),
        &[("csrf_token", &token)],
    );
    assert_eq!(location(&deleted), "/templates");
    assert_eq!(s.templates(), 1);
}

/// Builds "Onboarding" in the new-automation editor, one click at a time, and returns
/// the editor ready to save.
fn build_onboarding_click_by_click(s: &Setup, template: &str) -> EditorForm {
    let mut editor = EditorForm::parse(&s.page("/automations/new"));
    assert_eq!(
        editor.get("create_pattern"),
        Some("1"),
        "create pattern is offered for a new name"
    );
    editor
        .set("name", "Onboarding")
        .set("trigger_event", "signedUp")
        .set("exit_on", "purchased, cancelled");
    let mut editor = editor.click_and_reload(s, "add::email");
    assert_eq!(
        editor.get("name"),
        Some("Onboarding"),
        "unsaved edits survive a click"
    );
    editor.set("s.0.template", template);
    let mut editor = editor.click_and_reload(s, "add::wait");
    editor.set("s.1.duration", "2d");
    let mut editor = editor.click_and_reload(s, "add::branch");
    editor
        .set("s.2.if.field", "contact.tags")
        .set("s.2.if.op", "contains")
        .set("s.2.if.value", "vip");
    let mut editor = editor.click_and_reload(s, "add:2.then:email");
    editor.set("s.2.then.0.template", template);
    let editor = editor.click_and_reload(s, "add::exit");
    let editor = editor.click_and_reload(s, "up:1");
    assert_eq!(editor.get("s.0.duration"), Some("2d"), "the wait moved up");
    let mut editor = editor.click_and_reload(s, "remove:3");
    assert!(editor.get("s.3.template").is_none() && editor.get("s.2.if.field").is_some());
    editor = editor.click_and_reload(s, "add_filter");
    editor
        .set("f.0.field", "event.plan")
        .set("f.0.value", "pro");
    editor
}

/// The saved automation is what was built, and its trigger's pattern was declared.
fn onboarding_is_stored_as_built(s: &Setup, id: &str, template: &str) {
    let stored = s.api.get(&format!("/api/automations/{id}"));
    assert_eq!(stored["name"], "Onboarding");
    assert_eq!(stored["status"], "draft");
    assert_eq!(
        stored["trigger"],
        json!({"type": "event", "event": "signedUp"})
    );
    assert_eq!(stored["exitOn"], json!(["purchased", "cancelled"]));
    assert_eq!(
        stored["filters"],
        json!({"all": [{"field": "event.plan", "op": "eq", "value": "pro"}]})
    );
    assert_eq!(
        stored["steps"],
        json!([
            {"type": "wait", "duration": "2d"},
            {"type": "email", "template": template},
            {"type": "branch", "if": {"field": "contact.tags", "op": "contains", "value": "vip"}, "then": [{"type": "email", "template": template}], "else": []},
        ])
    );
    let patterns = s.api.get("/api/event-patterns");
    assert!(
        patterns["patterns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "signedUp"),
        "pattern created inline"
    );
}

#[test]
fn an_automation_is_built_click_by_click_and_saved() {
    let s = setup();
    let template = s.template_via_form("Welcome", "Welcome!", "<p>Hi</p>");
    let editor = build_onboarding_click_by_click(&s, &template);
    let saved = editor.click(&s, "save");
    assert_eq!(saved.status(), 303);
    let id = location(&saved)
        .trim_start_matches("/automations/")
        .to_string();
    onboarding_is_stored_as_built(&s, &id, &template);

    let mut again = EditorForm::parse(&s.page(&format!("/automations/{id}/edit")));
    assert_eq!(again.get("s.2.then.0.template"), Some(template.as_str()));
    assert!(
        again.get("create_pattern").is_none(),
        "a declared pattern is not offered again"
    );
    again.set("name", "Onboarding v2");
    assert_eq!(again.click(&s, "save").status(), 303);
    assert_eq!(
        s.api.get(&format!("/api/automations/{id}"))["name"],
        "Onboarding v2"
    );
}

#[test]
fn an_invalid_save_names_the_path_and_stores_nothing() {
    let s = setup();
    let mut editor = EditorForm::parse(&s.page("/automations/new"));
    editor.set("name", "Bad").set("trigger_event", "signedUp");
    let mut editor = editor.click_and_reload(&s, "add::wait");
    editor.set("s.0.duration", "soon");
    let r = editor.click(&s, "save");
    assert_eq!(r.status(), 422);
    let page = r.text().unwrap();
    assert!(page.contains("steps[0].duration"), "{page}");
    let editor = EditorForm::parse(&page);
    assert_eq!(
        editor.get("s.0.duration"),
        Some("soon"),
        "the draft is kept"
    );
    let checked = editor.click(&s, "check").text().unwrap();
    assert!(checked.contains("steps[0].duration"));
    assert!(
        s.api.get("/api/automations")["automations"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let patterns = s.api.get("/api/event-patterns");
    assert!(
        patterns["patterns"].as_array().unwrap().is_empty(),
        "a refused save declares nothing"
    );

    let mut json_editor = EditorForm::parse(&page);
    json_editor.set("json", "{\"name\": \"J\", \"trigger\": {\"type\": \"contact_added\"}, \"steps\": [{\"type\": \"exit\"}]}");
    let applied = json_editor.click_and_reload(&s, "json");
    assert_eq!(applied.get("name"), Some("J"));
    assert_eq!(applied.get("trigger_type"), Some("contact_added"));
    assert_eq!(applied.click(&s, "save").status(), 303);
}

/// A draft "Drip" automation, created through the API: a two-day wait, then an email.
fn create_drip(s: &Setup, template: &str) -> String {
    let r = s.api.post(
        "/api/automations",
        &json!({"name": "Drip", "trigger": {"type": "event", "event": "signedUp"}, "exitOn": ["purchased"], "steps": [{"type": "wait", "duration": "2d"}, {"type": "email", "template": template}]}),
    );
    assert_eq!(r.status(), 201);
    r.json::<Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Clicks a status button (`active`, `paused`) that leads `back` to the list or the view.
fn set_status(s: &Setup, id: &str, token: &str, status: &str, back: &str) -> Response {
    s.post(
        &format!("/automations/{id}/status"),
        &[("csrf_token", token), ("status", status), ("back", back)],
    )
}

fn status_of(s: &Setup, id: &str) -> Value {
    s.api.get(&format!("/api/automations/{id}"))["status"].clone()
}

/// The automation's page shows the waiting enrollment and deep-links the log, and the
/// contact's automations page shows the contact in it.
fn the_pages_show_the_waiting_enrollment(s: &Setup, id: &str) {
    let page = s.page(&format!("/automations/{id}"));
    assert!(page.contains("carol@example.com") && page.contains("waiting"));
    assert!(
        page.contains("href=\"/events?eventName=signedUp\""),
        "trigger inspector deep-links the log"
    );
    assert!(page.contains("Log →") && page.contains("purchased"));
    let enrollments = s.api.get(&format!("/api/automations/{id}/enrollments"));
    let contact = enrollments["enrollments"][0]["contactId"]
        .as_str()
        .unwrap()
        .to_string();
    let by_contact = s.page(&format!("/automations/contact/{contact}"));
    assert!(by_contact.contains("Drip") && by_contact.contains("waiting"));
}

#[test]
fn the_list_and_automation_page_show_enrollments_and_status_buttons_work() {
    let s = setup();
    let template = s.template_via_form("Welcome", "Welcome!", "<p>Hi</p>");
    let id = create_drip(&s, &template);
    let list = s.page("/automations");
    assert!(list.contains("Drip") && list.contains("draft") && list.contains(">Activate<"));

    let token = page_csrf(&s.herald, &s.browser, "/automations");
    let activated = set_status(&s, &id, &token, "active", "list");
    assert_eq!(location(&activated), "/automations");
    assert_eq!(status_of(&s, &id), "active");

    let sent = s.api.post(
        "/api/events/send",
        &json!({"email": "carol@example.com", "eventName": "signedUp"}),
    );
    assert_eq!(sent.status(), 200);
    wait_until("the enrollment to wait", Duration::from_secs(10), || {
        s.page("/automations")
            .contains("<td data-state=\"waiting\">1</td>")
    });

    let paused = set_status(&s, &id, &token, "paused", "view");
    assert_eq!(location(&paused), format!("/automations/{id}"));
    assert_eq!(status_of(&s, &id), "paused");
    assert!(s.page("/automations").contains(">Resume<"));
    set_status(&s, &id, &token, "active", "list");
    assert_eq!(status_of(&s, &id), "active");

    the_pages_show_the_waiting_enrollment(&s, &id);
}

#[test]
fn forms_without_the_csrf_token_are_refused() {
    let s = setup();
    let template = s.template_via_form("Welcome", "Hi", "<p>Hi</p>");
    for (path, form) in [
        ("/automations/new", vec![("op", "save"), ("name", "X")]),
        (
            "/templates/new",
            vec![
                ("op", "save"),
                ("name", "X"),
                ("subject", "s"),
                ("html", "h"),
            ],
        ),
        ("/templates/preview", vec![("html", "h")]),
    ] {
        assert_eq!(s.post(path, &form).status(), 403, "{path}");
    }
    assert_eq!(
        s.post(
            &format!("/templates/{template}/delete"),
            &[("csrf_token", "wrong")]
        )
        .status(),
        403
    );
    assert!(
        s.api.get("/api/automations")["automations"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}
