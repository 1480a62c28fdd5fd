//! Snapshot → Prometheus text exposition, rendered once per published snapshot in plain and pre-compressed form,
//! and the per-scrape assembly that appends the small self-metrics without copying or recompressing the bulk.
//! It knows nothing of the API: its input is a `Snapshot` (and a `Metadata` snapshot, joined to it), its output
//! bytes.

use std::io::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress, Status as ZStatus};

use crate::metadata::{INFO_LABELS, InstanceMeta, Metadata, TagLabels};
use crate::status::snapshot::{KNOWN_STATUSES, Known, Snapshot, Status};

/// The exposition content type Prometheus negotiates for text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Which series describe an instance's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusSeries {
    /// One series per instance, for its current status, valued 1.
    Current,
    /// A state set: one series per known status per instance, 0 or 1, plus the current one if unknown.
    All,
}

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
    gzip: Option<DeflatedPart>,
    metadata: Option<MetadataPart>,
}

struct DeflatedPart {
    /// One chunk per family, each compressed on its own and ending on a byte boundary.
    deflate: Vec<Bytes>,
    crc: crc32fast::Hasher,
}

/// One family's (or group of families') text, its deflate blocks and the CRC of its text. Cheap to clone: the
/// bytes are shared.
#[derive(Clone)]
struct Part {
    text: Bytes,
    deflate: Option<Bytes>,
    crc: crc32fast::Hasher,
}

impl Part {
    fn new(text: Vec<u8>) -> Part {
        let deflate = deflate(&text, FlushCompress::Sync).map(|mut d| {
            d.shrink_to_fit();
            Bytes::from(d)
        });
        let mut crc = crc32fast::Hasher::new();
        crc.update(&text);
        Part {
            text: Bytes::from(text),
            deflate,
            crc,
        }
    }
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
            .map(|deflate| DeflatedPart { deflate, crc });
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

/// Fixed gzip header: deflate, no flags, no modification time, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Joins the pre-rendered instance series (if any) with this scrape's self-metrics `tail`. With `gzip`, the
/// result is one standard gzip member: the pre-compressed deflate blocks, then `tail` in stored (uncompressed)
/// blocks ending the stream, then the CRC of both parts combined. A scrape thus compresses nothing: the tail is
/// a few kilobytes, and setting up a compressor for it would cost more than the bytes it saves.
pub fn assemble(rendered: Option<&Rendered>, tail: Vec<u8>, gzip: bool) -> ScrapeBody {
    let pre = rendered.and_then(|r| r.gzip.as_ref());
    if gzip && (rendered.is_none() || pre.is_some()) {
        let mut crc = pre.map_or_else(crc32fast::Hasher::new, |p| p.crc.clone());
        let mut tail_crc = crc32fast::Hasher::new();
        tail_crc.update(&tail);
        crc.combine(&tail_crc);
        let total = rendered.map_or(0, |r| r.text_len) + tail.len();
        let mut last = stored_final_blocks(&tail);
        last.extend_from_slice(&crc.finalize().to_le_bytes());
        // ISIZE is the length modulo 2^32, as RFC 1952 defines it.
        last.extend_from_slice(&(total as u32).to_le_bytes());
        let mut chunks = vec![Bytes::from_static(&GZIP_HEADER)];
        if let Some(pre) = pre {
            chunks.extend(pre.deflate.iter().cloned());
        }
        chunks.push(Bytes::from(last));
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

/// `data` as deflate stored blocks, the last one final. The stream before them ends on a byte boundary (a sync
/// flush), so each block is one header byte (BFINAL, BTYPE 00), LEN, NLEN and the bytes (RFC 1951, 3.2.4).
fn stored_final_blocks(data: &[u8]) -> Vec<u8> {
    const MAX_STORED: usize = 65_535;
    let mut out = Vec::with_capacity(data.len() + 5 * (data.len() / MAX_STORED + 1) + 8);
    let mut chunks = data.chunks(MAX_STORED).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        out.push(u8::from(chunks.peek().is_none()));
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

/// Raw deflate of `input`. `Sync` leaves the stream open on a byte boundary (more blocks may follow); `Finish`
/// ends it with a final block. `None` only if the compressor reports an internal error.
fn deflate(input: &[u8], flush: FlushCompress) -> Option<Vec<u8>> {
    // Level 2: with the zlib-rs backend, level 1 leaves the body half as large again (3.1 MB against 2.1 MB at
    // 100,000 instances) for half the time (33 ms against 65 ms); levels above 2 gain under 5% for much more.
    let mut compressor = Compress::new(Compression::new(2), false);
    let mut out = Vec::with_capacity(input.len() / 8 + 64);
    loop {
        let consumed = compressor.total_in() as usize;
        let status = compressor
            .compress_vec(&input[consumed..], &mut out, flush)
            .ok()?;
        let done = match flush {
            FlushCompress::Finish => status == ZStatus::StreamEnd,
            // A sync flush is complete once all input is taken and the output did not fill up.
            _ => compressor.total_in() as usize == input.len() && out.len() < out.capacity(),
        };
        if done {
            return Some(out);
        }
        out.reserve(out.capacity().max(4096));
    }
}

const STATUS_HELP: &str = "Status of each Zenlayer VM instance: 1 for its current status (with \
ZENLAYER_EXPORTER_STATUS_SERIES=all, also 0 for every other known status).";
const RUNNING_HELP: &str = "1 if the Zenlayer VM instance is RUNNING, else 0.";
const COUNT_HELP: &str =
    "Number of Zenlayer VM instances per status; every known status is always present.";

const INFO_HELP: &str = "Always 1: the labels give each Zenlayer VM instance's name, zone, type, image, charge \
type, resource group and allow-listed tags (ZENLAYER_EXPORTER_TAG_LABELS). Join on instance_id.";
const CPU_HELP: &str = "vCPUs of each Zenlayer VM instance.";
const MEMORY_HELP: &str = "Memory of each Zenlayer VM instance, in bytes.";
const CREATED_HELP: &str = "Unix time each Zenlayer VM instance was created.";
const EXPIRY_HELP: &str =
    "Unix time each prepaid Zenlayer VM instance expires (postpaid instances have no series).";
const AUTO_RENEW_HELP: &str =
    "1 if the prepaid Zenlayer VM instance renews automatically at expiry, else 0.";

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

/// The metadata families, for the instances both snapshots know: one merge over the two sorted lists.
fn render_metadata_families(
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
    let mut number_family =
        |name: &str, help: &str, value: &dyn Fn(&InstanceMeta) -> Option<f64>| {
            header(&mut out, name, help);
            for meta in &joined {
                if let Some(v) = value(meta) {
                    let _ = write!(out, "{name}{{instance_id=\"");
                    escape_label_value(&mut out, &meta.id);
                    let _ = writeln!(out, "\"}} {v}");
                }
            }
        };
    number_family("zenlayer_vm_instance_cpus", CPU_HELP, &|m| m.cpu_count);
    number_family("zenlayer_vm_instance_memory_bytes", MEMORY_HELP, &|m| {
        m.memory_bytes
    });
    number_family(
        "zenlayer_vm_instance_created_timestamp_seconds",
        CREATED_HELP,
        &|m| m.created,
    );
    number_family(
        "zenlayer_vm_instance_expiry_timestamp_seconds",
        EXPIRY_HELP,
        &|m| m.expiry,
    );
    number_family("zenlayer_vm_instance_auto_renew", AUTO_RENEW_HELP, &|m| {
        m.auto_renew.map(f64::from)
    });
    (out, joined.len())
}

/// `zenlayer_vm_instance_status`.
fn render_status_family(snapshot: &Snapshot, mode: StatusSeries) -> Vec<u8> {
    let mut out = Vec::with_capacity(status_family_len(snapshot, mode));
    header(&mut out, "zenlayer_vm_instance_status", STATUS_HELP);
    for instance in snapshot.instances() {
        let mut line = |status: &str, value: u8| {
            out.extend_from_slice(b"zenlayer_vm_instance_status{instance_id=\"");
            escape_label_value(&mut out, &instance.id);
            out.extend_from_slice(b"\",status=\"");
            escape_label_value(&mut out, status);
            out.extend_from_slice(b"\"} ");
            out.push(b'0' + value);
            out.push(b'\n');
        };
        match mode {
            StatusSeries::Current => line(instance.status.as_str(), 1),
            StatusSeries::All => {
                for known in Known::ALL {
                    line(
                        known.as_str(),
                        u8::from(instance.status == Status::Known(known)),
                    );
                }
                if let Status::Other(other) = &instance.status {
                    line(other, 1);
                }
            }
        }
    }
    out
}

/// `zenlayer_vm_instance_running`.
fn render_running_family(snapshot: &Snapshot) -> Vec<u8> {
    const LINE: usize = "zenlayer_vm_instance_running{instance_id=\"\"} 1\n".len();
    let ids: usize = snapshot.instances().iter().map(|i| i.id.len()).sum();
    let mut out = Vec::with_capacity(512 + snapshot.instances().len() * LINE + ids);
    header(&mut out, "zenlayer_vm_instance_running", RUNNING_HELP);
    for instance in snapshot.instances() {
        out.extend_from_slice(b"zenlayer_vm_instance_running{instance_id=\"");
        escape_label_value(&mut out, &instance.id);
        out.extend_from_slice(if instance.status.is_running() {
            b"\"} 1\n"
        } else {
            b"\"} 0\n"
        });
    }
    out
}

/// `zenlayer_vm_instances`.
fn render_counts_family(snapshot: &Snapshot) -> Vec<u8> {
    let mut out = Vec::with_capacity(2048);
    header(&mut out, "zenlayer_vm_instances", COUNT_HELP);
    for (status, count) in snapshot.counts() {
        out.extend_from_slice(b"zenlayer_vm_instances{status=\"");
        escape_label_value(&mut out, status.as_str());
        out.extend_from_slice(b"\"} ");
        let _ = write!(out, "{count}");
        out.push(b'\n');
    }
    out
}

/// The exact length of the status family when no label value needs escaping (escapes only ever add bytes), so
/// the buffer is allocated once and holds no slack for as long as the snapshot is served.
fn status_family_len(snapshot: &Snapshot, mode: StatusSeries) -> usize {
    const STATUS_LINE: usize =
        "zenlayer_vm_instance_status{instance_id=\"\",status=\"\"} 1\n".len();
    let known_len: usize = KNOWN_STATUSES.iter().map(|s| s.len()).sum();
    let mut len = 512;
    for instance in snapshot.instances() {
        let id = instance.id.len();
        let status = instance.status.as_str().len();
        len += match mode {
            StatusSeries::Current => STATUS_LINE + id + status,
            StatusSeries::All => {
                let other = if matches!(instance.status, Status::Other(_)) {
                    STATUS_LINE + id + status
                } else {
                    0
                };
                KNOWN_STATUSES.len() * (STATUS_LINE + id) + known_len + other
            }
        };
    }
    len
}

fn header(out: &mut Vec<u8>, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

/// Appends `value` escaped as the text format requires inside a quoted label value: backslash, double quote and
/// line feed. Everything else, non-ASCII included, is valid UTF-8 already and goes through as it is.
pub fn escape_label_value(out: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    let mut start = 0;
    // memchr3 scans with SIMD: almost every value has nothing to escape and is copied whole.
    for i in memchr::memchr3_iter(b'\\', b'"', b'\n', bytes) {
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(match bytes[i] {
            b'\\' => b"\\\\",
            b'"' => b"\\\"",
            _ => b"\\n",
        });
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::{InstanceMeta, Metadata, TagLabels};
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
    fn escapes_label_values() {
        let mut out = Vec::new();
        escape_label_value(&mut out, "a\\b\"c\nd{}=é");
        assert_eq!(String::from_utf8(out).unwrap(), r#"a\\b\"c\nd{}=é"#);
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
