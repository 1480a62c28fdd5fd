//! Account names and where they fall: [`AccountName`], a name checked once (what a name may be), its stable
//! hash and the shard that owns it; and a shard number as `ZENLAYER_EXPORTER_SHARD` gives it. A leaf: labels,
//! URLs, shards and poll phases all read these.

use std::sync::Arc;

/// An account's name, valid by construction: `[a-z0-9_-]{1,63}`, so it is a label value, a URL query value and
/// a file name as it is. Cheap to clone (shared text): every series label, log span and lookup holds one.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountName(Arc<str>);

impl AccountName {
    /// `name`, if it can be an account's.
    pub fn new(name: &str) -> Option<AccountName> {
        valid_name(name).then(|| AccountName(name.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name's stable hash ([`name_hash`]): what a poll's phase is drawn from.
    pub fn stable_hash(&self) -> u64 {
        name_hash(&self.0)
    }

    /// The shard, of `total`, that polls this account ([`shard_of`]).
    pub fn shard(&self, total: u32) -> u32 {
        shard_of(&self.0, total)
    }
}

impl std::ops::Deref for AccountName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for AccountName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AccountName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Debug for AccountName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

/// Whether `name` can be an account's.
fn valid_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The 64-bit FNV-1a hash of an account's name: stable across platforms and releases, for what must not move.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The shard, of `total`, that polls the account named `name`: jump consistent hash (Lamping and Veach, 2014)
/// of the name's 64-bit FNV-1a hash. Both are a few lines, fixed by their papers and the same on every
/// platform and release, so every replica agrees without talking to the others; and when the number of
/// shards grows from N to N+1, only 1/(N+1) of the accounts move.
fn shard_of(name: &str, total: u32) -> u32 {
    let mut key = name_hash(name);
    let (mut b, mut j) = (-1_i64, 0_i64);
    while j < i64::from(total) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1_u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

/// `ZENLAYER_EXPORTER_SHARD`: a 0-based number, or a StatefulSet pod name ending in `-N` (its ordinal). Only
/// digits, and no leading zero: `u32::from_str` would also take `+1`, so `zl-+1`, `zl--1` and `-1` would all be
/// shard 1, and `zl-01` would be a second replica claiming shard 1 while no pod is named so.
pub fn shard_number(text: &str) -> Option<u32> {
    let digits = match text.rsplit_once('-') {
        // `-1` and `zl--1`: a sign, not a pod name's ordinal.
        Some((name, _)) if name.is_empty() || name.ends_with('-') => return None,
        Some((_, ordinal)) => ordinal,
        None => text,
    };
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    canonical.then(|| digits.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("prod") && valid_name("a_b-9") && valid_name(&"x".repeat(63)));
        assert!(
            !valid_name("")
                && !valid_name("Prod")
                && !valid_name("a.b")
                && !valid_name(&"x".repeat(64))
        );
    }

    #[test]
    fn shard_numbers() {
        assert_eq!(shard_number("3"), Some(3));
        assert_eq!(shard_number("zenlayer-exporter-12"), Some(12));
        assert_eq!(shard_number("zl-0"), Some(0));
        assert_eq!(shard_number("0"), Some(0));
        for bad in [
            "zl-x", "", "-1", "+1", "zl--1", "zl-+1", "zl-01", "01", "zl-", "1 ", "zl-1x",
        ] {
            assert_eq!(shard_number(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn shards_split_every_account_once_and_move_few_when_one_is_added() {
        let names: Vec<String> = (0..1000).map(|i| format!("account-{i}")).collect();
        for total in [1, 2, 3, 4, 7] {
            let mut counts = vec![0; total as usize];
            for name in &names {
                let shard = shard_of(name, total);
                assert!(shard < total);
                counts[shard as usize] += 1;
            }
            // Balanced within a wide margin: 1000 accounts, a fair split is 1000/total each.
            for count in counts {
                assert!(count > 1000 / total as usize / 2, "{total}: {count}");
            }
        }
        let moved = names
            .iter()
            .filter(|n| shard_of(n, 4) != shard_of(n, 5))
            .count();
        assert!(moved < 300, "{moved} of 1000 moved from 4 to 5 shards");
        // Fixed by the two algorithms: a release that changes them moves accounts between running shards.
        assert_eq!(shard_of("prod", 1), 0);
        assert_eq!(
            (0..8)
                .map(|i| shard_of(&format!("account-{i}"), 4))
                .collect::<Vec<_>>(),
            [1, 2, 3, 0, 3, 3, 0, 1]
        );
    }
}
