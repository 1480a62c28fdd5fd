//! The HTTP side: `server` (listener, per-connection handling, authentication), `routes` (the answers), `stall` (the bound on writes to
//! clients that stop reading), `web` (the web configuration: TLS, client certificates, basic authentication)
//! and `healthcheck` (the `--healthcheck` self-probe). It serves what the exposition holds; it never calls the API.

pub mod healthcheck;
pub mod routes;
pub mod server;
pub mod stall;
pub mod web;
