//! The hardware health slice of bare metal: each server's components and temperatures as the latest health poll
//! saw them ([`Servers`], the snapshot), the poll that asks for them ten servers a call ([`poll`]), and the
//! samples of its two families ([`families`]). What each component and sensor is on the wire is declared in
//! `zenlayer::operations`; which servers there are is the bare-metal status snapshot's business.

pub mod families;
pub mod poll;

use std::time::SystemTime;

use crate::telemetry::Skipped;
use crate::zenlayer::error::tidy;
use crate::zenlayer::model::InstanceId;
use crate::zenlayer::operations::{COMPONENTS, Health, InstanceHealth, SENSORS};

/// Longest health value served as sent (an undocumented one).
const MAX_VALUE_CHARS: usize = 64;

/// The temperatures a sensor can read, in degrees Celsius: a reading outside is a fault of the report, not heat.
const PLAUSIBLE_CELSIUS: std::ops::RangeInclusive<f64> = -50.0..=150.0;

/// A component's health: a documented value in a byte, or any other text, tidied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    Known(Health),
    Other(Box<str>),
}

impl Reading {
    /// The health `text` says: a documented value whatever its case and surrounding space (`ok`, ` OK`), any
    /// other tidied to what it reads as (a value that only looks like `OK` must not pass for it); nothing for an
    /// empty one (not reported, rather than a series with an empty label, which Prometheus would store without
    /// it).
    fn parse(text: &str) -> Option<Reading> {
        let text = tidy(text, MAX_VALUE_CHARS);
        if text.is_empty() {
            return None;
        }
        let known = Health::ALL
            .iter()
            .find(|h| h.as_str().eq_ignore_ascii_case(&text));
        Some(match known {
            Some(known) => Reading::Known(*known),
            None => Reading::Other(text.into()),
        })
    }

    /// The `health` label value.
    pub fn as_str(&self) -> &str {
        match self {
            Reading::Known(known) => known.as_str(),
            Reading::Other(text) => text,
        }
    }
}

/// One server's hardware as last reported: every component of [`COMPONENTS`] and sensor of [`SENSORS`], in
/// their order, `None` where the API gave nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    pub id: InstanceId,
    pub components: [Option<Reading>; COMPONENTS.len()],
    /// Degrees Celsius.
    pub temperatures: [Option<f64>; SENSORS.len()],
}

impl crate::zenlayer::model::Row for Server {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Server {
    /// The server of a health row, and why part of it was left out, if it was. A reading of 0 is "not
    /// retrievable" (the vendor's words for these fields), as is null: neither is a temperature. A unit other
    /// than Celsius (the only one documented; its spelling is not) in Fahrenheit is converted; any other leaves
    /// the temperatures out (`unit`). A reading no sensor gives is left out alone (`value`).
    pub fn from_row(row: InstanceHealth<'_>) -> (Server, Option<Skipped>) {
        let components =
            std::array::from_fn(|i| (COMPONENTS[i].value)(&row).and_then(Reading::parse));
        let unit = row.temp_unit.as_deref().map(str::trim).unwrap_or("");
        let lower = unit.to_ascii_lowercase();
        let convert: Option<fn(f64) -> f64> = match lower.as_str() {
            "" | "c" | "celsius" | "°c" | "℃" | "degree celsius" | "degrees celsius" => {
                Some(|t| t)
            }
            "f" | "fahrenheit" | "°f" | "℉" => Some(|t| (t - 32.0) * 5.0 / 9.0),
            _ => None,
        };
        let mut implausible = false;
        let temperatures = std::array::from_fn(|i| {
            let reading = (SENSORS[i].value)(&row).filter(|t| *t != 0.0);
            let celsius = convert.and_then(|convert| reading.map(convert));
            implausible |= celsius.is_some_and(|t| !PLAUSIBLE_CELSIUS.contains(&t));
            celsius.filter(|t| PLAUSIBLE_CELSIUS.contains(t))
        });
        let any_reading = SENSORS
            .iter()
            .any(|s| (s.value)(&row).is_some_and(|t| t != 0.0));
        let skipped = match (convert, any_reading, implausible) {
            (None, true, _) => Some(Skipped::Unit),
            (_, _, true) => Some(Skipped::Value),
            _ => None,
        };
        (
            Server {
                id: row.instance_id,
                components,
                temperatures,
            },
            skipped,
        )
    }
}

/// What a health poll found: the servers that answered, sorted by id, and when.
#[derive(Debug)]
pub struct Servers {
    servers: Vec<Server>,
    taken_at: SystemTime,
}

impl Servers {
    /// The snapshot of `servers` (any order; of an id given twice, the later row is kept).
    pub fn new(mut servers: Vec<Server>, taken_at: SystemTime) -> Servers {
        crate::poll::latest_by_id(&mut servers, |s| &s.id);
        Servers { servers, taken_at }
    }

    pub fn servers(&self) -> &[Server] {
        &self.servers
    }

    /// The server `id` as last reported.
    pub fn get(&self, id: &str) -> Option<&Server> {
        self.servers
            .binary_search_by(|s| (*s.id).cmp(id))
            .ok()
            .map(|i| &self.servers[i])
    }

    pub fn taken_at(&self) -> SystemTime {
        self.taken_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(json: &str) -> (Server, Option<Skipped>) {
        Server::from_row(serde_json::from_str(json).unwrap())
    }

    #[test]
    fn readings_zero_and_null_are_no_temperature_and_units_are_converted_or_refused() {
        let (server, skipped) = row(
            r#"{"instanceId":"1","cpuStatus":"OK","psuStatus":"WARNING","ipmiPing":"LOST","cpuTemp":0,"cpu0Temp":47,"inletTemp":null,"tempUnit":"Celsius"}"#,
        );
        assert_eq!(skipped, None);
        assert_eq!(server.components[0], Some(Reading::Known(Health::Ok)));
        assert_eq!(server.components[3], Some(Reading::Known(Health::Warning)));
        assert_eq!(server.components[7], Some(Reading::Other("LOST".into())));
        assert_eq!(server.components[1], None);
        assert_eq!(server.temperatures, [None, Some(47.0), None, None, None]);
        let (server, _) = row(r#"{"instanceId":"1","cpu0Temp":212,"tempUnit":"Fahrenheit"}"#);
        assert_eq!(server.temperatures[1], Some(100.0));
        let (server, skipped) = row(r#"{"instanceId":"1","cpu0Temp":300,"tempUnit":"Kelvin"}"#);
        assert_eq!(
            (server.temperatures, skipped),
            ([None; 5], Some(Skipped::Unit))
        );
        // An unknown unit with no reading to misread is nothing to skip.
        assert_eq!(row(r#"{"instanceId":"1","tempUnit":"Kelvin"}"#).1, None);
        // A reading no sensor gives is left out alone.
        let (server, skipped) = row(r#"{"instanceId":"1","cpu0Temp":1e308,"cpu1Temp":-40}"#);
        assert_eq!(server.temperatures[1..3], [None, Some(-40.0)]);
        assert_eq!(skipped, Some(Skipped::Value));
    }

    #[test]
    fn health_values_read_as_they_are_meant_and_empty_is_not_reported() {
        let (server, _) = row(
            r#"{"instanceId":"1","cpuStatus":"ok","memoryStatus":" OK\u0000","diskStatus":"","psuStatus":"\u202eKO\u202c","fanStatus":"unknown "}"#,
        );
        assert_eq!(server.components[0], Some(Reading::Known(Health::Ok)));
        assert_eq!(server.components[1], Some(Reading::Known(Health::Ok)));
        assert_eq!(server.components[2], None);
        assert_eq!(server.components[3], Some(Reading::Other("KO".into())));
        assert_eq!(server.components[4], Some(Reading::Known(Health::Unknown)));
    }
}
