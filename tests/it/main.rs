//! The integration tests, as one binary: each module drives the exporter, the simulator or the deploy files
//! the way an operator would (real HTTP on loopback, real promtool and Prometheus). One binary links the crate
//! once instead of once per file. The soak (`tests/soak.rs`) stays a binary of its own: it measures its own
//! process's memory and descriptors, which other tests running beside it would disturb.

mod common;

mod accounts;
mod bare_metal;
mod cli;
mod config;
mod deploy;
mod docs;
mod exporter;
mod exposition;
mod faults;
mod helm;
mod hostile_files;
mod hostile_scrapers;
mod landing;
mod layers;
mod management;
mod metadata;
mod mixin;
mod openmetrics;
mod paging;
mod products;
mod prometheus_e2e;
mod sd;
mod secrets;
mod signing;
mod sim_bare_metal;
mod simulator;
mod web_config;
