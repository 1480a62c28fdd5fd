//! The Zenlayer compute products the exporter reads, as their label value (`product`). What each one is on the
//! wire (service, version, actions, row shapes) is its declaration, `declaration`; which statuses it documents,
//! `vocabulary`.

crate::labels::label_values! {
    /// A compute product: the `product` label of its instance series and of its account's own metrics.
    pub enum Product {
        /// The VM API (`/api/v2/vm`), which the vendor now calls legacy.
        Vm = "vm",
        /// Zenlayer Elastic Compute (`/api/v2/zec`).
        Zec = "zec",
        /// Bare Metal Cloud (`/api/v2/bmc`).
        Bmc = "bmc",
    }
}

impl Product {
    /// Its position in [`Product::ALL`]: what per-product tables are indexed by.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The product whose label value is `name`.
    pub fn named(name: &str) -> Option<Product> {
        Product::ALL.iter().copied().find(|p| p.as_str() == name)
    }
}
