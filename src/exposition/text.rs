//! The text exposition format's rules that every family follows: the content type, a family's `HELP` and
//! `TYPE` lines, and the escaping of label values.

use std::io::Write as _;

/// The exposition content type Prometheus negotiates for text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A gauge family's `HELP` and `TYPE` lines.
pub fn header(out: &mut Vec<u8>, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
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
