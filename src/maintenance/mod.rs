//! The planned maintenance slice: the windows the maintenance service announces for a product's resources
//! ([`Windows`], the snapshot), the poll that asks for them ([`poll`]), and the samples of its families
//! ([`families`]). Its wire facts are `zenlayer::operations`'; which products have a feed, their declarations'.

pub mod families;
pub mod poll;

use std::time::SystemTime;

use crate::zenlayer::model::InstanceId;

/// Longest location or impact text served: free text of the API's, clipped to one line (an alert's summary
/// quotes it; a label value of kilobytes would cost every sample of it).
pub const MAX_TEXT_CHARS: usize = 200;

/// One maintenance window, as served.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// The affected resource.
    pub instance_id: InstanceId,
    /// Free text as sent (`in progress`, ...), clipped.
    pub status: Box<str>,
    pub location: Box<str>,
    pub impact: Box<str>,
    /// Unix seconds.
    pub start: f64,
    pub end: f64,
}

impl crate::zenlayer::model::Row for Window {
    fn id(&self) -> &str {
        &self.instance_id
    }
}

/// What a maintenance poll found: the windows of one product's resources, sorted by resource and status, one
/// window for each pair: the earliest that has not ended when the poll was taken (the one to act on first), or
/// the latest to end if all have (an overrun the API still lists).
#[derive(Debug)]
pub struct Windows {
    windows: Vec<Window>,
    taken_at: SystemTime,
}

impl Windows {
    /// The snapshot of `windows`, one per resource and status; returns how many later windows were left out.
    pub fn new(mut windows: Vec<Window>, taken_at: SystemTime) -> (Windows, usize) {
        let before = windows.len();
        let now = taken_at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        // Within a pair: windows still to end first, by start; then ended ones, the latest end first.
        let order = |w: &Window| match w.end > now {
            true => (0, w.start),
            false => (1, -w.end),
        };
        windows.sort_by(|a, b| {
            (&a.instance_id, &a.status)
                .cmp(&(&b.instance_id, &b.status))
                .then_with(|| {
                    let (a, b) = (order(a), order(b));
                    a.0.cmp(&b.0).then(a.1.total_cmp(&b.1))
                })
        });
        windows.dedup_by(|later, first| {
            later.instance_id == first.instance_id && later.status == first.status
        });
        let dropped = before - windows.len();
        (Windows { windows, taken_at }, dropped)
    }

    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    pub fn taken_at(&self) -> SystemTime {
        self.taken_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_window_per_resource_and_status_the_earliest_not_ended() {
        let window = |id: &str, status: &str, start: f64| Window {
            instance_id: id.into(),
            status: status.into(),
            location: "".into(),
            impact: "".into(),
            start,
            end: start + 10.0,
        };
        let (windows, dropped) = Windows::new(
            vec![
                window("b", "scheduled", 30.0),
                window("a", "scheduled", 20.0),
                window("b", "scheduled", 10.0),
                window("b", "in progress", 5.0),
            ],
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(dropped, 1);
        // A window that has ended does not hide the next one of the same status.
        let (later, _) = Windows::new(
            vec![
                window("c", "scheduled", 100.0),
                window("c", "scheduled", 5.0),
            ],
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(50),
        );
        assert_eq!(later.windows()[0].start, 100.0);
        let kept: Vec<_> = windows
            .windows()
            .iter()
            .map(|w| (&*w.instance_id, &*w.status, w.start))
            .collect();
        assert_eq!(
            kept,
            [
                ("a", "scheduled", 20.0),
                ("b", "in progress", 5.0),
                ("b", "scheduled", 10.0)
            ]
        );
    }
}
