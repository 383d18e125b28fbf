//! The editor's fixed sections (trigger with pattern autocomplete, filter rows) and the
//! names they offer: templates, declared patterns, contact fields.

use maud::{Markup, html};

use super::form::filter_rows;
use super::steps::comparison_inputs;
use crate::automations::definition::{Definition, Frequency, TriggerType};
use crate::contacts::ContactError;
use crate::events::patterns;
use crate::http::state::AppState;
use crate::kinds::WorkspaceId;
use crate::ui::PageError;

/// Names the editor offers: templates, declared patterns, condition and contact fields.
pub(super) struct Catalog {
    pub templates: Vec<(String, String)>,
    pub lists: Vec<(String, String)>,
    pub patterns: Vec<String>,
    pub custom_fields: Vec<String>,
}

pub(super) fn catalog(state: &AppState, ws: WorkspaceId) -> Result<Catalog, PageError> {
    state.store.read(|conn| -> Result<Catalog, PageError> {
        let custom_fields = match crate::contacts::fields::list(conn, ws) {
            Ok(fields) => fields.into_iter().map(|f| f.key).collect(),
            Err(ContactError::Store(e)) => return Err(e.into()),
            Err(_) => Vec::new(),
        };
        Ok(Catalog {
            templates: crate::templates::store::list(conn, ws)?
                .into_iter()
                .map(|t| (t.uid, t.name))
                .collect(),
            lists: crate::lists::store::all(conn, ws)
                .map_err(|_| PageError::Internal)?
                .into_iter()
                .map(|l| (l.uid, l.name))
                .collect(),
            patterns: patterns::list(conn, ws)?
                .into_iter()
                .map(|p| p.name)
                .collect(),
            custom_fields,
        })
    })
}

pub(super) fn trigger_section(def: &Definition, catalog: &Catalog, create_pattern: bool) -> Markup {
    let event = def.trigger.event.clone().unwrap_or_default();
    let declared = catalog.patterns.contains(&event);
    let kinds = [
        (TriggerType::Event, "Event received"),
        (TriggerType::ContactAdded, "Contact added"),
        (TriggerType::ContactUpdated, "Contact updated"),
        (TriggerType::ListJoined, "Contact joined a list"),
    ];
    let list = def.trigger.key().unwrap_or_default();
    html! {
        section.card {
            h2 { "Trigger" }
            div.filters {
                label { "Starts when"
                    select name="trigger_type" {
                        @for (kind, label) in kinds { option value=(kind.as_str()) selected[def.trigger.kind == kind] { (label) } }
                    }
                }
                label { "Event name " span.muted { "(for Event received)" }
                    input type="text" name="trigger_event" value=(event) list="event-patterns" autocomplete="off" placeholder="signUp";
                }
                label { "List " span.muted { "(for Contact joined a list)" }
                    select name="trigger_list" {
                        option value="" { "— choose a list —" }
                        @for (uid, name) in &catalog.lists { option value=(uid) selected[def.trigger.kind == TriggerType::ListJoined && uid == list] { (name) } }
                    }
                }
            }
            datalist #event-patterns { @for p in &catalog.patterns { option value=(p) {} } }
            @if declared {
                p.muted { "✓ " code { (event) } " is a declared pattern." }
            } @else {
                label {
                    input type="checkbox" name="create_pattern" value="1" checked[create_pattern];
                    " Create the pattern " @if event.is_empty() { "for this name" } @else { code { (event) } } " when saving"
                }
            }
            div.filters {
                label { "Frequency"
                    select name="frequency" {
                        option value="every_time" selected[def.frequency == Frequency::EveryTime] { "Every time" }
                        option value="once_per_contact" selected[def.frequency == Frequency::OncePerContact] { "One time per contact" }
                    }
                }
                label { "Exit on events " span.muted { "(comma-separated)" }
                    input type="text" name="exit_on" value=(def.exit_on.join(", ")) placeholder="purchased, cancelled";
                }
            }
            p.muted { "Any exit event drops the contact's active enrollment in this automation, whatever step it is on." }
        }
    }
}

pub(super) fn filters_section(def: &Definition, catalog: &Catalog) -> Markup {
    let contact_fields = ["email", "firstName", "lastName", "name", "phone", "tags"];
    html! {
        section.card {
            h2 { "Filters" }
            datalist #condition-fields {
                @for f in contact_fields { option value=(format!("contact.{f}")) {} }
                @for f in &catalog.custom_fields { option value=(format!("contact.{f}")) {} }
                option value="event." {}
            }
            @match filter_rows(&def.filters) {
                Some((all, rows)) => {
                    label { "Enroll contacts matching"
                        select name="f.match" {
                            option value="all" selected[all] { "all of these conditions" }
                            option value="any" selected[!all] { "any of these conditions" }
                        }
                    }
                    @if rows.is_empty() { p.muted { "No filters: every contact that triggers is enrolled." } }
                    @for (i, row) in rows.iter().enumerate() {
                        div.filters {
                            (comparison_inputs(&format!("f.{i}"), row))
                            button.danger type="submit" name="op" value=(format!("remove_filter:{i}")) { "Remove" }
                        }
                    }
                    button type="submit" name="op" value="add_filter" { "+ Filter" }
                    p.muted { "Fields: " code { "contact.tags" } ", " code { "contact.firstName" } ", " code { "contact.<custom field>" } ", " code { "event.<property>" } ". Numbers and true / false are compared as such." }
                }
                None => {
                    p.muted { "These filters nest condition groups: edit them as JSON below." }
                    pre.props { (serde_json::to_string_pretty(&def.filters).unwrap_or_default()) }
                }
            }
        }
    }
}
