//! The text exposition format's rules that every family follows: the content type, a family's `HELP` and
//! `TYPE` lines, and the escaping of label values.

use std::io::Write as _;

/// The exposition content type Prometheus negotiates for text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A gauge family's name and help: what its `HELP` and `TYPE` lines say.
#[derive(Debug, Clone, Copy)]
pub struct Head {
    pub name: &'static str,
    pub help: &'static str,
}

impl Head {
    /// The `HELP` and `TYPE` lines.
    pub fn lines(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge",
            name = self.name,
            help = self.help
        );
        out
    }
}

/// The label that opens every label set of an account's series when several accounts are served:
/// `account="NAME",` (names are `[a-z0-9_-]`, so nothing needs escaping, but it is escaped all the same).
pub fn account_label(name: &str) -> Vec<u8> {
    let mut out = b"account=\"".to_vec();
    escape_label_value(&mut out, name);
    out.extend_from_slice(b"\",");
    out
}

/// Appends `value` escaped as the text format requires inside a quoted label value: backslash, double quote and
/// line feed. Everything else, non-ASCII included, is valid UTF-8 already and goes through as it is.
pub fn escape_label_value(out: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    let mut start = 0;
    // memchr3 scans with SIMD: almost every value has nothing to escape and is copied whole.
    for i in memchr::memchr3_iter(b'\\', b'"', b'\n', bytes) {
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(match bytes[i] {
            b'\\' => b"\\\\",
            b'"' => b"\\\"",
            _ => b"\\n",
        });
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// `key` with each character outside `[A-Za-z0-9_]` replaced by `_` (borrowed when it has none): the tail of a
/// label name made from a tag key, by the info series (`tag_`) and service discovery (`__meta_zenlayer_tag_`).
pub fn label_safe(key: &str) -> std::borrow::Cow<'_, str> {
    let safe = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if key.chars().all(safe) {
        return key.into();
    }
    key.chars()
        .map(|c| if safe(c) { c } else { '_' })
        .collect::<String>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_label_values() {
        let mut out = Vec::new();
        escape_label_value(&mut out, "a\\b\"c\nd{}=é");
        assert_eq!(String::from_utf8(out).unwrap(), r#"a\\b\"c\nd{}=é"#);
    }
}
