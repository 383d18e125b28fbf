//! The step list of the editor: each step's inputs named by position, with move up / down,
//! remove, add-step buttons per block, and nested then / else blocks for branches.

use maud::{Markup, html};

use super::form::{join, value_text};
use crate::automations::definition::{Comparison, Condition, Op, Step};

/// What step rendering needs from the page.
pub(super) struct StepCtx<'a> {
    /// The workspace's templates as (id, name).
    pub templates: &'a [(String, String)],
    /// The workspace's lists as (id, name).
    pub lists: &'a [(String, String)],
    /// The position the validation error points into, with the message.
    pub error: Option<(String, String)>,
}

const KINDS: [(&str, &str); 10] = [
    ("email", "Email"),
    ("sms", "SMS"),
    ("whatsapp", "WhatsApp"),
    ("wait", "Wait"),
    ("branch", "Branch"),
    ("update_contact", "Update contact"),
    ("add_to_list", "Add to list"),
    ("remove_from_list", "Remove from list"),
    ("webhook", "Webhook"),
    ("exit", "Exit"),
];

const OPS: [(Op, &str, &str); 6] = [
    (Op::Eq, "eq", "equals"),
    (Op::Neq, "neq", "does not equal"),
    (Op::Contains, "contains", "contains"),
    (Op::Exists, "exists", "exists"),
    (Op::Gt, "gt", "greater than"),
    (Op::Lt, "lt", "less than"),
];

/// The inputs of one `{field, op, value}` condition, named `{prefix}.field` etc.
pub(super) fn comparison_inputs(prefix: &str, c: &Comparison) -> Markup {
    html! {
        label { "Field"
            input type="text" name=(format!("{prefix}.field")) value=(c.field) list="condition-fields" placeholder="contact.tags" autocomplete="off";
        }
        label { "Operator"
            select name=(format!("{prefix}.op")) {
                @for (op, value, label) in OPS { option value=(value) selected[op == c.op] { (label) } }
            }
        }
        label { "Value"
            input type="text" name=(format!("{prefix}.value")) value=(value_text(&c.value)) placeholder="vip, 42, true";
        }
    }
}

fn kind_label(step: &Step) -> &'static str {
    KINDS
        .iter()
        .find(|(k, _)| *k == step.kind())
        .map_or("Step", |(_, label)| label)
}

/// A block of steps (`path` "" for the top level, `"2.then"` inside a branch) and its add
/// buttons.
pub(super) fn block(steps: &[Step], path: &str, ctx: &StepCtx) -> Markup {
    html! {
        @if steps.is_empty() {
            p.empty { "No steps here yet." }
        } @else {
            ol.steps.indented {
                @for (i, step) in steps.iter().enumerate() { (item(step, &join(path, i), i, steps.len(), ctx)) }
            }
        }
        div.filters {
            span.muted { "Add step:" }
            @for (kind, label) in KINDS {
                button type="submit" name="op" value=(format!("add:{path}:{kind}")) { "+ " (label) }
            }
        }
    }
}

fn item(step: &Step, pos: &str, i: usize, len: usize, ctx: &StepCtx) -> Markup {
    html! {
        li.card id=(format!("step-{pos}")) {
            div.filters {
                strong { (kind_label(step)) }
                span.muted { "position " code { (pos) } }
                button type="submit" name="op" value=(format!("up:{pos}")) disabled[i == 0] title="Move up" aria-label="Move up" { "↑" }
                button type="submit" name="op" value=(format!("down:{pos}")) disabled[i + 1 == len] title="Move down" aria-label="Move down" { "↓" }
                button.danger type="submit" name="op" value=(format!("remove:{pos}")) { "Remove" }
            }
            @if let Some((at, message)) = &ctx.error && at == pos {
                p.error role="alert" { (message) }
            }
            (step_inputs(step, pos, ctx))
        }
    }
}

/// The template picker of a message step, keeping a template that no longer exists.
fn template_select(name: &str, template: &str, ctx: &StepCtx) -> Markup {
    html! {
        label { "Template"
            select name=(name) {
                option value="" { "— choose a template —" }
                @for (uid, label) in ctx.templates { option value=(uid) selected[uid == template] { (label) } }
                @if !template.is_empty() && !ctx.templates.iter().any(|(uid, _)| uid == template) {
                    option value=(template) selected { "(missing template " (template) ")" }
                }
            }
        }
    }
}

fn step_inputs(step: &Step, pos: &str, ctx: &StepCtx) -> Markup {
    let name = |field: &str| format!("s.{pos}.{field}");
    match step {
        Step::Sms { template, channel } | Step::Whatsapp { template, channel } => html! {
            (template_select(&name("template"), template, ctx))
            label { "Channel id" input type="text" name=(name("channel")) value=(channel) placeholder="ch_… (Settings → Channels)"; }
        },
        Step::Email { template, .. } => html! {
            (template_select(&name("template"), template, ctx))
            @if ctx.templates.is_empty() { p.muted { "No templates yet: " a href="/templates/new" { "create one" } " first." } }
        },
        Step::Wait { duration, until } => html! {
            div.filters {
                label { "Wait"
                    select name=(name("mode")) {
                        option value="duration" selected[until.is_none()] { "for a duration" }
                        option value="until" selected[until.is_some()] { "until a time" }
                    }
                }
                label { "Duration" input type="text" name=(name("duration")) value=(duration.clone().unwrap_or_default()) placeholder="2d, 3h, 15m or 30s"; }
                label { "Until" input type="text" name=(name("until")) value=(until.clone().unwrap_or_default()) placeholder="2030-01-31T09:00:00Z"; }
            }
        },
        Step::Branch {
            condition,
            then,
            otherwise,
        } => html! {
            @if let Condition::Compare(c) = condition {
                div.filters { strong { "If" } (comparison_inputs(&name("if"), c)) }
            } @else {
                p { strong { "If " } span.muted { "(a condition group: edit it as JSON below)" } }
                pre.props { (serde_json::to_string_pretty(condition).unwrap_or_default()) }
            }
            div.branch {
                h3 { "Then" }
                (block(then, &format!("{pos}.then"), ctx))
                h3 { "Else" }
                (block(otherwise, &format!("{pos}.else"), ctx))
            }
        },
        Step::UpdateContact {
            set,
            add_tags,
            remove_tags,
        } => update_inputs(set, add_tags, remove_tags, &name),
        Step::Webhook { url, method } => html! {
            div.filters {
                label { "URL" input type="text" name=(name("url")) value=(url) placeholder="https://example.com/hook"; }
                label { "Method"
                    select name=(name("method")) {
                        @for m in ["POST", "PUT", "PATCH"] { option value=(m) selected[method.eq_ignore_ascii_case(m)] { (m) } }
                    }
                }
            }
            p.muted { "Signed with the workspace's signing secret (" a href="/settings#webhook-secret" { "Settings" } "); the receiver verifies it with a Standard Webhooks library." }
        },
        Step::AddToList { list } | Step::RemoveFromList { list } => html! {
            label { "List"
                select name=(name("list")) {
                    option value="" { "— choose a list —" }
                    @for (uid, label) in ctx.lists { option value=(uid) selected[uid == list] { (label) } }
                    @if !list.is_empty() && !ctx.lists.iter().any(|(uid, _)| uid == list) {
                        option value=(list) selected { "(missing list " (list) ")" }
                    }
                }
            }
            @if ctx.lists.is_empty() { p.muted { "No lists yet: " a href="/lists" { "create one" } " first." } }
            @if matches!(step, Step::AddToList { .. }) { p.muted { "The contact joins confirmed: whoever runs this automation vouches for the consent." } }
        },
        Step::Exit => html! { p.muted { "Ends the enrollment here." } },
    }
}

/// One row per field to set plus an empty row, so a field is added without JavaScript.
fn update_inputs(
    set: &serde_json::Map<String, serde_json::Value>,
    add_tags: &[String],
    remove_tags: &[String],
    name: &impl Fn(&str) -> String,
) -> Markup {
    html! {
        @for (k, (field, value)) in set.iter().map(|(f, v)| (f.as_str(), value_text(v))).chain([("", String::new())]).enumerate() {
            div.filters {
                label { "Set field" input type="text" name=(name(&format!("set.{k}.field"))) value=(field) list="contact-set-fields" placeholder="firstName" autocomplete="off"; }
                label { "to" input type="text" name=(name(&format!("set.{k}.value"))) value=(value); }
            }
        }
        div.filters {
            label { "Add tags" input type="text" name=(name("add_tags")) value=(add_tags.join(", ")) placeholder="customer, vip"; }
            label { "Remove tags" input type="text" name=(name("remove_tags")) value=(remove_tags.join(", ")) placeholder="trial"; }
        }
    }
}
