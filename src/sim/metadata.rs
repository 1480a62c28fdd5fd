//! The simulated metadata of each instance, as its product's `DescribeInstances` returns it: derived from the instance id and
//! the simulator's epoch (so it costs no storage, follows churn, and a test can compute it), with overrides a
//! test sets to serve odd values, nulls or missing fields.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::zenlayer::product::Product;

/// Changes to one instance's generated row: fields replaced (null included) and fields left out.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetadataOverride {
    #[serde(default)]
    pub set: Map<String, Value>,
    #[serde(default)]
    pub remove: Vec<String>,
}

const ZONES: [&str; 6] = ["FRA-A", "SIN-E", "LAX-B", "HKG-A", "TYO-A", "NYC-C"];
const TYPES: [(&str, u32, u32); 4] = [
    ("c.1c2g", 1, 2),
    ("c.2c4g", 2, 4),
    ("c.4c8g", 4, 8),
    ("m.8c32g", 8, 32),
];
const IMAGES: [(&str, &str); 4] = [
    (
        "img-yKK4q6XybymPgfx7ynUUqC3N8",
        "Ubuntu Server 22.04 LTS 64bit",
    ),
    ("img-3Hq9Z2rWk8sDebian12", "Debian 12 64bit"),
    ("img-zCcHQB9u", "CentOS 7.9 64bit"),
    ("img-W2022dc7Lq", "Windows Server 2022 Datacenter"),
];
const ROLES: [&str; 5] = ["web", "api", "db", "batch", "cache"];
const GROUPS: [(&str, &str); 3] = [
    (
        "5a4f6519-2977-47cb-b3fc-150fd2b4de71",
        "Default Resource Group",
    ),
    ("1c0d9e3f-6a1b-4c2d-9e8f-7a6b5c4d3e2f", "edge"),
    ("8d2e7c1a-4b3f-4e9a-a1d2-6f0b9c3e5a77", "batch"),
];
const ENVS: [&str; 3] = ["prod", "staging", "dev"];
const TEAMS: [&str; 3] = ["edge", "core", "data"];
const DAY: u64 = 86_400;

/// A stable 64-bit hash of `id` mixed with `salt` (FNV-1a, then a splitmix finaliser).
pub(super) fn hash(id: &str, salt: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

fn pick<T: Copy>(list: &[T], id: &str, salt: u64) -> T {
    list[(hash(id, salt) % list.len() as u64) as usize]
}

/// ISO 8601 UTC, as the API writes times (`2026-01-15T08:30:00Z`).
pub fn iso8601(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// ZEC zones are region-prefixed; bare metal's are VM-style.
const ZEC_ZONES: [&str; 4] = [
    "asia-east-1a",
    "asia-southeast-1a",
    "eu-central-1a",
    "na-west-1b",
];
const ZEC_TYPES: [(Option<&str>, u32, u32); 4] = [
    (Some("z2a.cpu.1"), 2, 4),
    (Some("z2a.cpu.4"), 8, 16),
    (Some("z2a.mem.2"), 4, 32),
    // A GPU instance: no type.
    (None, 16, 128),
];
/// Bare-metal models: id, cores, memory (GB), description.
const MODELS: [(&str, u32, u32, &str); 3] = [
    (
        "S9I",
        6,
        64,
        "Intel Xeon E-2286G, 64 GB RAM, 2 x 480 GB SSD",
    ),
    (
        "M6C",
        24,
        192,
        "2 x Intel Xeon Silver 4214, 192 GB RAM, 4 x 960 GB SSD",
    ),
    (
        "L8A",
        64,
        512,
        "2 x AMD EPYC 7543, 512 GB RAM, 4 x 3.84 TB NVMe",
    ),
];

/// The `DescribeInstances` row of `product`'s instance `id` in `status`, for a simulator started at `epoch`
/// (Unix seconds), with `over` applied. About a third of a billed fleet (VM, bare metal) is prepaid, expiring
/// within 90 days of the epoch, half of it without auto-renewal.
pub fn row(
    product: Product,
    id: &str,
    status: &str,
    epoch: u64,
    over: Option<&MetadataOverride>,
) -> Value {
    let mut row = match product {
        Product::Vm => vm_row(id, status, epoch),
        Product::Zec => zec_row(id, status, epoch),
        Product::Bmc => bmc_row(id, status, epoch),
    };
    if let Some(over) = over {
        over.apply(&mut row);
    }
    row
}

impl MetadataOverride {
    /// Replaces the fields set and leaves out those removed, in a generated row (any row: the hardware health rows
    /// are overridden alike).
    pub fn apply(&self, row: &mut Value) {
        if let Some(fields) = row.as_object_mut() {
            for (key, value) in &self.set {
                fields.insert(key.clone(), value.clone());
            }
            for key in &self.remove {
                fields.remove(key);
            }
        }
    }
}

/// What every product's row says alike: name, resource group, tags, times, billing, addresses.
struct Common {
    name: String,
    group: (&'static str, &'static str),
    tags: Vec<Value>,
    created: String,
    prepaid: bool,
    expiry: String,
    auto_renew: bool,
    public: String,
    private: String,
}

fn common(id: &str, zone: &str, epoch: u64) -> Common {
    let prepaid = hash(id, 7) % 3 == 0;
    let mut tags = vec![
        json!({"key": "env", "value": pick(&ENVS, id, 12)}),
        json!({"key": "team", "value": pick(&TEAMS, id, 13)}),
    ];
    if hash(id, 14) % 4 == 0 {
        tags.push(json!({"key": "cost-center", "value": format!("cc-{}", hash(id, 15) % 50)}));
    }
    let octet = |salt| hash(id, salt) % 254 + 1;
    Common {
        name: format!(
            "{}-{}-{:02}",
            pick(&ROLES, id, 5),
            // FRA-A is fra, asia-east-1a is asi, na-west-1b is na.
            zone.split('-')
                .next()
                .unwrap_or(zone)
                .chars()
                .take(3)
                .collect::<String>()
                .to_ascii_lowercase(),
            hash(id, 6) % 100
        ),
        group: pick(&GROUPS, id, 4),
        tags,
        created: iso8601(epoch - DAY * (1 + hash(id, 8) % 400) - hash(id, 9) % DAY),
        prepaid,
        expiry: iso8601(epoch + 3600 + hash(id, 10) % (90 * DAY)),
        auto_renew: prepaid && hash(id, 11) % 2 == 0,
        public: format!("203.0.{}.{}", octet(17), octet(18)),
        private: format!("10.{}.{}.{}", octet(19), octet(20), octet(21)),
    }
}

fn vm_row(id: &str, status: &str, epoch: u64) -> Value {
    let zone = pick(&ZONES, id, 1);
    let (instance_type, cpus, memory) = pick(&TYPES, id, 2);
    let (image_id, image_name) = pick(&IMAGES, id, 3);
    let c = common(id, zone, epoch);
    json!({
        "instanceId": id,
        "zoneId": zone,
        "instanceName": c.name,
        "instanceType": instance_type,
        "cpuCount": cpus,
        "memory": memory,
        "imageId": image_id,
        "imageName": image_name,
        "instanceChargeType": if c.prepaid { "PREPAID" } else { "POSTPAID" },
        "internetMaxBandwidthOut": 100,
        "internetChargeType": "ByBandwidth",
        "period": if c.prepaid { json!(1 + hash(id, 16) % 12) } else { Value::Null },
        "publicIpAddresses": [c.public],
        "publicIpv6Addresses": [],
        "privateIpAddresses": [c.private],
        "subnetId": format!("6699{:014}", hash(id, 22) % 100_000_000_000_000),
        "createTime": c.created,
        "expiredTime": if c.prepaid { json!(c.expiry) } else { Value::Null },
        "resourceGroupId": c.group.0,
        "resourceGroupName": c.group.1,
        "instanceStatus": status,
        "trafficPackageSize": Value::Null,
        "securityGroupIds": [format!("7812{:014}", hash(id, 23) % 100_000_000_000_000)],
        "systemDisk": {"diskId": format!("9330{:014}", hash(id, 24) % 100_000_000_000_000), "diskSize": 40, "diskCategory": "SSD"},
        "dataDisks": [],
        "autoRenew": c.auto_renew,
        "keyId": Value::Null,
        "nic": {"wanName": "eth0", "lanName": "eth1"},
        "tags": {"tags": c.tags},
    })
}

/// A ZEC row (2025-09-01): `status`, `cpu`, no billing, and the addresses also on its primary NIC, the only place
/// its region and IPv6 appear. Every other instance is IPv4-only and a tenth have no public address.
fn zec_row(id: &str, status: &str, epoch: u64) -> Value {
    let zone = pick(&ZEC_ZONES, id, 1);
    let (instance_type, cpus, memory) = pick(&ZEC_TYPES, id, 2);
    let (image_id, image_name) = pick(&IMAGES, id, 3);
    let c = common(id, zone, epoch);
    let public: Vec<&str> = match hash(id, 25) % 10 {
        0 => vec![],
        _ => vec![&c.public],
    };
    let ipv6 = hash(id, 26) % 2 == 0;
    let region = &zone[..zone.len() - 1];
    let nic = json!({
        "nicId": format!("{id}1"),
        "name": format!("{}-eth0", c.name),
        "status": "USED",
        "nicType": "Primary",
        "regionId": region,
        "nicSubnetType": if ipv6 { "IPv4_IPv6" } else { "IPv4" },
        "publicIpList": public,
        "privateIpList": [c.private],
        "primaryIpv4": c.private,
        "primaryIpv6": if ipv6 { json!(format!("2001:db8:20::{:x}", hash(id, 27) % 0xffff)) } else { Value::Null },
        "ipv6Cidr": if ipv6 { json!("2001:db8:20::/64") } else { Value::Null },
        "secondaryIpv4s": [],
        "macAddress": format!("fa:16:3e:{:02x}:{:02x}:{:02x}", hash(id, 28) % 256, hash(id, 29) % 256, hash(id, 30) % 256),
        "instanceId": id,
        "vpcId": format!("vpc-{}", hash(id, 31) % 1000),
        "subnetId": format!("subnet-{}", hash(id, 22) % 1000),
        "createTime": c.created,
        "updateTime": c.created,
        "resourceGroup": {"resourceGroupId": c.group.0, "resourceGroupName": c.group.1},
        "securityGroupId": format!("sg-{}", hash(id, 23) % 1000),
        "tags": {"tags": []},
    });
    json!({
        "instanceId": id,
        "instanceName": c.name,
        "zoneId": zone,
        "instanceType": instance_type,
        "cpu": cpus,
        "memory": memory,
        "imageId": image_id,
        "imageName": image_name,
        "timeZone": "UTC",
        "nicNetworkType": "Auto",
        "status": status,
        "systemDisk": {"diskId": format!("{id}2"), "diskSize": 40, "diskCategory": "Standard NVMe SSD", "burstingEnabled": false},
        "dataDisks": [],
        "publicIpAddresses": public,
        "privateIpAddresses": [c.private],
        "keyId": Value::Null,
        "subnetId": format!("subnet-{}", hash(id, 22) % 1000),
        "securityGroupId": format!("sg-{}", hash(id, 23) % 1000),
        "enableAgent": true,
        "enableAgentMonitor": true,
        "enableIpForward": false,
        "createTime": c.created,
        "expiredTime": Value::Null,
        "resourceGroupId": c.group.0,
        "resourceGroupName": c.group.1,
        "nics": [nic],
        "tags": {"tags": c.tags},
        "loadBalancerIds": [],
        "placementGroupId": Value::Null,
        "instanceOptions": {"nestedVirtualization": false},
    })
}

/// A bare-metal row (2026-02-01): the model an object, the primary public address apart, VM-style billing.
fn bmc_row(id: &str, status: &str, epoch: u64) -> Value {
    let zone = pick(&ZONES, id, 1);
    let (model, cores, memory, description) = pick(&MODELS, id, 2);
    let installed = status != "INSTALLING" || hash(id, 32) % 2 == 0;
    let c = common(id, zone, epoch);
    json!({
        "instanceId": id,
        "zoneId": zone,
        "instanceName": c.name,
        "hostname": c.name,
        "instanceTypeId": model,
        "instanceType": {
            "imageIds": [],
            "instanceTypeId": model,
            "description": description,
            "cpuCoreCount": 2,
            "cpuDetail": description.split(',').next().unwrap_or(""),
            "cpuCores": cores,
            "cpuThreads": cores * 2,
            "baseFrequency": "2.4GHz",
            "memorySize": memory,
            "maximumBandwidth": 10000,
            "supportRaids": [0, 1],
            "supportSubnet": true,
            "isHA": false,
            "diskInfo": {"totalDiskSize": 960, "diskDescription": "2 x 480 GB SSD", "disks": [{"diskSize": 480, "diskCount": 2}]},
            "vpuVendor": Value::Null,
            "vpuCard": Value::Null,
            "vpuCount": Value::Null,
        },
        // Installed from iPXE: no image.
        "imageId": if installed { json!("img-centos79-x64") } else { Value::Null },
        "imageName": if installed { json!("CentOS 7.9 64-bit") } else { Value::Null },
        "ipxeUrl": Value::Null,
        "instanceChargeType": if c.prepaid { "PREPAID" } else { "POSTPAID" },
        "bandwidthOutMbps": 100,
        "internetChargeType": "ByBandwidth",
        "period": if c.prepaid { json!(1) } else { Value::Null },
        "primaryPublicIpAddress": c.public,
        "primaryPublicIPv6Address": Value::Null,
        "publicIpAddresses": [c.public],
        "privateIpAddresses": [c.private],
        "ipv6Addresses": Value::Null,
        "subnetIds": [],
        "createTime": c.created,
        "expiredTime": if c.prepaid { json!(c.expiry) } else { Value::Null },
        "resourceGroupId": c.group.0,
        "resourceGroupName": c.group.1,
        "instanceStatus": status,
        "trafficPackageSize": Value::Null,
        "raidConfig": {"raidType": 1, "customRaids": Value::Null},
        "partitions": [{"fsPath": "/", "fsType": "ext4", "size": 100}],
        "nic": {"wanName": "wan0", "lanName": "lan0"},
        "autoRenew": c.auto_renew,
        "keyId": Value::Null,
        "tags": {"tags": c.tags},
        "enableGatewayMode": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_iso8601_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_768_465_800), "2026-01-15T08:30:00Z");
        assert_eq!(iso8601(1_709_164_800), "2024-02-29T00:00:00Z");
    }

    #[test]
    fn rows_are_stable_and_overridable() {
        let a = row(
            Product::Vm,
            "932237369560662463",
            "RUNNING",
            1_768_465_800,
            None,
        );
        assert_eq!(
            a,
            row(
                Product::Vm,
                "932237369560662463",
                "RUNNING",
                1_768_465_800,
                None
            )
        );
        assert_eq!(a["instanceId"], "932237369560662463");
        let over = MetadataOverride {
            set: [("instanceName".to_owned(), Value::Null)]
                .into_iter()
                .collect(),
            remove: vec!["zoneId".into()],
        };
        let b = row(
            Product::Vm,
            "932237369560662463",
            "RUNNING",
            1_768_465_800,
            Some(&over),
        );
        assert_eq!(b["instanceName"], Value::Null);
        assert!(b.get("zoneId").is_none());
        let prepaid = (0..300)
            .filter(|n| {
                row(Product::Vm, &n.to_string(), "RUNNING", 1_768_465_800, None)["instanceChargeType"]
                    == "PREPAID"
            })
            .count();
        assert!((70..130).contains(&prepaid), "{prepaid}");
    }

    #[test]
    fn every_products_rows_read_as_its_declaration_reads_them() {
        use crate::zenlayer::declaration;
        use crate::zenlayer::rows::decode_rows;
        for product in Product::ALL.iter().copied() {
            let rows: Vec<Value> = (0..50)
                .map(|n| {
                    row(
                        product,
                        &format!("{}", 1_000_000 + n),
                        "RUNNING",
                        1_768_465_800,
                        None,
                    )
                })
                .collect();
            let body = json!({"response": {"totalCount": 50, "dataSet": rows}}).to_string();
            let page = decode_rows(declaration::of(product).rows, body.as_bytes()).unwrap();
            for info in &page.data_set {
                assert!(
                    info.instance_name.is_some() && info.cpu_count.is_some(),
                    "{product}: {info:?}"
                );
                assert!(info.private_ip.0.is_some(), "{product}: {info:?}");
                // Bare metal's status poll reads its rows; the others' metadata leaves the status aside.
                let status = info.instance_status.as_ref().map(|s| s.as_str());
                assert_eq!(
                    status,
                    (product == Product::Bmc).then_some("RUNNING"),
                    "{product}"
                );
            }
            // ZEC rows are unbilled; a third of the others are prepaid.
            let prepaid = page
                .data_set
                .iter()
                .filter(|i| i.instance_charge_type.as_deref() == Some("PREPAID"))
                .count();
            assert_eq!(
                prepaid == 0,
                product == Product::Zec,
                "{product}: {prepaid}"
            );
        }
    }
}
