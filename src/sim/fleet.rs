//! The simulated fleet: instances in creation order, generated reproducibly from a seed, paged exactly as the
//! API pages (`pageSize`, 1-based `pageNum`, `totalCount` over all pages, an optional `instanceIds` filter),
//! and living through the real lifecycles when churn is on.

use std::collections::{HashMap, HashSet};

use crate::status::Status;
use crate::zenlayer::product::Product;

/// One simulated instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimInstance {
    pub id: String,
    pub status: String,
}

/// The fleet, in the order the API lists it (creation order).
#[derive(Debug, Clone)]
pub struct Fleet {
    product: Product,
    instances: Vec<SimInstance>,
    index: HashMap<String, usize>,
    /// Ids in a transitional status, so a churn step touches only those, not the whole fleet.
    in_transition: HashSet<String>,
    rng_state: u64,
    /// The seed it was generated from.
    seed: u64,
    /// The size churn keeps the fleet near.
    target_size: usize,
}

impl Default for Fleet {
    fn default() -> Self {
        Fleet::generate(Product::Vm, 0, 0)
    }
}

/// Whether `status` is one an instance passes through rather than stays in (the vocabulary says which).
fn is_transitional(status: &str) -> bool {
    matches!(Status::parse(status), Status::Known(k) if k.is_transitional())
}

/// How one product's instances live: the status mix of a generated fleet, the shape of its ids, where each
/// transition leads, and the operations churn starts. Every status here is of the product's vocabulary (a test
/// holds them to it).
struct Lifecycle {
    mix: &'static [(&'static str, u32)],
    /// Digits of an id (VM's are 18; the products' examples show 19 for ZEC, 13 for bare metal).
    id_digits: u32,
    /// A transitional status, the one it moves on to (`None`: the instance goes) and the one it fails into, 1 in
    /// 20 times, if it can fail.
    next: &'static [(&'static str, Option<&'static str>, Option<&'static str>)],
    /// Where a released instance passes on its way out, and the statuses it may be released from.
    release: (&'static [&'static str], &'static str),
    /// The operations churn starts on a live instance: from one of these statuses, to that one.
    operations: &'static [(&'static [&'static str], &'static str)],
}

const VM: Lifecycle = Lifecycle {
    mix: &[
        ("RUNNING", 850),
        ("STOPPED", 80),
        ("BOOTING", 15),
        ("STOPPING", 15),
        ("DEPLOYING", 15),
        ("PENDING", 10),
        ("REBOOT", 10),
        ("CREATE_FAILED", 5),
    ],
    id_digits: 18,
    next: &[
        ("PENDING", Some("DEPLOYING"), None),
        ("DEPLOYING", Some("RUNNING"), Some("CREATE_FAILED")),
        ("BOOTING", Some("RUNNING"), None),
        ("REBOOT", Some("RUNNING"), None),
        ("REBUILDING", Some("RUNNING"), None),
        ("IMAGING", Some("RUNNING"), None),
        ("STOPPING", Some("STOPPED"), None),
        ("RELEASING", None, None),
        ("RECYCLING", None, None),
    ],
    release: (&["RUNNING", "STOPPED", "CREATE_FAILED"], "RELEASING"),
    operations: &[
        (&["RUNNING"], "STOPPING"),
        (&["STOPPED"], "BOOTING"),
        (&["RUNNING"], "REBOOT"),
    ],
};

const ZEC: Lifecycle = Lifecycle {
    mix: &[
        ("RUNNING", 840),
        ("STOPPED", 80),
        ("BOOTING", 15),
        ("STOPPING", 15),
        ("DEPLOYING", 15),
        ("RESIZING", 10),
        ("PENDING", 10),
        ("REINSTALL_FAILED", 5),
        ("CREATE_FAILED", 5),
        ("REBUILDING", 5),
    ],
    id_digits: 19,
    next: &[
        ("PENDING", Some("DEPLOYING"), None),
        ("DEPLOYING", Some("RUNNING"), Some("CREATE_FAILED")),
        ("REBUILDING", Some("RUNNING"), Some("REINSTALL_FAILED")),
        ("BOOTING", Some("RUNNING"), None),
        ("REBOOT", Some("RUNNING"), None),
        ("RESIZING", Some("RUNNING"), None),
        ("IMAGING", Some("RUNNING"), None),
        ("STOPPING", Some("STOPPED"), None),
        ("RELEASING", None, None),
        ("RECYCLING", None, None),
    ],
    release: (
        &["RUNNING", "STOPPED", "CREATE_FAILED", "REINSTALL_FAILED"],
        "RELEASING",
    ),
    operations: &[
        (&["RUNNING"], "STOPPING"),
        (&["STOPPED"], "BOOTING"),
        (&["RUNNING"], "RESIZING"),
        (&["STOPPED"], "REBUILDING"),
    ],
};

const BMC: Lifecycle = Lifecycle {
    mix: &[
        ("RUNNING", 860),
        ("STOPPED", 70),
        ("INSTALLING", 20),
        ("CREATING", 15),
        ("BOOTING", 10),
        ("STOPPING", 10),
        ("PENDING", 5),
        ("INSTALL_FAILED", 5),
        ("CREATE_FAILED", 5),
    ],
    id_digits: 13,
    next: &[
        ("PENDING", Some("CREATING"), None),
        ("CREATING", Some("INSTALLING"), Some("CREATE_FAILED")),
        ("INSTALLING", Some("RUNNING"), Some("INSTALL_FAILED")),
        ("BOOTING", Some("RUNNING"), None),
        ("STOPPING", Some("STOPPED"), None),
        ("RECYCLING", None, None),
    ],
    release: (
        &["RUNNING", "STOPPED", "CREATE_FAILED", "INSTALL_FAILED"],
        "RECYCLING",
    ),
    operations: &[
        (&["RUNNING"], "STOPPING"),
        (&["STOPPED"], "BOOTING"),
        // A reinstall.
        (&["RUNNING"], "INSTALLING"),
    ],
};

impl Product {
    fn lifecycle(self) -> &'static Lifecycle {
        match self {
            Product::Vm => &VM,
            Product::Zec => &ZEC,
            Product::Bmc => &BMC,
        }
    }
}

impl Fleet {
    /// `count` instances of `product` with ids and statuses drawn from `seed`: the same seed gives the same fleet.
    pub fn generate(product: Product, count: usize, seed: u64) -> Fleet {
        let mut fleet = Fleet {
            product,
            instances: Vec::with_capacity(count),
            index: HashMap::new(),
            in_transition: HashSet::new(),
            rng_state: seed,
            seed,
            target_size: count,
        };
        for _ in 0..count {
            let id = fleet.new_id();
            let status = fleet.draw_status().to_owned();
            fleet.insert(id, status);
        }
        fleet
    }

    /// The product whose instances these are.
    pub fn product(&self) -> Product {
        self.product
    }

    /// The seed the fleet was generated from: what else is drawn for its instances (their hardware) mixes it in.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// A fresh id shaped like the product's (decimal digits, as the vendor's examples show), unique in this fleet.
    pub fn new_id(&mut self) -> String {
        let digits = self.product.lifecycle().id_digits;
        let low = 10u64.pow(digits - 1);
        loop {
            let n = low + self.next_random() % (9 * low);
            let id = n.to_string();
            if !self.index.contains_key(&id) {
                return id;
            }
        }
    }

    fn draw_status(&mut self) -> &'static str {
        let mix = self.product.lifecycle().mix;
        let total: u32 = mix.iter().map(|(_, w)| w).sum();
        let mut pick = (self.next_random() % u64::from(total)) as u32;
        for (status, weight) in mix {
            if pick < *weight {
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
    /// of steps), then `events` new lifecycles start: a creation, one of the product's operations, or a release.
    /// The fleet size drifts but stays within a quarter of where it started.
    pub fn churn_step(&mut self, events: usize) {
        let lifecycle = self.product.lifecycle();
        let mut moving: Vec<String> = self.in_transition.iter().cloned().collect();
        moving.sort_unstable();
        // An instance changes once a step at most, so each step is a legal transition on its own.
        let mut touched = HashSet::new();
        for id in moving {
            if self.next_random() % 2 == 0 {
                continue;
            }
            let fails = self.next_random() % 20 == 0;
            let Some(status) = self.status(&id) else {
                continue;
            };
            let Some((_, next, failure)) = lifecycle.next.iter().find(|(from, ..)| *from == status)
            else {
                continue;
            };
            let next = match (next, failure) {
                (_, Some(failure)) if fails => failure,
                (Some(next), _) => next,
                (None, _) => {
                    self.remove(&id);
                    continue;
                }
            };
            self.set_status(&id, next);
            touched.insert(id);
        }
        let operations = lifecycle.operations;
        for _ in 0..events {
            let roll = self.next_random() % 100;
            let len = self.instances.len();
            let too_big = len * 4 > self.target_size * 5;
            let too_small = len * 4 < self.target_size * 3 || len == 0;
            let (from, to): (&[&str], &str) = match roll {
                _ if too_small => (&[], "PENDING"),
                0..=19 if !too_big => (&[], "PENDING"),
                0..=19 | 80..=99 => lifecycle.release,
                _ => operations[(roll as usize - 20) * operations.len() / 60],
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
    use crate::status::Known;

    #[test]
    fn same_seed_same_fleet() {
        let a = Fleet::generate(Product::Vm, 500, 7);
        assert_eq!(
            a.instances(),
            Fleet::generate(Product::Vm, 500, 7).instances()
        );
        assert_ne!(
            a.instances(),
            Fleet::generate(Product::Vm, 500, 8).instances()
        );
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
        let fleet = Fleet::generate(Product::Vm, 1001, 1);
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
        let fleet = Fleet::generate(Product::Vm, 10, 3);
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
        let mut fleet = Fleet::generate(Product::Vm, 400, 11);
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
    fn every_product_lives_within_its_vocabulary() {
        for product in Product::ALL.iter().copied() {
            let lifecycle = product.lifecycle();
            let named = lifecycle
                .mix
                .iter()
                .map(|(s, _)| *s)
                .chain(
                    lifecycle
                        .next
                        .iter()
                        .flat_map(|(a, b, c)| [Some(*a), *b, *c])
                        .flatten(),
                )
                .chain(lifecycle.release.0.iter().copied())
                .chain([lifecycle.release.1])
                .chain(
                    lifecycle
                        .operations
                        .iter()
                        .flat_map(|(from, to)| from.iter().copied().chain([*to])),
                );
            for status in named {
                assert!(
                    matches!(Status::parse(status), Status::Known(k) if k.is_of(product)),
                    "{product}: {status}"
                );
            }
            let mut fleet = Fleet::generate(product, 300, 5);
            assert!(
                fleet
                    .instances()
                    .iter()
                    .all(|i| i.id.len() == lifecycle.id_digits as usize)
            );
            let mut seen = HashSet::new();
            for _ in 0..200 {
                fleet.churn_step(5);
                seen.extend(fleet.instances().iter().map(|i| i.status.clone()));
            }
            // Its own transitions and failures come round: a ZEC resize, a bare-metal install.
            let own = Known::of(product).filter(|k| !k.is_of(Product::Vm) && k.is_transitional());
            for status in own {
                assert!(
                    seen.contains(status.as_str()),
                    "{product}: {status:?} never seen"
                );
            }
        }
    }

    #[test]
    fn removal_shifts_later_rows_up() {
        let mut fleet = Fleet::generate(Product::Vm, 5, 3);
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
