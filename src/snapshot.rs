//! The immutable snapshot of one successful poll (instance id → status) and the store that swaps it atomically.
//! What a snapshot looks like on the wire is `render`'s concern; how it is gathered is the poller's.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwapOption;

/// Every status the vendor documents for VM instances, in the order they are exported.
pub const KNOWN_STATUSES: [&str; 13] = [
    "BOOTING",
    "CREATE_FAILED",
    "DEPLOYING",
    "IMAGING",
    "PENDING",
    "REBOOT",
    "REBUILDING",
    "RECYCLE",
    "RECYCLING",
    "RELEASING",
    "RUNNING",
    "STOPPED",
    "STOPPING",
];

/// An instance's status: one of [`KNOWN_STATUSES`] (stored as its index, so a million instances cost one byte
/// each for it), or any other string the API sends, kept exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Known(u8),
    Other(Box<str>),
}

impl Status {
    /// Reads the API's string; never fails, since the API types the field as a free string.
    pub fn parse(text: &str) -> Status {
        match KNOWN_STATUSES.iter().position(|s| *s == text) {
            Some(i) => Status::Known(i as u8),
            None => Status::Other(text.into()),
        }
    }

    /// The status as the API spelled it.
    pub fn as_str(&self) -> &str {
        match self {
            Status::Known(i) => KNOWN_STATUSES.get(*i as usize).copied().unwrap_or(""),
            Status::Other(s) => s,
        }
    }

    /// Whether the instance is `RUNNING`.
    pub fn is_running(&self) -> bool {
        self.as_str() == "RUNNING"
    }
}

/// One instance as the snapshot holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: Box<str>,
    pub status: Status,
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
        let mut by_id: HashMap<String, String> = HashMap::new();
        for (id, status) in pairs {
            by_id.insert(id, status);
        }
        let mut instances: Vec<Instance> = by_id
            .into_iter()
            .map(|(id, status)| Instance {
                status: Status::parse(&status),
                id: id.into_boxed_str(),
            })
            .collect();
        instances.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        Snapshot {
            instances,
            taken_at,
        }
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

    /// How many instances have each status: every known status (0 when none), then any other status seen.
    pub fn counts(&self) -> Vec<(Status, usize)> {
        let mut known = [0usize; KNOWN_STATUSES.len()];
        let mut other: HashMap<&str, usize> = HashMap::new();
        for instance in &self.instances {
            match &instance.status {
                Status::Known(i) => known[*i as usize] += 1,
                Status::Other(s) => *other.entry(s).or_default() += 1,
            }
        }
        let mut out: Vec<(Status, usize)> = known
            .iter()
            .enumerate()
            .map(|(i, n)| (Status::Known(i as u8), *n))
            .collect();
        let mut others: Vec<_> = other.into_iter().collect();
        others.sort_unstable();
        out.extend(
            others
                .into_iter()
                .map(|(s, n)| (Status::Other(s.into()), n)),
        );
        out
    }
}

/// The latest published value, swapped whole: a reader gets the old one or the new one, never a mix, and never
/// waits for a writer.
pub struct Store<T> {
    current: ArcSwapOption<T>,
}

impl<T> Default for Store<T> {
    fn default() -> Self {
        Store {
            current: ArcSwapOption::empty(),
        }
    }
}

impl<T> Store<T> {
    /// Replaces the current value.
    pub fn publish(&self, value: Arc<T>) {
        self.current.store(Some(value));
    }

    /// The current value; `None` until the first publication.
    pub fn load(&self) -> Option<Arc<T>> {
        self.current.load_full()
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
    fn counts_cover_every_known_status() {
        let s = snap(&[("a", "RUNNING"), ("b", "RUNNING"), ("c", "NEW_THING")]);
        let counts: Vec<_> = s
            .counts()
            .into_iter()
            .map(|(st, n)| (st.as_str().to_owned(), n))
            .collect();
        assert_eq!(counts.len(), KNOWN_STATUSES.len() + 1);
        assert!(counts.contains(&("RUNNING".into(), 2)));
        assert!(counts.contains(&("STOPPED".into(), 0)));
        assert_eq!(counts.last(), Some(&("NEW_THING".into(), 1)));
    }

    #[test]
    fn known_statuses_round_trip() {
        for s in KNOWN_STATUSES {
            assert_eq!(
                Status::parse(s),
                Status::Known(KNOWN_STATUSES.iter().position(|k| *k == s).unwrap() as u8)
            );
            assert_eq!(Status::parse(s).as_str(), s);
        }
        assert!(Status::parse("RUNNING").is_running());
        assert!(!Status::parse("running").is_running());
    }

    #[test]
    fn store_swaps_whole_values() {
        let store = Store::default();
        assert!(store.load().is_none());
        store.publish(Arc::new(1));
        store.publish(Arc::new(2));
        assert_eq!(store.load().as_deref(), Some(&2));
    }
}
