//! What a [`super::Poller`] tells of its polls beyond the metrics: each poll's log line (a warning with every
//! detail when it fails), and its report for the landing page (when, how long, what it found, and its last few
//! failures as they were logged), published whole after each poll so a reader never waits. How the page shows
//! them is `http::landing`'s.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::PollError;
use crate::store::Store;
use crate::zenlayer::ApiError;
use crate::zenlayer::error::clip_to;

/// Failures kept per poll: enough to tell a pattern from a blip, few enough for a page of many accounts.
pub const KEPT_FAILURES: usize = 5;

/// Longest error text kept. An API's message is already one line of at most 200 characters; the rest of a
/// poll's error (its page, the kind of failure) is short.
const MAX_ERROR_CHARS: usize = 320;

/// Longest request id kept: the API's are 40 characters; anything longer is not one.
const MAX_REQUEST_ID_CHARS: usize = 64;

/// One failed poll as its warning logged it: the details an operator quotes to Zenlayer support. Every text is
/// one line, clipped, and holds no secret (an API error never carries the credentials).
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub at: SystemTime,
    pub action: &'static str,
    /// The `reason` label of `zenlayer_exporter_poll_failures_total`.
    pub reason: &'static str,
    /// The page that failed, when the API failed.
    pub page: Option<u32>,
    pub request_id: Option<String>,
    /// The HTTP status of the API's answer, when there was one.
    pub status: Option<u16>,
    pub error: String,
}

impl Failure {
    fn new(action: &'static str, error: &PollError, at: SystemTime) -> Failure {
        let (page, api) = error.api();
        Failure {
            at,
            action,
            reason: error.kind().as_str(),
            page,
            request_id: api
                .and_then(ApiError::request_id)
                .map(|id| clip_to(id, MAX_REQUEST_ID_CHARS)),
            status: api.and_then(ApiError::status),
            error: clip_to(&error.to_string(), MAX_ERROR_CHARS),
        }
    }
}

/// The latest poll of one poller, and the failures before it.
#[derive(Debug, Clone)]
pub struct PollReport {
    pub finished_at: SystemTime,
    pub duration: Duration,
    /// What the poll found (instances, servers, windows) when it succeeded; `None` when it failed.
    pub found: Option<usize>,
    pub last_success: Option<SystemTime>,
    /// Polls failed in a row, up to and including this one.
    pub failed_in_a_row: u64,
    /// The last [`KEPT_FAILURES`] failures, newest first: this poll's own first when it failed.
    pub failures: Arc<[Failure]>,
}

impl PollReport {
    /// This poll's failure, when it failed.
    pub fn failure(&self) -> Option<&Failure> {
        self.failures.first().filter(|_| self.found.is_none())
    }
}

/// What the landing page calls a poll, and what its polls find: the caller's names for its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// `status`, `metadata`, ...
    pub name: &'static str,
    /// `instances`, `servers`, ...
    pub finds: &'static str,
}

impl Kind {
    pub const fn new(name: &'static str, finds: &'static str) -> Kind {
        Kind { name, finds }
    }
}

/// One poller as the landing page lists it: which poll it is, how often it runs and what its warnings say
/// (known before its first poll finishes), and its latest report.
#[derive(Clone)]
pub struct PollLog {
    pub kind: Kind,
    pub action: &'static str,
    pub interval: Duration,
    /// The message of its warning when a poll fails, `"{what} failed; {kept}"`: what the logs call a poll, and
    /// what is served meanwhile.
    pub what: &'static str,
    pub kept: &'static str,
    /// `None` until the first poll has finished.
    pub reports: Arc<Store<PollReport>>,
}

/// A poller's record of its polls: it logs each one and publishes its report.
pub(super) struct Record {
    action: &'static str,
    interval: Duration,
    /// What the logs call one poll, and what is served while they fail.
    what: &'static str,
    kept: &'static str,
    failed_in_a_row: u64,
    last_success: Option<SystemTime>,
    failures: VecDeque<Failure>,
    /// Shared with every report until the next failure.
    shared: Arc<[Failure]>,
    reports: Arc<Store<PollReport>>,
}

impl Record {
    /// The record of the polls of `action`, every `interval`, that the logs call `what` (`kept`: what is
    /// served while they fail).
    pub(super) fn new(
        action: &'static str,
        interval: Duration,
        (what, kept): (&'static str, &'static str),
    ) -> Record {
        Record {
            action,
            interval,
            what,
            kept,
            failed_in_a_row: 0,
            last_success: None,
            // Empty until a first failure: most pollers never fail, and there are several per account.
            failures: VecDeque::new(),
            shared: Arc::new([]),
            reports: Arc::default(),
        }
    }

    /// The poller as the landing page lists it, as `kind`.
    pub(super) fn log(&self, kind: Kind) -> PollLog {
        PollLog {
            kind,
            action: self.action,
            interval: self.interval,
            what: self.what,
            kept: self.kept,
            reports: self.reports.clone(),
        }
    }

    /// Logs a successful poll that found `found`: after failures, how many there were, else a debug line.
    pub(super) fn succeeded(&mut self, found: usize, duration: Duration) {
        let what = self.what;
        if self.failed_in_a_row > 0 {
            tracing::info!(
                instances = found,
                failed_polls = self.failed_in_a_row,
                "{what} succeeded again"
            );
        } else {
            tracing::debug!(
                instances = found,
                duration_ms = duration.as_millis() as u64,
                "{what} succeeded"
            );
        }
        self.failed_in_a_row = 0;
        self.last_success = Some(SystemTime::now());
    }

    /// Logs a failed poll once, with the page, request id and status the operator quotes to support, and keeps
    /// it as logged.
    pub(super) fn failed(&mut self, error: &PollError) {
        let (what, kept) = (self.what, self.kept);
        self.failed_in_a_row += 1;
        let failure = Failure::new(self.action, error, SystemTime::now());
        tracing::warn!(
            action = failure.action,
            page = failure.page,
            request_id = failure.request_id.as_deref(),
            kind = failure.reason,
            status = failure.status,
            failed_polls = self.failed_in_a_row,
            error = %failure.error,
            "{what} failed; {kept}"
        );
        if self.failures.len() == KEPT_FAILURES {
            self.failures.pop_back();
        }
        self.failures.push_front(failure);
        self.shared = self.failures.iter().cloned().collect();
    }

    /// Publishes the report of the poll just logged, which took `duration` and found `found` (`None`: failed).
    pub(super) fn publish(&self, duration: Duration, found: Option<usize>) {
        self.reports.publish(Arc::new(PollReport {
            finished_at: SystemTime::now(),
            duration,
            found,
            last_success: self.last_success,
            failed_in_a_row: self.failed_in_a_row,
            failures: self.shared.clone(),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zenlayer::ApiError;

    fn api_error(message: &str) -> PollError {
        PollError::Api {
            page: 3,
            error: ApiError::Server {
                status: 503,
                code: Some("SERVICE_UNAVAILABLE".into()),
                message: Some(message.into()),
                request_id: Some("T0000002A-51A0-4000-8000-00000000002A".into()),
            },
        }
    }

    fn record(action: &'static str) -> Record {
        Record::new(action, Duration::from_secs(30), ("poll", "kept"))
    }

    #[test]
    fn a_report_keeps_the_last_failures_as_logged_newest_first() {
        let mut record = record("DescribeInstancesStatus");
        let log = record.log(Kind::new("status", "instances"));
        assert!(log.reports.load().is_none(), "nothing before a first poll");
        for i in 0..7 {
            record.failed(&api_error(&format!("try {i}\nforged line")));
        }
        record.publish(Duration::from_millis(120), None);
        let report = log.reports.load().unwrap();
        assert_eq!(report.failed_in_a_row, 7);
        assert_eq!(report.failures.len(), KEPT_FAILURES);
        let failure = report.failure().unwrap();
        assert_eq!(
            (failure.reason, failure.page, failure.status),
            ("server_error", Some(3), Some(503))
        );
        assert_eq!(
            failure.request_id.as_deref(),
            Some("T0000002A-51A0-4000-8000-00000000002A")
        );
        assert!(
            failure.error.contains("try 6 forged line") && !failure.error.contains('\n'),
            "{}",
            failure.error
        );
        assert!(report.failures[4].error.contains("try 2"));

        record.succeeded(10, Duration::from_millis(80));
        record.publish(Duration::from_millis(80), Some(10));
        let report = log.reports.load().unwrap();
        assert_eq!((report.found, report.failed_in_a_row), (Some(10), 0));
        assert!(report.failure().is_none() && report.last_success.is_some());
        assert_eq!(
            report.failures.len(),
            KEPT_FAILURES,
            "the log outlives the recovery"
        );
    }

    #[test]
    fn a_long_error_is_clipped() {
        let mut record = record("DescribeInstances");
        record.failed(&api_error(&"x".repeat(5000)));
        record.publish(Duration::ZERO, None);
        let error = &record.reports.load().unwrap().failures[0].error;
        assert!(error.chars().count() <= MAX_ERROR_CHARS + 1, "{error}");
    }
}
