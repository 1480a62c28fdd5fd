//! What both polls share: the paged walk of a describe action, the poll deadline and its measured outcome,
//! and the log lines of a streak of failures. What the rows mean belongs to each poll's own folder.

pub mod paging;

pub use paging::{MAX_INSTANCES, PollError};
