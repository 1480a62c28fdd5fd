//! The slot every published value goes through: the rendered exposition, the status poll's report. A reader
//! gets the old value or the new one, never a mix, and never waits for a writer.

use std::sync::Arc;

use arc_swap::ArcSwapOption;

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
}
