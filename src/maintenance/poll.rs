//! The planned maintenance poll of one product as a [`Source`]: one unpaged call of the maintenance service
//! naming the product's feed, through the account's budget behind the status pages. A row whose start or end
//! does not parse is left out, counted and said once, and the rest of the answer is served.

use std::sync::Arc;
use std::time::SystemTime;

use super::{MAX_TEXT_CHARS, Window, Windows};
use crate::poll::budget::Lane;
use crate::poll::{PollError, Source};
use crate::telemetry::{AccountMetrics, Skipped};
use crate::zenlayer::error::clip_to;
use crate::zenlayer::model::{PageRequest, decode_list, unix_time};
use crate::zenlayer::operations::{DESCRIBE_MAINTENANCE_ALERTS, MaintenanceAlert};

/// A row read: its window, or the id of a row whose times do not parse and the time as sent.
type Read = Result<Window, (Box<str>, String)>;

/// The maintenance poll of one product of an account.
pub struct MaintenancePoll {
    lane: Lane,
    /// The product's `product` in the request (`BMC`).
    feed: &'static str,
    metrics: AccountMetrics,
    /// Whether unreadable times were said already: once a run of them, not once a poll.
    time_said: bool,
}

impl MaintenancePoll {
    /// Polls the maintenance of `feed` through `lane` (the maintenance service's).
    pub fn new(lane: Lane, feed: &'static str, metrics: AccountMetrics) -> Self {
        metrics.track_skipped(DESCRIBE_MAINTENANCE_ALERTS, Skipped::Time);
        MaintenancePoll {
            lane,
            feed,
            metrics,
            time_said: false,
        }
    }
}

/// A row as served: its times parsed, its free text clipped to one line.
fn window(row: MaintenanceAlert<'_>) -> Read {
    let time = |text: Option<&str>| {
        let text = text.unwrap_or("");
        unix_time(text).ok_or_else(|| clip_to(text, 40))
    };
    let start = time(row.start_time.as_deref());
    let end = time(row.end_time.as_deref());
    let (start, end) = match (start, end) {
        (Ok(start), Ok(end)) => (start, end),
        (Err(bad), _) | (_, Err(bad)) => return Err((row.instance_id, bad)),
    };
    let text = |t: Option<&str>| clip_to(t.unwrap_or(""), MAX_TEXT_CHARS).into_boxed_str();
    Ok(Window {
        status: text(row.status.as_deref()),
        location: text(row.location.as_deref()),
        impact: text(row.impact.as_deref()),
        instance_id: row.instance_id,
        start,
        end,
    })
}

impl Source for MaintenancePoll {
    type Snapshot = Windows;
    type Between = ();
    const NAME: &'static str = "maintenance poll";
    const KEPT: &'static str = "the last maintenance windows are served";

    fn action(&self) -> &'static str {
        DESCRIBE_MAINTENANCE_ALERTS
    }

    /// After every product's first status poll: start-up to ready is the status walks alone.
    async fn before_first_poll(&mut self) {
        self.lane.after_first_status_polls().await;
    }

    async fn poll(&mut self) -> Result<Arc<Windows>, PollError> {
        let taken_at = SystemTime::now();
        let request = PageRequest {
            product: Some(self.feed.to_owned()),
            ..PageRequest::default()
        };
        let read = |body: &[u8]| Ok(decode_list::<MaintenanceAlert>(body)?.map(window));
        let rows = self
            .lane
            .describe_page(DESCRIBE_MAINTENANCE_ALERTS, &request, &read)
            .await
            .map_err(|error| PollError::Api { page: 1, error })?
            .data_set;
        let (windows, bad): (Vec<Read>, Vec<Read>) = rows.into_iter().partition(Result::is_ok);
        let windows: Vec<Window> = windows.into_iter().flatten().collect();
        match bad.first() {
            Some(Err((instance_id, time))) => {
                self.metrics
                    .skipped(DESCRIBE_MAINTENANCE_ALERTS, Skipped::Time, bad.len());
                if !std::mem::replace(&mut self.time_said, true) {
                    tracing::warn!(
                        action = DESCRIBE_MAINTENANCE_ALERTS,
                        product = self.feed,
                        rows = bad.len(),
                        instance_id = &**instance_id,
                        time = %time,
                        "maintenance windows whose start or end is no time left out; the others are served"
                    );
                }
            }
            _ => self.time_said = false,
        }
        let (windows, dropped) = Windows::new(windows, taken_at);
        if dropped > 0 {
            tracing::debug!(
                product = self.feed,
                dropped,
                "later maintenance windows of a resource and status already served left out"
            );
        }
        Ok(Arc::new(windows))
    }

    fn len(snapshot: &Windows) -> usize {
        snapshot.windows().len()
    }
}
