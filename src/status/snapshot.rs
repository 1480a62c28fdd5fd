//! The immutable snapshot of one successful poll (instance id → status).
//! What a snapshot looks like on the wire is `exposition::render`'s concern; how it is gathered is `poll`'s.

use std::collections::HashMap;
use std::time::SystemTime;

pub use crate::status::{KNOWN_STATUSES, Known, Status};
use crate::zenlayer::model::InstanceId;
use crate::zenlayer::product::Product;

/// The status snapshot `served` holds once a status poll has succeeded: what the polls that ask about the
/// instances a status poll found (bare metal's hardware health and maintenance) wait for before their first
/// poll, rather than report an empty fleet as if it were one.
pub async fn first_served(served: &crate::store::Store<Snapshot>) -> std::sync::Arc<Snapshot> {
    loop {
        if let Some(snapshot) = served.load() {
            return snapshot;
        }
        // A status poll is due every few seconds at the least; this wait is the first poll's only.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// One instance as the snapshot holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: InstanceId,
    pub status: Status,
}

/// A walk tells its pages apart by the ids of their rows, as read into this form.
impl crate::zenlayer::model::Row for Instance {
    fn id(&self) -> &str {
        &self.id
    }
}

/// The fleet as one poll saw it, sorted by instance id so output is stable from scrape to scrape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    instances: Vec<Instance>,
    taken_at: SystemTime,
}

impl Snapshot {
    /// Builds a snapshot from id → status pairs; a repeated id keeps its last status.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>, taken_at: SystemTime) -> Self {
        let rows = pairs
            .into_iter()
            .map(|(id, status)| Instance {
                status: Status::parse(&status),
                id: id.into(),
            })
            .collect();
        Snapshot::from_rows(rows, taken_at).0
    }

    /// Builds a snapshot from rows in any order, by sorting rather than hashing (cheaper at a million rows), in
    /// place (no second copy of the rows). A repeated id keeps the status of its last row. Returns the snapshot
    /// and how many repeats were dropped.
    pub fn from_rows(mut rows: Vec<Instance>, taken_at: SystemTime) -> (Self, usize) {
        let repeats = crate::poll::latest_by_id(&mut rows, |r| &r.id);
        (
            Snapshot {
                instances: rows,
                taken_at,
            },
            repeats,
        )
    }

    /// The instances, sorted by id, taken out of the snapshot.
    pub fn into_instances(self) -> Vec<Instance> {
        self.instances
    }

    /// The instances, sorted by id.
    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    /// The status of one instance.
    pub fn get(&self, id: &str) -> Option<&Status> {
        self.instances
            .binary_search_by(|i| (*i.id).cmp(id))
            .ok()
            .map(|i| &self.instances[i].status)
    }

    /// When the poll that made this snapshot finished.
    pub fn taken_at(&self) -> SystemTime {
        self.taken_at
    }

    /// How many instances have each status: every status of `product`'s vocabulary (0 when none), then any
    /// other status seen (another product's, or one no vocabulary has), by name.
    pub fn counts(&self, product: Product) -> Vec<(Status, usize)> {
        let mut known = [0usize; KNOWN_STATUSES.len()];
        let mut other: HashMap<&str, usize> = HashMap::new();
        for instance in &self.instances {
            match &instance.status {
                Status::Known(k) => known[*k as usize] += 1,
                Status::Other(s) => *other.entry(s).or_default() += 1,
            }
        }
        let mut out: Vec<(Status, usize)> = Known::of(product)
            .map(|k| (Status::Known(k), known[k as usize]))
            .collect();
        let mut others: Vec<(Status, usize)> = Known::ALL
            .into_iter()
            .filter(|k| !k.is_of(product) && known[*k as usize] > 0)
            .map(|k| (Status::Known(k), known[k as usize]))
            .chain(other.into_iter().map(|(s, n)| (Status::Other(s.into()), n)))
            .collect();
        others.sort_unstable_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        out.extend(others);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(pairs: &[(&str, &str)]) -> Snapshot {
        Snapshot::new(
            pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())),
            SystemTime::UNIX_EPOCH,
        )
    }

    #[test]
    fn sorted_deduplicated_and_faithful() {
        let s = snap(&[
            ("b", "RUNNING"),
            ("a", "STOPPED"),
            ("b", "STOPPING"),
            ("c", "weird \"x\""),
        ]);
        let ids: Vec<_> = s.instances().iter().map(|i| &*i.id).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(s.get("b").map(Status::as_str), Some("STOPPING"));
        assert_eq!(s.get("c").map(Status::as_str), Some("weird \"x\""));
        assert_eq!(s.get("z"), None);
    }

    #[test]
    fn from_rows_keeps_the_last_of_repeats_and_counts_them() {
        let row = |id: &str, status: &str| Instance {
            id: id.into(),
            status: Status::parse(status),
        };
        let (s, repeats) = Snapshot::from_rows(
            vec![
                row("b", "RUNNING"),
                row("a", "STOPPED"),
                row("b", "STOPPING"),
                row("b", "BOOTING"),
            ],
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(repeats, 2);
        assert_eq!(s.instances().len(), 2);
        assert_eq!(s.get("b").map(Status::as_str), Some("BOOTING"));
    }

    #[test]
    fn counts_cover_every_known_status() {
        let s = snap(&[
            ("a", "RUNNING"),
            ("b", "RUNNING"),
            ("c", "NEW_THING"),
            ("d", "RESIZING"),
        ]);
        let counts = |product| -> Vec<(String, usize)> {
            s.counts(product)
                .into_iter()
                .map(|(st, n)| (st.as_str().to_owned(), n))
                .collect()
        };
        let vm = counts(Product::Vm);
        assert_eq!(vm.len(), Known::of(Product::Vm).count() + 2);
        assert!(vm.contains(&("RUNNING".into(), 2)));
        assert!(vm.contains(&("STOPPED".into(), 0)));
        assert!(!vm.contains(&("INSTALLING".into(), 0)), "not a VM status");
        // Another product's status seen here, and one no vocabulary has, follow by name.
        assert_eq!(
            vm[vm.len() - 2..],
            [("NEW_THING".into(), 1), ("RESIZING".into(), 1)]
        );
        let zec = counts(Product::Zec);
        assert_eq!(zec.len(), Known::of(Product::Zec).count() + 1);
        assert!(zec.contains(&("RESIZING".into(), 1)));
    }
}
