//! The accounts this replica polls: the only account of the environment, or the accounts of the accounts file
//! that this shard owns. The file is re-read every few seconds and on SIGHUP, like the secret files: an added
//! account starts polling, a removed one stops and its series go with it, changed credentials are put in use
//! without losing what the account serves, and a file that does not load keeps every account as it is.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::{Account, Identity};
use crate::config::Config;
use crate::config::accounts::{self, AccountSpec, Defaults};
use crate::files;
use crate::reload::{Watched, on_triggers, once};
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
        owned: Vec<AccountSpec>,
        config: &Config,
        shutdown: &watch::Receiver<bool>,
        metrics: &Metrics,
        reloaded: bool,
    ) -> Vec<String> {
        let mut errors = Vec::new();
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
                        // Where its credentials go next: worth a warning and a count, since a wrong URL is where
                        // a mistaken edit would send them.
                        let before = previous.identity();
                        tracing::warn!(
                            account = %spec.name,
                            api_url = %identity.api_url,
                            previous_api_url = %before.api_url,
                            proxy = ?identity.proxy,
                            "API URL or proxy changed; the account starts afresh"
                        );
                        metrics.endpoint_changes.inc();
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
    /// `shutdown`, applying what it loads; `metrics.config_reload_ok` says whether the last attempt loaded and
    /// was applied. A load that would remove an account, or change an account's API URL, proxy or credentials,
    /// is applied only when the file and its secret files read the same again after [`SETTLE`]: a file caught
    /// half-written (an editor saving in place, `>`) lists fewer accounts or a cut URL, and taking it would stop
    /// accounts or send a credential to the wrong address. Such a reload is deferred to the next trigger.
    pub async fn watch(
        self: Arc<Self>,
        path: PathBuf,
        config: Config,
        shutdown: watch::Receiver<bool>,
        metrics: Metrics,
    ) {
        let mut last_error = None;
        // The digests of the files the last applied load read (the accounts file and every secret file it
        // names): while none changes there is nothing to parse again, which for a thousand accounts is most of a
        // reload. Digests, not the bytes: secrets are held only as `Secret`s.
        let mut applied: Option<Digests> = None;
        let stopped = {
            let mut shutdown = shutdown.clone();
            async move {
                let _ = shutdown.wait_for(|s| *s).await;
            }
        };
        let watched = Watched {
            what: "accounts file",
            path: path.clone(),
            loaded: Some(metrics.config_reload_ok.clone()),
        };
        let every = config.secret_reload_interval;
        on_triggers(every, stopped, watched, move |reason| {
            if applied.as_ref().is_some_and(Digests::unchanged) {
                return;
            }
            let (problems, read) = self.reload(&path, &config, &shutdown, &metrics);
            applied = read.filter(|_| problems.is_empty());
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

    /// One reload: the problems that kept the file (or part of it) from being applied, and the digests of what
    /// was read when it was applied.
    fn reload(
        &self,
        path: &Path,
        config: &Config,
        shutdown: &watch::Receiver<bool>,
        metrics: &Metrics,
    ) -> (Vec<String>, Option<Digests>) {
        let defaults = Defaults {
            api_url: &config.api_url,
            proxy_vars: &config.proxy_vars,
        };
        let text = match accounts::read(path) {
            Ok(text) => text,
            Err(problem) => return (vec![problem], None),
        };
        let specs = match accounts::from_text(path, &text, &defaults) {
            Ok(specs) => specs,
            Err(problems) => return (problems, None),
        };
        // A secret file rotated between the load and now would be recorded as seen: only a record that matches
        // the secrets loaded is kept.
        let read = Digests::of(path, &text, &specs);
        let in_file = specs.len();
        let owned = accounts::owned(specs, self.shard.index, self.shard.total);
        if self.would_disrupt(&owned) {
            std::thread::sleep(SETTLE);
            let settled = read.as_ref().is_some_and(Digests::unchanged);
            if !settled {
                return (
                    vec![format!(
                        "the accounts file or a secret file it names changed while it was read, and what was read \
                         would remove accounts or change an API URL or credentials: applied once it reads the same \
                         twice, {}s apart (replace the file atomically: write a new one, then rename it over)",
                        SETTLE.as_secs_f64()
                    )],
                    None,
                );
            }
        }
        metrics.accounts_in_file.set(in_file as i64);
        (self.apply(owned, config, shutdown, metrics, true), read)
    }

    /// Whether applying `owned` would stop a running account or change where or with what it calls the API.
    fn would_disrupt(&self, owned: &[AccountSpec]) -> bool {
        let new: HashMap<&str, &AccountSpec> = owned.iter().map(|s| (&*s.name, s)).collect();
        self.all().iter().any(|account| {
            let identity = account.identity();
            match identity.name.as_deref().and_then(|name| new.get(name)) {
                None => true,
                Some(spec) => {
                    spec.api_url != identity.api_url
                        || spec.proxy != identity.proxy
                        || spec.auth != identity.auth
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

fn same_endpoint(a: &Identity, b: &Identity) -> bool {
    a.api_url == b.api_url && a.proxy == b.proxy
}

/// How long a reload that would stop accounts or change where they call waits before reading the files again.
/// A file written in place is whole within milliseconds; a second apart, two reads that agree are not one caught
/// mid-write.
const SETTLE: Duration = Duration::from_secs(1);

/// Whose bound a digest reads a file within.
const ACCOUNTS: u64 = files::MAX_ACCOUNTS_BYTES;
const SECRET: u64 = files::MAX_SECRET_BYTES;

/// The SHA-256 of each file one load read: the accounts file, and each secret file it names with its bound.
/// `None` where a file could not be read.
struct Digests {
    path: PathBuf,
    file: Option<[u8; 32]>,
    secrets: Vec<(PathBuf, Option<[u8; 32]>)>,
}

impl Digests {
    /// What a load of `text` from `path` giving `specs` read, or `None` if a secret file no longer holds the
    /// secret loaded from it (it was rotated during the load: the next trigger loads it).
    fn of(path: &Path, text: &str, specs: &[AccountSpec]) -> Option<Digests> {
        let mut secrets = Vec::new();
        for spec in specs {
            if let Some(file) = &spec.secret_file {
                if crate::config::read_secret_file(file).ok().as_ref() != Some(spec.auth.secret()) {
                    return None;
                }
                secrets.push((file.clone(), Digests::read(file, SECRET)));
            }
        }
        Some(Digests {
            path: path.to_owned(),
            file: Some(digest(text.as_bytes())),
            secrets,
        })
    }

    fn read(path: &Path, max: u64) -> Option<[u8; 32]> {
        files::read_bounded(path, max)
            .ok()
            .map(|bytes| digest(&bytes))
    }

    /// Whether every file reads as it did.
    fn unchanged(&self) -> bool {
        Digests::read(&self.path, ACCOUNTS) == self.file
            && self
                .secrets
                .iter()
                .all(|(file, digest)| Digests::read(file, SECRET) == *digest)
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}
