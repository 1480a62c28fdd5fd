//! How the landing page is written: an [`Html`] buffer through which every value goes escaped (names, zones,
//! impacts and errors come from the API: none may open a tag), tables whose rows become cards on a phone, times
//! and ages, and the style sheet. What the page says is `mod.rs`'s and `part.rs`'s.

use std::fmt::{Display, Write as _};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The page's only style: inline, like everything it shows (no script, no font, no image, nothing fetched).
/// Below 640 px a table's rows become cards, each cell after the first labelled with its column.
pub(super) const STYLE: &str = "\
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:76rem;padding:.5rem 1rem;color:#1d2330}\
h1{font-size:1.5rem;margin:.3rem 0}h2{font-size:1.2rem;margin:1.2rem 0 .4rem;border-bottom:2px solid #dde2ee}\
h3{font-size:1.05rem;margin:.9rem 0 .3rem}h4{font-size:.95rem;margin:.6rem 0 .2rem}p{margin:.3rem 0}\
a{color:#0b5cad}small,.m{color:#5a6275}.bad{color:#a4001d;font-weight:600}.ok{color:#11632e}\
.t{overflow-x:auto}table{border-collapse:collapse;width:100%;margin:.2rem 0}\
th,td{text-align:left;padding:.2rem .5rem;border-bottom:1px solid #e3e6ee;vertical-align:top;overflow-wrap:break-word}\
th{background:#f3f5f9;font-weight:600}table.kv th{width:11rem}\
ul.log{font:12.5px/1.4 ui-monospace,monospace;background:#f6f7fa;border-left:3px solid #a4001d;\
padding:.3rem .6rem;margin:.2rem 0;list-style:none;overflow-wrap:anywhere}\
section.a{border:1px solid #dde2ee;border-radius:8px;padding:0 .9rem .5rem;margin:1rem 0}\
section.trouble{border-left:5px solid #a4001d}nav a{margin-right:.9rem}\
@media (max-width:640px){body{padding:.3rem .5rem;font-size:14px}section.a{padding:0 .5rem .4rem}\
table.r thead{display:none}table.r tr{display:block;border:1px solid #e3e6ee;border-radius:6px;margin:.4rem 0;\
padding:.2rem .4rem}table.r td{display:block;border:0;padding:.1rem 0}\
table.r td:first-child{font-weight:600}table.r td[data-l]::before{content:attr(data-l) \": \";color:#5a6275}\
table.kv th{width:auto}}";

/// Longest value written: above the longest line an error is logged with (320 characters), so none is cut
/// twice.
const MAX_TEXT_CHARS: usize = 400;

/// The page being written, and the moment it describes (every age is from it).
pub(super) struct Html {
    out: String,
    pub now: SystemTime,
    /// The columns of the table being written, and the cell reached in its row.
    heads: &'static [&'static str],
    column: usize,
}

impl Html {
    pub fn new(now: SystemTime) -> Html {
        Html {
            out: String::with_capacity(16 * 1024),
            now,
            heads: &[],
            column: 0,
        }
    }

    pub fn finish(self) -> String {
        self.out
    }

    /// Markup, written as is: a literal of this module's callers, never a value.
    pub fn raw(&mut self, markup: &'static str) -> &mut Self {
        self.out.push_str(markup);
        self
    }

    /// Text, escaped for an element's content or a quoted attribute, and at most [`MAX_TEXT_CHARS`] characters
    /// (and an ellipsis): every value comes from the API or a log line, and the page's size bound must hold
    /// whatever they hold.
    pub fn text(&mut self, text: &str) -> &mut Self {
        let clipped = text.chars().nth(MAX_TEXT_CHARS).is_some();
        for c in text.chars().take(MAX_TEXT_CHARS) {
            match c {
                '&' => self.out.push_str("&amp;"),
                '<' => self.out.push_str("&lt;"),
                '>' => self.out.push_str("&gt;"),
                '"' => self.out.push_str("&quot;"),
                '\'' => self.out.push_str("&#39;"),
                c => self.out.push(c),
            }
        }
        if clipped {
            self.out.push('…');
        }
        self
    }

    /// A value's text form, escaped.
    pub fn show(&mut self, value: impl Display) -> &mut Self {
        let mut text = String::new();
        let _ = write!(text, "{value}");
        self.text(&text)
    }

    /// `<tag>text</tag>`, the text escaped.
    pub fn wrap(&mut self, (open, close): (&'static str, &'static str), text: &str) -> &mut Self {
        self.raw(open).text(text).raw(close)
    }

    /// `n` things, in words ([`counted`]).
    pub fn count(&mut self, n: usize, plural: &str) -> &mut Self {
        let text = counted(n, plural);
        self.text(&text)
    }

    /// A link to `href` (a path of this exporter's) reading `text`.
    pub fn link(&mut self, href: &str, text: &str) -> &mut Self {
        self.raw("<a href=\"")
            .text(href)
            .raw("\">")
            .text(text)
            .raw("</a>")
    }

    /// Opens a table of `heads` (the class `r` makes its rows cards on a phone).
    pub fn table(&mut self, heads: &'static [&'static str]) -> &mut Self {
        self.heads = heads;
        self.raw("<div class=\"t\"><table class=\"r\"><thead><tr>");
        for head in heads {
            self.wrap(("<th>", "</th>"), head);
        }
        self.raw("</tr></thead><tbody>")
    }

    pub fn end_table(&mut self) -> &mut Self {
        self.raw("</tbody></table></div>")
    }

    /// One row, its cells written by `cells` through [`Html::cell`].
    pub fn row(&mut self, cells: impl FnOnce(&mut Html)) -> &mut Self {
        self.column = 0;
        self.raw("<tr>");
        cells(self);
        self.raw("</tr>")
    }

    /// The next cell of the row, written by `fill`; labelled with its column, but for the first (a card's title).
    pub fn cell(&mut self, fill: impl FnOnce(&mut Html)) -> &mut Self {
        match (self.column, self.heads.get(self.column)) {
            (1.., Some(head)) => {
                self.raw("<td data-l=\"").text(head).raw("\">");
            }
            _ => {
                self.raw("<td>");
            }
        }
        self.column += 1;
        fill(self);
        self.raw("</td>")
    }

    /// The next cell, holding `text`.
    pub fn cell_text(&mut self, text: &str) -> &mut Self {
        self.cell(|h| {
            h.text(text);
        })
    }

    /// A moment as UTC, to the second.
    pub fn utc(&mut self, at: SystemTime) -> &mut Self {
        let text = utc(at, false);
        self.text(&text)
    }

    /// How long before the page `at` was (`4 s ago`), or how long after (`in 6 h`).
    pub fn age(&mut self, at: SystemTime) -> &mut Self {
        let text = match self.now.duration_since(at) {
            Ok(ago) => format!("{} ago", rough(ago)),
            Err(ahead) => format!("in {}", rough(ahead.duration())),
        };
        self.text(&text)
    }
}

/// `n` and its noun, singular for one: `1 window`, `3 windows` (`plural` is a noun whose plural adds an `s`).
pub(super) fn counted(n: usize, plural: &str) -> String {
    match n {
        1 => format!("1 {}", plural.strip_suffix('s').unwrap_or(plural)),
        n => format!("{n} {plural}"),
    }
}

/// A moment as `2026-07-28 16:00:00 UTC` (`minutes`: without the seconds).
pub(super) fn utc(at: SystemTime, minutes: bool) -> String {
    let seconds = match at.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(before) => -(before.duration().as_secs() as i64),
    };
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(seconds) else {
        return format!("{seconds} (Unix time)");
    };
    let (date, clock) = (t.date(), t.time());
    let mut out = format!(
        "{}-{:02}-{:02} {:02}:{:02}",
        date.year(),
        u8::from(date.month()),
        date.day(),
        clock.hour(),
        clock.minute()
    );
    if !minutes {
        let _ = write!(out, ":{:02}", clock.second());
    }
    out.push_str(" UTC");
    out
}

/// How long something took: `4 ms`, `0.12 s`, then as [`rough`].
pub(super) fn span(d: Duration) -> String {
    match d.as_millis() {
        0..10 => format!("{} ms", d.as_millis()),
        10..10_000 => format!("{:.2} s", d.as_secs_f64()),
        _ => rough(d),
    }
}

/// A time span as people say it: `4 s`, `3 min`, `2 h 5 min`, `3 d`.
fn rough(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..120 => format!("{s} s"),
        120..7200 => format!("{} min", s / 60),
        7200..172_800 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d", s / 86_400),
    }
}

/// An interval as configured: `30 s`, `0.2 s`.
pub(super) fn every(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}
