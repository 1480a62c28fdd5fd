//! The planned maintenance poll of one product as a [`Source`]: one unpaged call of the maintenance service
//! naming the product's feed, through the account's budget behind the status pages. A row that does not decode,
//! or whose start or end is no time, is left out, counted and said once, and the rest of the answer is served.
//! An account with none of the product's instances is not asked: its windows would concern nothing it has.

use std::sync::Arc;
use std::time::SystemTime;

use super::{MAX_TEXT_CHARS, Window, Windows};
use crate::poll::budget::Lane;
use crate::poll::{PollError, Skips, Source};
use crate::status::snapshot::{Snapshot, first_served};
use crate::store::Store;
use crate::telemetry::{AccountMetrics, Skipped};
use crate::zenlayer::error::{clip_to, is_plain, tidy};
use crate::zenlayer::model::PageRequest;
use crate::zenlayer::operations::{
    DESCRIBE_MAINTENANCE_ALERTS, MAINTENANCE_LIST, MaintenanceAlert,
};
use crate::zenlayer::page::{decode_list, decode_row};

/// A row read: its window, or why it was left out, its id (if it has one) and what was wrong.
type Read = Result<Window, (Skipped, String, String)>;

/// The maintenance poll of one product of an account.
pub struct MaintenancePoll {
    lane: Lane,
    /// The product's `product` in the request (`BMC`).
    feed: &'static str,
    /// The product's status snapshot served: whether the account has any of its instances.
    servers: Arc<Store<Snapshot>>,
    skips: Skips,
}

impl MaintenancePoll {
    /// Polls the maintenance of `feed` through `lane` (the maintenance service's), while `servers` (the
    /// product's status snapshot served) lists any.
    pub fn new(
        lane: Lane,
        feed: &'static str,
        servers: Arc<Store<Snapshot>>,
        metrics: AccountMetrics,
    ) -> Self {
        let skips = Skips::new(
            DESCRIBE_MAINTENANCE_ALERTS,
            metrics,
            &[Skipped::Row, Skipped::Time],
        );
        MaintenancePoll {
            lane,
            feed,
            servers,
            skips,
        }
    }
}

/// The latest time a window may have: the end of the year 9999, as far as an ISO 8601 time goes. A number
/// beyond it is no time, and one that would print as hundreds of digits in a sample.
const LAST_SECOND: f64 = 253_402_300_799.0;

/// A row as served: its id plain (a join key is served as sent, so one with control or format characters is
/// left out, not altered), its times parsed, in order and within years 1970 to 9999, its free text tidied to
/// what it reads as.
fn window(row: MaintenanceAlert<'_>) -> Read {
    let id = row.instance_id;
    if !is_plain(&id) {
        let detail = "an empty instance id, or one with control or format characters".to_owned();
        return Err((Skipped::Row, clip_to(&id, 60), detail));
    }
    let (start, end) = match (&row.start_time, &row.end_time) {
        (Some(start), Some(end)) => (start, end),
        _ => return Err((Skipped::Time, id.into(), "no start or no end".into())),
    };
    let within = |t: Option<f64>| t.filter(|t| (0.0..=LAST_SECOND).contains(t));
    let (start, end) = match (within(start.unix()), within(end.unix())) {
        (Some(s), Some(e)) if e >= s => (s, e),
        (Some(_), Some(_)) => {
            let detail = format!(
                "ends ({}) before it starts ({})",
                end.shown(),
                start.shown()
            );
            return Err((Skipped::Time, id.into(), clip_to(&detail, 120)));
        }
        (None, _) => return Err((Skipped::Time, id.into(), clip_to(&start.shown(), 60))),
        (_, None) => return Err((Skipped::Time, id.into(), clip_to(&end.shown(), 60))),
    };
    let text = |t: Option<&str>| tidy(t.unwrap_or(""), MAX_TEXT_CHARS).into_boxed_str();
    Ok(Window {
        status: text(row.status.as_deref()),
        location: text(row.location.as_deref()),
        impact: text(row.impact.as_deref()),
        instance_id: id,
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

    /// Once the product's status snapshot is served (after every product's first status poll, so start-up to
    /// ready is the status walks alone).
    async fn before_first_poll(&mut self) {
        self.lane.after_first_status_polls().await;
        first_served(&self.servers).await;
    }

    async fn poll(&mut self) -> Result<Arc<Windows>, PollError> {
        let taken_at = SystemTime::now();
        let none = self.servers.load().is_none_or(|s| s.instances().is_empty());
        if none {
            return Ok(Arc::new(Windows::new(Vec::new(), taken_at).0));
        }
        let request = PageRequest {
            product: Some(self.feed.to_owned()),
            ..PageRequest::default()
        };
        let read = |body: &[u8]| {
            Ok(decode_list(body, MAINTENANCE_LIST)?.map(|raw| {
                decode_row::<MaintenanceAlert>(raw)
                    .map_err(|detail| (Skipped::Row, String::new(), detail))
                    .and_then(window)
            }))
        };
        let rows = self
            .lane
            .describe_page(DESCRIBE_MAINTENANCE_ALERTS, &request, &read)
            .await
            .map_err(|error| PollError::Api { page: 1, error })?
            .data_set;
        let mut windows = Vec::with_capacity(rows.len());
        let mut left_out: Vec<(Skipped, String, String)> = Vec::new();
        for row in rows {
            match row {
                Ok(window) => windows.push(window),
                Err(why) => left_out.push(why),
            }
        }
        self.skips.record_all(&left_out);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Read {
        window(serde_json::from_str(json).unwrap())
    }

    #[test]
    fn a_window_has_a_plain_id_times_within_reason_and_tidy_words() {
        let tidy = read(
            r#"{"instanceId":"1","startTime":1,"endTime":2,"status":" in\u00a0 progress\n","location":"\u202eSEL-A"}"#,
        )
        .unwrap();
        assert_eq!((&*tidy.status, &*tidy.location), ("in progress", "SEL-A"));
        for id in ["", "id\\u0000", "a\\u202eb"] {
            let json = format!(r#"{{"instanceId":"{id}","startTime":1,"endTime":2}}"#);
            assert!(matches!(read(&json), Err((Skipped::Row, _, _))), "{id:?}");
        }
        assert!(matches!(
            read(r#"{"instanceId":"1","startTime":1,"endTime":1e300}"#),
            Err((Skipped::Time, _, _))
        ));
        assert!(matches!(
            read(r#"{"instanceId":"1","startTime":-5,"endTime":2}"#),
            Err((Skipped::Time, _, _))
        ));
    }

    #[test]
    fn a_window_needs_two_times_in_order() {
        let ok = read(
            r#"{"instanceId":"1","startTime":"2026-07-28T16:00:00Z","endTime":"2026-07-28T18:00:00Z","status":"in progress"}"#,
        );
        assert_eq!(ok.unwrap().end - 7200.0, 1_785_254_400.0);
        let reversed = read(
            r#"{"instanceId":"1","startTime":"2026-07-28T18:00:00Z","endTime":"2026-07-28T16:00:00Z"}"#,
        );
        assert!(
            matches!(reversed, Err((Skipped::Time, id, what)) if id == "1" && what.starts_with("ends ("))
        );
        assert!(
            matches!(read(r#"{"instanceId":"1","startTime":"soon","endTime":1}"#), Err((Skipped::Time, _, what)) if what == "soon")
        );
        assert!(matches!(
            read(r#"{"instanceId":"1","endTime":1}"#),
            Err((Skipped::Time, _, _))
        ));
    }
}
