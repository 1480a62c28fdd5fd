//! The simulated fleet: instances in creation order, generated reproducibly from a seed, paged exactly as the
//! API pages (`pageSize`, 1-based `pageNum`, `totalCount` over all pages, an optional `instanceIds` filter),
//! and living through the real lifecycles when churn is on.

use std::collections::{HashMap, HashSet};

use crate::status::Status;

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
    /// Ids in a transitional status, so a churn step touches only those, not the whole fleet.
    in_transition: HashSet<String>,
    rng_state: u64,
    /// The size churn keeps the fleet near.
    target_size: usize,
}

/// Whether `status` is one an instance passes through rather than stays in (the vocabulary says which).
fn is_transitional(status: &str) -> bool {
    matches!(Status::parse(status), Status::Known(k) if k.is_transitional())
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
            target_size: count,
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

    fn track(&mut self, id: &str, status: &str) {
        if is_transitional(status) {
            self.in_transition.insert(id.to_owned());
        } else {
            self.in_transition.remove(id);
        }
    }

    /// Adds an instance at the end, or changes its status if the id exists.
    pub fn insert(&mut self, id: String, status: String) {
        self.track(&id, &status);
        match self.index.get(&id) {
            Some(&i) => self.instances[i].status = status,
            None => {
                self.index.insert(id.clone(), self.instances.len());
                self.instances.push(SimInstance { id, status });
            }
        }
    }

    /// Adds a new instance at the head of the listing (every other row moves down a place); an existing id only
    /// changes status.
    pub fn insert_front(&mut self, id: String, status: String) {
        if self.index.contains_key(&id) {
            self.insert(id, status);
            return;
        }
        self.track(&id, &status);
        self.instances.insert(0, SimInstance { id, status });
        for (i, instance) in self.instances.iter().enumerate() {
            self.index.insert(instance.id.clone(), i);
        }
    }

    /// Sets an existing instance's status; false if there is no such instance.
    pub fn set_status(&mut self, id: &str, status: &str) -> bool {
        match self.index.get(id) {
            Some(&i) => {
                self.instances[i].status = status.to_owned();
                self.track(id, status);
                true
            }
            None => false,
        }
    }

    /// The status of one instance.
    pub fn status(&self, id: &str) -> Option<&str> {
        self.index
            .get(id)
            .map(|&i| self.instances[i].status.as_str())
    }

    /// Removes an instance; the ones after it move up a place, as in the real API's offset paging.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(i) = self.index.remove(id) else {
            return false;
        };
        self.in_transition.remove(id);
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

    /// Every instance's id, in the fleet's order: what a test walks while it changes the fleet.
    pub fn ids(&self) -> Vec<String> {
        self.instances.iter().map(|i| i.id.clone()).collect()
    }

    pub fn len(&self) -> usize {
        self.instances.len()
    }

    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// One step of churn: every instance in transition moves on with even odds (so a transition lasts a couple
    /// of steps), then `events` new lifecycles start: a creation, a stop, a start, a reboot or a release. The
    /// fleet size drifts but stays within a quarter of where it started.
    pub fn churn_step(&mut self, events: usize) {
        let mut moving: Vec<String> = self.in_transition.iter().cloned().collect();
        moving.sort_unstable();
        // An instance changes once a step at most, so each step is a legal transition on its own.
        let mut touched = HashSet::new();
        for id in moving {
            if self.next_random() % 2 == 0 {
                continue;
            }
            let fails = self.next_random() % 20 == 0;
            let next = match self.status(&id) {
                Some("PENDING") => "DEPLOYING",
                Some("DEPLOYING") if fails => "CREATE_FAILED",
                Some("DEPLOYING" | "BOOTING" | "REBOOT" | "REBUILDING" | "IMAGING") => "RUNNING",
                Some("STOPPING") => "STOPPED",
                Some("RELEASING" | "RECYCLING") => {
                    self.remove(&id);
                    continue;
                }
                _ => continue,
            };
            self.set_status(&id, next);
            touched.insert(id);
        }
        for _ in 0..events {
            let roll = self.next_random() % 100;
            let len = self.instances.len();
            let too_big = len * 4 > self.target_size * 5;
            let too_small = len * 4 < self.target_size * 3 || len == 0;
            let (from, to): (&[&str], &str) = match roll {
                _ if too_small => (&[], "PENDING"),
                0..=19 if !too_big => (&[], "PENDING"),
                0..=19 | 80..=99 => (&["RUNNING", "STOPPED", "CREATE_FAILED"], "RELEASING"),
                20..=44 => (&["RUNNING"], "STOPPING"),
                45..=64 => (&["STOPPED"], "BOOTING"),
                _ => (&["RUNNING"], "REBOOT"),
            };
            if from.is_empty() {
                let id = self.new_id();
                touched.insert(id.clone());
                self.insert(id, to.to_owned());
            } else if let Some(id) = self.pick(from, &touched) {
                self.set_status(&id, to);
                touched.insert(id);
            }
        }
    }

    /// A random instance whose status is one of `statuses`, found by sampling (a few tries, then none).
    fn pick(&mut self, statuses: &[&str], exclude: &HashSet<String>) -> Option<String> {
        for _ in 0..32 {
            if self.instances.is_empty() {
                return None;
            }
            let i = (self.next_random() % self.instances.len() as u64) as usize;
            let candidate = &self.instances[i];
            if statuses.contains(&candidate.status.as_str()) && !exclude.contains(&candidate.id) {
                return Some(self.instances[i].id.clone());
            }
        }
        None
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
    fn churn_follows_real_lifecycles_and_keeps_the_size_near() {
        let mut fleet = Fleet::generate(400, 11);
        let legal: HashSet<(&str, &str)> = [
            ("PENDING", "DEPLOYING"),
            ("DEPLOYING", "RUNNING"),
            ("DEPLOYING", "CREATE_FAILED"),
            ("RUNNING", "STOPPING"),
            ("STOPPING", "STOPPED"),
            ("STOPPED", "BOOTING"),
            ("BOOTING", "RUNNING"),
            ("RUNNING", "REBOOT"),
            ("REBOOT", "RUNNING"),
            ("RUNNING", "RELEASING"),
            ("STOPPED", "RELEASING"),
            ("CREATE_FAILED", "RELEASING"),
        ]
        .into_iter()
        .collect();
        let mut seen_created = 0;
        let mut seen_released = 0;
        for _ in 0..300 {
            let before: HashMap<String, String> = fleet
                .instances()
                .iter()
                .map(|i| (i.id.clone(), i.status.clone()))
                .collect();
            fleet.churn_step(5);
            for i in fleet.instances() {
                match before.get(&i.id) {
                    None => {
                        assert_eq!(i.status, "PENDING", "new instances start PENDING");
                        seen_created += 1;
                    }
                    Some(old) if *old != i.status => {
                        assert!(
                            legal.contains(&(old.as_str(), i.status.as_str())),
                            "{old} -> {}",
                            i.status
                        );
                    }
                    _ => {}
                }
            }
            for (id, old) in &before {
                if fleet.status(id).is_none() {
                    assert_eq!(old, "RELEASING", "only released instances go");
                    seen_released += 1;
                }
            }
            assert!((300..=500).contains(&fleet.len()), "size {}", fleet.len());
            let transitional = fleet
                .instances()
                .iter()
                .filter(|i| is_transitional(&i.status))
                .count();
            assert_eq!(transitional, fleet.in_transition.len());
        }
        assert!(seen_created > 0 && seen_released > 0);
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
