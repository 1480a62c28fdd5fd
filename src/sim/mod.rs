//! A simulator of the Zenlayer API's compute products (VM, ZEC, bare metal) and its maintenance service on a
//! real loopback HTTP server, for `--demo`, the `zenlayer-sim` binary, tests and benchmarks. Each account has a
//! fleet per product, each served at its product's path, and its maintenance lists. `fleet` holds and pages the
//! instances, `metadata` makes their rows, `health` bare metal's hardware health, `maintenance` the planned
//! maintenance, `api` answers one call (`auth` lets it in, `operations` answers the bare-metal operations),
//! `faults` decides what goes wrong, `control` is the JSON endpoint that drives it, `server` serves it and
//! churns the fleets; this file is the handle that starts, inspects and drives a running simulator.

pub mod api;
mod auth;
pub mod control;
pub mod faults;
pub mod fleet;
pub mod health;
pub mod maintenance;
pub mod metadata;
mod operations;
mod server;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use url::Url;

pub use api::{Answer, FleetChange, SimResponse, SimState, Timing};
pub use auth::SimCredentials;
pub use faults::{Fault, FaultPlan, FaultRule};
pub use fleet::{Fleet, SimInstance};
pub use maintenance::MaintenanceWindow;

use crate::secret::Secret;
use crate::zenlayer::Auth;
use crate::zenlayer::product::Product;
use server::{Shared, SimAccount, run};

/// How a simulator starts. Everything here can be changed later through the handle or the control endpoint.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub addr: SocketAddr,
    /// VM instances, unless `products` says otherwise.
    pub instances: usize,
    /// Instances of each product listed; a product not listed has none (VM: `instances`).
    pub products: Vec<(Product, usize)>,
    pub seed: u64,
    pub credentials: SimCredentials,
    /// Added before every answer.
    pub latency: Duration,
    /// Up to this much more, drawn afresh for every answer.
    pub jitter: Duration,
    /// Lifecycle events started per second (0: a still fleet).
    pub churn_per_second: f64,
    pub flat_envelope: bool,
    pub faults: Vec<FaultRule>,
    /// Accounts served, each its own credentials and its own fleets (seeded `seed + i`): account 0 has
    /// `credentials`, account `i` those of [`SimCredentials::account`]. The faults apply to account 0's VM.
    pub accounts: usize,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            instances: 0,
            products: Vec::new(),
            seed: 1,
            credentials: SimCredentials {
                access_key_id: "SIMAKID0000000000001".into(),
                access_key_secret: "sim-secret-0000000000000001".into(),
                token: Some("sim-token-0000000000000001".into()),
            },
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            churn_per_second: 0.0,
            flat_envelope: false,
            faults: Vec::new(),
            accounts: 1,
        }
    }
}

/// A running simulator. Dropping it stops the server, its connections and its churn.
pub struct Simulator {
    addr: SocketAddr,
    url: Url,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

impl Simulator {
    /// Binds and starts serving (and churning, if asked) in the background.
    pub async fn start(options: SimOptions) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(options.addr).await?;
        let addr = listener.local_addr()?;
        let url = Url::parse(&format!("http://{addr}")).map_err(std::io::Error::other)?;
        let epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut faults = Some(options.faults);
        let size = |product: Product| match options.products.iter().find(|(p, _)| *p == product) {
            Some((_, n)) => *n,
            None if product == Product::Vm => options.instances,
            None => 0,
        };
        let accounts = (0..options.accounts.max(1))
            .map(|i| SimAccount {
                credentials: Mutex::new(match i {
                    0 => options.credentials.clone(),
                    i => SimCredentials::account(i),
                }),
                products: Product::ALL
                    .iter()
                    .map(|&product| {
                        // Each product's fleet its own seed, so their ids differ.
                        let seed = options.seed + i as u64 + (product.index() as u64) * 1_000_003;
                        let rules = match product {
                            Product::Vm => faults.take().unwrap_or_default(),
                            _ => Vec::new(),
                        };
                        Mutex::new(SimState::new(
                            Fleet::generate(product, size(product), seed),
                            rules,
                            options.flat_envelope,
                            epoch,
                        ))
                    })
                    .collect(),
                maintenance: Mutex::new(SimState {
                    maintenance: Some(Default::default()),
                    ..SimState::new(Fleet::default(), Vec::new(), options.flat_envelope, epoch)
                }),
            })
            .collect();
        let shared = Arc::new(Shared {
            accounts,
            timing: Mutex::new(Timing {
                latency: options.latency,
                jitter: options.jitter,
                churn_per_second: options.churn_per_second,
            }),
            received: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
        });
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(run(listener, shared.clone(), stopped));
        Ok(Simulator {
            addr,
            url,
            shared,
            stop: Some(stop),
        })
    }

    /// The fleet `--demo` shows: a few dozen instances of each product, some stopped, some in transition, changing
    /// as it runs; three bare-metal servers in hardware trouble (a power supply, an IPMI address, a CPU at 91 °C:
    /// [`SimState::demo_health`]), two of the others in planned maintenance (one upcoming, one under way), and a
    /// cloud networking node's upcoming maintenance, the times relative to the start.
    pub async fn start_demo() -> std::io::Result<Simulator> {
        let sim = Simulator::start(SimOptions {
            instances: 36,
            products: vec![(Product::Zec, 24), (Product::Bmc, 12)],
            seed: 2026,
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(30),
            churn_per_second: 0.2,
            ..SimOptions::default()
        })
        .await?;
        let (epoch, servers) = {
            let mut bmc = sim.product(0, Product::Bmc);
            let troubled = bmc.demo_health();
            // Running servers apart from the troubled ones, each with the zone it is in.
            let servers: Vec<(String, String)> = bmc
                .fleet
                .instances()
                .iter()
                .filter(|i| i.status == crate::status::Known::Running.as_str())
                .filter(|i| !troubled.contains(&i.id))
                .map(|i| {
                    let zone = bmc.metadata_row(i)["zoneId"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned();
                    (i.id.clone(), zone)
                })
                .collect();
            (bmc.epoch, servers)
        };
        if let [(upcoming, its_zone), (running, zone), ..] = servers.as_slice() {
            for (product, windows) in
                maintenance::demo(epoch, (upcoming, its_zone), (running, zone))
            {
                sim.set_maintenance(0, product, windows);
            }
        }
        Ok(sim)
    }

    /// The base URL to point a client at.
    pub fn url(&self) -> Url {
        self.url.clone()
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Signing credentials the simulator accepts.
    pub fn auth(&self) -> Auth {
        let credentials = self.credentials(0);
        Auth::Signature {
            access_key_id: credentials.access_key_id,
            secret: Secret::new(credentials.access_key_secret),
        }
    }

    /// The credentials account `index` accepts, for every product.
    pub fn credentials(&self, index: usize) -> SimCredentials {
        self.shared.accounts[index].credentials().clone()
    }

    /// Changes the credentials account `index` accepts, for every product: its calls then fail as with a revoked
    /// key, or succeed with the rotated one.
    pub fn set_account_credentials(&self, index: usize, credentials: SimCredentials) {
        *self.shared.accounts[index].credentials() = credentials;
    }

    /// The bearer token the simulator accepts, if any.
    pub fn bearer_auth(&self) -> Option<Auth> {
        self.credentials(0).token.map(|t| Auth::Bearer {
            token: Secret::new(t),
        })
    }

    /// Locks the state (of account 0's VM) for inspection or change.
    pub fn state(&self) -> MutexGuard<'_, SimState> {
        self.shared.state()
    }

    /// Locks account `index`'s VM state for inspection or change: its fleet and faults (the credentials are the
    /// account's: [`Simulator::set_account_credentials`]).
    pub fn account(&self, index: usize) -> MutexGuard<'_, SimState> {
        self.shared.product(index, Product::Vm)
    }

    /// Locks account `index`'s state of `product`: its fleet and faults.
    pub fn product(&self, index: usize, product: Product) -> MutexGuard<'_, SimState> {
        self.shared.product(index, product)
    }

    /// Locks account `index`'s maintenance service (`/api/v2/maintenance`): its lists, faults, calls and envelope.
    pub fn maintenance(&self, index: usize) -> MutexGuard<'_, SimState> {
        self.shared.maintenance(index)
    }

    /// Replaces what account `index`'s `DescribeMaintenanceAlerts` lists for `product` (`BMC` or `SDN`).
    ///
    /// # Panics
    /// For another product: the API refuses it, so no list of it would ever be served.
    pub fn set_maintenance(&self, index: usize, product: &str, windows: Vec<MaintenanceWindow>) {
        if let Err(e) = self.maintenance(index).set_maintenance(product, windows) {
            panic!("set_maintenance: {e}");
        }
    }

    /// Accounts served.
    pub fn accounts_len(&self) -> usize {
        self.shared.accounts.len()
    }

    /// The name [`Simulator::accounts_file`] gives account `index`.
    pub fn account_name(index: usize) -> String {
        format!("sim-{index}")
    }

    /// An accounts file (YAML) for every account, each named `sim-N`, with its key pair inline (simulated
    /// credentials, not secrets) and this simulator's URL.
    pub fn accounts_file(&self) -> String {
        let mut out = String::from("accounts:\n");
        for i in 0..self.accounts_len() {
            let c = &self.credentials(i);
            out.push_str(&format!(
                "  - name: {}\n    access_key_id: {}\n    access_key_password: {}\n    api_url: {}\n",
                Simulator::account_name(i),
                c.access_key_id,
                c.access_key_secret,
                self.url
            ));
        }
        out
    }

    /// Instances in the fleet now (account 0's VMs).
    pub fn fleet_len(&self) -> usize {
        self.state().fleet.len()
    }

    /// Instances of every product of account 0 now.
    pub fn instances(&self) -> usize {
        Product::ALL
            .iter()
            .map(|p| self.product(0, *p).fleet.len())
            .sum()
    }

    /// The ground truth: every instance id and status, sorted by id.
    pub fn ground_truth(&self) -> Vec<(String, String)> {
        self.state().ground_truth()
    }

    /// Requests received so far, counted on arrival: a slow answer in progress is already counted.
    pub fn received(&self) -> u64 {
        self.shared.received.load(Relaxed)
    }

    /// The most requests the simulator was ever answering at once.
    pub fn max_in_flight(&self) -> u64 {
        self.shared.max_in_flight.load(Relaxed)
    }

    /// Serves `fault` to the next `times` calls.
    pub fn inject(&self, fault: Fault, times: u64) {
        self.state().plan.rules.push(FaultRule::times(fault, times));
    }

    /// Adds a fault rule.
    pub fn add_rule(&self, rule: FaultRule) {
        self.state().plan.rules.push(rule);
    }

    /// Removes every fault rule: the API behaves again.
    pub fn clear_faults(&self) {
        let mut state = self.state();
        state.plan.rules.clear();
        state.faults_on_call.clear();
    }

    /// Adds this delay before every answer.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.set_timing(|t| t.latency = latency);
    }

    /// Starts this many lifecycle events per second (0 stops churn).
    pub fn set_churn(&self, per_second: f64) {
        self.shared.set_timing(|t| t.churn_per_second = per_second);
    }

    /// Changes account 0's accepted credentials (see [`Simulator::set_account_credentials`]).
    pub fn set_credentials(&self, credentials: SimCredentials) {
        self.set_account_credentials(0, credentials);
    }
}

impl SimState {
    /// The state of a product (or, with its lists set, of the maintenance service) serving `fleet`, with `rules`.
    fn new(fleet: Fleet, rules: Vec<FaultRule>, flat_envelope: bool, epoch: u64) -> SimState {
        SimState {
            fleet,
            plan: FaultPlan { rules },
            flat_envelope,
            max_skew: Duration::from_secs(300),
            calls: 0,
            calls_by_action: Default::default(),
            pages_served: Vec::new(),
            faults_on_call: Default::default(),
            scheduled_changes: Vec::new(),
            epoch,
            metadata_overrides: Default::default(),
            row_cache: Default::default(),
            health_overrides: Default::default(),
            health_ids: Vec::new(),
            maintenance: None,
        }
    }

    /// The `DescribeInstances` row of one instance, overrides applied.
    pub fn metadata_row(&self, instance: &fleet::SimInstance) -> serde_json::Value {
        metadata::row(
            self.fleet.product(),
            &instance.id,
            &instance.status,
            self.epoch,
            self.metadata_overrides.get(&instance.id),
        )
    }

    /// [`SimState::metadata_row`] as JSON text, from the cache when the instance's status is the one it was made
    /// with and no override applies.
    pub fn metadata_text(&mut self, instance: &fleet::SimInstance) -> std::sync::Arc<str> {
        if self.metadata_overrides.contains_key(&instance.id) {
            return self.metadata_row(instance).to_string().into();
        }
        if let Some((status, text)) = self.row_cache.get(&instance.id) {
            if *status == instance.status {
                return text.clone();
            }
        }
        let text: std::sync::Arc<str> = self.metadata_row(instance).to_string().into();
        // Released instances leave their rows behind: dropped whenever they would double the cache.
        if self.row_cache.len() > 2 * self.fleet.len() + 1000 {
            let live: std::collections::HashSet<&str> = self
                .fleet
                .instances()
                .iter()
                .map(|i| i.id.as_str())
                .collect();
            self.row_cache.retain(|id, _| live.contains(id.as_str()));
        }
        self.row_cache
            .insert(instance.id.clone(), (instance.status.clone(), text.clone()));
        text
    }

    /// The `DescribeInstances` row of every instance, sorted by id: the metadata ground truth.
    pub fn metadata_truth(&self) -> Vec<serde_json::Value> {
        let mut rows: Vec<_> = self
            .fleet
            .instances()
            .iter()
            .map(|i| self.metadata_row(i))
            .collect();
        rows.sort_by(|a, b| a["instanceId"].as_str().cmp(&b["instanceId"].as_str()));
        rows
    }

    /// Every instance id and status, sorted by id.
    pub fn ground_truth(&self) -> Vec<(String, String)> {
        let mut truth: Vec<_> = self
            .fleet
            .instances()
            .iter()
            .map(|i| (i.id.clone(), i.status.clone()))
            .collect();
        truth.sort();
        truth
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
