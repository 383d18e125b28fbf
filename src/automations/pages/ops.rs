//! Structural edits of the draft (add / remove / move steps and filter rows), the cleanup
//! before validation, and mapping a validation path back to a step position.

use serde_json::{Map, Value};

use super::form::{Action, filter_rows, rows_to_filters};
use crate::automations::definition::{Comparison, Condition, Definition, Op, Step, TriggerType};

/// A new step of a kind, with harmless defaults to edit.
pub(super) fn new_step(kind: &str) -> Option<Step> {
    Some(match kind {
        "email" => Step::Email {
            template: String::new(),
            channel: None,
        },
        "sms" => Step::Sms {
            template: String::new(),
            channel: String::new(),
        },
        "whatsapp" => Step::Whatsapp {
            template: String::new(),
            channel: String::new(),
        },
        "wait" => Step::Wait {
            duration: Some("1d".into()),
            until: None,
        },
        "branch" => Step::Branch {
            condition: Condition::Compare(Comparison {
                field: "contact.tags".into(),
                op: Op::Contains,
                value: Value::Null,
            }),
            then: Vec::new(),
            otherwise: Vec::new(),
        },
        "update_contact" => Step::UpdateContact {
            set: Map::new(),
            add_tags: Vec::new(),
            remove_tags: Vec::new(),
        },
        "webhook" => Step::Webhook {
            url: "https://".into(),
            method: "POST".into(),
        },
        "add_to_list" => Step::AddToList {
            list: String::new(),
        },
        "remove_from_list" => Step::RemoveFromList {
            list: String::new(),
        },
        "exit" => Step::Exit,
        _ => return None,
    })
}

/// The step list a block path names: `""` is the top level, `"2.then"` a branch's then.
fn block_mut<'a>(steps: &'a mut Vec<Step>, block: &str) -> Option<&'a mut Vec<Step>> {
    if block.is_empty() {
        return Some(steps);
    }
    let parts: Vec<&str> = block.split('.').collect();
    if !parts.len().is_multiple_of(2) {
        return None;
    }
    let mut current = steps;
    for pair in parts.chunks(2) {
        let index: usize = pair[0].parse().ok()?;
        current = match (current.get_mut(index)?, pair[1]) {
            (Step::Branch { then, .. }, "then") => then,
            (Step::Branch { otherwise, .. }, "else") => otherwise,
            _ => return None,
        };
    }
    Some(current)
}

/// `"2.then.0"` → (`"2.then"`, 0).
fn split_position(pos: &str) -> Option<(&str, usize)> {
    match pos.rsplit_once('.') {
        Some((block, index)) => Some((block, index.parse().ok()?)),
        None => Some(("", pos.parse().ok()?)),
    }
}

/// Applies a structural change; anything that names no existing place does nothing.
pub(super) fn apply(def: &mut Definition, action: &Action) {
    let at = |pos: &str| split_position(pos).map(|(block, i)| (block.to_string(), i));
    match action {
        Action::Add { block, kind } => {
            if let (Some(list), Some(step)) = (block_mut(&mut def.steps, block), new_step(kind)) {
                list.push(step);
            }
        }
        Action::Remove(pos) => {
            if let Some((block, i)) = at(pos)
                && let Some(list) = block_mut(&mut def.steps, &block)
                && i < list.len()
            {
                list.remove(i);
            }
        }
        Action::Up(pos) | Action::Down(pos) => {
            if let Some((block, i)) = at(pos)
                && let Some(list) = block_mut(&mut def.steps, &block)
            {
                let other = if matches!(action, Action::Up(_)) {
                    i.checked_sub(1)
                } else {
                    Some(i + 1)
                };
                if let Some(j) = other
                    && i < list.len()
                    && j < list.len()
                {
                    list.swap(i, j);
                }
            }
        }
        Action::AddFilter | Action::RemoveFilter(_) => {
            if let Some((all, mut rows)) = filter_rows(&def.filters) {
                match action {
                    Action::AddFilter => rows.push(Comparison {
                        field: String::new(),
                        op: Op::Eq,
                        value: Value::Null,
                    }),
                    Action::RemoveFilter(i) if *i < rows.len() => {
                        rows.remove(*i);
                    }
                    _ => {}
                }
                def.filters = rows_to_filters(all, rows);
            }
        }
        Action::Refresh | Action::Check | Action::Save | Action::ApplyJson => {}
    }
}

/// The definition as it is submitted for validation: trimmed, blank filter rows dropped,
/// no event name kept for triggers that do not use one.
pub(super) fn for_saving(def: &Definition) -> Definition {
    let mut def = def.clone();
    def.name = def.name.trim().to_string();
    if matches!(
        def.trigger.kind,
        TriggerType::ContactAdded | TriggerType::ContactUpdated
    ) {
        def.trigger.event = None;
    }
    if let Some((all, rows)) = filter_rows(&def.filters) {
        let kept = rows
            .into_iter()
            .filter(|r| !(r.field.is_empty() && r.value.is_null()))
            .collect();
        def.filters = rows_to_filters(all, kept);
    }
    def
}

/// The step position a validation path points into: `steps[1].then[0].template` → `1.then.0`.
pub(super) fn error_position(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for (n, segment) in path.split('.').enumerate() {
        let Some((name, rest)) = segment.split_once('[') else {
            break;
        };
        let index = rest.strip_suffix(']')?;
        match (n, name) {
            (0, "steps") => {}
            (n, "then" | "else") if n > 0 => parts.push(name),
            _ => break,
        }
        parts.push(index);
    }
    (!parts.is_empty()).then(|| parts.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::automations::pages::form::{Fields, empty_definition, parse_value};

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        Fields::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn buttons_add_move_and_remove_steps_in_nested_blocks() {
        let mut def = empty_definition();
        for op in [
            "add::branch",
            "add:0.then:email",
            "add:0.then:wait",
            "up:0.then.1",
            "add::exit",
            "up:1",
        ] {
            apply(&mut def, &Action::parse(&fields(&[("op", op)])));
        }
        assert_eq!(def.steps[0].kind(), "exit");
        let Step::Branch { then, .. } = &def.steps[1] else {
            panic!("branch expected")
        };
        assert_eq!(
            then.iter().map(Step::kind).collect::<Vec<_>>(),
            ["wait", "email"]
        );
        apply(&mut def, &Action::Remove("1.then.0".into()));
        apply(&mut def, &Action::Remove("9".into()));
        let Step::Branch { then, .. } = &def.steps[1] else {
            panic!("branch expected")
        };
        assert_eq!(then.len(), 1);
    }

    #[test]
    fn values_and_error_paths() {
        assert_eq!(parse_value("42"), Value::from(42));
        assert_eq!(parse_value("true"), Value::Bool(true));
        assert_eq!(parse_value("vip"), Value::from("vip"));
        assert_eq!(parse_value(" "), Value::Null);
        assert_eq!(
            error_position("steps[1].then[0].template").as_deref(),
            Some("1.then.0")
        );
        assert_eq!(error_position("steps[2].duration").as_deref(), Some("2"));
        assert_eq!(error_position("trigger.event"), None);
    }
}
