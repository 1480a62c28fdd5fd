//! The simulated hardware health of bare-metal servers, as `DescribeInstancesMonitorHealth` reports it: each
//! server's row derived from the fleet's seed and its id (brand, model, which temperatures its BMC reads, the odd
//! alarm), every component and sensor taken from the exporter's declarations (`zenlayer::operations`), with
//! overrides a test sets; and the demo's hardware trouble. The answer to a call is `operations`'.

use serde_json::{Map, Value, json};

use super::api::SimState;
use super::metadata::{MetadataOverride, hash};
use crate::status::Known;
use crate::zenlayer::operations::{COMPONENTS, Component, Health, SENSORS, Sensor};

/// A machine a server can be: brand, model and the CPU sockets its BMC reads (0: a blade that reports one CPU
/// reading, `0` as often as not, and no socket or intake reading). Listed with repeats for their share.
const MACHINES: [(&str, &str, u8); 8] = [
    ("Dell", "PowerEdge R340", 1),
    ("Dell", "PowerEdge R340", 1),
    ("Dell", "PowerEdge R640", 2),
    ("Dell", "PowerEdge R640", 2),
    ("HPE", "ProLiant DL360 Gen10", 2),
    ("Lenovo", "ThinkSystem SR630", 2),
    ("Supermicro", "SYS-5039MC-H12TRF", 0),
    ("Inspur", "NF8480M6", 4),
];

/// The one temperature unit the API documents; its exact spelling is unconfirmed (`zenlayer-products.md` §2.5).
const TEMP_UNIT: &str = "Celsius";

/// Each server rolls 0 to 23 for what its row gets wrong, on one component drawn apart: below `ALARM_ROLLS` (1 in
/// 8) it raises its alarm, `UNKNOWN_ROLL` (1 in 24) it is not collected, `MISSING_ROLL` (1 in 24) its field is
/// missing (an older collector); any other roll, every component is `OK`.
const ROLLS: u64 = 24;
const ALARM_ROLLS: u64 = 3;
const UNKNOWN_ROLL: u64 = 3;
const MISSING_ROLL: u64 = 4;

/// The value a component raises when it alarms: `CRITICAL` for the IPMI ping, `WARNING` for the others, as each
/// declares.
fn alarm(component: &Component) -> Health {
    component
        .values
        .iter()
        .copied()
        .find(|h| !matches!(h, Health::Ok | Health::Unknown))
        .unwrap_or(Health::Warning)
}

/// A number as the API writes temperatures: whole degrees as integers.
fn degrees(reading: f64) -> Value {
    match reading.fract() == 0.0 && reading.abs() < 1e15 {
        true => json!(reading as i64),
        false => json!(reading),
    }
}

impl SimState {
    /// The `DescribeInstancesMonitorHealth` row of server `id` in `status`, overrides applied. A server not
    /// `RUNNING` reports every component `UNKNOWN` and no temperature.
    pub fn health_row(&self, id: &str, status: &str) -> Value {
        let seed = self.fleet.seed();
        let draw = |salt: u64| hash(id, seed.wrapping_mul(1_000_003) ^ salt);
        let (brand, model, sockets) = MACHINES[(draw(1) % MACHINES.len() as u64) as usize];
        let running = status == Known::Running.as_str();
        let roll = draw(2) % ROLLS;
        let odd = (draw(3) % COMPONENTS.len() as u64) as usize;
        let mut row = Map::new();
        row.insert("instanceId".into(), id.into());
        for (i, component) in COMPONENTS.iter().enumerate() {
            let value = match (running, i == odd, roll) {
                (false, ..) => Health::Unknown,
                (true, true, r) if r < ALARM_ROLLS => alarm(component),
                (true, true, UNKNOWN_ROLL) => Health::Unknown,
                (true, true, MISSING_ROLL) => continue,
                _ => Health::Ok,
            };
            row.insert(component.field.into(), value.as_str().into());
        }
        row.insert("serverBrand".into(), brand.into());
        row.insert("serverModel".into(), model.into());
        for (i, sensor) in SENSORS.iter().enumerate() {
            let reading = match running {
                true => reading(sensor, sockets, draw(10 + i as u64)),
                false => Value::Null,
            };
            row.insert(sensor.field.into(), reading);
        }
        row.insert("tempUnit".into(), TEMP_UNIT.into());
        let mut row = Value::Object(row);
        if let Some(over) = self.health_overrides.get(id) {
            over.apply(&mut row);
        }
        row
    }

    /// The health row of every server, sorted by id: the hardware ground truth.
    pub fn health_truth(&self) -> Vec<Value> {
        let mut instances: Vec<_> = self.fleet.instances().iter().collect();
        instances.sort_by(|a, b| a.id.cmp(&b.id));
        instances
            .into_iter()
            .map(|i| self.health_row(&i.id, &i.status))
            .collect()
    }

    /// Serves `value` (any text, documented or not) as `component`'s status of server `id`.
    pub fn set_component(&mut self, id: &str, component: &Component, value: &str) {
        self.set_health_field(id, component.field, value.into());
    }

    /// Serves `reading` (`None`: null) as `sensor`'s temperature of server `id`.
    pub fn set_sensor(&mut self, id: &str, sensor: &Sensor, reading: Option<f64>) {
        self.set_health_field(id, sensor.field, reading.map_or(Value::Null, degrees));
    }

    /// Serves `value` as `field` of server `id`'s health row (any field, `serverModel` say).
    pub fn set_health_field(&mut self, id: &str, field: &str, value: Value) {
        let over = self.health_overrides.entry(id.to_owned()).or_default();
        over.remove.retain(|f| f != field);
        over.set.insert(field.to_owned(), value);
    }

    /// Leaves `field` out of server `id`'s health row.
    pub fn omit_health_field(&mut self, id: &str, field: &str) {
        let over = self.health_overrides.entry(id.to_owned()).or_default();
        over.set.remove(field);
        over.remove.push(field.to_owned());
    }

    /// Drops the health overrides of server `id`, or of every server: the generated rows again.
    pub fn clear_health(&mut self, id: Option<&str>) {
        match id {
            Some(id) => {
                self.health_overrides.remove(id);
            }
            None => self.health_overrides.clear(),
        }
    }

    /// Replaces server `id`'s health overrides whole (the control endpoint's form).
    pub fn override_health(&mut self, id: &str, over: MetadataOverride) {
        self.health_overrides.insert(id.to_owned(), over);
    }

    /// The demo's hardware trouble, each on a running server of its own (the first ones listed): a failing power
    /// supply, an IPMI address that does not answer, and a CPU at 91 °C with its alarm raised. The servers it
    /// used, in that order.
    pub(super) fn demo_health(&mut self) -> Vec<String> {
        let running: Vec<String> = self
            .fleet
            .instances()
            .iter()
            .filter(|i| i.status == Known::Running.as_str())
            .map(|i| i.id.clone())
            .take(3)
            .collect();
        let component = |name: &str| COMPONENTS.iter().find(|c| c.name == name);
        let ping = COMPONENTS.iter().find(|c| alarm(c) == Health::Critical);
        let first_socket = SENSORS.iter().find(|s| s.name == "cpu0");
        let troubles = [
            (component("psu"), None),
            (ping, None),
            (component("cpu"), Some(91.0)),
        ];
        for (id, (component, cpu0)) in running.iter().zip(troubles) {
            if let Some(component) = component {
                self.set_component(id, component, alarm(component).as_str());
            }
            if let (Some(sensor), Some(_)) = (first_socket, cpu0) {
                self.set_sensor(id, sensor, cpu0);
            }
        }
        running
    }
}

/// A running server's `sensor` reading, from `draw`: each socket it has 35 to 65 °C, the intake 18 to 28 °C; a
/// blade's one CPU reading `0` (its BMC cannot read it, as the API describes) and no other.
fn reading(sensor: &Sensor, sockets: u8, draw: u64) -> Value {
    let socket = sensor
        .name
        .strip_prefix("cpu")
        .and_then(|n| n.parse::<u8>().ok());
    match (sensor.name, socket) {
        ("cpu", _) if sockets == 0 => json!(0),
        (_, Some(socket)) if socket < sockets => json!(35 + draw % 31),
        ("inlet", _) if sockets > 0 => json!(18 + draw % 11),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::fleet::Fleet;
    use crate::zenlayer::operations::InstanceHealth;
    use crate::zenlayer::product::Product;

    fn state(servers: usize) -> SimState {
        SimState::new(
            Fleet::generate(Product::Bmc, servers, 7),
            Vec::new(),
            false,
            0,
        )
    }

    #[test]
    fn rows_carry_every_declared_field_and_read_as_the_exporter_reads_them() {
        let state = state(400);
        let rows = state.health_truth();
        let mut alarms = 0;
        let mut hot = 0;
        for row in &rows {
            let text = row.to_string();
            let health: InstanceHealth = serde_json::from_str(&text).unwrap();
            let running = state.fleet.status(&health.instance_id) == Some(Known::Running.as_str());
            let values: Vec<_> = COMPONENTS.iter().map(|c| (c.value)(&health)).collect();
            if !running {
                assert!(
                    values.iter().all(|v| *v == Some(Health::Unknown.as_str())),
                    "{row}"
                );
                assert!(
                    SENSORS.iter().all(|s| (s.value)(&health).is_none()),
                    "{row}"
                );
                continue;
            }
            alarms += values
                .iter()
                .filter(|v| {
                    v.is_some_and(|v| {
                        [Health::Warning, Health::Critical]
                            .iter()
                            .any(|h| h.as_str() == v)
                    })
                })
                .count();
            // At most one component is odd; every sensor is there, null or a plausible reading.
            let ok = Some(Health::Ok.as_str());
            assert!(values.iter().filter(|v| **v != ok).count() <= 1, "{row}");
            for sensor in &SENSORS {
                assert!(row.get(sensor.field).is_some(), "{row}");
                let t = (sensor.value)(&health).unwrap_or(0.0);
                assert!((0.0..=65.0).contains(&t), "{row}");
                hot += usize::from(t > 60.0);
            }
            assert_eq!(row["tempUnit"], TEMP_UNIT);
        }
        // About 1 in 8 raise an alarm.
        assert!((25..=80).contains(&alarms), "{alarms}");
        assert!(hot > 0);
        assert_eq!(rows, state.health_truth(), "the same seed, the same rows");
    }

    #[test]
    fn overrides_set_any_value_and_leave_fields_out() {
        let mut state = state(20);
        let id = state.fleet.instances()[0].id.clone();
        state.set_component(&id, &COMPONENTS[0], "DEGRADED");
        state.set_sensor(&id, &SENSORS[1], Some(91.0));
        state.set_sensor(&id, &SENSORS[4], None);
        state.omit_health_field(&id, COMPONENTS[1].field);
        let row = state.health_row(&id, Known::Running.as_str());
        assert_eq!(row[COMPONENTS[0].field], "DEGRADED");
        assert_eq!(row[SENSORS[1].field].to_string(), "91");
        assert_eq!(row[SENSORS[4].field], Value::Null);
        assert!(row.get(COMPONENTS[1].field).is_none());
        state.clear_health(Some(&id));
        assert!(row != state.health_row(&id, Known::Running.as_str()));
    }
}
