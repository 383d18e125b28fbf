//! The code-structure rules of STYLE.md, checked by reading `src/`: dependencies point one
//! way, SQL stays out of handlers and pages, and files and functions stay small.
//!
//! Layers, lowest first (a file may import its own layer's module or any lower layer):
//! 0. shared kinds: `kinds`, then `net`, `config`, `logging` (in that order);
//! 1. storage: `store`, then `jobs`;
//! 2. domain features, in this order: `auth`, `workspaces`, `webhooks`, `contacts`, `events`,
//!    `templates`, `channels`, `delivery`, `lists`, `segments`, `automations`, `forms`, `imports`
//!    (a feature may import earlier ones);
//! 3. `ui` (HTML shell), then 4. `http` (web context, extractors, guard, errors);
//! 5. feature adapters: a feature's `api.rs`, `pages.rs`, `pages/`, and the other files
//!    listed in [`ADAPTER_FILES`]; `settings/` and `workspaces.rs` are pages only; an
//!    adapter may import any lower layer but not another feature's adapters;
//! 6. wiring: `app`, `cli`, `ops`, `main`, `lib`. Nothing below imports them.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

const FEATURES: &[&str] = &[
    "auth",
    "workspaces",
    "webhooks",
    "contacts",
    "events",
    "templates",
    "channels",
    "delivery",
    "lists",
    "segments",
    "automations",
    "forms",
    "privacy",
    "imports",
    "settings",
];

/// Files inside a feature that speak HTTP, beyond `api.rs`, `pages.rs` and `pages/`.
const ADAPTER_FILES: &[&str] = &[
    "channels/generic.rs",
    "channels/generic_text.rs",
    "channels/callbacks.rs",
    "channels/pages_dkim.rs",
    "channels/pages_text.rs",
    "events/v1.rs",
    "events/v1_sync.rs",
    "events/sources/hook.rs",
    "events/sources/views.rs",
    "delivery/unsubscribe.rs",
    "contacts/export.rs",
    "lists/public.rs",
    "forms/public.rs",
    "forms/hosted.rs",
    "forms/answer.rs",
];

/// Where a file sits: its layer and the module that owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    layer: u8,
    /// Rank inside the layer (lower may be imported by higher).
    rank: usize,
    module: String,
}

fn place(rel: &str) -> Place {
    let top = rel.split('/').next().unwrap().trim_end_matches(".rs");
    let at = |layer: u8, order: &[&str]| Place {
        layer,
        rank: order.iter().position(|m| *m == top).unwrap_or(0),
        module: top.to_string(),
    };
    match top {
        "kinds" | "net" | "config" | "logging" => at(0, &["kinds", "net", "config", "logging"]),
        "store" | "jobs" => at(1, &["store", "jobs"]),
        "ui" => at(3, &["ui"]),
        "http" => at(4, &["http"]),
        t if FEATURES.contains(&t) => {
            let adapter = !rel.contains('/')
                || t == "settings"
                || rel.ends_with("/api.rs")
                || rel.ends_with("/pages.rs")
                || rel.contains("/pages/")
                || ADAPTER_FILES.contains(&rel);
            if adapter { at(5, &[]) } else { at(2, FEATURES) }
        }
        _ => at(6, &[]),
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `src/` file as (path relative to `src/`, text without its `#[cfg(test)]` tail).
fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let rel = path
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let text = fs::read_to_string(&path).unwrap();
            let code = match text.find("#[cfg(test)]") {
                Some(i) => text[..i].to_string(),
                None => text,
            };
            (rel, code)
        })
        .collect()
}

/// The `crate::…` paths a file names, expanded out of `use crate::{a, b::c}` groups.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let path: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let path = path.trim_end_matches(':').to_string();
        let after = &rest[path.len()..];
        let after = after.trim_start_matches(':');
        if after.starts_with('{') {
            let group = &after[1..after.find('}').unwrap_or(after.len())];
            for item in group.split(',') {
                let item = item.trim().trim_start_matches('{');
                let name: String = item
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                if name.is_empty() || name == "self" {
                    continue;
                }
                if path.is_empty() {
                    paths.insert(name);
                } else {
                    paths.insert(format!("{path}::{name}"));
                }
            }
        } else if !path.is_empty() {
            paths.insert(path);
        }
    }
    paths
}

/// The file a `crate::a::b::c` path lands in (the longest prefix that is a file).
fn target_file(path: &str, files: &BTreeSet<String>) -> Option<String> {
    let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
    (1..=parts.len()).rev().find_map(|n| {
        let base = parts[..n].join("/");
        [format!("{base}.rs"), format!("{base}/mod.rs")]
            .into_iter()
            .find(|f| files.contains(f))
    })
}

/// Whether `from` may import `to`.
fn allowed(from: &Place, to: &Place) -> bool {
    if to.layer != from.layer {
        return to.layer < from.layer;
    }
    if to.module == from.module {
        return true;
    }
    match from.layer {
        // Adapters of one feature do not reach into another feature's adapters.
        5 => false,
        6 => true,
        _ => to.rank < from.rank,
    }
}

#[test]
fn dependencies_point_one_way() {
    let sources = sources();
    let files: BTreeSet<String> = sources.iter().map(|(f, _)| f.clone()).collect();
    let mut upward = Vec::new();
    for (rel, code) in &sources {
        let from = place(rel);
        for path in crate_paths(code) {
            let Some(target) = target_file(&path, &files) else {
                continue;
            };
            let to = place(&target);
            if !allowed(&from, &to) {
                upward.push(format!("{rel} imports crate::{path} ({target})"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that point up the layers (see this file's doc):\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_layer_check_catches_an_upward_import() {
    let files: BTreeSet<String> = ["store/writer.rs", "automations/arrivals.rs", "app/mod.rs"]
        .into_iter()
        .map(String::from)
        .collect();
    let paths = crate_paths("use crate::{automations::arrivals::count_new, kinds::Clock};");
    let target = target_file("automations::arrivals::count_new", &files).unwrap();
    assert!(paths.contains("automations::arrivals::count_new"));
    assert!(!allowed(&place("store/writer.rs"), &place(&target)));
    assert!(allowed(&place("app/mod.rs"), &place(&target)));
    assert!(!allowed(&place("contacts/api.rs"), &place("events/api.rs")));
    assert!(allowed(
        &place("events/api.rs"),
        &place("contacts/store.rs")
    ));
    assert!(!allowed(
        &place("contacts/store.rs"),
        &place("events/log.rs")
    ));
}

/// Whether a line runs SQL on a connection.
fn runs_sql(line: &str) -> bool {
    [
        ".prepare_cached(",
        ".prepare(",
        ".query_row(",
        ".execute_batch(",
        "conn.execute(",
        ".query_map(",
    ]
    .iter()
    .any(|call| line.contains(call))
}

#[test]
fn handlers_and_pages_run_no_sql() {
    let mut found = Vec::new();
    for (rel, code) in sources() {
        let place = place(&rel);
        if !matches!(place.layer, 3..=5) {
            continue;
        }
        for (n, line) in code.lines().enumerate() {
            if runs_sql(line) {
                found.push(format!("{rel}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "SQL in the web layer; move it to the feature's store file:\n{}",
        found.join("\n")
    );
}

/// Lengths of the functions in `code`, from the `fn` line to its closing brace.
fn function_lengths(code: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_start();
        let is_fn = line.split_once("fn ").is_some_and(|(before, _)| {
            before
                .split_whitespace()
                .all(|w| matches!(w, "pub" | "async" | "const" | "unsafe") || w.starts_with("pub("))
        });
        if !is_fn {
            i += 1;
            continue;
        }
        let name: String = line
            .split_once("fn ")
            .unwrap()
            .1
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let (mut depth, mut opened, mut j) = (0i64, false, i);
        while j < lines.len() {
            let l = strip_literals(lines[j]);
            if !opened && l.trim_end().ends_with(';') {
                break;
            }
            for c in l.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if opened && depth <= 0 {
                out.push((name.clone(), j - i + 1));
                break;
            }
            j += 1;
        }
        i += 1;
    }
    out
}

/// A line without its string and char literals and comment, so braces inside them
/// do not count.
fn strip_literals(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        if in_str {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '/' if chars.peek() == Some(&'/') => break,
            '\'' => {
                // A char literal such as '{' or '\''; lifetimes have no closing quote.
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with("\\") && rest.len() == 3 && rest.ends_with('\'') {
                    chars.nth(2);
                } else if rest.chars().nth(1) == Some('\'') {
                    chars.nth(1);
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[test]
fn files_and_functions_stay_small() {
    let mut too_long = Vec::new();
    for (rel, code) in sources() {
        let lines = code.lines().count();
        if lines > 600 {
            too_long.push(format!("{rel}: {lines} lines (most 600)"));
        }
        for (name, n) in function_lengths(&code) {
            if n > 80 {
                too_long.push(format!("{rel}: fn {name} is {n} lines (most 80)"));
            }
        }
    }
    assert!(too_long.is_empty(), "{}", too_long.join("\n"));
}

#[test]
fn the_length_check_counts_a_function_to_its_closing_brace() {
    let code = "pub fn a() {\n    let s = \"}\";\n    if x { y('{') }\n}\nfn b();\n";
    assert_eq!(function_lengths(code), vec![("a".to_string(), 4)]);
}

#[test]
fn nothing_is_process_wide() {
    let mut statics = Vec::new();
    for (rel, code) in sources() {
        for (n, line) in code.lines().enumerate() {
            let line = line.trim_start();
            let mutable_static = (line.starts_with("static ") || line.starts_with("pub static "))
                && !line.contains("GLOBAL: mimalloc");
            if mutable_static || line.starts_with("thread_local!") {
                statics.push(format!("{rel}:{}: {line}", n + 1));
            }
        }
    }
    // Allowed, each documented where it lives: the store instance a thread is serving
    // (store/instance.rs), the template engine's work budget for the render on this
    // thread (templates/sandbox.rs), and immutable values computed once (asset hashes,
    // the compiled template engines, the dummy password hash, the parsed address ranges
    // outbound calls refuse, SQLite's page cache
    // wrapper, which SQLite itself installs process-wide).
    let allowed = [
        "store/instance.rs",
        "templates/sandbox.rs",
        "ui/assets.rs",
        "auth/passwords.rs",
        "store/page_cache.rs",
        "net/ssrf.rs",
    ];
    statics.retain(|s| !allowed.iter().any(|a| s.starts_with(a)));
    assert!(
        statics.is_empty(),
        "process-wide state:\n{}",
        statics.join("\n")
    );
}
