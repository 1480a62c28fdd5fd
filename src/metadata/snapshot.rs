//! The immutable metadata snapshot of one successful `DescribeInstances` poll: per instance, the labels of its
//! info series (name, zone, type, image, billing, resource group, allow-listed tags) and its numeric facts; and
//! the tag allow-list that decides which tags become labels; each row with the [`Fingerprint`] of the text it was
//! read from, by which the next walk knows it ([`Known`]). How it is gathered is `poll`'s concern, how it is
//! written `exposition::render`'s.

use std::net::Ipv4Addr;
use std::sync::Arc;
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
/// once ([`Interner`](super::Interner)).
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

/// The fingerprint of the JSON text a row was read from (`rows::fingerprint`; 0 for a row not read from a page):
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
/// allow-listed tags, vCPUs and memory. A fleet has few distinct profiles, so each is stored once ([`Interner`](super::Interner))
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
            // The fingerprints first: a row that reaches here was not known by its text, so they mostly differ, and
            // comparing them is cheaper than comparing the rows.
            Some(kept) if kept.fingerprint.0 == row.fingerprint.0 && **kept == row => kept.clone(),
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
}
