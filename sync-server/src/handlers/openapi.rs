//! The API description, generated from the handlers' annotations and the body types of
//! `aisle_core::api` (`GET /v1/openapi.json`, `/v1/openapi.yaml`); `docs/openapi.yaml` is a
//! copy that a test keeps equal to what is served.

use axum::Router;
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Aisle relay",
        description = "The relay's HTTP API: device enrolment, customers fetched on demand, stock \
across stores, loyalty codes, the entry kiosk, web shop events and Shopify webhooks, imports of a \
retailer's own files, and device administration. Errors are JSON `{code, message}` with a stable code (`not_found`, \
`invalid_input`, `unauthorized`, `forbidden`, `revoked`, `busy`, …). The sync protocol runs \
over the WebSocket at `/v1/sync` (docs/sync.md).",
        version = "1"
    ),
    modifiers(&Security),
    tags(
        (name = "relay", description = "Health and metrics"),
        (name = "devices", description = "Enrolment and device administration"),
        (name = "sync", description = "The sync endpoint"),
        (name = "customers", description = "Customers fetched on demand, searched, erased, merged"),
        (name = "stock", description = "Stock across stores"),
        (name = "loyalty", description = "Loyalty codes and their signing keys"),
        (name = "kiosk", description = "The entry kiosk"),
        (name = "events", description = "Web shop events, signed with the tenant's secret"),
        (name = "imports", description = "A retailer's own files: stores, products, stock, customers"),
    )
)]
pub struct ApiDoc;

/// Who may call: a device's bearer token (bound to its store and role), the relay's admin token.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            let mut scheme = HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(description))
                .build();
            scheme.bearer_format = Some("opaque".to_string());
            SecurityScheme::Http(scheme)
        };
        components.add_security_scheme(
            "device",
            bearer("An enrolled device's token (`POST /v1/enrol`), bound to its store and role"),
        );
        components.add_security_scheme("admin", bearer("The relay's admin token"));
    }
}

/// Serves the description as JSON and YAML.
pub fn routes<S: Clone + Send + Sync + 'static>(
    description: utoipa::openapi::OpenApi,
) -> Router<S> {
    let json = description.to_pretty_json().unwrap_or_default();
    let yaml = description.to_yaml().unwrap_or_default();
    Router::new()
        .route(
            "/v1/openapi.json",
            get(move || async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    json,
                )
            }),
        )
        .route(
            "/v1/openapi.yaml",
            get(move || async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/yaml")],
                    yaml,
                )
            }),
        )
}
