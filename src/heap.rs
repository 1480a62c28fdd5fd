//! How this process uses glibc's heap: the allocator tuned at start, the free pages handed back every poll
//! interval, and what is kept for long allocated at its size, apart from the buffers it was built in.

/// Buffers above this size are mapped apart by glibc (set by [`tune`]) and handed back whole when freed; below it
/// they share the heap with everything else.
pub const MMAP_THRESHOLD: usize = 256 * 1024;

/// Tunes glibc's allocator for this process's pattern: a few buffers of megabytes (the rendered exposition, the
/// snapshot) replaced wholesale at every poll. By default glibc raises its mmap threshold after the first such
/// buffer is freed, so later ones land in the heap and their memory stays resident after they are freed; and it
/// keeps up to eight arenas per core. A fixed threshold sends large buffers to mmap, returned to the system the
/// moment they are freed, and two arenas are plenty for a two-thread runtime. For `main` to call first thing,
/// before any other thread exists.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn tune() {
    // SAFETY: mallopt only sets allocator parameters; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune() {}

/// Hands the free pages of glibc's heaps back to the system every `every`. By itself glibc returns memory only
/// from the top of a heap; what a burst freed below the top stays resident for good. Every account's first polls
/// start at once (at 1,000 accounts, before the process's gate of calls in flight, thousands of connections and
/// pages were in flight; with them gone, 30% of the resident set was such free pages: 253 MB, 179 MB once
/// trimmed). The gate makes the burst smaller, not gone. A pass holds each arena's lock while it walks it, on a
/// blocking thread; how long it took is logged at debug.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub async fn trim_every(every: std::time::Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let took = tokio::task::spawn_blocking(|| {
            let started = std::time::Instant::now();
            // SAFETY: malloc_trim only releases free memory; it takes the allocator's own locks.
            unsafe { libc::malloc_trim(0) };
            started.elapsed()
        })
        .await;
        if let Ok(took) = took {
            tracing::debug!(
                took_us = took.as_micros() as u64,
                "free heap pages returned"
            );
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub async fn trim_every(_every: std::time::Duration) {}

/// `items` in an allocation of their size, for keeping. Shrinking in place would keep the head of the buffer they
/// were gathered in, its freed tail a hole between long-lived chunks that only a smaller allocation can reuse
/// (thousands of small accounts each keep a few such lists a poll); up to [`MMAP_THRESHOLD`] they are moved into a
/// fresh one instead and the whole buffer is freed. Above it they would be mapped apart anyway, and a mapping
/// shrinks in place without a hole.
pub fn at_size<T>(mut items: Vec<T>) -> Vec<T> {
    if items.capacity() == items.len() {
        return items;
    }
    if items.len() * size_of::<T>() > MMAP_THRESHOLD {
        items.shrink_to_fit();
        return items;
    }
    let mut kept = Vec::with_capacity(items.len());
    kept.append(&mut items);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_lists_hold_no_slack() {
        let mut small = Vec::with_capacity(64);
        small.extend(0..34u64);
        let kept = at_size(small);
        assert_eq!((kept.len(), kept.capacity()), (34, 34));
        assert_eq!(kept, (0..34).collect::<Vec<_>>());
        // Over the threshold (512 kB of rows in a 4 MB buffer): shrunk in place, no slack either.
        let mut large: Vec<u64> = Vec::with_capacity(2 * MMAP_THRESHOLD);
        large.extend(0..MMAP_THRESHOLD as u64 / 4);
        let kept = at_size(large);
        assert_eq!(kept.capacity(), kept.len());
    }
}
