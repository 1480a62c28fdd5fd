//! One account read by two polls: the unit the exporter runs once per account. An [`Account`] owns its API
//! client (credentials, retries), its status poll and metadata poll, its own poll and API metrics, and what it
//! serves; nothing in it is shared with another account, so one failing, throttled or slow account never
//! delays another. [`set`] keeps the accounts this replica polls, and takes up a changed accounts file.

pub mod set;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::config::Config;
use crate::exposition::Exposition;
use crate::metadata::poll::MetadataPoll;
use crate::names::AccountName;
use crate::poll::budget::Budget;
use crate::poll::{Pacing, PageSettings, Poller, Publish};
use crate::status::poll::{PollReport, StatusPoll};
use crate::store::Store;
use crate::telemetry::AccountMetrics;
use crate::zenlayer::client::Auth;
use crate::zenlayer::product::Product;
use crate::zenlayer::{CallSettings, Client, Endpoint};

/// Why an account could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot build the API client: {0}")]
    Client(#[from] crate::zenlayer::client::BuildError),
}

/// One running account.
pub struct Account {
    /// `None` for the only account of an exporter without an accounts file: its series have no `account` label.
    pub name: Option<AccountName>,
    /// The product its polls read.
    pub product: Product,
    pub client: Arc<Client>,
    pub exposition: Arc<Exposition>,
    /// The latest status poll's outcome, for the landing page and readiness.
    pub reports: Arc<Store<PollReport>>,
    /// A child of the process's shutdown: cancelled by [`Account::stop`] or with the whole process.
    stop: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Account {
    /// Starts polling the account `name` at `endpoint` with the shared settings of `config`, until
    /// [`Account::stop`] or `shutdown`. Its log lines carry its name.
    pub fn start(
        name: Option<AccountName>,
        endpoint: Endpoint,
        config: &Config,
        shutdown: &CancellationToken,
    ) -> Result<Arc<Account>, StartError> {
        // One product today; each product of an account will be its own polls, metrics and exposition.
        let product = Product::Vm;
        let metrics = AccountMetrics::new(product)?;
        let settings = CallSettings {
            api_version: config.api_version.clone(),
            request_timeout: config.request_timeout,
            max_retries: config.max_retries,
            backoff_base: config.retry_backoff_base,
        };
        let client = Arc::new(Client::new(endpoint, settings, metrics.clone())?);
        let exposition = Arc::new(Exposition::new(
            config.status_series,
            config.tag_labels.clone(),
            metrics.clone(),
            name.clone(),
            product,
        ));
        let reports = Arc::new(Store::default());
        let stop = shutdown.child_token();
        let until = || stop.clone().cancelled_owned();
        let span = match &name {
            Some(name) => tracing::info_span!("account", account = %name),
            None => tracing::Span::none(),
        };

        // New instances the metadata does not know yet, from each status poll to the metadata poller. One round
        // in flight is enough: the next status poll sends whatever is still missing.
        let (unknown_tx, unknown_rx) = mpsc::channel::<Vec<Box<str>>>(1);
        let metadata_on = config.metadata_interval.is_some();
        let publish: Publish<_> = {
            let exposition = exposition.clone();
            Arc::new(move |snapshot| {
                let unknown = exposition.status(snapshot);
                if metadata_on && !unknown.is_empty() {
                    let _ = unknown_tx.try_send(unknown);
                }
            })
        };
        let pacing = |interval| Pacing {
            interval,
            timeout: config.poll_timeout,
            phase: phase(name.as_ref(), interval),
        };
        let pages = PageSettings {
            page_size: config.page_size,
            concurrency: config.page_concurrency,
        };
        let (status_lane, metadata_lane) = Budget::lanes(client.clone(), config.page_concurrency);
        let status = Poller::new(
            StatusPoll::new(status_lane, pages, metrics.clone(), reports.clone()),
            pacing(config.poll_interval),
            metrics.clone(),
            publish,
        );
        let mut tasks = vec![spawn(status.run(until()), span.clone())];
        if let Some(interval) = config.metadata_interval {
            let publish: Publish<_> = {
                let exposition = exposition.clone();
                Arc::new(move |metadata| exposition.metadata(metadata))
            };
            let source = MetadataPoll::new(
                metadata_lane,
                pages,
                config.poll_timeout,
                config.tag_labels.clone(),
                unknown_rx,
            );
            let metadata = Poller::new(source, pacing(interval), metrics, publish);
            tasks.push(spawn(metadata.run(until()), span));
        }
        Ok(Arc::new(Account {
            name,
            product,
            client,
            exposition,
            reports,
            stop,
            tasks: Mutex::new(tasks),
        }))
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

fn spawn(task: impl Future<Output = ()> + Send + 'static, span: tracing::Span) -> JoinHandle<()> {
    tokio::spawn(task.instrument(span))
}

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
