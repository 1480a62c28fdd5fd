//! The accounts this replica polls: the only account of the environment, or the accounts of the accounts file
//! that this shard owns. The file is re-read every few seconds and on SIGHUP, like the secret files: an added
//! account starts polling, a removed one stops and its series go with it, changed credentials are put in use
//! without losing what the account serves, and a file that does not load keeps every account as it is.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::{Account, Identity};
use crate::config::Config;
use crate::config::accounts::{self, AccountSpec, Defaults};
use crate::reload::{on_triggers, once};
use crate::telemetry::Metrics;

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
        shutdown: &watch::Receiver<bool>,
        metrics: &Metrics,
    ) -> Result<Accounts, String> {
        let accounts = Accounts {
            current: ArcSwap::from_pointee(Vec::new()),
            named: true,
            shard,
        };
        let errors = accounts.apply(specs, config, shutdown, metrics, false);
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
    pub fn find(&self, name: &str) -> Option<Arc<Account>> {
        let all = self.current.load();
        all.binary_search_by(|a| a.name.as_deref().unwrap_or("").cmp(name))
            .ok()
            .map(|i| all[i].clone())
    }

    /// Makes the running accounts those of `specs` this shard owns: starts the new ones, stops the removed ones,
    /// starts afresh one whose API or proxy changed, and puts changed credentials in use. An account that cannot
    /// start (its HTTP client cannot be built) is left out and its error returned; the others run.
    fn apply(
        &self,
        specs: Vec<AccountSpec>,
        config: &Config,
        shutdown: &watch::Receiver<bool>,
        metrics: &Metrics,
        reloaded: bool,
    ) -> Vec<String> {
        let mut errors = Vec::new();
        let owned = accounts::owned(specs, self.shard.index, self.shard.total);
        let mut running: HashMap<Arc<str>, Arc<Account>> = self
            .all()
            .iter()
            .filter_map(|a| Some((a.name.clone()?, a.clone())))
            .collect();
        let (shard, total) = (self.shard.index.to_string(), self.shard.total.to_string());
        let mut next = Vec::with_capacity(owned.len());
        for spec in owned {
            let identity = Identity {
                name: Some(spec.name.clone()),
                api_url: spec.api_url.clone(),
                auth: spec.auth.clone(),
                proxy: spec.proxy.clone(),
            };
            match running.remove(&spec.name) {
                Some(account) if same_endpoint(&account.identity(), &identity) => {
                    if account.identity().auth != identity.auth {
                        tracing::info!(account = %spec.name, "new credentials put in use");
                        account.replace_auth(identity.auth);
                    }
                    next.push(account);
                }
                previous => {
                    if let Some(previous) = previous {
                        tracing::info!(account = %spec.name, api_url = %identity.api_url, "API URL or proxy changed; the account starts afresh");
                        previous.stop();
                    } else if reloaded {
                        tracing::info!(account = %spec.name, api_url = %identity.api_url, "account added; polling it");
                    } else {
                        // At start-up one line says how many; a thousand would bury it.
                        tracing::debug!(account = %spec.name, api_url = %identity.api_url, "polling the account");
                    }
                    match Account::start(identity, config, shutdown.clone()) {
                        Ok(account) => {
                            next.push(account);
                            metrics
                                .accounts_owned
                                .with_label_values(&[&*spec.name, &shard, &total])
                                .set(1);
                        }
                        Err(error) => errors.push(format!("account {}: {error}", spec.name)),
                    }
                }
            }
        }
        for (name, account) in running {
            tracing::info!(account = %name, "account removed from the accounts file; its polls stop and its series go");
            account.stop();
            let _ = metrics
                .accounts_owned
                .remove_label_values(&[&*name, &shard, &total]);
        }
        next.sort_by(|a, b| a.name.cmp(&b.name));
        self.current.store(Arc::new(next));
        errors
    }

    /// Re-reads the accounts file at `path` every `config.secret_reload_interval` and on SIGHUP until
    /// `shutdown`, applying what it loads; `metrics.config_reload_ok` says whether the last attempt loaded.
    pub async fn watch(
        self: Arc<Self>,
        path: PathBuf,
        config: Config,
        shutdown: watch::Receiver<bool>,
        metrics: Metrics,
    ) {
        let mut last_error = None;
        // What the last successful load read (the file and every secret file it names): while none of it
        // changes there is nothing to parse again, which for a file of a thousand accounts is most of a reload.
        let mut last_read: Option<Vec<(PathBuf, Option<Vec<u8>>)>> = None;
        let stopped = {
            let mut shutdown = shutdown.clone();
            async move {
                let _ = shutdown.wait_for(|s| *s).await;
            }
        };
        on_triggers(config.secret_reload_interval, stopped, |reason| {
            let unchanged = last_read.as_ref().is_some_and(|files| {
                files
                    .iter()
                    .all(|(file, bytes)| std::fs::read(file).ok() == *bytes)
            });
            if unchanged {
                return;
            }
            let defaults = Defaults {
                api_url: &config.api_url,
                proxy_vars: &config.proxy_vars,
            };
            let before = std::fs::read(&path).ok();
            let problems = match accounts::load(&path, &defaults) {
                Ok(specs) => {
                    // A secret file rotated between the load and now would be recorded as seen: only a record
                    // that matches the secrets loaded is kept.
                    let mut read = Some(vec![(path.clone(), before)]);
                    for spec in &specs {
                        if let Some(file) = &spec.secret_file {
                            let bytes = std::fs::read(file).ok();
                            let current = crate::config::read_secret_file(file).ok();
                            if current.as_ref() != Some(spec.auth.secret()) {
                                read = None;
                            }
                            if let Some(read) = read.as_mut() {
                                read.push((file.clone(), bytes));
                            }
                        }
                    }
                    let problems = self.apply(specs, &config, &shutdown, &metrics, true);
                    last_read = read.filter(|_| problems.is_empty());
                    problems
                }
                Err(problems) => {
                    last_read = None;
                    problems
                }
            };
            let problem = (!problems.is_empty()).then(|| problems.join("; "));
            metrics
                .config_reload_ok
                .set(if problem.is_none() { 1.0 } else { 0.0 });
            once(&mut last_error, problem, |problems| {
                tracing::warn!(path = %path.display(), reason, %problems, "accounts file not reloaded; the accounts in use keep polling");
            });
        })
        .await;
    }

    /// Waits for every account's polls to end, after the shutdown.
    pub async fn stopped(&self) {
        for account in self.all().iter() {
            account.stopped().await;
        }
    }
}

fn same_endpoint(a: &Identity, b: &Identity) -> bool {
    a.api_url == b.api_url && a.proxy == b.proxy
}
