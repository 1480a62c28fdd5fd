//! The exposition formats, written here and nowhere else: the text format 0.0.4 and OpenMetrics 1.0.0, which
//! of them a scraper's `Accept` prefers, a family's metadata lines in each, a sample (name, label set, value: the
//! same bytes in both, which is what lets one rendering serve either), the escaping of label values, and the
//! prometheus crate's encoding of the self-metrics. Families decide what they say; this file decides how it is
//! spelt.

use std::io::Write as _;

use prometheus::proto::{MetricFamily, MetricType};

/// The exposition content type Prometheus negotiates for text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The OpenMetrics content type answered.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

crate::labels::label_values! {
    /// The format of one answer, and the `format` label of `zenlayer_exporter_scrapes_total`. A sample line is the
    /// same in both; what differs is each family's metadata lines (OpenMetrics names a counter's family without
    /// `_total` and an info family without `_info`) and OpenMetrics' `# EOF` at the end. Per-format tables are
    /// indexed `as usize`, in this order.
    pub enum Format {
        Text = "text",
        OpenMetrics = "openmetrics",
    }
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS,
        }
    }

    /// What ends an answer.
    pub fn end(self) -> &'static [u8] {
        match self {
            Format::Text => b"",
            Format::OpenMetrics => b"# EOF\n",
        }
    }

    /// The format `accept` (an `Accept` header) prefers: OpenMetrics 1.0.0 when a range admitting it has a higher
    /// quality than the best range admitting text 0.0.4, text otherwise, and text when nothing is said or
    /// nothing matches (the fallback every scraper reads). Each format takes the quality of the most specific
    /// range that matches it (RFC 9110 §12.5.1): `type/subtype` with its parameters over `type/subtype` over
    /// `type/*` over `*/*`. A `version` or `charset` parameter must be the one answered; others (`escaping`) are
    /// not ours to refuse.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let quality = |format: Format| -> f32 {
            let (kind, version) = match format {
                Format::Text => ("text/plain", "0.0.4"),
                Format::OpenMetrics => ("application/openmetrics-text", "1.0.0"),
            };
            let mut best: Option<(u8, f32)> = None;
            for range in accept.split(',') {
                let mut parts = range.split(';');
                let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
                let (mut q, mut specific, mut fits) = (1.0f32, false, true);
                for param in parts {
                    let Some((key, value)) = param.split_once('=') else {
                        continue;
                    };
                    let value = value.trim().trim_matches('"');
                    match key.trim().to_ascii_lowercase().as_str() {
                        "q" => {
                            q = value
                                .parse()
                                .ok()
                                .filter(|q: &f32| q.is_finite())
                                .unwrap_or(0.0)
                        }
                        "version" => {
                            specific = true;
                            fits &= value == version;
                        }
                        "charset" => {
                            specific = true;
                            fits &= value.eq_ignore_ascii_case("utf-8");
                        }
                        _ => {}
                    }
                }
                let (major, _) = kind.split_once('/').unwrap_or_default();
                let level = match media.as_str() {
                    m if m == kind && specific => 3,
                    m if m == kind => 2,
                    m if m.strip_suffix("/*") == Some(major) => 1,
                    "*/*" => 0,
                    _ => continue,
                };
                // A version or charset is a media type's parameter: on a wildcard it says nothing of this one.
                if level == 3 && !fits {
                    continue;
                }
                if best.is_none_or(|(at, _)| level > at) {
                    best = Some((level, q.clamp(0.0, 1.0)));
                }
            }
            best.map_or(0.0, |(_, q)| q)
        };
        match quality(Format::OpenMetrics) > quality(Format::Text) {
            true => Format::OpenMetrics,
            false => Format::Text,
        }
    }
}

/// What a family is, as its metadata line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    /// Always 1, its labels the information (`…_info`): a gauge in the text format, `info` in OpenMetrics.
    Info,
    Counter,
    Histogram,
    Summary,
    Unknown,
}

/// A family's name, help and kind: what its `HELP` and `TYPE` lines say.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    /// The name its samples carry (`…_total` for a counter, `…_info` for an info family).
    pub name: &'a str,
    pub help: &'a str,
    pub kind: Kind,
}

impl Head<'_> {
    /// The `HELP` and `TYPE` lines in `format`.
    pub fn lines(&self, format: Format) -> Vec<u8> {
        let mut out = Vec::new();
        match format {
            Format::Text => {
                let kind = match self.kind {
                    Kind::Gauge | Kind::Info => "gauge",
                    Kind::Counter => "counter",
                    Kind::Histogram => "histogram",
                    Kind::Summary => "summary",
                    Kind::Unknown => "untyped",
                };
                out.extend_from_slice(b"# HELP ");
                out.extend_from_slice(self.name.as_bytes());
                out.push(b' ');
                escape_help(&mut out, self.help, false);
                let _ = writeln!(out, "\n# TYPE {} {kind}", self.name);
            }
            Format::OpenMetrics => {
                let (family, kind) = match self.kind {
                    Kind::Gauge => (self.name, "gauge"),
                    Kind::Info => (self.name.strip_suffix("_info").unwrap_or(self.name), "info"),
                    Kind::Counter => (
                        self.name.strip_suffix("_total").unwrap_or(self.name),
                        "counter",
                    ),
                    Kind::Histogram => (self.name, "histogram"),
                    Kind::Summary => (self.name, "summary"),
                    Kind::Unknown => (self.name, "unknown"),
                };
                let _ = write!(out, "# TYPE {family} {kind}\n# HELP {family} ");
                escape_help(&mut out, self.help, true);
                out.push(b'\n');
            }
        }
        out
    }
}

/// Appends `help` escaped for a `HELP` line: backslash and line feed, and in OpenMetrics the double quote too.
fn escape_help(out: &mut Vec<u8>, help: &str, quote: bool) {
    for c in help.chars() {
        match c {
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '"' if quote => out.extend_from_slice(b"\\\""),
            c => {
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
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

/// `families` from a prometheus registry (the self-metrics) in `format`, appended to `out`: each family's metadata
/// lines, then its samples as the crate's text encoder writes them (the same lines OpenMetrics reads). Done at
/// every scrape, so only `format`'s metadata lines are made.
pub fn encode(
    families: &[MetricFamily],
    format: Format,
    out: &mut Vec<u8>,
) -> prometheus::Result<()> {
    for family in families {
        let (text_head, samples) = encode_text(family)?;
        match format {
            Format::Text => out.extend_from_slice(&text_head),
            Format::OpenMetrics => out.extend_from_slice(&head_of(family).lines(format)),
        }
        out.extend_from_slice(&samples);
    }
    Ok(())
}

/// One family's metadata lines in each format (in [`Format::ALL`]'s order) and its samples, apart: what the
/// accounts' own metrics were served from when they were registries, kept as the reference their counters are
/// tested against (`telemetry::account`).
#[cfg(test)]
pub fn encode_split(family: &MetricFamily) -> prometheus::Result<([Vec<u8>; 2], Vec<u8>)> {
    let (text_head, samples) = encode_text(family)?;
    Ok((
        [text_head, head_of(family).lines(Format::OpenMetrics)],
        samples,
    ))
}

/// One family as the crate's text encoder writes it: its `HELP` and `TYPE` lines, and its samples (bucket bounds
/// made canonical).
fn encode_text(family: &MetricFamily) -> prometheus::Result<(Vec<u8>, Vec<u8>)> {
    use prometheus::Encoder as _;
    let mut text = Vec::new();
    prometheus::TextEncoder::new().encode(std::slice::from_ref(family), &mut text)?;
    // The encoder writes the `HELP` and `TYPE` lines first, one line each (help has its line feeds escaped).
    let head_len = memchr::memchr_iter(b'\n', &text)
        .nth(1)
        .map_or(text.len(), |i| i + 1);
    let samples = canonical_buckets(text.split_off(head_len));
    Ok((text, samples))
}

/// What a registry's family is, as its metadata lines say.
fn head_of(family: &MetricFamily) -> Head<'_> {
    let kind = match family.get_field_type() {
        MetricType::COUNTER => Kind::Counter,
        MetricType::GAUGE if family.name().ends_with("_info") => Kind::Info,
        MetricType::GAUGE => Kind::Gauge,
        MetricType::HISTOGRAM => Kind::Histogram,
        MetricType::SUMMARY => Kind::Summary,
        _ => Kind::Unknown,
    };
    Head {
        name: family.name(),
        help: family.help(),
        kind,
    }
}

/// A histogram bucket bound as `le` says it, appended to `out`: in the canonical form OpenMetrics requires of it
/// (`0.05`, and `1.0` rather than `1`), in both formats alike, so one series has one name whatever a scraper asked
/// for. [`canonical_buckets`] applies the same rule to the `prometheus` crate's text.
pub fn le_value(bound: f64, out: &mut String) {
    use std::fmt::Write as _;
    let _ = write!(out, "{bound}");
    if bound.fract() == 0.0 {
        out.push_str(".0");
    }
}

/// `samples` with every histogram bucket bound (`le`) in the canonical form ([`le_value`]).
fn canonical_buckets(samples: Vec<u8>) -> Vec<u8> {
    const LE: &[u8] = b"le=\"";
    if memchr::memmem::find(&samples, LE).is_none() {
        return samples;
    }
    let mut out = Vec::with_capacity(samples.len() + 64);
    let mut rest = &samples[..];
    while let Some(at) = memchr::memmem::find(rest, LE) {
        let value_at = at + LE.len();
        out.extend_from_slice(&rest[..value_at]);
        rest = &rest[value_at..];
        let end = memchr::memchr(b'"', rest).unwrap_or(rest.len());
        let value = &rest[..end];
        out.extend_from_slice(value);
        let integer = !value.is_empty() && value.iter().all(|b| b.is_ascii_digit() || *b == b'-');
        if integer {
            out.extend_from_slice(b".0");
        }
        rest = &rest[end..];
    }
    out.extend_from_slice(rest);
    out
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
    fn accept_headers_choose_openmetrics_only_when_preferred() {
        let cases = [
            // Prometheus 2.x's default.
            (
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                Format::OpenMetrics,
            ),
            // Prometheus 3.x's default (text 1.0.0 is not answered; 0.0.4 is below OpenMetrics anyway).
            (
                "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
                Format::OpenMetrics,
            ),
            ("application/openmetrics-text", Format::OpenMetrics),
            (
                "APPLICATION/OpenMetrics-Text; Version=1.0.0; charset=UTF-8",
                Format::OpenMetrics,
            ),
            ("application/*;q=0.9, text/plain;q=0.5", Format::OpenMetrics),
            // Text wins ties, and whenever it is preferred.
            ("*/*", Format::Text),
            ("text/plain", Format::Text),
            (
                "text/plain;version=0.0.4;q=1,application/openmetrics-text;q=0.9",
                Format::Text,
            ),
            ("text/*,application/openmetrics-text;q=0.5", Format::Text),
            // A version not answered does not match; nothing matching falls back to text.
            ("application/openmetrics-text;version=0.0.1", Format::Text),
            (
                "application/openmetrics-text;version=2.0.0,text/plain;q=0.1",
                Format::Text,
            ),
            ("application/json", Format::Text),
            ("application/openmetrics-text;q=0", Format::Text),
            ("application/openmetrics-text;charset=latin1", Format::Text),
            ("", Format::Text),
            ("garbage;;;=,", Format::Text),
            // The most specific range decides: OpenMetrics refused explicitly despite */*.
            ("application/openmetrics-text;q=0,*/*", Format::Text),
            ("application/openmetrics-text;q=NaN", Format::Text),
            (
                "application/openmetrics-text;q=0.5 , text/plain;q=0.4",
                Format::OpenMetrics,
            ),
            ("*/*;version=1.0.0", Format::Text),
        ];
        for (accept, expected) in cases {
            assert_eq!(Format::negotiate(Some(accept)), expected, "{accept}");
        }
        assert_eq!(Format::negotiate(None), Format::Text);
    }

    #[test]
    fn openmetrics_names_families_without_their_suffixes_and_escapes_help() {
        let head = |name, kind| Head {
            name,
            help: "a \"quoted\" \\ help\nline",
            kind,
        };
        assert_eq!(
            String::from_utf8(
                head("zenlayer_instance_info", Kind::Info).lines(Format::OpenMetrics)
            )
            .unwrap(),
            "# TYPE zenlayer_instance info\n# HELP zenlayer_instance a \\\"quoted\\\" \\\\ help\\nline\n"
        );
        assert_eq!(
            String::from_utf8(head("zenlayer_instance_info", Kind::Info).lines(Format::Text))
                .unwrap(),
            "# HELP zenlayer_instance_info a \"quoted\" \\\\ help\\nline\n# TYPE zenlayer_instance_info gauge\n"
        );
        assert!(
            String::from_utf8(head("x_polls_total", Kind::Counter).lines(Format::OpenMetrics))
                .unwrap()
                .starts_with("# TYPE x_polls counter\n# HELP x_polls ")
        );
    }

    #[test]
    fn bucket_bounds_are_canonical() {
        let samples = b"h_bucket{action=\"x\",le=\"0.05\"} 1\nh_bucket{action=\"x\",le=\"30\"} 2\nh_bucket{action=\"x\",le=\"+Inf\"} 2\nh_sum{action=\"x\"} 3\n";
        assert_eq!(
            String::from_utf8(canonical_buckets(samples.to_vec())).unwrap(),
            "h_bucket{action=\"x\",le=\"0.05\"} 1\nh_bucket{action=\"x\",le=\"30.0\"} 2\nh_bucket{action=\"x\",le=\"+Inf\"} 2\nh_sum{action=\"x\"} 3\n"
        );
    }

    #[test]
    fn escapes_label_values() {
        let mut out = Vec::new();
        escape_label_value(&mut out, "a\\b\"c\nd{}=é");
        assert_eq!(String::from_utf8(out).unwrap(), r#"a\\b\"c\nd{}=é"#);
    }
}
