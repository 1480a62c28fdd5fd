//! The metadata poll: each product's `DescribeInstances`, more slowly, into an immutable snapshot of each
//! instance's names, zone, type, billing and allow-listed tags. `snapshot` holds it and the tag allow-list,
//! `interner` the values rows share, `row` turns an API row into the snapshot's, `poll` gathers it, `rows`
//! gathers it from the status poll's own walk where the same rows carry both (bare metal).

pub mod families;
pub mod interner;
pub mod poll;
pub mod row;
pub mod rows;
pub mod snapshot;

pub use interner::{Interner, RowValues};
pub use snapshot::{
    Fingerprint, INFO_LABELS, InstanceMeta, Known, MAX_TAG_LABELS, Metadata, Profile, TagLabels,
    TagSet, label_name, label_safe,
};
