//! The connection cap: how many connections are served at once, sized from the process's descriptor limit
//! (raised to its hard limit at start, as Go does for every Go exporter), and which connection gives way when
//! all slots are taken: the oldest one that has not sent a whole request yet. Without that, a few hundred idle
//! or slowloris sockets fill the cap and a scraper waits in the kernel's backlog until a header timeout frees a
//! slot, longer than Prometheus' scrape timeout.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Most connections served at once, whatever the descriptor limit: an idle connection costs a few hundred bytes
/// of task state, but one that has started a request holds hyper's buffers (8 KiB and more), and the cap is what
/// bounds the memory a crowd of such clients can make the exporter hold.
pub const MAX_CONNECTIONS: usize = 16_384;

/// Fewest connections served at once, however low the descriptor limit: below it, the limit is too low to run
/// with and the start-up log says so.
pub const MIN_CONNECTIONS: usize = 16;

/// Descriptors kept for everything but scrapers: the listener, files read at reload, the runtime's own, and the
/// API connections kept idle between polls (up to 64 per API address).
const RESERVED_DESCRIPTORS: u64 = 128;

/// The process's open-file limit before and after [`raise_descriptor_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescriptorLimit {
    pub before: u64,
    pub soft: u64,
    pub hard: u64,
}

/// Raises the soft open-file limit to the hard one. The soft limit is often 1,024 for compatibility with
/// `select()`, which nothing here uses; the hard limit is what the operator (or the container runtime) allows.
pub fn raise_descriptor_limit() -> std::io::Result<DescriptorLimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed, which lives across the calls.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let before = limit.rlim_cur;
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        limit = raised;
    }
    Ok(DescriptorLimit {
        before,
        soft: limit.rlim_cur,
        hard: limit.rlim_max,
    })
}

/// The connection cap for a soft descriptor limit of `soft`, when `api_connections` descriptors may be taken by
/// API calls in flight (every account's page concurrency, up to the process's gate): what is left after those and a
/// reserve, between
/// [`MIN_CONNECTIONS`] and [`MAX_CONNECTIONS`].
pub fn connections_for(soft: u64, api_connections: u64) -> usize {
    let left = soft.saturating_sub(RESERVED_DESCRIPTORS + api_connections);
    usize::try_from(left)
        .unwrap_or(usize::MAX)
        .clamp(MIN_CONNECTIONS, MAX_CONNECTIONS)
}

/// The slots of the connection cap, and the connections that have not completed a request yet, oldest first.
pub struct Slots {
    max: usize,
    permits: Arc<Semaphore>,
    /// Connections still waiting for their first whole request, oldest first (the ones shed first), with when
    /// they were admitted.
    waiting: Mutex<BTreeMap<u64, (Instant, Arc<Notify>)>>,
    next: AtomicU64,
    /// When shedding was last logged: a flood sheds thousands of connections, one warning a minute says so.
    logged: Mutex<Option<Instant>>,
}

/// One connection's slot, held for as long as it is open.
pub struct Slot {
    slots: Arc<Slots>,
    id: u64,
    served: AtomicBool,
    /// Notified when the connection is shed.
    shed: Arc<Notify>,
    _permit: OwnedSemaphorePermit,
}

/// How long a connection holds its slot without a whole request before it may be shed: a fraction of a
/// scrape timeout, and far longer than a client in a burst takes for its handshake and request head.
pub const IDLE_AFTER: Duration = Duration::from_secs(1);

/// Between warnings that connections are being shed.
const LOG_EVERY: Duration = Duration::from_secs(60);

impl Slots {
    pub fn new(max_connections: usize) -> Arc<Slots> {
        Arc::new(Slots {
            max: max_connections.max(1),
            permits: Arc::new(Semaphore::new(max_connections.max(1))),
            waiting: Mutex::new(BTreeMap::new()),
            next: AtomicU64::new(0),
            logged: Mutex::new(None),
        })
    }

    /// A slot for a connection just accepted. When none is free, the oldest connection that has held its slot for
    /// [`IDLE_AFTER`] without completing a request is told to close (`true` is returned: one was shed) and its
    /// slot taken; a younger one may be a client mid-handshake in a burst, and is waited for. When every open
    /// connection has completed a request, this waits for one to end, as a cap always did.
    pub async fn admit(self: &Arc<Self>) -> (Slot, bool) {
        let mut shed = false;
        let permit = loop {
            if let Ok(permit) = self.permits.clone().try_acquire_owned() {
                break permit;
            }
            let oldest = self
                .waiting
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .first_key_value()
                .map(|(id, (since, _))| (*id, *since));
            if let Some((id, _)) = oldest.filter(|(_, since)| since.elapsed() >= IDLE_AFTER) {
                let taken = self
                    .waiting
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
                if let Some((_, notify)) = taken {
                    notify.notify_one();
                    shed = true;
                    self.log_shedding();
                }
            }
            let freed = self.permits.clone().acquire_owned();
            // Until a slot frees, or the oldest connection has been idle long enough to be shed.
            match oldest
                .map(|(_, since)| since + IDLE_AFTER)
                .filter(|at| *at > Instant::now())
            {
                Some(at) => {
                    tokio::select! {
                        permit = freed => break permit.expect("the semaphore is never closed"),
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => break freed.await.expect("the semaphore is never closed"),
            }
        };
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let notify = Arc::new(Notify::new());
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, (Instant::now(), notify.clone()));
        let slot = Slot {
            slots: self.clone(),
            id,
            served: AtomicBool::new(false),
            shed: notify,
            _permit: permit,
        };
        (slot, shed)
    }

    fn log_shedding(&self) {
        let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
        if logged.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
            *logged = Some(Instant::now());
            tracing::warn!(
                max_connections = self.max,
                "connection cap reached: closing the oldest connections that have not sent a request, to serve new \
                 ones (zenlayer_exporter_http_requests_rejected_total{{reason=\"shed\"}} counts them)"
            );
        }
    }
}

impl Slot {
    /// The connection has read a whole request: from now on it is never shed.
    pub fn served(&self) {
        if !self.served.swap(true, Ordering::Relaxed) {
            self.forget();
        }
    }

    /// Completes when the connection is shed to make room for a newer one; never once it has read a request
    /// (a connection chosen as it read its first one keeps going: the newcomer waits for another slot).
    pub async fn shed(&self) {
        self.shed.notified().await;
        if self.served.load(Ordering::Relaxed) {
            std::future::pending::<()>().await;
        }
    }

    fn forget(&self) {
        self.slots
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if !*self.served.get_mut() {
            self.forget();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_follows_the_descriptor_limit_within_bounds() {
        assert_eq!(connections_for(1_024, 4), 1_024 - 128 - 4);
        assert_eq!(connections_for(100, 4), MIN_CONNECTIONS);
        assert_eq!(connections_for(1 << 20, 4_000), MAX_CONNECTIONS);
        assert_eq!(connections_for(u64::MAX, 0), MAX_CONNECTIONS);
    }

    /// A connection being admitted, on a task of its own.
    fn admitting(slots: &Arc<Slots>) -> tokio::task::JoinHandle<(Slot, bool)> {
        let slots = slots.clone();
        tokio::spawn(async move { slots.admit().await })
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_cap_sheds_the_oldest_connection_without_a_request() {
        let slots = Slots::new(3);
        let (a, shed_a) = slots.admit().await;
        let (b, _) = slots.admit().await;
        let (c, _) = slots.admit().await;
        assert!(!shed_a);
        a.served();
        // Full, and nobody idle long enough yet: a newcomer waits.
        let early = admitting(&slots);
        tokio::time::sleep(IDLE_AFTER / 2).await;
        assert!(!early.is_finished(), "a young connection is not shed");
        early.abort();
        tokio::time::sleep(IDLE_AFTER).await;
        // Full: b is the oldest without a request, not a.
        let newcomer = admitting(&slots);
        tokio::time::timeout(Duration::from_secs(5), b.shed())
            .await
            .expect("b is shed");
        drop(b);
        let (d, shed) = newcomer.await.unwrap();
        assert!(shed);
        // c and d wait for requests, a has had one: the next to go is c.
        let newcomer = admitting(&slots);
        tokio::time::timeout(Duration::from_secs(5), c.shed())
            .await
            .expect("c is shed");
        drop(c);
        let (_e, _) = newcomer.await.unwrap();
        // Every connection served: a new one waits for a slot to free instead.
        d.served();
        _e.served();
        let waiting = admitting(&slots);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "no served connection is shed");
        drop(a);
        let (_, shed) = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        assert!(!shed);
    }
}
