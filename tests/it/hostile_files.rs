//! The files an operator names, caught half-written or pointing at the wrong thing, against the binary: a
//! reload never takes a half-written accounts file for the truth (no account stopped, no credential sent to a
//! cut URL), and secret and accounts files are read within their bounds, regular files only, off the runtime,
//! so neither memory nor the reloads suffer from a sparse gigabyte, `/dev/zero` or a FIFO.

use std::io::Read as _;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use zenlayer_exporter::sim::Simulator;

use crate::common::process::Process;
use crate::common::{self, eventually, get, sample, scratch};

fn up(body: &str, account: &str) -> Option<f64> {
    sample(body, &format!("zenlayer_up{{account=\"{account}\"}}"))
}

fn reload_ok(body: &str) -> Option<f64> {
    sample(body, "zenlayer_exporter_config_last_reload_successful")
}

/// Counts the connections made to a loopback port, reading what each sends first.
struct Trap {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl Trap {
    fn bind(port: u16) -> Option<Trap> {
        let listener = TcpListener::bind(("127.0.0.1", port)).ok()?;
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { break };
                seen.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
                let _ = stream.read(&mut [0u8; 4096]);
            }
        });
        Some(Trap { port, connections })
    }
}

/// The binary reading the accounts file at `file`, polling every second, metadata off.
fn exporter(file: &std::path::Path) -> Process {
    Process::start(&[
        (
            "ZENLAYER_EXPORTER_ACCOUNTS_FILE",
            file.display().to_string(),
        ),
        ("ZENLAYER_EXPORTER_POLL_INTERVAL_SECONDS", "1".into()),
        ("ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS", "0".into()),
    ])
}

/// A simulator of two accounts whose port, cut by its last digit, is a port a [`Trap`] listens on: what an
/// `api_url` cut mid-write (`…:41234/` read as `…:4123`) would call.
async fn sim_and_trap() -> (Simulator, Trap) {
    for _ in 0..20 {
        let sim = common::accounts_sim(2, 20).await;
        let port = sim.addr().port();
        if port >= 10_240 {
            if let Some(trap) = Trap::bind(port / 10) {
                return (sim, trap);
            }
        }
    }
    panic!("no simulator port whose first four digits are a free port");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_written_accounts_file_stops_no_account_and_sends_no_credential_to_a_cut_url() {
    let (sim, trap) = sim_and_trap().await;
    let dir = scratch("half-written");
    let file = dir.join("accounts.yml");
    let full = sim.accounts_file();
    std::fs::write(&file, &full).unwrap();
    let exporter = exporter(&file);
    let url = exporter.url("/metrics");
    eventually("both accounts polled", || async {
        let body = get(&url).await.1;
        (up(&body, "sim-0") == Some(1.0) && up(&body, "sim-1") == Some(1.0)).then_some(())
    })
    .await;

    // An in-place rewrite caught twice: once cut inside sim-1's api_url (the file ends `…:4123`), once before
    // sim-1. Each is read on SIGHUP, then the rest of the file lands 150 ms later, as a slow editor writes it.
    let port = sim.addr().port().to_string();
    let cut_url = full.rfind(&port).unwrap() + port.len() - 1;
    let cut_account = full.rfind("  - name: sim-1").unwrap();
    assert!(full[..cut_url].ends_with(&format!(":{}", trap.port)));
    let not_reloaded = "accounts file not reloaded; the accounts in use keep polling";
    for (seen, cut) in [cut_url, cut_account].into_iter().enumerate() {
        std::fs::write(&file, &full[..cut]).unwrap();
        exporter.signal("HUP");
        tokio::time::sleep(Duration::from_millis(150)).await;
        std::fs::write(&file, &full).unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        eprintln!(
            "the file cut at byte {cut} of {}: {} connection(s) to the cut URL so far",
            full.len(),
            trap.connections.load(Ordering::SeqCst)
        );
        exporter.wait_logged(not_reloaded, seen + 1);
        // The next trigger reads the whole file again: nothing to change, and the gauge is back at 1.
        exporter.signal("HUP");
        eventually("the whole file read again", || async {
            (reload_ok(&get(&url).await.1) == Some(1.0)).then_some(())
        })
        .await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        trap.connections.load(Ordering::SeqCst),
        0,
        "a credential went to the cut URL:\n{}",
        exporter.log_text()
    );
    let warning = &exporter.logged(not_reloaded)[0];
    assert!(
        warning["problems"]
            .as_str()
            .is_some_and(|p| p.contains("changed while it was read")),
        "{warning}"
    );
    for message in [
        "account removed from the accounts file; its polls stop and its series go",
        "API URL or proxy changed; the account starts afresh",
    ] {
        assert!(
            exporter.logged(message).is_empty(),
            "{message}:\n{}",
            exporter.log_text()
        );
    }
    let body = get(&url).await.1;
    assert_eq!(
        (up(&body, "sim-0"), up(&body, "sim-1")),
        (Some(1.0), Some(1.0))
    );

    // A change made on purpose, and stable: applied after the second read, logged with both URLs and counted.
    let moved = full.replace(
        &format!("api_url: {}\n", sim.url()),
        &format!("api_url: http://localhost:{port}/\n"),
    );
    assert_ne!(moved, full);
    let tmp = dir.join("accounts.yml.new");
    std::fs::write(&tmp, &moved).unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    exporter.signal("HUP");
    let changed = exporter.wait_logged("API URL or proxy changed; the account starts afresh", 1);
    assert_eq!(changed["previous_api_url"], sim.url().as_str(), "{changed}");
    let body = eventually("the move counted and both polled", || async {
        let body = get(&url).await.1;
        (sample(&body, "zenlayer_exporter_account_endpoint_changes_total") == Some(2.0)
            && up(&body, "sim-1") == Some(1.0))
        .then_some(body)
    })
    .await;
    assert_eq!(reload_ok(&body), Some(1.0));
    assert_eq!(
        sample(&body, "zenlayer_exporter_accounts_file_accounts"),
        Some(2.0)
    );
    assert_eq!(trap.connections.load(Ordering::SeqCst), 0);
}

/// A sparse file of a gigabyte, `/dev/zero` and a FIFO at a secret path, and an accounts file of a gigabyte: each
/// refused at a reload without being read, memory flat, the gauge at 0, and the reloads still working after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_and_accounts_files_are_read_within_bounds_and_never_block() {
    let sim = common::accounts_sim(1, 20).await;
    let dir = scratch("bounded-files");
    let file = dir.join("accounts.yml");
    let secret = dir.join("sim-0.secret");
    let password = sim.credentials(0).access_key_secret;
    std::fs::write(&secret, format!("{password}\n")).unwrap();
    let inline = sim.accounts_file();
    let accounts = inline.replace(
        &format!("access_key_password: {password}"),
        "access_key_password_file: sim-0.secret",
    );
    assert_ne!(accounts, inline);
    std::fs::write(&file, &accounts).unwrap();
    let exporter = exporter(&file);
    let url = exporter.url("/metrics");
    eventually("polled", || async {
        (up(&get(&url).await.1, "sim-0") == Some(1.0)).then_some(())
    })
    .await;
    let before = exporter.peak_rss_mb();

    let replace = |with: &dyn Fn(&std::path::Path)| {
        let _ = std::fs::remove_file(&secret);
        with(&secret);
    };
    let sparse = |path: &std::path::Path| {
        std::fs::File::create(path)
            .unwrap()
            .set_len(1 << 30)
            .unwrap();
    };
    let zero = |path: &std::path::Path| std::os::unix::fs::symlink("/dev/zero", path).unwrap();
    let fifo = |path: &std::path::Path| {
        let name = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    };
    let good = |path: &std::path::Path| std::fs::write(path, format!("{password}\n")).unwrap();
    for (what, make, why) in [
        (
            "a sparse gigabyte",
            &sparse as &dyn Fn(&std::path::Path),
            "larger than 4 KiB",
        ),
        ("/dev/zero", &zero, "not a regular file"),
        ("a FIFO", &fifo, "not a regular file"),
    ] {
        replace(make);
        exporter.signal("HUP");
        let body = eventually(what, || async {
            let body = get(&url).await.1;
            (reload_ok(&body) == Some(0.0)).then_some(body)
        })
        .await;
        eprintln!(
            "{what} at the secret path: peak resident memory {:.1} MB (it was {before:.1} MB)",
            exporter.peak_rss_mb()
        );
        // The account keeps polling with the secret it has.
        assert_eq!(up(&body, "sim-0"), Some(1.0), "{what}");
        let problems = exporter
            .logged("accounts file not reloaded; the accounts in use keep polling")
            .last()
            .map(|e| e["problems"].to_string())
            .unwrap_or_default();
        assert!(problems.contains(why), "{what}: {problems}");
        // Reloads go on: the good secret is taken up again.
        replace(&good);
        exporter.signal("HUP");
        eventually("the good secret again", || async {
            (reload_ok(&get(&url).await.1) == Some(1.0)).then_some(())
        })
        .await;
    }
    // An accounts file of a gigabyte is refused from its size.
    std::fs::File::create(&file)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    exporter.signal("HUP");
    eventually("the huge accounts file refused", || async {
        (reload_ok(&get(&url).await.1) == Some(0.0)).then_some(())
    })
    .await;
    let peak = exporter.peak_rss_mb();
    eprintln!("peak resident memory: {before:.1} MB before the hostile files, {peak:.1} MB after");
    assert!(
        peak < before + 32.0,
        "peak resident memory went from {before:.1} MB to {peak:.1} MB"
    );
    assert!(
        exporter.logged("reading the file has not finished (a hung mount?); what is in use stays, and reloads resume when it returns").is_empty()
    );
}
