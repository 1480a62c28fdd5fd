//! The wire facts of bare-metal operations: hardware health (`DescribeInstancesMonitorHealth` of the bare-metal
//! service, at most ten ids a call) and planned maintenance (`DescribeMaintenanceAlerts` of the maintenance
//! service, one unpaged call per maintenance product). Its components, their documented values and the
//! temperature sensors are declared here once; the polls, snapshots and families built on them are
//! `hardware/`'s and `maintenance/`'s. Facts: `zenlayer-products.md` §2.5 and §3.

use serde::Deserialize;

use super::model::{Text, bounded_id, bounded_text};

/// The bare-metal action that reports each server's hardware health, ten servers a call.
pub const DESCRIBE_INSTANCES_MONITOR_HEALTH: &str = "DescribeInstancesMonitorHealth";

/// Most ids one `DescribeInstancesMonitorHealth` call may name (the vendor's CLI and SDK comments).
pub const MAX_HEALTH_IDS: usize = 10;

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
    pub instance_id: Box<str>,
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

/// One planned maintenance of `DescribeMaintenanceAlerts`: every field a string, free text but the times.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceAlert<'a> {
    /// The affected resource: a bare-metal server's instance id for `BMC`.
    #[serde(deserialize_with = "bounded_id")]
    pub instance_id: Box<str>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    pub location: Option<Text<'a>>,
    /// Free text: longer than the bound of other text fields is not an error here (it is clipped, not refused).
    #[serde(borrow, default)]
    pub impact: Option<Text<'a>>,
    /// ISO 8601, UTC.
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    pub start_time: Option<Text<'a>>,
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    pub end_time: Option<Text<'a>>,
    /// Free text; `in progress` is the one documented value.
    #[serde(borrow, default, deserialize_with = "bounded_text")]
    pub status: Option<Text<'a>>,
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
}
