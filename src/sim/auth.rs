//! Who the simulated API lets in: the credentials each account accepts, and the check of a call's
//! ZC2-HMAC-SHA256 signature exactly as documented, or of its bearer token, for every service alike.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;

use crate::zenlayer::sign::{self, SignInput};

/// Credentials the simulator accepts.
#[derive(Debug, Clone)]
pub struct SimCredentials {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub token: Option<String>,
}

impl SimCredentials {
    /// The credentials of account `index` (> 0) of a simulator serving several.
    pub fn account(index: usize) -> SimCredentials {
        SimCredentials {
            access_key_id: format!("SIMAKIDACCOUNT{index:06}"),
            access_key_secret: format!("sim-secret-account-{index:06}"),
            token: Some(format!("sim-token-account-{index:06}")),
        }
    }
}

/// A header's value, if it is text.
pub(super) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Checks the signature exactly as the API documents it, over the `Content-Type` and `Host` received and
/// the body bytes received, within `max_skew` of the clock; or the bearer token.
pub(super) fn authenticate(
    credentials: &SimCredentials,
    max_skew: Duration,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), (&'static str, &'static str)> {
    let authorization =
        header(headers, "authorization").ok_or(("AUTH_MISSING", "no Authorization header"))?;
    if let Some(token) = authorization.strip_prefix("Bearer ") {
        return match &credentials.token {
            Some(expected) if sign::signatures_equal(token, expected) => Ok(()),
            _ => Err(("INVALID_TOKEN", "the access token is not valid")),
        };
    }
    let parsed = sign::parse_authorization(authorization)
        .ok_or(("INVALID_AUTHORIZATION", "malformed Authorization header"))?;
    if header(headers, "x-zc-signature-method") != Some(sign::ALGORITHM) {
        return Err((
            "INVALID_SIGNATURE_METHOD",
            "X-ZC-Signature-Method must be ZC2-HMAC-SHA256",
        ));
    }
    if parsed.signed_headers != sign::SIGNED_HEADERS {
        return Err((
            "INVALID_AUTHORIZATION",
            "SignedHeaders must be content-type;host",
        ));
    }
    if parsed.credential != credentials.access_key_id {
        return Err(("INVALID_ACCESS_KEY", "the access key does not exist"));
    }
    let timestamp: u64 = header(headers, "x-zc-timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or((
            "INVALID_TIMESTAMP",
            "X-ZC-Timestamp is missing or not a number",
        ))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if now.abs_diff(timestamp) > max_skew.as_secs() {
        return Err((
            "TIMESTAMP_EXPIRED",
            "X-ZC-Timestamp is too far from the server's clock",
        ));
    }
    let input = SignInput {
        content_type: header(headers, "content-type").unwrap_or(""),
        host: header(headers, "host").unwrap_or(""),
        body,
        timestamp,
    };
    let expected = sign::signature(&credentials.access_key_secret, &input);
    if !sign::signatures_equal(parsed.signature, &expected) {
        return Err(("SIGNATURE_MISMATCH", "the signature does not match"));
    }
    Ok(())
}
