//! Where a page may send the browser back to (`next=` after sign-in and the like).
//!
//! A return URL comes from the request, so an attacker can write one into a link. Only
//! a path on this origin is followed; anything a browser could read as another host
//! (`//host`, `/\host`, `/<TAB>/host`, which browsers strip to `//host`) or a scheme
//! falls back to `/`. Every redirect to a caller-supplied location goes through
//! [`same_origin_path`].

/// Longest return path kept; longer ones are not worth the risk of odd parsing.
const MAX_LEN: usize = 2048;
/// Percent-decoding rounds examined; a value still changing after that is refused.
const MAX_DECODES: usize = 4;

/// `raw` if it is a path on this origin, otherwise `/`.
///
/// Accepted: starts with exactly one `/`, not followed by `/` or `\`; no `\`, control
/// character or whitespace anywhere, checked again after each round of percent-decoding
/// so an encoded `%2F` or `%09` cannot hide one. Starting with `/` also rules out a
/// scheme. The value is returned as given, not decoded.
pub fn same_origin_path(raw: &str) -> &str {
    if raw.len() <= MAX_LEN && every_decoding_is_local(raw) {
        raw
    } else {
        "/"
    }
}

fn every_decoding_is_local(raw: &str) -> bool {
    let mut current = raw.to_string();
    for _ in 0..MAX_DECODES {
        if !looks_local(&current) {
            return false;
        }
        match percent_decode(&current) {
            Some(decoded) if decoded == current => return true,
            Some(decoded) => current = decoded,
            None => return false,
        }
    }
    false
}

fn looks_local(path: &str) -> bool {
    let mut chars = path.chars();
    chars.next() == Some('/')
        && !matches!(chars.next(), Some('/' | '\\'))
        && !path
            .chars()
            .any(|c| c == '\\' || c.is_control() || c.is_whitespace())
}

/// One round of `%XY` decoding; `None` when the bytes are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_on_this_origin_survive() {
        let cases = [
            ("/", "/"),
            ("/contacts?page=2", "/contacts?page=2"),
            ("/contacts/abc/edit#notes", "/contacts/abc/edit#notes"),
            ("/search?q=a+b&tag=vip", "/search?q=a+b&tag=vip"),
            ("/caf%C3%A9", "/caf%C3%A9"),
            ("/100%", "/100%"),
            ("/%zz", "/%zz"),
            ("", "/"),
            ("contacts", "/"),
            ("//evil.example", "/"),
            ("///evil.example", "/"),
            ("/\\evil.example", "/"),
            ("\\\\evil.example", "/"),
            ("/\t/evil.example", "/"),
            ("/%09/evil.example", "/"),
            ("/%2F%2Fevil.example", "/"),
            ("/%2F/evil.example", "/"),
            ("%2F%2Fevil.example", "/"),
            ("/%5Cevil.example", "/"),
            ("/%255Cevil.example", "/"),
            ("/%25252F%25252Fevil", "/"),
            ("/ok\n/x", "/"),
            ("/ok%0d%0aSet-Cookie:x", "/"),
            ("/a b", "/"),
            ("/a%20b", "/"),
            ("/\u{a0}/evil.example", "/"),
            ("https://evil.example", "/"),
            ("http:/evil.example", "/"),
            ("javascript:alert(1)", "/"),
            (" /contacts", "/"),
            ("/%FF", "/"),
        ];
        for (raw, want) in cases {
            assert_eq!(same_origin_path(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn overlong_paths_fall_back_to_root() {
        let long = format!("/{}", "a".repeat(MAX_LEN));
        assert_eq!(same_origin_path(&long), "/");
    }
}
