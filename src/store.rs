//! The slots values are handed through: `Store`, which every published value goes through (the rendered
//! exposition, the status poll's report), where a reader gets the old value or the new one, never a mix, and never
//! waits for a writer; and `Mailbox`, where one task waits for the latest value another hands it.

use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwapOption;
use tokio::sync::Notify;

/// The latest published value, swapped whole: a reader gets the old one or the new one, never a mix, and never
/// waits for a writer.
pub struct Store<T> {
    current: ArcSwapOption<T>,
}

impl<T> Default for Store<T> {
    fn default() -> Self {
        Store {
            current: ArcSwapOption::empty(),
        }
    }
}

impl<T> Store<T> {
    /// Replaces the current value.
    pub fn publish(&self, value: Arc<T>) {
        self.current.store(Some(value));
    }

    /// The current value; `None` until the first publication.
    pub fn load(&self) -> Option<Arc<T>> {
        self.current.load_full()
    }
}

/// The latest value one task hands another that waits for it: a value not taken yet is replaced by the newer one,
/// never queued behind it. What each status poll hands its product's metadata poller (the instances it does not
/// know): one for every product with a status action of every account (VM and ZEC; bare metal's status walk reads
/// the metadata itself), where a channel would hold a block of slots each (about 1.9 kB; 3.6 MB at 1,000
/// accounts).
pub struct Mailbox<T> {
    slot: Mutex<Option<T>>,
    filled: Notify,
}

impl<T> Default for Mailbox<T> {
    fn default() -> Self {
        Mailbox {
            slot: Mutex::new(None),
            filled: Notify::new(),
        }
    }
}

impl<T> Mailbox<T> {
    /// Leaves `value` for the taker, in place of any value it has not taken yet.
    pub fn put(&self, value: T) {
        *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
        // Wakes the taker, or leaves it a permit if it is not waiting yet.
        self.filled.notify_one();
    }

    /// The value left, once there is one. Cancel-safe: the value leaves the slot only when it is returned.
    pub async fn take(&self) -> T {
        loop {
            if let Some(value) = self
                .slot
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
            {
                return value;
            }
            self.filled.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_swaps_whole_values() {
        let store = Store::default();
        assert!(store.load().is_none());
        store.publish(Arc::new(1));
        store.publish(Arc::new(2));
        assert_eq!(store.load().as_deref(), Some(&2));
    }

    #[tokio::test]
    async fn a_mailbox_hands_over_the_latest_value_once() {
        let mailbox = Arc::new(Mailbox::default());
        mailbox.put(1);
        mailbox.put(2);
        assert_eq!(mailbox.take().await, 2);
        // Taken: the next take waits for the next value, whether it comes before or after the wait begins.
        let taker = tokio::spawn({
            let mailbox = mailbox.clone();
            async move { mailbox.take().await }
        });
        tokio::task::yield_now().await;
        mailbox.put(3);
        assert_eq!(taker.await.unwrap(), 3);
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), mailbox.take());
        assert!(waiting.await.is_err(), "nothing was left to take");
    }
}
