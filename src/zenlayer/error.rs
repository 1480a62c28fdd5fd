//! The typed errors of one API call, with the stable `kind()` that labels the failure metrics.
//! Retry policy reads `is_retryable()` and `retry_after()`; nothing here knows about polls.

use std::time::Duration;

crate::labels::label_values! {
    /// What kind of failure an API call had: the `reason` label of the failure counters, a small fixed set so
    /// they stay bounded.
    pub enum ErrorKind {
        Throttled = "throttled",
        ServerError = "server_error",
        Auth = "auth",
        /// A network or security policy in front of the API refused the call (a CDN challenge, HTTP 451): not
        /// the credentials, so rotating them would not help.
        Blocked = "blocked",
        ClientError = "client_error",
        Timeout = "timeout",
        Connect = "connect",
        Decode = "decode",
    }
}

/// The codes that say the instances asked for are gone (the vendor's Terraform provider treats both so).
const NOT_FOUND_CODES: [&str; 2] = [
    "INVALID_INSTANCE_NOT_FOUND",
    "OPERATION_FAILED_RESOURCE_NOT_FOUND",
];

/// An API error code as the vendor's SDKs compare it: upper case, `.` as `_`, so the bare-metal API's dotted
/// spelling (`Invalid.Instance.Not.Found`) is the others' `INVALID_INSTANCE_NOT_FOUND`.
pub fn normalized_code(code: &str) -> String {
    code.chars()
        .map(|c| {
            if c == '.' {
                '_'
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}

/// Longest API `message` or body excerpt kept in an error, so a hostile body cannot flood the logs.
const MAX_DETAIL_CHARS: usize = 200;

/// Why one API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// HTTP 429 or `REQUEST_LIMIT_EXCEEDED`.
    #[error("throttled by the API (HTTP {status}{})", describe(code, message))]
    Throttled {
        status: u16,
        code: Option<String>,
        message: Option<String>,
        request_id: Option<String>,
        retry_after: Option<Duration>,
    },
    /// HTTP 5xx or a transient server code.
    #[error("API server error (HTTP {status}{})", describe(code, message))]
    Server {
        status: u16,
        code: Option<String>,
        message: Option<String>,
        request_id: Option<String>,
    },
    /// HTTP 401 or 403: the credentials are wrong, expired or lack permission, or a CDN challenged the request.
    #[error(
        "authentication or permission failure (HTTP {status}{})",
        describe(code, message)
    )]
    Auth {
        status: u16,
        code: Option<String>,
        message: Option<String>,
        request_id: Option<String>,
    },
    /// HTTP 451 (`REQUEST_BLOCKED`), or a 403 carrying a CDN challenge (`cf-mitigated: challenge`): a security
    /// policy in front of the API, which the vendor's SDKs report apart from bad credentials.
    #[error(
        "blocked by a network or security policy in front of the API, not by the credentials (HTTP {status}{})",
        describe(code, message)
    )]
    Blocked {
        status: u16,
        code: Option<String>,
        message: Option<String>,
        request_id: Option<String>,
    },
    /// Any other non-200 answer: a parameter the API refused.
    #[error(
        "request refused by the API (HTTP {status}{})",
        describe(code, message)
    )]
    Client {
        status: u16,
        code: Option<String>,
        message: Option<String>,
        request_id: Option<String>,
    },
    /// No complete answer within the per-request timeout.
    #[error("no complete answer within {}s", after.as_secs_f64())]
    Timeout { after: Duration },
    /// The connection could not be made or broke before the answer was complete.
    #[error("network error: {detail}")]
    Transport { detail: String },
    /// An answer that is not what the API documents: not JSON, missing fields, too large.
    #[error("undecodable answer (HTTP {status}): {detail}")]
    Decode {
        status: u16,
        detail: String,
        request_id: Option<String>,
    },
}

fn describe(code: &Option<String>, message: &Option<String>) -> String {
    let mut out = String::new();
    if let Some(code) = code {
        out.push_str(", code ");
        out.push_str(code);
    }
    if let Some(message) = message {
        out.push_str(": ");
        out.push_str(message);
    }
    out
}

/// Keeps an untrusted string short and on one line for logs: control characters, and the Unicode ones that
/// break a line or reorder what a reader sees (line and paragraph separators, bidirectional controls, invisible
/// marks), become spaces.
pub(crate) fn clip(text: &str) -> String {
    clip_to(text, MAX_DETAIL_CHARS)
}

/// [`clip`] to at most `max` characters (and an ellipsis): for free text the API sends that the exporter serves
/// as a label value (a maintenance's impact), which an alert quotes in one line.
pub fn clip_to(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if shown_as_is(c) { c } else { ' ' })
        .collect();
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// Free text the API sends, as served in a label value (a maintenance's impact, a health value the API added):
/// format characters (bidirectional controls, zero-width marks) dropped, since they would make a value look like
/// another in an alert; every run of white space or control characters one space; trimmed; at most `max`
/// characters and an ellipsis. So `" in\u{a0}progress\n"` is `in progress`, as a rule matching it expects.
pub fn tidy(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max * 4));
    let mut chars = 0;
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() {
            space = !out.is_empty();
            continue;
        }
        if !shown_as_is(c) {
            continue;
        }
        if chars == max {
            out.push('…');
            return out;
        }
        if std::mem::take(&mut space) {
            out.push(' ');
            chars += 1;
            if chars == max {
                out.push('…');
                return out;
            }
        }
        out.push(c);
        chars += 1;
    }
    out
}

/// Whether `text` is non-empty and plain: no control or format character. What an id the exporter joins on must
/// be, since it is served as sent and tidying it would make it another id.
pub fn is_plain(text: &str) -> bool {
    !text.is_empty() && text.chars().all(shown_as_is)
}

/// Whether `c` can reach a log line or a page as it is: not a control character, and not one of the format
/// characters a forged message would use to start a new line or show text in another order than it is stored.
fn shown_as_is(c: char) -> bool {
    !(c.is_control()
        || matches!(c,
            '\u{2028}' | '\u{2029}' // line and paragraph separators
            | '\u{200B}'..='\u{200F}' // zero-width characters, left-to-right and right-to-left marks
            | '\u{202A}'..='\u{202E}' // bidirectional embeddings and overrides
            | '\u{2060}'..='\u{2069}' // word joiner, invisible operators, bidirectional isolates
            | '\u{061C}' | '\u{FEFF}' // Arabic letter mark, byte order mark
        ))
}

impl ApiError {
    /// The kind of this failure, for the metric label.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ApiError::Throttled { .. } => ErrorKind::Throttled,
            ApiError::Server { .. } => ErrorKind::ServerError,
            ApiError::Auth { .. } => ErrorKind::Auth,
            ApiError::Blocked { .. } => ErrorKind::Blocked,
            ApiError::Client { .. } => ErrorKind::ClientError,
            ApiError::Timeout { .. } => ErrorKind::Timeout,
            ApiError::Transport { .. } => ErrorKind::Connect,
            ApiError::Decode { .. } => ErrorKind::Decode,
        }
    }

    /// Whether another attempt may succeed: throttling, server trouble and the network, never auth or parameters.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ApiError::Throttled { .. }
                | ApiError::Server { .. }
                | ApiError::Timeout { .. }
                | ApiError::Transport { .. }
        )
    }

    /// The server's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status of the answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Throttled { status, .. }
            | ApiError::Server { status, .. }
            | ApiError::Auth { status, .. }
            | ApiError::Blocked { status, .. }
            | ApiError::Client { status, .. }
            | ApiError::Decode { status, .. } => Some(*status),
            ApiError::Timeout { .. } | ApiError::Transport { .. } => None,
        }
    }

    /// Whether the API said the instances asked for do not exist (a look-up by ids of instances deleted since):
    /// an answer about those ids, not a failure of the call.
    pub fn is_not_found(&self) -> bool {
        match self {
            ApiError::Client {
                code: Some(code), ..
            } => NOT_FOUND_CODES.contains(&normalized_code(code).as_str()),
            _ => false,
        }
    }

    /// The API's `requestId`, which Zenlayer support asks for.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            ApiError::Throttled { request_id, .. }
            | ApiError::Server { request_id, .. }
            | ApiError::Auth { request_id, .. }
            | ApiError::Blocked { request_id, .. }
            | ApiError::Client { request_id, .. }
            | ApiError::Decode { request_id, .. } => request_id.as_deref(),
            ApiError::Timeout { .. } | ApiError::Transport { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_the_documented_set() {
        let errors = [
            ApiError::Throttled {
                status: 429,
                code: None,
                message: None,
                request_id: None,
                retry_after: None,
            },
            ApiError::Server {
                status: 500,
                code: None,
                message: None,
                request_id: None,
            },
            ApiError::Auth {
                status: 401,
                code: None,
                message: None,
                request_id: None,
            },
            ApiError::Blocked {
                status: 451,
                code: None,
                message: None,
                request_id: None,
            },
            ApiError::Client {
                status: 400,
                code: None,
                message: None,
                request_id: None,
            },
            ApiError::Timeout {
                after: Duration::from_secs(1),
            },
            ApiError::Transport { detail: "x".into() },
            ApiError::Decode {
                status: 200,
                detail: "x".into(),
                request_id: None,
            },
        ];
        let kinds: Vec<_> = errors.iter().map(ApiError::kind).collect();
        assert_eq!(kinds, ErrorKind::ALL);
        let retryable: Vec<_> = errors.iter().map(ApiError::is_retryable).collect();
        assert_eq!(
            retryable,
            [true, true, false, false, false, true, true, false]
        );
    }

    #[test]
    fn free_text_is_tidied_to_what_it_reads_as() {
        assert_eq!(tidy(" in\u{a0}progress\n", 200), "in progress");
        assert_eq!(tidy("\u{202e}in  \t progress\u{200b}", 200), "in progress");
        assert_eq!(tidy("OK\u{0}", 200), "OK");
        assert_eq!(tidy("abc def", 5), "abc d…");
        assert_eq!(tidy("abc def", 3), "abc…");
        assert_eq!(tidy("  \n ", 10), "");
        assert_eq!(tidy("日本 ü", 10), "日本 ü");
    }

    #[test]
    fn clip_bounds_and_flattens() {
        assert_eq!(clip("a\nb"), "a b");
        // What would start a new line or show the text reversed in a log viewer or a browser.
        assert_eq!(
            clip("a\u{2028}b\u{2029}c\u{202E}d\u{2066}e\u{200F}f\u{FEFF}g\u{85}h"),
            "a b c d e f g h"
        );
        assert_eq!(clip("日本 ü"), "日本 ü");
        let long = "x".repeat(500);
        assert_eq!(clip(&long).chars().count(), MAX_DETAIL_CHARS + 1);
    }
}
