//! A filter in words, for the pages: "has tag “vip” and confirmed member of Newsletter and
//! did purchase at least 2 times in the last 30 days". Lists are named by their names
//! when the workspace still has them.

use serde_json::Value;

use super::check::Catalog;
use super::filter::{EventTest, Filter, ListStatus, Op};

/// The filter as one readable sentence.
pub fn describe(filter: &Filter, catalog: &Catalog) -> String {
    match filter {
        Filter::All(items) if items.is_empty() => "every contact".into(),
        Filter::Any(items) if items.is_empty() => "no contact".into(),
        Filter::All(items) => group(items, " and ", catalog),
        Filter::Any(items) => group(items, " or ", catalog),
        Filter::Not(inner) => format!("not ({})", describe(inner, catalog)),
        Filter::Tag(tag) => format!("has tag “{tag}”"),
        Filter::List { list, status } => {
            let name = catalog.lists.iter().find(|l| l.uid == *list).map_or_else(
                || format!("unknown list {list}"),
                |l| format!("“{}”", l.name),
            );
            match status {
                ListStatus::Any => format!("on list {name} (any state)"),
                status => format!("{} member of list {name}", status.as_str()),
            }
        }
        Filter::Subscribed(true) => "is subscribed".into(),
        Filter::Subscribed(false) => "is unsubscribed".into(),
        Filter::Field { field, op, value } => field_words(field, *op, value.as_ref()),
        Filter::Event(test) => event_words(test),
    }
}

fn group(items: &[Filter], word: &str, catalog: &Catalog) -> String {
    if items.len() == 1 {
        return describe(&items[0], catalog);
    }
    items
        .iter()
        .map(|item| match item {
            Filter::All(inner) | Filter::Any(inner) if inner.len() > 1 => {
                format!("({})", describe(item, catalog))
            }
            _ => describe(item, catalog),
        })
        .collect::<Vec<_>>()
        .join(word)
}

fn shown(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => format!("“{s}”"),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn field_words(field: &str, op: Op, value: Option<&Value>) -> String {
    let value = shown(value);
    match op {
        Op::IsSet if value == "false" => format!("{field} is not set"),
        Op::IsSet => format!("{field} is set"),
        Op::Equals => format!("{field} is {value}"),
        Op::Contains => format!("{field} contains {value}"),
        Op::Before => format!("{field} is before {value}"),
        Op::After => format!("{field} is after {value}"),
        Op::Greater => format!("{field} is greater than {value}"),
        Op::Less => format!("{field} is less than {value}"),
    }
}

fn times(n: u32) -> String {
    if n == 1 {
        "once".into()
    } else {
        format!("{n} times")
    }
}

fn event_words(test: &EventTest) -> String {
    let window = match test.within_days {
        Some(1) => " in the last day".to_string(),
        Some(d) => format!(" in the last {d} days"),
        None => String::new(),
    };
    let name = &test.name;
    match test.bounds() {
        (0, Some(0)) => format!("never did {name}{window}"),
        (1, None) => format!("did {name}{window}"),
        (least, None) => format!("did {name} at least {}{window}", times(least)),
        (0, Some(most)) => format!("did {name} at most {}{window}", times(most)),
        (least, Some(most)) if least == most => {
            format!("did {name} exactly {}{window}", times(least))
        }
        (least, Some(most)) => format!("did {name} {least} to {most} times{window}"),
    }
}
