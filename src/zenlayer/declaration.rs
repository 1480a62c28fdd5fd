//! Every product as a declaration of its wire facts: the service (URL path `/api/v2/<service>` and
//! `x-zc-service`, as every vendor SDK derives both from one name), the API version, where its statuses come
//! from, its metadata action and how that action's rows are read. The client, the polls, the budget, the
//! snapshots, the rendering and `/sd` are the same for every product; a new product is a declaration here, its
//! rows in `rows` if they differ, its statuses in `vocabulary`, and tests. Hardware health and planned
//! maintenance are a product's when its declaration names their action and feed (`operations` has their wire
//! facts). Facts: `zenlayer-api.md` (VM) and
//! `zenlayer-products.md` (ZEC, BMC).

use super::model::{DESCRIBE_INSTANCES, DESCRIBE_INSTANCES_STATUS, InstanceInfo};
use super::operations::DESCRIBE_INSTANCES_MONITOR_HEALTH;
use super::product::Product;
use super::rows::{BmcInstance, ZecInstance};
use super::rows::{DecodeRow, own_row};

/// Where a product's statuses come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statuses {
    /// A status-only action, walked every poll interval; the metadata action is walked on its own, more slowly.
    Action(&'static str),
    /// The metadata action's rows carry the status and there is no status-only action (bare metal): each poll
    /// walks that action once and both snapshots come from the same rows.
    InRows,
}

/// One product's wire facts.
#[derive(Debug)]
pub struct Declaration {
    pub product: Product,
    /// What the logs and the landing page call it.
    pub title: &'static str,
    /// The service name: the URL path `/api/v2/<service>` and the `x-zc-service` header. Configurable
    /// (`ZENLAYER_EXPORTER_API_SERVICES`).
    pub service: &'static str,
    /// `X-ZC-Version`, configurable (`ZENLAYER_EXPORTER_API_VERSIONS`).
    pub version: &'static str,
    /// Every version the vendor's SDKs ship for it, newest first: what the simulator serves.
    pub versions: &'static [&'static str],
    pub statuses: Statuses,
    /// The action listing every instance's metadata.
    pub metadata_action: &'static str,
    /// How that action's rows are read into the common row.
    pub rows: DecodeRow,
    /// The action reporting each instance's hardware health, ten ids a call (`operations`), if it has one.
    pub health_action: Option<&'static str>,
    /// Its `product` in `DescribeMaintenanceAlerts` of the maintenance service, if it has planned maintenance.
    pub maintenance: Option<&'static str>,
}

impl Declaration {
    /// The action the status poll walks.
    pub fn status_action(&self) -> &'static str {
        match self.statuses {
            Statuses::Action(action) => action,
            Statuses::InRows => self.metadata_action,
        }
    }
}

/// The declarations, in the order of [`Product::ALL`].
const DECLARATIONS: [Declaration; 3] = [
    Declaration {
        product: Product::Vm,
        title: "VM (legacy)",
        service: "vm",
        version: "2023-03-13",
        versions: &["2026-04-01", "2023-03-13"],
        statuses: Statuses::Action(DESCRIBE_INSTANCES_STATUS),
        metadata_action: DESCRIBE_INSTANCES,
        // The common row is the VM API's row as sent.
        rows: |text| own_row::<InstanceInfo>(text),
        health_action: None,
        maintenance: None,
    },
    Declaration {
        product: Product::Zec,
        title: "Zenlayer Elastic Compute",
        service: "zec",
        version: "2025-09-01",
        versions: &["2025-09-01", "2024-04-01"],
        statuses: Statuses::Action(DESCRIBE_INSTANCES_STATUS),
        metadata_action: DESCRIBE_INSTANCES,
        rows: |text| own_row::<ZecInstance>(text),
        health_action: None,
        maintenance: None,
    },
    Declaration {
        product: Product::Bmc,
        title: "Bare Metal Cloud",
        service: "bmc",
        version: "2026-02-01",
        versions: &["2026-02-01", "2022-11-20"],
        statuses: Statuses::InRows,
        metadata_action: DESCRIBE_INSTANCES,
        rows: |text| own_row::<BmcInstance>(text),
        health_action: Some(DESCRIBE_INSTANCES_MONITOR_HEALTH),
        maintenance: Some("BMC"),
    },
];

/// The declaration of `product`.
pub fn of(product: Product) -> &'static Declaration {
    &DECLARATIONS[product.index()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_product_is_declared_in_order() {
        for product in Product::ALL {
            let declared = of(*product);
            assert_eq!(declared.product, *product);
            assert_eq!(declared.service, product.as_str());
            assert!(declared.versions.contains(&declared.version));
        }
        assert_eq!(of(Product::Bmc).status_action(), DESCRIBE_INSTANCES);
        assert_eq!(of(Product::Zec).status_action(), DESCRIBE_INSTANCES_STATUS);
    }
}
