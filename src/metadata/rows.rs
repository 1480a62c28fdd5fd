//! Statuses and metadata from one walk, for a product whose `DescribeInstances` rows carry the status and that
//! has no status-only action (bare metal): the status poll walks that action every interval and publishes both
//! snapshots together, so there is no second walk of the same rows and no metadata poll. A row sent again as the
//! last walk read it is not decoded: its metadata is that walk's, and its status that walk's snapshot's.

use std::sync::Arc;

use crate::metadata::poll::snapshot;
use crate::metadata::row::decoded;
use crate::metadata::{Interner, Metadata, TagLabels};
use crate::poll::PollError;
use crate::poll::paging::{Paging, Walk};
use crate::status::poll::{StatusRows, Walked};
use crate::status::snapshot::{Instance, Snapshot};
use crate::zenlayer::model::InstanceInfo;
use crate::zenlayer::rows::{DecodeRow, converting};

/// The status poll's rows of such a product, and the metadata they gave last time.
pub struct InRows {
    action: &'static str,
    rows: DecodeRow,
    /// The tag allow-list; `None` when the metadata is off (`ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS=0`):
    /// then only the statuses are kept.
    tags: Option<Arc<TagLabels>>,
    /// The metadata of the last walk kept: the status poll's previous snapshot came from the same walk, so a row
    /// known from it takes its status from that snapshot.
    current: Option<Arc<Metadata>>,
    /// The metadata of the last walk, until its snapshot is kept ([`StatusRows::kept`]).
    walked: Option<Arc<Metadata>>,
}

impl InRows {
    /// The rows of `action` read by `rows` (the product's declaration says both).
    pub fn new((action, rows): (&'static str, DecodeRow), tags: Option<Arc<TagLabels>>) -> InRows {
        InRows {
            action,
            rows,
            tags,
            current: None,
            walked: None,
        }
    }
}

/// Splits a row into its status and what else it says; a row without a status is in neither (the declared row
/// type of such a product requires one, so a page without it fails as `decode`).
fn split(mut row: InstanceInfo<'_>) -> Option<(Instance, InstanceInfo<'_>)> {
    let status = row.instance_status.take()?;
    let instance = Instance {
        id: row.instance_id.clone(),
        status,
    };
    Some((instance, row))
}

impl StatusRows for InRows {
    type Extra = Metadata;

    fn action(&self) -> &'static str {
        self.action
    }

    /// A row sent again as the last kept walk read it is known by its text, with the status `statuses` (that
    /// walk's snapshot) holds for it.
    async fn walk(
        &mut self,
        paging: Paging<'_>,
        statuses: Option<&Snapshot>,
    ) -> Result<Walked<Metadata>, PollError> {
        // A walk whose snapshot was never kept is forgotten now, not held until the next one's ends.
        self.walked = None;
        let Some(tags) = self.tags.clone() else {
            let read = converting(
                self.rows,
                |_, _| None,
                |row, _| split(row).map(|(instance, _)| instance),
            );
            let walk = paging.walk(&read).await?;
            return Ok((
                flattened(walk, |rows| rows.into_iter().flatten().collect()),
                None,
            ));
        };
        let previous = self.current.clone();
        let known = previous.as_deref().map(Metadata::known).unwrap_or_default();
        let read = converting(
            self.rows,
            |fingerprint, text| {
                let kept = known.get(fingerprint, text)?;
                let status = statuses?.get(&kept.id)?.clone();
                let instance = Instance {
                    id: kept.id.clone(),
                    status,
                };
                Some(Some((instance, kept.clone())))
            },
            |row, fingerprint| {
                let (instance, info) = split(row)?;
                let meta = decoded(
                    info,
                    fingerprint,
                    previous.as_deref(),
                    &tags,
                    Interner::shared(),
                );
                Some((instance, meta))
            },
        );
        let walk = paging.walk(&read).await?;
        // They borrow `previous`, which the snapshot takes next.
        drop(read);
        drop(known);
        let shifted = walk.total_changed || walk.rows.len() as u64 != walk.first_total;
        let mut metas = Vec::with_capacity(walk.rows.len());
        let walk = flattened(walk, |rows| {
            rows.into_iter()
                .flatten()
                .map(|(instance, meta)| {
                    metas.push(meta);
                    instance
                })
                .collect()
        });
        let metadata = snapshot(metas, shifted, previous).await?;
        self.walked = Some(metadata.clone());
        Ok((walk, Some(metadata)))
    }

    fn kept(&mut self) {
        if let Some(walked) = self.walked.take() {
            self.current = Some(walked);
        }
    }
}

/// The walk with its rows turned into statuses by `rows`, its counts kept.
fn flattened<R>(walk: Walk<R>, rows: impl FnOnce(Vec<R>) -> Vec<Instance>) -> Walk<Instance> {
    Walk {
        rows: rows(walk.rows),
        first_total: walk.first_total,
        total_changed: walk.total_changed,
        pages: walk.pages,
    }
}
