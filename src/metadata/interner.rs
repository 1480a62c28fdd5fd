//! Label values, profiles and tag sets stored once for the whole process ([`Interner`]): what every walk of
//! every account looks its rows' repeated values up in, and what sweeps them once no snapshot holds them.

use hashbrown::{Equivalent, HashSet};
use std::sync::{Arc, LazyLock, Mutex};

use super::snapshot::{Profile, TagSet};

/// Label values, profiles and tag sets stored once for the whole process: zones, types, images, billing,
/// resource groups and tag values repeat across a fleet and across the accounts of one exporter, and so do their
/// combinations. An account of a hundred instances shares few profiles with itself, so a table per account or per
/// walk would hold one per instance; one table for every account holds each once ([`Interner::shared`]). Instance
/// names are not interned: each is its own instance's, and the table would only grow as large as the fleet.
///
/// Every row of every walk is looked up here, by the row's own borrowed values, once, and its values are interned
/// only when its profile or tag set is new; hashed with foldhash (hashbrown's default), whose seed is random per
/// process, so values the API sends cannot be chosen to collide. What no row holds any more is swept out once the
/// table has doubled since the last sweep: it holds at most twice what rows held then, more while no new entry
/// comes to trigger a sweep (accounts removed, a fleet shrunk). An entry only the table holds is handed out under
/// the same lock that sweeps it, so none is swept while being handed out. A sweep walks the whole table under that
/// lock: for a million instances with a tag each of their own, tens of milliseconds once per doubling.
#[derive(Default)]
pub struct Interner {
    tables: Mutex<Tables>,
}

#[derive(Default)]
struct Tables {
    values: HashSet<Arc<str>>,
    profiles: HashSet<Arc<Profile>>,
    tag_sets: HashSet<TagSet>,
    /// The number of entries at which the next sweep runs.
    sweep_at: usize,
}

/// The table is not swept below this many entries: a small fleet's garbage costs less than sweeping it often.
const MIN_SWEEP: usize = 4096;

/// A row's values that are looked up together, under one lock: its profile's and its tag set's.
pub struct RowValues<'a> {
    /// In the order of [`Profile::labels`].
    pub labels: [&'a str; 6],
    /// One value per allow-listed tag key, in the allow-list's order.
    pub tags: &'a [&'a str],
    /// vCPUs and memory, finite (the poll drops any other number).
    pub numbers: (Option<f64>, Option<f64>),
    /// Every (label-safe key, value) pair, sorted by key and each key once.
    pub all_tags: &'a [(&'a str, &'a str)],
}

/// A profile as a row gives it, its values borrowed: hashed as [`Profile`] hashes (a `&str` hashes as the
/// `Arc<str>` holding it), so it finds the stored profile it equals.
#[derive(Hash)]
struct ProfileOf<'a> {
    labels: [&'a str; 6],
    tags: &'a [&'a str],
    cpu_count: Option<u64>,
    memory_bytes: Option<u64>,
}

impl Equivalent<Arc<Profile>> for ProfileOf<'_> {
    fn equivalent(&self, stored: &Arc<Profile>) -> bool {
        let strs = |a: &[&str], b: &[Arc<str>]| {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| *a == &**b)
        };
        strs(&self.labels, &stored.labels)
            && strs(self.tags, &stored.tags)
            && self.cpu_count == stored.cpu_count.map(f64::to_bits)
            && self.memory_bytes == stored.memory_bytes.map(f64::to_bits)
    }
}

/// A tag set as a row gives it, borrowed; hashed as the stored [`TagSet`] is.
#[derive(Hash)]
struct TagsOf<'a>(&'a [(&'a str, &'a str)]);

impl Equivalent<TagSet> for TagsOf<'_> {
    fn equivalent(&self, stored: &TagSet) -> bool {
        self.0.len() == stored.len()
            && self
                .0
                .iter()
                .zip(stored.iter())
                .all(|((k, v), (sk, sv))| *k == &**sk && *v == &**sv)
    }
}

impl Interner {
    /// The interner every poll of every account uses.
    pub fn shared() -> &'static Interner {
        static SHARED: LazyLock<Interner> = LazyLock::new(Interner::default);
        &SHARED
    }

    /// The stored profile and tag set of a row's values, each stored now if it is new.
    pub fn row(&self, row: RowValues<'_>) -> (Arc<Profile>, TagSet) {
        // A panic elsewhere while holding the lock leaves the tables whole (each insert is one step).
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        let found = (tables.profile(&row), tables.tag_set(row.all_tags));
        tables.sweep_if_grown();
        found
    }

    /// Entries held: values, profiles, tag sets.
    #[cfg(test)]
    fn len(&self) -> (usize, usize, usize) {
        let tables = self.tables.lock().unwrap();
        (
            tables.values.len(),
            tables.profiles.len(),
            tables.tag_sets.len(),
        )
    }
}

impl Tables {
    fn profile(&mut self, row: &RowValues<'_>) -> Arc<Profile> {
        let (cpu_count, memory_bytes) = row.numbers;
        let wanted = ProfileOf {
            labels: row.labels,
            tags: row.tags,
            cpu_count: cpu_count.map(f64::to_bits),
            memory_bytes: memory_bytes.map(f64::to_bits),
        };
        // Looked up and stored in one step (the set hashes the profile once, not again to store it); the values
        // are interned only for a profile not seen before.
        let values = &mut self.values;
        self.profiles
            .get_or_insert_with(&wanted, |_| {
                Arc::new(Profile {
                    labels: row.labels.map(|value| intern(values, value)),
                    tags: row.tags.iter().map(|value| intern(values, value)).collect(),
                    cpu_count,
                    memory_bytes,
                })
            })
            .clone()
    }

    fn tag_set(&mut self, pairs: &[(&str, &str)]) -> TagSet {
        let values = &mut self.values;
        self.tag_sets
            .get_or_insert_with(&TagsOf(pairs), |TagsOf(pairs)| {
                pairs
                    .iter()
                    .map(|(key, value)| (intern(values, key), intern(values, value)))
                    .collect()
            })
            .clone()
    }

    fn len(&self) -> usize {
        self.values.len() + self.profiles.len() + self.tag_sets.len()
    }

    fn sweep_if_grown(&mut self) {
        if self.len() >= self.sweep_at.max(MIN_SWEEP) {
            self.sweep();
        }
    }

    /// Drops what only the table holds: profiles and tag sets first, so the values only they held go too.
    fn sweep(&mut self) {
        self.profiles.retain(|p| Arc::strong_count(p) > 1);
        self.tag_sets.retain(|t| Arc::strong_count(t) > 1);
        self.values.retain(|v| Arc::strong_count(v) > 1);
        self.sweep_at = 2 * self.len();
        // A fleet that shrank leaves its tables' room behind; keep enough to double again.
        self.profiles.shrink_to(2 * self.profiles.len());
        self.tag_sets.shrink_to(2 * self.tag_sets.len());
        self.values.shrink_to(2 * self.values.len());
    }
}

/// The stored copy of `value` in `values`, stored now if it is new.
fn intern(values: &mut HashSet<Arc<str>>, value: &str) -> Arc<str> {
    values
        .get_or_insert_with(value, |value: &str| Arc::from(value))
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interner_keeps_what_is_held_and_sweeps_the_rest() {
        let interner = Interner::default();
        let row = |zone: &'static str, env: &'static str| {
            interner.row(RowValues {
                labels: [zone, "c1", "debian", "POSTPAID", "", ""],
                tags: &[],
                numbers: (Some(2.0), None),
                all_tags: &[("env", env)],
            })
        };
        let (held, held_tags) = row("FRA-A", "prod");
        // Rows of other accounts share the profile and the tag set.
        let (again, again_tags) = row("FRA-A", "prod");
        assert!(Arc::ptr_eq(&held, &again) && Arc::ptr_eq(&held_tags, &again_tags));
        drop((again, again_tags));
        // Many profiles no row holds any more: the table sweeps them once it has doubled, not the held one.
        for n in 0..2 * MIN_SWEEP {
            let zone: &'static str = format!("Z{n}").leak();
            drop(row(zone, "dev"));
        }
        let (values, profiles, tag_sets) = interner.len();
        assert!(profiles < MIN_SWEEP, "{profiles} profiles");
        assert!(values < MIN_SWEEP, "{values} values");
        assert!(tag_sets <= 2, "{tag_sets} tag sets");
        let (still, _) = row("FRA-A", "prod");
        assert!(Arc::ptr_eq(&held, &still), "a held profile is never swept");
        assert_eq!(&*still.labels[0], "FRA-A");
        interner.tables.lock().unwrap().sweep();
        let (values, profiles, tag_sets) = interner.len();
        // What is left is what `held`, `held_tags` and `still` hold: one profile of 5 distinct values ("FRA-A",
        // "c1", "debian", "POSTPAID", ""), one tag set of 2 more.
        assert_eq!((values, profiles, tag_sets), (7, 1, 1));
        drop((held, held_tags, still));
        interner.tables.lock().unwrap().sweep();
        assert_eq!(interner.len(), (0, 0, 0));
    }
}
