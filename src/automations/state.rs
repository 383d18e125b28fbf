//! Where an enrollment is, as stored and reported.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};

/// Where an enrollment is: running (`active`, or `waiting` on the timer queue) or ended
/// (`completed`, `exited`, `failed`). Stored and reported as the lowercase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnrollmentState {
    Active,
    Waiting,
    Completed,
    Exited,
    Failed,
}

impl EnrollmentState {
    /// The stored and reported name.
    pub fn as_str(self) -> &'static str {
        match self {
            EnrollmentState::Active => "active",
            EnrollmentState::Waiting => "waiting",
            EnrollmentState::Completed => "completed",
            EnrollmentState::Exited => "exited",
            EnrollmentState::Failed => "failed",
        }
    }

    /// Whether the runner may still advance it.
    pub fn is_running(self) -> bool {
        matches!(self, EnrollmentState::Active | EnrollmentState::Waiting)
    }
}

impl std::str::FromStr for EnrollmentState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "active" => EnrollmentState::Active,
            "waiting" => EnrollmentState::Waiting,
            "completed" => EnrollmentState::Completed,
            "exited" => EnrollmentState::Exited,
            "failed" => EnrollmentState::Failed,
            other => return Err(format!("unknown enrollment state '{other}'")),
        })
    }
}

impl std::fmt::Display for EnrollmentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ToSql for EnrollmentState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for EnrollmentState {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value
            .as_str()?
            .parse()
            .map_err(|e: String| FromSqlError::Other(e.into()))
    }
}
