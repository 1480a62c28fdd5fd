//! The wire facts of bare-metal operations: hardware health (`DescribeInstancesMonitorHealth` of the bare-metal
//! service, at most ten ids a call) and planned maintenance (`DescribeMaintenanceAlerts` of the maintenance
//! service, one unpaged call per maintenance product). Its components, their documented values and the
//! temperature sensors are declared here once; the polls, snapshots and families built on them are
//! `hardware/`'s and `maintenance/`'s. Facts: `zenlayer-products.md` §2.5 and §3.

use serde::Deserialize;

use super::model::{InstanceId, Text, bounded_id, bounded_text};

/// The bare-metal action that reports each server's hardware health, ten servers a call.
pub const DESCRIBE_INSTANCES_MONITOR_HEALTH: &str = "DescribeInstancesMonitorHealth";

/// Most ids one `DescribeInstancesMonitorHealth` call may name (the vendor's CLI and SDK comments).
pub const MAX_HEALTH_IDS: usize = 10;

/// Where the health action's answer lists its rows (not `dataSet`, and no `totalCount`).
pub const HEALTH_LIST: &str = "monitorHealthList";

/// Where the maintenance action's answer lists its rows.
pub const MAINTENANCE_LIST: &str = "dataList";

/// The action listing planned maintenance of one maintenance product.
pub const DESCRIBE_MAINTENANCE_ALERTS: &str = "DescribeMaintenanceAlerts";

/// The maintenance service: its name (URL path `/api/v2/maintenance` and `x-zc-service`) and `X-ZC-Version`,
/// the only one any SDK ships.
pub const MAINTENANCE_SERVICE: &str = "maintenance";
pub const MAINTENANCE_VERSION: &str = "2025-03-10";

/// The `product` values `DescribeMaintenanceAlerts` documents: bare metal and cloud networking.
pub const MAINTENANCE_PRODUCTS: [&str; 2] = ["BMC", "SDN"];

crate::labels::label_values! {
    /// A component's health as the API spells it: the `health` label of `zenlayer_instance_component_health`.
    /// Anything else the API sends is kept as sent.
    pub enum Health {
        /// Working.
        Ok = "OK",
        /// A hardware alarm.
        Warning = "WARNING",
        /// Only `ipmiPing`: the IPMI address does not answer.
        Critical = "CRITICAL",
        /// Not collected.
        Unknown = "UNKNOWN",
    }
}

/// One hardware component of a health row: its label, its field on the wire, and the values documented for it.
pub struct Component {
    /// The `component` label.
    pub name: &'static str,
    /// The row's field, as sent.
    pub field: &'static str,
    /// Every value the API documents for it: a state set's series (`ZENLAYER_EXPORTER_STATUS_SERIES=all`).
    pub values: &'static [Health],
    /// Its value in a decoded row.
    pub value: for<'r, 'a> fn(&'r InstanceHealth<'a>) -> Option<&'r str>,
}

const ALARM: &[Health] = &[Health::Ok, Health::Warning, Health::Unknown];

/// Every component, in the order exported.
pub const COMPONENTS: [Component; 8] = [
    Component {
        name: "cpu",
        field: "cpuStatus",
        values: ALARM,
        value: |h| h.cpu_status.as_deref(),
    },
    Component {
        name: "memory",
        field: "memoryStatus",
        values: ALARM,
        value: |h| h.memory_status.as_deref(),
    },
    Component {
        name: "disk",
        field: "diskStatus",
        values: ALARM,
        value: |h| h.disk_status.as_deref(),
    },
    Component {
        name: "psu",
        field: "psuStatus",
        values: ALARM,
        value: |h| h.psu_status.as_deref(),
    },
    Component {
        name: "fan",
        field: "fanStatus",
        values: ALARM,
        value: |h| h.fan_status.as_deref(),
    },
    Component {
        name: "wan_port",
        field: "wanPortStatus",
        values: ALARM,
        value: |h| h.wan_port_status.as_deref(),
    },
    Component {
        name: "ipmi",
        field: "ipmiStatus",
        values: ALARM,
        value: |h| h.ipmi_status.as_deref(),
    },
    Component {
        name: "ipmi_ping",
        field: "ipmiPing",
        values: &[Health::Ok, Health::Critical, Health::Unknown],
        value: |h| h.ipmi_ping.as_deref(),
    },
];

/// One temperature reading of a health row: its `sensor` label and its field on the wire.
pub struct Sensor {
    pub name: &'static str,
    pub field: &'static str,
    pub value: fn(&InstanceHealth<'_>) -> Option<f64>,
}

/// Every temperature, in the order exported: one CPU (Supermicro blades), each socket, the air intake.
pub const SENSORS: [Sensor; 5] = [
    Sensor {
        name: "cpu",
        field: "cpuTemp",
        value: |h| h.cpu_temp,
    },
    Sensor {
        name: "cpu0",
        field: "cpu0Temp",
        value: |h| h.cpu0_temp,
    },
    Sensor {
        name: "cpu1",
        field: "cpu1Temp",
        value: |h| h.cpu1_temp,
    },
    Sensor {
        name: "cpu2",
        field: "cpu2Temp",
        value: |h| h.cpu2_temp,
    },
    Sensor {
        name: "inlet",
        field: "inletTemp",
        value: |h| h.inlet_temp,
    },
];

/// One server's row of `DescribeInstancesMonitorHealth`. Fields were added over the versions (`fanStatus`, the
/// temperatures), so every one but the id may be missing or null.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InstanceHealth<'a> {
    #[serde(deserialize_with = "bounded_id")]
    pub instance_id: InstanceId,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    pub cpu_status: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    pub memory_status: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    pub disk_status: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    pub psu_status: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    pub fan_status: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    pub wan_port_status: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    pub ipmi_status: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    pub ipmi_ping: Option<Text<'a>>,
    /// Degrees on a 0 to 100 scale; `0` means not retrievable (vendor's description), null likewise.
    #[serde(default)]
    pub cpu_temp: Option<f64>,
    #[serde(default)]
    pub cpu0_temp: Option<f64>,
    #[serde(default)]
    pub cpu1_temp: Option<f64>,
    #[serde(default)]
    pub cpu2_temp: Option<f64>,
    #[serde(default)]
    pub inlet_temp: Option<f64>,
    /// Only Celsius is documented; its literal spelling is not.
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    pub temp_unit: Option<Text<'a>>,
}

/// One planned maintenance of `DescribeMaintenanceAlerts`: every field a string, free text but the times. The
/// free text is read whatever its length and clipped when served, not refused.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceAlert<'a> {
    /// The affected resource: a bare-metal server's instance id for `BMC`.
    #[serde(deserialize_with = "bounded_id")]
    pub instance_id: InstanceId,
    #[serde(borrow, default)]
    pub location: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub impact: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub start_time: Option<Moment<'a>>,
    #[serde(borrow, default)]
    pub end_time: Option<Moment<'a>>,
    /// `in progress` is the one documented value.
    #[serde(borrow, default)]
    pub status: Option<Text<'a>>,
}

/// A time as sent: ISO 8601 in UTC, as documented, or (accepted, since nothing forbids it) a number of seconds
/// since the Unix epoch.
#[derive(Debug, Clone, PartialEq)]
pub enum Moment<'a> {
    Text(Text<'a>),
    Number(f64),
}

impl Moment<'_> {
    /// Seconds since the Unix epoch; `None` for text that is no time. A number above 10^11 is taken as
    /// milliseconds (in seconds it would be past the year 5000).
    pub fn unix(&self) -> Option<f64> {
        match self {
            Moment::Text(text) => super::model::unix_time(text),
            Moment::Number(n) if !n.is_finite() => None,
            Moment::Number(n) if n.abs() > 1e11 => Some(n / 1000.0),
            Moment::Number(n) => Some(*n),
        }
    }

    /// As sent, for a log line.
    pub fn shown(&self) -> String {
        match self {
            Moment::Text(text) => text.to_string(),
            Moment::Number(n) => n.to_string(),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Moment<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Moment<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a time: ISO 8601 text or seconds since the epoch")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Moment<'de>, E> {
                Ok(Moment::Text(text.into()))
            }
            fn visit_str<E>(self, text: &str) -> Result<Moment<'de>, E> {
                Ok(Moment::Text(text.to_owned().into()))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Moment<'de>, E> {
                Ok(Moment::Number(n))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Moment<'de>, E> {
                Ok(Moment::Number(n as f64))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Moment<'de>, E> {
                Ok(Moment::Number(n as f64))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl super::model::Row for InstanceHealth<'_> {
    fn id(&self) -> &str {
        &self.instance_id
    }
}

impl super::model::Row for MaintenanceAlert<'_> {
    fn id(&self) -> &str {
        &self.instance_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_decodes_and_every_component_and_sensor_reads_its_field() {
        let row = r#"{"instanceId":"1234567654322","cpuStatus":"OK","diskStatus":"WARNING","ipmiPing":"CRITICAL",
            "ipmiStatus":"UNKNOWN","memoryStatus":"OK","psuStatus":"WARNING","wanPortStatus":"OK","fanStatus":"UNKNOWN",
            "serverBrand":"Supermicro","serverModel":"SYS-5039MC-H12TRF","cpuTemp":0,"cpu0Temp":null,"cpu1Temp":51,
            "cpu2Temp":null,"inletTemp":23.5,"tempUnit":"Celsius"}"#;
        let health: InstanceHealth = serde_json::from_str(row).unwrap();
        let value: serde_json::Value = serde_json::from_str(row).unwrap();
        for component in &COMPONENTS {
            assert_eq!(
                (component.value)(&health),
                value[component.field].as_str(),
                "{}",
                component.name
            );
        }
        for sensor in &SENSORS {
            assert_eq!((sensor.value)(&health), value[sensor.field].as_f64());
        }
        // A row with its id alone (an older version, or a server the API knows little of) is a row.
        let bare: InstanceHealth = serde_json::from_str(r#"{"instanceId":"1"}"#).unwrap();
        assert!(COMPONENTS.iter().all(|c| (c.value)(&bare).is_none()));
    }

    #[test]
    fn maintenance_times_are_iso_8601_or_epoch_numbers_and_free_text_has_no_bound() {
        fn row(json: &str) -> MaintenanceAlert<'_> {
            serde_json::from_str(json).unwrap()
        }
        let long = "x".repeat(5000);
        let json = format!(
            r#"{{"instanceId":"1","startTime":"2026-07-28T16:00:00Z","endTime":1785261600,"location":"{long}","status":"{long}"}}"#
        );
        let alert = row(&json);
        assert_eq!(alert.start_time.unwrap().unix(), Some(1_785_254_400.0));
        assert_eq!(alert.end_time.unwrap().unix(), Some(1_785_261_600.0));
        assert_eq!(alert.location.unwrap().len(), 5000);
        let ms = row(r#"{"instanceId":"1","startTime":1785254400000,"endTime":"soon"}"#);
        assert_eq!(ms.start_time.unwrap().unix(), Some(1_785_254_400.0));
        assert_eq!(ms.end_time.unwrap().unix(), None);
    }
}
