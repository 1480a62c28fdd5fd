//! The `DescribeInstances` rows of the products whose fields differ from the VM API's, each decoded as sent and
//! turned into the common [`InstanceInfo`]: Zenlayer Elastic Compute (`status`, `cpu`, addresses on its NICs)
//! and bare metal (the model an object, `instanceType.cpuCores`, a primary public address). Only what is
//! exported is read; every other field is skipped unread. Field facts: `zenlayer-products.md` §1.3 and §2.3.
//! And how every product's `DescribeInstances` pages are read into such rows: with each row left as its text,
//! decoded only when its text's [`fingerprint`] is not one the walk's previous snapshot read ([`converting`]).

use serde::Deserialize;

use super::envelope::FoldList;
use super::error::clip;
use super::model::{
    FirstIpv4, InstanceId, InstanceInfo, Status, Tags, Text, bounded_id, bounded_text,
};
use super::page::{Page, PageDecodeError, Read, decode_page};

/// A row of ZEC's `DescribeInstances` (version 2025-09-01; 2024-04-01 sends a subset of it).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZecInstance<'a> {
    #[serde(deserialize_with = "bounded_id")]
    instance_id: InstanceId,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    instance_name: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    zone_id: Option<Text<'a>>,
    /// Null for GPU instances.
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    instance_type: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    image_name: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    resource_group_name: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    resource_group_id: Option<Text<'a>>,
    #[serde(default)]
    cpu: Option<f64>,
    #[serde(default)]
    memory: Option<f64>,
    #[serde(borrow, default)]
    create_time: Option<Text<'a>>,
    #[serde(borrow, default)]
    expired_time: Option<Text<'a>>,
    #[serde(default, rename = "publicIpAddresses")]
    public_ip: FirstIpv4,
    #[serde(default, rename = "privateIpAddresses")]
    private_ip: FirstIpv4,
    #[serde(default)]
    nics: NicAddresses,
    #[serde(borrow, default)]
    tags: Option<Tags<'a>>,
}

/// One NIC of a ZEC instance, as far as its addresses go.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ZecNic<'a> {
    #[serde(borrow, default)]
    nic_type: Option<Text<'a>>,
    #[serde(borrow, default)]
    primary_ipv4: Option<Text<'a>>,
    #[serde(default, rename = "privateIpList")]
    private_ip: FirstIpv4,
    #[serde(default, rename = "publicIpList")]
    public_ip: FirstIpv4,
}

/// What a ZEC row's `nics` give: the first private and public IPv4 of its primary NIC (the primary address before
/// the lists), and of its other NICs in order. A service-discovery target is the first of them all, so the
/// primary NIC's own address wins wherever it is in the list. Read as the list is read, nothing kept; a null NIC
/// is skipped, as a null address is.
#[derive(Debug, Clone, Copy, Default)]
struct NicAddresses {
    primary: [FirstIpv4; 2],
    others: [FirstIpv4; 2],
}

impl NicAddresses {
    /// The first private address, then the first public one.
    fn first(&self) -> [FirstIpv4; 2] {
        [0, 1].map(|at| self.primary[at].or(self.others[at]))
    }
}

impl<'de> Deserialize<'de> for NicAddresses {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::DeserializeSeed;
        FoldList::new(
            NicAddresses::default(),
            |mut found: NicAddresses, nic: Option<ZecNic>| {
                let Some(nic) = nic else { return found };
                let primary = nic
                    .nic_type
                    .as_deref()
                    .is_some_and(|t| t.eq_ignore_ascii_case("Primary"));
                let [private, public] = match primary {
                    true => &mut found.primary,
                    false => &mut found.others,
                };
                let nic_private = FirstIpv4::of(nic.primary_ipv4.as_deref()).or(nic.private_ip);
                *private = private.or(nic_private);
                *public = public.or(nic.public_ip);
                found
            },
        )
        .deserialize(deserializer)
    }
}

impl<'a> From<ZecInstance<'a>> for InstanceInfo<'a> {
    fn from(row: ZecInstance<'a>) -> InstanceInfo<'a> {
        let [nic_private, nic_public] = row.nics.first();
        InstanceInfo {
            private_ip: nic_private.or(row.private_ip),
            public_ip: nic_public.or(row.public_ip),
            instance_id: row.instance_id,
            // Its status poll is DescribeInstancesStatus'.
            instance_status: None,
            instance_name: row.instance_name,
            zone_id: row.zone_id,
            instance_type: row.instance_type,
            image_name: row.image_name,
            // ZEC rows carry no billing: no charge type, and so no expiry or renewal series.
            instance_charge_type: None,
            resource_group_name: row.resource_group_name,
            resource_group_id: row.resource_group_id,
            cpu_count: row.cpu,
            memory: row.memory,
            create_time: row.create_time,
            expired_time: row.expired_time,
            auto_renew: None,
            tags: row.tags,
        }
    }
}

/// A row of bare metal's `DescribeInstances` (version 2026-02-01; 2022-11-20 lacks the IPv6 primary address and
/// the accelerator fields, neither read here). It is also the status poll's row: the status is required, as in
/// `DescribeInstancesStatus`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BmcInstance<'a> {
    #[serde(deserialize_with = "bounded_id")]
    instance_id: InstanceId,
    instance_status: Status,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    instance_name: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    zone_id: Option<Text<'a>>,
    /// The model's id (`S9I`): what the VM and ZEC rows call the instance type.
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    instance_type_id: Option<Text<'a>>,
    /// The model's details, an object here (a string in the other products).
    #[serde(default)]
    instance_type: Option<BmcModel>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    image_name: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    instance_charge_type: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    resource_group_name: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    resource_group_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    create_time: Option<Text<'a>>,
    #[serde(borrow, default)]
    expired_time: Option<Text<'a>>,
    #[serde(default)]
    auto_renew: Option<bool>,
    /// Not always in `publicIpAddresses` (when it is not on the public interface).
    #[serde(borrow, default)]
    primary_public_ip_address: Option<Text<'a>>,
    #[serde(default, rename = "publicIpAddresses")]
    public_ip: FirstIpv4,
    #[serde(default, rename = "privateIpAddresses")]
    private_ip: FirstIpv4,
    #[serde(borrow, default)]
    tags: Option<Tags<'a>>,
}

/// The nested `instanceType` of a bare-metal row; anything else there (a plain type name, as the other products
/// send) leaves the CPUs and memory unknown rather than failing the page.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Model {
    /// Cores of the machine: bare metal's CPUs.
    #[serde(default)]
    cpu_cores: Option<f64>,
    /// GB.
    #[serde(default)]
    memory_size: Option<f64>,
}

/// Read as the JSON's shape says while it is read (an untagged enum would buffer the whole nested object of every
/// row to try each variant): an object is the model, anything else skipped.
#[derive(Debug, Clone, Default)]
struct BmcModel(Model);

impl<'de> Deserialize<'de> for BmcModel {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor, value::MapAccessDeserializer};
        struct Shape;
        impl<'de> Visitor<'de> for Shape {
            type Value = BmcModel;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an instance type")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<BmcModel, A::Error> {
                Model::deserialize(MapAccessDeserializer::new(map)).map(BmcModel)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<BmcModel, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(BmcModel::default())
            }
            fn visit_str<E>(self, _: &str) -> Result<BmcModel, E> {
                Ok(BmcModel::default())
            }
            fn visit_bool<E>(self, _: bool) -> Result<BmcModel, E> {
                Ok(BmcModel::default())
            }
            fn visit_i64<E>(self, _: i64) -> Result<BmcModel, E> {
                Ok(BmcModel::default())
            }
            fn visit_u64<E>(self, _: u64) -> Result<BmcModel, E> {
                Ok(BmcModel::default())
            }
            fn visit_f64<E>(self, _: f64) -> Result<BmcModel, E> {
                Ok(BmcModel::default())
            }
        }
        deserializer.deserialize_any(Shape)
    }
}

impl<'a> From<BmcInstance<'a>> for InstanceInfo<'a> {
    fn from(row: BmcInstance<'a>) -> InstanceInfo<'a> {
        let BmcModel(model) = row.instance_type.unwrap_or_default();
        let (cpus, memory) = (model.cpu_cores, model.memory_size);
        InstanceInfo {
            instance_id: row.instance_id,
            instance_status: Some(row.instance_status),
            instance_name: row.instance_name,
            zone_id: row.zone_id,
            instance_type: row.instance_type_id,
            image_name: row.image_name,
            instance_charge_type: row.instance_charge_type,
            resource_group_name: row.resource_group_name,
            resource_group_id: row.resource_group_id,
            cpu_count: cpus,
            memory,
            create_time: row.create_time,
            expired_time: row.expired_time,
            auto_renew: row.auto_renew,
            public_ip: FirstIpv4::of(row.primary_public_ip_address.as_deref()).or(row.public_ip),
            private_ip: row.private_ip,
            tags: row.tags,
        }
    }
}

/// How a product's `DescribeInstances` rows are read: one row's JSON text into the common form, which borrows
/// from it. A product's declaration names the one of its rows.
pub type DecodeRow = for<'a> fn(&'a str) -> serde_json::Result<InstanceInfo<'a>>;

/// Reads one row of a product's own form `W` into the common [`InstanceInfo`]: what a declaration's
/// [`DecodeRow`] is for a product whose rows differ from the VM API's.
pub fn own_row<'a, W: Deserialize<'a> + Into<InstanceInfo<'a>>>(
    text: &'a str,
) -> serde_json::Result<InstanceInfo<'a>> {
    serde_json::from_str::<W>(text).map(Into::into)
}

/// A fingerprint of a row's JSON text: a row sent again as it was is known by it without being decoded.
/// foldhash (hashbrown's), 64 bits, seeded at random once per process, so texts cannot be chosen in advance to
/// collide with another. It is a fast hash, not a cryptographic one: a changed row whose text happens to have the
/// fingerprint of the row it was is taken for it, and corrected at its next change. The caller takes a row
/// for a text only if the row's id is in the text, so a collision with another instance's row is caught too.
pub fn fingerprint(text: &str) -> u64 {
    use std::hash::BuildHasher;
    static SEED: std::sync::LazyLock<hashbrown::DefaultHashBuilder> =
        std::sync::LazyLock::new(Default::default);
    SEED.hash_one(text)
}

/// Pages of `decode`'s rows, each turned into an `R` as the walk holds it. The page is read once with every row
/// left as its text (what parsing the JSON at all costs), then each row is either `known` by its text's
/// [`fingerprint`] (the walk's previous snapshot read the same text: nothing is decoded), or decoded and
/// handed to `convert` with its fingerprint. At steady state nearly every row is known, and a walk costs little
/// more than reading its JSON; a new or changed row costs that reading once more. `known` and `convert` read
/// what the walk's rows share (the served snapshot; the process's interner) without changing it, so pages in
/// flight together convert at once.
pub fn converting<R>(
    decode: DecodeRow,
    known: impl Fn(u64, &str) -> Option<R> + Sync,
    convert: impl for<'a> Fn(InstanceInfo<'a>, u64) -> R + Sync,
) -> impl Read<R> {
    move |body: &[u8]| {
        let page = raw_rows(body)?;
        let mut rows = Vec::with_capacity(page.data_set.len());
        for (at, text) in page.data_set.iter().enumerate() {
            let print = fingerprint(text);
            let row = match known(print, text) {
                Some(row) => row,
                None => convert(decode_row_at(decode, &page, at)?, print),
            };
            rows.push(row);
        }
        Ok(page.map_rows(rows))
    }
}

/// A page read by `decode`, its rows in the common form: for callers that want the rows themselves.
pub fn decode_rows(
    decode: DecodeRow,
    body: &[u8],
) -> Result<Page<InstanceInfo<'_>>, PageDecodeError> {
    let page = raw_rows(body)?;
    let rows = (0..page.data_set.len())
        .map(|at| decode_row_at(decode, &page, at))
        .collect::<Result<_, _>>()?;
    Ok(page.map_rows(rows))
}

/// A page with each row left as its JSON text.
fn raw_rows(body: &[u8]) -> Result<Page<&str>, PageDecodeError> {
    Ok(decode_page::<&serde_json::value::RawValue>(body)?.map(|raw| raw.get()))
}

/// Row `at` of `page` decoded by `decode`; a row that does not decode fails the page, which names it.
fn decode_row_at<'a>(
    decode: DecodeRow,
    page: &Page<&'a str>,
    at: usize,
) -> Result<InstanceInfo<'a>, PageDecodeError> {
    decode(page.data_set[at]).map_err(|e| PageDecodeError {
        detail: format!(
            "invalid JSON page: row {}: {}",
            at + 1,
            clip(&e.to_string())
        ),
        request_id: page.request_id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zenlayer::page::Page;

    /// The example bodies of `zenlayer-products.md`, as the vendor's reference gives each row.
    fn example(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn a_row_that_does_not_decode_fails_its_page_by_number() {
        let body = serde_json::json!({"requestId": "T9", "totalCount": 2, "dataSet": [
            {"instanceId": "1"}, {"instanceName": "no id"}]})
        .to_string();
        let decode: DecodeRow = |text| own_row::<InstanceInfo>(text);
        let e = decode_rows(decode, body.as_bytes()).unwrap_err();
        assert!(
            e.detail
                .starts_with("invalid JSON page: row 2: missing field `instanceId`"),
            "{}",
            e.detail
        );
        assert_eq!(e.request_id.as_deref(), Some("T9"));
        // What reads rows for a walk fails alike.
        let read = converting(decode, |_, _| None, |row, _| row.instance_id);
        assert_eq!(read(body.as_bytes()).unwrap_err(), e);
    }

    #[test]
    fn zec_rows_read_their_own_names_and_the_primary_nic_first() {
        let body = example("zec-describe-instances-example.json");
        let page: Page<InstanceInfo> = decode_rows(|t| own_row::<ZecInstance>(t), &body).unwrap();
        assert_eq!(page.total_count, 2);
        let [web, gpu] = &page.data_set[..] else {
            panic!("two rows")
        };
        assert_eq!(
            web.instance_status, None,
            "its status poll is DescribeInstancesStatus'"
        );
        assert_eq!((web.cpu_count, web.memory), (Some(2.0), Some(4.0)));
        assert_eq!(web.zone_id.as_deref(), Some("asia-east-1a"));
        assert_eq!(web.instance_type.as_deref(), Some("z2a.cpu.1"));
        assert_eq!(web.instance_charge_type, None);
        assert_eq!(web.private_ip, FirstIpv4(Some([10, 130, 0, 2].into())));
        assert_eq!(web.public_ip, FirstIpv4(Some([203, 0, 113, 20].into())));
        assert_eq!(gpu.instance_type, None, "GPU instances have no type");
        assert_eq!(gpu.public_ip, FirstIpv4(None));
        assert_eq!(gpu.tags.as_ref().unwrap().list()[1].value, None);
    }

    #[test]
    fn zec_addresses_come_from_the_primary_nic_wherever_it_is_listed() {
        let body = br#"{"totalCount":1,"dataSet":[{"instanceId":"1",
            "privateIpAddresses":["10.5.5.5"],"publicIpAddresses":["192.0.2.5"],
            "nics":[null,
              {"nicType":"Secondary","primaryIpv4":"10.9.9.9","publicIpList":["198.51.100.99"]},
              {"nicType":"primary","primaryIpv4":"fd00::2","privateIpList":["10.0.0.1"],"publicIpList":[]}]}]}"#;
        let page = decode_rows(|t| own_row::<ZecInstance>(t), body).unwrap();
        let row = &page.data_set[0];
        assert_eq!(row.private_ip, FirstIpv4(Some([10, 0, 0, 1].into())));
        // The primary NIC has no public address: the next NIC's comes before the row's own list.
        assert_eq!(row.public_ip, FirstIpv4(Some([198, 51, 100, 99].into())));
        let bare = br#"{"totalCount":1,"dataSet":[{"instanceId":"1","nics":null,"privateIpAddresses":["10.5.5.5"]}]}"#;
        let page = decode_rows(|t| own_row::<ZecInstance>(t), bare).unwrap();
        assert_eq!(
            page.data_set[0].private_ip,
            FirstIpv4(Some([10, 5, 5, 5].into()))
        );
    }

    #[test]
    fn bmc_rows_read_the_model_object_and_the_primary_address() {
        let body = example("bmc-describe-instances-example.json");
        let page: Page<InstanceInfo> = decode_rows(|t| own_row::<BmcInstance>(t), &body).unwrap();
        let [db, edge] = &page.data_set[..] else {
            panic!("two rows")
        };
        assert_eq!(db.instance_type.as_deref(), Some("S9I"));
        assert_eq!((db.cpu_count, db.memory), (Some(6.0), Some(64.0)));
        assert_eq!(db.instance_charge_type.as_deref(), Some("PREPAID"));
        assert_eq!(db.auto_renew, Some(true));
        assert_eq!(db.public_ip, FirstIpv4(Some([198, 51, 100, 10].into())));
        assert_eq!(
            edge.instance_status.as_ref().map(Status::as_str),
            Some("INSTALLING")
        );
        assert_eq!(edge.image_name, None);
        // The status is the status poll's: a row without one fails the page, as in DescribeInstancesStatus.
        let missing = br#"{"response":{"totalCount":1,"dataSet":[{"instanceId":"1"}]}}"#;
        assert!(decode_rows(|t| own_row::<BmcInstance>(t), missing).is_err());
        // A model sent as anything but an object (a plain name, a list, a number) leaves the numbers unknown.
        for model in [r#""S9I""#, "[1, {}]", "7", "null"] {
            let body = format!(
                r#"{{"totalCount":1,"dataSet":[{{"instanceId":"1","instanceStatus":"RUNNING","instanceType":{model}}}]}}"#
            );
            let page = decode_rows(|t| own_row::<BmcInstance>(t), body.as_bytes()).unwrap();
            assert_eq!(page.data_set[0].cpu_count, None, "{model}");
        }
    }
}
