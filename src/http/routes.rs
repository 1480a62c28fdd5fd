//! The answers: `/metrics` (every account's rendered exposition plus the self-metrics, gzip when asked),
//! `/probe?account=NAME` (one account's, without its `account` label: the multi-target exporter pattern),
//! `/sd?port=P` (the instances as Prometheus HTTP service discovery targets, from the same snapshots), `/`
//! (the landing page, `landing`'s), `/healthz`, `/readyz`, 404 and 405; and the body type that sends the shared rendered
//! chunks without a copy. Every answer is ready in memory but a new `/sd` rendering and the first `/probe` of a
//! rendering, made off the runtime's threads. Authentication and headers are the server's.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::{Frame, SizeHint};

use super::AppState;
use crate::account::Account;
use crate::exposition::scrape;
use crate::exposition::scrape::{Chunk, Frames};
use crate::exposition::sd::{Query, Refused, Source};
use crate::names::AccountName;
use crate::telemetry::Rejected;
use crate::text::Format;

/// Dispatches one request. Every answer but a new `/sd` rendering, and the first `/probe` of a rendering, is ready
/// in memory; those two are made on a blocking thread.
pub async fn route<B>(req: &Request<B>, state: &AppState) -> Response<ChunkBody> {
    let path = req.uri().path();
    let head = req.method() == Method::HEAD;
    if !matches!(
        path,
        "/metrics"
            | "/probe"
            | "/sd"
            | "/"
            | "/healthz"
            | "/readyz"
            | "/-/healthy"
            | "/-/ready"
            | "/-/reload"
    ) {
        return plain(StatusCode::NOT_FOUND, "not found: try /metrics\n", head);
    }
    // Prometheus' own management convention: a reload is asked with POST (or PUT), never with a GET a crawler
    // or a prefetching browser might send.
    let (allowed, allow) = match path {
        "/-/reload" => (
            matches!(*req.method(), Method::POST | Method::PUT),
            "POST, PUT",
        ),
        _ => (req.method() == Method::GET || head, "GET, HEAD"),
    };
    if !allowed {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method not allowed: use {allow}\n"),
            false,
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
        return response;
    }
    match path {
        "/-/reload" => reload(state).await,
        "/metrics" => metrics(req.headers(), state, head),
        "/probe" => probe(req, state, head).await,
        "/sd" => {
            let response = sd(req, state, head).await;
            state
                .metrics
                .sd_requests
                .with_label_values(&[response.status().as_str()])
                .inc();
            response
        }
        "/healthz" | "/-/healthy" => plain(StatusCode::OK, "ok\n", head),
        "/readyz" | "/-/ready" => match waiting_for(state) {
            None => plain(StatusCode::OK, "ready\n", head),
            Some(reason) => text(StatusCode::SERVICE_UNAVAILABLE, reason, head),
        },
        _ => {
            let mut response = text(
                StatusCode::OK,
                super::landing::page(state, req.uri().query()),
                head,
            );
            let h = response.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            // The page names what the API sends (instance names, impact texts): whatever slipped past its
            // escaping still could not run, load or send anything.
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
                ),
            );
            response
        }
    }
}

/// `POST /-/reload`: what SIGHUP does (the accounts file, the web configuration and the secret files checked now,
/// byte for byte), answered with each file's outcome: 200 when every file's content is in use, 500 with the
/// reasons when some file keeps what was in use (as Prometheus answers a failed reload).
async fn reload(state: &AppState) -> Response<ChunkBody> {
    let outcomes = state.reloads.reload().await;
    if outcomes.is_empty() {
        return plain(
            StatusCode::OK,
            "nothing to reload: no accounts file, web configuration file or secret file is configured\n",
            false,
        );
    }
    let mut body = String::new();
    for outcome in &outcomes {
        let path = outcome.path.display();
        match &outcome.problem {
            None => body.push_str(&format!("{} {path}: in use\n", outcome.what)),
            Some(problem) => body.push_str(&format!(
                "{} {path}: NOT reloaded, the previous one stays: {problem}\n",
                outcome.what
            )),
        }
    }
    let failed = outcomes.iter().any(|o| o.problem.is_some());
    tracing::info!(failed, files = outcomes.len(), "reload asked over HTTP");
    let status = match failed {
        true => StatusCode::INTERNAL_SERVER_ERROR,
        false => StatusCode::OK,
    };
    text(status, body, false)
}

/// Why the exporter is not ready yet: some product of the only account has not finished its first poll, or none
/// has succeeded; or (with an accounts file) some account has a product whose first poll has not finished. A
/// product whose polls fail is ready once it has said so: its `zenlayer_up 0` is what there is to scrape (an
/// account not allowed a product keeps serving the others), and the other accounts are served meanwhile.
fn waiting_for(state: &AppState) -> Option<String> {
    let accounts = state.accounts.all();
    let polled = |a: &Account| a.parts.iter().all(|p| p.reports.load().is_some());
    if !state.accounts.named {
        let served = |a: &Account| a.parts.iter().any(|p| p.exposition.rendered().is_some());
        return accounts.iter().any(|a| !polled(a) || !served(a)).then(|| {
            "not ready: waiting for every product's first poll, and one to succeed\n".to_owned()
        });
    }
    let waiting: Vec<&str> = accounts
        .iter()
        .filter(|a| !polled(a))
        .map(|a| a.shown_name())
        .collect();
    (!waiting.is_empty()).then(|| {
        format!(
            "not ready: waiting for the first poll of {} account(s): {}\n",
            waiting.len(),
            waiting.join(", ")
        )
    })
}

/// The format `headers`' `Accept` prefers, counted.
fn format(headers: &HeaderMap, state: &AppState) -> Format {
    // Several Accept lines are one list (RFC 9110 §5.3).
    let accept: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let accept = accept.join(",");
    let format = Format::negotiate((!accept.is_empty()).then_some(accept.as_str()));
    state
        .metrics
        .scrapes
        .with_label_values(&[format.as_str()])
        .inc();
    format
}

fn metrics(headers: &HeaderMap, state: &AppState, head: bool) -> Response<ChunkBody> {
    let format = format(headers, state);
    let mut tail = Vec::with_capacity(8 * 1024);
    if let Err(e) = crate::text::encode(&state.metrics.registry.gather(), format, &mut tail) {
        tracing::error!(error = %e, "encoding the self-metrics failed");
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode metrics\n",
            head,
        );
    }
    let labeled = state.accounts.named;
    let contributions: Vec<_> = state
        .accounts
        .all()
        .iter()
        .flat_map(|a| a.parts.iter())
        .map(|p| p.exposition.contribution(labeled))
        .collect();
    let body = scrape::assemble(&contributions, labeled, tail, accepts_gzip(headers), format);
    exposition(body, format, head)
}

/// One account's series from the cache, without its `account` label, which the scrape configuration sets from
/// `__param_account`: the account's instance families and its own poll and API metrics, nothing process-wide.
async fn probe<B>(req: &Request<B>, state: &AppState, head: bool) -> Response<ChunkBody> {
    if !state.accounts.named {
        return plain(
            StatusCode::NOT_FOUND,
            "no accounts file: /probe serves the accounts of ZENLAYER_EXPORTER_ACCOUNTS_FILE; scrape /metrics\n",
            head,
        );
    }
    let query = req.uri().query().unwrap_or("");
    let names: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(key, _)| key == "account")
        .map(|(_, value)| value.into_owned())
        .collect();
    let name = match names.as_slice() {
        [] => {
            return plain(
                StatusCode::BAD_REQUEST,
                "missing parameter: /probe?account=NAME\n",
                head,
            );
        }
        [name] => name,
        _ => {
            return plain(
                StatusCode::BAD_REQUEST,
                "account given more than once: /probe serves one account\n",
                head,
            );
        }
    };
    let Some(name) = AccountName::new(name) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "bad account: a name is 1 to 63 of a-z, 0-9, _ and -\n",
            head,
        );
    };
    let account = match owned_account(state, &name) {
        Ok(account) => account,
        Err(why) => return text(StatusCode::NOT_FOUND, why, head),
    };
    let contributions: Vec<_> = account
        .parts
        .iter()
        .map(|p| p.exposition.contribution(false))
        .collect();
    // The first /probe of a rendering renders the account's families without their label: the whole fleet of
    // the account, too long for a runtime worker that also answers /healthz.
    let unready: Vec<_> = contributions
        .iter()
        .filter(|c| !c.parts_ready(false))
        .map(|c| c.prepare(false))
        .collect();
    if !unready.is_empty() {
        let done = tokio::task::spawn_blocking(move || {
            for prepare in unready {
                prepare();
            }
        })
        .await;
        if let Err(error) = done {
            tracing::error!(account = %name, %error, "rendering /probe failed");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot render the account\n",
                head,
            );
        }
    }
    let format = format(req.headers(), state);
    let body = scrape::assemble(
        &contributions,
        false,
        Vec::new(),
        accepts_gzip(req.headers()),
        format,
    );
    exposition(body, format, head)
}

/// The account `name` of this replica, or what the 404 says of why it is not here.
fn owned_account(state: &AppState, name: &AccountName) -> Result<Arc<Account>, String> {
    state.accounts.find(name).ok_or_else(|| {
        format!(
            "unknown account {name}: not in the accounts file, or polled by another shard (this is shard {} of {})\n",
            state.accounts.shard.index, state.accounts.shard.total
        )
    })
}

/// Prometheus HTTP service discovery of the instances (`exposition::sd`): the accounts asked for (all of this
/// replica's, or `account`), from the cache of answers.
async fn sd<B>(req: &Request<B>, state: &AppState, head: bool) -> Response<ChunkBody> {
    let query = match Query::parse(req.uri().query().unwrap_or("")) {
        Ok(query) => query,
        Err(why) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("bad /sd request: {why}\n"),
                head,
            );
        }
    };
    let accounts = match &query.account {
        None => state.accounts.all().to_vec(),
        Some(_) if !state.accounts.named => {
            return plain(
                StatusCode::BAD_REQUEST,
                "bad /sd request: account is for an accounts file (ZENLAYER_EXPORTER_ACCOUNTS_FILE); without one, leave it out\n",
                head,
            );
        }
        Some(name) => match owned_account(state, name) {
            Ok(account) => vec![account],
            Err(why) => return text(StatusCode::NOT_FOUND, why, head),
        },
    };
    // Before the first metadata poll there are no addresses: an empty list would make Prometheus drop every
    // target it has until then (after each restart of the exporter); an error keeps them.
    if state.metadata_interval.is_none() {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "service discovery needs the metadata poll, which ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS=0 turns off\n",
            head,
        );
    }
    // An account is settled once each of its products has finished a first status poll and, where it serves
    // statuses, has its metadata or has finished a metadata poll: before that, an answer would leave out targets
    // that are coming (bare metal's come with its statuses, well before the others'). As ever, one settled account
    // with targets is enough to answer: a thousand accounts need not wait for the slowest.
    let mut sources: Vec<Source> = Vec::new();
    let mut answerable = false;
    for account in &accounts {
        let (mut settled, mut named) = (true, false);
        for part in &account.parts {
            let rendered = part.exposition.rendered();
            let has_metadata = rendered.as_ref().map(|r| r.named.is_some());
            settled &= part.reports.load().is_some()
                && (has_metadata != Some(false) || part.metadata_polled.load(Ordering::Relaxed));
            named |= has_metadata == Some(true);
            sources.extend(rendered.map(|rendered| Source {
                account: account.name.clone(),
                product: part.product,
                rendered,
            }));
        }
        answerable |= settled && named;
    }
    // A shard that owns no account has nothing to wait for: its answer is the empty list, for good.
    if !accounts.is_empty() && !answerable {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no metadata poll has finished yet; Prometheus keeps the targets it has\n",
            head,
        );
    }
    let answer = match state.sd.answer(query, sources).await {
        Ok(answer) => answer,
        Err(Refused::Busy) => {
            state.metrics.reject(Rejected::SdBusy);
            return busy(
                "too many /sd renders in progress; retry (Prometheus keeps the targets it has)\n",
                "5",
                head,
            );
        }
        Err(Refused::Failed) => {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot render the targets\n",
                head,
            );
        }
    };
    // Weak: the gzip and plain bodies carry the same JSON, and one validator serves both.
    let etag = HeaderValue::from_str(&format!("W/{}", answer.etag()))
        .unwrap_or_else(|_| HeaderValue::from_static("W/\"\""));
    let fresh = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim())
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == answer.etag());
    let mut response = if fresh {
        let mut response = Response::new(ChunkBody::new(Vec::new()));
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        let (chunks, gzip) = answer.body(accepts_gzip(req.headers()));
        encoded(chunks, gzip, "application/json", head)
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, etag);
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A scrape's answer in `format`, which varies with `Accept` as well as `Accept-Encoding`.
fn exposition(body: scrape::ScrapeBody, format: Format, head: bool) -> Response<ChunkBody> {
    let mut response = encoded(body.chunks, body.gzip, format.content_type(), head);
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding"),
    );
    response
}

/// A body of `chunks` as `content_type`, gzip-encoded or not, which varies with `Accept-Encoding`; no body for
/// `head`, its length all the same.
fn encoded(
    chunks: Vec<Chunk>,
    gzip: bool,
    content_type: &'static str,
    head: bool,
) -> Response<ChunkBody> {
    let length: usize = chunks.iter().map(Chunk::len).sum();
    let mut response = Response::new(ChunkBody::new(if head { Vec::new() } else { chunks }));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// Whether `Accept-Encoding` admits gzip (present, and not with `q=0`).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let q_zero = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !q_zero
        })
}

pub(super) fn plain(status: StatusCode, text: &'static str, head: bool) -> Response<ChunkBody> {
    with_body(status, Bytes::from_static(text.as_bytes()), head)
}

/// 503 with `Retry-After`: refused at once because too much of the same work is already in progress, since
/// queueing would only let a flood delay every later request further.
pub(super) fn busy(
    text: &'static str,
    retry_after: &'static str,
    head: bool,
) -> Response<ChunkBody> {
    let mut busy = plain(StatusCode::SERVICE_UNAVAILABLE, text, head);
    busy.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static(retry_after));
    busy
}

/// [`plain`] with a text made for this answer.
fn text(status: StatusCode, text: String, head: bool) -> Response<ChunkBody> {
    with_body(status, Bytes::from(text), head)
}

fn with_body(status: StatusCode, text: Bytes, head: bool) -> Response<ChunkBody> {
    let len = text.len();
    let chunks = if head {
        Vec::new()
    } else {
        vec![Chunk::Ready(text)]
    };
    let mut response = Response::new(ChunkBody::new(chunks));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    response
}

/// A body made of chunks sent one after the other: the shared rendered bytes go out without a copy, held parts
/// inflated as they go for a client that does not take gzip.
pub struct ChunkBody {
    frames: Frames,
}

impl ChunkBody {
    pub fn new(chunks: Vec<Chunk>) -> Self {
        ChunkBody {
            frames: Frames::new(chunks),
        }
    }
}

impl http_body::Body for ChunkBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.frames.next_frame().map(|c| Ok(Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.frames.remaining() == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.frames.remaining())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ae(value: &str) -> bool {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).unwrap(),
        );
        accepts_gzip(&h)
    }

    #[test]
    fn gzip_negotiation() {
        assert!(ae("gzip"));
        assert!(ae("deflate, GZIP;q=0.5"));
        assert!(ae("*"));
        assert!(!ae("gzip;q=0"));
        assert!(!ae("identity"));
        assert!(!ae("gzipx"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
