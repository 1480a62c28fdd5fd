//! The samples of the hardware health families: each server's components (the current health, or a state set of
//! every documented value) and its temperatures. What each family is called and says is
//! `exposition::families`' table; how a sample is spelt is `text`'s.

use super::{Reading, Server};
pub use crate::config::values::StatusSeries;
use crate::text::Sample;
use crate::zenlayer::operations::{COMPONENTS, SENSORS};

/// What a hardware health family's samples are.
#[derive(Clone, Copy)]
pub enum HardwareSamples {
    /// One series per component reported (or a state set of its documented values), labelled with its health.
    Components,
    /// One series per temperature sensor that gave a reading.
    Temperatures,
}

/// The samples of the component family `name` for `servers`: with `current`, one series per component reported,
/// its health as label; with `all`, every documented value of the component (1 for the current one), and the
/// current value as sent if it is none of them. A component the API did not report has no series.
pub fn component_lines(
    out: &mut Vec<u8>,
    name: &str,
    servers: &[Server],
    mode: StatusSeries,
    opening: &[u8],
) {
    for server in servers {
        for (component, reading) in COMPONENTS.iter().zip(&server.components) {
            let Some(reading) = reading else { continue };
            let mut line = |health: &str, on: bool| {
                Sample::open(out, name, opening)
                    .label("instance_id", &server.id)
                    .label("component", component.name)
                    .label("health", health)
                    .flag(on);
            };
            match mode {
                StatusSeries::Current => line(reading.as_str(), true),
                StatusSeries::All => {
                    for value in component.values {
                        line(value.as_str(), *reading == Reading::Known(*value));
                    }
                    if !component
                        .values
                        .iter()
                        .any(|v| *reading == Reading::Known(*v))
                    {
                        line(reading.as_str(), true);
                    }
                }
            }
        }
    }
}

/// The samples of the temperature family `name`: one per sensor that gave a reading.
pub fn temperature_lines(out: &mut Vec<u8>, name: &str, servers: &[Server], opening: &[u8]) {
    for server in servers {
        for (sensor, reading) in SENSORS.iter().zip(&server.temperatures) {
            if let Some(celsius) = reading {
                Sample::open(out, name, opening)
                    .label("instance_id", &server.id)
                    .label("sensor", sensor.name)
                    .value(*celsius);
            }
        }
    }
}
