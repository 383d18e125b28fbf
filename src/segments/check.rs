//! Checks a parsed filter against one workspace and resolves it into what the SQL
//! compiler needs: each field with its type and where it is stored, each value in that
//! type, each list by its row id. Nothing here reads the database; the store hands in the
//! workspace's [`Catalog`].

use serde_json::Value;

use super::filter::{EventTest, Filter, Invalid, ListStatus, Op, invalid};
use crate::contacts::fields::{Field, FieldType};
use crate::lists::{List, MemberStatus};

/// What a filter may name in a workspace: its declared fields and its lists.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// The declared contact fields, with their types.
    pub fields: Vec<Field>,
    /// The lists, so a filter names only the workspace's own.
    pub lists: Vec<List>,
}

/// Built-in contact properties a field condition may name: key, column, type. The
/// dates are the contact's own timestamps (Unix ms columns).
pub const BUILT_IN: &[(&str, &str, FieldType)] = &[
    ("email", "email", FieldType::Text),
    ("firstName", "first_name", FieldType::Text),
    ("lastName", "last_name", FieldType::Text),
    ("name", "name", FieldType::Text),
    ("phone", "phone", FieldType::Text),
    ("externalId", "external_id", FieldType::Text),
    ("createdAt", "created_at", FieldType::Date),
    ("updatedAt", "updated_at", FieldType::Date),
];

/// Where a field's value lives.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A text column of `contacts`.
    Column(&'static str),
    /// A Unix-millisecond column of `contacts`.
    Millis(&'static str),
    /// A declared field, inside the `properties` JSON.
    Property(String),
}

/// A comparison, with its value already in the field's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// Set (not null, and for text not empty) or, with `false`, unset.
    IsSet(bool),
    /// Equal ignoring ASCII case.
    TextEquals(String),
    /// Contains, ignoring ASCII case.
    TextContains(String),
    NumberEquals(f64),
    NumberGreater(f64),
    NumberLess(f64),
    BoolEquals(bool),
    /// The value falls in `[start, end)` (Unix ms): a whole UTC day for a bare date, one
    /// millisecond for a time.
    DateEquals(i64, i64),
    /// The value is before `start` of that day or time.
    DateBefore(i64),
    /// The value is at or after `end`: after the whole day, or after the time.
    DateAfter(i64),
}

/// A filter resolved against a workspace: what the compiler turns into SQL.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    Tag(String),
    /// Membership of the list with this row id, in this state (`None`: any state).
    List {
        list_id: i64,
        status: Option<MemberStatus>,
    },
    Subscribed(bool),
    Field {
        target: Target,
        test: Test,
    },
    /// Between `least` and `most` (inclusive) events named `name`, in the last
    /// `within_days` days or ever.
    Event {
        name: String,
        least: u32,
        most: Option<u32>,
        within_days: Option<u32>,
    },
}

/// Resolves `filter` (whose error paths start at `root`) against the workspace.
pub fn check(filter: &Filter, root: &str, catalog: &Catalog) -> Result<Cond, Invalid> {
    match filter {
        Filter::All(items) => Ok(Cond::All(check_all(items, root, "all", catalog)?)),
        Filter::Any(items) => Ok(Cond::Any(check_all(items, root, "any", catalog)?)),
        Filter::Not(inner) => Ok(Cond::Not(Box::new(check(
            inner,
            &format!("{root}.not"),
            catalog,
        )?))),
        Filter::Tag(tag) => Ok(Cond::Tag(tag.clone())),
        Filter::Subscribed(b) => Ok(Cond::Subscribed(*b)),
        Filter::List { list, status } => {
            let found = catalog
                .lists
                .iter()
                .find(|l| l.uid == *list)
                .ok_or_else(|| {
                    invalid(
                        format!("{root}.list"),
                        format!("no list with id '{list}' in this workspace"),
                    )
                })?;
            let status = match status {
                ListStatus::Confirmed => Some(MemberStatus::Confirmed),
                ListStatus::Unconfirmed => Some(MemberStatus::Unconfirmed),
                ListStatus::Unsubscribed => Some(MemberStatus::Unsubscribed),
                ListStatus::Any => None,
            };
            Ok(Cond::List {
                list_id: found.id,
                status,
            })
        }
        Filter::Field { field, op, value } => {
            let (target, kind) = target_of(field, root, catalog)?;
            let test = typed_test(kind, *op, value.as_ref(), field, root)?;
            Ok(Cond::Field { target, test })
        }
        Filter::Event(test) => Ok(event(test)),
    }
}

fn check_all(
    items: &[Filter],
    root: &str,
    key: &str,
    catalog: &Catalog,
) -> Result<Vec<Cond>, Invalid> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| check(item, &format!("{root}.{key}[{i}]"), catalog))
        .collect()
}

fn event(test: &EventTest) -> Cond {
    let (least, most) = test.bounds();
    Cond::Event {
        name: test.name.clone(),
        least,
        most,
        within_days: test.within_days,
    }
}

/// The type of a field key: built-in, or declared in the workspace.
pub fn field_type(key: &str, catalog: &Catalog) -> Option<FieldType> {
    BUILT_IN
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, _, t)| *t)
        .or_else(|| {
            catalog
                .fields
                .iter()
                .find(|f| f.key == key)
                .map(|f| f.field_type)
        })
}

/// Where a field key is stored, and its type.
fn target_of(key: &str, root: &str, catalog: &Catalog) -> Result<(Target, FieldType), Invalid> {
    if let Some((_, column, kind)) = BUILT_IN.iter().find(|(k, _, _)| *k == key) {
        let target = match kind {
            FieldType::Date => Target::Millis(column),
            _ => Target::Column(column),
        };
        return Ok((target, *kind));
    }
    match catalog.fields.iter().find(|f| f.key == key) {
        Some(f) => Ok((Target::Property(f.key.clone()), f.field_type)),
        None => {
            let declared: Vec<&str> = catalog.fields.iter().map(|f| f.key.as_str()).collect();
            let declared = if declared.is_empty() {
                "none".to_string()
            } else {
                declared.join(", ")
            };
            Err(invalid(
                format!("{root}.field"),
                format!(
                    "no contact field '{key}' (declared: {declared}; built in: {})",
                    BUILT_IN.iter().map(|b| b.0).collect::<Vec<_>>().join(", ")
                ),
            ))
        }
    }
}

/// The operators a type allows.
pub fn ops_for(kind: FieldType) -> &'static [Op] {
    match kind {
        FieldType::Text => &[Op::Equals, Op::Contains, Op::IsSet],
        FieldType::Number => &[Op::Equals, Op::Greater, Op::Less, Op::IsSet],
        FieldType::Boolean => &[Op::Equals, Op::IsSet],
        FieldType::Date => &[Op::Equals, Op::Before, Op::After, Op::IsSet],
    }
}

/// The test an operator and value make for a field of type `kind`.
fn typed_test(
    kind: FieldType,
    op: Op,
    value: Option<&Value>,
    key: &str,
    root: &str,
) -> Result<Test, Invalid> {
    if !ops_for(kind).contains(&op) {
        let allowed: Vec<&str> = ops_for(kind).iter().map(|o| o.as_str()).collect();
        return Err(invalid(
            format!("{root}.op"),
            format!(
                "'{}' does not apply to the {} field '{key}' (use {})",
                op.as_str(),
                kind.as_str(),
                allowed.join(", ")
            ),
        ));
    }
    let at = format!("{root}.value");
    if op == Op::IsSet {
        return match value {
            None => Ok(Test::IsSet(true)),
            Some(Value::Bool(b)) => Ok(Test::IsSet(*b)),
            Some(_) => Err(invalid(at, "must be true or false (or left out) for isSet")),
        };
    }
    let Some(value) = value else {
        return Err(invalid(at, format!("is required for '{}'", op.as_str())));
    };
    match kind {
        FieldType::Text => text_test(op, value, &at),
        FieldType::Number => {
            let n = number(value).ok_or_else(|| invalid(&at, "must be a number"))?;
            Ok(match op {
                Op::Greater => Test::NumberGreater(n),
                Op::Less => Test::NumberLess(n),
                _ => Test::NumberEquals(n),
            })
        }
        FieldType::Boolean => match value {
            Value::Bool(b) => Ok(Test::BoolEquals(*b)),
            _ => Err(invalid(at, "must be true or false")),
        },
        FieldType::Date => {
            let (start, end) = value
                .as_str()
                .and_then(date_range)
                .ok_or_else(|| invalid(&at, "must be a date (YYYY-MM-DD) or an ISO 8601 time"))?;
            Ok(match op {
                Op::Before => Test::DateBefore(start),
                Op::After => Test::DateAfter(end),
                _ => Test::DateEquals(start, end),
            })
        }
    }
}

fn text_test(op: Op, value: &Value, at: &str) -> Result<Test, Invalid> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return Err(invalid(at, "must be text")),
    };
    if text.chars().count() > 1000 {
        return Err(invalid(at, "must be at most 1000 characters"));
    }
    match op {
        Op::Contains if text.is_empty() => Err(invalid(at, "must not be empty for contains")),
        Op::Contains => Ok(Test::TextContains(text)),
        _ => Ok(Test::TextEquals(text)),
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// A bare date is its whole UTC day; a time is that one millisecond.
fn date_range(s: &str) -> Option<(i64, i64)> {
    let start = crate::kinds::time::parse_time(s)?;
    let bare_date = s.trim().len() == 10;
    Some((
        start,
        if bare_date {
            start + 86_400_000
        } else {
            start + 1
        },
    ))
}
