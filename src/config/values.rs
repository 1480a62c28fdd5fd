//! The typed values settings parse into, declared here so that what they configure imports them from below:
//! the modes (which status series, which log format), the tag allow-list, the parsers the accounts file
//! shares with the environment (an API URL, a value quoted in a message), and how each value shows (`Show`:
//! a secret as `<redacted>`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::secret::Secret;
use crate::text::label_safe;
use crate::zenlayer::declaration::{self, Declaration};
use crate::zenlayer::product::Product;
use crate::zenlayer::proxy::without_userinfo;

/// Why a value was refused: one message or several, each naming what is wrong, never quoting a secret.
pub(super) type Refused = Vec<String>;

crate::labels::label_values! {
    /// Which series describe an instance's status.
    pub enum StatusSeries {
        /// One series per instance, for its current status, valued 1.
        Current = "current",
        /// A state set: one series per known status per instance, 0 or 1, plus the current one if unknown.
        All = "all",
    }
}

crate::labels::label_values! {
    /// Log line format.
    pub enum LogFormat {
        Text = "text",
        Json = "json",
    }
}

/// Most tags that may become labels: each is a label on every info series, and a label an operator did not
/// plan for is cardinality nobody pays attention to until it hurts.
pub const MAX_TAG_LABELS: usize = 20;

/// The allow-listed tag keys (`ZENLAYER_EXPORTER_TAG_LABELS`) and the label each becomes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagLabels {
    keys: Vec<String>,
    names: Vec<String>,
}

impl TagLabels {
    /// Parses a comma-separated list of tag keys, matched exactly (tag keys are case-sensitive). Each key
    /// becomes `tag_` followed by the key with every character a label name cannot hold replaced by `_`. Two
    /// keys that would become the same label are refused, since no rule for choosing between them would be
    /// what the operator meant.
    pub fn parse(list: &str) -> Result<TagLabels, Vec<String>> {
        let mut labels = TagLabels::default();
        let mut problems = Vec::new();
        for key in list.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            if labels.keys.iter().any(|k| k == key) {
                continue;
            }
            if key.chars().any(char::is_control) {
                problems.push(format!("tag key {key:?} contains control characters"));
                continue;
            }
            let name = label_name(key);
            if let Some(i) = labels.names.iter().position(|n| *n == name) {
                problems.push(format!(
                    "tag keys {:?} and {key:?} would both become the label {name}: list only one",
                    labels.keys[i]
                ));
                continue;
            }
            labels.keys.push(key.to_owned());
            labels.names.push(name);
        }
        if labels.keys.len() > MAX_TAG_LABELS {
            problems.push(format!(
                "at most {MAX_TAG_LABELS} tag keys may become labels, got {}",
                labels.keys.len()
            ));
        }
        if problems.is_empty() {
            Ok(labels)
        } else {
            Err(problems)
        }
    }

    /// The tag keys, in the order given.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// The label names, in the same order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The position of `key` in the allow-list.
    pub fn position(&self, key: &str) -> Option<usize> {
        self.keys.iter().position(|k| k == key)
    }
}

/// `tag_` + `key`, with each character outside `[A-Za-z0-9_]` replaced by `_`: always a valid label name, and
/// never one of the info series' own labels.
pub fn label_name(key: &str) -> String {
    format!("tag_{}", label_safe(key))
}

/// A value quoted for a message, clipped so a pasted blob does not flood the terminal.
pub(crate) fn quote(text: &str) -> String {
    let clipped: String = text.chars().take(80).collect();
    format!(
        "{:?}{}",
        clipped,
        if text.chars().count() > 80 { "…" } else { "" }
    )
}

pub(crate) fn api_url(text: &str) -> Result<Url, Refused> {
    // Quoted in messages without any user-info: `https://user:password@host` must not reach a terminal or log.
    let shown = quote(&without_userinfo(text));
    match Url::parse(text) {
        Ok(url) if !matches!(url.scheme(), "http" | "https") => {
            Err(vec![format!("must be an http or https URL, got {shown}")])
        }
        Ok(url)
            if url.host().is_none()
                || url.query().is_some()
                || !url.username().is_empty()
                || url.password().is_some() =>
        {
            Err(vec![format!(
                "must be scheme://host[:port][/path], without credentials or query, got {shown}"
            )])
        }
        Ok(url) => Ok(url),
        Err(e) => Err(vec![format!("is not a URL ({e}): {shown}")]),
    }
}

/// The products an account reads (`ZENLAYER_EXPORTER_PRODUCTS`, or an account's `products`): each once, in the
/// order of [`Product::ALL`], at least one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Products(Vec<Product>);

impl Products {
    /// Reads a list of product names, refusing an unknown or repeated one and an empty list.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Products, Refused> {
        let mut products = Vec::new();
        let mut problems = Vec::new();
        for name in names.into_iter().map(str::trim).filter(|n| !n.is_empty()) {
            match Product::named(name) {
                Some(p) if products.contains(&p) => problems.push(format!("names {name} twice")),
                Some(p) => products.push(p),
                None => problems.push(format!(
                    "{} is not a product: the products are {}",
                    quote(name),
                    words::<Product>()
                )),
            }
        }
        if products.is_empty() && problems.is_empty() {
            problems.push(format!(
                "lists no product: name some of {}",
                words::<Product>()
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        products.sort_unstable();
        Ok(Products(products))
    }

    pub fn as_slice(&self) -> &[Product] {
        &self.0
    }
}

/// Every word of a fixed set, comma-separated: what a refusal lists.
fn words<W: crate::labels::Word>() -> String {
    W::ALL
        .iter()
        .map(|w| w.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value each product declares (its API version, its service name), with the ones the operator overrode
/// (`vm=2026-04-01,zec=2024-04-01`): the declared value for every product not named.
#[derive(Debug, Clone)]
pub struct PerProduct {
    overrides: Vec<(Product, String)>,
    declared: fn(&Declaration) -> &'static str,
}

impl PerProduct {
    /// Reads `product=value` pairs, comma-separated, each value checked by `check`; `declared` gives the value
    /// of a product not named.
    pub(super) fn parse(
        text: &str,
        declared: fn(&Declaration) -> &'static str,
        check: fn(&str) -> Result<(), String>,
    ) -> Result<PerProduct, Refused> {
        let mut overrides: Vec<(Product, String)> = Vec::new();
        let mut problems = Vec::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((name, value)) = pair.split_once('=') else {
                problems.push(format!("{} must be PRODUCT=VALUE", quote(pair)));
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            match Products::parse([name]) {
                Err(refused) => problems.extend(refused),
                Ok(_) if overrides.iter().any(|(p, _)| p.as_str() == name) => {
                    problems.push(format!("names {name} twice"))
                }
                Ok(products) => match check(value) {
                    Ok(()) => overrides.push((products.as_slice()[0], value.to_owned())),
                    Err(why) => problems.push(format!("{name}: {why}, got {}", quote(value))),
                },
            }
        }
        match problems.is_empty() {
            true => Ok(PerProduct {
                overrides,
                declared,
            }),
            false => Err(problems),
        }
    }

    /// The value for `product`: the operator's, or the declared one.
    pub fn get(&self, product: Product) -> &str {
        self.overrides
            .iter()
            .find(|(p, _)| *p == product)
            .map_or_else(|| (self.declared)(declaration::of(product)), |(_, v)| v)
    }
}

/// How a setting's value shows in `--check-config` and the start-up log: plainly, a URL as its text, a duration
/// in seconds, a secret as `<redacted>` (its own `Display`), the tag allow-list as its keys, unset as nothing.
pub(super) trait Show {
    fn show(&self) -> String;
}

macro_rules! show_as_display {
    ($($ty:ty),*) => { $( impl Show for $ty {
        fn show(&self) -> String { self.to_string() }
    } )* };
}
show_as_display!(
    String,
    Secret,
    u32,
    usize,
    SocketAddr,
    Url,
    StatusSeries,
    LogFormat
);

impl Show for PathBuf {
    fn show(&self) -> String {
        self.display().to_string()
    }
}

impl Show for Duration {
    fn show(&self) -> String {
        format!("{}s", self.as_secs_f64())
    }
}

impl Show for Arc<TagLabels> {
    fn show(&self) -> String {
        self.keys().join(",")
    }
}

impl Show for Products {
    fn show(&self) -> String {
        let names: Vec<&str> = self.0.iter().map(|p| p.as_str()).collect();
        names.join(",")
    }
}

/// Only what was overridden: the rest is each product's declaration.
impl Show for PerProduct {
    fn show(&self) -> String {
        let pairs: Vec<String> = self
            .overrides
            .iter()
            .map(|(p, v)| format!("{p}={v}"))
            .collect();
        pairs.join(",")
    }
}

impl<T: Show> Show for Option<T> {
    fn show(&self) -> String {
        self.as_ref().map(Show::show).unwrap_or_default()
    }
}
