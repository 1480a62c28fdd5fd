//! Basic authentication from the web configuration: users and their bcrypt hashes, a bounded number of checks
//! at once (the permits travel with the hash into its blocking task), and the cache of logins already verified.

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

/// Distinct successful logins remembered, so a scrape every few seconds does not pay a bcrypt hash (tens of
/// milliseconds of CPU at cost 10) each time. Bounded: a flood of distinct passwords cannot grow it.
const VERIFIED_CACHE: usize = 64;

/// bcrypt checks run at once. Each holds a CPU for tens of milliseconds; a flood of wrong passwords must not take
/// every core from the scrapes that know theirs (their check is a cache hit and never waits here).
const CONCURRENT_CHECKS: usize = 2;

/// Requests that may wait for one of those checks. Beyond it a request is answered 503 at once rather than
/// queued: a flood must not build a queue whose tail a real scraper's first login would wait behind.
const WAITING_CHECKS: usize = 16;

/// The basic-authentication users: names and bcrypt hashes, and the logins already verified.
pub struct Users {
    hashes: BTreeMap<String, String>,
    /// What an unknown user's password is checked against: the hash of the highest cost present, so an unknown
    /// name never answers faster than a known one, whatever costs the hashes were made with.
    decoy: String,
    /// SHA-256 of (user, password, hash) for recent successful logins. A digest, so the passwords themselves are
    /// not kept; keyed on the hash too, so a changed hash is checked afresh.
    verified: Mutex<HashSet<[u8; 32]>>,
    /// [`CONCURRENT_CHECKS`] permits, each moved into the blocking task that runs one bcrypt, so it is held until
    /// that hash is done even when the client hung up and its request was dropped.
    checks: Arc<Semaphore>,
    /// [`CONCURRENT_CHECKS`] + [`WAITING_CHECKS`] permits: a request holds one from before it waits until its
    /// check is done; none left means too many already wait.
    admitted: Arc<Semaphore>,
}

/// What a basic-authentication check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// A known user with the right password.
    Allowed,
    /// No credentials, an unknown user or a wrong password.
    Denied,
    /// Too many checks already running or waiting; nothing was checked.
    Busy,
}

impl Users {
    pub(super) fn new(hashes: BTreeMap<String, String>) -> Result<Users, Vec<String>> {
        let mut problems = Vec::new();
        for (user, hash) in &hashes {
            if user.contains(':') {
                problems.push(format!("basic_auth_users: user {user:?} contains ':', which basic authentication cannot carry"));
            }
            if bcrypt::HashParts::from_str(hash).is_err() {
                // The value is a hash, but a mistyped one may be a plaintext password: never quote it.
                problems.push(format!("basic_auth_users: the password of {user:?} is not a bcrypt hash (make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`)"));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let decoy = hashes
            .values()
            .max_by_key(|hash| bcrypt::HashParts::from_str(hash).map_or(0, |p| p.get_cost()))
            .cloned()
            .unwrap_or_default();
        Ok(Users {
            hashes,
            decoy,
            verified: Mutex::new(HashSet::new()),
            checks: Arc::new(Semaphore::new(CONCURRENT_CHECKS)),
            admitted: Arc::new(Semaphore::new(CONCURRENT_CHECKS + WAITING_CHECKS)),
        })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.hashes.keys().map(String::as_str)
    }

    /// Whether an `Authorization` header value carries a known user's password.
    pub async fn check(self: &Arc<Self>, authorization: Option<&[u8]>) -> Login {
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return Login::Denied;
        };
        let (hash, known) = match self.hashes.get(&user) {
            Some(hash) => (hash.clone(), true),
            // An unknown user costs the same bcrypt as the dearest known one, so timing does not tell which names
            // exist.
            None => (self.decoy.clone(), false),
        };
        let key: [u8; 32] = {
            let mut h = Sha256::new();
            for part in [user.as_bytes(), password.as_bytes(), hash.as_bytes()] {
                h.update((part.len() as u64).to_le_bytes());
                h.update(part);
            }
            h.finalize().into()
        };
        if known && self.remembered(&key) {
            return Login::Allowed;
        }
        let Ok(admitted) = self.admitted.clone().try_acquire_owned() else {
            return Login::Busy;
        };
        let Ok(running) = self.checks.clone().acquire_owned().await else {
            return Login::Denied;
        };
        // Both permits go into the blocking task: if the client hangs up, this future is dropped, but the hash
        // already started keeps its place in the bound until it is done.
        let matched = tokio::task::spawn_blocking(move || {
            let matched = bcrypt::verify(password, &hash).unwrap_or(false);
            drop((running, admitted));
            matched
        })
        .await
        .unwrap_or(false);
        if matched && known {
            self.remember(key);
            Login::Allowed
        } else {
            Login::Denied
        }
    }

    fn remembered(&self, key: &[u8; 32]) -> bool {
        self.verified
            .lock()
            .map(|set| set.contains(key))
            .unwrap_or(false)
    }

    fn remember(&self, key: [u8; 32]) {
        if let Ok(mut set) = self.verified.lock() {
            if set.len() >= VERIFIED_CACHE {
                set.clear();
            }
            set.insert(key);
        }
    }
}

/// `Basic base64(user:password)` → (user, password); `None` for any other scheme or a malformed value.
fn parse_basic(value: &[u8]) -> Option<(String, String)> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_parsing() {
        let b64 = |s: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        assert_eq!(
            parse_basic(b64("alice:pa:ss").as_bytes()),
            Some(("alice".into(), "pa:ss".into()))
        );
        assert_eq!(
            parse_basic(b64("alice:").as_bytes()),
            Some(("alice".into(), String::new()))
        );
        assert_eq!(parse_basic(b64("nocolon").as_bytes()), None);
        assert_eq!(parse_basic(b"Bearer abc"), None);
        assert_eq!(parse_basic(b"Basic !!!"), None);
        assert_eq!(parse_basic(b"Basic"), None);
    }

    #[test]
    fn unknown_users_are_checked_against_the_dearest_hash() {
        // `alice` sorts first: checking unknown names against the first hash would make them answer faster than
        // `zoe`, whose hash costs four times as much.
        let (cheap, dear) = (bcrypt::hash("a", 4).unwrap(), bcrypt::hash("b", 6).unwrap());
        let users = Users::new(BTreeMap::from([
            ("alice".to_owned(), cheap),
            ("zoe".to_owned(), dear.clone()),
        ]))
        .unwrap();
        assert_eq!(users.decoy, dear);
    }
}
