//! What one account serves of one product: the pair of snapshots served together (the latest status snapshot and
//! the latest metadata snapshot), rendered into one `Rendered` whenever either changes, so every scrape sees one
//! consistent pair; bare metal's hardware health and maintenance, each rendered apart when its poll publishes
//! (`side`); and its own poll and API metrics, rendered when they change. It also tells which instances
//! the status poll sees that the metadata does not know yet, for the metadata poller to look up. `scrape`
//! joins what several accounts serve into one scrape; `sd` answers service discovery from the same pairs; the
//! landing page reads the snapshots served (and the counts per status the rendering made).

use std::sync::{Arc, Mutex};

use crate::hardware::Servers;
use crate::maintenance::Windows;
use crate::metadata::{Metadata, TagLabels};
mod deflate;
pub mod families;
pub mod gzip;
pub mod health;
pub mod render;
pub mod scrape;
pub mod sd;
pub mod side;

use crate::names::AccountName;
use crate::status::snapshot::Snapshot;
use crate::store::Store;
use crate::telemetry::AccountMetrics;
use crate::text::Openings;
use crate::zenlayer::model::InstanceId;
use crate::zenlayer::product::Product;
use health::HealthCache;
use render::{Rendered, StatusSeries};
use scrape::Contribution;
use side::{Kind, SIDES, Side};

#[derive(Default)]
struct Latest {
    status: Option<Arc<Snapshot>>,
    metadata: Option<Arc<Metadata>>,
}

pub struct Exposition {
    /// Held while rendering, so a render of older inputs never replaces a newer one.
    latest: Mutex<Latest>,
    rendered: Store<Rendered>,
    series: render::Series,
    tags: Arc<TagLabels>,
    /// What opens every label set: `account="NAME",product="…",` when several accounts are served, and
    /// without the account for `/probe` or the only account.
    openings: Openings,
    health: HealthCache,
    /// Bare metal's hardware health and maintenance as rendered, in the order of [`SIDES`]; each replaced whole
    /// by its own poll, apart from the instance families.
    sides: [Store<Side>; SIDES.len()],
    /// The snapshots behind the sides, as published: what the landing page lists.
    servers: Store<Servers>,
    windows: Store<Windows>,
}

impl Exposition {
    /// What the account named `account` serves of `product` (`None`: the only account, served without an
    /// `account` label).
    pub fn new(
        mode: StatusSeries,
        tags: Arc<TagLabels>,
        metrics: AccountMetrics,
        account: Option<AccountName>,
        product: Product,
    ) -> Self {
        Exposition {
            latest: Mutex::new(Latest::default()),
            rendered: Store::default(),
            series: (mode, product),
            tags,
            openings: Openings::new(account.as_deref(), product.as_str()),
            health: HealthCache::new(metrics, account),
            sides: Default::default(),
            servers: Store::default(),
            windows: Store::default(),
        }
    }

    /// Serves a new hardware health snapshot.
    pub fn hardware(&self, servers: Arc<Servers>) {
        let side = Side::hardware(servers.clone(), self.series.0, &self.openings);
        self.side(Kind::Hardware).publish(Arc::new(side));
        self.servers.publish(servers);
    }

    /// Serves a new maintenance snapshot.
    pub fn maintenance(&self, windows: Arc<Windows>) {
        let side = Side::maintenance(windows.clone(), &self.openings);
        self.side(Kind::Maintenance).publish(Arc::new(side));
        self.windows.publish(windows);
    }

    /// The hardware health snapshot served now; `None` before the first health poll succeeded.
    pub fn servers(&self) -> Option<Arc<Servers>> {
        self.servers.load()
    }

    /// The maintenance snapshot served now; `None` before the first maintenance poll succeeded.
    pub fn windows(&self) -> Option<Arc<Windows>> {
        self.windows.load()
    }

    /// The side of `kind` served now.
    pub fn side(&self, kind: Kind) -> &Store<Side> {
        &self.sides[kind as usize]
    }

    /// Serves a new status snapshot. Returns the ids it holds that the metadata lacks (none before the first
    /// metadata poll has succeeded: that poll brings them all).
    pub fn status(&self, snapshot: Arc<Snapshot>) -> Vec<InstanceId> {
        let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        latest.status = Some(snapshot.clone());
        self.render(&latest);
        match &latest.metadata {
            None => Vec::new(),
            Some(metadata) => metadata
                .unknown(snapshot.instances().iter().map(|i| &*i.id))
                .into_iter()
                .map(InstanceId::from)
                .collect(),
        }
    }

    /// Serves a status snapshot and the metadata from the same walk at once (bare metal's one walk gives both).
    pub fn both(&self, snapshot: Arc<Snapshot>, metadata: Option<Arc<Metadata>>) {
        let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        latest.status = Some(snapshot);
        if metadata.is_some() {
            latest.metadata = metadata;
        }
        self.render(&latest);
    }

    /// Serves a new metadata snapshot (with the status snapshot already served, if any).
    pub fn metadata(&self, metadata: Arc<Metadata>) {
        let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        latest.metadata = Some(metadata);
        self.render(&latest);
    }

    /// The instance families served now; `None` before the first successful status poll.
    pub fn rendered(&self) -> Option<Arc<Rendered>> {
        self.rendered.load()
    }

    /// Everything the account adds to a scrape now, its self-metrics `labeled` with its name or not.
    pub fn contribution(&self, labeled: bool) -> Contribution {
        Contribution {
            rendered: self.rendered(),
            health: self.health.get(labeled),
            sides: std::array::from_fn(|i| self.sides[i].load()),
        }
    }

    fn render(&self, latest: &Latest) {
        // Nothing is served before the first successful status poll: no instance series at all, not invented ones.
        if let Some(status) = &latest.status {
            let metadata = latest.metadata.as_ref().map(|m| (m, &self.tags));
            let previous = self.rendered.load();
            let rendered = Rendered::new(
                status,
                metadata,
                self.series,
                &self.openings,
                previous.as_deref(),
            );
            drop(previous);
            self.rendered.publish(Arc::new(rendered));
        }
    }
}
