//! Customers through the relay: fetched on demand by a tablet of another store (a customer who
//! walked in), searched, exported and erased at the customer's request, and merged when found
//! twice.

use aisle_core::api::{
    CustomerExport, CustomerLookup, CustomerSearch, Erased, FetchedCustomer, MergeRequest,
    MergedProfiles,
};
use aisle_core::model::{CustomerId, CustomerSummary, Identifier, LoyaltyId, NfcUid, StoreId};
use aisle_core::protocol::heads_to_wire;
use aisle_core::scan::Scanned;
use aisle_core::{CoreError, DocId};
use axum::Json;
use axum::extract::{Path, Query, State};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::audit::Act;
use crate::auth::{ManagerOrAdmin, Staff};
use crate::error::HttpError;
use crate::state::AppState;
use aisle_core::api::AuditAction;

/// One customer's document for a staff tablet, which may read it from then on: by what
/// identifies them (loyalty number, card, email, phone, a signed loyalty code), or by id for
/// customers the tablet may hold already. Rate-limited per device.
#[utoipa::path(get, path = "/v1/customers/lookup", tag = "customers", params(aisle_core::api::CustomerLookup), security(("device" = [])), responses((status = 200, body = aisle_core::api::FetchedCustomer), (status = 400, body = aisle_core::model::ApiError), (status = 401, body = aisle_core::model::ApiError), (status = 403, description = "Kiosks cannot read customer profiles; another store's customer is not looked up by id", body = aisle_core::model::ApiError), (status = 404, body = aisle_core::model::ApiError), (status = 429, description = "Too many lookups from this device", body = aisle_core::model::ApiError)))]
pub async fn lookup(
    State(state): State<AppState>,
    Staff(device): Staff,
    Query(query): Query<CustomerLookup>,
) -> Result<Json<FetchedCustomer>, HttpError> {
    let identifier = identifier_of(&query)?;
    state.within(&state.lookups, &device).await?;
    let fetched = state
        .with_storage(move |s| -> Result<FetchedCustomer, HttpError> {
            let customer = match (identifier, query.token, query.id) {
                (Some(identifier), _, _) => s.identify(&identifier)?,
                (None, Some(token), _) => {
                    let Ok(Scanned::Token(token)) = aisle_core::scan::classify(&token) else {
                        return Err(HttpError::bad_request("token is not a loyalty code"));
                    };
                    s.verify_loyalty_token(&token)?
                }
                (None, None, Some(id)) => {
                    // By id only what the device may hold already: its own store's customers
                    // and those it fetched by an identification before.
                    let id = s.current_id(&CustomerId::parse(id).map_err(CoreError::from)?)?;
                    let doc = DocId::Customer(id.clone());
                    if s.home_store(&id)? != device.store && !s.is_granted(&device.id, &doc)? {
                        return Err(HttpError::forbidden(
                            "a customer of another store is looked up by their code, card, email or phone, not by id",
                        ));
                    }
                    id
                }
                (None, None, None) => {
                    return Err(HttpError::bad_request(
                        "give loyalty, nfc, email, phone, token or id",
                    ));
                }
            };
            let doc = DocId::Customer(customer.clone());
            let (heads, bytes) = s
                .changes_since(&doc, &[])?
                .ok_or_else(|| CoreError::not_found("customer", &customer))?;
            s.grant(&device.id, &doc)?;
            Ok(FetchedCustomer {
                doc: doc.to_string(),
                heads: heads_to_wire(&heads).iter().map(hex::encode).collect(),
                document: STANDARD.encode(bytes),
            })
        })
        .await??;
    Ok(Json(fetched))
}

/// The identifier a lookup names, in order of precedence; `None` for a lookup by id.
fn identifier_of(query: &CustomerLookup) -> Result<Option<Identifier>, HttpError> {
    let bad = |e: aisle_core::validate::FieldError| HttpError::bad_request(e.to_string());
    Ok(if let Some(l) = &query.loyalty {
        Some(Identifier::Loyalty(
            LoyaltyId::parse(l.clone()).map_err(bad)?,
        ))
    } else if let Some(n) = &query.nfc {
        Some(Identifier::Nfc(NfcUid::parse(n.clone()).map_err(bad)?))
    } else if let Some(e) = &query.email {
        Some(Identifier::Email(e.clone()))
    } else if let Some(shop) = &query.shop {
        Some(Identifier::Shop(shop.clone()))
    } else {
        query.phone.clone().map(Identifier::Phone)
    })
}

#[utoipa::path(get, path = "/v1/customers/search", tag = "customers", params(aisle_core::api::CustomerSearch), security(("device" = [])), responses((status = 200, body = Vec<aisle_core::model::CustomerSummary>), (status = 401, body = aisle_core::model::ApiError), (status = 403, body = aisle_core::model::ApiError)))]
pub async fn search(
    State(state): State<AppState>,
    Staff(device): Staff,
    Query(query): Query<CustomerSearch>,
) -> Result<Json<Vec<CustomerSummary>>, HttpError> {
    // The tablet's own store only: a prefix search across the chain would hand any tablet
    // every store's customers, a letter at a time.
    let found = state
        .with_storage(move |s| s.search(&device.store, &query.q, 20))
        .await??;
    Ok(Json(found))
}

/// A customer's right to erasure: the relay deletes their document and every tablet that holds
/// it purges it, live or when it next connects. The admin token, or a manager tablet of the
/// customer's home store.
#[utoipa::path(post, path = "/v1/customers/{id}/erase", tag = "customers", params(("id" = String, Path, description = "The customer's id")), security(("admin" = []), ("device" = [])), responses((status = 200, body = aisle_core::api::Erased), (status = 401, body = aisle_core::model::ApiError), (status = 403, description = "Not a manager of the customer's store", body = aisle_core::model::ApiError), (status = 404, body = aisle_core::model::ApiError)))]
pub async fn erase(
    State(state): State<AppState>,
    caller: ManagerOrAdmin,
    Path(id): Path<String>,
) -> Result<Json<Erased>, HttpError> {
    let customer = CustomerId::parse(id).map_err(|e| HttpError::bad_request(e.to_string()))?;
    let doc = DocId::Customer(customer.clone());
    let by = caller.audit_name();
    // The person, not one profile: duplicates merged into them are erased with them.
    let (erased, store) = state
        .with_storage(move |s| -> Result<_, HttpError> {
            let store = s.home_store(&customer)?;
            home_store_only(&caller, &store, "erases")?;
            Ok((s.erase_person(&customer)?, store))
        })
        .await??;
    for (erased_doc, _) in &erased {
        state
            .audit(
                Act::new(&by, AuditAction::CustomerErased, erased_doc.to_string()).in_store(&store),
            )
            .await;
    }
    for (doc, _) in &erased {
        tracing::info!(doc = %doc, "customer erased");
    }
    Ok(Json(Erased {
        erased: erased
            .first()
            .map_or_else(|| doc.to_string(), |(d, _)| d.to_string()),
        also_erased: erased.iter().skip(1).map(|(d, _)| d.to_string()).collect(),
    }))
}

/// Everything the relay holds about a person, as JSON, for a subject access request: their
/// profiles (the one asked for and the duplicates merged into it) and the holds and sales
/// that name them. The admin token, or a manager tablet of the customer's home store; each
/// export is in the audit trail.
#[utoipa::path(get, path = "/v1/customers/{id}/export", tag = "customers", params(("id" = String, Path, description = "The customer's id")), security(("admin" = []), ("device" = [])), responses((status = 200, body = aisle_core::api::CustomerExport), (status = 400, body = aisle_core::model::ApiError), (status = 401, body = aisle_core::model::ApiError), (status = 403, description = "Not a manager of the customer's store", body = aisle_core::model::ApiError), (status = 404, body = aisle_core::model::ApiError)))]
pub async fn export(
    State(state): State<AppState>,
    caller: ManagerOrAdmin,
    Path(id): Path<String>,
) -> Result<Json<CustomerExport>, HttpError> {
    let customer = CustomerId::parse(id).map_err(|e| HttpError::bad_request(e.to_string()))?;
    let by = caller.audit_name();
    let subject = customer.to_string();
    let (export, store) = state
        .with_storage(move |s| -> Result<_, HttpError> {
            let store = s.home_store(&customer)?;
            home_store_only(&caller, &store, "exports")?;
            Ok((s.export_person(&customer)?, store))
        })
        .await??;
    state
        .audit(
            Act::new(&by, AuditAction::CustomerExported, subject)
                .in_store(&store)
                .detail(format!("{} profile(s)", export.profiles.len())),
        )
        .await;
    Ok(Json(export))
}

/// One person found twice in a store (signed up again at the till, say): the duplicate folds
/// into the customer in the path with its whole history, and its id and identifiers open that
/// customer on every tablet. The admin token, or a manager tablet of both profiles' store.
#[utoipa::path(post, path = "/v1/customers/{id}/merge", tag = "customers", params(("id" = String, Path, description = "The surviving profile")), request_body = aisle_core::api::MergeRequest, security(("admin" = []), ("device" = [])), responses((status = 200, body = aisle_core::api::MergedProfiles), (status = 400, body = aisle_core::model::ApiError), (status = 401, body = aisle_core::model::ApiError), (status = 403, body = aisle_core::model::ApiError), (status = 404, body = aisle_core::model::ApiError)))]
pub async fn merge(
    State(state): State<AppState>,
    caller: ManagerOrAdmin,
    Path(id): Path<String>,
    Json(request): Json<MergeRequest>,
) -> Result<Json<MergedProfiles>, HttpError> {
    let survivor = CustomerId::parse(id).map_err(|e| HttpError::bad_request(e.to_string()))?;
    let by = caller.audit_name();
    let (survivor, duplicate, store) = state
        .with_storage(move |s| -> Result<_, HttpError> {
            // Both as they stand now: either may have been merged already.
            let survivor = s.current_id(&survivor)?;
            let duplicate = s.current_id(&request.duplicate)?;
            if survivor == duplicate {
                return Err(
                    CoreError::invalid("duplicate", "is already this customer's profile").into(),
                );
            }
            if let ManagerOrAdmin::Manager(manager) = &caller {
                for id in [&survivor, &duplicate] {
                    if s.home_store(id)? != manager.store {
                        return Err(HttpError::forbidden(
                            "a profile belongs to another store; its manager or the admin merges it",
                        ));
                    }
                }
            }
            s.merge(&survivor, &duplicate)?;
            let store = s.home_store(&survivor)?;
            Ok((survivor, duplicate, store))
        })
        .await??;
    tracing::info!(%survivor, %duplicate, "customers merged");
    state
        .audit(
            Act::new(by, AuditAction::CustomersMerged, survivor.to_string())
                .in_store(&store)
                .detail(format!("{duplicate} folded in")),
        )
        .await;
    Ok(Json(MergedProfiles {
        survivor: survivor.to_string(),
        merged: duplicate.to_string(),
    }))
}

/// A person's data is acted on by the admin, or by a manager of their home store only.
fn home_store_only(caller: &ManagerOrAdmin, home: &StoreId, does: &str) -> Result<(), HttpError> {
    if let ManagerOrAdmin::Manager(manager) = caller
        && *home != manager.store
    {
        return Err(HttpError::forbidden(format!(
            "the customer belongs to another store; its manager or the admin {does} it"
        )));
    }
    Ok(())
}
