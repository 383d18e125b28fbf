//! Evaluates filter and branch conditions against the contact and the triggering event.

use serde_json::{Map, Value};

use super::definition::{Comparison, Condition, Definition, Op, Step};
use crate::contacts::Contact;
use crate::kinds::WorkspaceId;
use crate::store::StoreError;

/// What a condition can look at.
pub struct Subject<'a> {
    pub contact: &'a Contact,
    pub event: &'a Map<String, Value>,
    /// The store, for conditions on what is kept beside the contact (list memberships).
    pub conn: &'a rusqlite::Connection,
}

/// Whether the condition holds. A membership that cannot be read counts as absent, and so
/// does a segment that cannot be evaluated (deleted, or its filter no longer valid).
pub fn holds(condition: &Condition, subject: &Subject<'_>) -> bool {
    match condition {
        Condition::All { all } => all.iter().all(|c| holds(c, subject)),
        Condition::Any { any } => any.iter().any(|c| holds(c, subject)),
        Condition::Not { not } => !holds(not, subject),
        Condition::MemberOf { member_of } => {
            crate::lists::store::confirmed_member(subject.conn, member_of, subject.contact.id)
                .unwrap_or(false)
        }
        Condition::Segment { segment } => {
            crate::segments::store::contact_in_segment(subject.conn, segment, subject.contact.id)
                .unwrap_or(false)
        }
        Condition::Compare(cmp) => compare(cmp, lookup(&cmp.field, subject).as_ref()),
    }
}

/// Whether a condition names the segment with this public id, anywhere inside it.
fn names_segment(condition: &Condition, uid: &str) -> bool {
    match condition {
        Condition::All { all: items } | Condition::Any { any: items } => {
            items.iter().any(|c| names_segment(c, uid))
        }
        Condition::Not { not } => names_segment(not, uid),
        Condition::Segment { segment } => segment == uid,
        Condition::MemberOf { .. } | Condition::Compare(_) => false,
    }
}

fn steps_name_segment(steps: &[Step], uid: &str) -> bool {
    steps.iter().any(|step| match step {
        Step::Branch {
            condition,
            then,
            otherwise,
        } => {
            names_segment(condition, uid)
                || steps_name_segment(then, uid)
                || steps_name_segment(otherwise, uid)
        }
        _ => false,
    })
}

/// Whether the automation's filters or any branch read the segment.
pub fn uses_segment(def: &Definition, uid: &str) -> bool {
    def.filters.as_ref().is_some_and(|f| names_segment(f, uid))
        || steps_name_segment(&def.steps, uid)
}

/// The names of the workspace's automations that read the segment: deleting it would
/// silently change what they do, so the segment pages and API refuse and name them.
pub fn segment_users(
    conn: &rusqlite::Connection,
    ws: WorkspaceId,
    uid: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(super::store::list(conn, ws)?
        .iter()
        .filter(|a| uses_segment(&a.def, uid))
        .map(|a| a.def.name.clone())
        .collect())
}

fn contact_field(contact: &Contact, name: &str) -> Option<Value> {
    let text = |v: &Option<String>| v.clone().map(Value::String);
    match name {
        "email" => text(&contact.email),
        "firstName" => text(&contact.first_name),
        "lastName" => text(&contact.last_name),
        "name" => text(&contact.name),
        "phone" => text(&contact.phone),
        "externalId" => text(&contact.external_id),
        "tags" => Some(Value::Array(
            contact.tags.iter().cloned().map(Value::String).collect(),
        )),
        "subscribed" => Some(Value::Bool(contact.subscribed)),
        other => contact.properties.get(other).cloned(),
    }
}

fn lookup(field: &str, subject: &Subject<'_>) -> Option<Value> {
    if let Some(name) = field.strip_prefix("contact.") {
        return contact_field(subject.contact, name).filter(|v| !v.is_null());
    }
    let path = field.strip_prefix("event.")?;
    let mut current = subject.event.get(path.split('.').next()?)?;
    for part in path.split('.').skip(1) {
        current = match current {
            Value::Object(map) => map.get(part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    (!current.is_null()).then(|| current.clone())
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn loosely_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.eq_ignore_ascii_case(y),
        _ => match (as_number(a), as_number(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
    }
}

fn compare(cmp: &Comparison, actual: Option<&Value>) -> bool {
    match cmp.op {
        Op::Exists => actual.is_some() == cmp.value.as_bool().unwrap_or(true),
        Op::Eq => actual.is_some_and(|a| loosely_equal(a, &cmp.value)),
        Op::Neq => !actual.is_some_and(|a| loosely_equal(a, &cmp.value)),
        Op::Contains => match actual {
            Some(Value::Array(items)) => items.iter().any(|i| loosely_equal(i, &cmp.value)),
            Some(Value::String(s)) => cmp
                .value
                .as_str()
                .is_some_and(|needle| s.to_lowercase().contains(&needle.to_lowercase())),
            _ => false,
        },
        Op::Gt | Op::Lt => {
            let ordering = match (actual.and_then(as_number), as_number(&cmp.value)) {
                (Some(a), Some(b)) => a.partial_cmp(&b),
                _ => match (actual.and_then(Value::as_str), cmp.value.as_str()) {
                    (Some(a), Some(b)) => Some(a.cmp(b)),
                    _ => None,
                },
            };
            matches!(
                (cmp.op, ordering),
                (Op::Gt, Some(std::cmp::Ordering::Greater))
                    | (Op::Lt, Some(std::cmp::Ordering::Less))
            )
        }
    }
}
