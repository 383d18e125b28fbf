//! Who is calling: users, workspaces and roles, sign-in sessions, CSRF, API keys.

pub mod accounts;
pub mod api_keys;
pub mod key_cache;
pub mod pages;
pub mod passwords;
pub mod policy;
pub mod secrets;
pub mod sessions;
pub mod setup;
pub mod throttle;

use std::fmt;
use std::str::FromStr;

use crate::store::StoreError;

/// Failures of the account and credential domain.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for AuthError {
    fn from(e: rusqlite::Error) -> Self {
        AuthError::Store(StoreError::from(e))
    }
}

/// What a member may do in a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    /// Whether this role may change the workspace (the policy's answer, for pages that
    /// hide buttons a person cannot use).
    pub fn can_manage(self) -> bool {
        policy::permits(policy::Caller::Person(self), policy::Need::Manage)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            other => Err(format!("unknown role '{other}' (owner, admin or member)")),
        }
    }
}

/// Normalises an email for identity: trimmed and lower-cased; rejects the obviously wrong.
pub fn normalize_email(raw: &str) -> Result<String, AuthError> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(AuthError::Invalid(format!(
            "'{}' is not a valid email address",
            raw.trim()
        )))
    }
}
