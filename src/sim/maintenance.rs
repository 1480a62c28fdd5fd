//! What the simulated maintenance service (`/api/v2/maintenance`) lists: a planned maintenance window as
//! `DescribeMaintenanceAlerts` sends it and as the control endpoint takes it, the lists of an account by product
//! (`BMC`, `SDN`; empty unless a test, the control endpoint or the demo sets them), and the demo's windows. The
//! answer to a call is `operations`'; authentication, the version check and faults are every service's (`api`).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::metadata::iso8601;
use crate::zenlayer::operations::MAINTENANCE_PRODUCTS;

/// The statuses the demo sends: `in progress` is the one the API documents, `scheduled` an invented one (the
/// field is free text).
pub const SCHEDULED: &str = "scheduled";
pub const IN_PROGRESS: &str = "in progress";

/// The lists of an account's maintenance service, by product.
pub type MaintenanceLists = BTreeMap<String, Vec<MaintenanceWindow>>;

/// One row of `DescribeMaintenanceAlerts`, sent as held: a field left `None` is left out of the row. In the
/// control endpoint's JSON a time is either Unix seconds (sent as ISO 8601 UTC, `2026-07-28T16:00:00Z`) or a
/// string, sent verbatim (unparseable ones included).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MaintenanceWindow {
    pub instance_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "time"
    )]
    pub start_time: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "time"
    )]
    pub end_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl MaintenanceWindow {
    /// A window on `instance_id` at `location` from `start` to `end` (Unix seconds), in `status`.
    pub fn new(
        instance_id: &str,
        location: &str,
        impact: &str,
        start: u64,
        end: u64,
        status: &str,
    ) -> MaintenanceWindow {
        MaintenanceWindow {
            instance_id: instance_id.to_owned(),
            location: Some(location.to_owned()),
            impact: Some(impact.to_owned()),
            start_time: Some(iso8601(start)),
            end_time: Some(iso8601(end)),
            status: Some(status.to_owned()),
        }
    }
}

/// A time as the control endpoint takes it: Unix seconds, or text sent as is.
fn time<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::String(text) => Ok(Some(text)),
        Value::Number(n) => n
            .as_u64()
            .map(|unix| Some(iso8601(unix)))
            .ok_or_else(|| serde::de::Error::custom("a time is Unix seconds from 0, or a string")),
        _ => Err(serde::de::Error::custom(
            "a time is Unix seconds or a string",
        )),
    }
}

/// The demo's maintenance, times relative to `epoch` (the simulator's start): on bare metal, a switch upgrade
/// starting in 6 hours for 2 on `upcoming`'s server and a PSU replacement under way (started 30 minutes ago,
/// 90 to go) on `running`'s, each `(id, zone)`; on cloud networking, a node's upgrade tomorrow.
pub(super) fn demo(
    epoch: u64,
    upcoming: (&str, &str),
    running: (&str, &str),
) -> [(&'static str, Vec<MaintenanceWindow>); 2] {
    const HOUR: u64 = 3600;
    let [bmc, sdn] = MAINTENANCE_PRODUCTS;
    [
        (
            bmc,
            vec![
                MaintenanceWindow::new(
                    upcoming.0,
                    upcoming.1,
                    "Planned switch firmware upgrade; the server's public network may be interrupted for up to 10 \
                     minutes.",
                    epoch + 6 * HOUR,
                    epoch + 8 * HOUR,
                    SCHEDULED,
                ),
                MaintenanceWindow::new(
                    running.0,
                    running.1,
                    "Redundant power supply replacement; the server stays up but runs on one power supply meanwhile.",
                    epoch - HOUR / 2,
                    epoch + 3 * HOUR / 2,
                    IN_PROGRESS,
                ),
            ],
        ),
        (
            sdn,
            vec![MaintenanceWindow::new(
                "node-1afmdaxzad23",
                "area-shanghai-1",
                "Backbone router software upgrade; traffic through the node is rerouted and may see brief loss.",
                epoch + 24 * HOUR,
                epoch + 28 * HOUR,
                SCHEDULED,
            )],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_take_unix_seconds_or_text_and_leave_out_what_is_unset() {
        let row: MaintenanceWindow = serde_json::from_str(
            r#"{"instanceId":"1","startTime":1768465800,"endTime":"soon","status":"whatever"}"#,
        )
        .unwrap();
        assert_eq!(row.start_time.as_deref(), Some("2026-01-15T08:30:00Z"));
        assert_eq!(row.end_time.as_deref(), Some("soon"));
        let sent = serde_json::to_value(&row).unwrap();
        assert!(sent.get("location").is_none(), "{sent}");
        assert_eq!(sent["startTime"], "2026-01-15T08:30:00Z");
        assert!(
            serde_json::from_str::<MaintenanceWindow>(r#"{"instanceId":"1","startTime":-5}"#)
                .is_err()
        );
        assert!(
            serde_json::from_str::<MaintenanceWindow>(r#"{"instanceId":"1","extra":1}"#).is_err()
        );
    }

    #[test]
    fn the_demo_windows_decode_as_the_exporter_decodes_them() {
        use crate::zenlayer::operations::MaintenanceAlert;
        for (_, windows) in demo(1_768_465_800, ("1", "FRA-A"), ("2", "SIN-E")) {
            for window in windows {
                let text = serde_json::to_string(&window).unwrap();
                let alert: MaintenanceAlert = serde_json::from_str(&text).unwrap();
                assert_eq!(*alert.instance_id, window.instance_id);
                assert!(alert.start_time.is_some() && alert.end_time.is_some());
            }
        }
    }
}
