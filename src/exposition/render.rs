//! Snapshots → the instance families of one account, rendered and compressed once per published snapshot (held
//! compressed only, see `gzip`), one part per family so several accounts' parts can be served family by family
//! (`scrape` joins them). It knows nothing of the API: its input is a `Snapshot` (and a `Metadata` snapshot,
//! joined to it), its output bytes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use super::families::{self, METADATA, MetadataSamples, STATUS, StatusSamples};
use super::gzip::Part;
use crate::metadata::families::{info_lines, join, number_lines};
use crate::metadata::{InstanceMeta, Metadata, TagLabels};
use crate::status::Status;
pub use crate::status::families::StatusSeries;
use crate::status::families::{count_lines, running_lines, status_lines};
use crate::status::snapshot::Snapshot;
pub use crate::text::CONTENT_TYPE;
use crate::text::{Format, Openings};
use crate::zenlayer::product::Product;

/// How the status families are written: the series per instance (`ZENLAYER_EXPORTER_STATUS_SERIES`) and the
/// product whose vocabulary the counts and state sets hold.
pub type Series = (StatusSeries, Product);

/// Families of the status snapshot, then of the metadata: the order they are served in.
const STATUS_FAMILIES: usize = STATUS.len();
pub(super) const FAMILIES: usize = families::COUNT;

/// Instances from which the metadata families are rendered on a thread of their own, beside the status ones.
const PARALLEL_FROM: usize = 10_000;

/// The `HELP` and `TYPE` lines of every family in `format`, compressed once.
pub(super) fn heads(format: Format) -> &'static [Part; FAMILIES] {
    static HEADS: OnceLock<[[Part; FAMILIES]; 2]> = OnceLock::new();
    let heads = HEADS.get_or_init(|| {
        let heads: Vec<_> = families::heads().collect();
        std::array::from_fn(|f| std::array::from_fn(|i| Part::new(heads[i].lines(Format::ALL[f]))))
    });
    &heads[format as usize]
}

/// Instances per status, as [`Snapshot::counts`] gives them.
pub type Counts = Arc<[(Status, usize)]>;

/// What an account's rendering is made from, kept to render it again without the `account` label for `/probe`.
struct Inputs {
    snapshot: Arc<Snapshot>,
    metadata: Option<(Arc<Metadata>, Arc<TagLabels>)>,
    series: Series,
    openings: Openings,
}

/// One account's snapshots rendered for serving: the samples of each instance family, as plain text and as raw
/// deflate blocks ending on a byte boundary, so a scrape joins any parts, appends its own tail and one gzip
/// member results.
pub struct Rendered {
    /// Tells renderings apart by what they hold: the same as the previous rendering's when the statuses and the
    /// metadata are the same, else a number no other rendering of this process has. What a cache of answers
    /// made from them keys on.
    pub serial: u64,
    pub instances: usize,
    pub taken_at: SystemTime,
    /// Instances per status (every status of the product's vocabulary, then any other seen), counted once for
    /// the count family and kept for the landing page.
    pub counts: Counts,
    /// Instances with metadata served, and when the metadata's full poll was taken; `None` without metadata.
    pub named: Option<(usize, SystemTime)>,
    /// The status families' samples, with the `account` label when several accounts are served.
    status: [Part; STATUS_FAMILIES],
    metadata: Option<MetadataPart>,
    labeled: bool,
    inputs: Inputs,
    /// The same families without the `account` label, rendered on the first `/probe` of this rendering.
    unlabeled: OnceLock<Vec<Part>>,
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
    parts: Vec<Part>,
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

/// Whether two metadata snapshots hold the same rows: mostly the very same rows, since a poll keeps each row
/// the served snapshot holds unchanged, so a pointer comparison settles most.
fn same_rows(a: &[Arc<InstanceMeta>], b: &[Arc<InstanceMeta>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| Arc::ptr_eq(a, b) || a == b)
}

/// The metadata families' samples, for the instances of `snapshot` only, and how many instances they name.
fn metadata_parts(
    snapshot: &Snapshot,
    metadata: &Metadata,
    tags: &TagLabels,
    label: &[u8],
) -> (Vec<Part>, usize) {
    let joined: Vec<&InstanceMeta> = join(snapshot, metadata).map(|(_, meta)| meta).collect();
    let parts = METADATA
        .iter()
        .map(|family| {
            Part::rendered(&joined, |out, batch| match family.samples {
                MetadataSamples::Info => info_lines(out, family.name, batch, tags, label),
                MetadataSamples::Number(value) => {
                    number_lines(out, family.name, batch, value, label)
                }
            })
        })
        .collect();
    (parts, joined.len())
}

fn status_parts(
    snapshot: &Snapshot,
    series: Series,
    counts: &[(Status, usize)],
    label: &[u8],
) -> [Part; STATUS_FAMILIES] {
    let instances = snapshot.instances();
    STATUS.map(|family| match family.samples {
        StatusSamples::Status => Part::rendered(instances, |out, batch| {
            status_lines(out, family.name, batch, series, label)
        }),
        StatusSamples::Running => Part::rendered(instances, |out, batch| {
            running_lines(out, family.name, batch, label)
        }),
        StatusSamples::Counts => {
            let mut out = Vec::with_capacity(2048);
            count_lines(&mut out, family.name, counts, label);
            Part::new(out)
        }
    })
}

impl Rendered {
    /// Renders and compresses `snapshot`, every sample opened by `openings` (`account="…",product="…",` when
    /// several accounts are served, else `product="…",`). Done once
    /// per poll, off the scrape path. The status and metadata families are rendered and compressed on two
    /// threads at once: deflate streams that end on a byte boundary can be concatenated, so each family is
    /// compressed on its own and start-up to ready waits half as long.
    ///
    /// With `metadata`, the metadata families are rendered too, for the instances of `snapshot` only: an instance
    /// the status poll no longer sees loses its info series at once, not at the next metadata poll. They are
    /// taken from `previous` when it rendered the same metadata for the same instances.
    pub fn new(
        snapshot: &Arc<Snapshot>,
        metadata: Option<(&Arc<Metadata>, &Arc<TagLabels>)>,
        series: Series,
        openings: &Openings,
        previous: Option<&Rendered>,
    ) -> Self {
        let label = openings.get(true);
        // Most polls find every instance in the status it had: then the status families are the previous ones,
        // and the metadata families too when the metadata did not change either. Comparing is a fraction of the
        // cost of rendering and compressing again.
        let unchanged = previous.filter(|p| {
            p.inputs.openings == *openings
                && p.inputs.series == series
                && p.inputs.snapshot.instances() == snapshot.instances()
        });
        let counts = match unchanged {
            Some(p) => p.counts.clone(),
            None => snapshot.counts(series.1).into(),
        };
        let ids = metadata.map(|_| match unchanged.and_then(|p| p.metadata.as_ref()) {
            Some(m) => m.ids,
            None => ids_fingerprint(snapshot),
        });
        // The metadata families are reused for the same instances when the metadata is the same snapshot, or a
        // newer one that says the same (the usual metadata poll: nothing was renamed, retagged or resized).
        let reusable = previous
            .filter(|p| p.inputs.openings == *openings)
            .and_then(|p| p.metadata.as_ref())
            .filter(|m| {
                metadata.is_some_and(|(metadata, _)| {
                    Arc::ptr_eq(&m.metadata, metadata)
                        || same_rows(m.metadata.instances(), metadata.instances())
                }) && Some(m.ids) == ids
            })
            .cloned();
        let render_metadata = |metadata: &Arc<Metadata>, tags: &TagLabels| {
            let (parts, named) = metadata_parts(snapshot, metadata, tags, label);
            MetadataPart {
                metadata: metadata.clone(),
                ids: ids.unwrap_or_default(),
                named,
                parts,
            }
        };
        // A second thread only pays for itself on a large snapshot: a thousand small accounts would otherwise
        // start a thread each per poll.
        let parallel = snapshot.instances().len() >= PARALLEL_FROM;
        let (status, meta) = std::thread::scope(|scope| {
            let fresh = match (&reusable, metadata) {
                (None, Some((metadata, tags))) if parallel => {
                    Some(scope.spawn(move || render_metadata(metadata, tags)))
                }
                _ => None,
            };
            let status = match unchanged {
                Some(p) => p.status.clone(),
                None => status_parts(snapshot, series, &counts, label),
            };
            // A panic in the renderer is a bug; rendering the families again here reports it in this thread.
            let meta = match (fresh, &reusable, metadata) {
                (Some(handle), _, Some((metadata, tags))) => Some(
                    handle
                        .join()
                        .unwrap_or_else(|_| render_metadata(metadata, tags)),
                ),
                (None, None, Some((metadata, tags))) => Some(render_metadata(metadata, tags)),
                _ => reusable,
            };
            (status, meta)
        });
        // The same families as before: so is their rendering without the label, if a probe made it.
        let same_metadata = match (previous.and_then(|p| p.metadata.as_ref()), &meta) {
            (Some(before), Some(now)) => {
                Arc::ptr_eq(&before.metadata, &now.metadata) && before.ids == now.ids
            }
            (None, None) => true,
            _ => false,
        };
        let unlabeled = match unchanged {
            Some(p) if same_metadata => p.unlabeled.clone(),
            _ => OnceLock::new(),
        };
        // The same statuses and metadata as the previous rendering: so is the serial, and an answer made from it
        // stays good (most status polls find nothing changed).
        static SERIAL: AtomicU64 = AtomicU64::new(0);
        let serial = match (unchanged, same_metadata) {
            (Some(p), true) => p.serial,
            _ => SERIAL.fetch_add(1, Ordering::Relaxed),
        };
        Rendered {
            serial,
            instances: snapshot.instances().len(),
            taken_at: snapshot.taken_at(),
            counts,
            named: meta.as_ref().map(|m| (m.named, m.metadata.taken_at())),
            status,
            metadata: meta,
            labeled: openings.named(),
            inputs: Inputs {
                snapshot: snapshot.clone(),
                metadata: metadata.map(|(m, t)| (m.clone(), t.clone())),
                series,
                openings: openings.clone(),
            },
            unlabeled,
        }
    }

    /// The snapshots this rendering was made from: what `/sd` reads, so its targets are the instances served.
    pub fn sources(&self) -> (&Snapshot, Option<&Metadata>) {
        (
            &self.inputs.snapshot,
            self.inputs.metadata.as_ref().map(|(m, _)| &**m),
        )
    }

    /// Whether [`Rendered::parts`] has its answer ready for `labeled`, or would render it first: the whole
    /// fleet, which belongs on a blocking thread.
    pub fn parts_ready(&self, labeled: bool) -> bool {
        labeled || !self.labeled || self.unlabeled.get().is_some()
    }

    /// The families' samples in serving order (the metadata ones only with metadata); `labeled: false` gives
    /// them without the `account` label, rendered on first use.
    pub fn parts(&self, labeled: bool) -> Vec<&Part> {
        if labeled || !self.labeled {
            let meta = self.metadata.iter().flat_map(|m| m.parts.iter());
            return self.status.iter().chain(meta).collect();
        }
        self.unlabeled
            .get_or_init(|| {
                let Inputs {
                    snapshot,
                    metadata,
                    series,
                    openings,
                } = &self.inputs;
                let opening = openings.get(false);
                let mut parts: Vec<Part> =
                    status_parts(snapshot, *series, &self.counts, opening).into();
                if let Some((metadata, tags)) = metadata {
                    parts.extend(metadata_parts(snapshot, metadata, tags, opening).0);
                }
                parts
            })
            .iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::gzip::gunzip;
    use crate::exposition::health::Health;
    use crate::exposition::scrape::{Contribution, ScrapeBody, assemble, render_instances};
    use crate::metadata::{InstanceMeta, Metadata, Profile, TagLabels};
    use std::sync::Arc;

    fn snap(pairs: &[(&str, &str)]) -> Arc<Snapshot> {
        Arc::new(Snapshot::new(
            pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())),
            SystemTime::UNIX_EPOCH,
        ))
    }

    #[test]
    fn metadata_is_joined_to_the_instances_the_status_poll_sees() {
        let tags = Arc::new(TagLabels::parse("env,cost-center").unwrap());
        let meta = |id: &str, name: &str, prepaid: bool| InstanceMeta {
            profile: Arc::new(Profile {
                labels: [
                    "FRA-A".into(),
                    "c.1c2g".into(),
                    "".into(),
                    "PREPAID".into(),
                    "g".into(),
                    "rg-1".into(),
                ],
                tags: Box::new(["prod".into(), "".into()]),
                cpu_count: Some(1.0),
                memory_bytes: Some(2147483648.0),
            }),
            created: Some(1768465800.0),
            expiry: prepaid.then_some(1786782600.0),
            auto_renew: prepaid.then_some(false),
            ..InstanceMeta::bare(id, name)
        };
        let metadata = Arc::new(Metadata::new(
            vec![
                meta("i-1", "web \"1\"", true),
                meta("i-0", "gone", false),
                meta("i-3", "db", false),
            ],
            SystemTime::UNIX_EPOCH,
        ));
        let text = String::from_utf8(render_instances(
            &snap(&[("i-1", "RUNNING"), ("i-2", "PENDING"), ("i-3", "STOPPED")]),
            Some((&metadata, &tags)),
            (StatusSeries::Current, Product::Vm),
        ))
        .unwrap();
        assert!(text.contains(
            "zenlayer_instance_info{product=\"vm\",instance_id=\"i-1\",instance_name=\"web \\\"1\\\"\",zone_id=\"FRA-A\",\
             instance_type=\"c.1c2g\",image_name=\"\",charge_type=\"PREPAID\",resource_group=\"g\",resource_group_id=\"rg-1\",tag_env=\"prod\",\
             tag_cost_center=\"\"} 1\n"
        ), "{text}");
        assert!(text.contains(
            "zenlayer_instance_memory_bytes{product=\"vm\",instance_id=\"i-3\"} 2147483648\n"
        ));
        assert!(text.contains(
            "zenlayer_instance_expiry_timestamp_seconds{product=\"vm\",instance_id=\"i-1\"} 1786782600\n"
        ));
        assert!(
            text.contains("zenlayer_instance_auto_renew{product=\"vm\",instance_id=\"i-1\"} 0\n")
        );
        assert!(
            !text.contains("i-0"),
            "an instance the status poll no longer sees has no series"
        );
        assert!(
            !text.contains("instance_info{product=\"vm\",instance_id=\"i-2\""),
            "nor one the metadata does not know yet"
        );
        assert_eq!(text.matches("_expiry_timestamp_seconds{").count(), 1);
    }

    #[test]
    fn current_mode_lines() {
        let text = String::from_utf8(render_instances(
            &snap(&[("i-2", "STOPPED"), ("i-1", "RUNNING")]),
            None,
            (StatusSeries::Current, Product::Vm),
        ))
        .unwrap();
        assert!(text.contains(
            "zenlayer_instance_status{product=\"vm\",instance_id=\"i-1\",status=\"RUNNING\"} 1\n\
             zenlayer_instance_status{product=\"vm\",instance_id=\"i-2\",status=\"STOPPED\"} 1\n"
        ));
        assert!(text.contains("zenlayer_instance_running{product=\"vm\",instance_id=\"i-2\"} 0\n"));
        assert!(text.contains("zenlayer_instances{product=\"vm\",status=\"STOPPED\"} 1\n"));
        assert!(text.contains("zenlayer_instances{product=\"vm\",status=\"REBOOT\"} 0\n"));
    }

    #[test]
    fn all_mode_is_a_state_set_with_unknown_kept() {
        let text = String::from_utf8(render_instances(
            &snap(&[("i-1", "RUNNING"), ("i-2", "HIBERNATED")]),
            None,
            (StatusSeries::All, Product::Vm),
        ))
        .unwrap();
        let series = |id: &str| {
            text.lines()
                .filter(|l| {
                    l.starts_with(&format!(
                        "zenlayer_instance_status{{product=\"vm\",instance_id=\"{id}\""
                    ))
                })
                .collect::<Vec<_>>()
        };
        let vm = crate::status::Known::of(Product::Vm).count();
        assert_eq!(series("i-1").len(), vm);
        assert_eq!(
            series("i-1").iter().filter(|l| l.ends_with(" 1")).count(),
            1
        );
        assert_eq!(series("i-2").len(), vm + 1);
        assert!(series("i-2").contains(
            &"zenlayer_instance_status{product=\"vm\",instance_id=\"i-2\",status=\"HIBERNATED\"} 1"
        ));
    }

    /// What one account contributes, with no self-metrics.
    fn only(rendered: Option<&Arc<Rendered>>) -> [Contribution; 1] {
        [Contribution {
            rendered: rendered.cloned(),
            health: Arc::new(Health::default()),
            sides: Default::default(),
        }]
    }

    fn body(rendered: &Arc<Rendered>, labeled: bool, tail: &[u8], gzip: bool) -> ScrapeBody {
        assemble(
            &only(Some(rendered)),
            labeled,
            tail.to_vec(),
            gzip,
            Format::Text,
        )
    }

    #[test]
    fn gzip_assembly_is_one_member_equal_to_plain() {
        for pairs in [&[][..], &[("a", "RUNNING"), ("b", "STOPPED")][..]] {
            let rendered = Arc::new(Rendered::new(
                &snap(pairs),
                None,
                (StatusSeries::Current, Product::Vm),
                &Openings::new(None, "vm"),
                None,
            ));
            let tail = b"# TYPE zenlayer_up gauge\nzenlayer_up 1\n";
            let plain = body(&rendered, true, tail, false);
            let gz = body(&rendered, true, tail, true);
            assert!(!plain.gzip && gz.gzip);
            assert_eq!(gunzip(&gz.to_vec()), plain.to_vec());
            assert!(plain.to_vec().ends_with(tail));
        }
        let alone = assemble(
            &only(None),
            false,
            b"zenlayer_up 0\n".to_vec(),
            true,
            Format::Text,
        );
        assert_eq!(gunzip(&alone.to_vec()), b"zenlayer_up 0\n");
    }

    #[test]
    fn several_accounts_are_served_family_by_family_and_one_without_its_label() {
        let account = |name: &str, pairs: &[(&str, &str)]| Contribution {
            rendered: Some(Arc::new(Rendered::new(
                &snap(pairs),
                None,
                (StatusSeries::Current, Product::Vm),
                &Openings::new(Some(name), "vm"),
                None,
            ))),
            health: Arc::new(Health::default()),
            sides: Default::default(),
        };
        let accounts = [
            account("prod", &[("i-1", "RUNNING")]),
            account("staging", &[("i-2", "STOPPED")]),
        ];
        let text =
            String::from_utf8(assemble(&accounts, true, Vec::new(), false, Format::Text).to_vec())
                .unwrap();
        assert_eq!(
            text.matches("# TYPE zenlayer_instance_status gauge")
                .count(),
            1
        );
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        let families: Vec<&str> = lines.iter().map(|l| l.split('{').next().unwrap()).collect();
        let mut grouped = families.clone();
        grouped.dedup();
        let mut unique = grouped.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            grouped.len(),
            unique.len(),
            "every family's samples together: {families:?}"
        );
        assert!(text.contains("zenlayer_instance_status{account=\"prod\",product=\"vm\",instance_id=\"i-1\",status=\"RUNNING\"} 1\n"));
        assert!(text.contains(
            "zenlayer_instances{account=\"staging\",product=\"vm\",status=\"STOPPED\"} 1\n"
        ));
        let gz = assemble(&accounts, true, b"x 1\n".to_vec(), true, Format::Text);
        assert_eq!(
            gunzip(&gz.to_vec()),
            assemble(&accounts, true, b"x 1\n".to_vec(), false, Format::Text).to_vec()
        );
        // One account without its label, as /probe serves it, plain and gzip alike.
        let probe = assemble(&accounts[1..], false, Vec::new(), false, Format::Text).to_vec();
        let probe = String::from_utf8(probe).unwrap();
        assert!(probe.contains(
            "zenlayer_instance_status{product=\"vm\",instance_id=\"i-2\",status=\"STOPPED\"} 1\n"
        ));
        assert!(!probe.contains("account=") && !probe.contains("i-1"));
        let gz = assemble(&accounts[1..], false, Vec::new(), true, Format::Text);
        assert_eq!(String::from_utf8(gunzip(&gz.to_vec())).unwrap(), probe);
    }

    #[test]
    fn metadata_families_are_reused_only_for_the_same_metadata_and_instances() {
        let tags = Arc::new(TagLabels::parse("env").unwrap());
        let meta = |id: &str| InstanceMeta {
            profile: Arc::new(Profile {
                labels: [
                    "z".into(),
                    "".into(),
                    "".into(),
                    "".into(),
                    "".into(),
                    "".into(),
                ],
                tags: Box::new(["prod".into()]),
                cpu_count: Some(2.0),
                memory_bytes: None,
            }),
            ..InstanceMeta::bare(id, "n")
        };
        let metadata = Arc::new(Metadata::new(
            vec![meta("a"), meta("b")],
            SystemTime::UNIX_EPOCH,
        ));
        let with = |pairs: &[(&str, &str)], m: &Arc<Metadata>, previous: Option<&Rendered>| {
            Arc::new(Rendered::new(
                &snap(pairs),
                Some((m, &tags)),
                (StatusSeries::Current, Product::Vm),
                &Openings::new(None, "vm"),
                previous,
            ))
        };
        let meta_chunk = |r: &Rendered| r.parts(true)[3].clone();
        let first = with(&[("a", "RUNNING"), ("b", "STOPPED")], &metadata, None);
        // Statuses changed, instances and metadata did not: the same bytes are served again.
        let second = with(
            &[("a", "STOPPED"), ("b", "STOPPED")],
            &metadata,
            Some(&first),
        );
        assert!(meta_chunk(&second).shares_bytes_with(&meta_chunk(&first)));
        assert_eq!(second.named.map(|n| n.0), Some(2));
        // An instance gone, or new metadata: rendered afresh.
        let third = with(&[("a", "STOPPED")], &metadata, Some(&second));
        assert!(!meta_chunk(&third).shares_bytes_with(&meta_chunk(&second)));
        assert!(
            !String::from_utf8(body(&third, true, b"", false).to_vec())
                .unwrap()
                .contains("instance_id=\"b\"")
        );
        // A newer metadata snapshot that says the same: reused; one that says something else: rendered afresh.
        let renewed = Arc::new((*metadata).clone());
        let fourth = with(&[("a", "STOPPED")], &renewed, Some(&third));
        assert!(meta_chunk(&fourth).shares_bytes_with(&meta_chunk(&third)));
        assert_eq!(fourth.serial, third.serial, "what /sd reads did not change");
        assert_ne!(second.serial, first.serial, "a status changed");
        let mut renamed = meta("a");
        renamed.name = "renamed".into();
        let renamed = Arc::new(Metadata::new(
            vec![renamed, meta("b")],
            SystemTime::UNIX_EPOCH,
        ));
        let fifth = with(&[("a", "STOPPED")], &renamed, Some(&fourth));
        assert!(!meta_chunk(&fifth).shares_bytes_with(&meta_chunk(&fourth)));
        assert_ne!(fifth.serial, fourth.serial);
        assert!(
            String::from_utf8(body(&fifth, true, b"", false).to_vec())
                .unwrap()
                .contains("instance_name=\"renamed\"")
        );
        // Whatever was reused, the gzip body is one member equal to the plain one.
        for rendered in [&first, &second, &third, &fourth, &fifth] {
            let gz = body(rendered, true, b"zenlayer_up 1\n", true);
            assert_eq!(
                gunzip(&gz.to_vec()),
                body(rendered, true, b"zenlayer_up 1\n", false).to_vec()
            );
        }
    }

    #[test]
    fn an_unchanged_snapshot_reuses_its_rendering_and_a_changed_one_does_not() {
        let label = Openings::new(Some("prod"), "vm");
        let render = |pairs: &[(&str, &str)], previous: Option<&Rendered>| {
            Rendered::new(
                &snap(pairs),
                None,
                (StatusSeries::Current, Product::Vm),
                &label,
                previous,
            )
        };
        let status = |r: &Rendered, labeled: bool| r.parts(labeled)[0].clone();
        let first = render(&[("a", "RUNNING"), ("b", "STOPPED")], None);
        let probed = status(&first, false);
        // A new snapshot (another poll) with the same statuses: the same bytes, labeled and not.
        let second = render(&[("a", "RUNNING"), ("b", "STOPPED")], Some(&first));
        assert!(status(&second, true).shares_bytes_with(&status(&first, true)));
        assert!(status(&second, false).shares_bytes_with(&probed));
        assert_eq!(
            second.serial, first.serial,
            "the same content, the same serial"
        );
        // One status changed: rendered afresh, both ways.
        let third = render(&[("a", "STOPPED"), ("b", "STOPPED")], Some(&second));
        assert!(!status(&third, true).shares_bytes_with(&status(&second, true)));
        assert_ne!(third.serial, second.serial);
        let text = String::from_utf8(status(&third, false).text()).unwrap();
        assert_eq!(
            text,
            "zenlayer_instance_status{product=\"vm\",instance_id=\"a\",status=\"STOPPED\"} 1\n\
             zenlayer_instance_status{product=\"vm\",instance_id=\"b\",status=\"STOPPED\"} 1\n"
        );
        // Rendered without the label before, the previous bytes are not taken for labeled ones.
        let unlabeled = Rendered::new(
            &snap(&[("a", "STOPPED"), ("b", "STOPPED")]),
            None,
            (StatusSeries::Current, Product::Vm),
            &Openings::new(None, "vm"),
            Some(&third),
        );
        assert!(
            !String::from_utf8(status(&unlabeled, true).text())
                .unwrap()
                .contains("account=")
        );
    }

    #[test]
    fn large_snapshot_compresses_through_buffer_growth() {
        let pairs: Vec<(String, String)> = (0..20_000)
            .map(|i| (format!("{i:019}"), "RUNNING".into()))
            .collect();
        let snapshot = Arc::new(Snapshot::new(pairs, SystemTime::UNIX_EPOCH));
        let rendered = Arc::new(Rendered::new(
            &snapshot,
            None,
            (StatusSeries::Current, Product::Vm),
            &Openings::new(None, "vm"),
            None,
        ));
        let gz = body(&rendered, true, b"", true);
        let plain = body(&rendered, true, b"", false).to_vec();
        assert_eq!(gunzip(&gz.to_vec()), plain);
        assert!(
            gz.len() * 5 < plain.len(),
            "{} vs {}",
            gz.len(),
            plain.len()
        );
    }
}
