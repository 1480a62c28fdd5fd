//! A status page in its plain shape, read without serde: the envelope and rows of `DescribeInstancesStatus` as
//! the API sends them, where every row is an object of its two strings and no string has an escape. Such a
//! page is the whole of every status poll, every interval, and serde's visitors read it at 2.3 to 2.8 times the
//! cost of parsing it into `IgnoredAny` (the floor of reading the JSON at all); read here it costs 1.5 to 1.8
//! times that floor (`cargo bench --bench micro -- decode`). No crate did better on the same page: jiter's
//! iterator read it at 2.5 to 3 times serde_json's floor, and sonic-rs through the same visitors at 2.6 to 2.8.
//!
//! This reader never judges a page. It accepts only a page that serde's reader (`envelope`, the reader of
//! record) reads to the same rows and head, and gives up on anything else (an escape, a null, a key it does not
//! know, a key given twice, a value serde would bound, a byte out of place), leaving that page to serde, which
//! reads or refuses it as before. `tests` hold the two readers to that on every byte of a page altered.

use super::bounds::{MAX_ID_BYTES, MAX_TEXT_BYTES};
use super::envelope::Said;
use super::model::{InstanceId, InstanceStatus};
use super::vocabulary::Status;

/// Reads `text` as a status page in its plain shape, handing each row to `row` as it is read; `None` when the
/// page is in any other shape (rows already handed over are then to be dropped).
pub(super) fn read(text: &str, row: &mut impl FnMut(InstanceStatus<Status>)) -> Option<Said> {
    let mut scan = Scan { text, at: 0 };
    let said = scan.level(row, false)?;
    scan.space();
    (scan.at == text.len()).then_some(said)
}

struct Scan<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scan<'a> {
    /// Skips JSON's whitespace.
    fn space(&mut self) {
        self.at += self.text.as_bytes()[self.at..]
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
            .count();
    }

    /// Takes `byte`, after whitespace, if it is next.
    fn take(&mut self, byte: u8) -> bool {
        self.space();
        let next = self.text.as_bytes().get(self.at) == Some(&byte);
        self.at += usize::from(next);
        next
    }

    /// A string without escapes or control characters (which JSON forbids raw, and serde refuses).
    fn string(&mut self) -> Option<&'a str> {
        if !self.take(b'"') {
            return None;
        }
        let start = self.at;
        let rest = &self.text.as_bytes()[start..];
        let len = special(rest)?;
        if rest[len] != b'"' {
            return None;
        }
        self.at = start + len + 1;
        // Both ends are ASCII quotes of a text that is UTF-8 throughout: char boundaries.
        Some(&self.text[start..start + len])
    }

    /// A non-negative integer as JSON writes it (no leading zero, no fraction or exponent: serde reads a `u64`
    /// from nothing else), that fits a `u64`.
    fn count(&mut self) -> Option<u64> {
        self.space();
        let digits = self.text.as_bytes()[self.at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let number = &self.text[self.at..self.at + digits];
        if digits == 0 || (digits > 1 && number.starts_with('0')) {
            return None;
        }
        self.at += digits;
        // What follows must end the value; a '.' or an 'e' fails the caller's ',' or '}'.
        number.parse().ok()
    }

    /// The members of an object, each key handed to `member`, which reads its value.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        if !self.take(b'{') {
            return None;
        }
        if self.take(b'}') {
            return Some(());
        }
        loop {
            let key = self.string()?;
            if !self.take(b':') {
                return None;
            }
            member(self, key)?;
            if !self.take(b',') {
                return self.take(b'}').then_some(());
            }
        }
    }

    /// One level of the envelope, as `envelope::Level` reads it; `nested` is the payload in `response`.
    fn level(
        &mut self,
        row: &mut impl FnMut(InstanceStatus<Status>),
        nested: bool,
    ) -> Option<Said> {
        let mut said = Said::default();
        let mut seen = [false; 4];
        self.object(|scan, key| {
            let field = match key {
                "requestId" => 0,
                "totalCount" => 1,
                "dataSet" => 2,
                "response" if !nested => 3,
                _ => return None,
            };
            if std::mem::replace(&mut seen[field], true) {
                return None;
            }
            match field {
                0 => said.request_id = Some(scan.string()?.to_owned()),
                1 => said.total_count = Some(scan.count()?),
                2 => said.rows = scan.rows(row)?,
                _ => said.response = Some(Box::new(scan.level(row, true)?)),
            }
            Some(())
        })?;
        Some(said)
    }

    /// A `dataSet`'s rows, each handed to `row`: how many.
    fn rows(&mut self, row: &mut impl FnMut(InstanceStatus<Status>)) -> Option<usize> {
        if !self.take(b'[') {
            return None;
        }
        if self.take(b']') {
            return Some(0);
        }
        let mut count = 0;
        loop {
            row(self.row()?);
            count += 1;
            if !self.take(b',') {
                return self.take(b']').then_some(count);
            }
        }
    }

    /// A row of exactly its two fields, each within the bounds serde's reader sets.
    fn row(&mut self) -> Option<InstanceStatus<Status>> {
        let (mut id, mut status) = (None, None);
        self.object(|scan, key| {
            let (slot, max) = match key {
                "instanceId" => (&mut id, MAX_ID_BYTES),
                "instanceStatus" => (&mut status, MAX_TEXT_BYTES),
                _ => return None,
            };
            let value = scan.string().filter(|v| v.len() <= max)?;
            slot.replace(value).is_none().then_some(())
        })?;
        Some(InstanceStatus {
            instance_id: InstanceId::from(id?),
            instance_status: Status::parse(status?),
        })
    }
}

/// Where the first quote, backslash or control character of `bytes` is: eight bytes at a time, each word
/// tested for all three at once (a byte is flagged when subtracting from it borrows; the lowest flag is exact).
fn special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let flags = |word: u64| {
        let zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGH;
        zero(word ^ (ONES * u64::from(b'"')))
            | zero(word ^ (ONES * u64::from(b'\\')))
            | (word.wrapping_sub(ONES * 0x20) & !word & HIGH)
    };
    let mut words = bytes.chunks_exact(8);
    for (at, chunk) in (0..).step_by(8).zip(&mut words) {
        let flagged = flags(u64::from_le_bytes(chunk.try_into().unwrap()));
        if flagged != 0 {
            return Some(at + flagged.trailing_zeros() as usize / 8);
        }
    }
    let tail = words.remainder();
    let at = bytes.len() - tail.len();
    tail.iter()
        .position(|&b| matches!(b, b'"' | b'\\' | 0..=0x1f))
        .map(|i| at + i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zenlayer::page::{decode_page, decode_statuses};

    /// Pages in the shapes the API and the simulator send, and in shapes the plain reader leaves to serde.
    fn pages() -> Vec<String> {
        let long = "9".repeat(MAX_ID_BYTES);
        vec![
            r#"{"requestId":"T1","response":{"requestId":"T1","totalCount":3,"dataSet":[{"instanceId":"1","instanceStatus":"RUNNING"},{"instanceStatus":"STOPPED","instanceId":"22"}]}}"#.into(),
            r#"{"totalCount":0,"dataSet":[],"requestId":"T2"}"#.into(),
            format!(" {{ \"response\" : {{ \"totalCount\" : 10 , \"dataSet\" : [ {{ \"instanceId\" : \"{long}\" , \"instanceStatus\" : \"NEW_ONE\" }} ] }} }}\n"),
            r#"{"requestId":"T3","response":null}"#.into(),
            r#"{"response":{"totalCount":1,"dataSet":[{"instanceId":"\u0031","instanceStatus":"RUNNING"}]}}"#.into(),
            r#"{"response":{"totalCount":1,"dataSet":[{"instanceId":"1","instanceStatus":"RUNNING","zoneId":"z"}]}}"#.into(),
            r#"{"response":{"totalCount":1,"dataSet":[{"instanceId":"1","instanceId":"2","instanceStatus":"RUNNING"}]}}"#.into(),
            r#"{"totalCount":1,"totalCount":2,"dataSet":[]}"#.into(),
            r#"{"totalCount":1.0,"dataSet":[]}"#.into(),
            r#"{"requestId":null,"totalCount":1,"dataSet":null}"#.into(),
            r#"{"totalCount":-0,"dataSet":[]}"#.into(),
            r#"{"totalCount":18446744073709551616,"dataSet":[]}"#.into(),
            // Read plainly: the largest count, a character of several bytes, a DEL (which JSON allows raw).
            "{\"totalCount\":18446744073709551615,\"dataSet\":[{\"instanceId\":\"é1\",\"instanceStatus\":\"RUN\u{7f}NING\"}]}".into(),
            r#"{"dataSet":[{"instanceId":"1","instanceStatus":"RUNNING"}],"response":{"totalCount":1}}"#.into(),
        ]
    }

    /// Every byte of each page in turn replaced by each of these (where the page stays UTF-8): JSON's
    /// punctuation, whitespace, digits, signs and exponents, letters of its literals, a control character and DEL.
    const REPLACEMENTS: &[u8] = b" \t\n\"\\{}[],:019-.eEanul\x01\x7f";

    #[test]
    fn a_page_read_plainly_is_read_as_serde_reads_it() {
        let mut plain = 0;
        let mut cases = 0;
        let mut check = |text: &str| {
            cases += 1;
            let mut rows = Vec::new();
            let read = read(text, &mut |row| rows.push(row));
            let serde = decode_page::<InstanceStatus<Status>>(text.as_bytes());
            assert_eq!(decode_statuses(text.as_bytes()), serde, "{text}");
            match (read, serde) {
                (Some(_), Ok(serde)) => {
                    plain += 1;
                    assert_eq!(rows, serde.data_set, "{text}");
                }
                // What both readers said is judged alike after them (`page::head`).
                (Some(_), Err(e)) => assert!(e.detail.starts_with("answer has"), "{text}: {e:?}"),
                (None, _) => {}
            }
        };
        for page in pages() {
            check(&page);
            for at in 0..page.len() {
                if let Ok(text) = std::str::from_utf8(&page.as_bytes()[..at]) {
                    check(text);
                }
                for &byte in REPLACEMENTS {
                    let mut bytes = page.clone().into_bytes();
                    bytes[at] = byte;
                    if let Ok(text) = String::from_utf8(bytes) {
                        check(&text);
                    }
                }
                let mut doubled = page.clone().into_bytes();
                doubled.insert(at, page.as_bytes()[at]);
                if let Ok(text) = String::from_utf8(doubled) {
                    check(&text);
                }
            }
        }
        // The plain reader took the pages meant for it and a fair share of the altered ones (a space for a space,
        // a digit for a digit), so the comparison above is not of serde with itself.
        assert!(plain > cases / 20, "{plain} of {cases} read plainly");
    }

    #[test]
    fn the_word_search_finds_what_a_byte_search_finds() {
        let naive = |b: &[u8]| b.iter().position(|&b| matches!(b, b'"' | b'\\' | 0..=0x1f));
        let alphabet = [
            b'a', b'"', b'\\', 0x00, 0x1f, 0x20, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xa2, 0xdd, 0xff,
        ];
        let mut rng = fastrand::Rng::with_seed(26);
        for _ in 0..20_000 {
            let len = rng.usize(0..40);
            // Mostly plain bytes, so that the first special one falls anywhere in a word or the tail.
            let bytes: Vec<u8> = (0..len)
                .map(|_| match rng.u8(0..8) {
                    0 => alphabet[rng.usize(..alphabet.len())],
                    _ => rng.u8(0x20..=0xff),
                })
                .collect();
            assert_eq!(special(&bytes), naive(&bytes), "{bytes:?}");
        }
    }

    #[test]
    fn the_shapes_left_to_serde_are_left_to_it() {
        let pages = pages();
        let plain = |text: &str| read(text, &mut |_| {}).is_some();
        assert!(plain(&pages[0]) && plain(&pages[1]) && plain(&pages[2]));
        // A null, an escape, a field the row does not keep, a key twice, a count that is a float, signed or too
        // large: serde's to read or refuse.
        assert!(pages[3..12].iter().all(|p| !plain(p)), "{pages:?}");
        assert!(plain(&pages[12]));
        // Rows beside a response are read alike, and refused after either reader.
        assert!(plain(&pages[13]));
        assert!(decode_statuses(pages[13].as_bytes()).is_err());
        let too_long = pages[2].replace("NEW_ONE", &"S".repeat(MAX_TEXT_BYTES + 1));
        assert!(!plain(&too_long));
        assert!(decode_statuses(too_long.as_bytes()).is_err());
    }
}
