//! The real tools the deploy and mixin tests run (promtool, jsonnet, helm, kubernetes-validate, ...): a missing
//! one fails with the package that provides it, never a silent skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

pub const PROMETHEUS_PKG: &str = "Debian's `prometheus` package";

/// A path of the repository.
pub fn path(relative: &str) -> PathBuf {
    Path::new(ROOT).join(relative)
}

/// Runs a tool in `dir`, failing with the package that provides it when it is missing.
pub fn run(program: &str, package: &str, args: &[&str], dir: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} cannot run ({e}): install {package} (.ci/test does)"))
}

pub fn assert_clean(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Renders the monitoring mixin into a fresh directory of its own (`mixin/render.py`, go-jsonnet), with
/// top-level arguments `tla` (jsonnet code: `config`, `target`, `absent`; see `mixin/build.jsonnet`).
pub fn render_mixin(name: &str, tla: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zenlayer-mixin-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut args = vec![
        path("mixin/render.py").display().to_string(),
        dir.display().to_string(),
    ];
    for (k, v) in tla {
        args.push(format!("--tla-code={k}={v}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_clean(
        "mixin/render.py",
        &run(
            "python3",
            "PyPI's `gojsonnet` (go-jsonnet)",
            &args,
            Path::new(ROOT),
        ),
    );
    dir
}

/// `promtool check rules alerts.yml` in `dir` (which must pass), then `promtool test rules alerts_test.yml`: the
/// unit tests' outcome, for the caller to judge.
pub fn promtool_rules(dir: &Path) -> Output {
    assert_clean(
        "promtool check rules",
        &run(
            "promtool",
            PROMETHEUS_PKG,
            &["check", "rules", "alerts.yml"],
            dir,
        ),
    );
    run(
        "promtool",
        PROMETHEUS_PKG,
        &["test", "rules", "alerts_test.yml"],
        dir,
    )
}
