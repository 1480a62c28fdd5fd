//! Re-reads the secret file behind the credentials (a `_FILE` variable) every few seconds and on SIGHUP, so a
//! rotated Kubernetes Secret or systemd credential takes effect without a restart. A file that cannot be read
//! keeps the secret in use: a half-written rotation must not take the exporter down.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::read_secret_file;
use crate::secret::Secret;
use crate::zenlayer::Client;

/// Watches `path` until `shutdown`, putting each new secret in `client`. `current` is the secret in use.
pub async fn watch(
    path: PathBuf,
    mut current: Secret,
    every: Duration,
    client: Arc<Client>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut last_error: Option<String> = None;
    loop {
        let reason = tokio::select! {
            _ = &mut shutdown => return,
            _ = ticker.tick() => "interval",
            Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => "SIGHUP",
        };
        match read_secret_file(&path) {
            Ok(secret) => {
                last_error = None;
                if secret != current {
                    client.replace_secret(secret.clone());
                    current = secret;
                    tracing::info!(path = %path.display(), reason, "secret re-read from its file and put in use");
                }
            }
            Err(error) => {
                // Once per distinct problem, not every few seconds.
                if last_error.as_deref() != Some(error.as_str()) {
                    tracing::warn!(path = %path.display(), %error, "cannot re-read the secret file; keeping the secret in use");
                    last_error = Some(error);
                }
            }
        }
    }
}
