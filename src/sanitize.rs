//! Sanitize: text that comes from workloads (comm, cmdline, container and
//! pod names) is made safe to print in a log line or a table: control
//! characters and invalid UTF-8 become visible escapes, so a workload can
//! never forge a log line or move the terminal cursor.

use std::borrow::Cow;
use std::fmt::Write;

/// Lossily decodes bytes and escapes every control character
/// (`\n` → `\x0a`), including C1 controls and DEL.
pub fn bytes(raw: &[u8]) -> String {
    text(&String::from_utf8_lossy(raw)).into_owned()
}

/// Escapes every control character of `s`; borrows when nothing changes.
pub fn text(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(text("sleep 100"), Cow::Borrowed("sleep 100")));
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(text("a\nb\x1b[2J\u{7f}"), "a\\x0ab\\x1b[2J\\x7f");
        assert_eq!(text("x\u{85}y"), "x\\x85y");
    }

    #[test]
    fn invalid_utf8_becomes_replacement_character() {
        assert_eq!(bytes(b"ab\xffc\n"), "ab\u{fffd}c\\x0a");
    }
}
