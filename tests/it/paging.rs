//! Pagination against the simulator over real HTTP: every fleet size and page size reads each page once and
//! yields exactly the ground truth; a fleet that changes between pages loses no instance.

use std::sync::Arc;
use std::time::Duration;

use zenlayer_exporter::poll::budget::Budget;
use zenlayer_exporter::poll::{PageSettings, PollError};
use zenlayer_exporter::sim::{Fault, FaultRule, FleetChange, Simulator};
use zenlayer_exporter::status::poll::{StatusAction, StatusPoll};
use zenlayer_exporter::status::snapshot::Snapshot;
use zenlayer_exporter::telemetry::AccountMetrics;
use zenlayer_exporter::zenlayer::product::Product;
use zenlayer_exporter::zenlayer::{CallSettings, Client, Endpoint, model};

use crate::common;

fn poller(sim: &Simulator, page_size: u32, page_concurrency: usize) -> StatusPoll<StatusAction> {
    let metrics = AccountMetrics::new(Product::Vm);
    let client = Client::new(
        Endpoint {
            base_url: sim.url(),
            auth: sim.auth(),
            proxy: None,
        },
        CallSettings {
            request_timeout: Duration::from_secs(10),
            max_retries: 0,
            backoff_base: Duration::from_millis(1),
            total_concurrency: 4096,
        },
    )
    .expect("client");
    let service = client
        .service("vm", "2023-03-13", metrics.clone())
        .expect("service");
    let budget = Budget::new(page_concurrency, 1);
    StatusPoll::new(
        StatusAction(model::DESCRIBE_INSTANCES_STATUS),
        Product::Vm,
        budget.lanes(Arc::new(client), Arc::new(service)).0,
        PageSettings {
            page_size,
            concurrency: page_concurrency,
        },
        metrics,
    )
}

fn pairs(snapshot: &Snapshot) -> Vec<(String, String)> {
    snapshot
        .instances()
        .iter()
        .map(|i| (i.id.to_string(), i.status.as_str().to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_size_and_page_size_reads_each_page_once() {
    for instances in [0usize, 1, 999, 1000, 1001, 25_000] {
        let sim = common::sim(instances).await;
        let truth = sim.ground_truth();
        for page_size in [1u32, 20, 1000] {
            sim.state().pages_served.clear();
            let snapshot = poller(&sim, page_size, 16)
                .poll_once()
                .await
                .map(|p| p.status)
                .expect("poll succeeds");
            assert_eq!(
                pairs(&snapshot),
                truth,
                "{instances} instances, page size {page_size}"
            );
            let mut pages = sim.state().pages_served.clone();
            pages.sort_unstable();
            let expected = (instances as u32).div_ceil(page_size).max(1);
            assert_eq!(
                pages,
                (1..=expected).collect::<Vec<_>>(),
                "{instances} instances, page size {page_size}"
            );
        }
    }
}

#[tokio::test]
async fn a_removal_between_pages_loses_no_instance() {
    let sim = common::sim(30).await;
    let mut poller = poller(&sim, 10, 1);
    poller
        .poll_once()
        .await
        .map(|p| p.status)
        .expect("first poll");
    let first_id = sim.state().fleet.instances()[0].id.clone();
    // Page 1 of the next poll is call 2; removing the first instance right after it shifts every later row up,
    // so offset paging skips the row that moves from page 2 onto page 1.
    sim.state().scheduled_changes.push((
        2,
        FleetChange::Remove {
            id: first_id.clone(),
        },
    ));
    let during = poller
        .poll_once()
        .await
        .map(|p| p.status)
        .expect("poll during the change");
    let truth = sim.ground_truth();
    for (id, status) in &truth {
        assert_eq!(
            during.get(id).map(|s| s.as_str()),
            Some(status.as_str()),
            "{id} kept through the shift"
        );
    }
    // The next, undisturbed poll settles it: the removed instance is gone, nothing else is.
    let after = poller
        .poll_once()
        .await
        .map(|p| p.status)
        .expect("settling poll");
    assert_eq!(pairs(&after), truth);
    assert!(after.get(&first_id).is_none());
}

#[tokio::test]
async fn an_addition_between_pages_is_read_to_the_new_end() {
    let sim = common::sim(20).await;
    let mut poller = poller(&sim, 10, 1);
    sim.state().scheduled_changes.push((
        1,
        FleetChange::Add {
            id: "999999999999999999".into(),
            status: "PENDING".into(),
        },
    ));
    let snapshot = poller.poll_once().await.map(|p| p.status).expect("poll");
    assert_eq!(pairs(&snapshot), sim.ground_truth());
    assert_eq!(sim.state().pages_served, [1, 2, 3]);
}

#[tokio::test]
async fn a_failed_page_fails_the_whole_poll_naming_it() {
    let sim = common::sim(50).await;
    let mut poller = poller(&sim, 10, 1);
    // Call 1 is page 1; call 2, page 2, gets a proxy's HTML error page.
    sim.state()
        .faults_on_call
        .insert(2, Fault::HtmlError { status: 502 });
    match poller.poll_once().await.map(|p| p.status) {
        Err(PollError::Api { page, error }) => {
            assert_eq!(page, 2);
            assert_eq!(error.kind().as_str(), "server_error");
            assert!(error.to_string().contains("text/html"), "{error}");
        }
        other => panic!("expected page 2 to fail the poll, got {other:?}"),
    }
    assert_eq!(
        sim.state().pages_served,
        [1],
        "no page after the failure was used"
    );
}

#[tokio::test]
async fn a_lying_total_count_is_refused_not_followed() {
    let sim = common::sim(5).await;
    let mut poller = poller(&sim, 1000, 4);
    sim.add_rule(FaultRule::always(Fault::WrongTotal {
        total_count: u64::MAX / 2,
    }));
    match poller.poll_once().await.map(|p| p.status) {
        Err(e @ PollError::Pagination { .. }) => assert_eq!(e.kind().as_str(), "pagination"),
        other => panic!("expected a pagination error, got {other:?}"),
    }
    assert_eq!(sim.state().calls, 1, "only the first page was fetched");
}

#[tokio::test]
async fn an_empty_page_that_claims_rows_fails_the_poll() {
    let sim = common::sim(0).await;
    sim.add_rule(FaultRule::always(Fault::WrongTotal { total_count: 5 }));
    match poller(&sim, 1000, 4).poll_once().await.map(|p| p.status) {
        Err(
            e @ PollError::Contradiction {
                page: 1,
                rows: 0,
                total: 5,
            },
        ) => assert_eq!(e.kind().as_str(), "pagination"),
        other => panic!("expected an empty-page error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_page_with_more_rows_than_its_total_fails_the_poll() {
    let sim = common::sim(30).await;
    sim.add_rule(FaultRule::always(Fault::WrongTotal { total_count: 1 }));
    match poller(&sim, 10, 4).poll_once().await.map(|p| p.status) {
        Err(PollError::Contradiction {
            page: 1,
            rows: 10,
            total: 1,
        }) => {}
        other => panic!("expected a contradiction, got {other:?}"),
    }
}

#[tokio::test]
async fn an_empty_page_past_a_shrunken_end_is_not_a_contradiction() {
    let sim = common::sim(32).await;
    let mut poller = poller(&sim, 10, 1);
    // Three releases while pages 1 to 3 are read: page 4, planned from a count of 32, is empty with a count
    // of 29, which is simply past the end.
    sim.add_rule(FaultRule::times(Fault::ShiftAfterPage, 3));
    poller
        .poll_once()
        .await
        .map(|p| p.status)
        .expect("a shrinking fleet is not an error");
    assert_eq!(sim.state().pages_served, [1, 2, 3, 4]);
}

/// A fleet that changes under every walk (an instance created between the pages of each poll): the warning
/// that the count differs from `totalCount` names the account, comes once rather than at every poll, and a line
/// says when the count matches again. The binary, for its log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_changing_under_every_walk_is_warned_of_once_with_its_account() {
    use crate::common::process::Process;
    let sim = common::accounts_sim(1, 30).await;
    let dir = common::scratch("paging-differs");
    let file = dir.join("accounts.yml");
    std::fs::write(&file, sim.accounts_file()).unwrap();
    sim.add_rule(FaultRule::always(Fault::DuplicateRows));
    let exporter = Process::start(&[
        (
            "ZENLAYER_EXPORTER_ACCOUNTS_FILE",
            file.display().to_string(),
        ),
        ("ZENLAYER_EXPORTER_POLL_INTERVAL_SECONDS", "1".into()),
        ("ZENLAYER_EXPORTER_PAGE_SIZE", "10".into()),
        ("ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS", "0".into()),
    ]);
    let polls = |body: &str| {
        common::sample(
            body,
            "zenlayer_exporter_polls_total{account=\"sim-0\",action=\"DescribeInstancesStatus\"}",
        )
        .unwrap_or(0.0)
    };
    let url = exporter.url("/metrics");
    common::eventually("four polls", || async {
        (polls(&common::get(&url).await.1) >= 4.0).then_some(())
    })
    .await;
    let differs = "instance count differs from totalCount: the fleet changed while pages were read";
    let warned = exporter.logged(differs);
    assert_eq!(warned.len(), 1, "{}", exporter.log_text());
    assert_eq!(warned[0]["span"]["account"], "sim-0", "{}", warned[0]);
    sim.clear_faults();
    let again = exporter.wait_logged("instance count matches totalCount again", 1);
    assert_eq!(again["span"]["account"], "sim-0", "{again}");
    assert_eq!(exporter.logged(differs).len(), 1);
}
