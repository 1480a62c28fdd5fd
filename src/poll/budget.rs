//! One account's API budget, shared by the polls of all its products: at most `PAGE_CONCURRENCY` calls in flight
//! across them (Zenlayer rate-limits per account, and walks at once would multiply the burst it sees), a freed
//! slot going to a waiting status call before any other (metadata, bare metal's hardware health and
//! maintenance), and the first of those only once every product's first status poll has finished, so that
//! start-up to ready is the status walks alone. A slot is held for one attempt, not while a call waits to retry.
//! Each poll calls the API through its [`Lane`]: its product's service (or the maintenance service), through the
//! account's budget.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, watch};

use crate::zenlayer::model::PageRequest;
use crate::zenlayer::page::{Page, Read};
use crate::zenlayer::{ApiError, Client, Service};

/// The calls in flight of one account and who goes first.
pub struct Budget {
    state: Mutex<Slots>,
    /// Told whenever a slot frees: every waiter looks again (there are at most a few dozen).
    freed: Notify,
    /// Status polls (one per product) whose first poll has not finished yet, successfully or not.
    first_polls_due: watch::Sender<usize>,
}

struct Slots {
    free: usize,
    /// Status calls waiting for a slot: while there are any, a freed slot is theirs.
    status_waiting: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Priority {
    Status,
    Metadata,
}

/// One poll's way to the API: the account's client and the poll's product service, through the account's
/// budget, with the poll's priority.
#[derive(Clone)]
pub struct Lane {
    client: Arc<Client>,
    service: Arc<Service>,
    budget: Arc<Budget>,
    priority: Priority,
    /// A status lane's first poll not yet reported to the budget.
    first_due: Arc<AtomicBool>,
}

/// A slot of the budget, given back when dropped.
struct Slot<'a>(&'a Budget);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.lock().free += 1;
        self.0.freed.notify_waiters();
    }
}

/// A status call counted as waiting until it has its slot or gives up (its poll timed out).
struct Waiting<'a>(&'a Budget);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.lock().status_waiting -= 1;
        // A metadata call may have been waiting behind this one.
        self.0.freed.notify_waiters();
    }
}

impl Budget {
    /// A budget of `concurrency` calls in flight, for an account whose `products` status polls each call
    /// [`Budget::lanes`] once.
    pub fn new(concurrency: usize, products: usize) -> Arc<Budget> {
        Arc::new(Budget {
            state: Mutex::new(Slots {
                free: concurrency.max(1),
                status_waiting: 0,
            }),
            freed: Notify::new(),
            first_polls_due: watch::Sender::new(products),
        })
    }

    /// The lanes of one product's status and metadata polls, calling `service` with `client`.
    pub fn lanes(self: &Arc<Self>, client: Arc<Client>, service: Arc<Service>) -> (Lane, Lane) {
        let lane = |priority, first_due| Lane {
            client: client.clone(),
            service: service.clone(),
            budget: self.clone(),
            priority,
            first_due: Arc::new(AtomicBool::new(first_due)),
        };
        (
            lane(Priority::Status, true),
            lane(Priority::Metadata, false),
        )
    }

    /// A lane behind the status calls, as the metadata lane is, calling `service` with `client`: what the
    /// hardware health and maintenance polls call through, so neither ever delays a status page.
    pub fn behind_status(self: &Arc<Self>, client: Arc<Client>, service: Arc<Service>) -> Lane {
        self.lanes(client, service).1
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn after_first_status_polls(&self) {
        let _ = self
            .first_polls_due
            .subscribe()
            .wait_for(|due| *due == 0)
            .await;
    }

    /// A slot for one call. A status call takes any free slot; a metadata call only one no status call is
    /// waiting for. A metadata walk is thus never starved (a slot freed while the status walk decodes its page
    /// goes to it), even when status polls run back to back, and status pages still come first.
    async fn call(&self, priority: Priority) -> Slot<'_> {
        let mut waiting = None;
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            {
                let mut slots = self.lock();
                let turn = match priority {
                    Priority::Status => true,
                    Priority::Metadata => slots.status_waiting == 0,
                };
                if slots.free > 0 && turn {
                    slots.free -= 1;
                    drop(slots);
                    drop(waiting.take());
                    return Slot(self);
                }
                if priority == Priority::Status && waiting.is_none() {
                    slots.status_waiting += 1;
                    waiting = Some(Waiting(self));
                }
                // Registered before the lock is let go, so a slot freed from now on wakes this call.
                freed.as_mut().enable();
            }
            freed.await;
        }
    }
}

impl Lane {
    /// One page of `action` read by `read`, each attempt once the budget lets it go (a retry waits for a slot
    /// again, after its backoff).
    pub async fn describe_page<T>(
        &self,
        action: &'static str,
        request: &PageRequest,
        read: &dyn Read<T>,
    ) -> Result<Page<T>, ApiError> {
        let slot = || self.budget.call(self.priority);
        self.client
            .describe_page(&self.service, action, request, read, slot)
            .await
    }

    /// Records that this lane's status poll finished, successfully or not: its first time counts.
    pub fn status_polled(&self) {
        if self.first_due.swap(false, Ordering::Relaxed) {
            self.budget
                .first_polls_due
                .send_modify(|due| *due = due.saturating_sub(1));
        }
    }

    /// Completes once every product's status poll of the account has finished a first time.
    pub async fn after_first_status_polls(&self) {
        self.budget.after_first_status_polls().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn status_calls_go_first_and_metadata_calls_still_get_freed_slots() {
        let budget = Budget::new(2, 1);
        let m1 = budget.call(Priority::Metadata).await;
        let s1 = budget.call(Priority::Status).await;
        // Full: a metadata call asks first, then a status call.
        let metadata = tokio::spawn({
            let budget = budget.clone();
            async move {
                let _slot = budget.call(Priority::Metadata).await;
            }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let status = tokio::spawn({
            let budget = budget.clone();
            async move {
                let _slot = budget.call(Priority::Status).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(m1);
        // The freed slot goes to the status call, though the metadata call asked first.
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!metadata.is_finished(), "a status call was waiting");
        // With no status call waiting, the next freed slot is the metadata call's, even mid-walk.
        drop(s1);
        tokio::time::timeout(Duration::from_secs(5), metadata)
            .await
            .expect("the metadata call gets a slot no status call waits for")
            .unwrap();
        status.await.unwrap();
        assert_eq!(budget.lock().free, 2, "every slot given back");
    }

    #[tokio::test]
    async fn a_status_call_that_gives_up_lets_metadata_calls_go() {
        let budget = Budget::new(1, 1);
        let held = budget.call(Priority::Metadata).await;
        let gave_up =
            tokio::time::timeout(Duration::from_millis(20), budget.call(Priority::Status)).await;
        assert!(gave_up.is_err());
        drop(held);
        tokio::time::timeout(Duration::from_secs(5), budget.call(Priority::Metadata))
            .await
            .expect("no status call is counted as waiting any more");
    }

    #[tokio::test]
    async fn the_first_metadata_walk_waits_for_every_products_status_poll() {
        let budget = Budget::new(4, 2);
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.after_first_status_polls().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        budget.first_polls_due.send_modify(|due| *due -= 1);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !waiting.is_finished(),
            "one product's status poll is still due"
        );
        budget.first_polls_due.send_modify(|due| *due -= 1);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
    }
}
