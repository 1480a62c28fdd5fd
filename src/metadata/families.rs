//! The metadata poll's metric families: one info series per instance with its names as labels, and one family
//! per number the API gives.

use std::io::Write as _;

use crate::metadata::{INFO_LABELS, InstanceMeta, Metadata, TagLabels};
use crate::status::snapshot::{Instance, Snapshot};
use crate::text::{Head, escape_label_value};

const INFO_HELP: &str = "Always 1: the labels give each Zenlayer VM instance's name, zone, type, image, charge \
type, resource group and allow-listed tags (ZENLAYER_EXPORTER_TAG_LABELS). Join on instance_id.";
/// The info family's name and help.
pub const INFO: Head = Head {
    name: "zenlayer_vm_instance_info",
    help: INFO_HELP,
};

/// A number of each instance, exported as a gauge family: an instance without the number has no series in it.
pub struct NumberFamily {
    pub name: &'static str,
    pub help: &'static str,
    pub value: fn(&InstanceMeta) -> Option<f64>,
}

/// The numbers the metadata gives, in the order they are exported. A new number is a field of `InstanceMeta` (or
/// of its `Profile`), filled by `poll::instance_meta`, and a row here.
pub const NUMBERS: [NumberFamily; 5] = [
    NumberFamily {
        name: "zenlayer_vm_instance_cpus",
        help: "vCPUs of each Zenlayer VM instance.",
        value: |m| m.profile.cpu_count,
    },
    NumberFamily {
        name: "zenlayer_vm_instance_memory_bytes",
        help: "Memory of each Zenlayer VM instance, in bytes.",
        value: |m| m.profile.memory_bytes,
    },
    NumberFamily {
        name: "zenlayer_vm_instance_created_timestamp_seconds",
        help: "Unix time each Zenlayer VM instance was created.",
        value: |m| m.created,
    },
    NumberFamily {
        name: "zenlayer_vm_instance_expiry_timestamp_seconds",
        help: "Unix time each prepaid Zenlayer VM instance expires (postpaid instances have no series).",
        value: |m| m.expiry,
    },
    NumberFamily {
        name: "zenlayer_vm_instance_auto_renew",
        help: "1 if the prepaid Zenlayer VM instance renews automatically at expiry, else 0.",
        value: |m| m.auto_renew.map(f64::from),
    },
];

impl NumberFamily {
    pub const fn head(&self) -> Head {
        Head {
            name: self.name,
            help: self.help,
        }
    }
}

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

/// The samples of the info family for `joined` (a batch of the joined instances), appended to `out`; `label`
/// (`account="…",` or nothing) opens every label set.
pub fn info_lines(out: &mut Vec<u8>, joined: &[&InstanceMeta], tags: &TagLabels, label: &[u8]) {
    for meta in joined {
        out.extend_from_slice(b"zenlayer_vm_instance_info{");
        out.extend_from_slice(label);
        out.extend_from_slice(b"instance_id=\"");
        escape_label_value(out, &meta.id);
        for (name, value) in INFO_LABELS.iter().zip(meta.labels()) {
            let _ = write!(out, "\",{name}=\"");
            escape_label_value(out, value);
        }
        for (name, value) in tags.names().iter().zip(meta.profile.tags.iter()) {
            let _ = write!(out, "\",{name}=\"");
            escape_label_value(out, value);
        }
        out.extend_from_slice(b"\"} 1\n");
    }
}

/// The samples of one number family for `joined`, appended to `out`: an instance without the number has none.
pub fn number_lines(
    out: &mut Vec<u8>,
    joined: &[&InstanceMeta],
    family: &NumberFamily,
    label: &[u8],
) {
    for meta in joined {
        if let Some(v) = (family.value)(meta) {
            let _ = write!(out, "{}{{", family.name);
            out.extend_from_slice(label);
            out.extend_from_slice(b"instance_id=\"");
            escape_label_value(out, &meta.id);
            let _ = writeln!(out, "\"}} {v}");
        }
    }
}
