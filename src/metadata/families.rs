//! The samples of the metadata's families: one info series per instance with its names as labels, and one
//! per number the API gives. What each family is called and says is `exposition::families`' table (a number's
//! row there says which field it reads); how a sample is spelt is `text`'s.

use crate::metadata::{INFO_LABELS, InstanceMeta, Metadata, TagLabels};
use crate::status::snapshot::{Instance, Snapshot};
use crate::text::Sample;

/// Each instance both snapshots know with its metadata, in the status snapshot's order: one merge over the two
/// sorted lists.
pub fn join<'s, 'm>(
    snapshot: &'s Snapshot,
    metadata: &'m Metadata,
) -> impl Iterator<Item = (&'s Instance, &'m InstanceMeta)> {
    let mut metas = metadata.instances().iter().peekable();
    snapshot.instances().iter().filter_map(move |instance| {
        while metas.next_if(|m| m.id < instance.id).is_some() {}
        metas
            .next_if(|m| m.id == instance.id)
            .map(|meta| (instance, &**meta))
    })
}

/// The samples of the info family `name` for `joined` (a batch of the joined instances), appended to `out`;
/// `opening` (`account="…",product="…",`, or `product="…",` alone) opens every label set.
pub fn info_lines(
    out: &mut Vec<u8>,
    name: &str,
    joined: &[&InstanceMeta],
    tags: &TagLabels,
    opening: &[u8],
) {
    for meta in joined {
        let mut sample = Sample::open(out, name, opening).label("instance_id", &meta.id);
        for (label, value) in INFO_LABELS.iter().zip(meta.labels()) {
            sample = sample.label(label, value);
        }
        for (label, value) in tags.names().iter().zip(meta.profile.tags.iter()) {
            sample = sample.label(label, value);
        }
        sample.flag(true);
    }
}

/// The samples of the number family `name` for `joined`, appended to `out`: an instance without the number
/// (`value` gives `None`) has none.
pub fn number_lines(
    out: &mut Vec<u8>,
    name: &str,
    joined: &[&InstanceMeta],
    value: fn(&InstanceMeta) -> Option<f64>,
    opening: &[u8],
) {
    for meta in joined {
        if let Some(v) = value(meta) {
            Sample::open(out, name, opening)
                .label("instance_id", &meta.id)
                .value(v);
        }
    }
}
