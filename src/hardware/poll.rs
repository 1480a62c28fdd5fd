//! The hardware health poll of bare metal as a [`Source`]: every server of the bare-metal status snapshot being
//! served, asked about ten at a time (the API's bound) through the account's budget, behind the status pages.
//! A server the status poll no longer lists is not asked again, so it leaves the snapshot at the next poll; a
//! call that fails fails the poll, and the last good snapshot stays served. A call refused because one of its
//! servers is gone is asked again one server at a time, so the others are still reported. A row that does not
//! decode is left out alone, counted and said once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::{Server, Servers};
use crate::poll::budget::Lane;
use crate::poll::{PollError, Skips, Source};
use crate::status::snapshot::{Snapshot, first_served};
use crate::store::Store;
use crate::telemetry::{AccountMetrics, Skipped};
use crate::zenlayer::ApiError;
use crate::zenlayer::model::{InstanceId, PageRequest};
use crate::zenlayer::operations::{HEALTH_LIST, InstanceHealth, MAX_HEALTH_IDS};
use crate::zenlayer::page::{decode_list, decode_row};

/// The health poll of one account's bare metal.
pub struct HealthPoll {
    action: &'static str,
    lane: Lane,
    /// The bare-metal status snapshot served: which servers to ask about.
    servers: Arc<Store<Snapshot>>,
    /// Calls in flight at most (the account's budget bounds every poll's together).
    concurrency: usize,
    skips: Skips,
    /// The last snapshot published: a server whose row cannot be read this time keeps what it said then.
    previous: Option<Arc<Servers>>,
    /// Servers whose row could not be read, and for how many polls in a row: one keeps its last report for
    /// [`KEEP_UNREADABLE`] polls, not for ever (a stale OK could hide an alarm, a stale alarm never clear).
    unreadable: HashMap<InstanceId, u32>,
}

/// Polls in a row a server whose row cannot be read keeps its last report for; then its series go.
const KEEP_UNREADABLE: u32 = 3;

/// A health row read: the server, and why part of it was left out (if it was); or, for a row that does not
/// decode, its id (when that much can be read) and why.
type Read = Result<(Server, Option<Skipped>), (Option<InstanceId>, String)>;

/// What is read of a row that does not decode whole: its id, to name it and keep its last report.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdOnly {
    instance_id: Option<String>,
}

/// Reads one health row.
fn read_row(raw: &serde_json::value::RawValue) -> Read {
    decode_row::<InstanceHealth>(raw)
        .map(Server::from_row)
        .map_err(|detail| {
            let id = serde_json::from_str::<IdOnly>(raw.get()).ok();
            (id.and_then(|r| r.instance_id).map(Into::into), detail)
        })
}

impl HealthPoll {
    pub fn new(
        action: &'static str,
        lane: Lane,
        servers: Arc<Store<Snapshot>>,
        concurrency: usize,
        metrics: AccountMetrics,
    ) -> Self {
        HealthPoll {
            action,
            lane,
            servers,
            concurrency: concurrency.max(1),
            skips: Skips::new(
                action,
                metrics,
                &[Skipped::Row, Skipped::Unit, Skipped::Value],
            ),
            previous: None,
            unreadable: HashMap::new(),
        }
    }
}

/// Asks about `ids` (at most ten): their rows, those of other ids left out. A refusal because some server is
/// gone (deleted since the status poll) is asked again one server at a time, and a server refused alone is gone.
async fn ask(
    lane: &Lane,
    action: &'static str,
    ids: &[InstanceId],
    read: &(dyn crate::zenlayer::page::Read<Read> + Send),
) -> Result<Vec<Read>, ApiError> {
    let request = |ids: &[InstanceId]| PageRequest {
        instance_ids: ids.iter().map(|id| id.to_string()).collect(),
        ..PageRequest::default()
    };
    let rows = match lane.describe_page(action, &request(ids), read).await {
        Ok(page) => page.data_set,
        Err(error) if error.is_not_found() && ids.len() > 1 => {
            let mut rows = Vec::new();
            for id in ids {
                match lane
                    .describe_page(action, &request(std::slice::from_ref(id)), read)
                    .await
                {
                    Ok(page) => rows.extend(page.data_set),
                    Err(error) if error.is_not_found() => {}
                    Err(error) => return Err(error),
                }
            }
            rows
        }
        Err(error) if error.is_not_found() => Vec::new(),
        Err(error) => return Err(error),
    };
    let asked: HashSet<&str> = ids.iter().map(|id| &**id).collect();
    // A row that names an id not of this call is not its answer (one whose id cannot be read is counted).
    Ok(rows
        .into_iter()
        .filter(|row| row_id(row).is_none_or(|id| asked.contains(id)))
        .collect())
}

/// The id a row read names, if that much could be read.
fn row_id(row: &Read) -> Option<&str> {
    match row {
        Ok((server, _)) => Some(&server.id),
        Err((id, _)) => id.as_deref(),
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

    /// Once the bare-metal status snapshot is served (after every product's first status poll, so start-up to
    /// ready is the status walks alone): the servers to ask about are known by then.
    async fn before_first_poll(&mut self) {
        self.lane.after_first_status_polls().await;
        first_served(&self.servers).await;
    }

    async fn poll(&mut self) -> Result<Arc<Servers>, PollError> {
        let taken_at = SystemTime::now();
        let ids: Vec<InstanceId> = self
            .servers
            .load()
            .map(|s| s.instances().iter().map(|i| i.id.clone()).collect())
            .unwrap_or_default();
        let read = |body: &[u8]| Ok(decode_list(body, HEALTH_LIST)?.map(read_row));
        let (lane, action, read) = (&self.lane, self.action, &read);
        // Each call owns its ids: a future borrowing them would tie the stream to the closure's argument.
        let call = |(call, batch): (usize, &[InstanceId])| {
            let batch = batch.to_vec();
            async move { (call, ask(lane, action, &batch, read).await) }
        };
        // At most `concurrency` calls at once, the next started as one ends (as the paged walks do).
        let mut batches = ids.chunks(MAX_HEALTH_IDS).enumerate();
        let mut calls = FuturesUnordered::new();
        calls.extend(batches.by_ref().take(self.concurrency).map(call));
        let mut servers = Vec::with_capacity(ids.len());
        // Rows left out, in part or whole, by reason: the server's id and what was wrong.
        let mut left_out: Vec<(Skipped, InstanceId, String)> = Vec::new();
        let mut unreadable = HashMap::new();
        while let Some((call_number, answer)) = calls.next().await {
            calls.extend(batches.next().map(call));
            let rows = answer.map_err(|error| PollError::Api {
                page: call_number as u32 + 1,
                error,
            })?;
            for row in rows {
                match row {
                    Ok((server, skipped)) => {
                        if let Some(reason) = skipped {
                            left_out.push((reason, server.id.clone(), reason.as_str().into()));
                        }
                        servers.push(server);
                    }
                    Err((id, detail)) => {
                        // The server keeps its last report rather than vanish for one unreadable answer, for a
                        // few polls.
                        let id = id.unwrap_or_default();
                        let polls = self.unreadable.get(&id).map_or(1, |n| n + 1);
                        if !id.is_empty() && polls <= KEEP_UNREADABLE {
                            let kept = self.previous.as_ref().and_then(|p| p.get(&id));
                            servers.extend(kept.cloned());
                        }
                        unreadable.insert(id.clone(), polls);
                        left_out.push((Skipped::Row, id, detail));
                    }
                }
            }
        }
        drop(calls);
        self.skips.record_all(&left_out);
        self.unreadable = unreadable;
        let servers = Arc::new(Servers::new(servers, taken_at));
        self.previous = Some(servers.clone());
        Ok(servers)
    }

    fn len(snapshot: &Servers) -> usize {
        snapshot.servers().len()
    }
}
