//! The simulated metadata of each instance, as `DescribeInstances` returns it: derived from the instance id and
//! the simulator's epoch (so it costs no storage, follows churn, and a test can compute it), with overrides a
//! test sets to serve odd values, nulls or missing fields.

use serde::Deserialize;
use serde_json::{Map, Value, json};

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
fn hash(id: &str, salt: u64) -> u64 {
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

/// The `DescribeInstances` row of instance `id` in `status`, for a simulator started at `epoch` (Unix seconds).
/// About a third of the fleet is prepaid, expiring within 90 days of the epoch, half of it without auto-renewal.
pub fn row(id: &str, status: &str, epoch: u64, over: Option<&MetadataOverride>) -> Value {
    let zone = pick(&ZONES, id, 1);
    let (instance_type, cpus, memory) = pick(&TYPES, id, 2);
    let (image_id, image_name) = pick(&IMAGES, id, 3);
    let (group_id, group_name) = pick(&GROUPS, id, 4);
    let name = format!(
        "{}-{}-{:02}",
        pick(&ROLES, id, 5),
        zone[..3].to_ascii_lowercase(),
        hash(id, 6) % 100
    );
    let prepaid = hash(id, 7) % 3 == 0;
    let created = epoch - DAY * (1 + hash(id, 8) % 400) - hash(id, 9) % DAY;
    let expiry = epoch + 3600 + hash(id, 10) % (90 * DAY);
    let auto_renew = prepaid && hash(id, 11) % 2 == 0;
    let mut tags = vec![
        json!({"key": "env", "value": pick(&ENVS, id, 12)}),
        json!({"key": "team", "value": pick(&TEAMS, id, 13)}),
    ];
    if hash(id, 14) % 4 == 0 {
        tags.push(json!({"key": "cost-center", "value": format!("cc-{}", hash(id, 15) % 50)}));
    }
    let octet = |salt| hash(id, salt) % 254 + 1;
    let mut row = json!({
        "instanceId": id,
        "zoneId": zone,
        "instanceName": name,
        "instanceType": instance_type,
        "cpuCount": cpus,
        "memory": memory,
        "imageId": image_id,
        "imageName": image_name,
        "instanceChargeType": if prepaid { "PREPAID" } else { "POSTPAID" },
        "internetMaxBandwidthOut": 100,
        "internetChargeType": "ByBandwidth",
        "period": if prepaid { json!(1 + hash(id, 16) % 12) } else { Value::Null },
        "publicIpAddresses": [format!("203.0.{}.{}", octet(17), octet(18))],
        "publicIpv6Addresses": [],
        "privateIpAddresses": [format!("10.{}.{}.{}", octet(19), octet(20), octet(21))],
        "subnetId": format!("6699{:014}", hash(id, 22) % 100_000_000_000_000),
        "createTime": iso8601(created),
        "expiredTime": if prepaid { json!(iso8601(expiry)) } else { Value::Null },
        "resourceGroupId": group_id,
        "resourceGroupName": group_name,
        "instanceStatus": status,
        "trafficPackageSize": Value::Null,
        "securityGroupIds": [format!("7812{:014}", hash(id, 23) % 100_000_000_000_000)],
        "systemDisk": {"diskId": format!("9330{:014}", hash(id, 24) % 100_000_000_000_000), "diskSize": 40, "diskCategory": "SSD"},
        "dataDisks": [],
        "autoRenew": auto_renew,
        "keyId": Value::Null,
        "nic": {"wanName": "eth0", "lanName": "eth1"},
        "tags": {"tags": tags},
    });
    if let (Some(over), Some(fields)) = (over, row.as_object_mut()) {
        for (key, value) in &over.set {
            fields.insert(key.clone(), value.clone());
        }
        for key in &over.remove {
            fields.remove(key);
        }
    }
    row
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
        let a = row("932237369560662463", "RUNNING", 1_768_465_800, None);
        assert_eq!(a, row("932237369560662463", "RUNNING", 1_768_465_800, None));
        assert_eq!(a["instanceId"], "932237369560662463");
        let over = MetadataOverride {
            set: [("instanceName".to_owned(), Value::Null)]
                .into_iter()
                .collect(),
            remove: vec!["zoneId".into()],
        };
        let b = row("932237369560662463", "RUNNING", 1_768_465_800, Some(&over));
        assert_eq!(b["instanceName"], Value::Null);
        assert!(b.get("zoneId").is_none());
        let prepaid = (0..300)
            .filter(|n| {
                row(&n.to_string(), "RUNNING", 1_768_465_800, None)["instanceChargeType"]
                    == "PREPAID"
            })
            .count();
        assert!((70..130).contains(&prepaid), "{prepaid}");
    }
}
