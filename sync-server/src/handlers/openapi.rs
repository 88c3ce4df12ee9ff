//! `GET /v1/openapi.yaml`: the API description, checked in as `docs/openapi.yaml`.

use axum::response::IntoResponse;

pub async fn yaml() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/yaml")],
        include_str!("../../../docs/openapi.yaml"),
    )
}
