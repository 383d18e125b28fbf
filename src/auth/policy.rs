//! The permission model, in one place: what each kind of caller may do. The route table
//! names the [`Need`] of every route; the guard asks [`permits`] before any handler runs,
//! for the UI and the JSON API alike.
//!
//! - owners and admins may do everything a route table entry allows (owner-only rules on
//!   memberships are checked where the membership is changed);
//! - members read everything and send events, and change nothing else (no contacts,
//!   imports, fields, sources, patterns, automations, templates, keys or members, and no
//!   test mail);
//! - an API key acts for its workspace as an admin would.

use super::Role;

/// What a route requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Need {
    /// Look at the workspace's data.
    Read,
    /// Send events in (every member may).
    Send,
    /// Change the workspace's data or configuration.
    Manage,
}

/// Who is asking, as far as permissions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// A workspace API key.
    Key,
    /// A signed-in person with this role in the workspace.
    Person(Role),
}

/// Whether `caller` may do what `need` names.
pub fn permits(caller: Caller, need: Need) -> bool {
    match (caller, need) {
        (_, Need::Read | Need::Send) => true,
        (Caller::Key, Need::Manage) => true,
        (Caller::Person(role), Need::Manage) => matches!(role, Role::Owner | Role::Admin),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_read_and_send_but_change_nothing() {
        let member = Caller::Person(Role::Member);
        assert!(permits(member, Need::Read));
        assert!(permits(member, Need::Send));
        assert!(!permits(member, Need::Manage));
        for caller in [
            Caller::Key,
            Caller::Person(Role::Owner),
            Caller::Person(Role::Admin),
        ] {
            assert!(permits(caller, Need::Manage), "{caller:?}");
        }
    }
}
