//! The answers `/sd` keeps, one per distinct query while the renderings it was made from are served, and the
//! bounds on making them: how many renders run or wait, and a render given up when nobody waits for it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, watch};

use super::{Address, Answer, Query, Source, render_unless, with_port};
use crate::telemetry::Metrics;

/// Distinct queries whose answers are kept. A Prometheus server asks a few (one per job: a port, an address,
/// statuses); more than this, and the least recently asked is rendered again when it comes back.
const CACHED_QUERIES: usize = 8;

/// The answers kept: one per distinct query, with the renderings (one per account) it was made from. An answer
/// whose renderings are still the ones served is served again as it is; otherwise it is rendered again, once,
/// however many requests ask at the same moment. Renders are bounded: [`RENDERS_AT_ONCE`] run, and at most
/// [`RENDERS_QUEUED`] are started or waiting, beyond which a request is refused ([`Refused::Busy`]) rather than
/// queued; a render nobody waits for any more is given up. A query that differs from a kept one only in its port
/// is made from that one's text, not from the snapshots.
pub struct Cache {
    entries: Mutex<Vec<Arc<Entry>>>,
    metrics: Metrics,
    queued: Arc<Semaphore>,
    running: Arc<Semaphore>,
}

/// Renders of `/sd` answers running at once: one core of two, so a flood of distinct queries never takes the
/// whole machine from the polls and scrapes.
const RENDERS_AT_ONCE: usize = 1;

/// Renders started or waiting to run: as many as answers are kept, so the cache is never asked to hold more
/// than it keeps.
const RENDERS_QUEUED: usize = CACHED_QUERIES;

/// Why `/sd` has no answer for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Too many renders started or waiting: the client should come back later (503 with `Retry-After`).
    Busy,
    /// The render failed (a bug, logged).
    Failed,
}

struct Entry {
    query: Query,
    serials: Vec<u64>,
    /// Requests waiting for this answer now: at zero, a render in progress is given up.
    waiters: AtomicUsize,
    state: watch::Sender<State>,
}

#[derive(Clone)]
enum State {
    Rendering,
    Ready(Arc<Answer>),
    /// Given up because nobody waited: the next request for it renders it again.
    Abandoned,
    Failed,
}

/// One request's interest in an entry, from before its render can start until it has its answer or hangs up.
struct Waiting(Arc<Entry>);

impl Waiting {
    fn new(entry: &Arc<Entry>) -> Waiting {
        entry.waiters.fetch_add(1, Ordering::SeqCst);
        Waiting(entry.clone())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Cache {
    pub fn new(metrics: Metrics) -> Cache {
        for address in Address::ALL {
            metrics
                .sd_without_address
                .with_label_values(&[address.as_str()]);
        }
        Cache {
            entries: Mutex::new(Vec::new()),
            metrics,
            queued: Arc::new(Semaphore::new(RENDERS_QUEUED)),
            running: Arc::new(Semaphore::new(RENDERS_AT_ONCE)),
        }
    }

    /// The answer to `query` from `sources`, from the cache or rendered off the runtime's threads.
    pub async fn answer(&self, query: Query, sources: Vec<Source>) -> Result<Arc<Answer>, Refused> {
        let serials: Vec<u64> = sources.iter().map(|s| s.rendered.serial).collect();
        // Twice at most: a render given up just as this request joined it is started again once.
        for _ in 0..2 {
            let waiting = self.entry(&query, &serials, &sources)?;
            let mut state = waiting.0.state.subscribe();
            let done = state
                .wait_for(|s| !matches!(s, State::Rendering))
                .await
                .map(|s| s.clone());
            match done {
                Ok(State::Ready(answer)) => return Ok(answer),
                Ok(State::Abandoned) => continue,
                _ => return Err(Refused::Failed),
            }
        }
        Err(Refused::Failed)
    }

    /// The entry for `query`, joined: the kept one while its renderings are current, else a new one whose
    /// render has started (if a render may start now).
    fn entry(
        &self,
        query: &Query,
        serials: &[u64],
        sources: &[Source],
    ) -> Result<Waiting, Refused> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let current = |e: &Entry| {
            e.serials == serials && !matches!(*e.state.borrow(), State::Abandoned | State::Failed)
        };
        if let Some(at) = entries.iter().position(|e| e.query == *query && current(e)) {
            // Most recently asked last; the least recently asked goes first.
            let entry = entries.remove(at);
            entries.push(entry.clone());
            return Ok(Waiting::new(&entry));
        }
        let queued = self
            .queued
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::Busy)?;
        // Another port of the same targets, ready: its text is rewritten rather than the fleet rendered.
        let sibling = entries.iter().rev().find_map(|e| {
            let same_targets = Query {
                port: query.port,
                ..e.query.clone()
            } == *query;
            match &*e.state.borrow() {
                State::Ready(answer) if same_targets && e.serials == serials => {
                    Some(answer.clone())
                }
                _ => None,
            }
        });
        entries.retain(|e| e.query != *query);
        let entry = Arc::new(Entry {
            query: query.clone(),
            serials: serials.to_vec(),
            waiters: AtomicUsize::new(0),
            state: watch::Sender::new(State::Rendering),
        });
        // Joined before the render can look for waiters.
        let waiting = Waiting::new(&entry);
        entries.push(entry.clone());
        if entries.len() > CACHED_QUERIES {
            entries.remove(0);
        }
        drop(entries);
        let running = self.running.clone();
        let metrics = self.metrics.clone();
        let sources: Vec<Source> = sources.to_vec();
        tokio::spawn(async move {
            let _queued = queued;
            let Ok(_running) = running.acquire_owned().await else {
                entry.state.send_replace(State::Failed);
                return;
            };
            let rendering = entry.clone();
            let made = tokio::task::spawn_blocking(move || {
                let abandoned = || rendering.waiters.load(Ordering::SeqCst) == 0;
                if abandoned() {
                    return None;
                }
                let query = &rendering.query;
                sibling
                    .and_then(|answer| with_port(&answer, query.port, &abandoned))
                    .or_else(|| render_unless(query, &sources, &abandoned))
            })
            .await;
            let state = match made {
                Ok(Some(answer)) => {
                    metrics
                        .sd_without_address
                        .with_label_values(&[entry.query.address.as_str()])
                        .set(answer.without_address as i64);
                    State::Ready(Arc::new(answer))
                }
                Ok(None) => State::Abandoned,
                Err(e) => {
                    tracing::error!(error = %e, "rendering /sd failed");
                    State::Failed
                }
            };
            entry.state.send_replace(state);
        });
        Ok(waiting)
    }
}
