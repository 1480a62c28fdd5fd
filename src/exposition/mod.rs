//! The pair of snapshots served together: the latest status snapshot and the latest metadata snapshot, rendered
//! into one `Rendered` whenever either changes, so every scrape sees one consistent pair. It also tells which
//! instances the status poll sees that the metadata does not know yet, for the metadata poller to look up.

use std::sync::{Arc, Mutex};

use crate::metadata::{Metadata, TagLabels};
pub mod gzip;
pub mod render;
pub mod text;

use crate::status::snapshot::Snapshot;
use crate::store::Store;
use render::{Rendered, StatusSeries};

#[derive(Default)]
struct Latest {
    status: Option<Arc<Snapshot>>,
    metadata: Option<Arc<Metadata>>,
}

pub struct Exposition {
    /// Held while rendering, so a render of older inputs never replaces a newer one.
    latest: Mutex<Latest>,
    rendered: Arc<Store<Rendered>>,
    mode: StatusSeries,
    tags: Arc<TagLabels>,
}

impl Exposition {
    pub fn new(rendered: Arc<Store<Rendered>>, mode: StatusSeries, tags: Arc<TagLabels>) -> Self {
        Exposition {
            latest: Mutex::new(Latest::default()),
            rendered,
            mode,
            tags,
        }
    }

    /// Serves a new status snapshot. Returns the ids it holds that the metadata lacks (none before the first
    /// metadata poll has succeeded: that poll brings them all).
    pub fn status(&self, snapshot: Arc<Snapshot>) -> Vec<Box<str>> {
        let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        latest.status = Some(snapshot.clone());
        self.render(&latest);
        match &latest.metadata {
            None => Vec::new(),
            Some(metadata) => metadata
                .unknown(snapshot.instances().iter().map(|i| &*i.id))
                .into_iter()
                .map(Box::from)
                .collect(),
        }
    }

    /// Serves a new metadata snapshot (with the status snapshot already served, if any).
    pub fn metadata(&self, metadata: Arc<Metadata>) {
        let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        latest.metadata = Some(metadata);
        self.render(&latest);
    }

    fn render(&self, latest: &Latest) {
        // Nothing is served before the first successful status poll: no instance series at all, not invented ones.
        if let Some(status) = &latest.status {
            let metadata = latest.metadata.as_ref().map(|m| (m, &*self.tags));
            let previous = self.rendered.load();
            let rendered = Rendered::new(status, metadata, self.mode, previous.as_deref());
            drop(previous);
            self.rendered.publish(Arc::new(rendered));
        }
    }
}
