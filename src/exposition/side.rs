//! Families rendered from a snapshot of their own beside an account's instance families: bare metal's hardware
//! health and its planned maintenance, each polled on its own interval. A [`Side`] is one such snapshot rendered
//! once when it is published (with the `account` label when several accounts are served), and again without
//! the label on the first `/probe` that asks; the scrape serves its parts at their families' places
//! ([`SIDES`]).

use std::sync::{Arc, OnceLock};

use super::families::{HARDWARE, MAINTENANCE};
use super::gzip::Part;
use crate::hardware::Servers;
use crate::hardware::families::{HardwareSamples, component_lines, temperature_lines};
use crate::maintenance::Windows;
use crate::maintenance::families::window_lines;
use crate::status::families::StatusSeries;
use crate::text::Openings;
#[cfg(test)]
use std::time::SystemTime;

/// Which snapshot a side renders, in serving order: its position (`as usize`) in a contribution's sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Hardware = 0,
    Maintenance = 1,
}

/// The sides in serving order, each with the number of its families; they come after the instance families.
pub const SIDES: [(Kind, usize); 2] = [
    (Kind::Hardware, HARDWARE.len()),
    (Kind::Maintenance, MAINTENANCE.len()),
];

/// Renders a side's families with the opening given; it holds the snapshot.
type Render = Box<dyn Fn(&[u8]) -> Vec<Part> + Send + Sync>;

/// One snapshot's families, rendered.
pub struct Side {
    parts: Vec<Part>,
    /// Whether `parts` carry the `account` label.
    labeled: bool,
    unlabeled: OnceLock<Vec<Part>>,
    render: Render,
    openings: Openings,
}

impl Side {
    fn new(openings: &Openings, render: Render) -> Side {
        Side {
            parts: render(openings.get(true)),
            labeled: openings.named(),
            unlabeled: OnceLock::new(),
            render,
            openings: openings.clone(),
        }
    }

    /// The hardware health families of `servers`, the components as `mode` says.
    pub fn hardware(servers: Arc<Servers>, mode: StatusSeries, openings: &Openings) -> Side {
        let render = move |opening: &[u8]| {
            let servers = servers.servers();
            HARDWARE
                .iter()
                .map(|family| {
                    Part::rendered(servers, |out, batch| match family.samples {
                        HardwareSamples::Components => {
                            component_lines(out, family.name, batch, mode, opening)
                        }
                        HardwareSamples::Temperatures => {
                            temperature_lines(out, family.name, batch, opening)
                        }
                    })
                })
                .collect()
        };
        Side::new(openings, Box::new(render))
    }

    /// The maintenance families of `windows`.
    pub fn maintenance(windows: Arc<Windows>, openings: &Openings) -> Side {
        let render = move |opening: &[u8]| {
            MAINTENANCE
                .iter()
                .map(|family| {
                    Part::rendered(windows.windows(), |out, batch| {
                        window_lines(out, family.name, batch, family.samples, opening)
                    })
                })
                .collect()
        };
        Side::new(openings, Box::new(render))
    }

    /// Whether [`Side::parts`] has its answer for `labeled` ready, or would render it first (eight series a
    /// server, more as a state set: work for a blocking thread at reseller sizes).
    pub fn parts_ready(&self, labeled: bool) -> bool {
        labeled || !self.labeled || self.unlabeled.get().is_some()
    }

    /// Its families' samples, in serving order; `labeled: false` gives them without the `account` label,
    /// rendered on first use.
    pub fn parts(&self, labeled: bool) -> &[Part] {
        if labeled || !self.labeled {
            return &self.parts;
        }
        self.unlabeled
            .get_or_init(|| (self.render)(self.openings.get(false)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::Server;
    use crate::maintenance::Window;

    fn text(parts: &[Part]) -> String {
        parts
            .iter()
            .map(|p| String::from_utf8(p.text()).unwrap())
            .collect()
    }

    fn servers() -> Arc<Servers> {
        let row = |json: &str| Server::from_row(serde_json::from_str(json).unwrap()).0;
        Arc::new(Servers::new(
            vec![
                row(
                    r#"{"instanceId":"s-2","psuStatus":"WARNING","ipmiPing":"LOST","cpu0Temp":91,"inletTemp":0}"#,
                ),
                row(r#"{"instanceId":"s-1","cpuStatus":"OK"}"#),
            ],
            SystemTime::UNIX_EPOCH,
        ))
    }

    #[test]
    fn hardware_health_is_the_current_value_or_a_state_set_of_the_documented_ones() {
        let openings = Openings::new(Some("prod"), "bmc");
        let side = Side::hardware(servers(), StatusSeries::Current, &openings);
        let labeled = text(side.parts(true));
        assert_eq!(
            labeled,
            "zenlayer_instance_component_health{account=\"prod\",product=\"bmc\",instance_id=\"s-1\",component=\"cpu\",health=\"OK\"} 1\n\
             zenlayer_instance_component_health{account=\"prod\",product=\"bmc\",instance_id=\"s-2\",component=\"psu\",health=\"WARNING\"} 1\n\
             zenlayer_instance_component_health{account=\"prod\",product=\"bmc\",instance_id=\"s-2\",component=\"ipmi_ping\",health=\"LOST\"} 1\n\
             zenlayer_instance_temperature_celsius{account=\"prod\",product=\"bmc\",instance_id=\"s-2\",sensor=\"cpu0\"} 91\n"
        );
        assert_eq!(
            text(side.parts(false)),
            labeled.replace("account=\"prod\",", ""),
            "/probe's parts lack the account label"
        );
        let all = text(Side::hardware(servers(), StatusSeries::All, &openings).parts(true));
        let psu: Vec<&str> = all
            .lines()
            .filter(|l| l.contains("s-2\",component=\"psu\""))
            .collect();
        assert_eq!(psu.len(), 3, "OK, WARNING, UNKNOWN: {psu:?}");
        assert_eq!(psu.iter().filter(|l| l.ends_with(" 1")).count(), 1);
        let ping: Vec<&str> = all
            .lines()
            .filter(|l| l.contains("component=\"ipmi_ping\""))
            .collect();
        assert_eq!(
            ping.len(),
            4,
            "OK, CRITICAL, UNKNOWN, and LOST as sent: {ping:?}"
        );
    }

    #[test]
    fn maintenance_windows_carry_their_words_escaped() {
        let windows = Arc::new(
            Windows::new(
                vec![Window {
                    instance_id: "s-1".into(),
                    status: "in progress".into(),
                    location: "SEL-A".into(),
                    impact: "switch \"upgrade\"\\ up to 10 minutes".into(),
                    start: 1_785_254_400.0,
                    end: 1_785_261_600.0,
                }],
                SystemTime::UNIX_EPOCH,
            )
            .0,
        );
        let side = Side::maintenance(windows, &Openings::new(None, "bmc"));
        assert_eq!(
            text(side.parts(true)),
            "zenlayer_maintenance_start_timestamp_seconds{product=\"bmc\",instance_id=\"s-1\",status=\"in progress\"} 1785254400\n\
             zenlayer_maintenance_end_timestamp_seconds{product=\"bmc\",instance_id=\"s-1\",status=\"in progress\"} 1785261600\n\
             zenlayer_maintenance_info{product=\"bmc\",instance_id=\"s-1\",status=\"in progress\",location=\"SEL-A\",impact=\"switch \\\"upgrade\\\"\\\\ up to 10 minutes\"} 1\n"
        );
    }
}
