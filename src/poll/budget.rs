//! One account's API budget, shared by its two polls: at most `PAGE_CONCURRENCY` calls in flight across both
//! (Zenlayer rate-limits per account, and two walks at once would double the burst it sees), the status poll's
//! pages before the metadata poll's, and the first metadata walk only once the first status poll has finished,
//! so that start-up to ready is the status walk alone. Each poll calls the API through its [`Lane`].

use std::sync::Arc;

use serde::de::DeserializeOwned;
use tokio::sync::{Semaphore, SemaphorePermit, watch};

use crate::zenlayer::model::{Page, PageRequest};
use crate::zenlayer::{ApiError, Client};

/// The calls in flight of one account and who goes first.
pub struct Budget {
    calls: Semaphore,
    /// Status walks in progress: metadata calls wait while there is one.
    status_walks: watch::Sender<usize>,
    /// Whether a status poll has finished, successfully or not.
    status_polled: watch::Sender<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Priority {
    Status,
    Metadata,
}

/// One poll's way to the API: the account's client, through the account's budget, with the poll's priority.
#[derive(Clone)]
pub struct Lane {
    client: Arc<Client>,
    budget: Arc<Budget>,
    priority: Priority,
}

impl Budget {
    /// A budget of `concurrency` calls in flight for `client`, and the lanes of the status and metadata polls.
    pub fn lanes(client: Arc<Client>, concurrency: usize) -> (Lane, Lane) {
        let budget = Budget::new(concurrency);
        let lane = |priority| Lane {
            client: client.clone(),
            budget: budget.clone(),
            priority,
        };
        (lane(Priority::Status), lane(Priority::Metadata))
    }

    fn new(concurrency: usize) -> Arc<Budget> {
        Arc::new(Budget {
            calls: Semaphore::new(concurrency.max(1)),
            status_walks: watch::Sender::new(0),
            status_polled: watch::Sender::new(false),
        })
    }

    fn status_walk(&self) -> StatusWalk<'_> {
        self.status_walks.send_modify(|n| *n += 1);
        StatusWalk(Some(self))
    }

    async fn after_first_status_poll(&self) {
        let _ = self
            .status_polled
            .subscribe()
            .wait_for(|polled| *polled)
            .await;
    }

    async fn call(&self, priority: Priority) -> SemaphorePermit<'_> {
        let closed = "the budget's semaphore is never closed";
        if priority == Priority::Status {
            return self.calls.acquire().await.expect(closed);
        }
        let mut walks = self.status_walks.subscribe();
        loop {
            let _ = walks.wait_for(|n| *n == 0).await;
            let permit = self.calls.acquire().await.expect(closed);
            // A status walk that started while this call waited in line goes first: the slot is handed on.
            if *walks.borrow() == 0 {
                return permit;
            }
        }
    }
}

/// A status walk in progress; metadata calls wait until it is dropped.
pub struct StatusWalk<'a>(Option<&'a Budget>);

impl Drop for StatusWalk<'_> {
    fn drop(&mut self) {
        if let Some(budget) = self.0 {
            budget.status_walks.send_modify(|n| *n -= 1);
        }
    }
}

impl Lane {
    /// One page of `action`, once the budget lets the call go.
    pub async fn describe_page<T: DeserializeOwned>(
        &self,
        action: &'static str,
        request: &PageRequest,
    ) -> Result<Page<T>, ApiError> {
        let _permit = self.budget.call(self.priority).await;
        self.client.describe_page(action, request).await
    }

    /// Marks a walk of this lane in progress: on the status lane, metadata calls wait until it ends.
    pub fn walking(&self) -> StatusWalk<'_> {
        match self.priority {
            Priority::Status => self.budget.status_walk(),
            Priority::Metadata => StatusWalk(None),
        }
    }

    /// Records that a status poll finished, successfully or not.
    pub fn status_polled(&self) {
        self.budget.status_polled.send_replace(true);
    }

    /// Completes once a status poll of the account has finished.
    pub async fn after_first_status_poll(&self) {
        self.budget.after_first_status_poll().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn status_calls_go_before_metadata_calls() {
        let budget = Budget::new(2);
        // Both slots taken by metadata calls; then a status walk starts, and a metadata call asks first.
        let m1 = budget.call(Priority::Metadata).await;
        let _m2 = budget.call(Priority::Metadata).await;
        let walk = budget.status_walk();
        let waiting_metadata = tokio::spawn({
            let budget = budget.clone();
            async move {
                let _p = budget.call(Priority::Metadata).await;
            }
        });
        tokio::task::yield_now().await;
        drop(m1);
        // The freed slot goes to the status call, not to the metadata call that asked first.
        let s1 = tokio::time::timeout(Duration::from_secs(5), budget.call(Priority::Status))
            .await
            .expect("the status call gets the freed slot");
        drop(s1);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !waiting_metadata.is_finished(),
            "no metadata call starts while a status walk is in progress"
        );
        drop(walk);
        tokio::time::timeout(Duration::from_secs(5), waiting_metadata)
            .await
            .expect("metadata calls resume after the walk")
            .unwrap();
    }

    #[tokio::test]
    async fn the_first_metadata_walk_waits_for_a_status_poll() {
        let budget = Budget::new(4);
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.after_first_status_poll().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        budget.status_polled.send_replace(true);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
    }
}
