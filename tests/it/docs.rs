//! The README is the operator's manual: every metric served has a row in its metrics tables and every row is
//! served; every configuration variable has a row with the default the code uses, and back.

use std::collections::BTreeSet;

use zenlayer_exporter::config::VARIABLES;

use crate::common;
use common::Exporter;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md")
}

/// First-column code spans of the table rows of the README section headed `heading`.
fn table_names(heading: &str) -> Vec<(String, Vec<String>)> {
    let text = readme();
    let start = text
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("README has a {heading} section"));
    let section = &text[start + 1..];
    let end = section[3..].find("\n## ").map_or(section.len(), |e| e + 3);
    section[..end]
        .lines()
        .filter_map(|line| {
            let cells: Vec<String> = line
                .strip_prefix("| `")?
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect();
            let name = cells[0].trim_end_matches('`').to_owned();
            Some((name, cells[1..].to_vec()))
        })
        .collect()
}

#[tokio::test]
async fn metrics_table_matches_what_is_served() {
    // VM and bare metal (with its hardware health and a maintenance window) at the default intervals, so every
    // instance family is served.
    let sim = common::vm_and_bare_metal(30, 6).await;
    crate::bare_metal::Trouble::arrange(&sim);
    let every = std::time::Duration::from_secs(1);
    let exporter = Exporter::start(common::every_poll(&sim, "vm,bmc", every, &[])).await;
    let body = common::every_family(&exporter).await;
    // With an accounts file, two families more are served.
    let sims = common::accounts_sim(2, 3).await;
    let dir = common::scratch("docs-accounts");
    std::fs::write(dir.join("accounts.yml"), sims.accounts_file()).unwrap();
    let several = Exporter::start(common::accounts_config(&dir.join("accounts.yml"), &[])).await;
    let several = several
        .metrics_until("first polls", |b| {
            b.contains("zenlayer_up{account=\"sim-1\",product=\"vm\"} 1")
        })
        .await;
    let served: BTreeSet<String> = [body.as_str(), several.as_str()]
        .concat()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .filter(|name| !name.starts_with("process_"))
        .map(str::to_owned)
        .collect();
    let documented: BTreeSet<String> = table_names("Metrics")
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| name != "process_*")
        .collect();
    assert_eq!(documented, served, "README metrics tables vs /metrics");
    assert!(
        body.contains("# TYPE process_"),
        "the process_* row stands for something served"
    );
}

#[test]
fn configuration_table_matches_the_code() {
    let rows = table_names("Configuration");
    let documented: Vec<&str> = rows.iter().map(|(name, _)| name.as_str()).collect();
    let read: Vec<&str> = VARIABLES.iter().map(|v| v.name).collect();
    assert_eq!(
        documented, read,
        "README configuration table vs config::VARIABLES (same order)"
    );
    for ((_, cells), v) in rows.iter().zip(VARIABLES) {
        let default = cells[0].trim_matches('`');
        assert_eq!(default, v.default, "default of {}", v.name);
    }
}

/// Every relative link of the README and of `docs/` names a file that exists, so moving a section keeps the
/// manual whole.
#[test]
fn relative_links_name_files_that_exist() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md"), root.join("mixin/README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    let mut broken = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for (at, _) in text.match_indices("](") {
            let target: String = text[at + 2..].chars().take_while(|c| *c != ')').collect();
            let file = target.split('#').next().unwrap();
            if file.is_empty() || file.contains("://") || file.starts_with("mailto:") {
                continue;
            }
            if !page.parent().unwrap().join(file).exists() {
                broken.push(format!(
                    "{}: {target}",
                    page.strip_prefix(root).unwrap().display()
                ));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links to nothing:\n{}",
        broken.join("\n")
    );
}

/// The statuses table of `docs/products.md` says what the vocabulary declares: every status, its kind and the
/// products that have it, in the exported order.
#[test]
fn the_products_statuses_table_is_the_vocabulary() {
    use zenlayer_exporter::status::{Kind, Known};
    use zenlayer_exporter::zenlayer::product::Product;
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/products.md"))
        .expect("docs/products.md");
    let section = page
        .split("\n## Statuses\n")
        .nth(1)
        .expect("a Statuses section");
    let documented: Vec<Vec<String>> = section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .map(|row| {
            row.split('|')
                .map(|c| c.trim().trim_end_matches('`').to_owned())
                .collect()
        })
        .collect();
    let declared: Vec<Vec<String>> = Known::ALL
        .iter()
        .map(|k| {
            let kind = match k.kind() {
                Kind::Transitional => "transitional",
                Kind::Steady => "steady",
                Kind::Failed => "failed",
            };
            let mut row = vec![k.as_str().to_owned(), kind.to_owned()];
            row.extend(
                Product::ALL
                    .iter()
                    .map(|p| if k.is_of(*p) { "✓" } else { "" }.to_owned()),
            );
            row.push(String::new());
            row
        })
        .collect();
    assert_eq!(documented, declared);
}
