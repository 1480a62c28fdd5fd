//! One account's own poll and API metrics (`zenlayer_up`, poll and call counters and histograms) as served:
//! written from the account's counters, given the `account` label when several accounts are served, split by
//! family so `/metrics` can put every account's samples of a family together under one head, and compressed.
//! Rendered again only after the metrics changed, which is during polls: between polls every scrape reuses the
//! same bytes.

use std::sync::{Arc, LazyLock, Mutex};

use super::gzip::Part;
use crate::names::AccountName;
use crate::telemetry::AccountMetrics;
use crate::telemetry::account::FAMILIES;
use crate::text::Format;

/// Every family's `HELP` and `TYPE` lines in each format, made once for every account.
static HEADS: LazyLock<Vec<[Part; 2]>> = LazyLock::new(|| {
    FAMILIES
        .iter()
        .map(|(_, head)| std::array::from_fn(|i| Part::new(head.lines(Format::ALL[i]))))
        .collect()
});

/// The metadata lines of the family at `index` of [`FAMILIES`] in `format`.
pub fn head(index: usize, format: Format) -> &'static Part {
    &HEADS[index][format as usize]
}

/// An account's self-metrics, rendered: its samples of each family of [`FAMILIES`], in that order (`None`
/// where it has none).
#[derive(Default)]
pub struct Health {
    families: Vec<Option<Part>>,
}

impl Health {
    /// Renders what `metrics` holds now, each sample given `account="NAME"` first when `account` is set.
    pub fn render(metrics: &AccountMetrics, account: Option<&str>) -> Health {
        let opening = account.map(|name| {
            let mut opening = Vec::with_capacity(name.len() + 12);
            opening.extend_from_slice(b"account=\"");
            crate::text::escape_label_value(&mut opening, name);
            opening.extend_from_slice(b"\",");
            opening
        });
        let mut text = Vec::new();
        let families = FAMILIES
            .iter()
            .map(|(family, _)| {
                text.clear();
                metrics.write(*family, opening.as_deref(), &mut text);
                (!text.is_empty()).then(|| Part::new(text.clone()))
            })
            .collect();
        Health { families }
    }

    /// Its samples of the family at `index` of [`FAMILIES`].
    pub fn family(&self, index: usize) -> Option<&Part> {
        self.families.get(index).and_then(Option::as_ref)
    }
}

/// A rendering and the metrics' generation it was rendered at.
type Cached = Mutex<Option<(u64, Arc<Health>)>>;

/// An account's [`Health`] kept between scrapes, rendered again only when its metrics changed since.
pub struct HealthCache {
    metrics: AccountMetrics,
    account: Option<AccountName>,
    /// With the `account` label (for `/metrics` with several accounts) and without (one account, `/probe`).
    cached: [Cached; 2],
}

impl HealthCache {
    pub fn new(metrics: AccountMetrics, account: Option<AccountName>) -> Self {
        HealthCache {
            metrics,
            account,
            cached: [Mutex::new(None), Mutex::new(None)],
        }
    }

    /// The account's self-metrics as they are now, `labeled` with its name or not.
    pub fn get(&self, labeled: bool) -> Arc<Health> {
        let account = self.account.as_deref().filter(|_| labeled);
        let mut slot = self.cached[usize::from(account.is_some())]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Read before rendering: a change during the rendering leaves the next scrape a newer generation.
        let generation = self.metrics.generation();
        match &*slot {
            Some((rendered_at, health)) if *rendered_at == generation => health.clone(),
            _ => {
                let health = Arc::new(Health::render(&self.metrics, account));
                *slot = Some((generation, health.clone()));
                health
            }
        }
    }
}
