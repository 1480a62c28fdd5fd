//! The `DescribeInstances` rows of the products whose fields differ from the VM API's, each decoded as sent and
//! turned into the common [`InstanceInfo`]: Zenlayer Elastic Compute (`status`, `cpu`, addresses on its NICs)
//! and bare metal (the model an object, `instanceType.cpuCores`, a primary public address). Only what is
//! exported is read; every other field is skipped unread. Field facts: `zenlayer-products.md` §1.3 and §2.3.

use serde::Deserialize;

use super::model::{Addresses, InstanceInfo, Status, Tags, Text, bounded_id, bounded_text};

/// A row of ZEC's `DescribeInstances` (version 2025-09-01; 2024-04-01 sends a subset of it).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZecInstance<'a> {
    #[serde(deserialize_with = "bounded_id")]
    instance_id: Box<str>,
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
    #[serde(borrow, default)]
    public_ip_addresses: Addresses<'a>,
    #[serde(borrow, default)]
    private_ip_addresses: Addresses<'a>,
    /// A null element is skipped, as in the address lists.
    #[serde(borrow, default)]
    nics: Option<Vec<Option<ZecNic<'a>>>>,
    #[serde(borrow, default)]
    tags: Option<Tags<'a>>,
}

/// One NIC of a ZEC instance: where its addresses are, the primary NIC's first.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ZecNic<'a> {
    #[serde(borrow, default)]
    nic_type: Option<Text<'a>>,
    #[serde(borrow, default)]
    primary_ipv4: Option<Text<'a>>,
    #[serde(borrow, default)]
    private_ip_list: Addresses<'a>,
    #[serde(borrow, default)]
    public_ip_list: Addresses<'a>,
}

impl ZecNic<'_> {
    fn is_primary(&self) -> bool {
        self.nic_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("Primary"))
    }
}

/// Every address of `nics` (the primary NIC first) that `pick` gives, then those of the row's own list: a
/// service-discovery target is the first IPv4 of it, so the primary NIC's own address wins.
fn addresses<'a>(
    nics: &[ZecNic<'a>],
    pick: fn(&ZecNic<'a>) -> Vec<Option<Text<'a>>>,
    row: Addresses<'a>,
) -> Addresses<'a> {
    let mut ordered: Vec<&ZecNic<'a>> = nics.iter().collect();
    ordered.sort_by_key(|nic| !nic.is_primary());
    let mut out: Vec<Option<Text<'a>>> = ordered.into_iter().flat_map(pick).collect();
    out.extend(row.into_iter().flatten());
    (!out.is_empty()).then_some(out)
}

impl<'a> From<ZecInstance<'a>> for InstanceInfo<'a> {
    fn from(row: ZecInstance<'a>) -> InstanceInfo<'a> {
        let nics: Vec<ZecNic<'a>> = row.nics.into_iter().flatten().flatten().collect();
        InstanceInfo {
            private_ip_addresses: addresses(
                &nics,
                |nic| {
                    let mut list = vec![nic.primary_ipv4.clone()];
                    list.extend(nic.private_ip_list.iter().flatten().cloned());
                    list
                },
                row.private_ip_addresses,
            ),
            public_ip_addresses: addresses(
                &nics,
                |nic| nic.public_ip_list.iter().flatten().cloned().collect(),
                row.public_ip_addresses,
            ),
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
    instance_id: Box<str>,
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
    #[serde(borrow, default)]
    public_ip_addresses: Addresses<'a>,
    #[serde(borrow, default)]
    private_ip_addresses: Addresses<'a>,
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
        let mut public: Vec<Option<Text<'a>>> = vec![row.primary_public_ip_address];
        public.extend(row.public_ip_addresses.into_iter().flatten());
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
            public_ip_addresses: Some(public),
            private_ip_addresses: row.private_ip_addresses,
            tags: row.tags,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zenlayer::model::{Page, decode_rows};

    /// The example bodies of `zenlayer-products.md`, as the vendor's reference gives each row.
    fn example(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn zec_rows_read_their_own_names_and_the_primary_nic_first() {
        let body = example("zec-describe-instances-example.json");
        let page: Page<InstanceInfo> = decode_rows::<ZecInstance>(&body).unwrap();
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
        let first = |list: &Addresses| {
            list.as_ref()
                .and_then(|l| l.iter().flatten().next().map(|a| a.to_string()))
        };
        assert_eq!(
            first(&web.private_ip_addresses).as_deref(),
            Some("10.130.0.2")
        );
        assert_eq!(
            first(&web.public_ip_addresses).as_deref(),
            Some("203.0.113.20")
        );
        assert_eq!(gpu.instance_type, None, "GPU instances have no type");
        assert_eq!(first(&gpu.public_ip_addresses), None);
        assert_eq!(gpu.tags.as_ref().unwrap().list()[1].value, None);
    }

    #[test]
    fn bmc_rows_read_the_model_object_and_the_primary_address() {
        let body = example("bmc-describe-instances-example.json");
        let page: Page<InstanceInfo> = decode_rows::<BmcInstance>(&body).unwrap();
        let [db, edge] = &page.data_set[..] else {
            panic!("two rows")
        };
        assert_eq!(db.instance_type.as_deref(), Some("S9I"));
        assert_eq!((db.cpu_count, db.memory), (Some(6.0), Some(64.0)));
        assert_eq!(db.instance_charge_type.as_deref(), Some("PREPAID"));
        assert_eq!(db.auto_renew, Some(true));
        assert_eq!(
            db.public_ip_addresses.as_ref().unwrap()[0].as_deref(),
            Some("198.51.100.10")
        );
        assert_eq!(
            edge.instance_status.as_ref().map(Status::as_str),
            Some("INSTALLING")
        );
        assert_eq!(edge.image_name, None);
        // The status is the status poll's: a row without one fails the page, as in DescribeInstancesStatus.
        let missing = br#"{"response":{"totalCount":1,"dataSet":[{"instanceId":"1"}]}}"#;
        assert!(decode_rows::<BmcInstance>(missing).is_err());
        // A model sent as anything but an object (a plain name, a list, a number) leaves the numbers unknown.
        for model in [r#""S9I""#, "[1, {}]", "7", "null"] {
            let body = format!(
                r#"{{"totalCount":1,"dataSet":[{{"instanceId":"1","instanceStatus":"RUNNING","instanceType":{model}}}]}}"#
            );
            let page = decode_rows::<BmcInstance>(body.as_bytes()).unwrap();
            assert_eq!(page.data_set[0].cpu_count, None, "{model}");
        }
    }
}
