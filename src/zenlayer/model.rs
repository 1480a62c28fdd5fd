//! Wire types every product shares: request bodies, the error envelope, and the product-neutral instance row
//! ([`InstanceInfo`], which is also the VM API's row as sent; the other products' rows are `rows`'), with how a
//! walk tells rows apart ([`Row`]). How pages of them are read is `page`'s. Decoding only; what a status means to
//! the exporter is decided by the poller and the renderer.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::envelope::FoldList;
use super::error::clip;
pub use super::vocabulary::Status;

/// The API action that lists every instance's status.
pub const DESCRIBE_INSTANCES_STATUS: &str = "DescribeInstancesStatus";

/// The API action that lists every instance's metadata: names, zones, types, tags, billing.
pub const DESCRIBE_INSTANCES: &str = "DescribeInstances";

/// Largest `pageSize` the API accepts.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Most ids one `instanceIds` filter may carry.
pub const MAX_INSTANCE_IDS: usize = 100;

pub use super::bounds::{MAX_ID_BYTES, MAX_TEXT_BYTES, check_length};

/// An instance id, as every row, snapshot and request holds it. Zenlayer's are 18 or 19 digits, which fit in the
/// 24 bytes a `CompactString` keeps inline: decoding a page allocates nothing per row for its ids, and an id
/// held costs 24 bytes rather than a 16-byte `Box<str>` and the 32-byte heap chunk behind it. A longer id (up to
/// [`MAX_ID_BYTES`]) is kept on the heap.
pub type InstanceId = compact_str::CompactString;

pub(super) fn bounded_id<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<InstanceId, D::Error> {
    let id = InstanceId::deserialize(deserializer)?;
    check_length(&id, MAX_ID_BYTES, "an instance id")?;
    Ok(id)
}

pub(super) fn bounded_text<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Text<'de>>, D::Error> {
    let text = Option::<Text<'de>>::deserialize(deserializer)?;
    if let Some(text) = &text {
        check_length(text, MAX_TEXT_BYTES, "a text field")?;
    }
    Ok(text)
}

/// A string of a row as sent, borrowed from the page's bytes unless it holds escapes. A metadata row is read
/// only to be turned into the snapshot's form, whose repeated values are interned: an owned copy of every field
/// of every row (a dozen allocations a row) was most of what decoding cost beyond reading the JSON at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text<'a>(pub Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'a> From<&'a str> for Text<'a> {
    fn from(text: &'a str) -> Text<'a> {
        Text(Cow::Borrowed(text))
    }
}

impl From<String> for Text<'_> {
    fn from(text: String) -> Self {
        Text(Cow::Owned(text))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(text)))
            }
            fn visit_str<E>(self, text: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E>(self, text: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// The body of a describe call: paged (`page_size`, `page_num`), by ids, or (maintenance) by `product`. Empty
/// `instance_ids` means every instance of the account.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PageRequest {
    /// `DescribeMaintenanceAlerts`' one (required) field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instance_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_num: Option<u32>,
}

/// One row of `DescribeInstancesStatus`, decoded straight into the compact forms the snapshot keeps: the status
/// as `S`, the caller's type for it (the status poll's vocabulary; the API client knows no exporter type), or
/// the text as sent. Whatever `S` is, it is bounded like every text field.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStatus<S = BoundedText> {
    #[serde(deserialize_with = "bounded_id")]
    pub instance_id: InstanceId,
    pub instance_status: S,
}

/// A text field at most [`MAX_TEXT_BYTES`] long.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct BoundedText(pub Box<str>);

impl<'de> Deserialize<'de> for BoundedText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        check_length(&text, MAX_TEXT_BYTES, "a text field")?;
        Ok(BoundedText(text.into_boxed_str()))
    }
}

/// One instance's row of a product's `DescribeInstances`, reduced to what the exporter exports, in the same form
/// for every product: decoded as it is from the VM API (whose field names these are), converted from the other
/// products' rows (`rows`). Whether the API omits, nulls or empties an absent value is not documented, so every
/// field but the id may be missing or null.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InstanceInfo<'a> {
    #[serde(deserialize_with = "bounded_id")]
    pub instance_id: InstanceId,
    /// What bare metal's status poll reads (it has no status-only action), from its own row; the VM's and ZEC's
    /// metadata rows leave it unread, so a status there can never fail a metadata page.
    #[serde(default, skip_deserializing)]
    pub instance_status: Option<Status>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    pub instance_name: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    pub zone_id: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    pub instance_type: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    pub image_name: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    pub instance_charge_type: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    pub resource_group_name: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    pub resource_group_id: Option<Text<'a>>,
    /// A count, but read as a number of any shape: `4.0` must not fail a poll.
    #[serde(default)]
    pub cpu_count: Option<f64>,
    /// GiB.
    #[serde(default)]
    pub memory: Option<f64>,
    /// ISO 8601, UTC.
    #[serde(borrow, default)]
    pub create_time: Option<Text<'a>>,
    /// ISO 8601, UTC; null for postpaid instances.
    #[serde(borrow, default)]
    pub expired_time: Option<Text<'a>>,
    #[serde(default)]
    pub auto_renew: Option<bool>,
    /// `publicIpAddresses`, of which one address is exported.
    #[serde(default, rename = "publicIpAddresses")]
    pub public_ip: FirstIpv4,
    #[serde(default, rename = "privateIpAddresses")]
    pub private_ip: FirstIpv4,
    #[serde(borrow, default)]
    pub tags: Option<Tags<'a>>,
}

/// The first IPv4 address of a list of addresses (`[null, "fd00::1", " 10.0.0.7"]` gives 10.0.0.7): all a list
/// is read for, since an instance has one address per kind for service discovery. Read as the list is read, with
/// nothing kept or allocated on the way; a null or absent list, and elements that are null or not IPv4, give
/// none. Elements must still be strings or null, as in every other text field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FirstIpv4(pub Option<std::net::Ipv4Addr>);

impl FirstIpv4 {
    /// The address `text` holds, if it is IPv4 (spaces around it are forgiven).
    pub fn of(text: Option<&str>) -> FirstIpv4 {
        FirstIpv4(text.and_then(|a| a.trim().parse().ok()))
    }

    /// This list's address, or else the next list's: the first address of the two lists read in turn.
    pub fn or(self, next: FirstIpv4) -> FirstIpv4 {
        FirstIpv4(self.0.or(next.0))
    }
}

impl<'de> Deserialize<'de> for FirstIpv4 {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::DeserializeSeed;
        FoldList::new(
            FirstIpv4::default(),
            |first: FirstIpv4, address: Option<Text>| first.or(FirstIpv4::of(address.as_deref())),
        )
        .deserialize(deserializer)
    }
}

/// `tags` as documented (`{"tags": [...]}`), or a bare list, which costs nothing to accept.
#[derive(Debug, Clone, PartialEq)]
pub enum Tags<'a> {
    Wrapped { tags: Option<Vec<Tag<'a>>> },
    List(Vec<Tag<'a>>),
}

/// Told apart by the JSON's shape as it is read: serde's untagged enums buffer every value to try each variant,
/// and a page holds a thousand rows' tags.
impl<'de: 'a, 'a> Deserialize<'de> for Tags<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
        struct Shape;
        impl<'de> serde::de::Visitor<'de> for Shape {
            type Value = Tags<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(r#"tags as {"tags": [...]} or a list"#)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Tags<'de>, A::Error> {
                #[derive(Deserialize)]
                struct Wrapped<'a> {
                    #[serde(borrow, default)]
                    tags: Option<Vec<Tag<'a>>>,
                }
                let wrapped = Wrapped::deserialize(MapAccessDeserializer::new(map))?;
                Ok(Tags::Wrapped { tags: wrapped.tags })
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<Tags<'de>, A::Error> {
                Vec::<Tag>::deserialize(SeqAccessDeserializer::new(seq)).map(Tags::List)
            }
        }
        deserializer.deserialize_any(Shape)
    }
}

impl<'a> Tags<'a> {
    pub fn list(&self) -> &[Tag<'a>] {
        match self {
            Tags::Wrapped { tags } => tags.as_deref().unwrap_or_default(),
            Tags::List(tags) => tags,
        }
    }
}

/// One tag; its value may be absent.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Tag<'a> {
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    pub key: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    pub value: Option<Text<'a>>,
}

/// A row of a paged listing: what tells two rows (and so two pages) apart.
pub trait Row {
    fn id(&self) -> &str;
}

impl<S> Row for InstanceStatus<S> {
    fn id(&self) -> &str {
        &self.instance_id
    }
}

impl Row for InstanceInfo<'_> {
    fn id(&self) -> &str {
        &self.instance_id
    }
}

/// A row in the caller's form is told apart by the row it came from: shared, paired with what else it gave, or
/// left out (a row that is not one, which no id names).
impl<R: Row> Row for std::sync::Arc<R> {
    fn id(&self) -> &str {
        R::id(self)
    }
}

impl<R: Row, E> Row for (R, E) {
    fn id(&self) -> &str {
        self.0.id()
    }
}

impl<R: Row> Row for Option<R> {
    fn id(&self) -> &str {
        self.as_ref().map_or("", Row::id)
    }
}

/// Seconds since the Unix epoch of an ISO 8601 time as the API sends it: RFC 3339 (`2026-01-15T08:30:00Z`, any
/// offset, fractions), or the same without an offset (taken as UTC, which the API documents its times to be).
pub fn unix_time(text: &str) -> Option<f64> {
    use time::format_description::well_known::Rfc3339;
    let text = text.trim();
    let parsed = time::OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .or_else(|| {
            let format = time::macros::format_description!(
                "[year]-[month]-[day][first [T][ ]][hour]:[minute]:[second]"
            );
            time::PrimitiveDateTime::parse(text, format)
                .ok()
                .map(time::PrimitiveDateTime::assume_utc)
        })?;
    Some(parsed.unix_timestamp_nanos() as f64 / 1e9)
}

/// The error envelope `{requestId, code, message}`, flat or (defensively) wrapped in `response`.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub request_id: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    #[serde(flatten)]
    top: ErrorBody,
    response: Option<ErrorBody>,
}

/// Reads an error envelope; `None` when the body is not one (a proxy's HTML page, an empty body). Every field
/// is clipped and flattened to one line: they end up in logs and on the landing page, and a hostile or broken
/// server could otherwise forge log lines (a newline, a terminal escape) or send megabytes.
pub fn decode_error(body: &[u8]) -> Option<ErrorBody> {
    let envelope: ErrorEnvelope = serde_json::from_slice(body).ok()?;
    let mut out = envelope.top;
    if let Some(inner) = envelope.response {
        out.request_id = out.request_id.or(inner.request_id);
        out.code = out.code.or(inner.code);
        out.message = out.message.or(inner.message);
    }
    let clipped = |field: Option<String>| field.as_deref().map(clip);
    let out = ErrorBody {
        request_id: clipped(out.request_id),
        code: clipped(out.code),
        message: clipped(out.message),
    };
    out.code.is_some().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_list_gives_its_first_ipv4() {
        let first = |list: &str| serde_json::from_str::<FirstIpv4>(list).map(|f| f.0);
        assert_eq!(
            first(r#"[null, "fd00::1", " 10.0.0.7", "10.0.0.8"]"#).unwrap(),
            Some([10, 0, 0, 7].into())
        );
        for none in ["null", "[]", r#"["not an address", null]"#] {
            assert_eq!(first(none).unwrap(), None, "{none}");
        }
        // Elements are strings, as everywhere else: a number there is a page the API did not mean to send.
        assert!(first(r#"["10.0.0.7", 7]"#).is_err());
        assert!(first(r#""10.0.0.7""#).is_err());
    }

    #[test]
    fn error_envelope_flat_or_wrapped() {
        let flat = decode_error(
            br#"{"requestId":"T2","code":"REQUEST_LIMIT_EXCEEDED","message":"slow down"}"#,
        );
        assert_eq!(
            flat.unwrap().code.as_deref(),
            Some("REQUEST_LIMIT_EXCEEDED")
        );
        let wrapped = decode_error(br#"{"response":{"requestId":"T3","code":"X"}}"#).unwrap();
        assert_eq!(
            (wrapped.request_id.as_deref(), wrapped.code.as_deref()),
            (Some("T3"), Some("X"))
        );
        assert_eq!(decode_error(b"<html>blocked</html>"), None);
        assert_eq!(decode_error(b""), None);
        assert_eq!(decode_error(br#"{"requestId":"T"}"#), None);
    }

    #[test]
    fn request_body_is_compact_and_omits_unset_fields() {
        let body = serde_json::to_string(&PageRequest {
            page_size: Some(1000),
            page_num: Some(3),
            ..PageRequest::default()
        })
        .unwrap();
        assert_eq!(body, r#"{"pageSize":1000,"pageNum":3}"#);
        assert_eq!(
            serde_json::to_string(&PageRequest::default()).unwrap(),
            "{}"
        );
    }
}
