//! Walking a paged describe action: page 1 for `totalCount`, then the remaining pages with a bounded number in
//! flight, every page checked against its own count; and why a poll failed. What the rows mean is the caller's.

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::budget::Lane;
pub use crate::telemetry::PollFailure;
use crate::zenlayer::ApiError;
use crate::zenlayer::model::{PageRequest, Row};
use crate::zenlayer::page::{Page, Read};

/// Most instances one poll will page through. Far above any account we know of, low enough that a `totalCount`
/// the API got wrong cannot keep the exporter fetching pages (and memory) without end.
pub const MAX_INSTANCES: u64 = 5_000_000;

/// Why a poll published nothing.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("page {page} failed: {error}")]
    Api { page: u32, error: ApiError },
    #[error("poll did not finish within {}s", .0.as_secs_f64())]
    Deadline(std::time::Duration),
    #[error(
        "totalCount {total} would need more pages than the bound of {MAX_INSTANCES} instances allows"
    )]
    Pagination { total: u64 },
    #[error("page {page} holds {rows} rows, which its own totalCount of {total} contradicts")]
    Contradiction { page: u32, rows: usize, total: u64 },
    #[error(
        "page {page} lists the same {rows} instances as page {earlier} while totalCount stays {total}: the API does not page"
    )]
    RepeatedPage {
        page: u32,
        earlier: u32,
        rows: usize,
        total: u64,
    },
    /// A bug in the exporter, not the API's doing.
    #[error("internal error: {detail}")]
    Internal { detail: String },
}

impl PollError {
    /// The `reason` label of `zenlayer_exporter_poll_failures_total`.
    pub fn kind(&self) -> PollFailure {
        match self {
            PollError::Api { error, .. } => PollFailure::Api(error.kind()),
            PollError::Deadline(_) => PollFailure::Deadline,
            PollError::Pagination { .. }
            | PollError::Contradiction { .. }
            | PollError::RepeatedPage { .. } => PollFailure::Pagination,
            PollError::Internal { .. } => PollFailure::Internal,
        }
    }

    /// The failed page and the API's error, when the API failed.
    pub fn api(&self) -> (Option<u32>, Option<&ApiError>) {
        match self {
            PollError::Api { page, error } => (Some(*page), Some(error)),
            _ => (None, None),
        }
    }
}

/// What a walk over the pages found.
#[derive(Debug)]
pub struct Walk<R> {
    /// Every row of every page, in arrival order, repeats included.
    pub rows: Vec<R>,
    pub first_total: u64,
    /// Some page reported another `totalCount` than the first: instances came or went during the walk.
    pub total_changed: bool,
    pub pages: u32,
}

/// How a walk pages: rows per page, and pages in flight once the first page has told the total (the account's
/// budget bounds every poll's together).
#[derive(Debug, Clone, Copy)]
pub struct PageSettings {
    pub page_size: u32,
    pub concurrency: usize,
}

/// Which pages to read and how.
pub struct Paging<'a> {
    /// The poll's way to the API, through the account's budget of calls in flight.
    pub lane: &'a Lane,
    pub action: &'static str,
    /// Only these instances (at most 100, the API's limit), or every instance when empty.
    pub instance_ids: Vec<String>,
    pub page_size: u32,
    pub concurrency: usize,
}

impl Paging<'_> {
    async fn fetch<T>(
        &self,
        page_num: u32,
        read: &dyn Read<T>,
    ) -> (u32, Result<Page<T>, ApiError>) {
        let request = PageRequest {
            instance_ids: self.instance_ids.clone(),
            page_size: Some(self.page_size),
            page_num: Some(page_num),
            ..PageRequest::default()
        };
        (
            page_num,
            self.lane.describe_page(self.action, &request, read).await,
        )
    }

    /// Reads page 1 for `totalCount`, then the remaining pages with at most `concurrency` in flight, each read
    /// by `read`, which turns each row into the caller's form as the page arrives (so a large fleet is never
    /// held twice, and its rows may borrow from the page). An empty page ends the walk; any failed page fails it
    /// (dropping the others in flight).
    pub async fn walk<R: Row>(&self, read: &dyn Read<R>) -> Result<Walk<R>, PollError> {
        let page_size = u64::from(self.page_size);
        let pages_for = |total: u64| -> Result<u32, PollError> {
            if total > MAX_INSTANCES {
                return Err(PollError::Pagination { total });
            }
            Ok(total.div_ceil(page_size) as u32)
        };
        let (_, first) = self.fetch(1, read).await;
        let first = first.map_err(|error| PollError::Api { page: 1, error })?;
        check_consistent(1, &first, page_size)?;
        let mut last_page = pages_for(first.total_count)?;
        let mut pages_seen = Fingerprints::default();
        pages_seen.check(1, &first)?;
        let mut ended = first.data_set.is_empty();
        // The first page's rows become the walk's, sized once from the count (bounded above) so a large fleet is
        // not copied as it grows; a walk of one page (most accounts') allocates nothing more.
        let mut rows = first.data_set;
        rows.reserve_exact((first.total_count as usize).saturating_sub(rows.len()));
        let mut walk = Walk {
            rows,
            first_total: first.total_count,
            total_changed: false,
            pages: 1,
        };

        let mut next = 2u32;
        let mut in_flight = FuturesUnordered::new();
        loop {
            while !ended && next <= last_page && in_flight.len() < self.concurrency {
                in_flight.push(self.fetch(next, read));
                next += 1;
            }
            let Some((page_num, result)) = in_flight.next().await else {
                break;
            };
            let page = result.map_err(|error| PollError::Api {
                page: page_num,
                error,
            })?;
            walk.pages += 1;
            check_consistent(page_num, &page, page_size)?;
            if page.total_count == walk.first_total {
                pages_seen.check(page_num, &page)?;
            }
            if page.total_count != walk.first_total {
                walk.total_changed = true;
                // The fleet grew: read on to the new end. It shrank: the empty page will say where it ends.
                last_page = last_page.max(pages_for(page.total_count)?);
            }
            if page.data_set.is_empty() {
                ended = true;
            }
            walk.rows.extend(page.data_set);
        }
        Ok(walk)
    }
}

/// The pages of one walk by the ids they list, in order. A fleet changing under the walk shifts rows by a few
/// places, one creation or deletion at a time, and moves `totalCount`; a page listing exactly the ids of an
/// earlier one while the count holds is an API (or a proxy) that ignores `pageNum`. Served, it would be a fleet
/// of one page with `zenlayer_up 1`; so the walk fails as `pagination`. Pages of one row are left out: a single
/// creation and deletion can repeat one legitimately.
#[derive(Default)]
struct Fingerprints(std::collections::HashMap<u64, u32>);

impl Fingerprints {
    fn check<T: Row>(&mut self, page_num: u32, page: &Page<T>) -> Result<(), PollError> {
        use std::hash::{Hash as _, Hasher as _};
        if page.data_set.len() < 2 {
            return Ok(());
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for row in &page.data_set {
            row.id().hash(&mut hasher);
        }
        match self.0.insert(hasher.finish(), page_num) {
            Some(earlier) => Err(PollError::RepeatedPage {
                page: page_num,
                earlier,
                rows: page.data_set.len(),
                total: page.total_count,
            }),
            None => Ok(()),
        }
    }
}

/// A page whose rows and own `totalCount` disagree (empty although the count says rows are due here, or more
/// rows than the count leaves for this page) contradicts itself: no change to the fleet explains it, since both
/// come from one answer. Publishing it would drop live instances' series, so the poll fails instead and the
/// last good snapshot stays.
fn check_consistent<T>(page_num: u32, page: &Page<T>, page_size: u64) -> Result<(), PollError> {
    let before = u64::from(page_num - 1) * page_size;
    let rows = page.data_set.len();
    let hollow = rows == 0 && page.total_count > before;
    let overfull = rows > 0 && before + rows as u64 > page.total_count;
    if hollow || overfull {
        return Err(PollError::Contradiction {
            page: page_num,
            rows,
            total: page.total_count,
        });
    }
    Ok(())
}
