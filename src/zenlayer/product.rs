//! The Zenlayer compute products the exporter reads, as their label value (`product`). Each product's wire facts
//! (service path, version, actions, row shapes, vocabulary) are declared with it; today's one is the VM API,
//! whose facts are `client`'s and `model`'s.

crate::labels::label_values! {
    /// A compute product: the `product` label of its instance series and of its account's own metrics.
    pub enum Product {
        /// The VM API (`/api/v2/vm`).
        Vm = "vm",
    }
}
