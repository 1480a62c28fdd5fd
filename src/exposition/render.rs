//! Snapshot → Prometheus text exposition, rendered once per published snapshot in plain and pre-compressed form,
//! and the per-scrape assembly that appends the small self-metrics without copying or recompressing the bulk.
//! It knows nothing of the API: its input is a `Snapshot` (and a `Metadata` snapshot, joined to it), its output
//! bytes.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use super::gzip::{self, Deflated, Part};
pub use super::text::CONTENT_TYPE;
use crate::metadata::families::render_metadata_families;
use crate::metadata::{Metadata, TagLabels};
pub use crate::status::families::StatusSeries;
use crate::status::families::{render_counts_family, render_running_family, render_status_family};
use crate::status::snapshot::Snapshot;

/// A snapshot rendered for serving: the plain text of the instance series and the same bytes as raw deflate
/// blocks ending on a byte boundary, so a scrape can append its own tail and one gzip member results. The
/// snapshot itself is not kept: only what the landing page shows of it.
pub struct Rendered {
    pub instances: usize,
    pub taken_at: SystemTime,
    /// Instances with metadata served, and when the metadata's full poll was taken; `None` without metadata.
    pub named: Option<(usize, SystemTime)>,
    /// The text, one chunk per metric family, served back to back.
    pub text: Vec<Bytes>,
    text_len: usize,
    gzip: Option<Deflated>,
    metadata: Option<MetadataPart>,
}

/// The metadata families as rendered, kept so the next render reuses them when neither the metadata nor the set
/// of instances changed: the common case, since statuses change every poll and metadata every few minutes, and
/// these families are the larger part of the body.
#[derive(Clone)]
struct MetadataPart {
    metadata: Arc<Metadata>,
    /// Hash and count of the status snapshot's ids.
    ids: (u64, usize),
    named: usize,
    part: Part,
}

/// A fingerprint of the instance ids of `snapshot` (SipHash, length-prefixed, so no two id lists collide by
/// concatenation).
fn ids_fingerprint(snapshot: &Snapshot) -> (u64, usize) {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for instance in snapshot.instances() {
        instance.id.hash(&mut hasher);
    }
    (hasher.finish(), snapshot.instances().len())
}

impl Rendered {
    /// Renders and compresses `snapshot`. Done once per poll, off the scrape path. The two large families are
    /// rendered and compressed on two threads at once: deflate streams that end on a byte boundary can be
    /// concatenated, so each family is compressed on its own and start-up to ready waits half as long.
    ///
    /// With `metadata`, the metadata families are rendered too, for the instances of `snapshot` only: an instance
    /// the status poll no longer sees loses its info series at once, not at the next metadata poll. They are
    /// taken from `previous` when it rendered the same metadata for the same instances.
    pub fn new(
        snapshot: &Snapshot,
        metadata: Option<(&Arc<Metadata>, &TagLabels)>,
        mode: StatusSeries,
        previous: Option<&Rendered>,
    ) -> Self {
        let ids = metadata.map(|_| ids_fingerprint(snapshot));
        let reusable = previous
            .and_then(|p| p.metadata.as_ref())
            .filter(|m| {
                metadata.is_some_and(|(metadata, _)| Arc::ptr_eq(&m.metadata, metadata))
                    && Some(m.ids) == ids
            })
            .cloned();
        let render_metadata = |metadata: &Arc<Metadata>, tags: &TagLabels| {
            let (text, named) = render_metadata_families(snapshot, metadata, tags);
            MetadataPart {
                metadata: metadata.clone(),
                ids: ids.unwrap_or_default(),
                named,
                part: Part::new(text),
            }
        };
        let (status, running, counts, meta) = std::thread::scope(|scope| {
            let status = scope.spawn(|| Part::new(render_status_family(snapshot, mode)));
            let fresh = match (&reusable, metadata) {
                (None, Some((metadata, tags))) => {
                    Some(scope.spawn(move || render_metadata(metadata, tags)))
                }
                _ => None,
            };
            let running = Part::new(render_running_family(snapshot));
            let counts = Part::new(render_counts_family(snapshot));
            // A panic in the renderer is a bug; rendering that family again here reports it in this thread.
            let status = status
                .join()
                .unwrap_or_else(|_| Part::new(render_status_family(snapshot, mode)));
            let meta = match (fresh, metadata) {
                (Some(handle), Some((metadata, tags))) => Some(
                    handle
                        .join()
                        .unwrap_or_else(|_| render_metadata(metadata, tags)),
                ),
                _ => reusable,
            };
            (status, running, counts, meta)
        });
        let parts: Vec<&Part> = [Some(&status), Some(&running), Some(&counts)]
            .into_iter()
            .flatten()
            .chain(meta.as_ref().map(|m| &m.part))
            .collect();
        let mut crc = crc32fast::Hasher::new();
        for part in &parts {
            crc.combine(&part.crc);
        }
        let gzip = parts
            .iter()
            .map(|p| p.deflate.clone())
            .collect::<Option<Vec<Bytes>>>()
            .map(|deflate| Deflated { deflate, crc });
        let text: Vec<Bytes> = parts.iter().map(|p| p.text.clone()).collect();
        Rendered {
            instances: snapshot.instances().len(),
            taken_at: snapshot.taken_at(),
            named: meta.as_ref().map(|m| (m.named, m.metadata.taken_at())),
            text_len: text.iter().map(Bytes::len).sum(),
            text,
            gzip,
            metadata: meta,
        }
    }
}

/// The body of one scrape as a list of chunks served back to back, most of them shared, not copied.
pub struct ScrapeBody {
    pub chunks: Vec<Bytes>,
    pub gzip: bool,
}

impl ScrapeBody {
    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.chunks.iter().map(Bytes::len).sum()
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The chunks joined, for tests and small callers.
    pub fn to_vec(&self) -> Vec<u8> {
        self.chunks.concat()
    }
}

/// Joins the pre-rendered instance series (if any) with this scrape's self-metrics `tail`. With `gzip`, the
/// result is one standard gzip member: the pre-compressed deflate blocks, then `tail` in stored (uncompressed)
/// blocks ending the stream, then the CRC of both parts combined. A scrape thus compresses nothing: the tail is
/// a few kilobytes, and setting up a compressor for it would cost more than the bytes it saves.
pub fn assemble(rendered: Option<&Rendered>, tail: Vec<u8>, gzip: bool) -> ScrapeBody {
    let pre = rendered.and_then(|r| r.gzip.as_ref());
    if gzip && (rendered.is_none() || pre.is_some()) {
        let chunks = gzip::member(pre, rendered.map_or(0, |r| r.text_len), &tail);
        return ScrapeBody { chunks, gzip: true };
    }
    let mut chunks = Vec::with_capacity(4);
    if let Some(r) = rendered {
        chunks.extend(r.text.iter().cloned());
    }
    chunks.push(Bytes::from(tail));
    ScrapeBody {
        chunks,
        gzip: false,
    }
}

/// The instance series of one snapshot in the text exposition format, all families joined.
pub fn render_instances(
    snapshot: &Snapshot,
    metadata: Option<(&Metadata, &TagLabels)>,
    mode: StatusSeries,
) -> Vec<u8> {
    let mut out = render_status_family(snapshot, mode);
    out.extend_from_slice(&render_running_family(snapshot));
    out.extend_from_slice(&render_counts_family(snapshot));
    if let Some((metadata, tags)) = metadata {
        out.extend_from_slice(&render_metadata_families(snapshot, metadata, tags).0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::{InstanceMeta, Metadata, TagLabels};
    use crate::status::KNOWN_STATUSES;
    use std::io::Read;
    use std::sync::Arc;

    fn snap(pairs: &[(&str, &str)]) -> Arc<Snapshot> {
        Arc::new(Snapshot::new(
            pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())),
            SystemTime::UNIX_EPOCH,
        ))
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        // A single-member decoder: the body must be one gzip member, as every HTTP client expects.
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn metadata_is_joined_to_the_instances_the_status_poll_sees() {
        let tags = TagLabels::parse("env,cost-center").unwrap();
        let meta = |id: &str, name: &str, prepaid: bool| InstanceMeta {
            id: id.into(),
            labels: [
                name.into(),
                "FRA-A".into(),
                "c.1c2g".into(),
                "".into(),
                "PREPAID".into(),
                "g".into(),
            ],
            tags: Box::new(["prod".into(), "".into()]),
            cpu_count: Some(1.0),
            memory_bytes: Some(2147483648.0),
            created: Some(1768465800.0),
            expiry: prepaid.then_some(1786782600.0),
            auto_renew: prepaid.then_some(false),
        };
        let metadata = Metadata::new(
            vec![
                meta("i-1", "web \"1\"", true),
                meta("i-0", "gone", false),
                meta("i-3", "db", false),
            ],
            SystemTime::UNIX_EPOCH,
        );
        let text = String::from_utf8(render_instances(
            &snap(&[("i-1", "RUNNING"), ("i-2", "PENDING"), ("i-3", "STOPPED")]),
            Some((&metadata, &tags)),
            StatusSeries::Current,
        ))
        .unwrap();
        assert!(text.contains(
            "zenlayer_vm_instance_info{instance_id=\"i-1\",instance_name=\"web \\\"1\\\"\",zone_id=\"FRA-A\",\
             instance_type=\"c.1c2g\",image_name=\"\",charge_type=\"PREPAID\",resource_group=\"g\",tag_env=\"prod\",\
             tag_cost_center=\"\"} 1\n"
        ), "{text}");
        assert!(
            text.contains("zenlayer_vm_instance_memory_bytes{instance_id=\"i-3\"} 2147483648\n")
        );
        assert!(text.contains(
            "zenlayer_vm_instance_expiry_timestamp_seconds{instance_id=\"i-1\"} 1786782600\n"
        ));
        assert!(text.contains("zenlayer_vm_instance_auto_renew{instance_id=\"i-1\"} 0\n"));
        assert!(
            !text.contains("i-0"),
            "an instance the status poll no longer sees has no series"
        );
        assert!(
            !text.contains("instance_info{instance_id=\"i-2\""),
            "nor one the metadata does not know yet"
        );
        assert_eq!(text.matches("_expiry_timestamp_seconds{").count(), 1);
    }

    #[test]
    fn current_mode_lines() {
        let text = String::from_utf8(render_instances(
            &snap(&[("i-2", "STOPPED"), ("i-1", "RUNNING")]),
            None,
            StatusSeries::Current,
        ))
        .unwrap();
        assert!(text.contains(
            "zenlayer_vm_instance_status{instance_id=\"i-1\",status=\"RUNNING\"} 1\n\
             zenlayer_vm_instance_status{instance_id=\"i-2\",status=\"STOPPED\"} 1\n"
        ));
        assert!(text.contains("zenlayer_vm_instance_running{instance_id=\"i-2\"} 0\n"));
        assert!(text.contains("zenlayer_vm_instances{status=\"STOPPED\"} 1\n"));
        assert!(text.contains("zenlayer_vm_instances{status=\"REBOOT\"} 0\n"));
    }

    #[test]
    fn all_mode_is_a_state_set_with_unknown_kept() {
        let text = String::from_utf8(render_instances(
            &snap(&[("i-1", "RUNNING"), ("i-2", "HIBERNATED")]),
            None,
            StatusSeries::All,
        ))
        .unwrap();
        let series = |id: &str| {
            text.lines()
                .filter(|l| {
                    l.starts_with(&format!(
                        "zenlayer_vm_instance_status{{instance_id=\"{id}\""
                    ))
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(series("i-1").len(), KNOWN_STATUSES.len());
        assert_eq!(
            series("i-1").iter().filter(|l| l.ends_with(" 1")).count(),
            1
        );
        assert_eq!(series("i-2").len(), KNOWN_STATUSES.len() + 1);
        assert!(
            series("i-2").contains(
                &"zenlayer_vm_instance_status{instance_id=\"i-2\",status=\"HIBERNATED\"} 1"
            )
        );
    }

    #[test]
    fn gzip_assembly_is_one_member_equal_to_plain() {
        for pairs in [&[][..], &[("a", "RUNNING"), ("b", "STOPPED")][..]] {
            let rendered = Rendered::new(&snap(pairs), None, StatusSeries::Current, None);
            let tail = b"# TYPE zenlayer_up gauge\nzenlayer_up 1\n".to_vec();
            let plain = assemble(Some(&rendered), tail.clone(), false);
            let gz = assemble(Some(&rendered), tail.clone(), true);
            assert!(!plain.gzip && gz.gzip);
            assert_eq!(gunzip(&gz.to_vec()), plain.to_vec());
            assert!(plain.to_vec().ends_with(&tail));
        }
        let alone = assemble(None, b"zenlayer_up 0\n".to_vec(), true);
        assert_eq!(gunzip(&alone.to_vec()), b"zenlayer_up 0\n");
    }

    #[test]
    fn metadata_families_are_reused_only_for_the_same_metadata_and_instances() {
        let tags = TagLabels::parse("env").unwrap();
        let meta = |id: &str| InstanceMeta {
            id: id.into(),
            labels: [
                "n".into(),
                "z".into(),
                "".into(),
                "".into(),
                "".into(),
                "".into(),
            ],
            tags: Box::new(["prod".into()]),
            cpu_count: Some(2.0),
            memory_bytes: None,
            created: None,
            expiry: None,
            auto_renew: None,
        };
        let metadata = Arc::new(Metadata::new(
            vec![meta("a"), meta("b")],
            SystemTime::UNIX_EPOCH,
        ));
        let with = |pairs: &[(&str, &str)], m: &Arc<Metadata>, previous: Option<&Rendered>| {
            Rendered::new(
                &snap(pairs),
                Some((m, &tags)),
                StatusSeries::Current,
                previous,
            )
        };
        let meta_chunk = |r: &Rendered| r.text.last().unwrap().as_ptr();
        let first = with(&[("a", "RUNNING"), ("b", "STOPPED")], &metadata, None);
        // Statuses changed, instances and metadata did not: the same bytes are served again.
        let second = with(
            &[("a", "STOPPED"), ("b", "STOPPED")],
            &metadata,
            Some(&first),
        );
        assert_eq!(meta_chunk(&second), meta_chunk(&first));
        assert_eq!(second.named.map(|n| n.0), Some(2));
        // An instance gone, or new metadata: rendered afresh.
        let third = with(&[("a", "STOPPED")], &metadata, Some(&second));
        assert_ne!(meta_chunk(&third), meta_chunk(&second));
        assert!(
            !String::from_utf8(third.text.concat())
                .unwrap()
                .contains("instance_id=\"b\"")
        );
        let renewed = Arc::new((*metadata).clone());
        let fourth = with(&[("a", "STOPPED")], &renewed, Some(&third));
        assert_ne!(meta_chunk(&fourth), meta_chunk(&third));
        // Whatever was reused, the gzip body is one member equal to the plain one.
        for rendered in [&first, &second, &third, &fourth] {
            let tail = b"zenlayer_up 1\n".to_vec();
            let gz = assemble(Some(rendered), tail.clone(), true);
            assert_eq!(
                gunzip(&gz.to_vec()),
                assemble(Some(rendered), tail, false).to_vec()
            );
        }
    }

    #[test]
    fn large_snapshot_compresses_through_buffer_growth() {
        let pairs: Vec<(String, String)> = (0..20_000)
            .map(|i| (format!("{i:019}"), "RUNNING".into()))
            .collect();
        let snapshot = Arc::new(Snapshot::new(pairs, SystemTime::UNIX_EPOCH));
        let rendered = Rendered::new(&snapshot, None, StatusSeries::Current, None);
        let gz = assemble(Some(&rendered), Vec::new(), true);
        assert_eq!(gunzip(&gz.to_vec()), rendered.text.concat());
        assert!(
            gz.len() * 5 < rendered.text_len,
            "{} vs {}",
            gz.len(),
            rendered.text_len
        );
    }
}
