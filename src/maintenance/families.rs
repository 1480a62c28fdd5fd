//! The samples of the maintenance families: each window's start and end, and its info series (location and
//! impact as labels). What each family is called and says is `exposition::families`' table.

use super::Window;
use crate::text::Sample;

/// What a maintenance family's samples are.
#[derive(Clone, Copy)]
pub enum WindowSamples {
    /// A number of each window.
    Time(fn(&Window) -> f64),
    /// Always 1, its location and impact as labels.
    Info,
}

/// The samples of the family `name` for `windows`, each labelled with its resource and status.
pub fn window_lines(
    out: &mut Vec<u8>,
    name: &str,
    windows: &[Window],
    samples: WindowSamples,
    opening: &[u8],
) {
    for window in windows {
        let sample = Sample::open(out, name, opening)
            .label("instance_id", &window.instance_id)
            .label("status", &window.status);
        match samples {
            WindowSamples::Time(time) => sample.value(time(window)),
            WindowSamples::Info => sample
                .label("location", &window.location)
                .label("impact", &window.impact)
                .flag(true),
        }
    }
}
