//! Every instance family, declared once, in the order served: its name, its help, and which samples it holds.
//! The `HELP`/`TYPE` heads, the order of an account's parts and their count all derive from these lists; the
//! samples are written by `status::families`, `metadata::families`, and for bare metal's hardware health and
//! planned maintenance `hardware::families` and `maintenance::families`, which take the name from here. A new
//! family is a row here, and its samples' writer if none of the existing ones fits.

use crate::hardware::families::HardwareSamples;
use crate::maintenance::families::WindowSamples;
use crate::metadata::InstanceMeta;
use crate::text::{Head, Kind};

/// One gauge family of the instances: `samples` says what its lines are made from.
pub struct Family<S> {
    pub name: &'static str,
    pub help: &'static str,
    pub samples: S,
}

impl<S: Typed> Family<S> {
    pub fn head(&self) -> Head<'static> {
        Head {
            name: self.name,
            help: self.help,
            kind: self.samples.kind(),
        }
    }
}

/// What kind of family samples of this sort make: an info family (always 1, `…_info`) or a gauge.
pub trait Typed {
    fn kind(&self) -> Kind;
}

impl Typed for StatusSamples {
    fn kind(&self) -> Kind {
        Kind::Gauge
    }
}

impl Typed for MetadataSamples {
    fn kind(&self) -> Kind {
        match self {
            MetadataSamples::Info => Kind::Info,
            MetadataSamples::Number(_) => Kind::Gauge,
        }
    }
}

impl Typed for HardwareSamples {
    fn kind(&self) -> Kind {
        Kind::Gauge
    }
}

impl Typed for WindowSamples {
    fn kind(&self) -> Kind {
        match self {
            WindowSamples::Info => Kind::Info,
            WindowSamples::Time(_) => Kind::Gauge,
        }
    }
}

/// The samples of a family of the status snapshot, rendered again whenever a status changes.
#[derive(Clone, Copy)]
pub enum StatusSamples {
    /// One series per instance (or a state set), labelled with its status.
    Status,
    /// 1 or 0 per instance.
    Running,
    /// One series per status, every known status always present.
    Counts,
}

/// The samples of a family of the metadata joined to the status snapshot, rendered again only when the metadata
/// or the set of instances changes.
#[derive(Clone, Copy)]
pub enum MetadataSamples {
    /// Always 1, the names as labels.
    Info,
    /// A number of each instance: one without it has no series.
    Number(fn(&InstanceMeta) -> Option<f64>),
}

/// The status snapshot's families, served first.
pub const STATUS: [Family<StatusSamples>; 3] = [
    Family {
        name: "zenlayer_instance_status",
        help: "Status of each Zenlayer instance: 1 for its current status (with \
ZENLAYER_EXPORTER_STATUS_SERIES=all, also 0 for every other known status).",
        samples: StatusSamples::Status,
    },
    Family {
        name: "zenlayer_instance_running",
        help: "1 if the Zenlayer instance is RUNNING, else 0.",
        samples: StatusSamples::Running,
    },
    Family {
        name: "zenlayer_instances",
        help: "Number of Zenlayer instances per status; every known status is always present.",
        samples: StatusSamples::Counts,
    },
];

/// The metadata's families, after the status ones. A new number is a field of `InstanceMeta` (or of its
/// `Profile`), filled by `metadata::poll`, and a row here.
pub const METADATA: [Family<MetadataSamples>; 6] = [
    Family {
        name: "zenlayer_instance_info",
        help: "Always 1: the labels give each Zenlayer instance's name, zone, type, image, charge type, resource \
group (name and id) and allow-listed tags (ZENLAYER_EXPORTER_TAG_LABELS). Join on product and instance_id.",
        samples: MetadataSamples::Info,
    },
    Family {
        name: "zenlayer_instance_cpus",
        help: "vCPUs of each Zenlayer instance.",
        samples: MetadataSamples::Number(|m| m.profile.cpu_count),
    },
    Family {
        name: "zenlayer_instance_memory_bytes",
        help: "Memory of each Zenlayer instance, in bytes.",
        samples: MetadataSamples::Number(|m| m.profile.memory_bytes),
    },
    Family {
        name: "zenlayer_instance_created_timestamp_seconds",
        help: "Unix time each Zenlayer instance was created.",
        samples: MetadataSamples::Number(|m| m.created),
    },
    Family {
        name: "zenlayer_instance_expiry_timestamp_seconds",
        help: "Unix time each prepaid Zenlayer instance expires (postpaid instances have no series).",
        samples: MetadataSamples::Number(|m| m.expiry),
    },
    Family {
        name: "zenlayer_instance_auto_renew",
        help: "1 if the prepaid Zenlayer instance renews automatically at expiry, else 0.",
        samples: MetadataSamples::Number(|m| m.auto_renew.map(f64::from)),
    },
];

/// The hardware health families, after the metadata ones.
pub const HARDWARE: [Family<HardwareSamples>; 2] = [
    Family {
        name: "zenlayer_instance_component_health",
        help: "Hardware health of each bare-metal server's components: 1 for the component's current health (OK, \
WARNING, CRITICAL, UNKNOWN: not collected; another value as sent); with ZENLAYER_EXPORTER_STATUS_SERIES=all, also 0 \
for its other documented values.",
        samples: HardwareSamples::Components,
    },
    Family {
        name: "zenlayer_instance_temperature_celsius",
        help: "Temperature of each bare-metal server's sensors, in degrees Celsius; no series where the API gives no \
reading (null or 0).",
        samples: HardwareSamples::Temperatures,
    },
];

/// The planned maintenance families, last.
pub const MAINTENANCE: [Family<WindowSamples>; 3] = [
    Family {
        name: "zenlayer_maintenance_start_timestamp_seconds",
        help: "Unix time a planned maintenance of the resource instance_id starts (status as the API sends it; one \
window per resource and status: the earliest not yet ended).",
        samples: WindowSamples::Time(|w| w.start),
    },
    Family {
        name: "zenlayer_maintenance_end_timestamp_seconds",
        help: "Unix time a planned maintenance of the resource instance_id ends.",
        samples: WindowSamples::Time(|w| w.end),
    },
    Family {
        name: "zenlayer_maintenance_info",
        help: "Always 1: the location and impact of each planned maintenance, as the API words them (one line, \
clipped to 200 characters). Join on product, instance_id and status.",
        samples: WindowSamples::Info,
    },
];

/// Every family's head, in serving order.
pub fn heads() -> impl Iterator<Item = Head<'static>> {
    STATUS
        .iter()
        .map(Family::head)
        .chain(METADATA.iter().map(Family::head))
        .chain(HARDWARE.iter().map(Family::head))
        .chain(MAINTENANCE.iter().map(Family::head))
}

/// How many instance families there are: those an account's rendering of its snapshots holds.
pub const INSTANCE_COUNT: usize = STATUS.len() + METADATA.len();

/// How many families there are.
pub const COUNT: usize = INSTANCE_COUNT + HARDWARE.len() + MAINTENANCE.len();
