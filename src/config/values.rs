//! The typed values settings parse into, declared here so that what they configure imports them from below:
//! the modes (which status series, which log format), the tag allow-list, the parsers the accounts file
//! shares with the environment (an API URL, a value quoted in a message), and how each value shows (`Show`:
//! a secret as `<redacted>`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::secret::Secret;
use crate::text::label_safe;
use crate::zenlayer::proxy::without_userinfo;

/// Why a value was refused: one message or several, each naming what is wrong, never quoting a secret.
pub(super) type Refused = Vec<String>;

crate::labels::label_values! {
    /// Which series describe an instance's status.
    pub enum StatusSeries {
        /// One series per instance, for its current status, valued 1.
        Current = "current",
        /// A state set: one series per known status per instance, 0 or 1, plus the current one if unknown.
        All = "all",
    }
}

crate::labels::label_values! {
    /// Log line format.
    pub enum LogFormat {
        Text = "text",
        Json = "json",
    }
}

/// Most tags that may become labels: each is a label on every info series, and a label an operator did not
/// plan for is cardinality nobody pays attention to until it hurts.
pub const MAX_TAG_LABELS: usize = 20;

/// The allow-listed tag keys (`ZENLAYER_EXPORTER_TAG_LABELS`) and the label each becomes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagLabels {
    keys: Vec<String>,
    names: Vec<String>,
}

impl TagLabels {
    /// Parses a comma-separated list of tag keys, matched exactly (tag keys are case-sensitive). Each key
    /// becomes `tag_` followed by the key with every character a label name cannot hold replaced by `_`. Two
    /// keys that would become the same label are refused, since no rule for choosing between them would be
    /// what the operator meant.
    pub fn parse(list: &str) -> Result<TagLabels, Vec<String>> {
        let mut labels = TagLabels::default();
        let mut problems = Vec::new();
        for key in list.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            if labels.keys.iter().any(|k| k == key) {
                continue;
            }
            if key.chars().any(char::is_control) {
                problems.push(format!("tag key {key:?} contains control characters"));
                continue;
            }
            let name = label_name(key);
            if let Some(i) = labels.names.iter().position(|n| *n == name) {
                problems.push(format!(
                    "tag keys {:?} and {key:?} would both become the label {name}: list only one",
                    labels.keys[i]
                ));
                continue;
            }
            labels.keys.push(key.to_owned());
            labels.names.push(name);
        }
        if labels.keys.len() > MAX_TAG_LABELS {
            problems.push(format!(
                "at most {MAX_TAG_LABELS} tag keys may become labels, got {}",
                labels.keys.len()
            ));
        }
        if problems.is_empty() {
            Ok(labels)
        } else {
            Err(problems)
        }
    }

    /// The tag keys, in the order given.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// The label names, in the same order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The position of `key` in the allow-list.
    pub fn position(&self, key: &str) -> Option<usize> {
        self.keys.iter().position(|k| k == key)
    }
}

/// `tag_` + `key`, with each character outside `[A-Za-z0-9_]` replaced by `_`: always a valid label name, and
/// never one of the info series' own labels.
pub fn label_name(key: &str) -> String {
    format!("tag_{}", label_safe(key))
}

/// A value quoted for a message, clipped so a pasted blob does not flood the terminal.
pub(crate) fn quote(text: &str) -> String {
    let clipped: String = text.chars().take(80).collect();
    format!(
        "{:?}{}",
        clipped,
        if text.chars().count() > 80 { "…" } else { "" }
    )
}

pub(crate) fn api_url(text: &str) -> Result<Url, Refused> {
    // Quoted in messages without any user-info: `https://user:password@host` must not reach a terminal or log.
    let shown = quote(&without_userinfo(text));
    match Url::parse(text) {
        Ok(url) if !matches!(url.scheme(), "http" | "https") => {
            Err(vec![format!("must be an http or https URL, got {shown}")])
        }
        Ok(url)
            if url.host().is_none()
                || url.query().is_some()
                || !url.username().is_empty()
                || url.password().is_some() =>
        {
            Err(vec![format!(
                "must be scheme://host[:port][/path], without credentials or query, got {shown}"
            )])
        }
        Ok(url) => Ok(url),
        Err(e) => Err(vec![format!("is not a URL ({e}): {shown}")]),
    }
}

/// How a setting's value shows in `--check-config` and the start-up log: plainly, a URL as its text, a duration
/// in seconds, a secret as `<redacted>` (its own `Display`), the tag allow-list as its keys, unset as nothing.
pub(super) trait Show {
    fn show(&self) -> String;
}

macro_rules! show_as_display {
    ($($ty:ty),*) => { $( impl Show for $ty {
        fn show(&self) -> String { self.to_string() }
    } )* };
}
show_as_display!(
    String,
    Secret,
    u32,
    usize,
    SocketAddr,
    Url,
    StatusSeries,
    LogFormat
);

impl Show for PathBuf {
    fn show(&self) -> String {
        self.display().to_string()
    }
}

impl Show for Duration {
    fn show(&self) -> String {
        format!("{}s", self.as_secs_f64())
    }
}

impl Show for Arc<TagLabels> {
    fn show(&self) -> String {
        self.keys().join(",")
    }
}

impl<T: Show> Show for Option<T> {
    fn show(&self) -> String {
        self.as_ref().map(Show::show).unwrap_or_default()
    }
}
