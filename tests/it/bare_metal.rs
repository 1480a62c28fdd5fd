//! Bare metal's hardware health and planned maintenance, polled from the simulator and served exactly: every
//! component and reading of every server the status poll lists (ten servers a call at most), a server that leaves
//! the fleet leaving its series, a failed health call keeping the last good values and saying so; maintenance
//! windows with their words, a row whose time does not parse skipped and counted while the others are served.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use zenlayer_exporter::sim::maintenance::MaintenanceWindow;
use zenlayer_exporter::sim::{Fault, FaultRule, SimOptions, Simulator};
use zenlayer_exporter::zenlayer::operations::{
    COMPONENTS, DESCRIBE_INSTANCES_MONITOR_HEALTH, DESCRIBE_MAINTENANCE_ALERTS, SENSORS,
};
use zenlayer_exporter::zenlayer::product::Product;

use crate::common;
use common::{Exporter, config_for, instance_statuses, sample, series};

const BMC: (&str, &str) = ("ZENLAYER_EXPORTER_PRODUCTS", "bmc");
const HEALTH: (&str, &str) = ("ZENLAYER_EXPORTER_HEALTH_INTERVAL_SECONDS", "60");
const MAINTENANCE: (&str, &str) = ("ZENLAYER_EXPORTER_MAINTENANCE_INTERVAL_SECONDS", "60");

async fn servers(n: usize) -> Simulator {
    Simulator::start(SimOptions {
        products: vec![(Product::Bmc, n)],
        seed: 11,
        ..SimOptions::default()
    })
    .await
    .expect("simulator starts")
}

/// An exporter of `sim`'s bare metal, its health and maintenance polled every 300 ms.
async fn exporter(sim: &Simulator, extra: &[(&str, &str)]) -> Exporter {
    let mut vars = vec![BMC, HEALTH, MAINTENANCE];
    vars.extend_from_slice(extra);
    let mut config = config_for(sim, &vars);
    config.health_interval = Some(Duration::from_millis(300));
    config.maintenance_interval = Some(Duration::from_millis(300));
    Exporter::start(config).await
}

/// The (instance, component, health) series served at 1, and the (instance, sensor, reading) ones, sorted.
type Hardware = (
    BTreeSet<(String, String, String)>,
    BTreeSet<(String, String, String)>,
);

fn served(body: &str) -> Hardware {
    let components = series(body, "zenlayer_instance_component_health")
        .into_iter()
        .filter(|(_, value)| *value == 1.0)
        .map(|(l, _)| {
            (
                l["instance_id"].clone(),
                l["component"].clone(),
                l["health"].clone(),
            )
        })
        .collect();
    let temperatures = series(body, "zenlayer_instance_temperature_celsius")
        .into_iter()
        .map(|(l, v)| (l["instance_id"].clone(), l["sensor"].clone(), v.to_string()))
        .collect();
    (components, temperatures)
}

/// What the simulator's health rows say, as the exporter should serve it: every component sent, every reading
/// that is neither null nor 0 ("not retrievable").
fn truth(sim: &Simulator) -> Hardware {
    let mut components = BTreeSet::new();
    let mut temperatures = BTreeSet::new();
    for row in sim.product(0, Product::Bmc).health_truth() {
        let id = row["instanceId"].as_str().unwrap().to_owned();
        for c in &COMPONENTS {
            if let Some(value) = row[c.field].as_str() {
                components.insert((id.clone(), c.name.to_owned(), value.to_owned()));
            }
        }
        for s in &SENSORS {
            if let Some(t) = row[s.field].as_f64().filter(|t| *t != 0.0) {
                temperatures.insert((id.clone(), s.name.to_owned(), t.to_string()));
            }
        }
    }
    (components, temperatures)
}

fn polls(body: &str, action: &str) -> f64 {
    sample(
        body,
        &format!("zenlayer_exporter_polls_total{{action=\"{action}\",product=\"bmc\"}}"),
    )
    .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_servers_hardware_is_served_exactly_ten_servers_a_call() {
    let sim = servers(25).await;
    let ids = sim.product(0, Product::Bmc).fleet.ids();
    {
        let mut state = sim.product(0, Product::Bmc);
        state.set_component(&ids[0], &COMPONENTS[3], "WARNING");
        // An undocumented value is served as sent.
        state.set_component(&ids[1], &COMPONENTS[7], "FLAPPING");
        state.set_sensor(&ids[2], &SENSORS[1], Some(93.0));
        state.set_sensor(&ids[3], &SENSORS[0], Some(0.0));
    }
    let exporter = exporter(&sim, &[]).await;
    let expected = truth(&sim);
    assert!(
        expected
            .0
            .contains(&(ids[0].clone(), "psu".into(), "WARNING".into()))
    );
    assert!(
        expected
            .0
            .contains(&(ids[1].clone(), "ipmi_ping".into(), "FLAPPING".into()))
    );
    assert!(
        expected
            .1
            .contains(&(ids[2].clone(), "cpu0".into(), "93".into()))
    );
    let body = exporter
        .metrics_until("every server's health", |b| served(b) == expected)
        .await;
    assert!(
        !body.contains(&format!("instance_id=\"{}\",sensor=\"cpu\"", ids[3])),
        "a reading of 0 is no temperature"
    );
    let calls = sim.product(0, Product::Bmc).health_ids.clone();
    assert!(
        !calls.is_empty() && calls.iter().all(|n| (1..=10).contains(n)),
        "{calls:?}"
    );
    assert_eq!(
        calls[..3].iter().sum::<usize>(),
        25,
        "one poll asks about every server once: {calls:?}"
    );
    assert_eq!(
        sample(
            &body,
            "zenlayer_exporter_rows_skipped_total{action=\"DescribeInstancesMonitorHealth\",reason=\"unit\",product=\"bmc\"}"
        ),
        Some(0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_refused_for_a_server_gone_asks_again_by_server_and_a_row_unread_is_left_out_alone()
{
    let sim = servers(12).await;
    let ids = sim.product(0, Product::Bmc).fleet.ids();
    // The first health call is refused as if one of its ten servers were gone; a temperature that is no number
    // makes one row unreadable.
    sim.product(0, Product::Bmc)
        .plan
        .rules
        .push(FaultRule::times(Fault::NotFound, 1).on_action(DESCRIBE_INSTANCES_MONITOR_HEALTH));
    sim.product(0, Product::Bmc)
        .set_health_field(&ids[5], SENSORS[1].field, "hot".into());
    let exporter = exporter(&sim, &[]).await;
    let (mut components, temperatures) = truth(&sim);
    components.retain(|(id, _, _)| *id != ids[5]);
    let expected = (
        components,
        temperatures
            .into_iter()
            .filter(|(id, _, _)| *id != ids[5])
            .collect(),
    );
    let skipped = "zenlayer_exporter_rows_skipped_total{action=\"DescribeInstancesMonitorHealth\",reason=\"row\",product=\"bmc\"}";
    let body = exporter
        .metrics_until("every server's health but the unreadable row", |b| {
            served(b) == expected && sample(b, skipped).is_some_and(|n| n >= 1.0)
        })
        .await;
    let calls = sim.product(0, Product::Bmc).health_ids.clone();
    // Whichever of the first two calls (ten servers and two) came first was refused, and its servers were asked
    // about again one at a time.
    let singles = calls.iter().filter(|n| **n == 1).count();
    assert!(
        singles >= 2 && calls.iter().all(|n| (1..=10).contains(n)),
        "{calls:?}"
    );
    assert_eq!(
        sample(
            &body,
            "zenlayer_exporter_poll_failures_total{action=\"DescribeInstancesMonitorHealth\",reason=\"client_error\",product=\"bmc\"}"
        ),
        Some(0.0),
        "a server gone is no failure"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_health_call_keeps_the_last_values_and_a_server_gone_loses_its_series() {
    let sim = servers(12).await;
    let ids = sim.product(0, Product::Bmc).fleet.ids();
    let exporter = exporter(&sim, &[]).await;
    let expected = truth(&sim);
    exporter
        .metrics_until("every server's health", |b| served(b) == expected)
        .await;
    // Every health call fails from now on (after its retries); statuses and metadata are still answered.
    sim.product(0, Product::Bmc).plan.rules.push(
        FaultRule::always(Fault::ServerError {
            status: 503,
            code: "SERVICE_TEMPORARY_UNAVAILABLE".into(),
        })
        .on_action(DESCRIBE_INSTANCES_MONITOR_HEALTH),
    );
    sim.product(0, Product::Bmc)
        .set_component(&ids[4], &COMPONENTS[2], "WARNING");
    let failing = format!(
        "zenlayer_exporter_poll_failures_total{{action=\"{DESCRIBE_INSTANCES_MONITOR_HEALTH}\",reason=\"server_error\",product=\"bmc\"}}"
    );
    let body = exporter
        .metrics_until("failed health polls", |b| {
            sample(b, &failing).is_some_and(|n| n >= 2.0)
        })
        .await;
    assert_eq!(served(&body), expected, "the last good values stay served");
    assert_eq!(
        sample(&body, "zenlayer_up{product=\"bmc\"}"),
        Some(1.0),
        "the status poll is not the health poll"
    );
    // The server leaves the fleet: once the health calls work again, its series go at the next health poll.
    sim.product(0, Product::Bmc).plan.rules.clear();
    sim.product(0, Product::Bmc).fleet.remove(&ids[0]);
    let expected = truth(&sim);
    assert!(
        expected
            .0
            .contains(&(ids[4].clone(), "disk".into(), "WARNING".into()))
    );
    let body = exporter
        .metrics_until("the health of the servers left", |b| served(b) == expected)
        .await;
    assert!(!body.contains(&format!("instance_id=\"{}\"", ids[0])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_windows_are_served_in_their_words_and_a_bad_time_skips_its_row_alone() {
    let sim = servers(4).await;
    let ids = sim.product(0, Product::Bmc).fleet.ids();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let impact = "Switch \"firmware\" upgrade;\npublic network down up to 10 minutes. ".repeat(8);
    let mut bad = MaintenanceWindow::new(&ids[2], "SEL-A", "x", now, now + 60, "scheduled");
    bad.start_time = Some("next tuesday".into());
    sim.set_maintenance(
        0,
        "BMC",
        vec![
            MaintenanceWindow::new(
                &ids[0],
                "SEL-A",
                &impact,
                now + 3600,
                now + 7200,
                "scheduled",
            ),
            MaintenanceWindow::new(
                &ids[1],
                "FRA-A",
                "reboot",
                now - 600,
                now + 600,
                "in progress",
            ),
            // A later window of the same server and status: the earliest is the one served.
            MaintenanceWindow::new(
                &ids[0],
                "SEL-A",
                "later",
                now + 86_400,
                now + 90_000,
                "scheduled",
            ),
            bad,
        ],
    );
    sim.set_maintenance(
        0,
        "SDN",
        vec![MaintenanceWindow::new(
            "node-1",
            "x",
            "y",
            now,
            now + 1,
            "scheduled",
        )],
    );
    let exporter = exporter(&sim, &[]).await;
    let skipped = format!(
        "zenlayer_exporter_rows_skipped_total{{action=\"{DESCRIBE_MAINTENANCE_ALERTS}\",reason=\"time\",product=\"bmc\"}}"
    );
    let body = exporter
        .metrics_until("the maintenance windows", |b| {
            sample(b, &skipped).is_some_and(|n| n >= 1.0)
                && b.contains("zenlayer_maintenance_info{")
        })
        .await;
    let starts = series(&body, "zenlayer_maintenance_start_timestamp_seconds");
    let starts: BTreeSet<(String, String, u64)> = starts
        .into_iter()
        .map(|(l, v)| (l["instance_id"].clone(), l["status"].clone(), v as u64))
        .collect();
    assert_eq!(
        starts,
        BTreeSet::from([
            (ids[0].clone(), "scheduled".into(), now + 3600),
            (ids[1].clone(), "in progress".into(), now - 600),
        ]),
        "the window with no time is left out, the rest served; SDN is not polled"
    );
    assert_eq!(
        sample(
            &body,
            &format!(
                "zenlayer_maintenance_end_timestamp_seconds{{product=\"bmc\",instance_id=\"{}\",status=\"in progress\"}}",
                ids[1]
            )
        ),
        Some((now + 600) as f64)
    );
    let info = series(&body, "zenlayer_maintenance_info");
    let first = info
        .iter()
        .find(|(l, _)| l["instance_id"] == ids[0])
        .unwrap();
    let words = &first.0["impact"];
    assert!(
        words.starts_with("Switch \"firmware\" upgrade; public network"),
        "{words}"
    );
    assert_eq!(
        words.chars().count(),
        201,
        "clipped to 200 characters and an ellipsis"
    );
    assert_eq!(first.0["location"], "SEL-A");
    assert!(polls(&body, DESCRIBE_MAINTENANCE_ALERTS) >= 1.0);
    // An error in a 200 answer is the error its code says, not an empty list: the poll fails, and the windows
    // served stay.
    sim.maintenance(0)
        .plan
        .rules
        .push(FaultRule::always(Fault::ServerError {
            status: 200,
            code: "OPERATION_DENIED".into(),
        }));
    let refused = format!(
        "zenlayer_exporter_poll_failures_total{{action=\"{DESCRIBE_MAINTENANCE_ALERTS}\",reason=\"client_error\",product=\"bmc\"}}"
    );
    let body = exporter
        .metrics_until("a refused maintenance poll", |b| {
            sample(b, &refused).is_some_and(|n| n >= 1.0)
        })
        .await;
    assert_eq!(
        series(&body, "zenlayer_maintenance_start_timestamp_seconds").len(),
        2,
        "the last windows stay served"
    );
    let calls = sim
        .maintenance(0)
        .calls_by_action
        .get(DESCRIBE_MAINTENANCE_ALERTS)
        .copied();
    assert!(calls.is_some_and(|n| n >= 1), "{calls:?}");
}

/// Bare-metal trouble arranged in a simulator for the alerts to find on a real Prometheus: one server with a
/// power supply alarm, one running hot, one whose maintenance starts in six hours, one in maintenance now.
pub struct Trouble {
    /// (instance id, name, zone) of each, in that order.
    pub servers: [(String, String, String); 4],
    /// When the upcoming window starts and the running one ends, Unix seconds.
    pub upcoming_start: u64,
    pub running_end: u64,
}

impl Trouble {
    /// Arranges it in `sim`'s bare metal (every server RUNNING, so no status alert fires for one).
    pub fn arrange(sim: &Simulator) -> Trouble {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut state = sim.product(0, Product::Bmc);
        let ids = state.fleet.ids();
        // Every other component well: the generated fleet has an alarm here and there.
        for id in &ids {
            state.fleet.set_status(id, "RUNNING");
            for component in &COMPONENTS {
                state.set_component(id, component, "OK");
            }
        }
        state.set_component(&ids[0], &COMPONENTS[3], "WARNING");
        state.set_sensor(&ids[1], &SENSORS[1], Some(95.0));
        let rows = state.metadata_truth();
        let named = |id: &String| {
            let row = rows
                .iter()
                .find(|r| r["instanceId"] == id.as_str())
                .unwrap();
            let text = |field: &str| row[field].as_str().unwrap().to_owned();
            (id.clone(), text("instanceName"), text("zoneId"))
        };
        let servers = [0, 1, 2, 3].map(|i| named(&ids[i]));
        drop(state);
        let (upcoming_start, running_end) = (now + 6 * 3600, now + 5400);
        sim.set_maintenance(
            0,
            "BMC",
            vec![
                MaintenanceWindow::new(
                    &ids[2],
                    &servers[2].2,
                    "Planned switch firmware upgrade; public network down up to 10 minutes.",
                    upcoming_start,
                    upcoming_start + 7200,
                    "scheduled",
                ),
                MaintenanceWindow::new(
                    &ids[3],
                    &servers[3].2,
                    "Power feed maintenance.",
                    now - 1800,
                    running_end,
                    "in progress",
                ),
            ],
        );
        Trouble {
            servers,
            upcoming_start,
            running_end,
        }
    }

    /// Waits for each bare-metal alert to fire for its server alone, and checks what its summary says: the
    /// server by name and zone, the component, the reading, the window in UTC.
    pub async fn assert_alerts(&self, prometheus: &common::prometheus::Prometheus) {
        let utc = |unix: u64| {
            let t = time::OffsetDateTime::from_unix_timestamp(unix as i64).unwrap();
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            )
        };
        let [psu, hot, upcoming, running] = &self.servers;
        let expected = [
            (
                "ZenlayerHardwareUnhealthy",
                psu,
                format!(
                    "Zenlayer bmc server {} in {} reports psu WARNING",
                    psu.1, psu.2
                ),
            ),
            (
                "ZenlayerTemperatureHigh",
                hot,
                format!(
                    "Zenlayer bmc server {} in {}: cpu0 temperature 95 °C",
                    hot.1, hot.2
                ),
            ),
            (
                "ZenlayerMaintenanceUpcoming",
                upcoming,
                format!(
                    "Planned maintenance of Zenlayer bmc server {} in {} starts {} (in 5h 59m",
                    upcoming.1,
                    upcoming.2,
                    utc(self.upcoming_start)
                ),
            ),
            (
                "ZenlayerMaintenanceInProgress",
                running,
                format!(
                    "Zenlayer bmc server {} in {} is in planned maintenance until {}",
                    running.1,
                    running.2,
                    utc(self.running_end)
                ),
            ),
        ];
        for (alert, (id, _, _), summary) in expected {
            let only: BTreeSet<String> = [id.clone()].into();
            common::eventually(&format!("{alert} firing"), || async {
                (prometheus.alerts(alert, "firing").await == only).then_some(())
            })
            .await;
            let summaries = prometheus.summaries(alert, "firing").await;
            eprintln!("{alert}, as Alertmanager receives it: {}", summaries[id]);
            assert!(
                summaries[id].starts_with(&summary),
                "{alert}: {:?} vs {summary:?}",
                summaries[id]
            );
        }
    }
}

/// Bare metal's status walk knows a server whose row came back as the last walk read it by the row's text, and
/// takes its status from that walk's snapshot; a server whose status changed is read again. Round after round,
/// every status served is the simulator's, the servers changed and the others alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_of_rows_known_by_their_text_stay_the_simulators() {
    let sim = servers(30).await;
    let exporter = Exporter::start(config_for(
        &sim,
        &[BMC, ("ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS", "300")],
    ))
    .await;
    let ids = sim.product(0, Product::Bmc).fleet.ids();
    let truth = || {
        let state = sim.product(0, Product::Bmc);
        let mut statuses: Vec<(String, String)> = state
            .fleet
            .instances()
            .iter()
            .map(|i| (i.id.clone(), i.status.clone()))
            .collect();
        statuses.sort();
        statuses
    };
    exporter
        .metrics_until("every status served", |body| {
            instance_statuses(body) == truth()
        })
        .await;
    for (round, status) in ["STOPPED", "RUNNING", "STOPPED", "RUNNING"]
        .iter()
        .enumerate()
    {
        assert!(
            sim.product(0, Product::Bmc)
                .fleet
                .set_status(&ids[round % 3], status)
        );
        let expected = truth();
        // The changed row is read again...
        let body = exporter
            .metrics_until("the change served", |body| {
                instance_statuses(body) == expected
            })
            .await;
        // ...and known by its text in the polls after, the others with it.
        let seen = polls(&body, "DescribeInstances");
        let body = exporter
            .metrics_until("three more polls", |body| {
                polls(body, "DescribeInstances") >= seen + 3.0
            })
            .await;
        assert_eq!(instance_statuses(&body), expected, "round {round}");
    }
}
