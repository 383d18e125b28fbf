//! The footer every marketing email carries: links to the contact's preferences page and
//! to one-click unsubscribe, in the HTML part and written out in full in the plain-text
//! part, whatever the template itself says.

pub use crate::templates::OptOutUrls as OptOutLinks;

/// The links for the contact with this uid, signed by the store's link signer.
pub fn links_for(uid: &str) -> OptOutLinks {
    let links = super::links::in_store();
    OptOutLinks {
        unsubscribe: links.unsubscribe_url(uid),
        preferences: links.preferences_url(uid),
    }
}

/// The HTML part with the footer before `</body>` (or at the end).
pub fn html_with_footer(html: &str, links: &OptOutLinks) -> String {
    let footer = format!(
        "<p style=\"margin-top:2em;font-size:12px;color:#6b7280\">\
         <a href=\"{}\">Manage your email preferences</a> · <a href=\"{}\">Unsubscribe</a></p>",
        escape(&links.preferences),
        escape(&links.unsubscribe)
    );
    match html.to_ascii_lowercase().rfind("</body>") {
        Some(at) => format!("{}{footer}{}", &html[..at], &html[at..]),
        None => format!("{html}{footer}"),
    }
}

/// The plain-text part with both URLs in full at the end.
pub fn text_with_footer(text: &str, links: &OptOutLinks) -> String {
    format!(
        "{}\n\n--\nManage your email preferences: {}\nUnsubscribe: {}\n",
        text.trim_end(),
        links.preferences,
        links.unsubscribe
    )
}

fn escape(url: &str) -> String {
    url.replace('&', "&amp;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> OptOutLinks {
        OptOutLinks {
            unsubscribe: "https://h.example/unsubscribe/t".into(),
            preferences: "https://h.example/preferences/t".into(),
        }
    }

    #[test]
    fn the_footer_goes_inside_the_body() {
        let html = html_with_footer("<html><BODY><p>Hi</p></BODY></html>", &links());
        assert!(
            html.ends_with("Unsubscribe</a></p></BODY></html>"),
            "{html}"
        );
        assert!(html.contains("href=\"https://h.example/preferences/t\""));
    }

    #[test]
    fn plain_text_carries_both_urls_in_full() {
        let text = text_with_footer("Hi\n\n", &links());
        assert!(text.starts_with("Hi\n\n--\n"));
        assert!(text.contains("preferences: https://h.example/preferences/t\n"));
        assert!(text.contains("Unsubscribe: https://h.example/unsubscribe/t\n"));
    }
}
