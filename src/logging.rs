//! Tracing output in text or JSON, as configured.
//!
//! Text logs escape control characters inside each line, so a newline in user input (an
//! email, a path, an event name) cannot forge a log line of its own.

use std::io::{self, IsTerminal, Write};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber; `RUST_LOG` wins over `log.level` when set.
pub fn init(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        let mut filter = EnvFilter::new(&config.level);
        if !config.level.contains("refinery") {
            // Migration chatter on every start is noise; applied migrations are reported by Herald.
            filter = filter.add_directive("refinery_core=warn".parse().expect("static directive"));
        }
        filter
    });
    let ansi = io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(EscapedStderr { ansi })
        .with_ansi(ansi);
    let _ = match config.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Stderr, with every control character of a line except its final newline escaped
/// (`\n` becomes the two characters `\` `n`). JSON lines are already escaped, so only
/// text lines change. With colours on, the formatter's own escape sequences stay.
#[derive(Clone, Copy)]
struct EscapedStderr {
    ansi: bool,
}

impl<'a> MakeWriter<'a> for EscapedStderr {
    type Writer = EscapingWriter;

    fn make_writer(&'a self) -> Self::Writer {
        EscapingWriter { ansi: self.ansi }
    }
}

/// Writes one formatted event (the formatter writes each event in one call).
struct EscapingWriter {
    ansi: bool,
}

/// The line with its control characters escaped, keeping one trailing newline.
fn escape_line(line: &str, keep_escape_sequences: bool) -> String {
    let (body, newline) = match line.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (line, ""),
    };
    let mut out = String::with_capacity(body.len() + 1);
    for c in body.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push('\t'),
            '\u{1b}' if keep_escape_sequences => out.push(c),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out.push_str(newline);
    out
}

impl Write for EscapingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        io::stderr().write_all(escape_line(&text, self.ansi).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::escape_line;

    #[test]
    fn a_forged_line_stays_inside_its_own() {
        let line = "INFO login failed email=a@b.c\nERROR admin signed in\r\x07\n";
        assert_eq!(
            escape_line(line, false),
            "INFO login failed email=a@b.c\\nERROR admin signed in\\r\\u{7}\n"
        );
        assert_eq!(
            escape_line("\x1b[1mx\x1b[0m\n", false),
            "\\u{1b}[1mx\\u{1b}[0m\n"
        );
        assert_eq!(escape_line("\x1b[1mx\n", true), "\x1b[1mx\n");
    }
}
