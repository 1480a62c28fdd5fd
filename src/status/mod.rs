//! The status poll: every interval, each product's statuses (its `DescribeInstancesStatus`, or for bare metal its
//! `DescribeInstances`) into an immutable snapshot of instance id → status. `snapshot` is the snapshot, `poll`
//! the loop's source that gathers it, `families` its samples; the vocabulary is the products' (`zenlayer`).

pub mod families;
pub mod poll;
pub mod snapshot;

pub use crate::zenlayer::vocabulary::{KNOWN_STATUSES, Kind, Known, Status};
