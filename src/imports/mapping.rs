//! Which contact property each CSV column feeds: guessed from the header names, overridable
//! per column by the person importing.

use serde::{Deserialize, Serialize};

use crate::contacts::ContactError;
use crate::contacts::fields::Field;

/// A built-in property or a declared custom field a column can be imported into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Email,
    FirstName,
    LastName,
    Name,
    Phone,
    ExternalId,
    Tags,
    Subscribed,
    /// A declared custom field, by key.
    Custom(String),
    /// The column is not imported.
    Ignore,
}

/// Built-in targets with their API names and the header spellings they match, compared
/// after lower-casing and dropping everything but letters and digits ("E-mail" → "email").
const BUILT_INS: &[(&str, &[&str])] = &[
    ("email", &["email", "emailaddress", "mail"]),
    (
        "firstName",
        &["firstname", "givenname", "forename", "first"],
    ),
    ("lastName", &["lastname", "surname", "familyname", "last"]),
    ("name", &["name", "fullname", "displayname"]),
    (
        "phone",
        &[
            "phone",
            "phonenumber",
            "mobile",
            "mobilephone",
            "telephone",
            "tel",
            "cell",
        ],
    ),
    ("externalId", &["externalid", "userid", "customerid"]),
    ("tags", &["tags", "tag", "labels"]),
    (
        "subscribed",
        &["subscribed", "subscription", "optin", "optedin"],
    ),
];

impl Target {
    /// The name used in mappings and in the UI's select.
    pub fn as_str(&self) -> &str {
        match self {
            Target::Email => "email",
            Target::FirstName => "firstName",
            Target::LastName => "lastName",
            Target::Name => "name",
            Target::Phone => "phone",
            Target::ExternalId => "externalId",
            Target::Tags => "tags",
            Target::Subscribed => "subscribed",
            Target::Custom(key) => key,
            Target::Ignore => "ignore",
        }
    }

    fn built_in(name: &str) -> Option<Target> {
        Some(match name {
            "email" => Target::Email,
            "firstName" => Target::FirstName,
            "lastName" => Target::LastName,
            "name" => Target::Name,
            "phone" => Target::Phone,
            "externalId" => Target::ExternalId,
            "tags" => Target::Tags,
            "subscribed" => Target::Subscribed,
            _ => return None,
        })
    }

    /// Parses a mapping value: a built-in name, a declared field key, or `ignore` / empty.
    pub fn parse(raw: &str, declared: &[Field]) -> Result<Target, ContactError> {
        let raw = raw.trim();
        if raw.is_empty() || raw.eq_ignore_ascii_case("ignore") {
            return Ok(Target::Ignore);
        }
        if let Some(target) = Target::built_in(raw) {
            return Ok(target);
        }
        if let Some((name, _)) = BUILT_INS.iter().find(|(n, _)| n.eq_ignore_ascii_case(raw)) {
            return Ok(Target::built_in(name).expect("listed built-in"));
        }
        match declared.iter().find(|f| f.key == raw) {
            Some(field) => Ok(Target::Custom(field.key.clone())),
            None => Err(ContactError::Invalid(format!(
                "Cannot map a column to '{raw}': use email, firstName, lastName, name, phone, externalId, tags, subscribed, ignore or a declared contact field"
            ))),
        }
    }
}

/// Every target a column may choose, in the order the UI lists them.
pub fn choices(declared: &[Field]) -> Vec<(Target, String)> {
    let mut out = vec![(Target::Ignore, "Ignore this column".to_string())];
    for (name, _) in BUILT_INS {
        out.push((
            Target::built_in(name).expect("listed built-in"),
            name.to_string(),
        ));
    }
    for field in declared {
        out.push((
            Target::Custom(field.key.clone()),
            format!("{} (custom field)", field.label),
        ));
    }
    out
}

fn squash(header: &str) -> String {
    header
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The target a header most likely means, by name, alias or declared field key / label.
pub fn guess(header: &str, declared: &[Field]) -> Target {
    let squashed = squash(header);
    if squashed.is_empty() {
        return Target::Ignore;
    }
    for (name, aliases) in BUILT_INS {
        if aliases.contains(&squashed.as_str()) {
            return Target::built_in(name).expect("listed built-in");
        }
    }
    declared
        .iter()
        .find(|f| squash(&f.key) == squashed || squash(&f.label) == squashed)
        .map(|f| Target::Custom(f.key.clone()))
        .unwrap_or(Target::Ignore)
}

/// One CSV column and where it goes; stored (as JSON) with the import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub header: String,
    pub field: String,
}

/// The default mapping of a header row: each header guessed, a target used once at most.
pub fn default_targets(headers: &[String], declared: &[Field]) -> Vec<Target> {
    let mut taken: Vec<Target> = Vec::new();
    headers
        .iter()
        .map(|h| {
            let target = guess(h, declared);
            if target == Target::Ignore || taken.contains(&target) {
                Target::Ignore
            } else {
                taken.push(target.clone());
                target
            }
        })
        .collect()
}

/// Checks a complete choice of targets (one per column) and turns it into stored columns:
/// an email column is required and no property may be fed by two columns.
pub fn finish(headers: &[String], targets: &[Target]) -> Result<Vec<Column>, ContactError> {
    if !targets.contains(&Target::Email) {
        return Err(ContactError::Invalid(
            "No column is mapped to email; every contact needs one".into(),
        ));
    }
    for (i, target) in targets.iter().enumerate() {
        if *target != Target::Ignore && targets[..i].contains(target) {
            return Err(ContactError::Invalid(format!(
                "Two columns are mapped to {}",
                target.as_str()
            )));
        }
    }
    Ok(headers
        .iter()
        .zip(targets)
        .map(|(h, t)| Column {
            header: h.clone(),
            field: t.as_str().to_string(),
        })
        .collect())
}

/// The default mapping with `overrides` (header → target name) applied on top; an
/// override naming a header the file does not have is refused.
pub fn resolve(
    headers: &[String],
    overrides: &[(String, String)],
    declared: &[Field],
) -> Result<Vec<Column>, ContactError> {
    let mut chosen: Vec<(&str, Target)> = Vec::new();
    for (header, field) in overrides {
        if !headers.contains(header) {
            return Err(ContactError::Invalid(format!(
                "The mapping names a column '{header}' that is not in the CSV header"
            )));
        }
        chosen.push((header, Target::parse(field, declared)?));
    }
    let defaults = default_targets(headers, declared);
    // A column left to its default yields a target that an override has taken.
    let targets: Vec<Target> = headers
        .iter()
        .zip(defaults)
        .map(|(h, guessed)| match chosen.iter().find(|(ch, _)| ch == h) {
            Some((_, target)) => target.clone(),
            None if chosen.iter().any(|(_, t)| *t == guessed) => Target::Ignore,
            None => guessed,
        })
        .collect();
    finish(headers, &targets)
}

/// A stored column's target, re-read when an import runs (fields may have been removed
/// since; such a column is then reported on every row rather than silently dropped).
pub fn stored_target(column: &Column) -> Target {
    Target::built_in(&column.field).unwrap_or_else(|| match column.field.as_str() {
        "ignore" => Target::Ignore,
        key => Target::Custom(key.to_string()),
    })
}
