//! The status poll's metric families: each instance's status (or state set), whether it is running, and the
//! count per status. What they say is here; how text is escaped and compressed is `exposition`'s.

use std::io::Write as _;

pub use crate::config::values::StatusSeries;
use crate::status::snapshot::{Instance, Known, Snapshot, Status};
use crate::text::{Head, escape_label_value};

/// The families below, in the order they are served.
pub const HEADS: [Head; 3] = [
    Head {
        name: "zenlayer_vm_instance_status",
        help: STATUS_HELP,
    },
    Head {
        name: "zenlayer_vm_instance_running",
        help: RUNNING_HELP,
    },
    Head {
        name: "zenlayer_vm_instances",
        help: COUNT_HELP,
    },
];

const STATUS_HELP: &str = "Status of each Zenlayer VM instance: 1 for its current status (with \
ZENLAYER_EXPORTER_STATUS_SERIES=all, also 0 for every other known status).";
const RUNNING_HELP: &str = "1 if the Zenlayer VM instance is RUNNING, else 0.";
const COUNT_HELP: &str =
    "Number of Zenlayer VM instances per status; every known status is always present.";

/// The samples of `zenlayer_vm_instance_status` for `instances` (a batch of a snapshot's, in its order), appended
/// to `out`; `label` (`account="…",` or nothing) opens every label set, as in each family here.
pub fn status_lines(out: &mut Vec<u8>, instances: &[Instance], mode: StatusSeries, label: &[u8]) {
    for instance in instances {
        let mut line = |status: &str, value: u8| {
            out.extend_from_slice(b"zenlayer_vm_instance_status{");
            out.extend_from_slice(label);
            out.extend_from_slice(b"instance_id=\"");
            escape_label_value(out, &instance.id);
            out.extend_from_slice(b"\",status=\"");
            escape_label_value(out, status);
            out.extend_from_slice(b"\"} ");
            out.push(b'0' + value);
            out.push(b'\n');
        };
        match mode {
            StatusSeries::Current => line(instance.status.as_str(), 1),
            StatusSeries::All => {
                for known in Known::ALL {
                    line(
                        known.as_str(),
                        u8::from(instance.status == Status::Known(known)),
                    );
                }
                if let Status::Other(other) = &instance.status {
                    line(other, 1);
                }
            }
        }
    }
}

/// The samples of `zenlayer_vm_instance_running` for `instances`, appended to `out`.
pub fn running_lines(out: &mut Vec<u8>, instances: &[Instance], label: &[u8]) {
    for instance in instances {
        out.extend_from_slice(b"zenlayer_vm_instance_running{");
        out.extend_from_slice(label);
        out.extend_from_slice(b"instance_id=\"");
        escape_label_value(out, &instance.id);
        out.extend_from_slice(if instance.status.is_running() {
            b"\"} 1\n"
        } else {
            b"\"} 0\n"
        });
    }
}

/// The samples of `zenlayer_vm_instances`.
pub fn render_counts_family(snapshot: &Snapshot, label: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2048);
    for (status, count) in snapshot.counts() {
        out.extend_from_slice(b"zenlayer_vm_instances{");
        out.extend_from_slice(label);
        out.extend_from_slice(b"status=\"");
        escape_label_value(&mut out, status.as_str());
        out.extend_from_slice(b"\"} ");
        let _ = write!(out, "{count}");
        out.push(b'\n');
    }
    out
}
