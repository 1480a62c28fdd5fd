//! The samples of the status snapshot's families: each instance's status (or state set), whether it is running,
//! and the count per status. What each family is called and says is `exposition::families`' table; how a sample
//! is spelt is `text`'s; which samples there are is here.

pub use crate::config::values::StatusSeries;
use crate::status::snapshot::{Instance, Known, Status};
use crate::text::Sample;
use crate::zenlayer::product::Product;

/// The samples of the status family `name` for `instances` (a batch of a snapshot's of `product`, in its
/// order), appended to `out`; `opening` (`account="…",product="…",`, or `product="…",` alone) opens every label
/// set, as in each family here. A state set (`all`) has every status of the product's vocabulary.
pub fn status_lines(
    out: &mut Vec<u8>,
    name: &str,
    instances: &[Instance],
    (mode, product): (StatusSeries, Product),
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
                for known in Known::of(product) {
                    line(known.as_str(), instance.status == Status::Known(known));
                }
                match &instance.status {
                    Status::Known(known) if known.is_of(product) => {}
                    other => line(other.as_str(), true),
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

/// The samples of the count family `name` of `counts` (a snapshot's, as `Snapshot::counts` gives them: every status of its
/// product's vocabulary, then any other it holds).
pub fn count_lines(out: &mut Vec<u8>, name: &str, counts: &[(Status, usize)], opening: &[u8]) {
    for (status, count) in counts {
        Sample::open(out, name, opening)
            .label("status", status.as_str())
            .count(*count);
    }
}
