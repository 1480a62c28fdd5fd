//! One account's own poll and API metrics (`zenlayer_up`, poll and call counters and histograms) as served:
//! gathered from the account's registry, given the `account` label when several accounts are served, split by
//! family so `/metrics` can put every account's samples of a family together, and compressed. Rendered again
//! only after the metrics changed, which is during polls: between polls every scrape reuses the same bytes.

use std::sync::{Arc, Mutex};

use prometheus::proto::LabelPair;

use super::gzip::Part;
use crate::names::AccountName;
use crate::telemetry::AccountMetrics;
use crate::text::Format;

/// One family of an account's self-metrics: its `HELP` and `TYPE` lines in each format and its samples, apart.
pub struct HealthFamily {
    pub name: String,
    heads: [Part; 2],
    pub samples: Part,
}

impl HealthFamily {
    /// Its metadata lines in `format`.
    pub fn head(&self, format: Format) -> &Part {
        &self.heads[format as usize]
    }
}

/// An account's self-metrics, rendered.
#[derive(Default)]
pub struct Health {
    families: Vec<HealthFamily>,
}

impl Health {
    /// Renders what `metrics` holds now, each sample given `account="NAME"` first when `account` is set.
    pub fn render(metrics: &AccountMetrics, account: Option<&str>) -> Health {
        let families = metrics
            .registry
            .gather()
            .into_iter()
            .filter_map(|mut family| {
                if let Some(account) = account {
                    for metric in family.mut_metric() {
                        let mut labels = metric.take_label();
                        let mut pair = LabelPair::default();
                        pair.set_name("account".to_owned());
                        pair.set_value(account.to_owned());
                        labels.insert(0, pair);
                        metric.set_label(labels);
                    }
                }
                let (heads, samples) = match crate::text::encode_split(&family) {
                    Ok(split) => split,
                    Err(error) => {
                        tracing::error!(%error, family = family.name(), "encoding a self-metric failed");
                        return None;
                    }
                };
                Some(HealthFamily {
                    name: family.name().to_owned(),
                    heads: heads.map(Part::new),
                    samples: Part::new(samples),
                })
            })
            .collect();
        Health { families }
    }

    pub fn families(&self) -> &[HealthFamily] {
        &self.families
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
