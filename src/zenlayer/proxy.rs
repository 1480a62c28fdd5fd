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
/// replaced by `…`. Textual, so it also works on a URL that does not parse.
pub fn without_userinfo(text: &str) -> String {
    let start = text.find("://").map_or(0, |i| i + 3);
    let authority_end = text[start..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |i| start + i);
    match text[start..authority_end].rfind('@') {
        Some(at) => format!("{}…{}", &text[..start], &text[start + at..]),
        None => text.to_owned(),
    }
}
