//! The status poll: `DescribeInstancesStatus` every interval into an immutable snapshot of instance id → status.
//! `vocabulary` is the closed set of statuses the vendor documents, `snapshot` the snapshot and the store that
//! swaps it, `poll` the loop that gathers it.

pub mod families;
pub mod poll;
pub mod snapshot;
pub mod vocabulary;

pub use vocabulary::{KNOWN_STATUSES, Known, Status};
