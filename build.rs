//! Stamps the git revision into the binary for `zenlayer_exporter_build_info` and `--version`.
//! Outside a checkout (a source tarball, a Docker context without `.git`) it says `unknown`, or what
//! `ZENLAYER_BUILD_REVISION` says at build time.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=ZENLAYER_BUILD_REVISION");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs");
    let revision = std::env::var("ZENLAYER_BUILD_REVISION")
        .ok()
        .filter(|r| !r.is_empty())
        .or_else(|| {
            let out = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
                .filter(|r| !r.is_empty())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=ZENLAYER_BUILD_REVISION={revision}");
}
