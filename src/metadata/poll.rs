//! The metadata poll of one product as a [`Source`]: pages through its `DescribeInstances` on its own, slower
//! interval, sharing the account's API client and budget of calls (its first walk after every product's first
//! status poll; a free call slot goes to a waiting status call first), and turns each row into the metadata
//! snapshot's form (`row`: a row sent again as the previous snapshot read it is that snapshot's row, not decoded
//! again). Between full polls it looks up the instances the status poll found that the metadata does not know
//! yet, so a new instance gets its name within one status interval, not one metadata interval. Its failures are its own: they are counted under
//! `action="DescribeInstances"` of its product and never touch the status metrics.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use std::time::SystemTime;

use crate::metadata::row::walk_reader;
use crate::metadata::{InstanceMeta, Interner, Known, Metadata, TagLabels};
use crate::poll::budget::Lane;
use crate::poll::paging::Paging;
use crate::poll::{PageSettings, PollError, Source};
use crate::store::Mailbox;
use crate::zenlayer::ApiError;
use crate::zenlayer::model::{InstanceId, MAX_INSTANCE_IDS};
use crate::zenlayer::rows::DecodeRow;

/// Most unknown instances looked up between two full polls (ten calls of 100 ids); more new instances than this
/// wait for the next status poll's round, or the next full poll.
pub const MAX_LOOKUP: usize = 1000;

/// The metadata poll of one product and what it carries between polls.
pub struct MetadataPoll {
    /// The product's metadata action and how its rows are read.
    action: &'static str,
    rows: DecodeRow,
    lane: Lane,
    pages: PageSettings,
    /// Bound on one round of lookups, as on a whole poll.
    lookup_timeout: Duration,
    tags: Arc<TagLabels>,
    current: Option<Arc<Metadata>>,
    /// Ids looked up since the last full poll: each is asked about once, unless the answer was "not found" (the
    /// batch is asked again without the deleted ones).
    asked: HashSet<InstanceId>,
    /// Instances the status poll sees that the metadata did not know, left after each status poll.
    unknown: Arc<Mailbox<Vec<InstanceId>>>,
    /// Set once a full poll has finished, successfully or not.
    polled: Arc<AtomicBool>,
}

impl MetadataPoll {
    /// The poll of `action`, its pages read by `rows` (the product's declaration says both).
    pub fn new(
        (action, rows): (&'static str, DecodeRow),
        lane: Lane,
        pages: PageSettings,
        lookup_timeout: Duration,
        tags: Arc<TagLabels>,
        unknown: Arc<Mailbox<Vec<InstanceId>>>,
        polled: Arc<AtomicBool>,
    ) -> Self {
        MetadataPoll {
            action,
            rows,
            lane,
            pages,
            lookup_timeout,
            tags,
            current: None,
            asked: HashSet::new(),
            unknown,
            polled,
        }
    }

    /// Walks every page and builds the snapshot, kept for lookups; publishes nothing.
    pub async fn poll_once(&mut self) -> Result<Arc<Metadata>, PollError> {
        let tags = self.tags.clone();
        let previous = self.current.clone();
        let known = previous.as_deref().map(Metadata::known).unwrap_or_default();
        let read = walk_reader(
            self.rows,
            (previous.as_deref(), &known),
            &tags,
            Interner::shared(),
        );
        let walk = Paging {
            lane: &self.lane,
            action: self.action,
            instance_ids: Vec::new(),
            page_size: self.pages.page_size,
            concurrency: self.pages.concurrency,
        }
        .walk(&read)
        .await?;
        // They borrow `previous`, which the snapshot takes next.
        drop(read);
        drop(known);
        let shifted = walk.total_changed || walk.rows.len() as u64 != walk.first_total;
        let metadata = snapshot(walk.rows, shifted, previous).await?;
        self.current = Some(metadata.clone());
        self.asked.clear();
        Ok(metadata)
    }

    /// Looks up the instances among `ids` that the metadata does not know and that were not asked about since
    /// the last full poll, 100 per call; the snapshot with them added, if any were found.
    pub async fn look_up(&mut self, ids: Vec<InstanceId>) -> Option<Arc<Metadata>> {
        // Before the first full poll there is nothing to add to: that poll will bring them all.
        let current = self.current.clone()?;
        let wanted: Vec<InstanceId> = ids
            .into_iter()
            .filter(|id| current.get(id).is_none() && !self.asked.contains(id))
            .take(MAX_LOOKUP)
            .collect();
        if wanted.is_empty() {
            return None;
        }
        self.asked.extend(wanted.iter().cloned());
        let tags = self.tags.clone();
        // New instances: no previous snapshot of theirs, nothing known by its text.
        let known = Known::default();
        let mut found = Vec::new();
        for chunk in wanted.chunks(MAX_INSTANCE_IDS) {
            let paging = Paging {
                lane: &self.lane,
                action: self.action,
                instance_ids: chunk.iter().map(|id| id.to_string()).collect(),
                page_size: MAX_INSTANCE_IDS as u32,
                concurrency: 1,
            };
            let read = walk_reader(self.rows, (None, &known), &tags, Interner::shared());
            let walk = tokio::time::timeout(self.lookup_timeout, paging.walk(&read))
                .await
                .unwrap_or(Err(PollError::Deadline(self.lookup_timeout)));
            match walk {
                Ok(walk) => found.extend(walk.rows),
                // Some of them were deleted between the status poll that saw them and this look-up, and the API may
                // refuse the whole batch for one: they are asked about again at the next status poll, which no
                // longer lists the deleted ones.
                Err(error) if error.api().1.is_some_and(ApiError::is_not_found) => {
                    for id in chunk {
                        self.asked.remove(id);
                    }
                    tracing::info!(
                        ids = chunk.len(),
                        "looked-up instances were not found (deleted since?); asking again after the next status poll"
                    );
                }
                Err(error) => {
                    tracing::warn!(action = self.action, ids = chunk.len(), kind = error.kind().as_str(), error = %error, "looking up new instances failed; the next metadata poll will bring them");
                    break;
                }
            }
        }
        // The answer may hold ids nobody asked for; only the asked ones are taken.
        found.retain(|m| self.asked.contains(&m.id));
        tracing::debug!(
            asked = wanted.len(),
            found = found.len(),
            "looked up instances new since the last metadata poll"
        );
        if found.is_empty() {
            return None;
        }
        let updated = Arc::new(current.with(found));
        self.current = Some(updated.clone());
        Some(updated)
    }
}

impl Source for MetadataPoll {
    type Snapshot = Metadata;
    type Between = Vec<InstanceId>;
    const NAME: &'static str = "metadata poll";
    const KEPT: &'static str = "names, zones and tags from the previous one are kept";

    fn action(&self) -> &'static str {
        self.action
    }

    async fn poll(&mut self) -> Result<Arc<Metadata>, PollError> {
        self.poll_once().await
    }

    fn len(metadata: &Metadata) -> usize {
        metadata.instances().len()
    }

    fn finished(&mut self, _: Result<(), &PollError>, _: Duration) {
        self.polled.store(true, Ordering::Relaxed);
    }

    async fn before_first_poll(&mut self) {
        self.lane.after_first_status_polls().await;
    }

    async fn next_between(&mut self) -> Vec<InstanceId> {
        // Waits for good once the status poll is gone (shutting down): nothing more will come.
        self.unknown.take().await
    }

    async fn between(&mut self, ids: Vec<InstanceId>) -> Option<Arc<Metadata>> {
        self.look_up(ids).await
    }
}

/// The snapshot of a walk's `rows`, built off the runtime's threads when it is large. Offset paging under a
/// changing fleet (`shifted`) may skip an instance: then what `previous` knew of the ones this walk missed is kept, for this
/// poll (series are only written for instances the status poll sees).
pub async fn snapshot(
    mut rows: Vec<Arc<InstanceMeta>>,
    shifted: bool,
    previous: Option<Arc<Metadata>>,
) -> Result<Arc<Metadata>, PollError> {
    crate::poll::off_runtime(rows.len(), move || {
        if let (true, Some(previous)) = (shifted, previous) {
            let seen: HashSet<&str> = rows.iter().map(|r| &*r.id).collect();
            let missed: Vec<Arc<InstanceMeta>> = previous
                .instances()
                .iter()
                .filter(|i| !seen.contains(&*i.id))
                .cloned()
                .collect();
            rows.extend(missed);
        }
        Arc::new(Metadata::new(rows, SystemTime::now()))
    })
    .await
    .map_err(|e| PollError::Internal {
        detail: format!("building the metadata snapshot failed: {e}"),
    })
}
