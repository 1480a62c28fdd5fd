//! The simulator's answers to the bare-metal operations, `DescribeInstancesMonitorHealth` of the bare-metal
//! service (one to ten servers, their rows `health`'s) and `DescribeMaintenanceAlerts` of the maintenance service
//! (a product's whole list, `maintenance`'s), and the handle's means to set those lists. `api` routes a call here
//! once it has passed the checks every service makes.

use serde_json::Value;

use super::api::{SimResponse, SimState, error};
use super::maintenance::MaintenanceWindow;
use crate::zenlayer::model::PageRequest;
use crate::zenlayer::operations::{MAINTENANCE_PRODUCTS, MAX_HEALTH_IDS};

impl SimState {
    /// Records how many ids a health call named, whatever it is answered, so a test can hold a client to the
    /// bound. Bounded, so a demo running for weeks does not grow without end.
    pub(super) fn note_health_call(&mut self, body: &[u8]) {
        let ids = serde_json::from_slice::<PageRequest>(body).map_or(0, |r| r.instance_ids.len());
        if self.health_ids.len() >= 100_000 {
            self.health_ids.drain(..50_000);
        }
        self.health_ids.push(ids);
    }

    /// The answer to `DescribeInstancesMonitorHealth`: a row for each server asked that the fleet holds, in the
    /// order asked (an id asked twice, once); unknown ids are left out, not refused. Asking none or more than
    /// ten is refused with 400: that the API refuses them, and with these codes, is unconfirmed.
    pub(super) fn health_answer(&self, request_id: &str, request: &PageRequest) -> SimResponse {
        let ids = &request.instance_ids;
        if ids.is_empty() {
            return error(
                400,
                request_id,
                "MISSING_PARAMETER",
                "instanceIds is required",
            );
        }
        if ids.len() > MAX_HEALTH_IDS {
            return error(
                400,
                request_id,
                "INVALID_PARAMETER_VALUE",
                "instanceIds holds at most 10 ids",
            );
        }
        let mut rows = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            if ids[..i].contains(id) {
                continue;
            }
            if let Some(status) = self.fleet.status(id) {
                rows.push(self.health_row(id, status));
            }
        }
        let rows = Value::Array(rows).to_string();
        self.success(request_id, &format!(r#""monitorHealthList":{rows}"#))
    }

    /// Replaces what `DescribeMaintenanceAlerts` lists for `product`. Refused on a product's state (only an
    /// account's maintenance service lists maintenance) and for a product the API does not document.
    pub fn set_maintenance(
        &mut self,
        product: &str,
        windows: Vec<MaintenanceWindow>,
    ) -> Result<(), String> {
        let Some(lists) = &mut self.maintenance else {
            return Err("only the maintenance service lists maintenance".into());
        };
        if !MAINTENANCE_PRODUCTS.contains(&product) {
            return Err(format!(
                "{product:?} is not a maintenance product ({MAINTENANCE_PRODUCTS:?})"
            ));
        }
        lists.insert(product.to_owned(), windows);
        Ok(())
    }

    /// What `DescribeMaintenanceAlerts` lists for `product` now.
    pub fn maintenance_windows(&self, product: &str) -> &[MaintenanceWindow] {
        self.maintenance
            .as_ref()
            .and_then(|lists| lists.get(product))
            .map_or(&[], Vec::as_slice)
    }

    /// The answer to `DescribeMaintenanceAlerts`: the whole list of the product asked, unpaged. A missing
    /// product is refused with 400 `MISSING_PARAMETER`, another than `BMC` or `SDN` with 400
    /// `INVALID_PARAMETER_VALUE` (compared exactly: whether the API ignores case is unconfirmed, as are the codes).
    pub(super) fn maintenance_answer(
        &self,
        request_id: &str,
        request: &PageRequest,
    ) -> SimResponse {
        let Some(product) = request.product.as_deref() else {
            return error(400, request_id, "MISSING_PARAMETER", "product is required");
        };
        if !MAINTENANCE_PRODUCTS.contains(&product) {
            return error(
                400,
                request_id,
                "INVALID_PARAMETER_VALUE",
                "product must be BMC or SDN",
            );
        }
        let rows = serde_json::to_string(self.maintenance_windows(product)).unwrap_or_default();
        self.success(request_id, &format!(r#""dataList":{rows}"#))
    }
}
