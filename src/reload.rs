//! Re-reads files an operator rotates without restarting the exporter, every few seconds, on SIGHUP and on
//! `POST /-/reload` ([`Reloads`], which answers with each file's outcome): the secret file behind the
//! credentials (a rotated Kubernetes Secret or systemd credential) and the web configuration with the
//! certificates it names (cert-manager renewals, changed users); the accounts file is watched the same way
//! (`account::set`). A file that cannot be read or does not load keeps what is in use: a half-written rotation
//! must not take the exporter down, and a web configuration that would lower protection (lose TLS, client
//! certificates or users) is never taken up.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use prometheus::Gauge;

use crate::config::read_secret_file_seen;
use crate::files::{MAX_SECRET_BYTES, Seen};
use crate::web::WebConfig;
use crate::zenlayer::Client;

/// Longest a check may take before the watcher says it is stuck: reading a file can hang on a dead network mount,
/// and the check runs on a blocking thread so that nothing else waits with it.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// The reason a check is given when an operator sent SIGHUP: the files are compared byte for byte, whatever
/// their metadata says.
pub(crate) const SIGHUP: &str = "SIGHUP";

/// The reason a check is given for `POST /-/reload`: what SIGHUP does.
pub(crate) const HTTP: &str = "POST /-/reload";

/// Whether a check was asked for by an operator (SIGHUP or `POST /-/reload`), who expects the files to be read
/// whatever their metadata says.
pub(crate) fn asked(reason: &str) -> bool {
    reason == SIGHUP || reason == HTTP
}

/// What one watcher's reload asked over HTTP came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The file watched (`accounts file`, `web configuration`, `secret file`) and its path.
    pub what: &'static str,
    pub path: PathBuf,
    /// `None` when what the file holds is in use (loaded, or unchanged); else why what was in use stays.
    pub problem: Option<String>,
}

/// A reload asked of one watcher, and where its outcome goes.
type Ask = tokio::sync::oneshot::Sender<Outcome>;

/// The watchers running, so `POST /-/reload` can ask each to check its file as SIGHUP does and say how it went.
/// Cheap to clone.
#[derive(Clone, Default)]
pub struct Reloads {
    watchers: Arc<std::sync::Mutex<Vec<Watcher>>>,
}

/// One watcher as [`Reloads`] knows it: which file, and where to ask it.
struct Watcher {
    what: &'static str,
    path: PathBuf,
    asks: tokio::sync::mpsc::Sender<Ask>,
}

impl Reloads {
    /// Registers the watcher of `what` at `path`, now (before its task runs, so a reload asked at once is not
    /// answered without it): what [`on_triggers`] watches with.
    pub(crate) fn watched(
        &self,
        what: &'static str,
        path: PathBuf,
        loaded: Option<Gauge>,
    ) -> Watched {
        let (tx, asks) = tokio::sync::mpsc::channel(4);
        self.watchers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Watcher {
                what,
                path: path.clone(),
                asks: tx,
            });
        Watched {
            what,
            path,
            loaded,
            asks,
        }
    }

    /// Asks every watcher at once to check its file now, as SIGHUP does, and returns each outcome, in the order
    /// they were registered: none when there is no file to watch. A watcher that has stopped (its check failed,
    /// which it logged) or that does not answer in time (a check of the file still running, on a hung mount)
    /// says so: what is in use stays.
    pub async fn reload(&self) -> Vec<Outcome> {
        let watchers: Vec<(&'static str, PathBuf, _)> = self
            .watchers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|w| (w.what, w.path.clone(), w.asks.clone()))
            .collect();
        // A check already running (up to CHECK_TIMEOUT) may come first, then the asked one: both, and a margin.
        let patience = 2 * CHECK_TIMEOUT + Duration::from_secs(1);
        let asked = watchers.into_iter().map(|(what, path, asks)| async move {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let answer = match asks.send(tx).await {
                Ok(()) => tokio::time::timeout(patience, rx).await.ok().and_then(Result::ok),
                Err(_) => None,
            };
            answer.unwrap_or_else(|| Outcome {
                what,
                path,
                problem: Some(match asks.is_closed() {
                    true => "its watcher has stopped (the log says why); a restart watches it again".into(),
                    false => format!(
                        "no answer within {} s: a check of the file is still running (a hung mount?)",
                        patience.as_secs()
                    ),
                }),
            })
        });
        futures_util::future::join_all(asked).await
    }
}

/// What a watcher reads, for the line that says its check is stuck, and the gauge that then reads 0; and the
/// reloads asked of it over HTTP.
pub(crate) struct Watched {
    pub what: &'static str,
    pub path: PathBuf,
    pub loaded: Option<Gauge>,
    asks: tokio::sync::mpsc::Receiver<Ask>,
}

/// Calls `check` with the reason every `every`, on each SIGHUP and on each reload asked of `watched`, until
/// `shutdown`; `check` returns why what is in use stays (`None`: the file's content is in use), which an ask is
/// answered with. Each check runs on a blocking thread (it reads files: a FIFO or a hung mount must not hold a
/// runtime worker), one at a time; one that has not finished within [`CHECK_TIMEOUT`] is logged once and sets
/// `watched.loaded` to 0, and the triggers that come while it runs are skipped until it returns (an ask is
/// answered that the check is still running).
pub(crate) async fn on_triggers<F>(
    every: Duration,
    shutdown: impl Future<Output = ()>,
    mut watched: Watched,
    check: F,
) where
    F: FnMut(&'static str) -> Option<String> + Send + 'static,
{
    tokio::pin!(shutdown);
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut asks = std::mem::replace(&mut watched.asks, tokio::sync::mpsc::channel(1).1);
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut idle = Some(check);
    let mut running: Option<tokio::task::JoinHandle<(F, Option<String>)>> = None;
    let outcome = |problem| Outcome {
        what: watched.what,
        path: watched.path.clone(),
        problem,
    };
    loop {
        let (reason, ask) = tokio::select! {
            _ = &mut shutdown => return,
            _ = ticker.tick() => ("interval", None),
            Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => (SIGHUP, None),
            Some(ask) = asks.recv() => (HTTP, Some(ask)),
        };
        if let Some(task) = running.take() {
            if !task.is_finished() {
                running = Some(task);
                if let Some(ask) = ask {
                    let stuck = "the previous check of the file has not finished (a hung mount?); what is in use stays";
                    let _ = ask.send(outcome(Some(stuck.to_owned())));
                }
                continue;
            }
            match task.await {
                Ok((check, _)) => idle = Some(check),
                Err(error) => {
                    return tracing::error!(what = watched.what, %error, "the reload check failed; reloads stop");
                }
            }
        }
        let Some(mut check) = idle.take() else {
            return;
        };
        let mut task = tokio::task::spawn_blocking(move || {
            let problem = check(reason);
            (check, problem)
        });
        match tokio::time::timeout(CHECK_TIMEOUT, &mut task).await {
            Ok(Ok((check, problem))) => {
                idle = Some(check);
                if let Some(ask) = ask {
                    let _ = ask.send(outcome(problem));
                }
            }
            Ok(Err(error)) => {
                return tracing::error!(what = watched.what, %error, "the reload check failed; reloads stop");
            }
            Err(_) => {
                if let Some(ask) = ask {
                    let stuck = format!(
                        "reading the file has not finished within {} s (a hung mount?); what is in use stays",
                        CHECK_TIMEOUT.as_secs()
                    );
                    let _ = ask.send(outcome(Some(stuck)));
                }
                if let Some(loaded) = &watched.loaded {
                    loaded.set(0.0);
                }
                tracing::warn!(
                    what = watched.what,
                    path = %watched.path.display(),
                    after_seconds = CHECK_TIMEOUT.as_secs(),
                    "reading the file has not finished (a hung mount?); what is in use stays, and reloads resume when it returns"
                );
                running = Some(task);
            }
        }
    }
}

/// Logs a problem once per distinct text, not every few seconds; `None` clears it.
pub(crate) fn once(last: &mut Option<String>, problem: Option<String>, log: impl FnOnce(&str)) {
    if let Some(p) = &problem {
        if last.as_deref() != Some(p.as_str()) {
            log(p);
        }
    }
    *last = problem;
}

/// Watches `path` until `shutdown`, putting each new secret in `client`, which holds the only copy of the secret
/// in use: the watcher keeps what the file held ([`Seen`]), so a file nobody touched costs one `stat`.
pub fn watch(
    path: PathBuf,
    every: Duration,
    client: Arc<Client>,
    reloads: Reloads,
    shutdown: impl Future<Output = ()>,
) -> impl Future<Output = ()> {
    let mut last_error = None;
    let mut seen: Option<Seen> = None;
    let watched = reloads.watched("secret file", path.clone(), None);
    on_triggers(every, shutdown, watched, move |reason| {
        if seen
            .as_mut()
            .is_some_and(|s| s.unchanged(&path, MAX_SECRET_BYTES, asked(reason)))
        {
            last_error = None;
            return None;
        }
        match read_secret_file_seen(&path) {
            Ok((secret, now)) => {
                last_error = None;
                seen = Some(now);
                if client.replace_secret(secret) {
                    tracing::info!(path = %path.display(), reason, "secret re-read from its file and put in use");
                }
                None
            }
            Err(error) => {
                once(&mut last_error, Some(error.clone()), |error| {
                    tracing::warn!(path = %path.display(), %error, "cannot re-read the secret file; keeping the secret in use");
                });
                Some(error)
            }
        }
    })
}

/// Watches the web configuration file at `path` until `shutdown`, swapping `web` when what it loads differs
/// from what is in use. `loaded` says whether the last attempt loaded cleanly.
pub fn watch_web(
    path: PathBuf,
    every: Duration,
    web: Arc<ArcSwap<WebConfig>>,
    loaded: Gauge,
    reloads: Reloads,
    shutdown: impl Future<Output = ()>,
) -> impl Future<Output = ()> {
    let mut last_error = None;
    let watched = reloads.watched("web configuration", path.clone(), Some(loaded.clone()));
    on_triggers(every, shutdown, watched, move |reason| {
        let problem = match WebConfig::load(&path) {
            Ok(new) => {
                let dropped = new.dropped_from(&web.load());
                if dropped.is_empty() {
                    if !new.same_as(&web.load()) {
                        tracing::info!(path = %path.display(), reason, web = %new.summary(), "web configuration reloaded");
                        web.store(Arc::new(new));
                    }
                    None
                } else {
                    Some(format!(
                        "the file would drop {}; a reload never lowers protection, so the configuration in use stays until a restart",
                        dropped.join(", ")
                    ))
                }
            }
            Err(problems) => Some(problems.join("; ")),
        };
        loaded.set(if problem.is_none() { 1.0 } else { 0.0 });
        once(&mut last_error, problem.clone(), |problems| {
            tracing::warn!(path = %path.display(), %problems, "web configuration not reloaded; keeping the one in use");
        });
        problem
    })
}
