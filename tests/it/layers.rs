//! The layer order of `docs/architecture.md`, held against the code: every `crate::` and `super::` path outside a
//! file's tests names a module of its own layer or of one listed before it, and no file reaches, through such
//! paths, a file that reaches it back. Read as text: a path is what the file names, whether in a `use` or inline.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The numbered list under `## Layers`: each top-level module (`telemetry.rs`, `config/`) and its layer.
fn layers() -> BTreeMap<String, usize> {
    let doc = std::fs::read_to_string(Path::new(ROOT).join("docs/architecture.md")).unwrap();
    let section = doc.split("## Layers").nth(1).expect("a Layers section");
    let mut out = BTreeMap::new();
    for line in section.lines().take_while(|l| !l.starts_with("## ")) {
        let Some((number, rest)) = line.split_once(". ") else {
            continue;
        };
        let Ok(layer) = number.parse::<usize>() else {
            continue;
        };
        // The modules are the code spans before the first colon.
        let names = rest.split(':').next().unwrap();
        for name in names.split('`').skip(1).step_by(2) {
            out.insert(
                name.trim_end_matches('/')
                    .trim_end_matches(".rs")
                    .to_owned(),
                layer,
            );
        }
    }
    out
}

/// Every source file of `src/`, by its path below it (`config/accounts.rs`), with its text less its tests.
fn sources() -> BTreeMap<String, String> {
    fn walk(dir: &Path, base: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, base, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                // Tests are the module at the end of a file; what they import is not the file's.
                let code = match text.find("#[cfg(test)]\nmod tests") {
                    Some(at) => text[..at].to_owned(),
                    None => text,
                };
                let relative = path
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(relative, code);
            }
        }
    }
    let mut out = BTreeMap::new();
    let src = Path::new(ROOT).join("src");
    walk(&src, &src, &mut out);
    out
}

/// The module path of a file: `config/accounts.rs` is `[config, accounts]`, `config/mod.rs` `[config]`.
fn module_of(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts == ["lib"] || parts == ["main"] {
        parts.clear();
    }
    parts
}

/// The paths a file names from `crate::` or `super::`, as module segments from the crate root, with the groups
/// in braces expanded (`crate::{a::B, c::{d, e}}` gives `a::B`, `c::d` and `c::e`).
fn paths(file: &str, code: &str) -> Vec<Vec<String>> {
    let module = module_of(file);
    let mut out = Vec::new();
    for (prefix, base) in [
        ("crate::", Vec::new()),
        ("super::", module[..module.len().saturating_sub(1)].to_vec()),
    ] {
        for (at, _) in code.match_indices(prefix) {
            // Inside a longer path (`zenlayer_exporter::crate`, `self::super`), it is not one.
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            tree(&code[at + prefix.len()..], base.clone(), &mut out);
        }
    }
    out
}

/// Reads one use tree from the start of `text` (segments joined by `::`, ending in a name or a brace group),
/// pushing every path it spells onto `out` after `base`; returns how many bytes it read.
fn tree(text: &str, mut base: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let mut at = 0;
    loop {
        let rest = &text[at..];
        let trimmed = rest.trim_start();
        at += rest.len() - trimmed.len();
        if let Some(group) = trimmed.strip_prefix('{') {
            at += 1;
            let mut inner = group;
            loop {
                let read = tree(inner, base.clone(), out);
                at += read;
                inner = &inner[read..];
                let next = inner.trim_start();
                at += inner.len() - next.len();
                match next.chars().next() {
                    Some(',') => {
                        at += 1;
                        inner = &next[1..];
                    }
                    Some('}') => return at + 1,
                    _ => return at,
                }
            }
        }
        let name: String = trimmed
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        at += name.len();
        if !name.is_empty() && name != "self" {
            base.push(name);
        }
        if text[at..].starts_with("::") {
            at += 2;
            continue;
        }
        if !base.is_empty() {
            out.push(base);
        }
        return at;
    }
}

#[test]
fn every_import_runs_down_the_layers_and_no_file_imports_itself_back() {
    let layers = layers();
    let sources = sources();
    let files_by_module: BTreeMap<Vec<String>, &String> =
        sources.keys().map(|f| (module_of(f), f)).collect();
    let top = |file: &str| -> String {
        file.split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_owned()
    };
    let layer_of = |file: &str| -> usize {
        *layers
            .get(&top(file))
            .unwrap_or_else(|| panic!("src/{file} is in no layer of docs/architecture.md"))
    };
    // Every file has a layer, whether or not it names another or is named (a macro's file is reached by
    // `crate::name!`, which is no module path).
    for file in sources.keys() {
        layer_of(file);
    }
    let mut problems = Vec::new();
    let mut edges: BTreeMap<&String, BTreeSet<&String>> = BTreeMap::new();
    for (file, code) in &sources {
        for path in paths(file, code) {
            // The longest prefix of the path that is a module with a file of its own.
            let target = (1..=path.len())
                .rev()
                .find_map(|n| files_by_module.get(&path[..n]).copied());
            let Some(target) = target else { continue };
            if target == file {
                continue;
            }
            edges.entry(file).or_default().insert(target);
            if layer_of(target) > layer_of(file) {
                problems.push(format!(
                    "src/{file} (layer {}) names {} of src/{target} (layer {})",
                    layer_of(file),
                    path.join("::"),
                    layer_of(target)
                ));
            }
        }
    }
    // A file that reaches itself through the files it names is in a circle.
    for start in sources.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<(&String, Vec<&String>)> = vec![(start, vec![start])];
        while let Some((file, trail)) = stack.pop() {
            for next in edges.get(file).into_iter().flatten() {
                if *next == start {
                    let circle: Vec<&str> = trail
                        .iter()
                        .map(|f| f.as_str())
                        .chain([start.as_str()])
                        .collect();
                    problems.push(format!("a circle of imports: {}", circle.join(" -> ")));
                } else if seen.insert(*next) {
                    let mut longer = trail.clone();
                    longer.push(next);
                    stack.push((next, longer));
                }
            }
        }
    }
    problems.sort();
    problems.dedup();
    assert!(
        problems.is_empty(),
        "the layers of docs/architecture.md are broken:\n{}",
        problems.join("\n")
    );
    // The list and the tree agree: every module of the list exists.
    for module in layers.keys() {
        assert!(
            sources.keys().any(|f| top(f) == *module),
            "docs/architecture.md lists {module}, which src/ does not have"
        );
    }
}

/// The check finds what it is for: an upward path, and a circle.
#[test]
fn the_check_sees_upward_paths_and_circles() {
    let code = "use crate::{account::Account, zenlayer::{self, Client, model::Page}};\n\
                fn f() { super::x::y(); crate::http::routes::go(); zenlayer_exporter::crate::no(); }\n";
    let found: Vec<String> = paths("config/settings.rs", code)
        .iter()
        .map(|p| p.join("::"))
        .collect();
    assert_eq!(
        found,
        [
            "account::Account",
            "zenlayer",
            "zenlayer::Client",
            "zenlayer::model::Page",
            "http::routes::go",
            "config::x::y",
        ]
    );
}
