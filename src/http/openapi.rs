//! The OpenAPI 3.1 document of both APIs, generated from the handlers' annotations
//! (`utoipa`): the routers are built from the same annotations (`utoipa-axum`), so the document
//! lists exactly the routes that exist. Served at `GET /openapi.json` on the public listener.

use utoipa::openapi::{OpenApi, Server};
use utoipa::OpenApi as _;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "vigil",
        description = "Append-only audit ledger and transparency publisher. The public API (read-only) and the internal append API, on separate listeners.",
        license(name = "Apache-2.0")
    ),
    paths(super::public::tile, super::public::metrics_text, super::public::openapi_json),
    tags(
        (name = "public", description = "The public listener: read-only, CORS open for reads."),
        (name = "internal", description = "The internal listener (loopback by default): appends, and openings for auditors."),
    )
)]
struct Doc;

/// Both APIs in one document.
pub fn spec() -> OpenApi {
    let mut doc = Doc::openapi();
    // Both listeners have `GET /healthz`; a merge keeps the first, so the internal one (with
    // its 503) goes first, and its description names the public one.
    doc.merge(super::internal::api().split_for_parts().1);
    doc.merge(super::public::api().split_for_parts().1);
    doc.servers = Some(vec![Server::new("http://127.0.0.1:8080"), Server::new("http://127.0.0.1:8081")]);
    doc
}
