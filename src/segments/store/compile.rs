//! Turns a checked filter into one SQL boolean expression over `contacts c`, with every
//! value a bound parameter: nothing the caller wrote is spliced into the text (the only
//! identifiers spliced in are the built-in column names of `check::BUILT_IN`).
//!
//! Two shapes, one per use:
//! - [`Mode::Set`], for counting and listing a whole workspace: list and event conditions
//!   become `c.id IN (SELECT …)`, computed once per statement from the side that has the
//!   index (the list's members, the events of one name in a window grouped by contact),
//!   then probed per contact;
//! - [`Mode::One`], for asking about one contact (automation conditions): the same
//!   conditions as correlated lookups on that contact's own rows, so a question about one
//!   contact never reads a whole list or a year of events.
//!
//! Every leaf yields 0 or 1, never NULL, so `not` is the exact complement.

use rusqlite::types::Value as SqlValue;

use crate::kinds::WorkspaceId;
use crate::segments::check::{Cond, Target, Test};

/// Which shape the conditions take (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Set,
    One,
}

/// A compiled filter: the expression and its parameters, in order (`?` placeholders).
#[derive(Debug, Clone, PartialEq)]
pub struct Sql {
    /// A boolean expression over `contacts c`.
    pub text: String,
    /// The values of its `?` placeholders, in order.
    pub params: Vec<SqlValue>,
}

/// Compiles `cond` for workspace `ws`; "in the last D days" counts back from `now_ms`.
pub fn compile(cond: &Cond, ws: WorkspaceId, now_ms: i64, mode: Mode) -> Sql {
    let mut out = Compiler {
        ws,
        now_ms,
        mode,
        params: Vec::new(),
    };
    let text = out.cond(cond);
    Sql {
        text,
        params: out.params,
    }
}

struct Compiler {
    ws: WorkspaceId,
    now_ms: i64,
    mode: Mode,
    params: Vec<SqlValue>,
}

const DAY_MS: i64 = 86_400_000;

impl Compiler {
    /// Binds a value and returns its placeholder.
    fn bind(&mut self, value: impl Into<SqlValue>) -> &'static str {
        self.params.push(value.into());
        "?"
    }

    fn cond(&mut self, cond: &Cond) -> String {
        match cond {
            Cond::All(items) if items.is_empty() => "1".into(),
            Cond::Any(items) if items.is_empty() => "0".into(),
            Cond::All(items) => self.join(items, " AND "),
            Cond::Any(items) => self.join(items, " OR "),
            Cond::Not(inner) => format!("NOT ({})", self.cond(inner)),
            Cond::Tag(tag) => self.tag(tag),
            Cond::List { list_id, status } => self.list(*list_id, status.map(|s| s.as_str())),
            Cond::Subscribed(b) => format!("c.subscribed = {}", self.bind(*b)),
            Cond::Field { target, test } => self.field(target, test),
            Cond::Event {
                name,
                least,
                most,
                within_days,
            } => {
                let since = within_days.map(|d| self.now_ms - i64::from(d) * DAY_MS);
                match self.mode {
                    Mode::Set => self.event_set(name, *least, *most, since),
                    Mode::One => self.event_one(name, *least, *most, since),
                }
            }
        }
    }

    fn join(&mut self, items: &[Cond], word: &str) -> String {
        let parts: Vec<String> = items.iter().map(|c| self.cond(c)).collect();
        format!("({})", parts.join(word))
    }

    /// Tags are a JSON array of strings: a substring test on the stored text finds the
    /// candidates cheaply, the exact test over the array confirms them (an escaped quote
    /// inside another tag can look like the quoted tag).
    fn tag(&mut self, tag: &str) -> String {
        let quoted = serde_json::Value::String(tag.to_string()).to_string();
        let a = self.bind(quoted);
        let b = self.bind(tag.to_string());
        format!(
            "(instr(c.tags, {a}) > 0 AND EXISTS (SELECT 1 FROM json_each(c.tags) WHERE value = {b}))"
        )
    }

    fn list(&mut self, list_id: i64, status: Option<&'static str>) -> String {
        let list = self.bind(list_id);
        let status = match status {
            Some(s) => format!(" AND status = {}", self.bind(s.to_string())),
            None => String::new(),
        };
        match self.mode {
            Mode::Set => {
                format!(
                    "c.id IN (SELECT contact_id FROM list_members WHERE list_id = {list}{status})"
                )
            }
            Mode::One => format!(
                "EXISTS (SELECT 1 FROM list_members WHERE list_id = {list} AND contact_id = c.id{status})"
            ),
        }
    }

    /// The field's value as an SQL expression (binding the JSON path of a declared field).
    fn value(&mut self, target: &Target) -> String {
        match target {
            Target::Column(column) | Target::Millis(column) => format!("c.{column}"),
            Target::Property(key) => {
                let path = format!("$.\"{key}\"");
                format!("json_extract(c.properties, {})", self.bind(path))
            }
        }
    }

    /// The field's value as Unix ms: stored dates are text (a day or an RFC 3339 time),
    /// the contact's own timestamps already are.
    fn millis(&mut self, target: &Target) -> String {
        match target {
            Target::Millis(column) => format!("c.{column}"),
            other => {
                let a = self.value(other);
                let b = self.value(other);
                format!(
                    "(CASE WHEN typeof({a}) = 'text' THEN CAST(round((julianday({b}) - 2440587.5) * 86400000.0) AS INTEGER) END)"
                )
            }
        }
    }

    fn number(&mut self, target: &Target, op: &str, n: f64) -> String {
        let a = self.value(target);
        let b = self.value(target);
        let n = self.bind(n);
        format!("IFNULL(typeof({a}) IN ('integer', 'real') AND {b} {op} {n}, 0)")
    }

    fn field(&mut self, target: &Target, test: &Test) -> String {
        match test {
            Test::IsSet(set) => {
                let x = self.value(target);
                let is_set = format!("IFNULL({x} <> '', 0)");
                if *set {
                    is_set
                } else {
                    format!("NOT {is_set}")
                }
            }
            Test::TextEquals(s) => {
                let x = self.value(target);
                format!("IFNULL(lower({x}) = lower({}), 0)", self.bind(s.clone()))
            }
            Test::TextContains(s) => {
                let x = self.value(target);
                format!(
                    "IFNULL(instr(lower({x}), lower({})) > 0, 0)",
                    self.bind(s.clone())
                )
            }
            Test::NumberEquals(n) => self.number(target, "=", *n),
            Test::NumberGreater(n) => self.number(target, ">", *n),
            Test::NumberLess(n) => self.number(target, "<", *n),
            Test::BoolEquals(b) => {
                let Target::Property(key) = target else {
                    return "0".into();
                };
                let path = self.bind(format!("$.\"{key}\""));
                let want = self.bind(if *b { "true" } else { "false" }.to_string());
                format!("IFNULL(json_type(c.properties, {path}) = {want}, 0)")
            }
            Test::DateEquals(start, end) => {
                let d = self.millis(target);
                let lo = self.bind(*start);
                let hi = self.bind(*end - 1);
                format!("IFNULL({d} BETWEEN {lo} AND {hi}, 0)")
            }
            Test::DateBefore(start) => {
                let d = self.millis(target);
                format!("IFNULL({d} < {}, 0)", self.bind(*start))
            }
            Test::DateAfter(end) => {
                let d = self.millis(target);
                format!("IFNULL({d} >= {}, 0)", self.bind(*end))
            }
        }
    }

    /// The contacts with between `least` and `most` matching events, from the events of
    /// that name (and window) grouped by contact: `events_by_name_contact` covers it.
    fn event_set(
        &mut self,
        name: &str,
        least: u32,
        most: Option<u32>,
        since: Option<i64>,
    ) -> String {
        let ws = self.bind(self.ws.0);
        let name = self.bind(name.to_string());
        let window = match since {
            Some(t) => format!(" AND created_at >= {}", self.bind(t)),
            None => String::new(),
        };
        let base = format!(
            "SELECT contact_id FROM events WHERE workspace_id = {ws} AND name = {name}{window}"
        );
        match (least, most) {
            (0, None) => "1".into(),
            (1, None) => format!("c.id IN ({base})"),
            (least, None) => format!(
                "c.id IN ({base} GROUP BY contact_id HAVING COUNT(*) >= {})",
                self.bind(least)
            ),
            (0, Some(0)) => format!("c.id NOT IN ({base})"),
            (0, Some(most)) => format!(
                "c.id NOT IN ({base} GROUP BY contact_id HAVING COUNT(*) > {})",
                self.bind(most)
            ),
            (least, Some(most)) => {
                let lo = self.bind(least);
                let hi = self.bind(most);
                format!(
                    "c.id IN ({base} GROUP BY contact_id HAVING COUNT(*) BETWEEN {lo} AND {hi})"
                )
            }
        }
    }

    /// The same question about the one contact in hand: its events, counted only as far
    /// as the answer needs.
    fn event_one(
        &mut self,
        name: &str,
        least: u32,
        most: Option<u32>,
        since: Option<i64>,
    ) -> String {
        let name = self.bind(name.to_string());
        let window = match since {
            Some(t) => format!(" AND e.created_at >= {}", self.bind(t)),
            None => String::new(),
        };
        let cap = most.map_or(least, |m| m + 1);
        let cap = self.bind(cap);
        let counted = format!(
            "(SELECT COUNT(*) FROM (SELECT 1 FROM events e WHERE e.contact_id = c.id AND e.name = {name}{window} LIMIT {cap}))"
        );
        match most {
            None => format!("{counted} >= {}", self.bind(least)),
            Some(most) => {
                let lo = self.bind(least);
                let hi = self.bind(most);
                format!("{counted} BETWEEN {lo} AND {hi}")
            }
        }
    }
}
