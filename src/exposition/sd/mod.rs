//! `/sd`: the instances as Prometheus HTTP service discovery targets (`http_sd_config`), read from the snapshots
//! `/metrics` serves, so the two never disagree and a refresh costs no API call. One target group per instance
//! with metadata: its first private or public IPv4 address joined to the asked port, and every fact the
//! snapshots hold as a `__meta_zenlayer_*` label, every tag included. What a query asks ([`Query`]) is parsed
//! here, and its answer rendered (or rewritten from another port's) and held deflated like the exposition
//! (`gzip`); [`cache`] keeps the answers for the next refresh and bounds the renders.

mod cache;

use crate::names::AccountName;
use crate::zenlayer::product::Product;
use std::net::Ipv4Addr;
use std::sync::{Arc, OnceLock};

use super::gzip::{self, Chunk, Part};
use super::render::Rendered;
use crate::metadata::INFO_LABELS;
use crate::metadata::InstanceMeta;
use crate::metadata::families::join;
use crate::status::Status;
use crate::status::snapshot::Instance;

pub use cache::{Cache, Refused};

/// What opens the label of every tag: Prometheus drops labels starting with `__meta_` after relabeling.
pub const TAG_PREFIX: &str = "__meta_zenlayer_tag_";

crate::labels::label_values! {
    /// Which of an instance's addresses becomes its target (`address=`, and the label of the instances left out).
    pub enum Address {
        Private = "private",
        Public = "public",
    }
}

impl Address {
    fn of(self, meta: &InstanceMeta) -> Option<Ipv4Addr> {
        match self {
            Address::Private => meta.private_ip,
            Address::Public => meta.public_ip,
        }
    }
}

/// One `/sd` request's parameters, validated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Query {
    pub port: u16,
    pub address: Address,
    /// Sorted, each once; `[RUNNING]` unless asked otherwise.
    pub statuses: Vec<Status>,
    pub account: Option<AccountName>,
    /// In the order of `Product::ALL`, each once; every product unless asked otherwise.
    pub products: Vec<Product>,
}

impl Query {
    /// Parses a query string: `port` (required, 1 to 65535), `address` (`private` or `public`), `status`
    /// (repeatable or comma-separated, any case), `account`, `product` (repeatable or comma-separated). An unknown parameter is refused rather than ignored:
    /// a typo such as `adress=public` would otherwise discover the wrong addresses without a word.
    pub fn parse(query: &str) -> Result<Query, String> {
        let (mut port, mut address, mut account) = (None, None, None);
        let mut statuses = Vec::new();
        let mut products = Vec::new();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let once = |seen: bool| match seen {
                true => Err(format!("{key} given more than once")),
                false => Ok(()),
            };
            match &*key {
                "port" => {
                    once(port.is_some())?;
                    port = Some(
                        value
                            .parse::<u16>()
                            .ok()
                            .filter(|p| *p > 0)
                            .ok_or_else(|| {
                                format!("port {value:?} is not a number from 1 to 65535")
                            })?,
                    );
                }
                "address" => {
                    once(address.is_some())?;
                    address = Some(
                        Address::ALL
                            .iter()
                            .copied()
                            .find(|a| a.as_str() == value)
                            .ok_or_else(|| format!("address {value:?} is not private or public"))?,
                    );
                }
                "status" => {
                    for status in value.split(',') {
                        let status = status.trim();
                        if status.is_empty()
                            || status.len() > 64
                            || !status
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '_')
                        {
                            return Err(format!(
                                "status {status:?} is not a status (letters, digits and _, such as RUNNING)"
                            ));
                        }
                        statuses.push(Status::parse(&status.to_ascii_uppercase()));
                    }
                }
                "account" => {
                    once(account.is_some())?;
                    match AccountName::new(&value) {
                        Some(name) => account = Some(name),
                        None => {
                            return Err(format!(
                                "account {value:?} is not an account name (1 to 63 of a-z, 0-9, _ and -)"
                            ));
                        }
                    }
                }
                "product" => {
                    for word in value.split(',').map(str::trim) {
                        let product = Product::ALL
                            .iter()
                            .find(|p| p.as_str() == word)
                            .ok_or_else(|| {
                                let known: Vec<&str> =
                                    Product::ALL.iter().map(|p| p.as_str()).collect();
                                format!("product {word:?} is not one of {}", known.join(", "))
                            })?;
                        products.push(*product);
                    }
                }
                _ => {
                    return Err(format!(
                        "unknown parameter {key:?}: /sd takes port, address, status, account and product"
                    ));
                }
            }
        }
        if statuses.is_empty() {
            statuses.push(Status::parse("RUNNING"));
        }
        statuses.sort();
        statuses.dedup();
        Ok(Query {
            port: port
                .ok_or("missing parameter: /sd?port=PORT (the port to scrape on each instance)")?,
            address: address.unwrap_or(Address::Private),
            statuses,
            account,
            products: Product::ALL
                .iter()
                .copied()
                .filter(|p| products.is_empty() || products.contains(p))
                .collect(),
        })
    }
}

/// One account's snapshots of one product, as `/sd` reads them: its name when several accounts are served.
#[derive(Clone)]
pub struct Source {
    pub account: Option<AccountName>,
    pub product: Product,
    pub rendered: Arc<Rendered>,
}

/// An answer as held: the target groups' text, deflated, without the brackets of the array.
pub struct Answer {
    /// The port of every target.
    port: u16,
    groups: Part,
    pub targets: usize,
    /// Instances that matched but have no IPv4 address of the asked kind, so are left out.
    pub without_address: usize,
}

impl Answer {
    /// The JSON body, and whether it is gzip: one gzip member when `gzip` is asked, else (or if the compressor
    /// failed at rendering) the text, inflated as it is sent.
    pub fn body(&self, gzip: bool) -> (Vec<Chunk>, bool) {
        gzip::body(&[open_bracket(), &self.groups], CLOSE.to_vec(), gzip)
    }

    /// A strong validator of the JSON text: its CRC-32 and length.
    pub fn etag(&self) -> String {
        format!("\"{:08x}-{:x}\"", self.groups.crc32(), self.groups.len())
    }
}

const CLOSE: &[u8] = b"]\n";

fn open_bracket() -> &'static Part {
    static OPEN: OnceLock<Part> = OnceLock::new();
    OPEN.get_or_init(|| Part::new(b"[".to_vec()))
}

/// One instance to write: the join of its status and metadata rows, and the address chosen.
struct Target<'a> {
    account: Option<&'a str>,
    product: Product,
    instance: &'a Instance,
    meta: &'a InstanceMeta,
    address: Ipv4Addr,
}

/// Renders the answer to `query` from `sources`, a batch of instances at a time (see [`Part::rendered`]).
pub fn render(query: &Query, sources: &[Source]) -> Answer {
    render_unless(query, sources, &|| false).unwrap_or_else(|| unreachable!("never abandoned"))
}

/// [`render`], given up (`None`) as soon as `abandoned` says nobody waits for the answer any more: checked
/// before each batch, so a client that hangs up costs one batch, not the fleet.
pub(super) fn render_unless(
    query: &Query,
    sources: &[Source],
    abandoned: &dyn Fn() -> bool,
) -> Option<Answer> {
    let mut without_address = 0;
    let mut targets = Vec::new();
    for source in sources
        .iter()
        .filter(|s| query.products.contains(&s.product))
    {
        let (snapshot, Some(metadata)) = source.rendered.sources() else {
            continue;
        };
        for (instance, meta) in join(snapshot, metadata) {
            if query.statuses.binary_search(&instance.status).is_err() {
                continue;
            }
            match query.address.of(meta) {
                Some(address) => targets.push(Target {
                    account: source.account.as_deref(),
                    product: source.product,
                    instance,
                    meta,
                    address,
                }),
                None => without_address += 1,
            }
        }
    }
    let mut first = true;
    let mut given_up = false;
    let groups = Part::rendered(&targets, |out, batch| {
        given_up = given_up || abandoned();
        if given_up {
            return;
        }
        for target in batch {
            if !std::mem::take(&mut first) {
                out.extend_from_slice(b",\n");
            }
            group(out, target, query.port);
        }
    });
    (!given_up).then_some(Answer {
        port: query.port,
        groups,
        targets: targets.len(),
        without_address,
    })
}

/// The answer to the query of `answer` with another port: the same groups with `:PORT` rewritten in each
/// target, read from its held text rather than rendered from the snapshots again. The port appears only there
/// as `:PORT"],"labels":` (a label's value cannot hold an unescaped quote). `None` if given up, or if the
/// compressor failed.
pub(super) fn with_port(
    answer: &Answer,
    port: u16,
    abandoned: &dyn Fn() -> bool,
) -> Option<Answer> {
    let from = format!(":{}\"],\"labels\":", answer.port);
    let to = format!(":{port}\"],\"labels\":");
    let finder = memchr::memmem::Finder::new(from.as_bytes());
    let mut frames = answer.groups.frames();
    let (mut pending, mut rewritten, mut ended) = (Vec::new(), 0, false);
    let groups = Part::streamed(|out| {
        if ended || abandoned() {
            return false;
        }
        match frames.next_frame() {
            Some(frame) => pending.extend_from_slice(&frame),
            None => {
                out.append(&mut pending);
                ended = true;
                return true;
            }
        }
        let mut at = 0;
        while let Some(found) = finder.find(&pending[at..]) {
            out.extend_from_slice(&pending[at..at + found]);
            out.extend_from_slice(to.as_bytes());
            at += found + from.len();
            rewritten += 1;
        }
        // A match may straddle two frames: what could be its start waits for the next frame.
        let safe = pending.len().saturating_sub(from.len() - 1).max(at);
        out.extend_from_slice(&pending[at..safe]);
        pending.drain(..safe);
        true
    })?;
    // Every target rewritten, and nothing lost to a failed inflation.
    let expected = answer.groups.len() - answer.targets * from.len() + answer.targets * to.len();
    (ended && rewritten == answer.targets && groups.len() == expected).then_some(Answer {
        port,
        groups,
        targets: answer.targets,
        without_address: answer.without_address,
    })
}

/// One target group: `{"targets":["ADDRESS:PORT"],"labels":{...}}`.
fn group(out: &mut Vec<u8>, target: &Target, port: u16) {
    use std::io::Write as _;
    let meta = target.meta;
    let _ = write!(
        out,
        "{{\"targets\":[\"{}:{port}\"],\"labels\":{{",
        target.address
    );
    let label = |out: &mut Vec<u8>, prefix: &str, name: &str, value: &str| {
        let _ = write!(out, "\"{prefix}{name}\":");
        // Writing a `&str` into a `Vec` fails for no input; serde_json escapes what JSON needs escaped.
        let _ = serde_json::to_writer(&mut *out, value);
        out.push(b',');
    };
    const META: &str = "__meta_zenlayer_";
    if let Some(account) = target.account {
        label(out, META, "account", account);
    }
    label(out, META, "product", target.product.as_str());
    label(out, META, "instance_id", &meta.id);
    for (name, value) in INFO_LABELS.iter().zip(meta.labels()) {
        label(out, META, name, value);
    }
    label(
        out,
        META,
        "instance_status",
        target.instance.status.as_str(),
    );
    let ip = |a: Option<Ipv4Addr>| a.map(|a| a.to_string()).unwrap_or_default();
    label(out, META, "private_ip", &ip(meta.private_ip));
    label(out, META, "public_ip", &ip(meta.public_ip));
    for (key, value) in meta.all_tags.iter() {
        label(out, TAG_PREFIX, key, value);
    }
    // Every label wrote a trailing comma; the last one closes the object instead.
    out.pop();
    out.extend_from_slice(b"}}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::gzip::gunzip;
    use crate::exposition::render::StatusSeries;
    use crate::metadata::row::instance_meta;
    use crate::metadata::{Interner, Metadata, TagLabels};
    use crate::status::snapshot::Snapshot;
    use crate::zenlayer::model::{FirstIpv4, InstanceInfo, Tag, Tags};
    use std::time::SystemTime;

    /// An account whose status poll sees a, b, c, d and whose metadata knows a, b, c and x: a and b RUNNING with
    /// addresses (b without a private one), c STOPPED, d not named yet, x gone.
    fn source(account: Option<&str>) -> Source {
        let status = Snapshot::new(
            [
                ("a", "RUNNING"),
                ("b", "RUNNING"),
                ("c", "STOPPED"),
                ("d", "RUNNING"),
            ]
            .map(|(i, s)| (i.to_owned(), s.to_owned())),
            SystemTime::UNIX_EPOCH,
        );
        let tags = TagLabels::default();
        let interner = Interner::default();
        let ip = |address: &str| FirstIpv4::of(Some(address));
        let tag = |k: &'static str, v: &'static str| Tag {
            key: Some(k.into()),
            value: Some(v.into()),
        };
        let rows = ["a", "b", "c", "x"].map(|id| {
            let info = InstanceInfo {
                instance_id: id.into(),
                instance_name: Some(format!("vm \"{id}\"").into()),
                zone_id: Some("FRA-A".into()),
                private_ip: match id {
                    "b" => ip("fe80::1"),
                    _ => ip("10.0.0.1"),
                },
                public_ip: ip("203.0.113.9"),
                tags: Some(Tags::List(vec![
                    tag("env", "prod"),
                    tag("a.b", "dot"),
                    tag("a-b", "dash"),
                ])),
                ..InstanceInfo::default()
            };
            instance_meta(info, &tags, &interner)
        });
        let metadata = Arc::new(Metadata::new(rows.to_vec(), SystemTime::UNIX_EPOCH));
        Source {
            account: account.map(|a| AccountName::new(a).unwrap()),
            product: Product::Vm,
            rendered: Arc::new(Rendered::new(
                &Arc::new(status),
                Some((&metadata, &Arc::new(tags))),
                (StatusSeries::Current, Product::Vm),
                &crate::text::Openings::new(None, "vm"),
                None,
            )),
        }
    }

    fn json(answer: &Answer, gzip: bool) -> serde_json::Value {
        let (chunks, gzipped) = answer.body(gzip);
        assert_eq!(gzipped, gzip);
        let mut frames = gzip::Frames::new(chunks);
        let mut bytes = Vec::new();
        while let Some(frame) = frames.next_frame() {
            bytes.extend_from_slice(&frame);
        }
        let text = if gzip { gunzip(&bytes) } else { bytes };
        serde_json::from_slice(&text).unwrap()
    }

    #[test]
    fn one_group_per_named_instance_in_the_asked_statuses_with_an_address() {
        let query = Query::parse("port=9100").unwrap();
        let answer = render(&query, &[source(None)]);
        // b has no private IPv4 address, c is STOPPED, d has no metadata yet, x is not polled any more.
        assert_eq!((answer.targets, answer.without_address), (1, 1));
        let groups = json(&answer, false);
        assert_eq!(groups, json(&answer, true));
        assert_eq!(
            groups,
            serde_json::json!([{
                "targets": ["10.0.0.1:9100"],
                "labels": {
                    "__meta_zenlayer_product": "vm",
                    "__meta_zenlayer_instance_id": "a",
                    "__meta_zenlayer_instance_name": "vm \"a\"",
                    "__meta_zenlayer_zone_id": "FRA-A",
                    "__meta_zenlayer_instance_type": "",
                    "__meta_zenlayer_image_name": "",
                    "__meta_zenlayer_charge_type": "",
                    "__meta_zenlayer_resource_group": "",
                    "__meta_zenlayer_resource_group_id": "",
                    "__meta_zenlayer_instance_status": "RUNNING",
                    "__meta_zenlayer_private_ip": "10.0.0.1",
                    "__meta_zenlayer_public_ip": "203.0.113.9",
                    // a-b and a.b both become a_b: the key first in byte order (a-b) keeps it.
                    "__meta_zenlayer_tag_a_b": "dash",
                    "__meta_zenlayer_tag_env": "prod",
                }
            }])
        );
        let public = Query::parse("port=1&address=public&status=RUNNING,STOPPED").unwrap();
        let answer = render(&public, &[source(Some("one")), source(Some("two"))]);
        assert_eq!((answer.targets, answer.without_address), (6, 0));
        let groups = json(&answer, true);
        let accounts: Vec<&str> = groups
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["labels"]["__meta_zenlayer_account"].as_str().unwrap())
            .collect();
        assert_eq!(accounts, ["one", "one", "one", "two", "two", "two"]);
        assert_eq!(groups[2]["targets"][0], "203.0.113.9:1");
        // Nothing matches: an empty array, not an error.
        let none = render(
            &Query::parse("port=1&status=RECYCLE").unwrap(),
            &[source(None)],
        );
        assert_eq!(json(&none, true), serde_json::json!([]));
        assert_eq!(json(&render(&query, &[]), false), serde_json::json!([]));
    }

    #[test]
    fn another_port_is_the_same_answer_rewritten() {
        let sources = [source(Some("one")), source(Some("two"))];
        let query = Query::parse("port=9100&status=RUNNING,STOPPED").unwrap();
        let first = render(&query, &sources);
        for port in [1, 80, 9100, 65535] {
            let other = Query {
                port,
                ..query.clone()
            };
            let rewritten = with_port(&first, port, &|| false).unwrap();
            let rendered = render(&other, &sources);
            assert_eq!(rewritten.groups.text(), rendered.groups.text(), "{port}");
            assert_eq!(rewritten.etag(), rendered.etag());
            assert_eq!(json(&rewritten, true), json(&rendered, false));
            assert_eq!(
                (rewritten.targets, rewritten.without_address),
                (rendered.targets, rendered.without_address)
            );
            assert!(rendered.targets > 0);
        }
        // A rewrite or a render nobody waits for is given up.
        assert!(with_port(&first, 80, &|| true).is_none());
        assert!(render_unless(&query, &sources, &|| true).is_none());
        // No targets, nothing to rewrite.
        let none = render(&Query::parse("port=1&status=RECYCLE").unwrap(), &sources);
        assert_eq!(
            json(&with_port(&none, 2, &|| false).unwrap(), true),
            serde_json::json!([])
        );
    }

    #[test]
    fn queries_are_parsed_or_refused_with_the_reason() {
        let q = Query::parse("port=9100").unwrap();
        assert_eq!(
            (q.port, q.address, q.statuses.clone(), q.account),
            (9100, Address::Private, vec![Status::parse("RUNNING")], None)
        );
        let q =
            Query::parse("port=1&address=public&status=stopped&status=RUNNING,STOPPED&account=a-1")
                .unwrap();
        assert_eq!(q.address, Address::Public);
        assert_eq!(
            q.statuses,
            [Status::parse("RUNNING"), Status::parse("STOPPED")]
        );
        assert_eq!(q.account.as_deref(), Some("a-1"));
        assert_eq!(q.products, Product::ALL, "every product unless asked");
        let q = Query::parse("port=1&product=vm&product=vm").unwrap();
        assert_eq!(q.products, [Product::Vm]);
        for (bad, why) in [
            ("port=1&product=ec2", "product \"ec2\" is not one of vm"),
            ("port=1&product=", "is not one of"),
            ("", "missing parameter"),
            ("port=0", "1 to 65535"),
            ("port=65536", "1 to 65535"),
            ("port=x", "1 to 65535"),
            ("port=1&port=2", "more than once"),
            ("port=1&address=ipv6", "private or public"),
            ("port=1&status=", "not a status"),
            ("port=1&status=RUN%20NING", "not a status"),
            ("port=1&account=Bad!", "account name"),
            ("port=1&adress=public", "unknown parameter \"adress\""),
        ] {
            let error = Query::parse(bad).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
            assert!(!error.contains('\n'), "{error}");
        }
    }
}
