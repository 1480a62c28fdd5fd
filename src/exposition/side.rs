//! Families rendered from a snapshot of their own beside an account's instance families: bare metal's hardware
//! health and its planned maintenance, each polled on its own interval. A [`Side`] is one such snapshot rendered
//! once when it is published (with the `account` label when several accounts are served), and again without
//! the label on the first `/probe` that asks; the scrape serves its parts at their families' places
//! ([`SIDES`]).

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use super::families::{self, HARDWARE, MAINTENANCE};
use super::gzip::Part;
use crate::hardware::Servers;
use crate::hardware::families::{component_lines, temperature_lines};
use crate::maintenance::Windows;
use crate::maintenance::families::window_lines;
use crate::status::families::StatusSeries;
use crate::text::Openings;

/// Which snapshot a side renders, in serving order: its position in a contribution's sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Hardware,
    Maintenance,
}

/// The sides in serving order, each with the number of its families; they come after the instance families.
pub const SIDES: [(Kind, usize); 2] = [
    (Kind::Hardware, HARDWARE.len()),
    (Kind::Maintenance, MAINTENANCE.len()),
];

/// One snapshot's families, rendered.
pub struct Side {
    pub taken_at: SystemTime,
    /// Rows of the snapshot (servers, windows), for the landing page.
    pub rows: usize,
    parts: Vec<Part>,
    /// Whether `parts` carry the `account` label.
    labeled: bool,
    unlabeled: OnceLock<Vec<Part>>,
    /// Renders the same families with another opening (the snapshot is held by it).
    render: Box<dyn Fn(&[u8]) -> Vec<Part> + Send + Sync>,
    openings: Openings,
}

impl Side {
    fn new(
        taken_at: SystemTime,
        rows: usize,
        openings: &Openings,
        render: Box<dyn Fn(&[u8]) -> Vec<Part> + Send + Sync>,
    ) -> Side {
        Side {
            taken_at,
            rows,
            parts: render(openings.get(true)),
            labeled: openings.named(),
            unlabeled: OnceLock::new(),
            render,
            openings: openings.clone(),
        }
    }

    /// The hardware health families of `servers`, the components as `mode` says.
    pub fn hardware(servers: Arc<Servers>, mode: StatusSeries, openings: &Openings) -> Side {
        let (taken_at, rows) = (servers.taken_at(), servers.servers().len());
        let render = move |opening: &[u8]| {
            let servers = servers.servers();
            HARDWARE
                .iter()
                .map(|family| {
                    Part::rendered(servers, |out, batch| match family.samples {
                        families::HardwareSamples::Components => {
                            component_lines(out, family.name, batch, mode, opening)
                        }
                        families::HardwareSamples::Temperatures => {
                            temperature_lines(out, family.name, batch, opening)
                        }
                    })
                })
                .collect()
        };
        Side::new(taken_at, rows, openings, Box::new(render))
    }

    /// The maintenance families of `windows`.
    pub fn maintenance(windows: Arc<Windows>, openings: &Openings) -> Side {
        let (taken_at, rows) = (windows.taken_at(), windows.windows().len());
        let render = move |opening: &[u8]| {
            MAINTENANCE
                .iter()
                .map(|family| {
                    Part::rendered(windows.windows(), |out, batch| {
                        window_lines(out, family.name, batch, family.samples, opening)
                    })
                })
                .collect()
        };
        Side::new(taken_at, rows, openings, Box::new(render))
    }

    /// Its families' samples, in serving order; `labeled: false` gives them without the `account` label,
    /// rendered on first use (small: a side is a few series per server or window).
    pub fn parts(&self, labeled: bool) -> &[Part] {
        if labeled || !self.labeled {
            return &self.parts;
        }
        self.unlabeled
            .get_or_init(|| (self.render)(self.openings.get(false)))
    }
}
