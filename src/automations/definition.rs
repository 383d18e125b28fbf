//! The automation definition: trigger, frequency, exit events, filters and steps, parsed
//! with errors that name the path of the bad part (e.g. `steps[2].then[0].template`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Deepest nesting of branches allowed.
pub const MAX_DEPTH: usize = 16;
/// Most steps in one automation, counting nested ones.
pub const MAX_STEPS: usize = 500;

/// A whole automation as the API sends and receives it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Definition {
    pub name: String,
    #[serde(default = "draft")]
    pub status: Status,
    pub trigger: Trigger,
    #[serde(default)]
    pub frequency: Frequency,
    #[serde(default)]
    pub exit_on: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Condition>,
    #[serde(default)]
    pub steps: Vec<Step>,
}

fn draft() -> Status {
    Status::Draft
}

/// Whether the automation enrolls contacts.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Draft,
    Active,
    Paused,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Active => "active",
            Status::Paused => "paused",
        }
    }
}

/// What starts an enrollment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    #[serde(rename = "type")]
    pub kind: TriggerType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// The list a `list_joined` trigger watches (its public id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
}

impl Trigger {
    /// What an occurrence must name to match: the event name, or the list's id.
    pub fn key(&self) -> Option<&str> {
        match self.kind {
            TriggerType::ListJoined => self.list.as_deref().or(self.event.as_deref()),
            _ => self.event.as_deref(),
        }
    }
}

/// The kinds of trigger.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum TriggerType {
    Event,
    ContactAdded,
    ContactUpdated,
    ListJoined,
}

impl TriggerType {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerType::Event => "event",
            TriggerType::ContactAdded => "contact_added",
            TriggerType::ContactUpdated => "contact_updated",
            TriggerType::ListJoined => "list_joined",
        }
    }
}

/// Every matching occurrence enrolls, or only the first one ever per contact.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    #[default]
    EveryTime,
    OncePerContact,
}

/// A condition on the contact and the event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Condition {
    All {
        all: Vec<Condition>,
    },
    Any {
        any: Vec<Condition>,
    },
    Not {
        not: Box<Condition>,
    },
    /// The contact is a confirmed member of the list (`{"memberOf": "<list id>"}`).
    MemberOf {
        #[serde(rename = "memberOf")]
        member_of: String,
    },
    /// The contact is in the saved segment (`{"segment": "<segment id>"}`).
    Segment {
        segment: String,
    },
    Compare(Comparison),
}

/// `{field, op, value}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    pub field: String,
    pub op: Op,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub value: Value,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Neq,
    Contains,
    Exists,
    Gt,
    Lt,
}

/// One step of an automation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    Email {
        template: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<String>,
    },
    /// An SMS to the contact's phone: an `sms` template through an SMS channel.
    Sms {
        template: String,
        channel: String,
    },
    /// A WhatsApp message to the contact's phone: a `whatsapp` template through a
    /// WhatsApp instance.
    Whatsapp {
        template: String,
        channel: String,
    },
    Wait {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<String>,
    },
    Branch {
        #[serde(rename = "if")]
        condition: Condition,
        #[serde(default)]
        then: Vec<Step>,
        #[serde(default, rename = "else")]
        otherwise: Vec<Step>,
    },
    UpdateContact {
        #[serde(default)]
        set: serde_json::Map<String, Value>,
        #[serde(default, rename = "addTags")]
        add_tags: Vec<String>,
        #[serde(default, rename = "removeTags")]
        remove_tags: Vec<String>,
    },
    Webhook {
        url: String,
        #[serde(default = "post")]
        method: String,
    },
    /// Joins the list, confirmed: the automation's owner vouches for the consent.
    AddToList {
        list: String,
    },
    /// Takes the contact off the list (recorded in the membership history).
    RemoveFromList {
        list: String,
    },
    Exit,
}

fn post() -> String {
    "POST".into()
}

impl Step {
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Email { .. } => "email",
            Step::Sms { .. } => "sms",
            Step::Whatsapp { .. } => "whatsapp",
            Step::Wait { .. } => "wait",
            Step::Branch { .. } => "branch",
            Step::UpdateContact { .. } => "update_contact",
            Step::Webhook { .. } => "webhook",
            Step::AddToList { .. } => "add_to_list",
            Step::RemoveFromList { .. } => "remove_from_list",
            Step::Exit => "exit",
        }
    }
}

/// Parses `"2d"`, `"3h"`, `"15m"`, `"30s"` into milliseconds.
pub fn parse_duration(text: &str) -> Option<i64> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let number: i64 = text[..text.len() - unit.len_utf8()].trim().parse().ok()?;
    let factor = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        'w' => 7 * 86_400_000,
        _ => return None,
    };
    (number > 0 && number <= 3650 * 86_400_000 / factor).then(|| number * factor)
}

/// A validation failure naming the path of the bad part.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Parses JSON into a definition; shape errors name their path.
pub fn parse(value: Value) -> Result<Definition, Invalid> {
    serde_path_to_error::deserialize::<_, Definition>(value).map_err(|e| Invalid {
        path: match e.path().to_string().as_str() {
            "." => "definition".to_string(),
            p => p.to_string(),
        },
        message: e.inner().to_string(),
    })
}

/// What validation looks up in the workspace: whether a template, a list or a segment
/// with this public id exists there.
pub struct Known<'a> {
    /// The kind (`email`, `sms`, `whatsapp`) of a template of the workspace.
    pub template: &'a dyn Fn(&str) -> Option<String>,
    pub list: &'a dyn Fn(&str) -> bool,
    pub segment: &'a dyn Fn(&str) -> bool,
    /// The kind of a channel of the workspace.
    pub channel: &'a dyn Fn(&str) -> Option<String>,
}

/// Checks what shape alone cannot: names, durations, depth, known templates, lists and
/// channels.
pub fn validate(def: &Definition, known: &Known<'_>) -> Result<(), Invalid> {
    let fail = |path: &str, message: &str| {
        Err(Invalid {
            path: path.into(),
            message: message.into(),
        })
    };
    if def.name.trim().is_empty() || def.name.chars().count() > 200 {
        return fail("name", "must be 1 to 200 characters");
    }
    match (def.trigger.kind, &def.trigger.event) {
        (TriggerType::Event, None) => {
            return fail("trigger.event", "is required for an event trigger");
        }
        (TriggerType::Event, Some(e)) if crate::events::check_event_name(e).is_err() => {
            return fail("trigger.event", "is not a valid event name");
        }
        _ => {}
    }
    if def.trigger.kind == TriggerType::ListJoined {
        match def.trigger.key() {
            None => return fail("trigger.list", "is required for a list_joined trigger"),
            Some(list) if !(known.list)(list) => {
                return fail("trigger.list", &format!("no list with id '{list}'"));
            }
            Some(_) => {}
        }
    }
    for (i, name) in def.exit_on.iter().enumerate() {
        if crate::events::check_event_name(name).is_err() {
            return fail(&format!("exitOn[{i}]"), "is not a valid event name");
        }
    }
    if let Some(filters) = &def.filters {
        validate_condition(filters, "filters", 1, known)?;
    }
    let mut count = 0;
    validate_steps(&def.steps, "steps", 1, &mut count, known)
}

fn validate_condition(
    c: &Condition,
    path: &str,
    depth: usize,
    known: &Known<'_>,
) -> Result<(), Invalid> {
    if depth > MAX_DEPTH {
        return Err(Invalid {
            path: path.into(),
            message: format!("conditions nest deeper than {MAX_DEPTH}"),
        });
    }
    match c {
        Condition::All { all: items } | Condition::Any { any: items } => {
            let key = if matches!(c, Condition::All { .. }) {
                "all"
            } else {
                "any"
            };
            for (i, item) in items.iter().enumerate() {
                validate_condition(item, &format!("{path}.{key}[{i}]"), depth + 1, known)?;
            }
            Ok(())
        }
        Condition::Not { not } => validate_condition(not, &format!("{path}.not"), depth + 1, known),
        Condition::MemberOf { member_of } if !(known.list)(member_of) => Err(invalid(
            format!("{path}.memberOf"),
            format!("no list with id '{member_of}'"),
        )),
        Condition::Segment { segment } if !(known.segment)(segment) => Err(invalid(
            format!("{path}.segment"),
            format!("no segment with id '{segment}'"),
        )),
        Condition::MemberOf { .. } | Condition::Segment { .. } => Ok(()),
        Condition::Compare(cmp) => {
            let known = cmp.field.starts_with("contact.") || cmp.field.starts_with("event.");
            if !known || cmp.field.len() < 7 {
                return Err(Invalid {
                    path: format!("{path}.field"),
                    message: "must start with contact. or event.".into(),
                });
            }
            if cmp.op != Op::Exists && cmp.value.is_null() {
                return Err(Invalid {
                    path: format!("{path}.value"),
                    message: "is required for this operator".into(),
                });
            }
            Ok(())
        }
    }
}

fn validate_steps(
    steps: &[Step],
    path: &str,
    depth: usize,
    count: &mut usize,
    known: &Known<'_>,
) -> Result<(), Invalid> {
    if depth > MAX_DEPTH {
        return Err(invalid(
            path,
            format!("branches nest deeper than {MAX_DEPTH}"),
        ));
    }
    for (i, step) in steps.iter().enumerate() {
        let here = format!("{path}[{i}]");
        *count += 1;
        if *count > MAX_STEPS {
            return Err(invalid(
                here,
                format!("an automation has at most {MAX_STEPS} steps"),
            ));
        }
        match step {
            Step::Email { template, channel } => super::step_checks::validate_message(
                &here,
                "email",
                template,
                channel.as_deref(),
                known,
            )?,
            Step::Sms { template, channel } => {
                super::step_checks::validate_message(&here, "sms", template, Some(channel), known)?
            }
            Step::Whatsapp { template, channel } => super::step_checks::validate_message(
                &here,
                "whatsapp",
                template,
                Some(channel),
                known,
            )?,
            Step::Wait { duration, until } => {
                validate_wait(&here, duration.as_deref(), until.as_deref())?
            }
            Step::Branch {
                condition,
                then,
                otherwise,
            } => {
                validate_condition(condition, &format!("{here}.if"), 1, known)?;
                let nested = format!("{here}.then");
                validate_steps(then, &nested, depth + 1, count, known)?;
                let nested = format!("{here}.else");
                validate_steps(otherwise, &nested, depth + 1, count, known)?;
            }
            Step::UpdateContact {
                set,
                add_tags,
                remove_tags,
            } => {
                if set.is_empty() && add_tags.is_empty() && remove_tags.is_empty() {
                    return Err(invalid(
                        here,
                        "update_contact needs set, addTags or removeTags",
                    ));
                }
            }
            Step::Webhook { url, method } => validate_webhook(&here, url, method)?,
            Step::AddToList { list } | Step::RemoveFromList { list } if !(known.list)(list) => {
                return Err(invalid(
                    format!("{here}.list"),
                    format!("no list with id '{list}'"),
                ));
            }
            Step::AddToList { .. } | Step::RemoveFromList { .. } | Step::Exit => {}
        }
    }
    Ok(())
}

/// A validation error at `path`.
pub(super) fn invalid(path: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        path: path.into(),
        message: message.into(),
    }
}

/// An email step names a template that exists, and either the install's sender
/// (`"email"`, or no channel) or a mailbox of the workspace.
/// A wait has exactly one of a readable duration or a readable ISO 8601 time.
fn validate_wait(here: &str, duration: Option<&str>, until: Option<&str>) -> Result<(), Invalid> {
    match (duration, until) {
        (Some(d), None) if parse_duration(d).is_none() => Err(invalid(
            format!("{here}.duration"),
            format!("'{d}' is not a duration like 2d, 3h, 15m or 30s"),
        )),
        (None, Some(u)) if crate::kinds::time::parse_time(u).is_none() => Err(invalid(
            format!("{here}.until"),
            format!("'{u}' is not an ISO 8601 time"),
        )),
        (Some(_), None) | (None, Some(_)) => Ok(()),
        _ => Err(invalid(
            here,
            "a wait needs exactly one of duration or until",
        )),
    }
}

/// A webhook calls an http(s) URL with a method that carries a body.
fn validate_webhook(here: &str, url: &str, method: &str) -> Result<(), Invalid> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(invalid(format!("{here}.url"), "must be an http(s) URL"));
    }
    if !matches!(
        method.to_ascii_uppercase().as_str(),
        "POST" | "PUT" | "PATCH"
    ) {
        return Err(invalid(
            format!("{here}.method"),
            "must be POST, PUT or PATCH",
        ));
    }
    Ok(())
}

/// A position in the step tree: indexes, with `then` / `else` between nesting levels,
/// written like `2.then.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position(pub Vec<(usize, Option<bool>)>);

impl Position {
    pub fn start() -> Self {
        Position(vec![(0, None)])
    }

    pub fn parse(text: &str) -> Option<Position> {
        let mut parts = text.split('.');
        let mut out = vec![(parts.next()?.parse().ok()?, None)];
        while let Some(branch) = parts.next() {
            let taken = match branch {
                "then" => true,
                "else" => false,
                _ => return None,
            };
            out.last_mut()?.1 = Some(taken);
            out.push((parts.next()?.parse().ok()?, None));
        }
        Some(Position(out))
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for (i, (index, branch)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push('.');
            }
            out.push_str(&index.to_string());
            if let Some(taken) = branch {
                out.push_str(if *taken { ".then" } else { ".else" });
            }
        }
        out
    }
}

/// The step at a position, if the position is inside the tree.
pub fn step_at<'a>(steps: &'a [Step], pos: &Position) -> Option<&'a Step> {
    let mut block = steps;
    for (depth, (index, branch)) in pos.0.iter().enumerate() {
        let step = block.get(*index)?;
        if depth == pos.0.len() - 1 {
            return Some(step);
        }
        match (step, branch) {
            (Step::Branch { then, .. }, Some(true)) => block = then,
            (Step::Branch { otherwise, .. }, Some(false)) => block = otherwise,
            _ => return None,
        }
    }
    None
}

/// The position after `pos` once its step is done: the next sibling, or after the
/// enclosing branch when a block ends. `None` when the automation is finished.
pub fn next_position(steps: &[Step], pos: &Position) -> Option<Position> {
    let mut path = pos.0.clone();
    loop {
        let last = path.len() - 1;
        path[last].0 += 1;
        path[last].1 = None;
        let candidate = Position(path.clone());
        if step_at(steps, &candidate).is_some() {
            return Some(candidate);
        }
        if path.len() == 1 {
            return None;
        }
        path.pop();
    }
}

/// The first position inside a branch's chosen block, or after the branch if it is empty.
pub fn enter_branch(steps: &[Step], pos: &Position, taken: bool) -> Option<Position> {
    let mut path = pos.0.clone();
    path.last_mut()?.1 = Some(taken);
    path.push((0, None));
    let inside = Position(path);
    if step_at(steps, &inside).is_some() {
        Some(inside)
    } else {
        next_position(steps, pos)
    }
}
