//! The text exposition format, written here and nowhere else: the content type, a family's `HELP` and `TYPE`
//! lines, a sample (name, label set, value), the escaping of label values, and the prometheus crate's encoding
//! of the self-metrics. Families decide what they say; this file decides how it is spelt.

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

/// One sample being appended: [`Sample::open`] writes the name and the label set's opening, [`Sample::label`]
/// each label, and the value ends the line. Written straight into the output, in the same bytes a hand-written
/// line would be: the instance families write millions of these per render.
pub struct Sample<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> Sample<'o> {
    /// `name{` and `opening` (the [`account_label`] or nothing) appended to `out`.
    #[inline]
    pub fn open(out: &'o mut Vec<u8>, name: &str, opening: &[u8]) -> Self {
        out.extend_from_slice(name.as_bytes());
        out.push(b'{');
        out.extend_from_slice(opening);
        Sample { out, first: true }
    }

    /// `name="value"`, the value escaped; `name` must be a valid label name.
    #[inline]
    pub fn label(mut self, name: &str, value: &str) -> Self {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"=\"");
        escape_label_value(self.out, value);
        self.out.push(b'"');
        self
    }

    /// Ends the sample with 1 or 0.
    #[inline]
    pub fn flag(self, on: bool) {
        self.out
            .extend_from_slice(if on { b"} 1\n" } else { b"} 0\n" });
    }

    /// Ends the sample with a count.
    pub fn count(self, n: usize) {
        let _ = writeln!(self.out, "}} {n}");
    }

    /// Ends the sample with a number, as Rust prints an `f64` (integers without a fraction: `2147483648`).
    pub fn value(self, v: f64) {
        let _ = writeln!(self.out, "}} {v}");
    }
}

/// The text of `families` from a prometheus registry (the self-metrics), by the crate's own encoder, appended
/// to `out`.
pub fn encode(
    families: &[prometheus::proto::MetricFamily],
    out: &mut Vec<u8>,
) -> prometheus::Result<()> {
    use prometheus::Encoder as _;
    prometheus::TextEncoder::new().encode(families, out)
}

/// One encoded family split into its `HELP` and `TYPE` lines and its samples: the encoder writes the two heads
/// first, one line each (help text has its line feeds escaped).
pub fn encode_split(
    family: &prometheus::proto::MetricFamily,
) -> prometheus::Result<(Vec<u8>, Vec<u8>)> {
    let mut head = Vec::new();
    encode(std::slice::from_ref(family), &mut head)?;
    let head_len = memchr::memchr_iter(b'\n', &head)
        .nth(1)
        .map_or(head.len(), |i| i + 1);
    let samples = head.split_off(head_len);
    Ok((head, samples))
}

/// What opens every label set of one account's series of one product: with the `account` label (several
/// accounts served: `account="NAME",product="vm",`) and without it (`/probe`, or the only account:
/// `product="vm",`). Names are `[a-z0-9_-]`, so nothing needs escaping, but it is escaped all the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Openings {
    labeled: Vec<u8>,
    unlabeled: Vec<u8>,
}

impl Openings {
    pub fn new(account: Option<&str>, product: &str) -> Openings {
        let label = |out: &mut Vec<u8>, name: &str, value: &str| {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"=\"");
            escape_label_value(out, value);
            out.extend_from_slice(b"\",");
        };
        let mut unlabeled = Vec::new();
        label(&mut unlabeled, "product", product);
        let mut labeled = Vec::new();
        if let Some(account) = account {
            label(&mut labeled, "account", account);
        }
        labeled.extend_from_slice(&unlabeled);
        Openings { labeled, unlabeled }
    }

    /// The opening with the `account` label (when there is one) or without.
    pub fn get(&self, labeled: bool) -> &[u8] {
        if labeled {
            &self.labeled
        } else {
            &self.unlabeled
        }
    }

    /// Whether the series carry an `account` label, so that `/probe` serves them rendered without it.
    pub fn named(&self) -> bool {
        self.labeled != self.unlabeled
    }
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
    fn a_sample_is_the_name_its_labels_and_its_value() {
        let mut out = Vec::new();
        Sample::open(&mut out, "f", b"account=\"a\",")
            .label("id", "i\"1")
            .label("status", "RUNNING")
            .flag(true);
        Sample::open(&mut out, "g", b"")
            .label("id", "2")
            .value(2147483648.0);
        Sample::open(&mut out, "h", b"").label("s", "x").count(7);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "f{account=\"a\",id=\"i\\\"1\",status=\"RUNNING\"} 1\ng{id=\"2\"} 2147483648\nh{s=\"x\"} 7\n"
        );
    }

    #[test]
    fn escapes_label_values() {
        let mut out = Vec::new();
        escape_label_value(&mut out, "a\\b\"c\nd{}=é");
        assert_eq!(String::from_utf8(out).unwrap(), r#"a\\b\"c\nd{}=é"#);
    }
}
