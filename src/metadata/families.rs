//! The metadata poll's metric families: one info series per instance with its names as labels, and one family
//! per number the API gives.

use std::io::Write as _;

use crate::exposition::text::{escape_label_value, header};
use crate::metadata::{INFO_LABELS, InstanceMeta, Metadata, TagLabels};
use crate::status::snapshot::Snapshot;

const INFO_HELP: &str = "Always 1: the labels give each Zenlayer VM instance's name, zone, type, image, charge \
type, resource group and allow-listed tags (ZENLAYER_EXPORTER_TAG_LABELS). Join on instance_id.";
/// A number of each instance, exported as a gauge family: an instance without the number has no series in it.
pub struct NumberFamily {
    pub name: &'static str,
    pub help: &'static str,
    pub value: fn(&InstanceMeta) -> Option<f64>,
}

/// The numbers the metadata gives, in the order they are exported. A new number is a field of `InstanceMeta`
/// (filled by `poll::instance_meta`) and a row here.
pub const NUMBERS: [NumberFamily; 5] = [
    NumberFamily {
        name: "zenlayer_vm_instance_cpus",
        help: "vCPUs of each Zenlayer VM instance.",
        value: |m| m.cpu_count,
    },
    NumberFamily {
        name: "zenlayer_vm_instance_memory_bytes",
        help: "Memory of each Zenlayer VM instance, in bytes.",
        value: |m| m.memory_bytes,
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

/// The metadata families, for the instances both snapshots know: one merge over the two sorted lists.
pub fn render_metadata_families(
    snapshot: &Snapshot,
    metadata: &Metadata,
    tags: &TagLabels,
) -> (Vec<u8>, usize) {
    let mut joined: Vec<&InstanceMeta> = Vec::with_capacity(metadata.instances().len());
    let mut metas = metadata.instances().iter().peekable();
    for instance in snapshot.instances() {
        while metas.next_if(|m| m.id < instance.id).is_some() {}
        if let Some(meta) = metas.next_if(|m| m.id == instance.id) {
            joined.push(meta);
        }
    }
    let mut out = Vec::with_capacity(joined.len() * 400 + 4096);
    header(&mut out, "zenlayer_vm_instance_info", INFO_HELP);
    for meta in &joined {
        out.extend_from_slice(b"zenlayer_vm_instance_info{instance_id=\"");
        escape_label_value(&mut out, &meta.id);
        for (name, value) in INFO_LABELS.iter().zip(meta.labels.iter()) {
            let _ = write!(out, "\",{name}=\"");
            escape_label_value(&mut out, value);
        }
        for (name, value) in tags.names().iter().zip(meta.tags.iter()) {
            let _ = write!(out, "\",{name}=\"");
            escape_label_value(&mut out, value);
        }
        out.extend_from_slice(b"\"} 1\n");
    }
    for family in &NUMBERS {
        header(&mut out, family.name, family.help);
        for meta in &joined {
            if let Some(v) = (family.value)(meta) {
                let _ = write!(out, "{}{{instance_id=\"", family.name);
                escape_label_value(&mut out, &meta.id);
                let _ = writeln!(out, "\"}} {v}");
            }
        }
    }
    (out, joined.len())
}
