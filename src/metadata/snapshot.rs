//! The immutable metadata snapshot of one successful `DescribeInstances` poll: per instance, the labels of its
//! info series (name, zone, type, image, billing, resource group, allow-listed tags) and its numeric facts; and
//! the tag allow-list that decides which tags become labels; each row with the [`Fingerprint`] of the text it was
//! read from, by which the next walk knows it ([`Known`]). How it is gathered is `poll`'s concern, how it is
//! written `exposition::render`'s.

use hashbrown::{Equivalent, HashSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::SystemTime;

pub use crate::config::values::{MAX_TAG_LABELS, TagLabels, label_name};
pub use crate::text::label_safe;
use crate::zenlayer::model::InstanceId;

/// The info series' fixed labels after `instance_id`, in the order they are written.
pub const INFO_LABELS: [&str; 7] = [
    "instance_name",
    "zone_id",
    "instance_type",
    "image_name",
    "charge_type",
    "resource_group",
    // The name can be renamed; the id cannot, so joins and rules keep working across a rename.
    "resource_group_id",
];

/// Every tag of one instance, as service discovery labels it: (label-safe key, value) pairs sorted by key. Tags
/// are not allow-listed here: meta labels are dropped after relabeling, so they cost no series. When several
/// keys become the same label-safe key, the key first in byte order keeps it and the others are left out; a key
/// given twice keeps its smallest value (the info series' rule). Sets repeat across a fleet, so each is stored
/// once ([`Interner`]).
pub type TagSet = Arc<[(Arc<str>, Arc<str>)]>;

/// One instance's metadata as the snapshot holds it. Empty strings stand for values the API did not give.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceMeta {
    pub id: InstanceId,
    /// Names are mostly short: held inline, as ids are, up to 24 bytes.
    pub name: compact_str::CompactString,
    /// What it has in common with instances of its kind, stored once for all of them.
    pub profile: Arc<Profile>,
    pub created: Option<f64>,
    /// Prepaid instances only.
    pub expiry: Option<f64>,
    /// Prepaid instances only.
    pub auto_renew: Option<bool>,
    /// The first IPv4 address of each list, for service discovery; per instance, so on the row, not the profile.
    pub private_ip: Option<Ipv4Addr>,
    pub public_ip: Option<Ipv4Addr>,
    /// Every tag, for service discovery. Not in the profile: tag values such as a cost centre multiply the
    /// combinations, and a profile per instance would cost more than this pointer per row.
    pub all_tags: TagSet,
    /// The text it was read from, by which the next walk knows it.
    pub fingerprint: Fingerprint,
}

/// The fingerprint of the JSON text a row was read from (`page::fingerprint`; 0 for a row not read from a page):
/// how the next walk knows a row sent again as it was, without decoding it ([`Metadata::known`]). Not part of
/// what the row says: two rows that say the same are equal whatever texts they came from (a field the exporter
/// drops may have changed), so a rendering of one serves the other.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fingerprint(pub u64);

impl PartialEq for Fingerprint {
    fn eq(&self, _: &Fingerprint) -> bool {
        true
    }
}

/// What an instance has in common with the others of its kind: zone, type, image, billing, resource group,
/// allow-listed tags, vCPUs and memory. A fleet has few distinct profiles, so each is stored once ([`Interner`])
/// and a row holds a pointer to it: a row is then under half the size it would be with these inline.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// In the order of [`INFO_LABELS`] after `instance_name`.
    pub labels: [Arc<str>; 6],
    /// One value per allow-listed tag key, in the allow-list's order.
    pub tags: Box<[Arc<str>]>,
    pub cpu_count: Option<f64>,
    pub memory_bytes: Option<f64>,
}

// The numbers are finite (the poll drops any other), so equality is an equivalence and their bits hash it.
impl Eq for Profile {}

impl std::hash::Hash for Profile {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.labels.hash(state);
        self.tags.hash(state);
        self.cpu_count.map(f64::to_bits).hash(state);
        self.memory_bytes.map(f64::to_bits).hash(state);
    }
}

/// A walk tells its pages apart by the ids of their rows, as read into this form.
impl crate::zenlayer::model::Row for InstanceMeta {
    fn id(&self) -> &str {
        &self.id
    }
}

impl InstanceMeta {
    /// A row named `name` with nothing else known: what tests build theirs from (`..InstanceMeta::bare(..)`), so
    /// a new field is written once here.
    #[cfg(test)]
    pub(crate) fn bare(id: &str, name: &str) -> InstanceMeta {
        InstanceMeta {
            id: id.into(),
            name: name.into(),
            profile: Arc::new(Profile {
                labels: std::array::from_fn(|_| "".into()),
                tags: Box::new([]),
                cpu_count: None,
                memory_bytes: None,
            }),
            created: None,
            expiry: None,
            auto_renew: None,
            private_ip: None,
            public_ip: None,
            all_tags: Arc::new([]),
            fingerprint: Fingerprint::default(),
        }
    }

    /// The values of the info series' labels, in the order of [`INFO_LABELS`].
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        std::iter::once(&*self.name).chain(self.profile.labels.iter().map(|v| &**v))
    }
}

/// A snapshot's rows by the fingerprint of the text each was read from ([`Metadata::known`]); empty before the
/// first snapshot. The table holds a row's position alone, hashed by its fingerprint (already a hash): 5 bytes a
/// bucket while a walk reads its pages (6 to 11 a row, as the table sizes itself), against 17 for a map from
/// fingerprint to row.
#[derive(Default)]
pub struct Known<'a> {
    rows: &'a [Arc<InstanceMeta>],
    table: hashbrown::HashTable<u32>,
}

impl<'a> Known<'a> {
    /// The row read from a text of this fingerprint, if `text` names its id too, so that a row of another
    /// instance whose text had the same fingerprint is not taken for this one.
    pub fn get(&self, fingerprint: u64, text: &str) -> Option<&'a Arc<InstanceMeta>> {
        let rows = self.rows;
        self.table
            .find(fingerprint, |&at| {
                rows[at as usize].fingerprint.0 == fingerprint
            })
            .map(|&at| &rows[at as usize])
            .filter(|row| memchr::memmem::find(text.as_bytes(), row.id.as_bytes()).is_some())
    }
}

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

/// The metadata of the fleet as one poll saw it, sorted by instance id (the order of the status snapshot, so
/// the two are joined by one merge). Rows are shared: a poll that reads a row the served snapshot holds
/// unchanged (most rows, most polls) keeps that row rather than a copy, so while a poll builds the next snapshot
/// the fleet is not held twice.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    instances: Vec<Arc<InstanceMeta>>,
    taken_at: SystemTime,
}

impl Metadata {
    /// Builds a snapshot from rows in any order; a repeated id keeps its last row.
    pub fn new<R: Into<Arc<InstanceMeta>>>(rows: Vec<R>, taken_at: SystemTime) -> Metadata {
        let mut rows: Vec<Arc<InstanceMeta>> = rows.into_iter().map(Into::into).collect();
        crate::poll::latest_by_id(&mut rows, |r| &r.id);
        Metadata {
            instances: rows,
            taken_at,
        }
    }

    /// This snapshot with `newer` rows added or replacing the ones of the same id (the answer to a lookup of
    /// instances the last full poll did not know yet).
    pub fn with(&self, newer: Vec<Arc<InstanceMeta>>) -> Metadata {
        let mut rows = self.instances.clone();
        rows.extend(newer);
        Metadata::new(rows, self.taken_at)
    }

    pub fn instances(&self) -> &[Arc<InstanceMeta>] {
        &self.instances
    }

    pub fn get(&self, id: &str) -> Option<&Arc<InstanceMeta>> {
        self.instances
            .binary_search_by(|i| (*i.id).cmp(id))
            .ok()
            .map(|at| &self.instances[at])
    }

    /// `row` as the next snapshot serves it: the `previous` snapshot's own row when it says the same and was
    /// read from the same text, so both share it; a row of its own otherwise (with the new text's fingerprint,
    /// for the next walk to know it by), and always before the first snapshot.
    pub fn shared(previous: Option<&Metadata>, row: InstanceMeta) -> Arc<InstanceMeta> {
        match previous.and_then(|previous| previous.get(&row.id)) {
            Some(kept) if **kept == row && kept.fingerprint.0 == row.fingerprint.0 => kept.clone(),
            _ => Arc::new(row),
        }
    }

    /// This snapshot's rows by the fingerprint of the text each was read from: what the next walk knows without
    /// decoding it.
    pub fn known(&self) -> Known<'_> {
        let mut table = hashbrown::HashTable::with_capacity(self.instances.len());
        for (at, row) in self.instances.iter().enumerate() {
            if row.fingerprint.0 != 0 {
                table.insert_unique(row.fingerprint.0, at as u32, |&at| {
                    self.instances[at as usize].fingerprint.0
                });
            }
        }
        Known {
            rows: &self.instances,
            table,
        }
    }

    /// The ids among `sorted_ids` (ascending, as a status snapshot holds them) that this snapshot does not know:
    /// one merge over both lists, not a search per id.
    pub fn unknown<'a>(&self, sorted_ids: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        let mut known = self.instances.iter().map(|m| &*m.id).peekable();
        let mut out = Vec::new();
        for id in sorted_ids {
            while known.next_if(|k| *k < id).is_some() {}
            if known.next_if(|k| *k == id).is_none() {
                out.push(id);
            }
        }
        out
    }

    /// When the full poll behind this snapshot was taken.
    pub fn taken_at(&self) -> SystemTime {
        self.taken_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_keys_become_valid_distinct_labels() {
        let tags = TagLabels::parse(" env, team ,cost-center,,env,Ünit.Name").unwrap();
        assert_eq!(tags.keys(), ["env", "team", "cost-center", "Ünit.Name"]);
        assert_eq!(
            tags.names(),
            ["tag_env", "tag_team", "tag_cost_center", "tag__nit_Name"]
        );
        assert_eq!(TagLabels::parse("").unwrap(), TagLabels::default());
        let clash = TagLabels::parse("cost-center,cost_center,a.b,a-b").unwrap_err();
        assert_eq!(clash.len(), 2, "{clash:?}");
        assert!(
            clash[0].contains("\"cost-center\" and \"cost_center\""),
            "{clash:?}"
        );
        let many: Vec<String> = (0..21).map(|i| format!("k{i}")).collect();
        assert!(TagLabels::parse(&many.join(",")).is_err());
    }

    #[test]
    fn lookups_and_merges_keep_the_order() {
        let meta = InstanceMeta::bare;
        let m = Metadata::new(
            vec![meta("b", "old"), meta("a", "x"), meta("b", "new")],
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(m.instances().len(), 2);
        assert_eq!(&*m.get("b").unwrap().name, "new");
        let m2 = m.with(vec![Arc::new(meta("c", "c")), Arc::new(meta("a", "y"))]);
        let ids: Vec<&str> = m2.instances().iter().map(|i| &*i.id).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(&*m2.get("a").unwrap().name, "y");
        assert!(m2.get("z").is_none());
        assert_eq!(m2.unknown(["0", "a", "aa", "c", "d"]), ["0", "aa", "d"]);
        // A row read again unchanged is the served row itself; a changed one is new.
        assert!(Arc::ptr_eq(
            &Metadata::shared(Some(&m2), meta("c", "c")),
            m2.get("c").unwrap()
        ));
        assert!(!Arc::ptr_eq(
            &Metadata::shared(Some(&m2), meta("c", "d")),
            m2.get("c").unwrap()
        ));
        assert_eq!(m2.unknown([]), Vec::<&str>::new());
    }

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
