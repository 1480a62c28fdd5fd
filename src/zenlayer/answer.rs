//! An API answer, whole, turned into a page or a typed error: by the HTTP status and the error envelope's `code`
//! (compared as the vendor's SDKs compare them), never by the `message`'s wording, which is not stable; with a
//! short description of a body that is not the API's (a CDN challenge, a proxy's page) and the `Retry-After` a
//! throttled answer gives. Making the call is `client`'s business.

use std::time::{Duration, SystemTime};

use http::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use serde::de::DeserializeOwned;

use super::error::{ApiError, clip, normalized_code};
use super::model;
use super::page::{self, Page, Read};

/// Transient server codes that the vendor's Terraform provider retries, whatever HTTP status carries them.
const TRANSIENT_CODES: [&str; 3] = [
    "INTERNAL_SERVER_ERROR",
    "SERVICE_TEMPORARY_UNAVAILABLE",
    "REQUEST_TIMED_OUT",
];

/// Turns a complete answer into a page of `T` or a typed error.
pub fn classify<T: DeserializeOwned>(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Page<T>, ApiError> {
    classify_with(status, headers, body, &|body: &[u8]| {
        page::decode_page::<T>(body)
    })
}

/// Turns a complete answer into a page read by `decode` or a typed error. Branches on the HTTP status and `code`
/// only: the API's `message` wording is not stable.
pub fn classify_with<T>(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    decode: &dyn Read<T>,
) -> Result<Page<T>, ApiError> {
    if status == 200 {
        match decode(body) {
            Ok(page) => return Ok(page),
            Err(decode) => {
                // A 200 carrying an error envelope is an error, not a malformed page.
                if model::decode_error(body).is_none() {
                    return Err(ApiError::Decode {
                        status,
                        detail: decode.detail,
                        request_id: decode.request_id,
                    });
                }
            }
        }
    }
    let (code, message, request_id) = match model::decode_error(body) {
        Some(e) => (e.code, e.message, e.request_id),
        None => (None, Some(describe_foreign_body(headers, body)), None),
    };
    // Compared as the vendor's SDKs compare them: `Auth.Failure.X` is `AUTH_FAILURE_X`.
    let normalized = code.as_deref().map(normalized_code);
    let code_is = |wanted: &str| normalized.as_deref() == Some(wanted);
    // A security policy first, so no throttling code or server status in the same answer gets it retried: neither
    // waiting nor retrying gets past a policy.
    let challenged = headers
        .get("cf-mitigated")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"challenge"));
    if status == 451 || code_is("REQUEST_BLOCKED") || (status == 403 && challenged) {
        return Err(ApiError::Blocked {
            status,
            code,
            message,
            request_id,
        });
    }
    if status == 429 || code_is("REQUEST_LIMIT_EXCEEDED") {
        return Err(ApiError::Throttled {
            status,
            code,
            message,
            request_id,
            retry_after: headers.get(RETRY_AFTER).and_then(parse_retry_after),
        });
    }
    if status >= 500 || TRANSIENT_CODES.iter().any(|c| code_is(c)) {
        return Err(ApiError::Server {
            status,
            code,
            message,
            request_id,
        });
    }
    let auth_code = normalized
        .as_deref()
        .is_some_and(|c| c.starts_with("AUTHFAILURE") || c.starts_with("AUTH_FAILURE"));
    // An error envelope in a 200 counts as its code says, as throttling and blocking do.
    let refused = status == 200 || (400..500).contains(&status);
    if status == 401 || status == 403 || (refused && auth_code) {
        return Err(ApiError::Auth {
            status,
            code,
            message,
            request_id,
        });
    }
    Err(ApiError::Client {
        status,
        code,
        message,
        request_id,
    })
}

/// A short description of a body that is not the API's JSON: a CDN challenge, a proxy's HTML page, nothing.
fn describe_foreign_body(headers: &HeaderMap, body: &[u8]) -> String {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    let mut out = format!(
        "not an API error envelope ({} bytes, content-type {})",
        body.len(),
        clip(content_type)
    );
    if let Some(challenge) = headers.get("cf-mitigated").and_then(|v| v.to_str().ok()) {
        out.push_str(", CDN cf-mitigated: ");
        out.push_str(&clip(challenge));
    }
    out
}

/// `Retry-After` as delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(text).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zenlayer::model::InstanceStatus;

    fn err(status: u16, headers: &[(&str, &str)], body: &str) -> ApiError {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        classify::<InstanceStatus>(status, &map, body.as_bytes()).unwrap_err()
    }

    #[test]
    fn classifies_by_status_and_code() {
        let e = err(
            429,
            &[("retry-after", "3")],
            r#"{"requestId":"T9","code":"REQUEST_LIMIT_EXCEEDED","message":"m"}"#,
        );
        assert_eq!(e.kind().as_str(), "throttled");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(e.request_id(), Some("T9"));
        // The code decides over the HTTP status, both ways; a body that is no JSON answer goes by the status.
        for (status, body, kind) in [
            (400, r#"{"code":"REQUEST_LIMIT_EXCEEDED"}"#, "throttled"),
            (500, r#"{"code":"INTERNAL_SERVER_ERROR"}"#, "server_error"),
            (400, r#"{"code":"REQUEST_TIMED_OUT"}"#, "server_error"),
            (502, "<html>bad gateway</html>", "server_error"),
            (401, r#"{"code":"AUTH_FAILED"}"#, "auth"),
            (
                404,
                r#"{"code":"INVALID_INSTANCE_NOT_FOUND"}"#,
                "client_error",
            ),
            (200, r#"{"code":"INVALID_PARAMETER"}"#, "client_error"),
            (200, "{not json", "decode"),
        ] {
            assert_eq!(
                err(status, &[], body).kind().as_str(),
                kind,
                "{status} {body}"
            );
        }
    }

    #[test]
    fn codes_are_compared_as_the_sdks_do() {
        // Any 4xx with an AUTHFAILURE code is the credentials, whatever its status.
        for code in [
            "AUTHFAILURE_SIGNATURE_FAILURE",
            "AuthFailure.SecretId.NotFound",
            "authfailure",
        ] {
            let body = format!(r#"{{"code":"{code}"}}"#);
            assert_eq!(err(400, &[], &body).kind().as_str(), "auth", "{code}");
        }
        // The bare-metal API's dotted spelling is the same code.
        assert_eq!(
            err(400, &[], r#"{"code":"Request.Limit.Exceeded"}"#)
                .kind()
                .as_str(),
            "throttled"
        );
        for code in [
            "INVALID_INSTANCE_NOT_FOUND",
            "Invalid.Instance.Not.Found",
            "OPERATION_FAILED_RESOURCE_NOT_FOUND",
        ] {
            let body = format!(r#"{{"code":"{code}"}}"#);
            assert!(err(404, &[], &body).is_not_found(), "{code}");
        }
        assert!(!err(400, &[], r#"{"code":"INVALID_PARAMETER"}"#).is_not_found());
        assert!(!err(500, &[], r#"{"code":"INVALID_INSTANCE_NOT_FOUND"}"#).is_not_found());
    }

    #[test]
    fn a_security_policy_is_blocked_not_auth() {
        assert_eq!(err(451, &[], "").kind().as_str(), "blocked");
        assert_eq!(
            err(403, &[], r#"{"code":"REQUEST_BLOCKED"}"#)
                .kind()
                .as_str(),
            "blocked"
        );
        // A 403 without the challenge is the credentials' permissions.
        assert_eq!(
            err(
                403,
                &[("content-type", "text/html")],
                "<html>Forbidden</html>"
            )
            .kind()
            .as_str(),
            "auth"
        );
        assert!(
            !err(451, &[], "").is_retryable(),
            "a policy does not change in a second"
        );
    }

    #[test]
    fn cdn_challenge_is_blocked_and_says_so() {
        let e = err(
            403,
            &[("content-type", "text/html"), ("cf-mitigated", "challenge")],
            "<html>Just a moment...</html>",
        );
        assert_eq!(e.kind().as_str(), "blocked");
        let text = e.to_string();
        assert!(text.contains("cf-mitigated: challenge"), "{text}");
        assert!(text.contains("text/html"), "{text}");
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(
            parse_retry_after(&HeaderValue::from_static("7")),
            Some(Duration::from_secs(7))
        );
        let past = HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(parse_retry_after(&past), Some(Duration::ZERO));
        assert_eq!(parse_retry_after(&HeaderValue::from_static("soon")), None);
    }
}
