//! The signer reproduces every vector computed by the vendor's official SDK, byte for byte, at every stage.

use zenlayer_exporter::zenlayer::sign::{self, SignInput};

use crate::common;

#[test]
fn every_sdk_vector_reproduces() {
    let vectors = common::sign_vectors();
    assert!(vectors.len() >= 5);
    assert!(
        vectors.iter().any(|v| v.content_type.contains("charset")),
        "the vendor's doc example is included"
    );
    for v in &vectors {
        let input = SignInput {
            content_type: &v.content_type,
            host: &v.host,
            body: v.body.as_bytes(),
            timestamp: v.timestamp.parse().expect("numeric timestamp"),
        };
        assert_eq!(
            sign::canonical_request(&input),
            v.canonical_request,
            "{}: canonical request",
            v.name
        );
        assert_eq!(
            sign::string_to_sign(&input),
            v.string_to_sign,
            "{}: string to sign",
            v.name
        );
        assert_eq!(
            sign::signature(&v.access_key_secret, &input),
            v.signature,
            "{}: signature",
            v.name
        );
        assert_eq!(
            sign::authorization(&v.access_key_id, &v.access_key_secret, &input),
            v.authorization,
            "{}: authorization",
            v.name
        );
    }
}

#[test]
fn any_change_to_a_signed_input_changes_the_signature() {
    let base = SignInput {
        content_type: "application/json",
        host: "console.zenlayer.com",
        body: b"{}",
        timestamp: 1_700_000_000,
    };
    let reference = sign::signature("secret", &base);
    let variants = [
        SignInput {
            content_type: "application/json; charset=utf-8",
            ..base
        },
        SignInput {
            host: "console.zenlayer.com:443",
            ..base
        },
        SignInput {
            body: b"{ }",
            ..base
        },
        SignInput {
            timestamp: 1_700_000_001,
            ..base
        },
    ];
    for v in &variants {
        assert_ne!(sign::signature("secret", v), reference, "{v:?}");
    }
    assert_ne!(sign::signature("secret2", &base), reference);
}
