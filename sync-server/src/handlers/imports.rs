//! `POST /v1/admin/imports/{kind}`: a retailer's file of stores, products, stock or customers,
//! as the request body (CSV or JSON lines), checked whole and written in one transaction or
//! not at all. What it changes reaches tablets like any other change.

use crate::domain::import::{self, ImportError, ImportFile};
use aisle_core::api::{AuditAction, ImportKind, ImportQuery, ImportRejected};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::audit::Act;
use crate::auth::Admin;
use crate::error::HttpError;
use crate::state::AppState;

/// Largest file taken: 100,000 customers are about 15 MiB of CSV.
pub const MAX_IMPORT_BODY: usize = 64 * 1024 * 1024;

#[utoipa::path(post, path = "/v1/admin/imports/{kind}", tag = "imports", params(("kind" = ImportKind, Path, description = "stores, products, stock or customers"), ImportQuery), request_body(content = String, description = "The file: CSV with a header row, or JSON lines (columns in docs/onboarding.md)", content_type = "text/csv"), security(("admin" = [])), responses((status = 200, description = "Imported; importing the same file again changes nothing", body = aisle_core::api::ImportSummary), (status = 400, description = "Not UTF-8 text, an unknown kind or a bad column mapping", body = aisle_core::model::ApiError), (status = 401, body = aisle_core::model::ApiError), (status = 413, description = "Body over 64 MiB"), (status = 422, description = "Bad records, with their lines: nothing was written", body = aisle_core::api::ImportRejected)))]
pub async fn import(
    State(state): State<AppState>,
    _: Admin,
    Path(kind): Path<String>,
    Query(query): Query<ImportQuery>,
    body: String,
) -> Result<Response, HttpError> {
    let kind = ImportKind::parse(&kind).ok_or_else(|| {
        HttpError::bad_request(format!(
            "no import of {kind:?}: stores, products, stock or customers"
        ))
    })?;
    let rename = import::rows::parse_mapping(query.map.as_deref().unwrap_or(""))
        .map_err(|e| HttpError::bad_request(format!("map: {e}")))?;
    let file = ImportFile {
        kind,
        format: query.format.unwrap_or(aisle_core::api::ImportFormat::Csv),
        rename,
        text: body,
    };
    let locale = state.locale.clone();
    match state
        .with_storage(move |s| {
            // Stores imported first made the catalog: it learns the currency before prices.
            s.publish_locale(&locale)?;
            s.import(&file, &mut |_| {})
        })
        .await?
    {
        Ok(summary) => {
            state
                .audit(
                    Act::new("admin", AuditAction::DataImported, kind.as_str())
                        .detail(crate::admin::summary_line(&summary)),
                )
                .await;
            Ok(Json(summary).into_response())
        }
        Err(ImportError::Rejected(rejected)) => {
            tracing::info!(
                kind = kind.as_str(),
                bad = rejected.bad_records,
                "import refused"
            );
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                Json::<ImportRejected>(rejected),
            )
                .into_response())
        }
        Err(ImportError::Store(e)) => Err(e.into()),
    }
}
