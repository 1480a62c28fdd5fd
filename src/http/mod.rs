//! The HTTP side: `server` (listener, per-connection handling, authentication), `routes` (the answers:
//! `/metrics`, `/probe`, `/sd`, health), `landing` (the landing page), `slots` (the connection cap and who gives way at it),
//! `stall` (the bound on writes to clients that stop reading) and `healthcheck` (the `--healthcheck`
//! self-probe), under the web configuration ([`crate::web`]: TLS, client certificates, basic authentication);
//! [`AppState`] is what they all read. It serves what the exposition holds; it never calls the API.

pub mod healthcheck;
pub mod landing;
pub mod routes;
pub mod server;
pub mod slots;
pub mod stall;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::account::set::Accounts;
use crate::telemetry::Metrics;
use crate::web::WebConfig;

/// What the routes read: the accounts (each with what it serves and its latest poll report) and the process-wide
/// self-metrics.
pub struct AppState {
    pub accounts: Arc<Accounts>,
    pub metrics: Metrics,
    pub poll_interval: Duration,
    /// Between metadata polls; `None` when they are off.
    pub metadata_interval: Option<Duration>,
    /// TLS, users and headers; swapped whole when the web configuration file changes. TLS settings apply to
    /// connections accepted after a swap, users and headers to every request after it.
    pub web: Arc<ArcSwap<WebConfig>>,
    /// `/sd`'s answers, kept until the snapshots they were made from change.
    pub sd: Arc<crate::exposition::sd::Cache>,
    /// The file watchers `POST /-/reload` asks to check their files now.
    pub reloads: crate::reload::Reloads,
}
