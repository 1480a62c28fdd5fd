//! One account, each of its products read by its polls: the unit the exporter runs once per account. An
//! [`Account`] owns its API client (credentials, retries) and its budget of calls, shared by its products; and
//! per product ([`Part`]) a status poll (and a metadata poll, unless the status poll's rows carry the metadata;
//! for bare metal, its hardware health and maintenance polls), that product's own poll and API metrics, and what
//! it serves. Nothing in it is shared with another account but what costs little isolation (the HTTP connection
//! pool, the interner of label values, the process's gate of calls in flight, of which an account holds at most
//! its budget: 64 accounts hanging at once, at the defaults, before a call of another waits), so one failing,
//! throttled or slow account does not delay another; a product the account may not read fails that product's
//! polls alone. [`set`] keeps the accounts this replica polls, and takes up a changed accounts
//! file.

pub mod set;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::config::Config;
use crate::exposition::Exposition;
use crate::hardware::poll::HealthPoll;
use crate::maintenance::poll::MaintenancePoll;
use crate::metadata::poll::MetadataPoll;
use crate::metadata::rows::InRows;
use crate::names::AccountName;
use crate::poll::budget::{Budget, Lane};
use crate::poll::{Kind, Pacing, PageSettings, PollLog, PollReport, Poller, Publish};
use crate::status::poll::{Polled, StatusAction, StatusPoll, StatusRows};
use crate::status::snapshot::Snapshot;
use crate::store::{Mailbox, Store};
use crate::telemetry::AccountMetrics;
use crate::zenlayer::client::Auth;
use crate::zenlayer::declaration::{self, Declaration, Statuses};
use crate::zenlayer::model::InstanceId;
use crate::zenlayer::operations::{MAINTENANCE_SERVICE, MAINTENANCE_VERSION};
use crate::zenlayer::product::Product;
use crate::zenlayer::{CallSettings, Client, Endpoint, Service};

/// Why an account could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot build the API client: {0}")]
    Client(#[from] crate::zenlayer::client::BuildError),
}

/// One running account.
pub struct Account {
    /// `None` for the only account of an exporter without an accounts file: its series have no `account` label.
    pub name: Option<AccountName>,
    pub client: Arc<Client>,
    /// What it serves of each product it reads, in the order of [`Product::ALL`].
    pub parts: Vec<Part>,
    /// A child of the process's shutdown: cancelled by [`Account::stop`] or with the whole process.
    stop: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// What an account serves of one product.
pub struct Part {
    pub product: Product,
    pub exposition: Arc<Exposition>,
    /// The latest status poll's report (the first of `polls`): readiness waits for it.
    pub reports: Arc<Store<PollReport>>,
    /// Every poll of the product as the landing page lists them, each with its latest report: `status`, then
    /// `metadata`, `hardware health` and `maintenance` where they run.
    pub polls: Vec<PollLog>,
    /// Whether a metadata poll has finished, successfully or not (set from the start when the status poll's rows
    /// carry the metadata): `/sd` waits for it, rather than answer without this product's targets.
    pub metadata_polled: Arc<AtomicBool>,
}

/// The polls of a product as the landing page names them, and what each finds.
const STATUS: Kind = Kind::new("status", "instances");
const METADATA: Kind = Kind::new("metadata", "instances");
const HARDWARE: Kind = Kind::new("hardware health", "servers");
const MAINTENANCE: Kind = Kind::new("maintenance", "windows");

/// What the polls of one product of an account share.
struct PartPolls<'a> {
    product: Product,
    pages: PageSettings,
    metrics: &'a AccountMetrics,
}

/// What every product's polls of one account share.
struct Shared<'a> {
    config: &'a Config,
    client: &'a Arc<Client>,
    budget: &'a Arc<Budget>,
    name: Option<&'a AccountName>,
    until: &'a CancellationToken,
    span: &'a tracing::Span,
}

impl Shared<'_> {
    fn pacing(&self, interval: Duration) -> Pacing {
        Pacing {
            interval,
            timeout: self.config.poll_timeout,
            phase: phase(self.name, interval),
        }
    }

    /// Runs `poller` until the account stops, its log lines in the account's span; lists it in `polls` as
    /// `kind`.
    fn spawn<S: crate::poll::Source + Sync>(
        &self,
        kind: Kind,
        poller: Poller<S>,
        polls: &mut Vec<PollLog>,
    ) -> JoinHandle<()> {
        polls.push(poller.log(kind));
        let until = self.until.clone().cancelled_owned();
        tokio::spawn(poller.run(until).instrument(self.span.clone()))
    }

    /// Runs `product`'s status poll of `rows` through `lane`, each snapshot to `publish`, listed first in `polls`.
    fn status<R: StatusRows>(
        &self,
        part: &PartPolls,
        rows: R,
        lane: Lane,
        publish: Publish<Polled<R::Extra>>,
        polls: &mut Vec<PollLog>,
    ) -> JoinHandle<()> {
        let source = StatusPoll::new(rows, part.product, lane, part.pages, part.metrics.clone());
        let pacing = self.pacing(self.config.poll_interval);
        let poller = Poller::new(source, pacing, part.metrics.clone(), publish);
        self.spawn(STATUS, poller, polls)
    }

    /// Starts the polls of `product`: its part, and their tasks pushed onto `tasks`.
    fn start(&self, product: Product, tasks: &mut Vec<JoinHandle<()>>) -> Result<Part, StartError> {
        let config = self.config;
        let declared = declaration::of(product);
        let metrics = AccountMetrics::new(product);
        let service = self.client.service(
            config.api_services.get(product),
            config.api_versions.get(product),
            metrics.clone(),
        )?;
        let exposition = Arc::new(Exposition::new(
            config.status_series,
            config.tag_labels.clone(),
            metrics.clone(),
            self.name.cloned(),
            product,
        ));
        let mut polls = Vec::new();
        let pages = PageSettings {
            page_size: config.page_size,
            concurrency: config.page_concurrency,
        };
        let service = Arc::new(service);
        let (status_lane, metadata_lane) = self.budget.lanes(self.client.clone(), service.clone());
        let metadata_on = config.metadata_interval.is_some();
        let metadata_polled = Arc::new(AtomicBool::new(false));
        // The status snapshot served: which servers the hardware health poll asks about.
        let served: Arc<Store<Snapshot>> = Arc::default();
        let part = PartPolls {
            product,
            pages,
            metrics: &metrics,
        };
        match declared.statuses {
            Statuses::Action(action) => {
                // New instances the metadata does not know yet, from each status poll to the metadata poller. The
                // latest round is enough: each status poll sends whatever is still missing.
                let unknown: Arc<Mailbox<Vec<InstanceId>>> = Arc::default();
                let publish: Publish<_> = {
                    let exposition = exposition.clone();
                    let served = served.clone();
                    let unknown = unknown.clone();
                    Arc::new(move |polled: Arc<Polled<()>>| {
                        served.publish(polled.status.clone());
                        let ids = exposition.status(polled.status.clone());
                        if metadata_on && !ids.is_empty() {
                            unknown.put(ids);
                        }
                    })
                };
                let rows = StatusAction(action);
                tasks.push(self.status(&part, rows, status_lane, publish, &mut polls));
                if let Some(interval) = config.metadata_interval {
                    let publish: Publish<_> = {
                        let exposition = exposition.clone();
                        Arc::new(move |metadata| exposition.metadata(metadata))
                    };
                    let source = MetadataPoll::new(
                        (declared.metadata_action, declared.rows),
                        metadata_lane,
                        pages,
                        config.poll_timeout,
                        config.tag_labels.clone(),
                        unknown,
                        metadata_polled.clone(),
                    );
                    let poller =
                        Poller::new(source, self.pacing(interval), metrics.clone(), publish);
                    tasks.push(self.spawn(METADATA, poller, &mut polls));
                }
            }
            Statuses::InRows => {
                metadata_polled.store(true, Ordering::Relaxed);
                let rows = InRows::new(
                    (declared.metadata_action, declared.rows),
                    metadata_on.then(|| config.tag_labels.clone()),
                );
                let publish: Publish<_> = {
                    let exposition = exposition.clone();
                    let served = served.clone();
                    Arc::new(move |polled: Arc<Polled<_>>| {
                        served.publish(polled.status.clone());
                        exposition.both(polled.status.clone(), polled.extra.clone())
                    })
                };
                tasks.push(self.status(&part, rows, status_lane, publish, &mut polls));
            }
        }
        let operations = self.operations(&part, declared, &service, &served, &exposition)?;
        tasks.extend(operations.0);
        polls.extend(operations.1);
        // The status poll is started first in either case.
        let reports = polls[0].reports.clone();
        Ok(Part {
            product,
            exposition,
            reports,
            polls,
            metadata_polled,
        })
    }
}

impl Shared<'_> {
    /// Starts the hardware health and maintenance polls of the product `declared`, where it has them and they
    /// are on: health through the product's `service`, of the servers `served` lists; maintenance through the
    /// maintenance service. Both behind the status calls, both publishing to `exposition`. Returns their tasks
    /// and how the landing page lists them.
    fn operations(
        &self,
        part: &PartPolls,
        declared: &Declaration,
        service: &Arc<Service>,
        served: &Arc<Store<Snapshot>>,
        exposition: &Arc<Exposition>,
    ) -> Result<(Vec<JoinHandle<()>>, Vec<PollLog>), StartError> {
        let config = self.config;
        let (mut tasks, mut polls) = (Vec::new(), Vec::new());
        if let (Some(action), Some(interval)) = (declared.health_action, config.health_interval) {
            let lane = self
                .budget
                .behind_status(self.client.clone(), service.clone());
            let source = HealthPoll::new(
                action,
                lane,
                served.clone(),
                part.pages.concurrency,
                part.metrics.clone(),
            );
            let publish: Publish<_> = {
                let exposition = exposition.clone();
                Arc::new(move |servers| exposition.hardware(servers))
            };
            let poller = Poller::new(source, self.pacing(interval), part.metrics.clone(), publish);
            tasks.push(self.spawn(HARDWARE, poller, &mut polls));
        }
        if let (Some(feed), Some(interval)) = (declared.maintenance, config.maintenance_interval) {
            let service = self.client.service(
                MAINTENANCE_SERVICE,
                MAINTENANCE_VERSION,
                part.metrics.clone(),
            )?;
            let lane = self
                .budget
                .behind_status(self.client.clone(), Arc::new(service));
            let source = MaintenancePoll::new(lane, feed, served.clone(), part.metrics.clone());
            let publish: Publish<_> = {
                let exposition = exposition.clone();
                Arc::new(move |windows| exposition.maintenance(windows))
            };
            let poller = Poller::new(source, self.pacing(interval), part.metrics.clone(), publish);
            tasks.push(self.spawn(MAINTENANCE, poller, &mut polls));
        }
        Ok((tasks, polls))
    }
}

impl Account {
    /// Starts polling `products` of the account `name` at `endpoint` with the shared settings of `config`,
    /// until [`Account::stop`] or `shutdown`. Its log lines carry its name.
    pub fn start(
        name: Option<AccountName>,
        endpoint: Endpoint,
        products: &[Product],
        config: &Config,
        shutdown: &CancellationToken,
    ) -> Result<Arc<Account>, StartError> {
        let settings = CallSettings {
            request_timeout: config.request_timeout,
            max_retries: config.max_retries,
            backoff_base: config.retry_backoff_base,
            total_concurrency: config.total_concurrency,
        };
        let client = Arc::new(Client::new(endpoint, settings)?);
        let stop = shutdown.child_token();
        let span = match &name {
            Some(name) => tracing::info_span!("account", account = %name),
            None => tracing::Span::none(),
        };
        let budget = Budget::new(config.page_concurrency, products.len());
        let shared = Shared {
            config,
            client: &client,
            budget: &budget,
            name: name.as_ref(),
            until: &stop,
            span: &span,
        };
        let mut tasks = Vec::new();
        let parts = Product::ALL
            .iter()
            .filter(|p| products.contains(p))
            .map(|product| shared.start(*product, &mut tasks))
            .collect::<Result<Vec<Part>, StartError>>();
        let parts = match parts {
            Ok(parts) => parts,
            Err(error) => {
                stop.cancel();
                return Err(error);
            }
        };
        Ok(Arc::new(Account {
            name,
            client,
            parts,
            stop,
            tasks: Mutex::new(tasks),
        }))
    }

    /// The products it reads.
    pub fn products(&self) -> impl Iterator<Item = Product> + '_ {
        self.parts.iter().map(|p| p.product)
    }

    /// Stops its polls (a poll in progress is abandoned); what it served goes when the last handle on it does.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Waits for its polls to end, after [`Account::stop`] or the shutdown.
    pub async fn stopped(&self) {
        let tasks: Vec<_> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for task in tasks {
            let _ = task.await;
        }
    }

    /// Where and as whom the account calls the API now (its client holds the credentials, once): what a
    /// reloaded accounts file is compared with.
    pub fn endpoint(&self) -> Endpoint {
        self.client.endpoint()
    }

    /// Puts new credentials in use: the next API call is signed with them.
    pub fn replace_auth(&self, auth: Auth) {
        self.client.replace_auth(auth);
    }

    /// The name shown on the landing page and in logs.
    pub fn shown_name(&self) -> &str {
        self.name.as_deref().unwrap_or("(the only account)")
    }
}

/// Where in `interval` a named account's polls fall after its first: one of [`SLOTS`] evenly spaced slots, taken
/// from the name, so a restart keeps each account's rhythm. Slots rather than a point each: the accounts of a slot
/// poll together and share the runtime's wake-ups (spread evenly, a thousand accounts cost twice the CPU in
/// threads parking and waking), while each slot is a quarter of the accounts, of the connections and of the
/// renders at once. The only account has none.
fn phase(name: Option<&AccountName>, interval: Duration) -> Duration {
    let Some(name) = name else {
        return Duration::ZERO;
    };
    // FNV-1a's bits hardly depend on the last bytes (account-1, account-2, ...): MurmurHash3's finaliser mixes
    // every bit into every other first.
    let mut hash = name.stable_hash();
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^= hash >> 33;
    interval.mul_f64((hash % SLOTS) as f64 / SLOTS as f64)
}

/// How many groups the named accounts' polls are spread over.
const SLOTS: u64 = 4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_accounts_spread_over_the_interval_and_keep_their_place() {
        let interval = Duration::from_secs(30);
        assert_eq!(phase(None, interval), Duration::ZERO);
        let phases: Vec<Duration> = (0..1000)
            .map(|i| phase(AccountName::new(&format!("account-{i}")).as_ref(), interval))
            .collect();
        assert!(phases.iter().all(|p| *p < interval));
        // Spread: each slot holds about its share of a thousand accounts.
        let mut slots = [0; SLOTS as usize];
        for p in &phases {
            slots[(p.as_secs_f64() / (30.0 / SLOTS as f64)).round() as usize] += 1;
        }
        assert!(slots.iter().all(|n| (180..320).contains(n)), "{slots:?}");
        assert_eq!(
            phase(AccountName::new("account-7").as_ref(), interval),
            phases[7]
        );
    }
}
