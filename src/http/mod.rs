//! The HTTP layer: thin handlers that parse, call the engine, and map errors to RFC 9457
//! problem responses.
//!
//! **Architecture Invariant:** no handler holds ledger logic; every answer comes from the
//! engine's published (durable) head or the store below it.

pub mod internal;
pub mod openapi;
pub mod public;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// How long any request may take before it is answered `timeout` (408 for a request that did
/// not arrive whole, 503 for one the server did not answer in time), by default (`[server]
/// request_timeout_ms`).
pub const REQUEST_TIMEOUT: std::time::Duration =
    std::time::Duration::from_millis(vigil_core::config::REQUEST_TIMEOUT_MS);

/// The `detail` of the 404 for a path no route serves: how a client tells a wrong base URL
/// from a route that does not hold what it asked for.
pub(crate) const NO_SUCH_ROUTE: &str = "no such route";

/// The answers to a path no route serves (404 `not_found`) and to a method a route does not
/// take (405 `method_not_allowed`), as problems like every other error.
pub(crate) fn with_fallbacks(router: axum::Router) -> axum::Router {
    router
        .fallback(|| std::future::ready(Problem::new(StatusCode::NOT_FOUND, "not_found", NO_SUCH_ROUTE)))
        .method_not_allowed_fallback(|| {
            std::future::ready(Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            ))
        })
}

/// Answers a request not answered within `limit` with a `timeout` problem, like every other
/// error: 408 when its body had not all arrived (the client was slow: RFC 9110 §15.5.9), 503
/// with `Retry-After` when it had (the server was slow: the same request may be answered later;
/// an append it held may still land, and its retry is answered with the receipt). A router
/// applies it inside its metrics and CORS layers, so the answer is counted and readable by a
/// browser.
pub(crate) async fn timeout(
    axum::extract::State(limit): axum::extract::State<std::time::Duration>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let received = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let req = req.map(|body| {
        use hyper::body::Body as _;
        received.store(body.is_end_stream(), std::sync::atomic::Ordering::Relaxed);
        axum::body::Body::new(Watched { body, received: received.clone() })
    });
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(answer) => answer,
        Err(_) => {
            let ms = limit.as_millis();
            // A 408 closes its connection (RFC 9110 §15.5.9): a client must not take it on a
            // kept-alive connection for a stale connection and resend at once.
            let (status, detail, (name, value)) = if received.load(std::sync::atomic::Ordering::Relaxed) {
                let detail = format!("the server did not answer within {ms} ms; send the request again");
                (StatusCode::SERVICE_UNAVAILABLE, detail, (header::RETRY_AFTER, "1"))
            } else {
                let detail = format!("the request did not arrive whole within {ms} ms; send it again");
                (StatusCode::REQUEST_TIMEOUT, detail, (header::CONNECTION, "close"))
            };
            let mut r = Problem::new(status, "timeout", detail).into_response();
            r.headers_mut().insert(name, header::HeaderValue::from_static(value));
            r
        }
    }
}

/// A request body that sets `received` once it has been read to its end.
struct Watched {
    body: axum::body::Body,
    received: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl hyper::body::Body for Watched {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.body).poll_frame(cx);
        if matches!(polled, std::task::Poll::Ready(None)) || self.body.is_end_stream() {
            self.received.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// A sequence number in a path: decimal digits only (no sign, no space), at most `u64::MAX`.
pub(crate) fn parse_seq(seq: &str) -> Result<u64, Problem> {
    if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::bad_request(format!("sequence number {seq:?} is not a non-negative integer")));
    }
    seq.parse().map_err(|_| Problem::bad_request(format!("sequence number {seq} is larger than {}", u64::MAX)))
}

/// A route's path parameters, as `axum::extract::Path` reads them, refused with a 400
/// `bad_request` problem (rather than axum's plain text) when they do not decode: a
/// percent-encoded byte sequence that is not UTF-8, say.
pub(crate) struct PathOf<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> axum::extract::FromRequestParts<S> for PathOf<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Problem> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(t)) => Ok(PathOf(t)),
            Err(e) => Err(Problem::bad_request(format!("the path does not read: {}", e.body_text()))),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then lets the requests in flight
/// finish. Unlike `axum::serve`, whose connections have no timer, a client must send a request's
/// headers within `header_timeout` of connecting or of its previous answer, else the connection
/// is closed: a client that trickles its headers (slowloris) or sends nothing cannot hold a
/// connection, nor delay a graceful shutdown, for longer.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    header_timeout: std::time::Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Each connection's task holds a receiver of `open`: once all are dropped, all are done.
    let (open_tx, open_rx) = tokio::sync::watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let io = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((io, _)) => io,
                Err(e) if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::ConnectionReset
                ) => continue,
                // E.g. out of file descriptors: wait for some to close (as axum::serve does).
                Err(e) => {
                    tracing::error!("accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Answers go out as they are written: with Nagle's algorithm, the last part of an answer
        // waits for the client's acknowledgement of the part before (tens of milliseconds when
        // the client delays it).
        if let Err(e) = io.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY: {e}");
        }
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let (mut stop, open) = (stop_rx.clone(), open_rx.clone());
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(header_timeout);
            let mut conn = std::pin::pin!(http.serve_connection(hyper_util::rt::TokioIo::new(io), service));
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = async { stop.wait_for(|s| *s).await.map(|_| ()) } => {
                    // The answer in flight gets one more timeout to finish (a client reading a
                    // large body slowly must not hold the shutdown forever).
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(header_timeout, conn.as_mut()).await;
                }
            }
            drop(open);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(open_rx);
    open_tx.closed().await;
    Ok(())
}

/// An `application/problem+json` error (RFC 9457) with a stable machine-readable `code`.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Problem {
        Problem { status, code, detail: detail.into() }
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }

    /// An internal failure: the client learns nothing of it; the log does.
    pub fn internal(err: impl std::fmt::Display) -> Problem {
        tracing::error!("internal error: {err}");
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    }
}

/// The JSON body of every error (RFC 9457 `application/problem+json`).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ProblemBody {
    /// Always `about:blank`: `code` says what happened.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The HTTP status's reason phrase.
    pub title: &'static str,
    pub status: u16,
    /// Stable and machine-readable, e.g. `bad_signature`, `idempotency_conflict`.
    pub code: &'static str,
    /// What is wrong, for a person.
    pub detail: String,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = ProblemBody {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("error"),
            status: self.status.as_u16(),
            code: self.code,
            detail: self.detail,
        };
        let json = serde_json::to_string(&body).unwrap_or_else(|_| "{}".into());
        // Not stored by any cache: a 404 for a tile or an entry beyond the tree today is a 200
        // tomorrow, and a 503 or 408 says nothing lasting either.
        (self.status, [(header::CONTENT_TYPE, "application/problem+json"), (header::CACHE_CONTROL, "no-store")], json)
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    /// The start of a body, and then nothing: a slow client.
    struct Stalled(Option<axum::body::Bytes>);

    impl hyper::body::Body for Stalled {
        type Data = axum::body::Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
            match self.0.take() {
                Some(b) => std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(b)))),
                None => std::task::Poll::Pending,
            }
        }
    }

    /// (method, path, body, status, `Retry-After`, `Connection`): a request that did not arrive
    /// whole in time is 408 and closes its connection; one that did, and that the server did not
    /// answer in time, is 503 with `Retry-After`.
    #[tokio::test]
    async fn a_timeout_is_408_for_a_slow_client_and_503_for_a_slow_server() {
        async fn slow() -> &'static str {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            "late"
        }
        let app = axum::Router::new()
            .route("/fast", axum::routing::get(|| async { "at once" }))
            .route("/slow", axum::routing::get(slow).post(|_: axum::body::Bytes| slow()))
            .layer(axum::middleware::from_fn_with_state(std::time::Duration::from_millis(200), timeout));
        let whole = || Body::from("{}");
        let stalled = || Body::new(Stalled(Some("{\"stat".into())));
        type Case = (&'static str, &'static str, fn() -> Body, u16, Option<&'static str>, Option<&'static str>);
        let cases: [Case; 5] = [
            ("GET", "/fast", Body::empty, 200, None, None),
            ("GET", "/slow", Body::empty, 503, Some("1"), None),
            ("POST", "/slow", whole, 503, Some("1"), None),
            ("POST", "/slow", stalled, 408, None, Some("close")),
            ("POST", "/slow", || Body::new(Stalled(None)), 408, None, Some("close")),
        ];
        for (method, path, body, status, retry, connection) in cases {
            let req = Request::builder().method(method).uri(path).body(body()).unwrap();
            let res = app.clone().oneshot(req).await.unwrap();
            let header = |h| res.headers().get(h).map(|v| v.to_str().unwrap().to_string());
            let got = (res.status().as_u16(), header("retry-after"), header("connection"));
            assert_eq!(got, (status, retry.map(Into::into), connection.map(Into::into)), "{method} {path}");
        }
    }
}
