//! Configuration from a table of variables (never the process environment): defaults, every problem reported
//! at once with its exact message, `_FILE` secrets, and redaction.

use std::time::Duration;

use zenlayer_exporter::Config;
use zenlayer_exporter::config::VARIABLES;
use zenlayer_exporter::exposition::render::StatusSeries;
use zenlayer_exporter::zenlayer::Auth;
use zenlayer_exporter::zenlayer::product::Product;

fn load(vars: &[(&str, &str)]) -> Result<Config, Vec<String>> {
    Config::from_vars(
        vars.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        false,
    )
    .map_err(|e| {
        e.problems
            .iter()
            .map(|p| format!("{}: {}", p.variable, p.message))
            .collect()
    })
}

const KEY: [(&str, &str); 2] = [
    ("ZENLAYERCLOUD_ACCESS_KEY_ID", "AKID123"),
    ("ZENLAYERCLOUD_ACCESS_KEY_PASSWORD", "s3cret-value"),
];

#[test]
fn defaults_match_the_design() {
    let c = load(&KEY).expect("valid");
    assert_eq!(c.api_url.as_str(), "https://console.zenlayer.com/");
    assert_eq!(c.products.as_slice(), Product::ALL);
    let versions: Vec<&str> = Product::ALL
        .iter()
        .map(|p| c.api_versions.get(*p))
        .collect();
    assert_eq!(versions, ["2023-03-13", "2025-09-01", "2026-02-01"]);
    let services: Vec<&str> = Product::ALL
        .iter()
        .map(|p| c.api_services.get(*p))
        .collect();
    assert_eq!(services, ["vm", "zec", "bmc"]);
    assert_eq!(c.listen_address.to_string(), "0.0.0.0:9612");
    assert_eq!(c.poll_interval, Duration::from_secs(30));
    assert_eq!(c.page_size, 1000);
    assert_eq!(c.page_concurrency, 4);
    assert_eq!(c.request_timeout, Duration::from_secs(10));
    assert_eq!(c.max_retries, 3);
    assert_eq!(c.status_series, StatusSeries::Current);
    assert!(
        matches!(c.auth, Some(Auth::Signature { ref access_key_id, .. }) if access_key_id == "AKID123")
    );
}

#[test]
fn every_bad_value_is_reported_at_once_with_its_message() {
    let vars = [
        ("ZENLAYER_EXPORTER_API_URL", "ftp://example.com"),
        ("ZENLAYER_EXPORTER_LISTEN_ADDRESS", "localhost"),
        ("ZENLAYER_EXPORTER_POLL_INTERVAL_SECONDS", "0"),
        ("ZENLAYER_EXPORTER_PAGE_SIZE", "1001"),
        ("ZENLAYER_EXPORTER_PAGE_CONCURRENCY", "many"),
        ("ZENLAYER_EXPORTER_REQUEST_TIMEOUT_SECONDS", "-1"),
        ("ZENLAYER_EXPORTER_MAX_RETRIES", "11"),
        ("ZENLAYER_EXPORTER_STATUS_SERIES", "some"),
        ("ZENLAYER_EXPORTER_LOG_FORMAT", "xml"),
        ("ZENLAYER_EXPORTER_PRODUCTS", "vm, vm,ec2"),
        ("ZENLAYER_EXPORTER_API_VERSIONS", "vm=v 2,xen=1,zec"),
        ("ZENLAYER_EXPORTER_API_SERVICES", "bmc=Bare Metal"),
        ("RUST_LOG", "info,[[["),
    ];
    let problems = load(&vars).unwrap_err();
    let expected = [
        "ZENLAYERCLOUD_ACCESS_KEY_ID: no credentials: set ZENLAYERCLOUD_ACCESS_KEY_ID and ZENLAYERCLOUD_ACCESS_KEY_PASSWORD (or ZENLAYERCLOUD_ACCESS_KEY_PASSWORD_FILE), or ZENLAYERCLOUD_ACCESS_TOKEN (or ZENLAYERCLOUD_ACCESS_TOKEN_FILE); or run with --demo",
        "ZENLAYER_EXPORTER_API_URL: must be an http or https URL, got \"ftp://example.com\"",
        "ZENLAYER_EXPORTER_PRODUCTS: names vm twice",
        "ZENLAYER_EXPORTER_PRODUCTS: \"ec2\" is not a product: the products are vm, zec, bmc",
        "ZENLAYER_EXPORTER_API_VERSIONS: vm: a version must look like 2023-03-13, got \"v 2\"",
        "ZENLAYER_EXPORTER_API_VERSIONS: \"xen\" is not a product: the products are vm, zec, bmc",
        "ZENLAYER_EXPORTER_API_VERSIONS: \"zec\" must be PRODUCT=VALUE",
        "ZENLAYER_EXPORTER_API_SERVICES: bmc: a service name is a-z, 0-9, - and _, got \"Bare Metal\"",
        "ZENLAYER_EXPORTER_LISTEN_ADDRESS: must be IP:PORT ([::]:9612 for IPv6) or :PORT, got \"localhost\"",
        "ZENLAYER_EXPORTER_POLL_INTERVAL_SECONDS: must be a number of seconds from 1 to 86400, got \"0\"",
        "ZENLAYER_EXPORTER_PAGE_SIZE: must be a whole number from 1 to 1000, got \"1001\"",
        "ZENLAYER_EXPORTER_PAGE_CONCURRENCY: must be a whole number from 1 to 64, got \"many\"",
        "ZENLAYER_EXPORTER_REQUEST_TIMEOUT_SECONDS: must be a number of seconds from 0.1 to 600, got \"-1\"",
        "ZENLAYER_EXPORTER_MAX_RETRIES: must be a whole number from 0 to 10, got \"11\"",
        "ZENLAYER_EXPORTER_STATUS_SERIES: must be current or all, got \"some\"",
        "ZENLAYER_EXPORTER_LOG_FORMAT: must be text or json, got \"xml\"",
    ];
    assert_eq!(&problems[..expected.len()], expected);
    assert_eq!(problems.len(), expected.len() + 1);
    assert!(
        problems[expected.len()].starts_with("RUST_LOG: is not a valid filter"),
        "{problems:?}"
    );
}

#[test]
fn credential_combinations() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("ZENLAYERCLOUD_ACCESS_KEY_ID", "AKID")],
            "ZENLAYERCLOUD_ACCESS_KEY_PASSWORD: is required with ZENLAYERCLOUD_ACCESS_KEY_ID (or set ZENLAYERCLOUD_ACCESS_KEY_PASSWORD_FILE)",
        ),
        (
            &[("ZENLAYERCLOUD_ACCESS_KEY_PASSWORD", "x")],
            "ZENLAYERCLOUD_ACCESS_KEY_ID: is required with ZENLAYERCLOUD_ACCESS_KEY_PASSWORD",
        ),
        (
            &[
                ("ZENLAYERCLOUD_ACCESS_KEY_ID", "AKID"),
                ("ZENLAYERCLOUD_ACCESS_KEY_PASSWORD", "x"),
                ("ZENLAYERCLOUD_ACCESS_TOKEN", "t"),
            ],
            "ZENLAYERCLOUD_ACCESS_TOKEN: set either the access key pair (ZENLAYERCLOUD_ACCESS_KEY_ID, ZENLAYERCLOUD_ACCESS_KEY_PASSWORD) or the access token, not both",
        ),
        (
            &[
                ("ZENLAYERCLOUD_ACCESS_TOKEN", "t"),
                ("ZENLAYERCLOUD_ACCESS_TOKEN_FILE", "/x"),
            ],
            "ZENLAYERCLOUD_ACCESS_TOKEN_FILE: set either ZENLAYERCLOUD_ACCESS_TOKEN or ZENLAYERCLOUD_ACCESS_TOKEN_FILE, not both",
        ),
        (
            &[("ZENLAYERCLOUD_ACCESS_TOKEN_FILE", "/nonexistent/token")],
            "ZENLAYERCLOUD_ACCESS_TOKEN_FILE: cannot read \"/nonexistent/token\": No such file or directory (os error 2)",
        ),
        (
            &[
                ("ZENLAYERCLOUD_ACCESS_KEY_ID", "AKID"),
                ("ZENLAYERCLOUD_ACCESS_KEY_PASSWORD", "bad\u{7}secret"),
            ],
            "ZENLAYERCLOUD_ACCESS_KEY_PASSWORD: contains characters that cannot be sent in an HTTP header (control characters or non-ASCII)",
        ),
    ];
    for (vars, message) in cases {
        assert_eq!(
            load(vars).unwrap_err(),
            vec![message.to_string()],
            "{vars:?}"
        );
    }
}

#[test]
fn secrets_from_files_trim_the_trailing_newline() {
    let dir = std::env::temp_dir().join(format!("zenlayer-exporter-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("token");
    std::fs::write(&path, "tok-en-value\n").unwrap();
    let c = load(&[("ZENLAYERCLOUD_ACCESS_TOKEN_FILE", path.to_str().unwrap())]).expect("valid");
    match c.auth {
        Some(Auth::Bearer { token }) => assert_eq!(token.expose(), "tok-en-value"),
        other => panic!("expected a bearer token, got {other:?}"),
    }
    std::fs::write(&path, "\n").unwrap();
    assert_eq!(
        load(&[("ZENLAYERCLOUD_ACCESS_TOKEN_FILE", path.to_str().unwrap())]).unwrap_err(),
        vec!["ZENLAYERCLOUD_ACCESS_TOKEN_FILE: is empty".to_owned()]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn debug_output_redacts_secrets_and_never_echoes_them_in_errors() {
    let c = load(&KEY).expect("valid");
    let debug = format!("{c:?} {c:#?}");
    assert!(!debug.contains("s3cret-value"), "{debug}");
    assert!(debug.contains("AKID123"));
    let errors = load(&[
        ("ZENLAYERCLOUD_ACCESS_KEY_PASSWORD", "s3cret-value"),
        ("ZENLAYERCLOUD_ACCESS_TOKEN", "tok-value"),
    ])
    .unwrap_err();
    assert!(
        errors
            .iter()
            .all(|e| !e.contains("s3cret-value") && !e.contains("tok-value")),
        "{errors:?}"
    );
}

#[test]
fn forms_operators_write() {
    let mut vars = KEY.to_vec();
    vars.extend([
        ("ZENLAYER_EXPORTER_LISTEN_ADDRESS", ":9100"),
        ("ZENLAYER_EXPORTER_POLL_INTERVAL_SECONDS", "2.5"),
        ("ZENLAYER_EXPORTER_PAGE_SIZE", ""),
        ("ZENLAYER_EXPORTER_API_URL", "http://127.0.0.1:8080/prefix"),
    ]);
    let c = load(&vars).expect("valid");
    assert_eq!(c.listen_address.to_string(), "0.0.0.0:9100");
    assert_eq!(c.poll_interval, Duration::from_millis(2500));
    assert_eq!(c.page_size, 1000, "an empty value means the default");
    assert_eq!(c.api_url.as_str(), "http://127.0.0.1:8080/prefix");
    let ipv6 = load(&[
        KEY[0],
        KEY[1],
        ("ZENLAYER_EXPORTER_LISTEN_ADDRESS", "[::]:9612"),
    ])
    .expect("valid");
    assert_eq!(ipv6.listen_address.to_string(), "[::]:9612");
}

#[test]
fn typos_under_our_prefixes_are_noticed_but_kubernetes_service_links_are_not() {
    let mut vars = KEY.to_vec();
    vars.extend([
        ("ZENLAYER_EXPORTER_POLL_INTERVAL", "10"),
        ("ZENLAYER_EXPORTER_SERVICE_HOST", "10.0.0.1"),
        ("ZENLAYER_EXPORTER_PORT_9612_TCP", "tcp://10.0.0.1:9612"),
        ("UNRELATED", "x"),
    ]);
    let c = load(&vars).expect("valid");
    assert_eq!(c.unknown_variables, ["ZENLAYER_EXPORTER_POLL_INTERVAL"]);
}

#[test]
fn demo_needs_no_credentials() {
    let c = Config::from_vars(Vec::new(), true).expect("demo runs without credentials");
    assert!(c.demo && c.auth.is_none());
}

#[test]
fn every_variable_is_read() {
    // Setting each documented variable to a bad value must produce a problem naming it: proof the table and
    // the reader agree.
    for v in VARIABLES {
        if v.name.starts_with("ZENLAYERCLOUD_") {
            continue;
        }
        let problems = load(&[KEY[0], KEY[1], (v.name, "\u{1}bad")]).unwrap_err();
        assert!(
            problems.iter().any(|p| p.starts_with(v.name)),
            "{}: {problems:?}",
            v.name
        );
    }
}

#[test]
fn plain_http_to_another_host_is_warned_about() {
    let with = |url: &str, token: bool| {
        let mut vars = vec![("ZENLAYER_EXPORTER_API_URL", url)];
        if token {
            vars.push(("ZENLAYERCLOUD_ACCESS_TOKEN", "t0ken"));
        } else {
            vars.extend(KEY);
        }
        load(&vars).expect("valid").warnings()
    };
    assert!(with("https://console.zenlayer.com", true).is_empty());
    assert!(
        with("http://127.0.0.1:8089", true).is_empty(),
        "the simulator on loopback"
    );
    assert!(with("http://localhost:8089", false).is_empty());
    let token = with("http://proxy.internal:8080", true);
    assert_eq!(token.len(), 1);
    assert!(
        token[0].contains("access token travels in clear"),
        "{token:?}"
    );
    assert!(with("http://proxy.internal:8080", false)[0].contains("read and replayed"));
}

#[test]
fn proxy_variables_are_read_by_the_api_scheme_and_checked() {
    let proxy_of = |vars: &[(&str, &str)]| {
        let mut all = vec![("ZENLAYERCLOUD_ACCESS_TOKEN", "t0ken")];
        all.extend_from_slice(vars);
        load(&all).map(|c| format!("{:?}", c.proxy))
    };
    assert_eq!(proxy_of(&[]).unwrap(), "None");
    // https API (the default): HTTPS_PROXY, upper case first, then ALL_PROXY; HTTP_PROXY is not for it.
    assert_eq!(
        proxy_of(&[
            ("https_proxy", "http://lower:3128"),
            ("HTTPS_PROXY", "http://upper:3128"),
            ("HTTP_PROXY", "http://plain:3128")
        ])
        .unwrap(),
        "Some(http://upper:3128/ (from HTTPS_PROXY))"
    );
    assert_eq!(
        proxy_of(&[("HTTP_PROXY", "http://plain:3128")]).unwrap(),
        "None"
    );
    assert_eq!(
        proxy_of(&[
            ("all_proxy", "proxy.internal:8080"),
            ("no_proxy", "10.0.0.0/8")
        ])
        .unwrap(),
        "Some(http://proxy.internal:8080/ (from all_proxy, NO_PROXY \"10.0.0.0/8\"))"
    );
    assert_eq!(
        proxy_of(&[
            ("ZENLAYER_EXPORTER_API_URL", "http://api.internal"),
            ("HTTP_PROXY", "http://u:secret-pw@plain:3128")
        ])
        .unwrap(),
        "Some(http://…@plain:3128/ (from HTTP_PROXY))"
    );
    let problems = proxy_of(&[("HTTPS_PROXY", "socks5://u:secret-pw@proxy:1080")]).unwrap_err();
    assert_eq!(
        problems,
        [
            "HTTPS_PROXY: must be an http:// or https:// proxy URL (host[:port] alone means http://), got \"socks5://…@proxy:1080\""
        ]
    );
}

/// Writes `text` as an accounts file (and `files`, beside it) in a directory of its own.
fn accounts_file(name: &str, text: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("zenlayer-accounts-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, content) in files {
        std::fs::write(dir.join(file), content).unwrap();
    }
    let path = dir.join("accounts.yml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn an_accounts_file_gives_each_account_its_credentials_and_api() {
    let path = accounts_file(
        "good",
        "accounts:\n\
         - name: prod\n  access_key_id: AKIDPROD\n  access_key_password_file: prod.secret\n\
         - name: staging\n  access_token: staging-token-value\n  api_url: https://staging.example.com/\n",
        &[("prod.secret", "prod-secret-value\n")],
    );
    let c = load(&[("ZENLAYER_EXPORTER_ACCOUNTS_FILE", path.to_str().unwrap())]).expect("valid");
    assert!(c.auth.is_none(), "no credentials of its own");
    let accounts = c.accounts.as_ref().expect("accounts");
    assert_eq!(accounts.len(), 2);
    assert_eq!(&*accounts[0].name, "prod");
    assert_eq!(
        accounts[0].endpoint.base_url.as_str(),
        "https://console.zenlayer.com/"
    );
    match &accounts[0].endpoint.auth {
        // Relative to the accounts file's directory, newline trimmed.
        Auth::Signature {
            access_key_id,
            secret,
        } => assert_eq!(
            (access_key_id.as_str(), secret.expose()),
            ("AKIDPROD", "prod-secret-value")
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        accounts[1].endpoint.base_url.as_str(),
        "https://staging.example.com/"
    );
    assert!(matches!(accounts[1].endpoint.auth, Auth::Bearer { .. }));
    let debug = format!("{c:?}");
    assert!(
        !debug.contains("prod-secret-value") && !debug.contains("staging-token-value"),
        "{debug}"
    );
}

#[test]
fn every_problem_of_the_accounts_file_is_named_at_once() {
    let path = accounts_file(
        "bad",
        "accounts:\n\
         - name: Prod\n  access_key_id: AKID\n  access_key_password: x\n\
         - name: ok\n  access_token: t\n  colour: blue\n\
         - name: ok\n  access_token: t\n\
         - name: nocreds\n\
         - name: both\n  access_token: t\n  access_key_id: AKID\n  access_key_password: x\n\
         - name: missing-file\n  access_token_file: nowhere.token\n\
         - name: bad-url\n  access_token: t\n  api_url: ftp://x\n\
         - just a string\n",
        &[],
    );
    let problems =
        load(&[("ZENLAYER_EXPORTER_ACCOUNTS_FILE", path.to_str().unwrap())]).unwrap_err();
    let dir = path.parent().unwrap().display().to_string();
    let expected = [
        "accounts[0]: name: must be 1 to 63 of a-z, 0-9, _ and -, got \"Prod\"".to_owned(),
        "accounts[1] (ok): unknown key \"colour\": an account takes name, api_url, products, access_key_id, access_key_password, access_key_password_file, access_token, access_token_file".to_owned(),
        "accounts[2] (ok): the name is already taken by an earlier account".to_owned(),
        "accounts[3] (nocreds): access_key_id: no credentials: set access_key_id and access_key_password (or access_key_password_file), or access_token (or access_token_file); each account needs one kind".to_owned(),
        "accounts[4] (both): access_token: set either the access key pair (access_key_id, access_key_password) or the access token, not both".to_owned(),
        format!("accounts[5] (missing-file): access_token_file: cannot read \"{dir}/nowhere.token\": No such file or directory (os error 2)"),
        "accounts[6] (bad-url): api_url: must be an http or https URL, got \"ftp://x\"".to_owned(),
        "accounts[7]: must be a mapping (name, credentials, api_url)".to_owned(),
    ];
    let expected: Vec<String> = expected
        .iter()
        .map(|p| format!("ZENLAYER_EXPORTER_ACCOUNTS_FILE: {p}"))
        .collect();
    assert_eq!(problems, expected);

    for (text, problem) in [
        ("accounts: []\n", "accounts: lists no account"),
        ("accounts: {}\n", "accounts: must be a list of accounts"),
        (
            "account:\n  - name: a\n",
            "unknown key \"account\": the file has one key, accounts",
        ),
        ("[1, 2]\n", "must be a mapping with one key, accounts"),
        ("", "is empty: it needs `accounts:` and a list of accounts"),
    ] {
        let path = accounts_file("shape", text, &[]);
        let problems =
            load(&[("ZENLAYER_EXPORTER_ACCOUNTS_FILE", path.to_str().unwrap())]).unwrap_err();
        assert!(
            problems.contains(&format!("ZENLAYER_EXPORTER_ACCOUNTS_FILE: {problem}")),
            "{text}: {problems:?}"
        );
    }
}

#[test]
fn the_accounts_file_and_the_environment_credentials_exclude_each_other() {
    let path = accounts_file(
        "exclusive",
        "accounts:\n  - name: a\n    access_token: t\n",
        &[],
    );
    let mut vars = KEY.to_vec();
    vars.push(("ZENLAYER_EXPORTER_ACCOUNTS_FILE", path.to_str().unwrap()));
    assert_eq!(
        load(&vars).unwrap_err(),
        [
            "ZENLAYER_EXPORTER_ACCOUNTS_FILE: set either the accounts file or the ZENLAYERCLOUD_* credentials, not both: the file gives each account its own"
        ]
    );
}

#[test]
fn shards() {
    let path = accounts_file(
        "shards",
        "accounts:\n  - name: a\n    access_token: t\n",
        &[],
    );
    let file = ("ZENLAYER_EXPORTER_ACCOUNTS_FILE", path.to_str().unwrap());
    let c = load(&[
        file,
        ("ZENLAYER_EXPORTER_TOTAL_SHARDS", "4"),
        ("ZENLAYER_EXPORTER_SHARD", "zenlayer-exporter-3"),
    ])
    .expect("valid");
    assert_eq!((c.total_shards, c.shard), (4, Some(3)));
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[file, ("ZENLAYER_EXPORTER_TOTAL_SHARDS", "4")],
            "ZENLAYER_EXPORTER_SHARD: is required with ZENLAYER_EXPORTER_TOTAL_SHARDS=4: every replica needs its own shard",
        ),
        (
            &[
                file,
                ("ZENLAYER_EXPORTER_TOTAL_SHARDS", "4"),
                ("ZENLAYER_EXPORTER_SHARD", "zl-4"),
            ],
            "ZENLAYER_EXPORTER_SHARD: must be below ZENLAYER_EXPORTER_TOTAL_SHARDS (4), got 4",
        ),
        (
            &[file, ("ZENLAYER_EXPORTER_SHARD", "pod-x")],
            "ZENLAYER_EXPORTER_SHARD: must be a number from 0, or a StatefulSet pod name ending in -N, got \"pod-x\"",
        ),
        (
            &[
                KEY[0],
                KEY[1],
                ("ZENLAYER_EXPORTER_TOTAL_SHARDS", "2"),
                ("ZENLAYER_EXPORTER_SHARD", "0"),
            ],
            "ZENLAYER_EXPORTER_TOTAL_SHARDS: shards split the accounts of ZENLAYER_EXPORTER_ACCOUNTS_FILE: set it, or leave this at 1",
        ),
    ];
    for (vars, message) in cases {
        assert_eq!(
            load(vars).unwrap_err(),
            vec![message.to_string()],
            "{vars:?}"
        );
    }
}
