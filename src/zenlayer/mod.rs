//! The Zenlayer Cloud API client and the products it reads: signing, one call with retries, wire types, typed
//! errors, each product's declaration and rows, the status vocabulary. It knows nothing of polling, snapshots
//! or Prometheus output.

pub mod answer;
pub mod bounds;
pub mod client;
pub mod declaration;
mod envelope;
pub mod error;
pub mod model;
pub mod operations;
pub mod page;
mod plain;
pub mod product;
pub mod proxy;
pub mod rows;
pub mod sign;
pub mod transport;
pub mod vocabulary;

pub use client::{Auth, CallObserver, CallSettings, Client, Endpoint, Proxy, Service};
pub use error::ApiError;
