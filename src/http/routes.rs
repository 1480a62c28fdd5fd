//! The answers: `/metrics` (the rendered exposition plus the self-metrics, gzip when asked), `/` (the landing
//! page), `/healthz`, `/readyz`, 404 and 405; and the body type that sends the shared rendered chunks without a
//! copy. Synchronous: every answer is ready in memory. Authentication and headers are the server's.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::{Frame, SizeHint};
use prometheus::Encoder as _;

use super::AppState;
use crate::exposition::render;
use crate::telemetry::{REVISION, VERSION};

/// Dispatches one request. Synchronous: every answer is ready in memory.
pub fn route<B>(req: &Request<B>, state: &AppState) -> Response<ChunkBody> {
    let path = req.uri().path();
    let head = req.method() == Method::HEAD;
    if !matches!(path, "/metrics" | "/" | "/healthz" | "/readyz") {
        return plain(StatusCode::NOT_FOUND, "not found: try /metrics\n", head);
    }
    if req.method() != Method::GET && !head {
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed: use GET or HEAD\n",
            false,
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match path {
        "/metrics" => metrics(req.headers(), state, head),
        "/healthz" => plain(StatusCode::OK, "ok\n", head),
        "/readyz" => {
            if state.rendered.load().is_some() {
                plain(StatusCode::OK, "ready\n", head)
            } else {
                plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not ready: no successful poll yet\n",
                    head,
                )
            }
        }
        _ => index(state, head),
    }
}

fn metrics(headers: &HeaderMap, state: &AppState, head: bool) -> Response<ChunkBody> {
    let mut tail = Vec::with_capacity(8 * 1024);
    if let Err(e) =
        prometheus::TextEncoder::new().encode(&state.metrics.registry.gather(), &mut tail)
    {
        tracing::error!(error = %e, "encoding the self-metrics failed");
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode metrics\n",
            head,
        );
    }
    let rendered = state.rendered.load();
    let body = render::assemble(rendered.as_deref(), tail, accepts_gzip(headers));
    let (length, gzip) = (body.len(), body.gzip);
    let mut response = Response::new(ChunkBody::new(if head { Vec::new() } else { body.chunks }));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(render::CONTENT_TYPE),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
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

fn index(state: &AppState, head: bool) -> Response<ChunkBody> {
    let now = SystemTime::now();
    let age = |t: SystemTime| now.duration_since(t).map_or(0, |d| d.as_secs());
    let snapshot = match state.rendered.load() {
        Some(r) => format!(
            "{} instances, from a poll {} s ago",
            r.instances,
            age(r.taken_at)
        ),
        None => "none yet".to_owned(),
    };
    let metadata = match (
        state.metadata_interval,
        state.rendered.load().and_then(|r| r.named),
    ) {
        (None, _) => "off (ZENLAYER_EXPORTER_METADATA_INTERVAL_SECONDS=0)".to_owned(),
        (Some(_), Some((named, taken_at))) => format!(
            "{named} instances named, from a metadata poll {} s ago",
            age(taken_at)
        ),
        (Some(every), None) => format!("none yet (polled every {} s)", every.as_secs_f64()),
    };
    let last = match state.reports.load() {
        None => "no poll has finished yet".to_owned(),
        Some(report) => match &report.error {
            None => format!(
                "succeeded {} s ago in {:.2} s",
                age(report.finished_at),
                report.duration.as_secs_f64()
            ),
            Some(error) => format!(
                "FAILED {} s ago: {}",
                age(report.finished_at),
                html_escape(error)
            ),
        },
    };
    let page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Zenlayer exporter</title></head><body>\n\
         <h1>Zenlayer exporter</h1>\n<p>Version {VERSION} (revision {REVISION}); polling every {} s.</p>\n\
         <p>Last poll: {last}.</p>\n<p>Snapshot served: {snapshot}.</p>\n<p>Metadata: {metadata}.</p>\n\
         <ul><li><a href=\"/metrics\">/metrics</a></li><li><a href=\"/healthz\">/healthz</a></li>\
         <li><a href=\"/readyz\">/readyz</a></li></ul>\n</body></html>\n",
        state.poll_interval.as_secs_f64()
    );
    let mut response = plain(StatusCode::OK, "", head);
    let len = page.len();
    if !head {
        *response.body_mut() = ChunkBody::new(vec![Bytes::from(page)]);
    }
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    response
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(super) fn plain(status: StatusCode, text: &'static str, head: bool) -> Response<ChunkBody> {
    let chunks = if head {
        Vec::new()
    } else {
        vec![Bytes::from_static(text.as_bytes())]
    };
    let mut response = Response::new(ChunkBody::new(chunks));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(text.len()));
    response
}

/// A body made of ready chunks, sent one after the other: the shared rendered bytes go out without a copy.
pub struct ChunkBody {
    chunks: VecDeque<Bytes>,
}

impl ChunkBody {
    pub fn new(chunks: Vec<Bytes>) -> Self {
        ChunkBody {
            chunks: chunks.into_iter().filter(|c| !c.is_empty()).collect(),
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
        Poll::Ready(self.chunks.pop_front().map(|c| Ok(Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.chunks.iter().map(|c| c.len() as u64).sum())
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
