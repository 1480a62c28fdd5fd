//! Wire types every product shares: request bodies, pages and how they are read (the success envelope's visitors
//! are `envelope`'s), the error envelope, and the product-neutral instance row ([`InstanceInfo`], which is also
//! the VM API's row as sent; the other products' rows are `rows`'). Decoding only; what a status means to the
//! exporter is decided by the poller and the renderer.

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

/// One page of a paged describe call, whichever envelope it came in.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub request_id: Option<String>,
    /// Instances matching the request across all pages, as the API counted them when it answered this page.
    pub total_count: u64,
    pub data_set: Vec<T>,
}

/// What a page said beside its rows, which went to the caller as they were read ([`read_page`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PageHead {
    pub request_id: Option<String>,
    pub total_count: u64,
}

impl PageHead {
    /// The page of these rows.
    pub fn with<T>(self, data_set: Vec<T>) -> Page<T> {
        Page {
            request_id: self.request_id,
            total_count: self.total_count,
            data_set,
        }
    }
}

/// Why a 200 answer could not be read as a page.
#[derive(Debug, PartialEq, Eq)]
pub struct PageDecodeError {
    pub detail: String,
    pub request_id: Option<String>,
}

/// How the pages of one action are read: the JSON of a 200 answer into a page of `T`, each row turned into the
/// caller's form while the bytes it may borrow are still there.
pub trait Read<T>: Fn(&[u8]) -> Result<Page<T>, PageDecodeError> + Sync {}

impl<T, F: Fn(&[u8]) -> Result<Page<T>, PageDecodeError> + Sync> Read<T> for F {}

/// How a product's `DescribeInstances` pages are read: each row, in the common form (which borrows from the
/// page), handed to the caller as it is read. A product's declaration names the one of its rows.
pub type DecodeRows =
    for<'a> fn(&'a [u8], &mut dyn FnMut(InstanceInfo<'a>)) -> Result<PageHead, PageDecodeError>;

/// Pages read by `decode`, each row turned into an `R` by `convert` as the page is read: the rows borrow from
/// the page, and `convert` carries what the walk's rows share (an interner) from page to page. The pages of a
/// walk in flight are all polled by its one task, so the lock is never waited for.
pub fn converting<R>(
    decode: DecodeRows,
    convert: impl for<'a> FnMut(InstanceInfo<'a>) -> R + Send,
) -> impl Read<R> {
    let convert = std::sync::Mutex::new(convert);
    move |body: &[u8]| {
        let mut convert = convert
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut rows = Vec::new();
        let head = decode(body, &mut |row| rows.push(convert(row)))?;
        Ok(head.with(rows))
    }
}

impl<T> Page<T> {
    /// The same page with every row turned into a `U`.
    pub fn map<U>(self, convert: impl FnMut(T) -> U) -> Page<U> {
        Page {
            request_id: self.request_id,
            total_count: self.total_count,
            data_set: self.data_set.into_iter().map(convert).collect(),
        }
    }
}

/// A page read by `decode`, its rows in the common form: for callers that want the rows themselves.
pub fn decode_rows(
    decode: DecodeRows,
    body: &[u8],
) -> Result<Page<InstanceInfo<'_>>, PageDecodeError> {
    let mut rows = Vec::new();
    let head = decode(body, &mut |row| rows.push(row))?;
    Ok(head.with(rows))
}

/// Reads a page of a product's own rows `W`, each turned into the common [`InstanceInfo`] as it is read: what a
/// declaration's [`DecodeRows`] is for a product whose rows differ from the VM API's.
pub fn read_rows<'a, W: Deserialize<'a> + Into<InstanceInfo<'a>>>(
    body: &'a [u8],
    row: &mut dyn FnMut(InstanceInfo<'a>),
) -> Result<PageHead, PageDecodeError> {
    read_page::<W>(body, |own| row(own.into()))
}

/// Decodes a 200 answer, its rows borrowing from `body` where they can.
pub fn decode_page<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<Page<T>, PageDecodeError> {
    let mut rows = Vec::new();
    let head = read_page(body, |row| rows.push(row))?;
    Ok(head.with(rows))
}

/// Reads a 200 answer in one pass, handing each row to `row` as it is read (`envelope`). A missing or null
/// `dataSet` is an empty page; a missing `totalCount` is an error, since paging cannot be planned without it.
/// The payload is the one in `response` when there is one, else the top level's; an answer with rows at its
/// top level beside a `response` is refused, since neither is then surely the answer.
pub fn read_page<'a, T: Deserialize<'a>>(
    body: &'a [u8],
    mut row: impl FnMut(T),
) -> Result<PageHead, PageDecodeError> {
    // JSON is UTF-8 (RFC 8259): checked once for the whole page, so that serde_json reads every string without
    // checking it again (from bytes it checks each string it keeps on its own, the larger part of decoding a
    // metadata page).
    let text = std::str::from_utf8(body).map_err(|e| PageDecodeError {
        detail: format!("invalid JSON page: not UTF-8 ({e})"),
        request_id: None,
    })?;
    // serde_json quotes the value it could not take (a 15 MiB string where a count belongs): clipped, since the
    // detail is logged at every failed poll and shown on the landing page.
    let said = super::envelope::read(text, &mut row).map_err(|e| PageDecodeError {
        detail: format!("invalid JSON page: {}", clip(&e.to_string())),
        request_id: None,
    })?;
    let flat_rows = said.rows;
    let wrapped = said.response.is_some();
    let (request_id, total_count) = match said.response {
        Some(inner) => (inner.request_id.or(said.request_id), inner.total_count),
        None => (said.request_id, said.total_count),
    };
    // Logged and shown on the landing page: kept short and on one line, whatever the server sent.
    let request_id = request_id.as_deref().map(clip);
    let refused = |detail: &str| PageDecodeError {
        detail: detail.into(),
        request_id: request_id.clone(),
    };
    if flat_rows > 0 && wrapped {
        return Err(refused(
            "answer has rows at its top level beside a response",
        ));
    }
    let Some(total_count) = total_count else {
        return Err(refused("answer has no totalCount"));
    };
    Ok(PageHead {
        request_id,
        total_count,
    })
}

/// Decodes a 200 answer of an unpaged action (hardware health, maintenance) as a page holding every row of its
/// list `key` (`monitorHealthList`, `dataList`), each row left as its JSON text ([`decode_row`] reads one): there
/// is no `totalCount`, and a missing or null list is empty (`zenlayer-products.md` §4). Another action's list is
/// not this one's. An answer that carries an error `code` (at the top or in `response`) is not read as an empty
/// list: it is refused, so the caller classifies the error by its code, as for any other status.
pub fn decode_list<'a>(
    body: &'a [u8],
    key: &str,
) -> Result<Page<&'a serde_json::value::RawValue>, PageDecodeError> {
    use serde_json::value::RawValue;
    type Fields<'a> = std::collections::HashMap<String, &'a RawValue>;
    let refused = |detail: String| PageDecodeError {
        detail,
        request_id: None,
    };
    let text = std::str::from_utf8(body)
        .map_err(|e| refused(format!("invalid JSON answer: not UTF-8 ({e})")))?;
    let parse = |text: &'a str| -> Result<Fields<'a>, PageDecodeError> {
        serde_json::from_str(text)
            .map_err(|e| refused(format!("invalid JSON answer: {}", clip(&e.to_string()))))
    };
    // An error code is a string, and no success code is documented: a `code` of `SUCCESS`, `OK`, `0` or a
    // number is not taken for an error.
    let error_code = |fields: &Fields| {
        fields
            .get("code")
            .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
            .is_some_and(|code| {
                let code = code.trim();
                !code.is_empty()
                    && !["SUCCESS", "OK", "0"]
                        .iter()
                        .any(|ok| code.eq_ignore_ascii_case(ok))
            })
    };
    let top = parse(text)?;
    let payload = match top.get("response") {
        Some(inner) if inner.get() != "null" => parse(inner.get())?,
        _ => top.clone(),
    };
    if error_code(&top) || error_code(&payload) {
        return Err(refused("the answer is an error envelope".into()));
    }
    let request_id = [&payload, &top]
        .into_iter()
        .find_map(|fields| fields.get("requestId"))
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
        .map(|id| clip(&id));
    let data_set: Vec<&'a RawValue> = match payload.get(key) {
        Some(list) if list.get() != "null" => serde_json::from_str(list.get())
            .map_err(|e| refused(format!("invalid {key}: {}", clip(&e.to_string()))))?,
        _ => Vec::new(),
    };
    Ok(Page {
        request_id,
        total_count: data_set.len() as u64,
        data_set,
    })
}

/// One row of an unpaged answer read on its own (from [`decode_list`]): a row that does not decode is that row's
/// error, clipped to a line, and the rest of the answer is still read.
pub fn decode_row<'a, T: Deserialize<'a>>(
    row: &'a serde_json::value::RawValue,
) -> Result<T, String> {
    serde_json::from_str(row.get()).map_err(|e| clip(&e.to_string()))
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
    fn error_fields_are_clipped_to_one_short_line() {
        let forged = "BAD\n2026-01-01T00:00:00Z  INFO zenlayer_exporter: \u{1b}[31mforged line";
        let huge = "C".repeat(300_000);
        let body =
            serde_json::json!({"requestId": huge, "code": forged, "message": forged}).to_string();
        let e = decode_error(body.as_bytes()).unwrap();
        for field in [&e.code, &e.message, &e.request_id] {
            let field = field.as_deref().unwrap();
            assert!(!field.chars().any(char::is_control), "{field:?}");
            assert!(field.chars().count() <= 201, "{} chars", field.len());
        }
        let body = serde_json::json!({"requestId": forged, "totalCount": 0}).to_string();
        let page = decode_page::<InstanceStatus>(body.as_bytes()).unwrap();
        assert!(!page.request_id.unwrap().contains(['\n', '\u{1b}']));
        // A decode error quotes what it could not take: a 15 MiB string where totalCount belongs stays a line.
        let body = format!(
            r#"{{"totalCount":"{}\u2028forged","dataSet":[]}}"#,
            "9".repeat(15 << 20)
        );
        let e = decode_page::<InstanceStatus>(body.as_bytes()).unwrap_err();
        assert!(e.detail.chars().count() < 260, "{} chars", e.detail.len());
        assert!(
            e.detail
                .starts_with("invalid JSON page: invalid type: string"),
            "{}",
            e.detail
        );
    }

    #[test]
    fn ids_and_text_fields_are_bounded() {
        let page = |id: &str, name: &str, tag: &str, status: &str| {
            let status_body = serde_json::json!({"totalCount": 1, "dataSet": [{"instanceId": id, "instanceStatus": status}]});
            let info_body = serde_json::json!({"totalCount": 1, "dataSet": [{"instanceId": id, "instanceName": name,
                "tags": {"tags": [{"key": "k", "value": tag}]}}]});
            (
                decode_page::<InstanceStatus>(status_body.to_string().as_bytes()).map(|_| ()),
                decode_page::<InstanceInfo>(info_body.to_string().as_bytes()).map(|_| ()),
            )
        };
        let (id, text) = ("1".repeat(MAX_ID_BYTES), "n".repeat(MAX_TEXT_BYTES));
        assert_eq!(page(&id, &text, &text, &text), (Ok(()), Ok(())));
        let long_id = "1".repeat(MAX_ID_BYTES + 1);
        let long = "n".repeat(MAX_TEXT_BYTES + 1);
        for (status, info) in [
            page(&long_id, "a", "b", "RUNNING"),
            page("1", &long, "b", &long),
            page("1", "a", &long, "RUNNING\u{0}"),
        ] {
            for e in [status, info].into_iter().filter_map(Result::err) {
                // Within `tags`, serde's untagged enum says only that no shape matched.
                let said = e.detail.contains("bytes allowed") || e.detail.contains("enum Tags");
                assert!(said, "{}", e.detail);
                assert!(
                    !e.detail.contains("nnnn") && !e.detail.contains("1111"),
                    "{}",
                    e.detail
                );
            }
        }
        assert!(page("1", "a", &long, "RUNNING").1.is_err());
        assert!(page("1", "a", "b", &long).0.is_err());
        assert!(page(&long_id, "a", "b", "RUNNING").0.is_err());
    }

    #[test]
    fn rows_borrow_from_the_page_and_a_page_must_be_utf8() {
        let body = br#"{"totalCount":2,"dataSet":[{"instanceId":"a","instanceName":"web-01","zoneId":"FRA-A"},
            {"instanceId":"b","instanceName":"caf\u00e9 \"01\""}]}"#;
        let page = decode_page::<InstanceInfo>(body).unwrap();
        fn name<'a>(row: &InstanceInfo<'a>) -> Cow<'a, str> {
            row.instance_name.clone().unwrap().0
        }
        assert!(matches!(name(&page.data_set[0]), Cow::Borrowed("web-01")));
        // Escapes cannot be borrowed: that one string is a copy, the others still borrowed.
        assert_eq!(
            name(&page.data_set[1]),
            Cow::<str>::Owned("café \"01\"".into())
        );
        // A name in Latin-1, not UTF-8.
        let mut latin1 = body.to_vec();
        let at = body.windows(6).position(|w| w == b"web-01").unwrap();
        latin1[at + 3] = 0xe9;
        let e = decode_page::<InstanceInfo>(&latin1).unwrap_err();
        assert!(
            e.detail.starts_with("invalid JSON page: not UTF-8"),
            "{}",
            e.detail
        );
    }

    #[test]
    fn wrapped_and_flat_envelopes_decode_alike() {
        let wrapped = br#"{"requestId":"T1","response":{"requestId":"T1","totalCount":2,
            "dataSet":[{"instanceId":"a","instanceStatus":"RUNNING"}]}}"#;
        let flat = br#"{"requestId":"T1","totalCount":2,"dataSet":[{"instanceId":"a","instanceStatus":"RUNNING"}]}"#;
        let a: Page<InstanceStatus> = decode_page(wrapped).unwrap();
        let b: Page<InstanceStatus> = decode_page(flat).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.total_count, 2);
        assert_eq!(a.request_id.as_deref(), Some("T1"));
    }

    #[test]
    fn an_envelope_is_read_in_one_pass_and_an_ambiguous_one_is_refused() {
        let ids = |body: &str| {
            decode_page::<InstanceStatus>(body.as_bytes()).map(|page| {
                let ids: Vec<String> = page
                    .data_set
                    .iter()
                    .map(|r| r.instance_id.to_string())
                    .collect();
                (page.total_count, page.request_id, ids)
            })
        };
        let row = |id: &str| format!(r#"{{"instanceId":"{id}","instanceStatus":"RUNNING"}}"#);
        // Fields in any order, unknown ones (a nested response in the payload among them) skipped, the payload's
        // request id before the top level's.
        let wrapped = format!(
            r#"{{"response":{{"dataSet":[{}],"response":{{"x":1}},"extra":[1,{{}}],"totalCount":1,"requestId":"in"}},"requestId":"out"}}"#,
            row("a")
        );
        assert_eq!(
            ids(&wrapped).unwrap(),
            (1, Some("in".into()), vec!["a".into()])
        );
        // A null response is the flat envelope; a null or absent dataSet is no rows.
        let flat = format!(
            r#"{{"response":null,"totalCount":1,"dataSet":[{}]}}"#,
            row("b")
        );
        assert_eq!(ids(&flat).unwrap().2, ["b"]);
        assert!(
            ids(r#"{"response":{"totalCount":0,"dataSet":null}}"#)
                .unwrap()
                .2
                .is_empty()
        );
        // Rows at the top level beside a response: neither is surely the answer.
        let both = format!(
            r#"{{"dataSet":[{}],"response":{{"totalCount":1,"dataSet":[{}]}}}}"#,
            row("c"),
            row("d")
        );
        let err = ids(&both).unwrap_err();
        assert!(err.detail.contains("beside a response"), "{}", err.detail);
        // A field twice is refused, as serde refuses it, and so is trailing text.
        let twice = format!(
            r#"{{"totalCount":1,"dataSet":[{}],"dataSet":[]}}"#,
            row("e")
        );
        assert!(
            ids(&twice)
                .unwrap_err()
                .detail
                .contains("duplicate field `dataSet`")
        );
        assert!(ids(r#"{"totalCount":0} {}"#).is_err());
        assert!(ids(r#"[{"totalCount":0}]"#).is_err());
    }

    #[test]
    fn null_or_missing_data_set_is_empty() {
        for body in [
            &br#"{"response":{"totalCount":0,"dataSet":null}}"#[..],
            br#"{"response":{"totalCount":0}}"#,
        ] {
            let page: Page<InstanceStatus> = decode_page(body).unwrap();
            assert!(page.data_set.is_empty());
        }
    }

    #[test]
    fn bad_pages_name_the_problem() {
        let err = decode_page::<InstanceStatus>(br#"{"response":{"dataSet":[]}}"#).unwrap_err();
        assert_eq!(err.detail, "answer has no totalCount");
        let err = decode_page::<InstanceStatus>(br#"{"response":{"totalCount":-1}}"#).unwrap_err();
        assert!(err.detail.contains("invalid JSON page"), "{}", err.detail);
        let err = decode_page::<InstanceStatus>(
            br#"{"response":{"totalCount":1,"dataSet":[{"instanceId":"a"}]}}"#,
        )
        .unwrap_err();
        assert!(err.detail.contains("instanceStatus"), "{}", err.detail);
        assert!(decode_page::<InstanceStatus>(b"<html>").is_err());
    }

    #[test]
    fn instance_info_accepts_nulls_absences_and_both_tag_shapes() {
        let page: Page<InstanceInfo> = decode_page(
            br#"{"response":{"totalCount":4,"dataSet":[
              {"instanceId":"a","instanceName":"web","cpuCount":4,"memory":8,"autoRenew":true,
               "tags":{"tags":[{"key":"env","value":"prod"},{"key":"bare"}]},"publicIpAddresses":["1.2.3.4"]},
              {"instanceId":"b","instanceName":null,"cpuCount":null,"tags":null,"expiredTime":null},
              {"instanceId":"c","tags":{"tags":null}},
              {"instanceId":"d","cpuCount":2.0,"tags":[{"key":"k","value":"v"}]}]}}"#,
        )
        .unwrap();
        let rows = page.data_set;
        assert_eq!(rows[0].instance_name.as_deref(), Some("web"));
        assert_eq!(rows[0].tags.as_ref().unwrap().list().len(), 2);
        assert_eq!(rows[0].tags.as_ref().unwrap().list()[1].value, None);
        assert_eq!(
            rows[1],
            InstanceInfo {
                instance_id: "b".into(),
                ..InstanceInfo::default()
            }
        );
        assert!(rows[2].tags.as_ref().unwrap().list().is_empty());
        assert_eq!(rows[3].cpu_count, Some(2.0));
        assert_eq!(
            rows[3].tags.as_ref().unwrap().list()[0].key.as_deref(),
            Some("k")
        );
        assert!(
            decode_page::<InstanceInfo>(
                br#"{"response":{"totalCount":1,"dataSet":[{"instanceName":"x"}]}}"#
            )
            .is_err()
        );
    }

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
    fn example_page_from_the_api_reference_decodes() {
        let page: Page<InstanceInfo> = decode_page(include_bytes!(
            "../../tests/fixtures/describe-instances-example.json"
        ))
        .unwrap();
        assert_eq!(page.total_count, 2);
        let web = &page.data_set[0];
        assert_eq!(web.instance_name.as_deref(), Some("web-fra-01"));
        assert_eq!(web.zone_id.as_deref(), Some("FRA-A"));
        assert_eq!(web.expired_time.as_deref(), Some("2026-08-15T08:30:00Z"));
        assert_eq!(page.data_set[1].expired_time, None);
        assert_eq!(web.private_ip, FirstIpv4(Some([10, 0, 0, 12].into())));
        assert_eq!(web.public_ip, FirstIpv4(Some([203, 0, 113, 10].into())));
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
    fn an_unpaged_answer_reads_its_own_list_and_an_error_envelope_is_no_empty_list() {
        let rows = |body: &str, key: &str| {
            decode_list(body.as_bytes(), key).map(|p| {
                p.data_set
                    .iter()
                    .map(|r| r.get().to_owned())
                    .collect::<Vec<_>>()
            })
        };
        let both = r#"{"requestId":"T","response":{"monitorHealthList":[{"instanceId":"1"}],"dataList":[]}}"#;
        assert_eq!(
            rows(both, "monitorHealthList").unwrap(),
            [r#"{"instanceId":"1"}"#]
        );
        assert_eq!(rows(both, "dataList").unwrap(), Vec::<String>::new());
        let flat = r#"{"requestId":"T","dataList":[{"instanceId":"2"}]}"#;
        assert_eq!(rows(flat, "dataList").unwrap().len(), 1);
        assert_eq!(rows(r#"{"response":null}"#, "dataList").unwrap().len(), 0);
        for refused in [
            r#"{"requestId":"T","code":"INTERNAL_SERVER_ERROR","message":"boom"}"#,
            r#"{"response":{"requestId":"T","code":"AUTH_FAILURE_SIGNATURE","message":"bad"}}"#,
            r#"{"code":"X","response":{"monitorHealthList":[]}}"#,
        ] {
            assert!(rows(refused, "monitorHealthList").is_err(), "{refused}");
            // The caller then reads the envelope as the error it is.
            assert!(decode_error(refused.as_bytes()).is_some(), "{refused}");
        }
        assert!(rows("[]", "dataList").is_err());
        // A success that says so is read as one.
        for success in [
            r#"{"code":"SUCCESS","dataList":[{}]}"#,
            r#"{"code":0,"dataList":[{}]}"#,
        ] {
            assert_eq!(rows(success, "dataList").unwrap().len(), 1, "{success}");
        }
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
