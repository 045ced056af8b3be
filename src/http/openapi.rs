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

/// Both APIs in one document, the internal one's paths served by the listener at `internal`
/// (default: the configured default address).
pub fn spec(internal: Option<std::net::SocketAddr>) -> OpenApi {
    let mut doc = Doc::openapi();
    let internal_paths = super::internal::api().split_for_parts().1;
    let on_internal: Vec<String> = internal_paths.paths.paths.keys().cloned().collect();
    // Both listeners have `GET /healthz`; a merge keeps the first, so the internal one (with
    // its 503) goes first, and its description names the public one.
    doc.merge(internal_paths);
    doc.merge(super::public::api().split_for_parts().1);
    // No document-wide servers: a path is on the listener serving this document (`/`, the
    // public one) unless it names the internal one.
    let internal = internal.unwrap_or_else(|| vigil_core::config::ServerConfig::default().internal);
    let public = Server::builder().url("/").description(Some("the public listener (this document's)")).build();
    // Bound to every address (`0.0.0.0`, `[::]`): no URL names it, so its host is a variable.
    let internal = if internal.ip().is_unspecified() {
        Server::builder().url(format!("http://{{host}}:{}", internal.port())).parameter(
            "host",
            utoipa::openapi::server::ServerVariableBuilder::new()
                .default_value("localhost")
                .description(Some("the internal listener's host (it listens on every address)")),
        )
    } else {
        Server::builder().url(format!("http://{internal}"))
    }
    .description(Some("the internal listener"))
    .build();
    for (path, item) in doc.paths.paths.iter_mut() {
        if on_internal.contains(path) {
            item.servers = Some(match path.as_str() {
                "/healthz" => vec![public.clone(), internal.clone()],
                _ => vec![internal.clone()],
            });
        }
    }
    doc.servers = None;
    doc
}
