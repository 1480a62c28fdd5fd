//! The simulated fleet: instances in creation order, generated reproducibly from a seed, paged exactly as the
//! API pages (`pageSize`, 1-based `pageNum`, `totalCount` over all pages, an optional `instanceIds` filter).

use std::collections::HashMap;

/// One simulated instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimInstance {
    pub id: String,
    pub status: String,
}

/// The fleet, in the order the API lists it (creation order).
#[derive(Debug, Default, Clone)]
pub struct Fleet {
    instances: Vec<SimInstance>,
    index: HashMap<String, usize>,
    rng_state: u64,
}

/// The status mix of a generated fleet: mostly running, some stopped, a few in transitional states.
const MIX: [(&str, u32); 8] = [
    ("RUNNING", 850),
    ("STOPPED", 80),
    ("BOOTING", 15),
    ("STOPPING", 15),
    ("DEPLOYING", 15),
    ("PENDING", 10),
    ("REBOOT", 10),
    ("CREATE_FAILED", 5),
];

impl Fleet {
    /// `count` instances with ids and statuses drawn from `seed`: the same seed gives the same fleet.
    pub fn generate(count: usize, seed: u64) -> Fleet {
        let mut fleet = Fleet {
            rng_state: seed,
            ..Fleet::default()
        };
        fleet.instances.reserve(count);
        for _ in 0..count {
            let id = fleet.new_id();
            let status = fleet.draw_status().to_owned();
            fleet.insert(id, status);
        }
        fleet
    }

    /// A fresh id shaped like Zenlayer's (18 decimal digits), unique in this fleet.
    pub fn new_id(&mut self) -> String {
        loop {
            let n = 100_000_000_000_000_000 + self.next_random() % 900_000_000_000_000_000;
            let id = n.to_string();
            if !self.index.contains_key(&id) {
                return id;
            }
        }
    }

    fn draw_status(&mut self) -> &'static str {
        let total: u32 = MIX.iter().map(|(_, w)| w).sum();
        let mut pick = (self.next_random() % u64::from(total)) as u32;
        for (status, weight) in MIX {
            if pick < weight {
                return status;
            }
            pick -= weight;
        }
        "RUNNING"
    }

    /// splitmix64: tiny, seedable and good enough for test data.
    pub fn next_random(&mut self) -> u64 {
        self.rng_state = self.rng_state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng_state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Adds an instance at the end, or changes its status if the id exists.
    pub fn insert(&mut self, id: String, status: String) {
        match self.index.get(&id) {
            Some(&i) => self.instances[i].status = status,
            None => {
                self.index.insert(id.clone(), self.instances.len());
                self.instances.push(SimInstance { id, status });
            }
        }
    }

    /// Sets an existing instance's status; false if there is no such instance.
    pub fn set_status(&mut self, id: &str, status: &str) -> bool {
        match self.index.get(id) {
            Some(&i) => {
                self.instances[i].status = status.to_owned();
                true
            }
            None => false,
        }
    }

    /// Removes an instance; the ones after it move up a place, as in the real API's offset paging.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(i) = self.index.remove(id) else {
            return false;
        };
        self.instances.remove(i);
        for (j, instance) in self.instances.iter().enumerate().skip(i) {
            self.index.insert(instance.id.clone(), j);
        }
        true
    }

    /// Every instance, in listing order.
    pub fn instances(&self) -> &[SimInstance] {
        &self.instances
    }

    pub fn len(&self) -> usize {
        self.instances.len()
    }

    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// One page: `totalCount` of the matching instances and the page's rows. Unknown filter ids are omitted.
    pub fn page(
        &self,
        ids: &[String],
        page_size: usize,
        page_num: usize,
    ) -> (u64, Vec<SimInstance>) {
        let offset = page_num.saturating_sub(1).saturating_mul(page_size);
        if ids.is_empty() {
            let rows = self
                .instances
                .iter()
                .skip(offset)
                .take(page_size)
                .cloned()
                .collect();
            return (self.instances.len() as u64, rows);
        }
        let mut matching: Vec<usize> = ids
            .iter()
            .filter_map(|id| self.index.get(id).copied())
            .collect();
        matching.sort_unstable();
        matching.dedup();
        let rows = matching
            .iter()
            .skip(offset)
            .take(page_size)
            .map(|&i| self.instances[i].clone())
            .collect();
        (matching.len() as u64, rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_fleet() {
        let a = Fleet::generate(500, 7);
        assert_eq!(a.instances(), Fleet::generate(500, 7).instances());
        assert_ne!(a.instances(), Fleet::generate(500, 8).instances());
        let running = a
            .instances()
            .iter()
            .filter(|i| i.status == "RUNNING")
            .count();
        let stopped = a
            .instances()
            .iter()
            .filter(|i| i.status == "STOPPED")
            .count();
        assert!(
            running > 350 && stopped > 10,
            "running {running}, stopped {stopped}"
        );
        assert!(a.instances().iter().all(|i| i.id.len() == 18));
    }

    #[test]
    fn paging_arithmetic() {
        let fleet = Fleet::generate(1001, 1);
        let (total, rows) = fleet.page(&[], 1000, 1);
        assert_eq!((total, rows.len()), (1001, 1000));
        let (_, rows) = fleet.page(&[], 1000, 2);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0], fleet.instances()[1000]);
        assert!(fleet.page(&[], 1000, 3).1.is_empty());
        assert!(fleet.page(&[], 1000, usize::MAX).1.is_empty());
        let (total, rows) = fleet.page(&[], 20, 51);
        assert_eq!((total, rows.len()), (1001, 1));
    }

    #[test]
    fn id_filter_keeps_listing_order_and_omits_unknown() {
        let fleet = Fleet::generate(10, 3);
        let ids = vec![
            fleet.instances()[7].id.clone(),
            "nope".into(),
            fleet.instances()[2].id.clone(),
        ];
        let (total, rows) = fleet.page(&ids, 20, 1);
        assert_eq!(total, 2);
        assert_eq!(
            rows,
            vec![fleet.instances()[2].clone(), fleet.instances()[7].clone()]
        );
    }

    #[test]
    fn removal_shifts_later_rows_up() {
        let mut fleet = Fleet::generate(5, 3);
        let third = fleet.instances()[2].clone();
        let first = fleet.instances()[0].id.clone();
        assert!(fleet.remove(&first));
        assert!(!fleet.remove(&first));
        assert_eq!(fleet.instances()[1], third);
        assert!(fleet.set_status(&third.id, "STOPPED"));
        assert_eq!(
            fleet.page(std::slice::from_ref(&third.id), 1, 1).1[0].status,
            "STOPPED"
        );
    }
}
