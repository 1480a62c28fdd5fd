//! The binary as an operator runs it: `--help`, `--version`, `--check-config`, exit code 2 with every problem
//! named, and a clean exit on SIGTERM while serving the demo fleet.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use zenlayer_exporter::config::VARIABLES;

const BIN: &str = env!("CARGO_BIN_EXE_zenlayer-exporter");

fn exporter() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

#[test]
fn help_lists_every_variable_with_its_default() {
    let out = exporter().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for v in VARIABLES {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(v.name))
            .unwrap_or_else(|| panic!("{} missing", v.name));
        if !v.default.is_empty() {
            assert!(line.contains(&format!("(default {})", v.default)), "{line}");
        }
    }
    for flag in ["--demo", "--check-config", "--version"] {
        assert!(text.contains(flag), "{flag}");
    }
}

#[test]
fn version() {
    let out = exporter().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .starts_with(concat!("zenlayer-exporter ", env!("CARGO_PKG_VERSION")))
    );
}

#[test]
fn bad_configuration_exits_2_naming_every_problem() {
    let out = exporter()
        .env("ZENLAYER_EXPORTER_PAGE_SIZE", "0")
        .env("ZENLAYER_EXPORTER_LOG_FORMAT", "yaml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("invalid configuration (3 problems):\n"),
        "{err}"
    );
    for variable in [
        "ZENLAYERCLOUD_ACCESS_KEY_ID",
        "ZENLAYER_EXPORTER_PAGE_SIZE",
        "ZENLAYER_EXPORTER_LOG_FORMAT",
    ] {
        assert!(
            err.contains(&format!("  {variable}: ")),
            "{variable} in {err}"
        );
    }
    let unknown = exporter().arg("--bogus").output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));

    // A web configuration that does not load stops the exporter before it serves anything, even in demo mode.
    let dir = std::env::temp_dir().join(format!("zenlayer-cli-web-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("web.yml");
    std::fs::write(
        &file,
        "tls_server_config:\n  cert_file: absent.crt\n  min_version: TLS10\n",
    )
    .unwrap();
    let out = exporter()
        .arg("--demo")
        .env("ZENLAYER_EXPORTER_WEB_CONFIG_FILE", &file)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("invalid configuration (3 problems):\n"),
        "{err}"
    );
    for fragment in [
        "cannot read the certificate",
        "key_file (or key) is required",
        "TLS 1.0 and 1.1",
    ] {
        assert!(
            err.lines().any(|l| l
                .starts_with("  ZENLAYER_EXPORTER_WEB_CONFIG_FILE: tls_server_config: ")
                && l.contains(fragment)),
            "{fragment} in {err}"
        );
    }
}

#[test]
fn check_config_validates_and_redacts() {
    let out = exporter()
        .arg("--check-config")
        .env("ZENLAYERCLOUD_ACCESS_KEY_ID", "AKIDCHECK")
        .env("ZENLAYERCLOUD_ACCESS_KEY_PASSWORD", "very-secret-value")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("configuration is valid"), "{text}");
    assert!(
        text.contains("AKIDCHECK") && !text.contains("very-secret-value"),
        "{text}"
    );
}

/// `--check-config` prints a table: every variable, its effective value and where it came from; a secret from a
/// `_FILE` path shows on its own row, redacted, with the file as its source; each account of an accounts file
/// has a row naming the file.
#[test]
fn check_config_prints_each_variable_its_value_and_its_source() {
    let dir = crate::common::scratch("check-config-table");
    let secret = dir.join("password");
    std::fs::write(&secret, "file-secret-value\n").unwrap();
    let row = |text: &str, variable: &str| -> Vec<String> {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(variable))
            .unwrap_or_else(|| panic!("no row for {variable} in\n{text}"));
        line.split_whitespace().map(str::to_owned).collect()
    };
    // What `--check-config` prints, valid, with `vars` set.
    let checked = |vars: &[(&str, &std::path::Path)]| -> String {
        let mut cmd = exporter();
        cmd.arg("--check-config").envs(vars.iter().copied());
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let text = checked(&[
        ("ZENLAYERCLOUD_ACCESS_KEY_ID", "AKIDTABLE".as_ref()),
        ("ZENLAYERCLOUD_ACCESS_KEY_PASSWORD_FILE", &secret),
        ("ZENLAYER_EXPORTER_POLL_INTERVAL_SECONDS", "15".as_ref()),
    ]);
    assert!(!text.contains("file-secret-value"), "{text}");
    let path = secret.display().to_string();
    assert_eq!(row(&text, "VARIABLE"), ["VARIABLE", "VALUE", "SOURCE"]);
    assert_eq!(
        row(&text, "ZENLAYERCLOUD_ACCESS_KEY_ID"),
        ["ZENLAYERCLOUD_ACCESS_KEY_ID", "AKIDTABLE", "environment"]
    );
    assert_eq!(
        row(&text, "ZENLAYERCLOUD_ACCESS_KEY_PASSWORD"),
        [
            "ZENLAYERCLOUD_ACCESS_KEY_PASSWORD",
            "<redacted>",
            "file",
            &path
        ]
    );
    assert_eq!(
        row(&text, "ZENLAYER_EXPORTER_POLL_INTERVAL_SECONDS"),
        [
            "ZENLAYER_EXPORTER_POLL_INTERVAL_SECONDS",
            "15s",
            "environment"
        ]
    );
    assert_eq!(
        row(&text, "ZENLAYER_EXPORTER_PAGE_SIZE"),
        ["ZENLAYER_EXPORTER_PAGE_SIZE", "1000", "default"]
    );
    assert_eq!(
        row(&text, "ZENLAYER_EXPORTER_SHARD"),
        ["ZENLAYER_EXPORTER_SHARD", "-", "unset"]
    );
    for v in VARIABLES {
        row(&text, v.name);
    }

    let accounts = dir.join("accounts.yml");
    std::fs::write(
        &accounts,
        "accounts:\n  - name: prod\n    access_key_id: AKIDPROD\n    access_key_password: \"prod-secret-value\"\n",
    )
    .unwrap();
    let text = checked(&[("ZENLAYER_EXPORTER_ACCOUNTS_FILE", &accounts)]);
    assert!(!text.contains("prod-secret-value"), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("account prod "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("access key AKIDPROD (secret redacted) at https://console.zenlayer.com/")
            && line.ends_with(&format!("accounts file {}", accounts.display())),
        "{line}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The start-up log gives the same rows as structured fields (here JSON), not a `Debug` of the configuration.
#[test]
fn the_start_up_log_gives_each_setting_as_fields() {
    let mut child = exporter()
        .arg("--demo")
        .env("ZENLAYER_EXPORTER_LISTEN_ADDRESS", "127.0.0.1:0")
        .env("ZENLAYER_EXPORTER_LOG_FORMAT", "json")
        .env("ZENLAYER_EXPORTER_PAGE_SIZE", "500")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut settings = Vec::new();
    let reader = BufReader::new(child.stderr.take().unwrap());
    for line in reader.lines() {
        let event: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        match event["message"].as_str() {
            Some("setting") => settings.push(event),
            Some("serving /metrics") => break,
            _ => {}
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let field = |variable: &str| {
        let event = settings
            .iter()
            .find(|e| e["variable"] == variable)
            .unwrap_or_else(|| panic!("no setting event for {variable}: {settings:?}"));
        (
            event["value"].as_str().unwrap().to_owned(),
            event["source"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(settings.len(), VARIABLES.len(), "{settings:?}");
    assert_eq!(
        field("ZENLAYER_EXPORTER_PAGE_SIZE"),
        ("500".into(), "environment".into())
    );
    assert_eq!(
        field("ZENLAYER_EXPORTER_POLL_INTERVAL_SECONDS"),
        ("30s".into(), "default".into())
    );
    assert_eq!(
        field("ZENLAYER_EXPORTER_API_URL"),
        (
            "a simulated fleet on loopback (demo)".into(),
            "--demo".into()
        )
    );
}

#[test]
fn a_password_in_the_api_url_is_never_echoed() {
    for url in [
        "https://user:hunter2-in-url@console.zenlayer.com/",
        "ftp://user:hunter2-in-url@console.zenlayer.com/",
        "https://user:hunter2-in-url@console.zenlayer.com:badport/",
        "user:hunter2-in-url@console.zenlayer.com",
    ] {
        let out = exporter()
            .arg("--check-config")
            .env("ZENLAYERCLOUD_ACCESS_TOKEN", "t0ken")
            .env("ZENLAYER_EXPORTER_API_URL", url)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{url}");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            all.contains("ZENLAYER_EXPORTER_API_URL") && all.contains("…@console.zenlayer.com"),
            "{all}"
        );
        assert!(!all.contains("hunter2"), "{all}");
    }
}

#[test]
fn demo_serves_then_stops_cleanly_on_sigterm() {
    let mut child = exporter()
        .arg("--demo")
        .env("ZENLAYER_EXPORTER_LISTEN_ADDRESS", "127.0.0.1:0")
        .env("ZENLAYER_EXPORTER_LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut saw_demo_warning = false;
    let mut addr = None;
    while addr.is_none() && Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        let event: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("JSON log line ({e}): {line}"));
        saw_demo_warning |= event["message"]
            .as_str()
            .is_some_and(|m| m.contains("SIMULATED"));
        if event["message"] == "serving /metrics" {
            addr = event["address"].as_str().map(str::to_owned);
        }
    }
    let addr = addr.expect("the exporter logs where it serves");
    assert_ne!(addr, "127.0.0.1:0", "the logged address is the bound one");
    assert!(
        saw_demo_warning
            || lines
                .by_ref()
                .take(5)
                .flatten()
                .any(|l| l.contains("SIMULATED")),
        "demo mode is announced"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(0));
            break;
        }
        assert!(Instant::now() < until, "exporter did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn healthcheck_fails_when_nothing_serves() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = exporter()
        .arg("--healthcheck")
        .env(
            "ZENLAYER_EXPORTER_LISTEN_ADDRESS",
            format!("127.0.0.1:{port}"),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("unhealthy: cannot connect"));
}
