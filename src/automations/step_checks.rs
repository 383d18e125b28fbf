//! The rules of the steps that send a message, apart from the definition's shape: a
//! template and a channel that exist and are of the step's own kind.

use super::definition::{Invalid, Known, invalid};

/// A message step names a template and a channel of its own kind (an email step may
/// leave the channel out, or say `"email"`, for the install's sender).
pub fn validate_message(
    here: &str,
    kind: &str,
    template: &str,
    channel: Option<&str>,
    known: &Known<'_>,
) -> Result<(), Invalid> {
    match (known.template)(template) {
        None => {
            return Err(invalid(
                format!("{here}.template"),
                format!("no template with id '{template}'"),
            ));
        }
        Some(k) if k != kind => {
            return Err(invalid(
                format!("{here}.template"),
                format!("'{template}' is an {k} template; this step sends {kind}"),
            ));
        }
        Some(_) => {}
    }
    let Some(channel) = channel.filter(|c| !(kind == "email" && *c == "email")) else {
        return Ok(());
    };
    match (known.channel)(channel) {
        Some(k) if k == kind => Ok(()),
        _ => Err(invalid(
            format!("{here}.channel"),
            format!("no {kind} channel with id '{channel}'"),
        )),
    }
}
