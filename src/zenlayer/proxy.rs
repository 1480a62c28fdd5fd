//! The proxy for the API calls, as the configuration decided it from the standard variables, and the one rule
//! the client adds: traffic to this machine never goes through a proxy.

use url::Url;

/// An HTTP proxy for the API calls, taken from the standard variables by `config` (so tests pass them in a
/// table): the HTTP client itself reads no environment.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// `http://[user:password@]host:port`; the password, if any, is sent as `Proxy-Authorization`.
    pub url: Url,
    /// The variable it came from, for the start-up log.
    pub variable: &'static str,
    /// Hosts that bypass it, as `NO_PROXY` gives them (names with their subdomains, IPs and CIDR ranges, `*`).
    pub no_proxy: Option<String>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The proxy's credentials never print.
        write!(
            f,
            "{} (from {}",
            without_userinfo(self.url.as_str()),
            self.variable
        )?;
        if let Some(no_proxy) = &self.no_proxy {
            write!(f, ", NO_PROXY {no_proxy:?}")?;
        }
        f.write_str(")")
    }
}

/// Whether `url` names this machine: the simulator, the demo, a local tunnel. Such traffic never goes through
/// a proxy, as Go's `ProxyFromEnvironment` also decides.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// `text` with the user-info of its authority (what comes before an `@` in `scheme://user:password@host/`)
/// replaced by `…`. Textual, so it also works on a URL that does not parse, and as lenient as the URL parser
/// is about slashes: `https:///u:PW@host` and `https:/\u:PW@host` are read as `https://u:PW@host` by the
/// WHATWG rules, so they are redacted like it.
pub fn without_userinfo(text: &str) -> String {
    let start = authority_start(text);
    let authority_end = text[start..]
        .find(['/', '\\', '?', '#'])
        .map_or(text.len(), |i| start + i);
    match text[start..authority_end].rfind('@') {
        Some(at) => format!("{}…{}", &text[..start], &text[start + at..]),
        None => text.to_owned(),
    }
}

/// Where the authority of `text` starts: after `scheme:` and every slash or backslash that follows it, or at
/// the start when there is no scheme followed by one (`user:password@host:port`, a proxy without a scheme).
fn authority_start(text: &str) -> usize {
    let Some(colon) = text.find(':') else {
        return 0;
    };
    let scheme = &text[..colon];
    let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    let slashes = text[colon + 1..]
        .bytes()
        .take_while(|b| matches!(b, b'/' | b'\\'))
        .count();
    if is_scheme && slashes > 0 {
        colon + 1 + slashes
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::without_userinfo;

    #[test]
    fn user_info_is_redacted_however_the_slashes_are_written() {
        for (text, shown) in [
            ("https://u:PW@host/x", "https://…@host/x"),
            ("https:///u:PW@host", "https:///…@host"),
            ("https:/\\u:PW@host", "https:/\\…@host"),
            ("https:\\\\u:PW@host", "https:\\\\…@host"),
            ("http://u:PW@[::1]:8080/a@b", "http://…@[::1]:8080/a@b"),
            ("u:PW@proxy:3128", "…@proxy:3128"),
            ("https:u:PW@host", "…@host"),
            ("https://host/path@x", "https://host/path@x"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(without_userinfo(text), shown, "{text}");
            assert!(!without_userinfo(text).contains("PW"), "{text}");
        }
    }
}
