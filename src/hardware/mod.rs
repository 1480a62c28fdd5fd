//! The hardware health slice of bare metal: each server's components and temperatures as the latest health poll
//! saw them ([`Servers`], the snapshot), the poll that asks for them ten servers a call ([`poll`]), and the
//! samples of its two families ([`families`]). What each component and sensor is on the wire is declared in
//! `zenlayer::operations`; which servers there are is the bare-metal status snapshot's business.

pub mod families;
pub mod poll;

use std::time::SystemTime;

use crate::zenlayer::operations::{COMPONENTS, Health, InstanceHealth, SENSORS};

/// A component's health: a documented value in a byte, or any other text kept as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    Known(Health),
    Other(Box<str>),
}

impl Reading {
    fn parse(text: &str) -> Reading {
        match Health::ALL.iter().find(|h| h.as_str() == text) {
            Some(known) => Reading::Known(*known),
            None => Reading::Other(text.into()),
        }
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
    pub id: Box<str>,
    pub components: [Option<Reading>; COMPONENTS.len()],
    /// Degrees Celsius.
    pub temperatures: [Option<f64>; SENSORS.len()],
}

impl crate::zenlayer::model::Row for Server {
    fn id(&self) -> &str {
        &self.id
    }
}

/// Why a row's temperatures were left out: what `zenlayer_exporter_rows_skipped_total` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownUnit;

impl Server {
    /// The server of a health row. A reading of 0 is "not retrievable" (the vendor's words for these fields),
    /// as is null: neither is a temperature. A unit other than Celsius (the only one documented; its
    /// spelling is not) in Fahrenheit is converted; any other leaves the temperatures out, and says so.
    pub fn from_row(row: InstanceHealth<'_>) -> (Server, Option<UnknownUnit>) {
        let components = std::array::from_fn(|i| (COMPONENTS[i].value)(&row).map(Reading::parse));
        let unit = row.temp_unit.as_deref().map(str::trim).unwrap_or("");
        let lower = unit.to_ascii_lowercase();
        let convert: Option<fn(f64) -> f64> = match lower.as_str() {
            "" | "c" | "celsius" | "°c" | "℃" | "degree celsius" | "degrees celsius" => {
                Some(|t| t)
            }
            "f" | "fahrenheit" | "°f" | "℉" => Some(|t| (t - 32.0) * 5.0 / 9.0),
            _ => None,
        };
        let temperatures = std::array::from_fn(|i| {
            let reading = (SENSORS[i].value)(&row).filter(|t| *t != 0.0 && t.is_finite());
            convert.and_then(|convert| reading.map(convert))
        });
        let any_reading = SENSORS
            .iter()
            .any(|s| (s.value)(&row).is_some_and(|t| t != 0.0));
        let skipped = (convert.is_none() && any_reading).then_some(UnknownUnit);
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

    pub fn taken_at(&self) -> SystemTime {
        self.taken_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(json: &str) -> (Server, Option<UnknownUnit>) {
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
            ([None; 5], Some(UnknownUnit))
        );
        // An unknown unit with no reading to misread is nothing to skip.
        assert_eq!(row(r#"{"instanceId":"1","tempUnit":"Kelvin"}"#).1, None);
    }
}
