//! The editor's draft: the whole definition travels as JSON in a hidden field, the visible
//! inputs (named by step position, e.g. `s.2.then.0.template`) are laid over it, then the
//! button's operation (`add:2.then:email`, `remove:1`, `up:0`, …) is applied. Nothing is
//! stored until "Save", so unsaved edits survive every click without JavaScript.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::automations::definition::{
    self, Comparison, Condition, Definition, Frequency, Op, Status, Step, Trigger, TriggerType,
};

/// The posted form, last value of each name winning.
pub(super) struct Fields(HashMap<String, String>);

impl Fields {
    pub fn new(pairs: Vec<(String, String)>) -> Fields {
        Fields(pairs.into_iter().collect())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

/// What the clicked button asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Action {
    /// Apply the inputs and show the editor again (Enter in a text field).
    Refresh,
    /// Validate and show the result without saving.
    Check,
    Save,
    /// Replace the draft with the "Advanced: edit as JSON" text.
    ApplyJson,
    Add {
        block: String,
        kind: String,
    },
    Remove(String),
    Up(String),
    Down(String),
    AddFilter,
    RemoveFilter(usize),
}

impl Action {
    /// Reads `op` as `verb[:at[:kind]]`; separate `at` / `kind` fields are accepted too.
    pub fn parse(fields: &Fields) -> Action {
        let raw = fields.get("op").unwrap_or("refresh");
        let mut parts = raw.splitn(3, ':');
        let verb = parts.next().unwrap_or("");
        let at = parts
            .next()
            .map(str::to_string)
            .or_else(|| fields.get("at").map(str::to_string))
            .unwrap_or_default();
        let kind = parts
            .next()
            .map(str::to_string)
            .or_else(|| fields.get("kind").map(str::to_string))
            .unwrap_or_default();
        match verb {
            "save" => Action::Save,
            "check" | "preview" => Action::Check,
            "json" => Action::ApplyJson,
            "add" => Action::Add { block: at, kind },
            "remove" => Action::Remove(at),
            "up" => Action::Up(at),
            "down" => Action::Down(at),
            "add_filter" => Action::AddFilter,
            "remove_filter" => at
                .parse()
                .map(Action::RemoveFilter)
                .unwrap_or(Action::Refresh),
            _ => Action::Refresh,
        }
    }
}

/// The editor's state between clicks.
pub(super) struct Draft {
    pub def: Definition,
    /// Declare the trigger event as a pattern on save.
    pub create_pattern: bool,
}

/// A definition with nothing in it yet.
pub(super) fn empty_definition() -> Definition {
    Definition {
        name: String::new(),
        status: Status::Draft,
        trigger: Trigger {
            kind: TriggerType::Event,
            event: None,
            list: None,
        },
        frequency: Frequency::EveryTime,
        exit_on: Vec::new(),
        filters: None,
        steps: Vec::new(),
    }
}

/// Rebuilds the draft from the hidden JSON and the inputs; a problem with the advanced JSON
/// is returned for display and leaves the draft as the inputs describe it.
pub(super) fn rebuild(fields: &Fields, action: &Action) -> (Draft, Option<String>) {
    let create_pattern = fields.get("create_pattern").is_some();
    if *action == Action::ApplyJson {
        let text = fields.get("json").unwrap_or("");
        let parsed = serde_json::from_str::<Value>(text)
            .map_err(|e| format!("JSON: {e}"))
            .and_then(|v| definition::parse(v).map_err(|e| format!("JSON: {e}")));
        match parsed {
            Ok(def) => {
                return (
                    Draft {
                        def,
                        create_pattern,
                    },
                    None,
                );
            }
            Err(problem) => {
                let mut draft = from_fields(fields);
                draft.create_pattern = create_pattern;
                return (draft, Some(problem));
            }
        }
    }
    (from_fields(fields), None)
}

fn from_fields(fields: &Fields) -> Draft {
    let mut def = fields
        .get("draft")
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .and_then(|v| definition::parse(v).ok())
        .unwrap_or_else(empty_definition);
    overlay(&mut def, fields);
    Draft {
        def,
        create_pattern: fields.get("create_pattern").is_some(),
    }
}

/// Text typed for a value: empty is no value, numbers and true/false are JSON, the rest text.
pub(super) fn parse_value(text: &str) -> Value {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Value::Null;
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(v @ (Value::Number(_) | Value::Bool(_))) => v,
        _ => Value::String(text.to_string()),
    }
}

/// The text an input shows for a value.
pub(super) fn value_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn comma_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn enum_from<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_value(Value::String(text.to_string())).ok()
}

/// The comparisons of a filter the row editor can show: none, one, or a flat all / any.
pub(super) fn filter_rows(filters: &Option<Condition>) -> Option<(bool, Vec<Comparison>)> {
    let flat = |items: &[Condition]| {
        items
            .iter()
            .map(|c| {
                if let Condition::Compare(c) = c {
                    Some(c.clone())
                } else {
                    None
                }
            })
            .collect::<Option<Vec<_>>>()
    };
    match filters {
        None => Some((true, Vec::new())),
        Some(Condition::Compare(c)) => Some((true, vec![c.clone()])),
        Some(Condition::All { all }) => flat(all).map(|rows| (true, rows)),
        Some(Condition::Any { any }) => flat(any).map(|rows| (false, rows)),
        Some(Condition::Not { .. } | Condition::MemberOf { .. } | Condition::Segment { .. }) => {
            None
        }
    }
}

pub(super) fn rows_to_filters(all: bool, rows: Vec<Comparison>) -> Option<Condition> {
    let items: Vec<Condition> = rows.into_iter().map(Condition::Compare).collect();
    if items.is_empty() {
        None
    } else if all {
        Some(Condition::All { all: items })
    } else {
        Some(Condition::Any { any: items })
    }
}

fn overlay_comparison(c: &mut Comparison, prefix: &str, fields: &Fields) {
    if let Some(field) = fields.get(&format!("{prefix}.field")) {
        c.field = field.trim().to_string();
    }
    if let Some(op) = fields
        .get(&format!("{prefix}.op"))
        .and_then(enum_from::<Op>)
    {
        c.op = op;
    }
    if let Some(value) = fields.get(&format!("{prefix}.value")) {
        c.value = parse_value(value);
    }
}

fn overlay(def: &mut Definition, fields: &Fields) {
    if let Some(name) = fields.get("name") {
        def.name = name.to_string();
    }
    if let Some(status) = fields.get("status").and_then(enum_from::<Status>) {
        def.status = status;
    }
    if let Some(kind) = fields
        .get("trigger_type")
        .and_then(enum_from::<TriggerType>)
    {
        def.trigger.kind = kind;
    }
    if let Some(event) = fields.get("trigger_event") {
        def.trigger.event = Some(event.trim().to_string()).filter(|e| !e.is_empty());
    }
    if let Some(list) = fields.get("trigger_list") {
        def.trigger.list = Some(list.trim().to_string()).filter(|l| !l.is_empty());
    }
    if def.trigger.kind == TriggerType::ListJoined {
        def.trigger.event = None;
    } else {
        def.trigger.list = None;
    }
    if let Some(frequency) = fields.get("frequency").and_then(enum_from::<Frequency>) {
        def.frequency = frequency;
    }
    if let Some(exits) = fields.get("exit_on") {
        def.exit_on = comma_list(exits);
    }
    if let (Some(matching), Some((_, mut rows))) =
        (fields.get("f.match"), filter_rows(&def.filters))
    {
        for (i, row) in rows.iter_mut().enumerate() {
            overlay_comparison(row, &format!("f.{i}"), fields);
        }
        def.filters = rows_to_filters(matching != "any", rows);
    }
    overlay_steps(&mut def.steps, "", fields);
}

/// `prefix` joined with an index: `""` + 2 → `"2"`, `"1.then"` + 0 → `"1.then.0"`.
pub(super) fn join(prefix: &str, index: usize) -> String {
    if prefix.is_empty() {
        index.to_string()
    } else {
        format!("{prefix}.{index}")
    }
}

fn overlay_steps(steps: &mut [Step], prefix: &str, fields: &Fields) {
    for (i, step) in steps.iter_mut().enumerate() {
        let pos = join(prefix, i);
        let key = |name: &str| format!("s.{pos}.{name}");
        let get = |name: &str| fields.get(&key(name));
        match step {
            Step::Email { template, .. } => {
                if let Some(v) = get("template") {
                    *template = v.to_string();
                }
            }
            Step::Sms { template, channel } | Step::Whatsapp { template, channel } => {
                if let Some(v) = get("template") {
                    *template = v.to_string();
                }
                if let Some(v) = get("channel") {
                    *channel = v.trim().to_string();
                }
            }
            Step::Wait { duration, until } => overlay_wait(duration, until, &get),
            Step::Branch {
                condition,
                then,
                otherwise,
            } => {
                if let Condition::Compare(c) = condition {
                    overlay_comparison(c, &key("if"), fields);
                }
                overlay_steps(then, &format!("{pos}.then"), fields);
                overlay_steps(otherwise, &format!("{pos}.else"), fields);
            }
            Step::AddToList { list } | Step::RemoveFromList { list } => {
                if let Some(v) = get("list") {
                    *list = v.to_string();
                }
            }
            Step::UpdateContact {
                set,
                add_tags,
                remove_tags,
            } => overlay_update(set, add_tags, remove_tags, &get),
            Step::Webhook { url, method } => {
                if let Some(v) = get("url") {
                    *url = v.trim().to_string();
                }
                if let Some(v) = get("method") {
                    *method = v.to_string();
                }
            }
            Step::Exit => {}
        }
    }
}

/// A wait step is either a duration or an until-time; the form's mode picks which one is kept.
fn overlay_wait<'a>(
    duration: &mut Option<String>,
    until: &mut Option<String>,
    get: &impl Fn(&str) -> Option<&'a str>,
) {
    let mode = get("mode").unwrap_or(if until.is_some() { "until" } else { "duration" });
    let text = |name: &str, current: &Option<String>| {
        get(name)
            .map(|v| v.trim().to_string())
            .or_else(|| current.clone())
            .unwrap_or_default()
    };
    if mode == "until" {
        *until = Some(text("until", until));
        *duration = None;
    } else {
        *duration = Some(text("duration", duration));
        *until = None;
    }
}

/// The update step's rows are rebuilt from the form, so a row emptied by the user is dropped.
fn overlay_update<'a>(
    set: &mut Map<String, serde_json::Value>,
    add_tags: &mut Vec<String>,
    remove_tags: &mut Vec<String>,
    get: &impl Fn(&str) -> Option<&'a str>,
) {
    if get("set.0.field").is_some() {
        let mut rebuilt = Map::new();
        for k in 0..=set.len() {
            let field = get(&format!("set.{k}.field")).unwrap_or("").trim();
            if !field.is_empty() {
                rebuilt.insert(
                    field.to_string(),
                    parse_value(get(&format!("set.{k}.value")).unwrap_or("")),
                );
            }
        }
        *set = rebuilt;
    }
    if let Some(tags) = get("add_tags") {
        *add_tags = comma_list(tags);
    }
    if let Some(tags) = get("remove_tags") {
        *remove_tags = comma_list(tags);
    }
}
