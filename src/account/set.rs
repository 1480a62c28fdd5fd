//! The accounts this replica polls: the only account of the environment, or the accounts of the accounts file
//! that this shard owns. The file is re-read every few seconds and on SIGHUP, like the secret files: an added
//! account starts polling, a removed one stops and its series go with it, changed credentials are put in use
//! without losing what the account serves, and a file that does not load keeps every account as it is.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use super::Account;
use crate::config::Config;
use crate::config::accounts::{self, AccountSpec, Defaults};
use crate::config::values::Products;
use crate::files;
use crate::names::AccountName;
use crate::reload::{Reloads, asked, on_triggers, once};
use crate::telemetry::Metrics;
use crate::zenlayer::Endpoint;

/// Which share of the accounts file this replica polls.
#[derive(Debug, Clone, Copy)]
pub struct Shard {
    pub index: u32,
    pub total: u32,
}

/// The running accounts, sorted by name, swapped whole when the file changes.
pub struct Accounts {
    current: ArcSwap<Vec<Arc<Account>>>,
    /// Whether they come from the accounts file: then each is served with its `account` label, and `/probe`
    /// serves them one by one.
    pub named: bool,
    pub shard: Shard,
}

impl Accounts {
    /// The only account, from the environment.
    pub fn only(account: Arc<Account>) -> Accounts {
        Accounts {
            current: ArcSwap::from_pointee(vec![account]),
            named: false,
            shard: Shard { index: 0, total: 1 },
        }
    }

    /// Starts the accounts of `specs` that `shard` owns.
    pub fn start(
        specs: Vec<AccountSpec>,
        shard: Shard,
        config: &Config,
        shutdown: &CancellationToken,
        metrics: &Metrics,
    ) -> Result<Accounts, String> {
        let accounts = Accounts {
            current: ArcSwap::from_pointee(Vec::new()),
            named: true,
            shard,
        };
        metrics.accounts_in_file.set(specs.len() as i64);
        let owned = accounts::owned(specs, shard.index, shard.total);
        let errors = accounts.apply(owned, config, shutdown, metrics, false);
        if errors.is_empty() {
            Ok(accounts)
        } else {
            Err(errors.join("; "))
        }
    }

    /// Every running account, sorted by name.
    pub fn all(&self) -> Arc<Vec<Arc<Account>>> {
        self.current.load_full()
    }

    /// The running account named `name`.
    pub fn find(&self, name: &AccountName) -> Option<Arc<Account>> {
        let all = self.current.load();
        all.binary_search_by(|a| a.name.as_ref().cmp(&Some(name)))
            .ok()
            .map(|i| all[i].clone())
    }

    /// Makes the running accounts those of `specs` this shard owns: starts the new ones, stops the removed ones,
    /// starts afresh one whose API or proxy changed, and puts changed credentials in use. An account that cannot
    /// start (its HTTP client cannot be built) is left out and its error returned; the others run.
    fn apply(
        &self,
        owned: Vec<AccountSpec>,
        config: &Config,
        shutdown: &CancellationToken,
        metrics: &Metrics,
        reloaded: bool,
    ) -> Vec<String> {
        let mut errors = Vec::new();
        let mut running: HashMap<AccountName, Arc<Account>> = self
            .all()
            .iter()
            .filter_map(|a| Some((a.name.clone()?, a.clone())))
            .collect();
        let (shard, total) = (self.shard.index.to_string(), self.shard.total.to_string());
        let mut next = Vec::with_capacity(owned.len());
        for AccountSpec {
            name,
            endpoint,
            products,
            ..
        } in owned
        {
            let products = products.unwrap_or_else(|| config.products.clone());
            let listed = products.as_slice().iter().map(|p| p.as_str());
            let listed = listed.collect::<Vec<_>>().join(",");
            // Where and as whom it calls now, read once from its client.
            let running = running
                .remove(&name)
                .map(|account| (account.endpoint(), account));
            // Other products are other polls: the account starts afresh with them, as with another URL.
            let running = match running {
                Some((_, account))
                    if !account.products().eq(products.as_slice().iter().copied()) =>
                {
                    tracing::info!(account = %name, products = %listed, "products changed; the account starts afresh");
                    account.stop();
                    None
                }
                running => running,
            };
            match running {
                Some((current, account)) if same_place(&current, &endpoint) => {
                    if current.auth != endpoint.auth {
                        tracing::info!(account = %name, "new credentials put in use");
                        account.replace_auth(endpoint.auth);
                    }
                    next.push(account);
                }
                previous => {
                    if let Some((before, previous)) = previous {
                        // Where its credentials go next: worth a warning and a count, since a wrong URL is where
                        // a mistaken edit would send them.
                        tracing::warn!(
                            account = %name,
                            api_url = %endpoint.base_url,
                            previous_api_url = %before.base_url,
                            proxy = ?endpoint.proxy,
                            "API URL or proxy changed; the account starts afresh"
                        );
                        metrics.endpoint_changes.inc();
                        previous.stop();
                    } else if reloaded {
                        tracing::info!(account = %name, api_url = %endpoint.base_url, "account added; polling it");
                    } else {
                        // At start-up one line says how many; a thousand would bury it.
                        tracing::debug!(account = %name, api_url = %endpoint.base_url, "polling the account");
                    }
                    match Account::start(
                        Some(name.clone()),
                        endpoint,
                        products.as_slice(),
                        config,
                        shutdown,
                    ) {
                        Ok(account) => {
                            next.push(account);
                            metrics
                                .accounts_owned
                                .with_label_values(&[name.as_str(), &shard, &total])
                                .set(1);
                        }
                        Err(error) => errors.push(format!("account {name}: {error}")),
                    }
                }
            }
        }
        for (name, account) in running {
            tracing::info!(account = %name, "account removed from the accounts file; its polls stop and its series go");
            account.stop();
            let _ = metrics
                .accounts_owned
                .remove_label_values(&[name.as_str(), &shard, &total]);
        }
        next.sort_by(|a, b| a.name.cmp(&b.name));
        self.current.store(Arc::new(next));
        errors
    }

    /// Re-reads the accounts file at `path` every `config.secret_reload_interval` and on SIGHUP until
    /// `shutdown`, applying what it loads; `metrics.config_reload_ok` says whether the last attempt loaded and
    /// was applied. A load that would remove an account, or change an account's API URL, proxy or credentials,
    /// is applied only when the file and its secret files read the same again after [`SETTLE`]: a file caught
    /// half-written (an editor saving in place, `>`) lists fewer accounts or a cut URL, and taking it would stop
    /// accounts or send a credential to the wrong address. Such a reload is deferred to the next trigger.
    pub fn watch(
        self: Arc<Self>,
        path: PathBuf,
        config: Config,
        shutdown: CancellationToken,
        metrics: Metrics,
        reloads: Reloads,
    ) -> impl std::future::Future<Output = ()> + use<> {
        let mut last_error = None;
        // The files the last applied load read (the accounts file and every secret file it names), as they were:
        // while none changes there is nothing to parse again, which for a thousand accounts is most of a reload.
        // Metadata and digests, not the bytes: secrets are held only as `Secret`s.
        let mut applied: Option<SeenFiles> = None;
        let stopped = shutdown.clone().cancelled_owned();
        let loaded = Some(metrics.config_reload_ok.clone());
        let watched = reloads.watched("accounts file", path.clone(), loaded);
        let every = config.secret_reload_interval;
        on_triggers(every, stopped, watched, move |reason| {
            if applied
                .as_mut()
                .is_some_and(|seen| seen.unchanged(asked(reason)))
            {
                return None;
            }
            let (problems, read) = self.reload(&path, &config, &shutdown, &metrics);
            applied = read.filter(|_| problems.is_empty());
            let problem = (!problems.is_empty()).then(|| problems.join("; "));
            metrics
                .config_reload_ok
                .set(if problem.is_none() { 1.0 } else { 0.0 });
            once(&mut last_error, problem.clone(), |problems| {
                tracing::warn!(path = %path.display(), reason, %problems, "accounts file not reloaded; the accounts in use keep polling");
            });
            problem
        })
    }

    /// One reload: the problems that kept the file (or part of it) from being applied, and the files read, as
    /// they were, when it was applied.
    fn reload(
        &self,
        path: &Path,
        config: &Config,
        shutdown: &CancellationToken,
        metrics: &Metrics,
    ) -> (Vec<String>, Option<SeenFiles>) {
        let defaults = Defaults {
            api_url: &config.api_url,
            proxy_vars: &config.proxy_vars,
        };
        let (text, seen) = match accounts::read_seen(path) {
            Ok(read) => read,
            Err(problem) => return (vec![problem], None),
        };
        let specs = match accounts::from_text(path, &text, &defaults) {
            Ok(specs) => specs,
            Err(problems) => return (problems, None),
        };
        let mut read = SeenFiles::of(path, seen, &specs);
        let in_file = specs.len();
        let owned = accounts::owned(specs, self.shard.index, self.shard.total);
        if self.would_disrupt(&owned, &config.products) {
            std::thread::sleep(SETTLE);
            let settled = read.unchanged(true);
            if !settled {
                return (
                    vec![format!(
                        "the accounts file or a secret file it names changed while it was read, and what was read \
                         would remove accounts or change an API URL, credentials or products: applied once it reads the same \
                         twice, {}s apart (replace the file atomically: write a new one, then rename it over)",
                        SETTLE.as_secs_f64()
                    )],
                    None,
                );
            }
        }
        metrics.accounts_in_file.set(in_file as i64);
        (
            self.apply(owned, config, shutdown, metrics, true),
            Some(read),
        )
    }

    /// Whether applying `owned` would stop a running account, change where or with what it calls the API, or
    /// change the products it reads (`default` for an account that names none): a half-written list drops some.
    fn would_disrupt(&self, owned: &[AccountSpec], default: &Products) -> bool {
        let new: HashMap<&AccountName, &AccountSpec> = owned.iter().map(|s| (&s.name, s)).collect();
        self.all().iter().any(|account| {
            match account.name.as_ref().and_then(|name| new.get(name)) {
                None => true,
                Some(spec) => {
                    let products = spec.products.as_ref().unwrap_or(default).as_slice();
                    spec.endpoint != account.endpoint()
                        || !account.products().eq(products.iter().copied())
                }
            }
        })
    }

    /// Waits for every account's polls to end, after the shutdown.
    pub async fn stopped(&self) {
        for account in self.all().iter() {
            account.stopped().await;
        }
    }
}

/// The same API through the same proxy: credentials may differ, and are replaced in place.
fn same_place(a: &Endpoint, b: &Endpoint) -> bool {
    a.base_url == b.base_url && a.proxy == b.proxy
}

/// How long a reload that would stop accounts or change where they call waits before reading the files again.
/// A file written in place is whole within milliseconds; a second apart, two reads that agree are not one caught
/// mid-write.
const SETTLE: Duration = Duration::from_secs(1);

/// The files one load read, as they were ([`files::Seen`]: metadata, then a digest; never their bytes): the
/// accounts file, and each secret file it names.
struct SeenFiles {
    path: PathBuf,
    file: files::Seen,
    secrets: Vec<(PathBuf, files::Seen)>,
}

impl SeenFiles {
    /// What a load of the accounts file at `path` (seen as `file`) giving `specs` read: each secret file as the
    /// load read it, so nothing is read twice and a file rotated since shows as changed.
    fn of(path: &Path, file: files::Seen, specs: &[AccountSpec]) -> SeenFiles {
        SeenFiles {
            path: path.to_owned(),
            file,
            secrets: specs
                .iter()
                .filter_map(|spec| spec.secret_file.clone())
                .collect(),
        }
    }

    /// Whether every file holds what it held: for files untouched since, one `stat` each; with `compare`,
    /// their bytes are compared whatever their metadata says.
    fn unchanged(&mut self, compare: bool) -> bool {
        self.file
            .unchanged(&self.path, files::MAX_ACCOUNTS_BYTES, compare)
            && self
                .secrets
                .iter_mut()
                .all(|(path, seen)| seen.unchanged(path, files::MAX_SECRET_BYTES, compare))
    }
}
