//! The filter's JSON shape and its parser. Each condition is an object with one key that
//! says what it tests:
//!
//! ```json
//! {"all": [
//!   {"tag": "vip"},
//!   {"list": "<list id>", "status": "confirmed"},
//!   {"subscribed": true},
//!   {"field": "plan", "op": "equals", "value": "pro"},
//!   {"event": "purchase", "atLeast": 2, "withinDays": 30},
//!   {"not": {"event": "refund", "never": true}},
//!   {"any": [{"tag": "a"}, {"tag": "b"}]}
//! ]}
//! ```
//!
//! Parsing is by hand rather than through serde's untagged enums, so that a mistake is
//! reported at its path (`filter.all[3].atLeast: must be a whole number from 1 to
//! 1000000`) instead of "did not match any variant".

use serde_json::{Map, Value, json};

/// Deepest nesting of all / any / not.
pub const MAX_DEPTH: usize = 16;
/// Most conditions in one filter, counting groups: far beyond any hand-written filter,
/// well inside what SQLite accepts in one statement.
pub const MAX_CONDITIONS: usize = 200;
/// Largest count an event condition may ask for.
pub const MAX_COUNT: u32 = 1_000_000;
/// Longest window an event condition may look back, in days (ten years).
pub const MAX_DAYS: u32 = 3650;

/// A parsed filter: the shape is right; names are not yet checked against a workspace
/// (that is [`super::check`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Every condition holds (an empty list holds for everyone).
    All(Vec<Filter>),
    /// At least one holds (an empty list holds for no one).
    Any(Vec<Filter>),
    Not(Box<Filter>),
    /// The contact carries this tag (exactly, case included).
    Tag(String),
    /// The contact's membership of a list (by its public id) is in `status`.
    List {
        list: String,
        status: ListStatus,
    },
    /// The contact's subscription status.
    Subscribed(bool),
    /// A declared or built-in field compared with a typed operator.
    Field {
        field: String,
        op: Op,
        value: Option<Value>,
    },
    Event(EventTest),
}

/// Which membership state a list condition asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStatus {
    Confirmed,
    Unconfirmed,
    Unsubscribed,
    /// A membership row in any state.
    Any,
}

impl ListStatus {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ListStatus::Confirmed => "confirmed",
            ListStatus::Unconfirmed => "unconfirmed",
            ListStatus::Unsubscribed => "unsubscribed",
            ListStatus::Any => "any",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            ListStatus::Confirmed,
            ListStatus::Unconfirmed,
            ListStatus::Unsubscribed,
            ListStatus::Any,
        ]
        .into_iter()
        .find(|l| l.as_str() == s)
    }
}

/// Field operators; which apply depends on the field's type (see [`super::check`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Equals,
    Contains,
    Before,
    After,
    Greater,
    Less,
    IsSet,
}

impl Op {
    /// Every operator, in the order the reference lists them.
    pub const ALL: [Op; 7] = [
        Op::Equals,
        Op::Contains,
        Op::Before,
        Op::After,
        Op::Greater,
        Op::Less,
        Op::IsSet,
    ];

    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Equals => "equals",
            Op::Contains => "contains",
            Op::Before => "before",
            Op::After => "after",
            Op::Greater => "greater",
            Op::Less => "less",
            Op::IsSet => "isSet",
        }
    }

    fn parse(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.as_str() == s)
    }
}

/// "Did `name` at least / at most N times (in the last D days)", or "never did".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTest {
    /// The event name (a name events are sent with, declared or not).
    pub name: String,
    /// `atLeast`: fewest matching events.
    pub at_least: Option<u32>,
    /// `atMost`: most matching events.
    pub at_most: Option<u32>,
    /// `withinDays`: count only events of the last this many days.
    pub within_days: Option<u32>,
    /// `never`: no matching event at all.
    pub never: bool,
}

impl EventTest {
    /// The count range the condition accepts: `never` is at most 0; with no bounds at
    /// all it is at least once.
    pub fn bounds(&self) -> (u32, Option<u32>) {
        if self.never {
            return (0, Some(0));
        }
        match (self.at_least, self.at_most) {
            (None, None) => (1, None),
            (least, most) => (least.unwrap_or(0), most),
        }
    }
}

/// A parse or validation failure naming the path of the bad part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Where: `filter.all[1].op`.
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A failure at `path`.
pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        path: path.into(),
        message: message.into(),
    }
}

/// The keys that name a condition's kind, with the other keys each kind allows.
const KINDS: &[(&str, &[&str])] = &[
    ("all", &[]),
    ("any", &[]),
    ("not", &[]),
    ("tag", &[]),
    ("list", &["status"]),
    ("subscribed", &[]),
    ("field", &["op", "value"]),
    ("event", &["atLeast", "atMost", "withinDays", "never"]),
];

/// Parses a filter; `root` names it in error paths (`filter` in the API).
pub fn parse(value: &Value, root: &str) -> Result<Filter, Invalid> {
    let mut count = 0;
    parse_at(value, root, 1, &mut count)
}

fn parse_at(value: &Value, path: &str, depth: usize, count: &mut usize) -> Result<Filter, Invalid> {
    if depth > MAX_DEPTH {
        return Err(invalid(
            path,
            format!("conditions nest deeper than {MAX_DEPTH}"),
        ));
    }
    *count += 1;
    if *count > MAX_CONDITIONS {
        return Err(invalid(
            path,
            format!("a filter has at most {MAX_CONDITIONS} conditions"),
        ));
    }
    let Value::Object(map) = value else {
        return Err(invalid(
            path,
            "must be a condition object such as {\"tag\": \"vip\"}",
        ));
    };
    let kind = kind_of(map, path)?;
    match kind {
        "all" | "any" => {
            let items = group(map, kind, path, depth, count)?;
            Ok(if kind == "all" {
                Filter::All(items)
            } else {
                Filter::Any(items)
            })
        }
        "not" => Ok(Filter::Not(Box::new(parse_at(
            &map["not"],
            &format!("{path}.not"),
            depth + 1,
            count,
        )?))),
        "tag" => tag(map, path),
        "list" => list(map, path),
        "subscribed" => match &map["subscribed"] {
            Value::Bool(b) => Ok(Filter::Subscribed(*b)),
            _ => Err(invalid(
                format!("{path}.subscribed"),
                "must be true or false",
            )),
        },
        "field" => field(map, path),
        _ => event(map, path).map(Filter::Event),
    }
}

/// The one kind key of a condition; other keys must be ones that kind allows.
fn kind_of(map: &Map<String, Value>, path: &str) -> Result<&'static str, Invalid> {
    let kinds: Vec<&(&str, &[&str])> = KINDS.iter().filter(|(k, _)| map.contains_key(*k)).collect();
    let names = || KINDS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ");
    let (kind, allowed) = match kinds.as_slice() {
        [one] => **one,
        [] => {
            return Err(invalid(
                path,
                format!("needs one of the keys {} to say what it tests", names()),
            ));
        }
        [a, b, ..] => {
            return Err(invalid(
                path,
                format!(
                    "has both '{}' and '{}'; put separate conditions in an \"all\" list",
                    a.0, b.0
                ),
            ));
        }
    };
    if let Some(extra) = map
        .keys()
        .find(|k| k.as_str() != kind && !allowed.contains(&k.as_str()))
    {
        let allowed = if allowed.is_empty() {
            "none".to_string()
        } else {
            allowed.join(", ")
        };
        return Err(invalid(
            format!("{path}.{extra}"),
            format!("is not a key of a {kind} condition (other keys allowed: {allowed})"),
        ));
    }
    Ok(kind)
}

fn group(
    map: &Map<String, Value>,
    kind: &str,
    path: &str,
    depth: usize,
    count: &mut usize,
) -> Result<Vec<Filter>, Invalid> {
    let Value::Array(items) = &map[kind] else {
        return Err(invalid(
            format!("{path}.{kind}"),
            "must be a list of conditions",
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_at(item, &format!("{path}.{kind}[{i}]"), depth + 1, count))
        .collect()
}

fn tag(map: &Map<String, Value>, path: &str) -> Result<Filter, Invalid> {
    match map["tag"].as_str().map(str::trim) {
        Some(t) if !t.is_empty() && t.chars().count() <= 64 => Ok(Filter::Tag(t.to_string())),
        _ => Err(invalid(
            format!("{path}.tag"),
            "must be a tag of 1 to 64 characters",
        )),
    }
}

fn list(map: &Map<String, Value>, path: &str) -> Result<Filter, Invalid> {
    let Some(list) = map["list"]
        .as_str()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    else {
        return Err(invalid(format!("{path}.list"), "must be a list id"));
    };
    let status = match map.get("status") {
        None | Some(Value::Null) => ListStatus::Confirmed,
        Some(v) => v.as_str().and_then(ListStatus::parse).ok_or_else(|| {
            invalid(
                format!("{path}.status"),
                "must be confirmed, unconfirmed, unsubscribed or any",
            )
        })?,
    };
    Ok(Filter::List {
        list: list.to_string(),
        status,
    })
}

fn field(map: &Map<String, Value>, path: &str) -> Result<Filter, Invalid> {
    let Some(field) = map["field"]
        .as_str()
        .map(str::trim)
        .filter(|f| !f.is_empty())
    else {
        return Err(invalid(format!("{path}.field"), "must be a field key"));
    };
    let ops = || {
        Op::ALL
            .iter()
            .map(|o| o.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let op = match map.get("op") {
        None => {
            return Err(invalid(
                format!("{path}.op"),
                format!("is required ({})", ops()),
            ));
        }
        Some(v) => v
            .as_str()
            .and_then(Op::parse)
            .ok_or_else(|| invalid(format!("{path}.op"), format!("must be one of {}", ops())))?,
    };
    let value = map.get("value").filter(|v| !v.is_null()).cloned();
    Ok(Filter::Field {
        field: field.to_string(),
        op,
        value,
    })
}

/// A whole number in `min..=max` at `path`, if present.
fn count_at(
    map: &Map<String, Value>,
    key: &str,
    path: &str,
    min: u32,
    max: u32,
) -> Result<Option<u32>, Invalid> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|n| (min as u64..=max as u64).contains(n))
            .map(|n| Some(n as u32))
            .ok_or_else(|| {
                invalid(
                    format!("{path}.{key}"),
                    format!("must be a whole number from {min} to {max}"),
                )
            }),
    }
}

fn event(map: &Map<String, Value>, path: &str) -> Result<EventTest, Invalid> {
    let name = map["event"]
        .as_str()
        .ok_or_else(|| invalid(format!("{path}.event"), "must be an event name"))?;
    let name =
        crate::events::check_event_name(name).map_err(|e| invalid(format!("{path}.event"), e))?;
    let never = match map.get("never") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid(format!("{path}.never"), "must be true or false")),
    };
    let test = EventTest {
        name,
        at_least: count_at(map, "atLeast", path, 1, MAX_COUNT)?,
        at_most: count_at(map, "atMost", path, 0, MAX_COUNT)?,
        within_days: count_at(map, "withinDays", path, 1, MAX_DAYS)?,
        never,
    };
    if never && (test.at_least.is_some() || test.at_most.is_some()) {
        return Err(invalid(
            format!("{path}.never"),
            "cannot be combined with atLeast or atMost",
        ));
    }
    if let (Some(least), Some(most)) = (test.at_least, test.at_most)
        && least > most
    {
        return Err(invalid(
            format!("{path}.atMost"),
            format!("must not be below atLeast ({least})"),
        ));
    }
    Ok(test)
}

impl Filter {
    /// The filter in its JSON shape (what is stored and what the API returns): the same
    /// keys it was written with, defaults left out.
    pub fn to_json(&self) -> Value {
        let items = |items: &[Filter]| Value::Array(items.iter().map(Filter::to_json).collect());
        match self {
            Filter::All(items_) => json!({ "all": items(items_) }),
            Filter::Any(items_) => json!({ "any": items(items_) }),
            Filter::Not(inner) => json!({ "not": inner.to_json() }),
            Filter::Tag(tag) => json!({ "tag": tag }),
            Filter::List { list, status } => match status {
                ListStatus::Confirmed => json!({ "list": list }),
                status => json!({ "list": list, "status": status.as_str() }),
            },
            Filter::Subscribed(b) => json!({ "subscribed": b }),
            Filter::Field { field, op, value } => {
                let mut out = json!({ "field": field, "op": op.as_str() });
                if let Some(value) = value {
                    out["value"] = value.clone();
                }
                out
            }
            Filter::Event(test) => {
                let mut out = json!({ "event": test.name });
                for (key, n) in [
                    ("atLeast", test.at_least),
                    ("atMost", test.at_most),
                    ("withinDays", test.within_days),
                ] {
                    if let Some(n) = n {
                        out[key] = json!(n);
                    }
                }
                if test.never {
                    out["never"] = json!(true);
                }
                out
            }
        }
    }

    /// The filter that holds for every contact.
    pub fn everyone() -> Filter {
        Filter::All(Vec::new())
    }
}
