//! The landing page as an operator sees it: Debian's `chromium`, headless, loads the page of a running exporter
//! and the test reads the text it rendered (printed to PDF, read back by poppler's `pdftotext`): a STOPPED
//! instance named with its zone, a failing poll's reason and logged error, a server in hardware trouble, a
//! maintenance window; an instance named `<script>` shows as text, and the page's DOM holds no script to run.
//! Screenshots at a desktop and a phone width are kept in `target/landing/` (a CI artefact). With an accounts
//! file, the accounts in trouble come first and the rest are paged.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use zenlayer_exporter::sim::maintenance::MaintenanceWindow;
use zenlayer_exporter::sim::metadata::MetadataOverride;
use zenlayer_exporter::sim::{Fault, FaultRule, SimOptions, Simulator};
use zenlayer_exporter::zenlayer::operations::COMPONENTS;
use zenlayer_exporter::zenlayer::product::Product;

use crate::common::{self, Exporter, eventually, get};

const HOSTILE: &str = "<script>alert(1)</script>";
const IMPACT: &str = "Switch <b>firmware</b> upgrade";
const IMPACT_ESCAPED: &str = "Switch &lt;b&gt;firmware&lt;/b&gt; upgrade";

/// Bound on one run of the browser or of pdftotext: a cold start of Chromium on a busy CI machine takes seconds.
const TOOL_DEADLINE: Duration = Duration::from_secs(90);

/// What the fleet of the browser test holds, to look for on the page.
struct Planted {
    stopped_zone: String,
    troubled: String,
    in_maintenance: String,
}

/// VM, ZEC and bare metal, like the demo's: a VM instance STOPPED and named [`HOSTILE`], ZEC refused (so its
/// status poll fails, reason `auth`), a server's power supply failing and another server's maintenance planned.
async fn fleet() -> (Simulator, Planted) {
    let sim = Simulator::start(SimOptions {
        instances: 30,
        products: vec![(Product::Zec, 10), (Product::Bmc, 12)],
        seed: 2026,
        ..SimOptions::default()
    })
    .await
    .expect("simulator starts");
    let stopped_zone = {
        let mut vm = sim.product(0, Product::Vm);
        let instance = vm.fleet.instances()[0].clone();
        vm.fleet.set_status(&instance.id, "STOPPED");
        let set = serde_json::json!({ "instanceName": HOSTILE });
        let over = MetadataOverride {
            set: set.as_object().unwrap().clone(),
            remove: Vec::new(),
        };
        vm.metadata_overrides.insert(instance.id.clone(), over);
        vm.metadata_row(&instance)["zoneId"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    sim.product(0, Product::Zec).plan.rules = vec![FaultRule::always(Fault::Forbidden)];
    let (troubled, in_maintenance) = {
        let mut bmc = sim.product(0, Product::Bmc);
        let running: Vec<_> = (bmc.fleet.instances().iter())
            .filter(|i| i.status == "RUNNING")
            .cloned()
            .collect();
        let psu = COMPONENTS.iter().find(|c| c.name == "psu").unwrap();
        bmc.set_component(&running[0].id, psu, "WARNING");
        let name = |i: usize| {
            let row = bmc.metadata_row(&running[i]);
            (
                row["instanceName"].as_str().unwrap().to_owned(),
                running[i].id.clone(),
            )
        };
        (name(0), name(1))
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let window = MaintenanceWindow::new(
        &in_maintenance.1,
        "FRA-A",
        IMPACT,
        now + 6 * 3600,
        now + 8 * 3600,
        "scheduled",
    );
    sim.set_maintenance(0, "BMC", vec![window]);
    let planted = Planted {
        stopped_zone,
        troubled: troubled.0,
        in_maintenance: in_maintenance.0,
    };
    (sim, planted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_shows_the_fleet_as_text_and_runs_nothing_it_names() {
    let (sim, planted) = fleet().await;
    let config = common::every_poll(&sim, "vm,zec,bmc", Duration::from_millis(300), &[]);
    let exporter = Exporter::start(config).await;
    // Every poll has reported: the page has all there is to show.
    let html = eventually("every poll on the landing page", || async {
        let html = get(&exporter.url("/")).await.1;
        let all = ["&lt;script&gt;", "FAILED", IMPACT_ESCAPED, ">WARNING</b>"];
        all.iter().all(|s| html.contains(s)).then_some(html)
    })
    .await;
    assert!(!html.contains("<script"), "the source holds no script");

    let dir = common::scratch("landing");
    let url = exporter.url("/");
    let pdf = dir.join("landing.pdf");
    chromium(
        &dir,
        &url,
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".into(),
        ],
    )
    .await;
    let rows = pdftotext(&pdf, true).await;
    let text = pdftotext(&pdf, false)
        .await
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");

    // The STOPPED instance, its hostile name shown as the text it is, and its zone, on one row.
    row(&rows, &[HOSTILE, "STOPPED", &planted.stopped_zone]);
    // The failing poll: its reason, and its error as logged.
    row(&rows, &["status", "FAILED: auth"]);
    for logged in [
        "WARN poll failed; serving the previous snapshot action=DescribeInstancesStatus page=1 request_id=",
        "kind=auth status=403 error=page 1 failed: authentication or permission failure (HTTP 403",
    ] {
        assert!(
            text.contains(logged),
            "{logged:?} not in the page's text:\n{text}"
        );
    }
    // The server in trouble, and the other's maintenance with its impact shown as text.
    row(&rows, &[&planted.troubled, "psu", "WARNING"]);
    row(&rows, &[&planted.in_maintenance, "scheduled", "FRA-A"]);
    assert!(
        text.contains(IMPACT),
        "{IMPACT:?} not in the page's text:\n{text}"
    );
    assert!(text.contains("Fleet") && text.contains("Zenlayer Elastic Compute (zec)"));

    // The DOM the browser built holds the hostile name as text, and no script element at all.
    let dom = String::from_utf8(chromium(&dir, &url, &["--dump-dom".into()]).await).unwrap();
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{dom}"
    );
    assert!(!dom.to_ascii_lowercase().contains("<script"), "{dom}");

    let shots = screenshots_dir();
    for (name, size) in [
        ("landing-desktop.png", "1280,2000"),
        ("landing-phone.png", "390,2400"),
    ] {
        let path = shots.join(name);
        let _ = std::fs::remove_file(&path);
        let args = [
            format!("--screenshot={}", path.display()),
            format!("--window-size={size}"),
        ];
        chromium(&dir, &url, &args).await;
        let png = std::fs::read(&path).expect("the screenshot is written");
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 10_000,
            "{name}: {} bytes",
            png.len()
        );
    }
    exporter.stop_within(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_accounts_are_paged_with_those_in_trouble_first() {
    let sim = common::accounts_sim(12, 4).await;
    for i in 0..12 {
        let mut account = sim.account(i);
        for id in account.fleet.ids() {
            account.fleet.set_status(&id, "RUNNING");
        }
    }
    sim.account(7).plan.rules = vec![FaultRule::always(Fault::Forbidden)];
    let dir = common::scratch("landing-accounts");
    let file = dir.join("accounts.yml");
    std::fs::write(&file, sim.accounts_file()).unwrap();
    let exporter = Exporter::start(common::accounts_config(&file, &[])).await;
    // Every account polled: the eleven others' instances served, sim-7's poll failed.
    let first = eventually("every account polled, sim-7 failing", || async {
        let html = get(&exporter.url("/")).await.1;
        let polled = [
            "<td data-l=\"Instances\">44</td>",
            "<b class=\"bad\">1 of 12</b>",
        ];
        polled.iter().all(|s| html.contains(s)).then_some(html)
    })
    .await;
    let accounts = |html: &str| -> Vec<String> {
        html.split("<h2>Account ")
            .skip(1)
            .map(|s| s.split(' ').next().unwrap().to_owned())
            .collect()
    };
    assert!(
        first.contains("12 accounts polled by this replica (shard 0 of 1); 1 with a failing poll"),
        "{first}"
    );
    // Ten a page: the failing account first, then the others in name order; the last two on page 2.
    let page_one = accounts(&first);
    assert_eq!(page_one.len(), 10, "{page_one:?}");
    assert_eq!(page_one[..3], ["sim-7", "sim-0", "sim-1"]);
    let second = get(&exporter.url("/?page=2")).await.1;
    assert_eq!(accounts(&second), ["sim-8", "sim-9"]);
    assert!(second.contains("<a href=\"/?page=1\">previous</a>"));
    // One account alone: its own page, its probe linked.
    let alone = get(&exporter.url("/?account=sim-7")).await.1;
    assert_eq!(accounts(&alone), ["sim-7"]);
    assert!(alone.contains("<a href=\"/probe?account=sim-7\">"));
    assert!(alone.contains("kind=auth status=403"));
    exporter.stop_within(Duration::from_secs(10)).await.unwrap();
}

/// Where the screenshots are kept: `target/landing/`, beside the build, for CI to keep as an artefact.
fn screenshots_dir() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory");
    let dir = target.join("landing");
    std::fs::create_dir_all(&dir).expect("target/landing");
    dir
}

/// Asserts that one line of `rows` (the page's text laid out as rendered) holds every one of `cells`.
fn row(rows: &str, cells: &[&str]) {
    assert!(
        rows.lines()
            .any(|line| cells.iter().all(|c| line.contains(c))),
        "no line of the page holds {cells:?}:\n{rows}"
    );
}

/// Runs Debian's `chromium` headless on `url` with `args` (what to make of the page): a profile of its own
/// under `dir`, nothing fetched but from loopback (no name resolves but 127.0.0.1; anything else goes to a proxy
/// that is not there), no background traffic. Returns what it printed; whatever it started is killed after.
async fn chromium(dir: &Path, url: &str, args: &[String]) -> Vec<u8> {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let profile = dir.join(format!("profile-{}", RUNS.fetch_add(1, Ordering::Relaxed)));
    let dead_proxy = format!("--proxy-server=http://127.0.0.1:{}", common::free_port());
    let mut command = tokio::process::Command::new("chromium");
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--disable-domain-reliability",
            "--disable-client-side-phishing-detection",
            "--metrics-recording-only",
            "--no-pings",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            &dead_proxy,
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group, so that its renderer and helpers go with it.
        .process_group(0);
    let child = command.spawn().unwrap_or_else(|e| {
        panic!("chromium cannot run ({e}): install Debian's chromium package (.ci/test does)")
    });
    let group = child.id();
    let out = tokio::time::timeout(TOOL_DEADLINE, child.wait_with_output()).await;
    if let Some(group) = group.and_then(|g| i32::try_from(g).ok()) {
        // SAFETY: kill has no memory preconditions; the group is the one this test started.
        unsafe { libc::kill(-group, libc::SIGKILL) };
    }
    let out = out
        .unwrap_or_else(|_| panic!("chromium did not finish within {TOOL_DEADLINE:?}"))
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The text of `pdf` as poppler's `pdftotext` reads it: laid out as rendered (`layout`: a table's row on one line)
/// or in reading order.
async fn pdftotext(pdf: &Path, layout: bool) -> String {
    let mut command = tokio::process::Command::new("pdftotext");
    if layout {
        command.arg("-layout");
    }
    command.arg(pdf).arg("-").kill_on_drop(true);
    let out = tokio::time::timeout(TOOL_DEADLINE, command.output())
        .await
        .unwrap_or_else(|_| panic!("pdftotext did not finish within {TOOL_DEADLINE:?}"))
        .unwrap_or_else(|e| {
            panic!(
                "pdftotext cannot run ({e}): install Debian's poppler-utils package (.ci/test does)"
            )
        });
    assert!(out.status.success(), "pdftotext failed");
    String::from_utf8(out.stdout).expect("UTF-8 text")
}
