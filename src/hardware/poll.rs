//! The hardware health poll of bare metal as a [`Source`]: every server of the bare-metal status snapshot being
//! served, asked about ten at a time (the API's bound) through the account's budget, behind the status pages.
//! A server the status poll no longer lists is not asked again, so it leaves the snapshot at the next poll; a
//! call that fails fails the poll, and the last good snapshot stays served.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::SystemTime;

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::{Server, Servers, UnknownUnit};
use crate::poll::budget::Lane;
use crate::poll::{PollError, Source};
use crate::status::snapshot::Snapshot;
use crate::store::Store;
use crate::telemetry::{AccountMetrics, Skipped};
use crate::zenlayer::model::{PageRequest, decode_list};
use crate::zenlayer::operations::{InstanceHealth, MAX_HEALTH_IDS};

/// The health poll of one account's bare metal.
pub struct HealthPoll {
    action: &'static str,
    lane: Lane,
    /// The bare-metal status snapshot served: which servers to ask about.
    servers: Arc<Store<Snapshot>>,
    /// Calls in flight at most (the account's budget bounds every poll's together).
    concurrency: usize,
    metrics: AccountMetrics,
    /// Whether rows in a unit it cannot read were said already: once a run of them, not once a poll.
    unit_said: bool,
}

impl HealthPoll {
    pub fn new(
        action: &'static str,
        lane: Lane,
        servers: Arc<Store<Snapshot>>,
        concurrency: usize,
        metrics: AccountMetrics,
    ) -> Self {
        metrics.track_skipped(action, Skipped::Unit);
        HealthPoll {
            action,
            lane,
            servers,
            concurrency: concurrency.max(1),
            metrics,
            unit_said: false,
        }
    }

    /// Counts and (once a run) logs rows whose temperatures were left out for their unit.
    fn skipped(&mut self, rows: usize, example: Option<&str>) {
        if rows == 0 {
            self.unit_said = false;
            return;
        }
        self.metrics.skipped(self.action, Skipped::Unit, rows);
        if !std::mem::replace(&mut self.unit_said, true) {
            tracing::warn!(
                action = self.action,
                rows,
                instance_id = example,
                "temperatures in a unit other than Celsius left out; the components are served"
            );
        }
    }
}

impl Source for HealthPoll {
    type Snapshot = Servers;
    type Between = ();
    const NAME: &'static str = "hardware health poll";
    const KEPT: &'static str = "the last hardware health is served";

    fn action(&self) -> &'static str {
        self.action
    }

    /// After every product's first status poll: start-up to ready is the status walks alone, and the servers
    /// to ask about are known by then.
    async fn before_first_poll(&mut self) {
        self.lane.after_first_status_polls().await;
    }

    async fn poll(&mut self) -> Result<Arc<Servers>, PollError> {
        let taken_at = SystemTime::now();
        let ids: Vec<Box<str>> = self
            .servers
            .load()
            .map(|s| s.instances().iter().map(|i| i.id.clone()).collect())
            .unwrap_or_default();
        let read = |body: &[u8]| Ok(decode_list::<InstanceHealth>(body)?.map(Server::from_row));
        let (lane, action, read) = (&self.lane, self.action, &read);
        let call = |(call, batch): (usize, &[Box<str>])| {
            let request = PageRequest {
                instance_ids: batch.iter().map(|id| id.to_string()).collect(),
                ..PageRequest::default()
            };
            async move {
                let answer = lane.describe_page(action, &request, read).await;
                (call, request.instance_ids, answer)
            }
        };
        // At most `concurrency` calls at once, the next started as one ends (as the paged walks do).
        let mut batches = ids.chunks(MAX_HEALTH_IDS).enumerate();
        let mut calls = FuturesUnordered::new();
        calls.extend(batches.by_ref().take(self.concurrency).map(call));
        let mut servers = Vec::with_capacity(ids.len());
        let (mut unit_rows, mut example) = (0, None);
        while let Some((call_number, asked, answer)) = calls.next().await {
            calls.extend(batches.next().map(call));
            let rows = match answer {
                Ok(page) => page.data_set,
                // Servers deleted since the status poll: nothing to report of them.
                Err(error) if error.is_not_found() => Vec::new(),
                Err(error) => {
                    return Err(PollError::Api {
                        page: call_number as u32 + 1,
                        error,
                    });
                }
            };
            // Only the servers asked about: a row of another id is not this call's answer.
            let asked: HashSet<&str> = asked.iter().map(String::as_str).collect();
            for (server, skipped) in rows {
                if !asked.contains(&*server.id) {
                    continue;
                }
                if skipped == Some(UnknownUnit) {
                    unit_rows += 1;
                    example.get_or_insert_with(|| server.id.clone());
                }
                servers.push(server);
            }
        }
        drop(calls);
        self.skipped(unit_rows, example.as_deref());
        Ok(Arc::new(Servers::new(servers, taken_at)))
    }

    fn len(snapshot: &Servers) -> usize {
        snapshot.servers().len()
    }
}
