//! The Zenlayer Cloud VM API client: signing, one call with retries, wire types, typed errors.
//! It knows nothing of polling, snapshots or Prometheus output.

pub mod client;
pub mod error;
pub mod model;
pub mod product;
pub mod proxy;
pub mod sign;

pub use client::{Auth, CallObserver, CallSettings, Client, Endpoint, Proxy};
pub use error::ApiError;
