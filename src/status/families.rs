//! The samples of the status snapshot's families: each instance's status (or state set), whether it is running,
//! and the count per status. What each family is called and says is `exposition::families`' table; how a sample
//! is spelt is `text`'s; which samples there are is here.

pub use crate::config::values::StatusSeries;
use crate::status::snapshot::{Instance, Known, Snapshot, Status};
use crate::text::Sample;

/// The samples of the status family `name` for `instances` (a batch of a snapshot's, in its order), appended to
/// `out`; `opening` (`account="…",product="…",`, or `product="…",` alone) opens every label set, as in each
/// family here.
pub fn status_lines(
    out: &mut Vec<u8>,
    name: &str,
    instances: &[Instance],
    mode: StatusSeries,
    opening: &[u8],
) {
    for instance in instances {
        let mut line = |status: &str, on: bool| {
            Sample::open(out, name, opening)
                .label("instance_id", &instance.id)
                .label("status", status)
                .flag(on);
        };
        match mode {
            StatusSeries::Current => line(instance.status.as_str(), true),
            StatusSeries::All => {
                for known in Known::ALL {
                    line(known.as_str(), instance.status == Status::Known(known));
                }
                if let Status::Other(other) = &instance.status {
                    line(other, true);
                }
            }
        }
    }
}

/// The samples of the running family `name` for `instances`, appended to `out`.
pub fn running_lines(out: &mut Vec<u8>, name: &str, instances: &[Instance], opening: &[u8]) {
    for instance in instances {
        Sample::open(out, name, opening)
            .label("instance_id", &instance.id)
            .flag(instance.status.is_running());
    }
}

/// The samples of the count family `name`: every known status, then any other the snapshot holds.
pub fn count_lines(out: &mut Vec<u8>, name: &str, snapshot: &Snapshot, opening: &[u8]) {
    for (status, count) in snapshot.counts() {
        Sample::open(out, name, opening)
            .label("status", status.as_str())
            .count(count);
    }
}
