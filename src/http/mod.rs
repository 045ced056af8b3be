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

/// How long any request may take before it is answered 408 (slow clients, stuck reads).
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub(crate) fn timeout() -> tower_http::timeout::TimeoutLayer {
    tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT)
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
        (self.status, [(header::CONTENT_TYPE, "application/problem+json")], json).into_response()
    }
}
