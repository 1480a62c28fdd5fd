//! The accounts file (`ZENLAYER_EXPORTER_ACCOUNTS_FILE`): several Zenlayer accounts for one exporter, each with
//! its name, its credentials (the same keys as the environment's, in lower case) and optionally its API URL.
//! Read at start-up, where every problem stops the exporter, and again on every reload, where a file that does
//! not load keeps the accounts in use. Which accounts this replica polls is [`owned`]'s: a stable hash of each
//! name picks its shard.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use serde_yaml_ng::Value;
use url::Url;

use super::settings::{api_url, quote};
use super::{Checker, CredentialKeys, GivenCredentials, credentials, proxy_for};
use crate::files;
use crate::secret::Secret;
use crate::zenlayer::client::{Auth, Proxy};

/// An account's keys in the file.
const KEYS: CredentialKeys = CredentialKeys {
    id: "access_key_id",
    password: "access_key_password",
    password_file: "access_key_password_file",
    token: "access_token",
    token_file: "access_token_file",
    none: "each account needs one kind",
};
const NAME: &str = "name";
const API_URL: &str = "api_url";

/// One account as the file gives it, checked: what the exporter polls it with.
#[derive(Debug, Clone)]
pub struct AccountSpec {
    /// `[a-z0-9_-]{1,63}`: the value of the `account` label and of `/probe?account=`.
    pub name: Arc<str>,
    pub api_url: Url,
    pub auth: Auth,
    pub proxy: Option<Proxy>,
    /// The file the secret was read from, if any: a reload re-reads it.
    pub secret_file: Option<std::path::PathBuf>,
}

/// What every account shares from the environment: the API URL when it gives none, and the proxy variables.
pub struct Defaults<'a> {
    pub api_url: &'a Url,
    pub proxy_vars: &'a [(String, String)],
}

/// Reads and checks the accounts file at `path`: every account, or every problem, each naming the account
/// (by position and name) and the key it concerns. Secret files are read now, so a reload also takes up a
/// rotated secret.
pub fn load(path: &Path, defaults: &Defaults) -> Result<Vec<AccountSpec>, Vec<String>> {
    let text = read(path).map_err(|e| vec![e])?;
    from_text(path, &text, defaults)
}

/// The accounts file's text, within its bound ([`files::MAX_ACCOUNTS_BYTES`]), a regular file only.
pub fn read(path: &Path) -> Result<String, String> {
    files::read_text(path, files::MAX_ACCOUNTS_BYTES)
        .map_err(|e| format!("cannot read {}: {e}", quote(&path.display().to_string())))
}

/// [`load`] of a text already read from `path` (which locates the secret files it names and is shown in
/// messages).
pub fn from_text(
    path: &Path,
    text: &str,
    defaults: &Defaults,
) -> Result<Vec<AccountSpec>, Vec<String>> {
    let shown = quote(&path.display().to_string());
    let document: Value = serde_yaml_ng::from_str(text)
        .map_err(|e| vec![format!("{shown} is not YAML: {}", unquoted(&e.to_string()))])?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&document, base, defaults)
}

/// A YAML error without the values it quotes: the parser names an integer it cannot hold in backticks
/// (`` invalid type: integer `123…` as u128 ``), and that value may be a credential.
fn unquoted(message: &str) -> String {
    message
        .split('`')
        .enumerate()
        .map(|(i, piece)| if i % 2 == 1 { "…" } else { piece })
        .collect::<Vec<_>>()
        .join("`")
}

fn parse(
    document: &Value,
    base: &Path,
    defaults: &Defaults,
) -> Result<Vec<AccountSpec>, Vec<String>> {
    let top = match document {
        Value::Mapping(top) => top,
        Value::Null => {
            return Err(vec![
                "is empty: it needs `accounts:` and a list of accounts".to_owned(),
            ]);
        }
        _ => return Err(vec!["must be a mapping with one key, accounts".to_owned()]),
    };
    let mut problems = Vec::new();
    for key in top.keys() {
        if key.as_str() != Some("accounts") {
            problems.push(format!(
                "unknown key {}: the file has one key, accounts",
                shown_key(key)
            ));
        }
    }
    let entries = match top.get("accounts") {
        Some(Value::Sequence(entries)) if !entries.is_empty() => entries.as_slice(),
        Some(Value::Sequence(_)) => {
            problems.push("accounts: lists no account".to_owned());
            &[]
        }
        Some(_) => {
            problems.push("accounts: must be a list of accounts".to_owned());
            &[]
        }
        None => {
            problems.push("accounts: missing".to_owned());
            &[]
        }
    };
    let mut accounts = Vec::new();
    let mut names = HashSet::new();
    for (i, entry) in entries.iter().enumerate() {
        let (name, errors) = match account(entry, base, defaults) {
            Ok(spec) => {
                let name = spec.name.to_string();
                accounts.push(spec);
                (Some(name), Vec::new())
            }
            Err((name, errors)) => (name, errors),
        };
        let who = match &name {
            Some(name) => format!("accounts[{i}] ({name})"),
            None => format!("accounts[{i}]"),
        };
        if let Some(name) = name {
            if !names.insert(name) {
                problems.push(format!(
                    "{who}: the name is already taken by an earlier account"
                ));
            }
        }
        problems.extend(errors.into_iter().map(|e| format!("{who}: {e}")));
    }
    if problems.is_empty() {
        Ok(accounts)
    } else {
        Err(problems)
    }
}

fn shown_key(key: &Value) -> String {
    match key.as_str() {
        Some(text) => quote(text),
        None => "that is not a string".to_owned(),
    }
}

/// One account; on failure, its name if it has a valid one and every problem.
fn account(
    entry: &Value,
    base: &Path,
    defaults: &Defaults,
) -> Result<AccountSpec, (Option<String>, Vec<String>)> {
    let Value::Mapping(map) = entry else {
        return Err((
            None,
            vec!["must be a mapping (name, credentials, api_url)".to_owned()],
        ));
    };
    let mut problems = Vec::new();
    // Every value is a string. YAML reads an unquoted `0x1F` or `1e3` as a number, and writing it back gives
    // another text (`31`, `1000.0`): a credential must be quoted, and the problem never shows its value.
    let mut text = |key: &'static str| -> Option<String> {
        match map.get(key)? {
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            Value::Number(_) => {
                problems.push(format!(
                    "{key}: must be a string; YAML read an unquoted number, so quote the value (\"...\")"
                ));
                None
            }
            _ => {
                problems.push(format!("{key}: must be a string"));
                None
            }
        }
    };
    let name = text(NAME);
    let id = text(KEYS.id);
    let password = text(KEYS.password).map(Secret::new);
    let password_file = text(KEYS.password_file).map(|p| base.join(p));
    let token = text(KEYS.token).map(Secret::new);
    let token_file = text(KEYS.token_file).map(|p| base.join(p));
    let api = text(API_URL);
    for key in map.keys() {
        let known = key
            .as_str()
            .is_some_and(|k| k == NAME || k == API_URL || KEYS.all().contains(&k));
        if !known {
            problems.push(format!(
                "unknown key {}: an account takes name, api_url, {}",
                shown_key(key),
                KEYS.all().join(", ")
            ));
        }
    }
    let name = match name {
        Some(name) if valid_name(&name) => Some(name),
        Some(name) => {
            problems.push(format!(
                "name: must be 1 to 63 of a-z, 0-9, _ and -, got {}",
                quote(&name)
            ));
            None
        }
        None => {
            problems.push("name: missing".to_owned());
            None
        }
    };
    let mut c = Checker {
        problems: Vec::new(),
    };
    let given = GivenCredentials {
        id: id.as_deref(),
        password: password.as_ref(),
        password_file: password_file.as_deref(),
        token: token.as_ref(),
        token_file: token_file.as_deref(),
    };
    let auth = credentials(&mut c, &KEYS, &given);
    let secret_file = auth.as_ref().and_then(|auth| given.secret_file(auth));
    let api_url = match api {
        None => Some(defaults.api_url.clone()),
        Some(text) => api_url(&text)
            .map_err(|refused| {
                problems.extend(refused.into_iter().map(|m| format!("{API_URL}: {m}")));
            })
            .ok(),
    };
    let proxy = api_url
        .as_ref()
        .and_then(|url| proxy_for(&mut c, url, defaults.proxy_vars));
    problems.extend(
        c.problems
            .into_iter()
            .map(|p| format!("{}: {}", p.variable, p.message)),
    );
    match (name, auth, api_url) {
        (Some(name), Some(auth), Some(api_url)) if problems.is_empty() => Ok(AccountSpec {
            name: name.into(),
            api_url,
            auth,
            proxy,
            secret_file,
        }),
        (name, ..) => Err((name, problems)),
    }
}

/// Whether `name` can be an account's: `[a-z0-9_-]{1,63}`, so it is a label value, a URL query value and a
/// file name as it is.
pub fn valid_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The 64-bit FNV-1a hash of an account's name: stable across platforms and releases, for what must not move.
pub fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The shard, of `total`, that polls the account named `name`: jump consistent hash (Lamping and Veach, 2014)
/// of the name's 64-bit FNV-1a hash. Both are a few lines, fixed by their papers and the same on every
/// platform and release, so every replica agrees without talking to the others; and when the number of
/// shards grows from N to N+1, only 1/(N+1) of the accounts move.
pub fn shard_of(name: &str, total: u32) -> u32 {
    let mut key = name_hash(name);
    let (mut b, mut j) = (-1_i64, 0_i64);
    while j < i64::from(total) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1_u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

/// The accounts shard `shard` of `total` polls.
pub fn owned(accounts: Vec<AccountSpec>, shard: u32, total: u32) -> Vec<AccountSpec> {
    accounts
        .into_iter()
        .filter(|a| shard_of(&a.name, total) == shard)
        .collect()
}

/// `ZENLAYER_EXPORTER_SHARD`: a 0-based number, or a StatefulSet pod name ending in `-N` (its ordinal). Only
/// digits, and no leading zero: `u32::from_str` would also take `+1`, so `zl-+1`, `zl--1` and `-1` would all be
/// shard 1, and `zl-01` would be a second replica claiming shard 1 while no pod is named so.
pub(super) fn shard_number(text: &str) -> Option<u32> {
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
    fn credentials_must_be_quoted_strings_and_are_never_echoed() {
        let defaults = Defaults {
            api_url: &Url::parse("https://console.zenlayer.com").unwrap(),
            proxy_vars: &[],
        };
        let dir = std::env::temp_dir().join(format!("zl-accounts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("accounts.yml");
        // Parsed as numbers by YAML (and rewritten: 0x1F as 31, 1e3 as 1000.0), or too large to parse at all.
        for value in ["0x1F", "1e3", "-17", "123456789012345678901234567", ".inf"] {
            std::fs::write(
                &path,
                format!("accounts:\n- name: a\n  access_key_id: {value}\n  access_key_password: {value}\n"),
            )
            .unwrap();
            let problems = load(&path, &defaults).unwrap_err().join("\n");
            assert!(
                problems.contains("must be a string") || problems.contains("is not YAML"),
                "{value}: {problems}"
            );
            for shown in [value, "31", "1000"] {
                assert!(
                    !problems.contains(&format!("{shown}`"))
                        && !problems.contains(&format!(" {shown}")),
                    "{value}: {problems}"
                );
            }
        }
        std::fs::write(
            &path,
            "accounts:\n- name: a\n  access_key_id: \"0x1F\"\n  access_key_password: \"1e3\"\n",
        )
        .unwrap();
        let spec = load(&path, &defaults).unwrap().remove(0);
        assert!(
            matches!(&spec.auth, Auth::Signature { access_key_id, .. } if access_key_id == "0x1F")
        );
        assert_eq!(spec.auth.secret().expose(), "1e3");
        std::fs::remove_dir_all(&dir).unwrap();
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
