//! ZC2-HMAC-SHA256 request signing, as a pure function of its inputs.
//! The clock and the HTTP client live elsewhere: the caller passes the timestamp and the exact bytes it sends.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The signing algorithm's name, sent in `X-ZC-Signature-Method` and at the head of `Authorization`.
pub const ALGORITHM: &str = "ZC2-HMAC-SHA256";

/// The headers covered by the signature, in the order the canonical request lists them.
pub const SIGNED_HEADERS: &str = "content-type;host";

/// What one request is signed over: the exact `Content-Type` and `Host` values sent and the exact body bytes.
#[derive(Debug, Clone, Copy)]
pub struct SignInput<'a> {
    /// `Content-Type` as sent, byte for byte.
    pub content_type: &'a str,
    /// `Host` as sent: `host` for the scheme's default port, `host:port` otherwise.
    pub host: &'a str,
    /// The body bytes sent (`{}` for an empty request, never an empty body).
    pub body: &'a [u8],
    /// `X-ZC-Timestamp`: Unix seconds.
    pub timestamp: u64,
}

/// A SHA-256 digest as lowercase hex, on the stack: a call is signed three thousand times a poll interval at a
/// thousand accounts, and each step of it used to allocate its own string.
struct Hex([u8; 64]);

impl Hex {
    fn of(digest: &[u8]) -> Hex {
        let mut out = [b'0'; 64];
        // A SHA-256 digest is 32 bytes, so it always fits; the fallback (zeros) keeps library code free of panics.
        let _ = hex::encode_to_slice(digest, &mut out);
        Hex(out)
    }

    fn as_str(&self) -> &str {
        // Hex digits are ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// The canonical request's pieces in order (method, path `/`, empty query, canonical headers, signed headers,
/// payload hash), so that it is written ([`canonical_request`]) and hashed ([`string_to_sign`]) from one list.
fn canonical_pieces<'a>(input: &SignInput<'a>, payload: &'a Hex) -> [&'a str; 8] {
    [
        "POST\n/\n\ncontent-type:",
        input.content_type,
        "\nhost:",
        input.host,
        "\n\n",
        SIGNED_HEADERS,
        "\n",
        payload.as_str(),
    ]
}

/// The string-to-sign's pieces in order: algorithm, timestamp, hash of the canonical request.
fn string_to_sign_pieces<'a>(timestamp: &'a str, canonical: &'a Hex) -> [&'a str; 5] {
    [ALGORITHM, "\n", timestamp, "\n", canonical.as_str()]
}

/// The hex SHA-256 of the canonical request, hashed piece by piece rather than written out.
fn canonical_hash(input: &SignInput<'_>) -> Hex {
    let payload = Hex::of(&Sha256::digest(input.body));
    let mut hasher = Sha256::new();
    for piece in canonical_pieces(input, &payload) {
        hasher.update(piece);
    }
    Hex::of(&hasher.finalize())
}

/// The canonical request: method, path (always `/`), empty query, canonical headers, signed headers, payload hash.
pub fn canonical_request(input: &SignInput<'_>) -> String {
    canonical_pieces(input, &Hex::of(&Sha256::digest(input.body))).concat()
}

/// The string the HMAC is computed over.
pub fn string_to_sign(input: &SignInput<'_>) -> String {
    string_to_sign_pieces(&input.timestamp.to_string(), &canonical_hash(input)).concat()
}

/// The signature for `input` under `secret`, as hex on the stack.
fn signature_hex(secret: &str, input: &SignInput<'_>) -> Hex {
    // HMAC accepts a key of any length, so this cannot fail; the fallback keeps library code free of panics.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return Hex::of(&[]);
    };
    for piece in string_to_sign_pieces(&input.timestamp.to_string(), &canonical_hash(input)) {
        mac.update(piece.as_bytes());
    }
    Hex::of(&mac.finalize().into_bytes())
}

/// The hex signature for `input` under `secret`.
pub fn signature(secret: &str, input: &SignInput<'_>) -> String {
    signature_hex(secret, input).as_str().to_owned()
}

/// The whole `Authorization` header value.
pub fn authorization(access_key_id: &str, secret: &str, input: &SignInput<'_>) -> String {
    format!(
        "{ALGORITHM} Credential={access_key_id}, SignedHeaders={SIGNED_HEADERS}, Signature={}",
        signature_hex(secret, input).as_str()
    )
}

/// The parts of a received `Authorization` header, for the simulator's check.
#[derive(Debug, PartialEq, Eq)]
pub struct ParsedAuthorization<'a> {
    /// The access key id after `Credential=`.
    pub credential: &'a str,
    /// The value after `SignedHeaders=`.
    pub signed_headers: &'a str,
    /// The hex signature after `Signature=`.
    pub signature: &'a str,
}

/// Splits `ZC2-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`; `None` when it is not of that form.
pub fn parse_authorization(value: &str) -> Option<ParsedAuthorization<'_>> {
    let rest = value.strip_prefix(ALGORITHM)?.strip_prefix(' ')?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (key, val) = part.trim().split_once('=')?;
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => return None,
        };
        if slot.replace(val).is_some() {
            return None;
        }
    }
    Some(ParsedAuthorization {
        credential: credential?,
        signed_headers: signed_headers?,
        signature: signature?,
    })
}

/// Compares two signatures in time independent of where they differ, so the simulator leaks nothing by timing.
pub fn signatures_equal(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_it_writes() {
        let input = SignInput {
            content_type: "application/json",
            host: "h",
            body: b"{}",
            timestamp: 1,
        };
        let header = authorization("AK", "secret", &input);
        let parsed = parse_authorization(&header).unwrap();
        assert_eq!(parsed.credential, "AK");
        assert_eq!(parsed.signed_headers, SIGNED_HEADERS);
        assert_eq!(parsed.signature, signature("secret", &input));
    }

    #[test]
    fn rejects_malformed_authorization() {
        for bad in [
            "",
            "Bearer x",
            "ZC2-HMAC-SHA256",
            "ZC2-HMAC-SHA256 Credential=a, SignedHeaders=b",
            "ZC2-HMAC-SHA256 Credential=a, Credential=a, SignedHeaders=b, Signature=c",
            "ZC2-HMAC-SHA256 Credential=a, SignedHeaders=b, Signature=c, Extra=d",
        ] {
            assert_eq!(parse_authorization(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn constant_time_compare() {
        assert!(signatures_equal("abc", "abc"));
        assert!(!signatures_equal("abc", "abd"));
        assert!(!signatures_equal("abc", "ab"));
    }
}
