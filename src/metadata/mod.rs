//! The metadata poll: each product's `DescribeInstances`, more slowly, into an immutable snapshot of each
//! instance's names, zone, type, billing and allow-listed tags. `snapshot` holds it and the tag allow-list,
//! `poll` gathers it, `rows` gathers it from the status poll's own walk where the same rows carry both (bare
//! metal).

pub mod families;
pub mod poll;
pub mod rows;
pub mod snapshot;

pub use snapshot::{
    Fingerprint, INFO_LABELS, InstanceMeta, Interner, Known, MAX_TAG_LABELS, Metadata, Profile,
    RowValues, TagLabels, TagSet, label_name, label_safe,
};
