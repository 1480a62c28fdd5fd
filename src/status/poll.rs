//! The status poll of one product as a [`Source`]: page through its statuses ([`StatusRows`]: its
//! `DescribeInstancesStatus`, or rows that carry more, as bare metal's `DescribeInstances`), reconcile them with
//! the previous snapshot, and say how the poll went (`zenlayer_up`; the landing page's report is the loop's,
//! like every poll's). The loop that runs it is `poll`'s; it knows nothing of HTTP serving or of the exposition
//! format.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::poll::budget::Lane;
use crate::poll::paging::{Paging, Walk};
use crate::poll::{PageSettings, PollError, Source};
use crate::status::snapshot::{Instance, Snapshot};
use crate::telemetry::AccountMetrics;
use crate::zenlayer::error::{ApiError, ErrorKind};
use crate::zenlayer::model::InstanceId;
use crate::zenlayer::page::decode_statuses;
use crate::zenlayer::product::Product;

/// A walk's statuses, and what else its rows gave.
pub type Walked<E> = (Walk<Instance>, Option<Arc<E>>);

/// Which rows a status poll walks, and what else they give.
pub trait StatusRows: Send + Sync + 'static {
    /// What the same rows give beside the statuses (bare metal's metadata), published with them.
    type Extra: Send + Sync + 'static;

    /// The action walked: the `action` label of the poll's metrics.
    fn action(&self) -> &'static str;

    /// Walks every page of [`StatusRows::action`] with `paging`: the statuses, and what else the rows gave.
    /// `previous` is the snapshot built from the walk this source last [kept](StatusRows::kept), if any.
    fn walk(
        &mut self,
        paging: Paging<'_>,
        previous: Option<&Snapshot>,
    ) -> impl Future<Output = Result<Walked<Self::Extra>, PollError>> + Send;

    /// The last walk's snapshot was built, and is the `previous` of the next walk: what else that walk gave is
    /// what the next one reads against. A walk whose snapshot was never built (the poll failed, or its deadline
    /// cancelled it after the walk) is not kept, so a source's own state and `previous` always come from the same
    /// walk.
    fn kept(&mut self) {}
}

/// A status-only action (`DescribeInstancesStatus` of VM and ZEC): the statuses alone, each decoded straight into
/// the snapshot's form.
pub struct StatusAction(pub &'static str);

impl StatusRows for StatusAction {
    type Extra = ();

    fn action(&self) -> &'static str {
        self.0
    }

    async fn walk(
        &mut self,
        paging: Paging<'_>,
        _: Option<&Snapshot>,
    ) -> Result<(Walk<Instance>, Option<Arc<()>>), PollError> {
        let read = |body: &[u8]| {
            Ok(decode_statuses(body)?.map(|row| Instance {
                id: row.instance_id,
                status: row.instance_status,
            }))
        };
        let walk = paging.walk(&read).await?;
        Ok((walk, None))
    }
}

/// What a status poll publishes: the snapshot, and what the same rows gave beside it (for bare metal, the
/// metadata; `None` for a status-only action), so both are served from one walk at once.
pub struct Polled<E> {
    pub status: Arc<Snapshot>,
    pub extra: Option<Arc<E>>,
}

/// The status poll of one product and the state it carries from one poll to the next.
pub struct StatusPoll<R: StatusRows> {
    rows: R,
    product: Product,
    lane: Lane,
    pages: PageSettings,
    metrics: AccountMetrics,
    previous: Option<Arc<Snapshot>>,
    /// Ids carried over from the previous snapshot by the last poll; never carried twice in a row.
    carried: HashSet<InstanceId>,
    /// Why the API refused the last poll, if it did (credentials or a security policy): said once per run.
    refused: Option<ErrorKind>,
    /// Whether the last poll's count differed from its `totalCount`: a fleet that churns through every poll is
    /// worth one warning, not one a poll.
    differed: bool,
}

/// A snapshot, the ids it carried over from the previous one, and how the walk disagreed with its own count.
struct Built {
    snapshot: Arc<Snapshot>,
    carried: HashSet<InstanceId>,
    differs: Option<Differs>,
}

/// A walk whose rows do not add up to its `totalCount`: the fleet changed while pages were read.
#[derive(Debug)]
struct Differs {
    total_count: u64,
    seen: u64,
    repeats: usize,
    total_changed: bool,
    carried_over: usize,
    pages: u32,
}

/// Builds the snapshot of a walk. Paging is by offset, so an instance created or deleted during the walk shifts
/// the rows behind it: one may be read twice, another not at all. A changed totalCount or a repeated row is the
/// evidence; then an instance the previous poll saw and this walk missed may have been skipped by a shift rather
/// than deleted, so it keeps its last status for one poll instead of losing its series (which would reset every
/// `for:` clock of alerts on it). The next walk settles it; nothing is carried twice in a row.
fn reconcile(
    walk: Walk<Instance>,
    previous: Option<&Snapshot>,
    carried_before: &HashSet<InstanceId>,
) -> Built {
    let taken_at = SystemTime::now();
    let (mut snapshot, repeats) = Snapshot::from_rows(walk.rows, taken_at);
    let seen = snapshot.instances().len() as u64;
    let shifted = walk.total_changed || repeats > 0;
    let mut carried = HashSet::new();
    if let (true, Some(previous)) = (shifted, previous) {
        let missing: Vec<Instance> = previous
            .instances()
            .iter()
            .filter(|i| snapshot.get(&i.id).is_none() && !carried_before.contains(&i.id))
            .cloned()
            .collect();
        if !missing.is_empty() {
            carried = missing.iter().map(|i| i.id.clone()).collect();
            let mut rows = snapshot.into_instances();
            rows.extend(missing);
            snapshot = Snapshot::from_rows(rows, taken_at).0;
        }
    }
    let differs = (shifted || seen != walk.first_total).then_some(Differs {
        total_count: walk.first_total,
        seen,
        repeats,
        total_changed: walk.total_changed,
        carried_over: carried.len(),
        pages: walk.pages,
    });
    Built {
        snapshot: Arc::new(snapshot),
        carried,
        differs,
    }
}

impl<R: StatusRows> StatusPoll<R> {
    /// The poll of `product`'s statuses from `rows`.
    pub fn new(
        rows: R,
        product: Product,
        lane: Lane,
        pages: PageSettings,
        metrics: AccountMetrics,
    ) -> Self {
        StatusPoll {
            rows,
            product,
            lane,
            pages,
            metrics,
            previous: None,
            carried: HashSet::new(),
            refused: None,
            differed: false,
        }
    }

    /// Walks every page and builds the snapshot, remembered for the next poll's reconciliation; publishes nothing.
    pub async fn poll_once(&mut self) -> Result<Polled<R::Extra>, PollError> {
        let paging = Paging {
            lane: &self.lane,
            action: self.rows.action(),
            instance_ids: Vec::new(),
            page_size: self.pages.page_size,
            concurrency: self.pages.concurrency,
        };
        let (walk, extra) = self.rows.walk(paging, self.previous.as_deref()).await?;
        let previous = self.previous.clone();
        let carried_before = std::mem::take(&mut self.carried);
        // Sorting and reconciling a large fleet takes a while: keep it off the threads that answer scrapes.
        // Reconciling walks the previous snapshot too.
        let rows = walk
            .rows
            .len()
            .max(previous.as_ref().map_or(0, |p| p.instances().len()));
        let built = crate::poll::off_runtime(rows, move || {
            reconcile(walk, previous.as_deref(), &carried_before)
        })
        .await
        .map_err(|e| PollError::Internal {
            detail: format!("building the snapshot failed: {e}"),
        })?;
        self.carried = built.carried;
        self.previous = Some(built.snapshot.clone());
        self.rows.kept();
        let differs = built.differs.is_some();
        match (built.differs, self.differed) {
            (Some(d), false) => tracing::warn!(
                total_count = d.total_count,
                seen = d.seen,
                repeats = d.repeats,
                total_changed = d.total_changed,
                carried_over = d.carried_over,
                pages = d.pages,
                "instance count differs from totalCount: the fleet changed while pages were read"
            ),
            (Some(d), true) => tracing::debug!(?d, "instance count differs from totalCount again"),
            (None, true) => tracing::info!("instance count matches totalCount again"),
            (None, false) => {}
        }
        self.differed = differs;
        Ok(Polled {
            status: built.snapshot,
            extra,
        })
    }
}

impl<R: StatusRows> Source for StatusPoll<R> {
    type Snapshot = Polled<R::Extra>;
    type Between = std::convert::Infallible;
    const NAME: &'static str = "poll";
    const KEPT: &'static str = "serving the previous snapshot";

    fn action(&self) -> &'static str {
        self.rows.action()
    }

    async fn poll(&mut self) -> Result<Arc<Polled<R::Extra>>, PollError> {
        self.poll_once().await.map(Arc::new)
    }

    fn len(polled: &Polled<R::Extra>) -> usize {
        polled.status.instances().len()
    }

    /// `zenlayer_up` follows the status poll alone.
    fn finished(&mut self, outcome: Result<(), &PollError>, _duration: Duration) {
        self.metrics.set_up(outcome.is_ok());
        self.lane.status_polled();
        // A refusal is said once per run of them, with what to do: an account not allowed a product is refused
        // every poll, and one line every interval would bury the rest.
        let refused = outcome.err().and_then(|e| e.api().1).map(ApiError::kind);
        if refused.is_some() && refused != self.refused {
            let product = self.product;
            match refused {
                Some(ErrorKind::Auth) => tracing::warn!(
                    %product,
                    "the API refused this product's calls: if the account has no {product} instances (or the key \
                     may not read them), remove {product} from ZENLAYER_EXPORTER_PRODUCTS or the account's \
                     products; otherwise check the access key (or token) and its permissions"
                ),
                Some(ErrorKind::Blocked) => tracing::warn!(
                    %product,
                    "a security policy in front of the API blocked the call (a CDN challenge or HTTP 451), not the \
                     credentials: check the network path (proxy, egress address); rotating the key will not help"
                ),
                _ => {}
            }
        }
        // A run of refusals ends with a success: another failure in between (a timeout) does not start a new one.
        match (outcome, refused) {
            (Ok(()), _) => self.refused = None,
            (Err(_), Some(kind @ (ErrorKind::Auth | ErrorKind::Blocked))) => {
                self.refused = Some(kind)
            }
            (Err(_), _) => {}
        }
    }
}
