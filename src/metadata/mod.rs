//! The metadata poll: `DescribeInstances`, more slowly, into an immutable snapshot of each instance's names,
//! zone, type, billing and allow-listed tags. `snapshot` holds it and the tag allow-list, `poll` gathers it.

pub mod families;
pub mod poll;
pub mod snapshot;

pub use snapshot::{
    INFO_LABELS, InstanceMeta, Interner, MAX_TAG_LABELS, Metadata, Profile, TagLabels, TagSet,
    label_name, label_safe,
};
