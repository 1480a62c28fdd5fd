//! The accounts file (`ZENLAYER_EXPORTER_ACCOUNTS_FILE`): several Zenlayer accounts for one exporter, each with
//! its name, its credentials (the same keys as the environment's, in lower case) and optionally its API URL and
//! the products it reads.
//! Read at start-up, where every problem stops the exporter, and again on every reload, where a file that does
//! not load keeps the accounts in use. Which accounts this replica polls is [`owned`]'s: a stable hash of each
//! name picks its shard ([`crate::names`]).

use std::collections::HashSet;
use std::path::Path;

use serde_yaml_ng::Value;
use url::Url;

use super::values::{Products, api_url, quote};
use super::{Checker, CredentialKeys, GivenCredentials, credentials, proxy_for};
use crate::files;
use crate::names::AccountName;
use crate::secret::Secret;
use crate::zenlayer::client::Endpoint;

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
const PRODUCTS: &str = "products";

/// One account as the file gives it, checked: its name and what the exporter polls it with.
#[derive(Debug, Clone)]
pub struct AccountSpec {
    /// The value of the `account` label and of `/probe?account=`.
    pub name: AccountName,
    /// Where and as whom it calls the API: handed to its client as it is.
    pub endpoint: Endpoint,
    /// The file the secret was read from, if any, and what it held then: a reload compares the file with it.
    pub secret_file: Option<(std::path::PathBuf, files::Seen)>,
    /// The products it reads; `None`: those of `ZENLAYER_EXPORTER_PRODUCTS`.
    pub products: Option<Products>,
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
    read_seen(path).map(|(text, _)| text)
}

/// [`read`], and what the file held, to tell later whether it changed.
pub fn read_seen(path: &Path) -> Result<(String, files::Seen), String> {
    files::read_text_seen(path, files::MAX_ACCOUNTS_BYTES)
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
    let products = match map.get(PRODUCTS) {
        None => None,
        Some(Value::Sequence(list)) => {
            let names: Option<Vec<&str>> = list.iter().map(Value::as_str).collect();
            match names.map(Products::parse) {
                Some(Ok(products)) => Some(products),
                Some(Err(refused)) => {
                    problems.extend(refused.into_iter().map(|m| format!("{PRODUCTS}: {m}")));
                    None
                }
                None => {
                    problems.push(format!("{PRODUCTS}: every product is a name, such as vm"));
                    None
                }
            }
        }
        Some(_) => {
            problems.push(format!(
                "{PRODUCTS}: must be a list, such as [vm, zec, bmc]"
            ));
            None
        }
    };
    for key in map.keys() {
        let known = key
            .as_str()
            .is_some_and(|k| k == NAME || k == API_URL || k == PRODUCTS || KEYS.all().contains(&k));
        if !known {
            problems.push(format!(
                "unknown key {}: an account takes name, api_url, products, {}",
                shown_key(key),
                KEYS.all().join(", ")
            ));
        }
    }
    let name = match name {
        Some(text) => match AccountName::new(&text) {
            Some(name) => Some(name),
            None => {
                problems.push(format!(
                    "name: must be 1 to 63 of a-z, 0-9, _ and -, got {}",
                    quote(&text)
                ));
                None
            }
        },
        None => {
            problems.push("name: missing".to_owned());
            None
        }
    };
    let mut c = Checker::default();
    let given = GivenCredentials {
        id: id.as_deref(),
        password: password.as_ref(),
        password_file: password_file.as_deref(),
        token: token.as_ref(),
        token_file: token_file.as_deref(),
    };
    let auth = credentials(&mut c, &KEYS, &given);
    let secret_file = auth
        .as_ref()
        .and_then(|auth| given.secret_file(auth))
        .and_then(|path| c.seen.iter().find(|(read, _)| *read == path).cloned());
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
        (Some(name), Some(auth), Some(base_url)) if problems.is_empty() => Ok(AccountSpec {
            name,
            endpoint: Endpoint {
                base_url,
                auth,
                proxy,
            },
            secret_file,
            products,
        }),
        (name, ..) => Err((name.map(|n| n.to_string()), problems)),
    }
}

/// The accounts shard `shard` of `total` polls.
pub fn owned(accounts: Vec<AccountSpec>, shard: u32, total: u32) -> Vec<AccountSpec> {
    accounts
        .into_iter()
        .filter(|a| a.name.shard(total) == shard)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
            matches!(&spec.endpoint.auth, crate::zenlayer::Auth::Signature { access_key_id, .. } if access_key_id == "0x1F")
        );
        assert_eq!(spec.endpoint.auth.secret().expose(), "1e3");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
