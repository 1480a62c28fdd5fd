//! One scrape's body: every account's rendered families joined family by family (the text format wants all of a
//! family's samples under one `HELP` and `TYPE`), then the process-wide self-metrics, plain or as one gzip member,
//! without copying or recompressing the bulk. `/metrics` joins every account, labeled; `/probe` one, unlabeled.

use std::sync::Arc;

use super::families::INSTANCE_COUNT;
use super::gzip::{self, Part};
pub use super::gzip::{Chunk, Frames};
use super::health::{self, Health};
use super::render::{FAMILIES, Rendered, Series, heads};
use super::side::{SIDES, Side};
use crate::metadata::{Metadata, TagLabels};
use crate::status::snapshot::Snapshot;
use crate::telemetry::account::FAMILIES as SELF_FAMILIES;
use crate::text::Format;

/// What one account contributes to a scrape: its instance families (none before its first successful poll)
/// and its own poll and API metrics.
pub struct Contribution {
    pub rendered: Option<Arc<Rendered>>,
    pub health: Arc<Health>,
    /// Its side families (bare metal's hardware health and maintenance), in the order of [`SIDES`]; `None`
    /// where there is none or no poll of it has succeeded yet.
    pub sides: [Option<Arc<Side>>; SIDES.len()],
}

impl Contribution {
    /// Whether its parts for `labeled` are rendered (an account's parts without its label are rendered on the
    /// first `/probe` that asks).
    pub fn parts_ready(&self, labeled: bool) -> bool {
        self.rendered
            .as_ref()
            .is_none_or(|r| r.parts_ready(labeled))
            && self.sides.iter().flatten().all(|s| s.parts_ready(labeled))
    }

    /// What renders its parts for `labeled`, to run where a long render is welcome (a blocking thread).
    pub fn prepare(&self, labeled: bool) -> impl FnOnce() + Send + 'static {
        let rendered = self.rendered.clone();
        let sides: Vec<Arc<Side>> = self.sides.iter().flatten().cloned().collect();
        move || {
            if let Some(rendered) = rendered {
                drop(rendered.parts(labeled));
            }
            for side in sides {
                side.parts(labeled);
            }
        }
    }

    /// Its part of every family, in serving order: `None` where it has none.
    fn parts(&self, labeled: bool) -> Vec<Option<&Part>> {
        let instance = self.rendered.as_deref().map(|r| r.parts(labeled));
        let mut out: Vec<Option<&Part>> = (0..INSTANCE_COUNT)
            .map(|i| instance.as_ref().and_then(|p| p.get(i).copied()))
            .collect();
        for (side, (_, families)) in self.sides.iter().zip(SIDES) {
            let parts = side.as_deref().map(|s| s.parts(labeled));
            out.extend((0..families).map(|i| parts.and_then(|p| p.get(i))));
        }
        out
    }
}

/// The body of one scrape as a list of chunks served back to back, most of them shared, not copied (or, plain,
/// inflated as they are sent).
pub struct ScrapeBody {
    pub chunks: Vec<Chunk>,
    pub gzip: bool,
}

impl ScrapeBody {
    /// Total length in bytes, as sent.
    pub fn len(&self) -> usize {
        self.chunks.iter().map(Chunk::len).sum()
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The body as sent, in one piece: for tests and small callers.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut frames = Frames::new(self.chunks.clone());
        let mut body = Vec::with_capacity(frames.remaining() as usize);
        while let Some(frame) = frames.next_frame() {
            body.extend_from_slice(&frame);
        }
        body
    }
}

/// Joins the accounts' contributions, family by family (the text format wants every family's samples
/// together, under one `HELP` and `TYPE`), then the process-wide self-metrics `tail`. `labeled` serves them
/// with their `account` label (`/metrics`) or without (`/probe`, one account). With `gzip`, the result is one
/// standard gzip member: the pre-compressed deflate blocks, then `tail` in stored (uncompressed) blocks ending
/// the stream, then the CRC of all parts combined. A scrape thus compresses nothing: the tail is a few
/// kilobytes, and setting up a compressor for it would cost more than the bytes it saves.
pub fn assemble(
    accounts: &[Contribution],
    labeled: bool,
    mut tail: Vec<u8>,
    gzip: bool,
    format: Format,
) -> ScrapeBody {
    let mut parts: Vec<&Part> = Vec::with_capacity(accounts.len() * 40 + FAMILIES);
    let family_parts: Vec<Vec<Option<&Part>>> = accounts.iter().map(|a| a.parts(labeled)).collect();
    for (i, head) in heads(format).iter().enumerate() {
        let mut family = family_parts.iter().filter_map(|p| p[i]).peekable();
        if family.peek().is_some() {
            parts.push(head);
            parts.extend(family);
        }
    }
    // Every account has the same self-metric families, in the same order.
    for i in 0..SELF_FAMILIES.len() {
        let mut family = accounts
            .iter()
            .filter_map(|a| a.health.family(i))
            .peekable();
        if family.peek().is_some() {
            parts.push(health::head(i, format));
            parts.extend(family);
        }
    }
    tail.extend_from_slice(format.end());
    let (chunks, gzip) = gzip::body(&parts, tail, gzip);
    ScrapeBody { chunks, gzip }
}

/// The instance series of one snapshot of `series.1` in the text exposition format, all families joined,
/// unlabeled.
pub fn render_instances(
    snapshot: &Arc<Snapshot>,
    metadata: Option<(&Arc<Metadata>, &Arc<TagLabels>)>,
    series: Series,
) -> Vec<u8> {
    let openings = crate::text::Openings::new(None, series.1.as_str());
    let rendered = Rendered::new(snapshot, metadata, series, &openings, None);
    let accounts = [Contribution {
        rendered: Some(Arc::new(rendered)),
        health: Arc::new(Health::default()),
        sides: Default::default(),
    }];
    assemble(&accounts, false, Vec::new(), false, Format::Text).to_vec()
}
