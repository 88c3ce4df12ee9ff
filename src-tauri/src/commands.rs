//! Tauri commands: each one takes its arguments as the shared struct from
//! [`aisle_core::model::commands`] (its `args` parameter), runs a core operation on a blocking
//! thread (never the UI thread) and returns that command's output or an [`ApiError`] with a
//! stable code.

use tauri::{AppHandle, Manager};

use aisle_core::CoreError;
use aisle_core::model::SyncStatus;
use aisle_core::model::commands::{
    AddNoteArgs, AddToCartArgs, AppInfo, ChangeCartVariantArgs, CheckoutCartArgs, CountStockArgs,
    CustomerBriefingArgs, CustomerProfileArgs, EnrolArgs, Enrolment, EraseCustomerArgs,
    ExportKpisArgs, FloorOverviewArgs, GreetCustomerArgs, KioskCheckInArgs, KioskConsentArgs,
    LinkCardArgs, MergeCustomersArgs, NearbyStockArgs, PlaceHoldArgs, ProductImageArgs,
    PullIntoCartArgs, ReceiveTransferArgs, RecordExchangeArgs, RecordReturnArgs,
    RecordStockMovementArgs, ReleaseHoldArgs, RemoveCartLineArgs, ResolveConflictArgs, ScanArgs,
    ScanImageArgs, SearchCustomersArgs, SearchProductsArgs, SetAssociateArgs, SetCartQuantityArgs,
    StockAlertsArgs, StockGridArgs, StockMovementsArgs, StoreKpisArgs,
};
use aisle_core::model::{
    ApiError, AssociateId, Briefing, ConflictLine, CustomerId, CustomerProfile, CustomerSummary,
    DeviceHealth, ErrorCode, FloorOverview, IncomingTransfer, KioskCheckIn, KioskWelcome,
    MovementKind, MovementReceipt, ProductSku, ProductSummary, Role, SaleReceipt, ScanTarget,
    StockAlerts, StockGrid, StockMovement, StoreId, StoreInfo, StoreKpis, StoreStats, StoreStock,
    VariantSku, VisitSource,
};
use aisle_tablet::checkout::{HoldRequest, SaleRequest};
use aisle_tablet::relay_client;
use aisle_tablet::stock::MovementLine;
use aisle_tablet::sync_client::SyncError;

use crate::state::{AppState, enrolment, relay_config, with_store, with_store_mut};

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError {
        code: ErrorCode::InvalidInput,
        message: message.into(),
    }
}

/// The store this tablet belongs to.
fn home_store(app: &AppHandle) -> Result<StoreId, ApiError> {
    StoreId::parse(enrolment(app)?.store).map_err(|e| invalid(e.to_string()))
}

/// Who is signed in on this tablet: chosen in Settings, else named after the device.
fn associate(app: &AppHandle) -> Result<AssociateId, ApiError> {
    let state = app.state::<AppState>();
    let chosen = state
        .store
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .meta(ASSOCIATE_KEY)
        .ok()
        .flatten()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    match chosen {
        Some(name) => AssociateId::parse(name).map_err(|e| invalid(e.to_string())),
        None => AssociateId::parse(enrolment(app)?.device).map_err(|e| invalid(e.to_string())),
    }
}

const ASSOCIATE_KEY: &str = "associate";

fn parse<T>(parsed: Result<T, impl std::fmt::Display>) -> Result<T, ApiError> {
    parsed.map_err(|e| invalid(e.to_string()))
}

/// A relay read failed: offline reads as such, so the UI can say what needs a connection.
fn relay_failure(e: SyncError) -> ApiError {
    match e {
        SyncError::Connect(m) => ApiError {
            code: ErrorCode::Busy,
            message: format!("Needs a connection to the relay ({m})."),
        },
        // The relay's own reason and code: the UI words forbidden, not found… by code.
        SyncError::Relay(refusal) => refusal,
        other => ApiError {
            code: ErrorCode::InvalidInput,
            message: other.to_string(),
        },
    }
}

#[tauri::command]
pub async fn app_info(app: AppHandle) -> Result<AppInfo, ApiError> {
    let enrolment = app
        .state::<AppState>()
        .enrolment
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(Enrolment::from);
    let home = enrolment.as_ref().map(|e| e.store.clone());
    let associate = associate(&app).ok().map(|a| a.to_string());
    let (home_store_name, locale) = with_store(app, move |s| {
        let name = home.and_then(|h| {
            s.stores()
                .ok()?
                .into_iter()
                .find(|st| st.id.as_str() == h)
                .map(|st| st.name)
        });
        Ok((name, s.locale()?))
    })
    .await?;
    Ok(AppInfo {
        enrolment,
        home_store_name,
        associate,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: crate::started_at(),
        locale,
    })
}

#[tauri::command]
pub async fn store_stats(app: AppHandle) -> Result<StoreStats, ApiError> {
    with_store(app, |s| s.stats()).await
}

#[tauri::command]
pub async fn search_customers(
    app: AppHandle,
    args: SearchCustomersArgs,
) -> Result<Vec<CustomerSummary>, ApiError> {
    with_store(app, move |s| s.search_customers(&args.query, 20)).await
}

#[tauri::command]
pub async fn customer_profile(
    app: AppHandle,
    args: CustomerProfileArgs,
) -> Result<CustomerProfile, ApiError> {
    let id = parse(CustomerId::parse(args.id))?;
    with_store(app, move |s| s.customer(&id)).await
}

/// The sync client's current status; `None` when the tablet is not enrolled.
#[tauri::command]
pub async fn sync_status(app: AppHandle) -> Result<Option<SyncStatus>, ApiError> {
    let state = app.state::<AppState>();
    let sync = state.sync.lock().unwrap_or_else(|e| e.into_inner());
    Ok(sync.as_ref().map(|c| c.status().borrow().clone()))
}

#[tauri::command]
pub async fn enrol(app: AppHandle, args: EnrolArgs) -> Result<Enrolment, ApiError> {
    let ticket = crate::sync::enrolment_ticket(&args.relay_url, &args.code, args.ca.as_deref())?;
    let enrolment = crate::sync::enrol(&app, ticket).await?;
    Ok(Enrolment::from(&enrolment))
}

/// Who uses this tablet now; their name goes on notes, holds and sales.
#[tauri::command]
pub async fn set_associate(app: AppHandle, args: SetAssociateArgs) -> Result<String, ApiError> {
    let associate = parse(AssociateId::parse(args.name.trim()))?;
    let value = associate.to_string();
    with_store_mut(app, move |s| s.set_meta(ASSOCIATE_KEY, value.as_bytes())).await?;
    Ok(associate.to_string())
}

#[tauri::command]
pub async fn floor_overview(
    app: AppHandle,
    args: FloorOverviewArgs,
) -> Result<FloorOverview, ApiError> {
    let store = home_store(&app)?;
    with_store(app, move |s| {
        s.floor_overview(&store, args.day_start, args.day_end)
    })
    .await
}

#[tauri::command]
pub async fn customer_briefing(
    app: AppHandle,
    args: CustomerBriefingArgs,
) -> Result<Briefing, ApiError> {
    let store = home_store(&app)?;
    let id = parse(CustomerId::parse(args.id))?;
    with_store(app, move |s| s.briefing(&store, &id, args.day_start)).await
}

/// The associate starts serving a customer who has not checked in today: counts as a visit
/// (an assisted session) in this store.
#[tauri::command]
pub async fn greet_customer(app: AppHandle, args: GreetCustomerArgs) -> Result<bool, ApiError> {
    let store = home_store(&app)?;
    let id = parse(CustomerId::parse(args.id))?;
    with_store_mut(app, move |s| {
        if s.briefing(&store, &id, args.day_start)?.here_today {
            return Ok(false);
        }
        s.record_visit(&id, &store, VisitSource::Associate)?;
        Ok(true)
    })
    .await
}

#[tauri::command]
pub async fn add_note(app: AppHandle, args: AddNoteArgs) -> Result<String, ApiError> {
    let store = home_store(&app)?;
    let author = associate(&app)?;
    let id = parse(CustomerId::parse(args.id))?;
    with_store_mut(app, move |s| {
        s.add_note(&id, &args.text, &author, Some(&store))
    })
    .await
}

/// Adds a line to an in-store cart (a new cart when `cart` is absent). Returns (cart, line).
#[tauri::command]
pub async fn add_to_cart(
    app: AppHandle,
    args: AddToCartArgs,
) -> Result<(String, String), ApiError> {
    let store = home_store(&app)?;
    let id = parse(CustomerId::parse(args.id))?;
    let variant = parse(VariantSku::parse(args.variant))?;
    with_store_mut(app, move |s| {
        s.add_cart_line(&id, args.cart.as_deref(), &store, &variant, args.quantity)
    })
    .await
}

/// Copies several lines (from the online cart or the wishlist) into an in-store cart in one
/// tap. Returns the cart id.
#[tauri::command]
pub async fn pull_into_cart(app: AppHandle, args: PullIntoCartArgs) -> Result<String, ApiError> {
    let store = home_store(&app)?;
    let id = parse(CustomerId::parse(args.id))?;
    if args.variants.is_empty() {
        return Err(invalid("Nothing to add."));
    }
    let variants = args
        .variants
        .into_iter()
        .map(|(v, q)| Ok((parse(VariantSku::parse(v))?, q)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    with_store_mut(app, move |s| {
        s.add_cart_lines(&id, args.cart.as_deref(), &store, &variants)
    })
    .await
}

#[tauri::command]
pub async fn set_cart_quantity(app: AppHandle, args: SetCartQuantityArgs) -> Result<(), ApiError> {
    let id = parse(CustomerId::parse(args.id))?;
    with_store_mut(app, move |s| {
        s.set_cart_line_quantity(&id, &args.cart, &args.line, args.quantity)
    })
    .await
}

/// Changes a line's size or colour: the line is replaced by one for the other variant.
#[tauri::command]
pub async fn change_cart_variant(
    app: AppHandle,
    args: ChangeCartVariantArgs,
) -> Result<String, ApiError> {
    let id = parse(CustomerId::parse(args.id))?;
    let variant = parse(VariantSku::parse(args.variant))?;
    with_store_mut(app, move |s| {
        s.change_cart_line_variant(&id, &args.cart, &args.line, &variant)
    })
    .await
}

#[tauri::command]
pub async fn remove_cart_line(app: AppHandle, args: RemoveCartLineArgs) -> Result<(), ApiError> {
    let id = parse(CustomerId::parse(args.id))?;
    with_store_mut(app, move |s| {
        s.remove_cart_line(&id, &args.cart, &args.line)
    })
    .await
}

#[tauri::command]
pub async fn place_hold(app: AppHandle, args: PlaceHoldArgs) -> Result<String, ApiError> {
    let request = HoldRequest {
        store: home_store(&app)?,
        variant: parse(VariantSku::parse(args.variant))?,
        quantity: args.quantity,
        customer: parse(CustomerId::parse(args.id))?,
        associate: associate(&app)?,
        hours: args.hours,
    };
    with_store_mut(app, move |s| s.place_hold(&request)).await
}

#[tauri::command]
pub async fn release_hold(app: AppHandle, args: ReleaseHoldArgs) -> Result<(), ApiError> {
    let store = home_store(&app)?;
    let by = associate(&app)?;
    with_store_mut(app, move |s| s.release_hold(&store, &args.hold, &by)).await
}

/// Records the sale of an in-store cart (handed to the till): stock goes down, the cart is
/// converted, the customer's holds on those items end as sold.
#[tauri::command]
pub async fn checkout_cart(
    app: AppHandle,
    args: CheckoutCartArgs,
) -> Result<SaleReceipt, ApiError> {
    let store = home_store(&app)?;
    let associate = associate(&app)?;
    let customer = parse(CustomerId::parse(args.id))?;
    let cart = args.cart;
    with_store_mut(app, move |s| {
        let profile = s.customer(&customer)?;
        let lines: Vec<(VariantSku, u32)> = profile
            .carts
            .iter()
            .find(|c| c.id == cart)
            .ok_or_else(|| CoreError::not_found("cart", &cart))?
            .item
            .lines
            .values()
            .map(|l| (l.variant.clone(), l.quantity))
            .collect();
        let holds = s
            .customer_holds(&store, &customer)?
            .into_iter()
            .filter(|h| lines.iter().any(|(v, _)| *v == h.hold.hold.variant))
            .map(|h| h.hold.id)
            .collect();
        s.sell(&SaleRequest {
            store,
            lines,
            customer: Some(customer),
            associate,
            holds,
            cart: Some(cart),
        })
    })
    .await
}

#[tauri::command]
pub async fn search_products(
    app: AppHandle,
    args: SearchProductsArgs,
) -> Result<Vec<ProductSummary>, ApiError> {
    with_store(app, move |s| s.search_products(&args.query, 20)).await
}

#[tauri::command]
pub async fn stock_grid(app: AppHandle, args: StockGridArgs) -> Result<StockGrid, ApiError> {
    let store = home_store(&app)?;
    let product = parse(ProductSku::parse(args.product))?;
    with_store(app, move |s| s.stock_for_product(&store, &product)).await
}

/// Other stores' stock of a product, from the relay (needs a connection).
#[tauri::command]
pub async fn nearby_stock(
    app: AppHandle,
    args: NearbyStockArgs,
) -> Result<Vec<StoreStock>, ApiError> {
    let config = relay_config(&app)?;
    let product = parse(ProductSku::parse(args.product))?;
    relay_client::stock_by_store(&config, &product)
        .await
        .map_err(relay_failure)
}

fn require_manager(app: &AppHandle) -> Result<(), ApiError> {
    if enrolment(app)?.role != Role::Manager {
        return Err(invalid("Only a manager's tablet shows this."));
    }
    Ok(())
}

#[tauri::command]
pub async fn conflicts(app: AppHandle) -> Result<Vec<ConflictLine>, ApiError> {
    require_manager(&app)?;
    with_store(app, |s| s.conflict_lines()).await
}

/// Settles an oversell with the count found on the shelf; recorded as the manager's.
#[tauri::command]
pub async fn resolve_conflict(app: AppHandle, args: ResolveConflictArgs) -> Result<i64, ApiError> {
    require_manager(&app)?;
    let by = associate(&app)?;
    with_store_mut(app, move |s| {
        s.resolve_oversell(&args.id, args.counted, &by)
    })
    .await
}

#[tauri::command]
pub async fn stock_movements(
    app: AppHandle,
    args: StockMovementsArgs,
) -> Result<Vec<StockMovement>, ApiError> {
    let store = home_store(&app)?;
    let product = parse(ProductSku::parse(args.product))?;
    with_store(app, move |s| s.product_movements(&store, &product)).await
}

fn movement_lines(lines: Vec<(String, i64)>) -> Result<Vec<MovementLine>, ApiError> {
    lines
        .into_iter()
        .map(|(variant, quantity)| {
            Ok(MovementLine {
                variant: parse(VariantSku::parse(variant))?,
                quantity,
            })
        })
        .collect()
}

/// A delivery, damage or a transfer sent, recorded as the manager's; the relay refuses one
/// from any other tablet.
#[tauri::command]
pub async fn record_stock_movement(
    app: AppHandle,
    args: RecordStockMovementArgs,
) -> Result<MovementReceipt, ApiError> {
    require_manager(&app)?;
    let (store, by) = (home_store(&app)?, associate(&app)?);
    let lines = movement_lines(vec![(args.variant, args.quantity)])?;
    let to = args.to_store.map(StoreId::parse).transpose();
    let to = parse(to)?;
    with_store_mut(app, move |s| match (args.kind, to) {
        (MovementKind::Delivery, None) => Ok(MovementReceipt {
            on_hand: s.receive_delivery(&store, &lines, &args.note, &by)?[0],
            transfer: None,
        }),
        (MovementKind::Damage, None) => Ok(MovementReceipt {
            on_hand: s.record_damage(&store, &lines, &args.note, &by)?[0],
            transfer: None,
        }),
        (MovementKind::TransferOut, Some(to)) => {
            let transfer = s.send_transfer(&store, &to, &lines, &args.note, &by)?;
            Ok(MovementReceipt {
                on_hand: s.on_hand(&store, &lines[0].variant)?,
                transfer: Some(transfer),
            })
        }
        (MovementKind::TransferOut, None) => Err(CoreError::invalid(
            "to_store",
            "choose the store it goes to",
        )),
        (kind, _) => Err(CoreError::invalid(
            "kind",
            &format!("{} is not recorded this way", kind.as_str()),
        )),
    })
    .await
}

#[tauri::command]
pub async fn count_stock(app: AppHandle, args: CountStockArgs) -> Result<Vec<i64>, ApiError> {
    require_manager(&app)?;
    let (store, by) = (home_store(&app)?, associate(&app)?);
    let counts = movement_lines(args.counts)?
        .into_iter()
        .map(|l| (l.variant, l.quantity))
        .collect::<Vec<_>>();
    with_store_mut(app, move |s| {
        s.count_stock(&store, &counts, &args.note, &by)
    })
    .await
}

/// What other stores sent here, from the relay (needs a connection).
#[tauri::command]
pub async fn incoming_transfers(app: AppHandle) -> Result<Vec<IncomingTransfer>, ApiError> {
    let config = relay_config(&app)?;
    relay_client::incoming_transfers(&config)
        .await
        .map_err(relay_failure)
}

/// Receives a transfer against what the relay says was sent (needs a connection to read
/// that; the receipt itself syncs like any other movement).
#[tauri::command]
pub async fn receive_transfer(
    app: AppHandle,
    args: ReceiveTransferArgs,
) -> Result<Vec<i64>, ApiError> {
    require_manager(&app)?;
    let (store, by) = (home_store(&app)?, associate(&app)?);
    let lines = movement_lines(args.lines)?;
    let config = relay_config(&app)?;
    let incoming = relay_client::incoming_transfers(&config)
        .await
        .map_err(relay_failure)?;
    let Some(transfer) = incoming
        .into_iter()
        .find(|t| t.transfer == args.transfer && t.from_store.as_str() == args.from_store)
    else {
        return Err(invalid(format!(
            "Transfer {} is not on its way here (received already, or not sent).",
            args.transfer
        )));
    };
    with_store_mut(app, move |s| {
        s.receive_transfer(&store, &transfer, &lines, &by)
    })
    .await
}

/// A return, by any associate: the relay bounds it by the sale it is of.
#[tauri::command]
pub async fn record_return(app: AppHandle, args: RecordReturnArgs) -> Result<i64, ApiError> {
    let (store, by) = (home_store(&app)?, associate(&app)?);
    let lines = movement_lines(vec![(args.variant, args.quantity)])?;
    with_store_mut(app, move |s| {
        s.record_return(&store, &args.sale, &lines, "Returned at the counter", &by)
            .map(|levels| levels[0])
    })
    .await
}

#[tauri::command]
pub async fn record_exchange(
    app: AppHandle,
    args: RecordExchangeArgs,
) -> Result<SaleReceipt, ApiError> {
    let (store, by) = (home_store(&app)?, associate(&app)?);
    let back = parse(VariantSku::parse(args.variant))?;
    let instead = parse(VariantSku::parse(args.instead))?;
    with_store_mut(app, move |s| {
        s.exchange_one(&store, &args.sale, &back, &instead, &by)
    })
    .await
}

#[tauri::command]
pub async fn stores(app: AppHandle) -> Result<Vec<StoreInfo>, ApiError> {
    with_store(app, |s| s.stores()).await
}

#[tauri::command]
pub async fn store_kpis(app: AppHandle, args: StoreKpisArgs) -> Result<StoreKpis, ApiError> {
    require_manager(&app)?;
    let store = home_store(&app)?;
    with_store(app, move |s| s.store_kpis(&store, args.from, args.days)).await
}

/// A product image this tablet keeps (fetched from the relay by the background task in
/// `sync.rs`), read off disk on a blocking thread.
#[tauri::command]
pub async fn product_image(
    app: AppHandle,
    args: ProductImageArgs,
) -> Result<Option<String>, ApiError> {
    let cache = aisle_tablet::images::ImageCache::beside(&app.state::<AppState>().db_path);
    tauri::async_runtime::spawn_blocking(move || cache.data_url(&args.image))
        .await
        .map_err(|e| ApiError {
            code: ErrorCode::Internal,
            message: format!("reading the image did not finish: {e}"),
        })
}

/// The KPIs as CSV files where the manager finds them: the Downloads folder when the
/// platform has one, otherwise `exports/` beside the tablet's data.
#[tauri::command]
pub async fn export_kpis(app: AppHandle, args: ExportKpisArgs) -> Result<Vec<String>, ApiError> {
    require_manager(&app)?;
    let store = home_store(&app)?;
    let folder = match app.path().download_dir() {
        Ok(dir) if dir.is_dir() => dir,
        _ => app
            .state::<AppState>()
            .db_path
            .parent()
            .map(|d| d.join("exports"))
            .ok_or_else(|| invalid("The tablet has no folder to write the export to."))?,
    };
    with_store(app, move |s| {
        let kpis = s.store_kpis(&store, args.from, args.days)?;
        let currency = s.locale()?.currency;
        let (days, people) = aisle_tablet::kpis::kpis_csv(&kpis, &store, &currency)?;
        // A full disk says so; anything else names the file.
        let io = |path: &std::path::Path, e: std::io::Error| match e.kind() {
            std::io::ErrorKind::StorageFull => CoreError::StorageFull,
            _ => CoreError::Internal(format!("writing {}: {e}", path.display())),
        };
        std::fs::create_dir_all(&folder).map_err(|e| io(&folder, e))?;
        let stamp = format!("{store}-{}d-{}", args.days, args.from / 1000);
        let mut written = Vec::new();
        for (name, text) in [("kpis", days), ("kpis-by-associate", people)] {
            let path = folder.join(format!("aisle-{name}-{stamp}.csv"));
            std::fs::write(&path, text).map_err(|e| io(&path, e))?;
            written.push(path.display().to_string());
        }
        Ok(written)
    })
    .await
}

/// Variants running out within `horizon_days` at their rate of sale, or out while customers
/// have them in carts.
#[tauri::command]
pub async fn stock_alerts(app: AppHandle, args: StockAlertsArgs) -> Result<StockAlerts, ApiError> {
    require_manager(&app)?;
    let horizon_days = args.horizon_days;
    if !(1..=90).contains(&horizon_days) {
        return Err(invalid("the horizon is 1 to 90 days"));
    }
    let store = home_store(&app)?;
    with_store(app, move |s| {
        let (alerts, total) = s.stock_alerts(&store, horizon_days, 100)?;
        Ok(StockAlerts { alerts, total })
    })
    .await
}

/// The store's tablets with when each last synced (from the relay).
#[tauri::command]
pub async fn store_devices(app: AppHandle) -> Result<Vec<DeviceHealth>, ApiError> {
    require_manager(&app)?;
    let config = relay_config(&app)?;
    relay_client::store_devices(&config)
        .await
        .map_err(relay_failure)
}

#[tauri::command]
pub async fn till_status(app: AppHandle) -> Result<aisle_core::api::TillStatus, ApiError> {
    require_manager(&app)?;
    let config = relay_config(&app)?;
    relay_client::till_status(&config)
        .await
        .map_err(relay_failure)
}

#[tauri::command]
pub async fn store_audit(app: AppHandle) -> Result<Vec<aisle_core::api::AuditEntry>, ApiError> {
    require_manager(&app)?;
    let config = relay_config(&app)?;
    relay_client::store_audit(&config)
        .await
        .map_err(relay_failure)
}

/// A customer's right to erasure (manager tablets; needs the relay). The relay deletes the
/// document and every tablet, this one included, purges it.
#[tauri::command]
pub async fn erase_customer(app: AppHandle, args: EraseCustomerArgs) -> Result<(), ApiError> {
    require_manager(&app)?;
    let config = relay_config(&app)?;
    let id = parse(CustomerId::parse(args.id))?;
    relay_client::erase_customer(&config, &id)
        .await
        .map_err(relay_failure)?;
    // Purge here at once rather than waiting for the relay's notice; duplicates merged into
    // the customer go with them.
    with_store_mut(app, move |s| {
        for profile in s.same_person(&id)? {
            s.drop_doc(&aisle_core::DocId::Customer(profile))?;
        }
        Ok(())
    })
    .await
}

/// Folds another profile of the same person into this customer (manager tablets; needs the
/// relay, which merges so two tablets cannot merge two profiles into each other). The merge
/// arrives here, as on every tablet, by sync.
#[tauri::command]
pub async fn merge_customers(app: AppHandle, args: MergeCustomersArgs) -> Result<(), ApiError> {
    require_manager(&app)?;
    let config = relay_config(&app)?;
    let id = parse(CustomerId::parse(args.id))?;
    let duplicate = parse(CustomerId::parse(args.duplicate))?;
    relay_client::merge_customers(&config, &id, &duplicate)
        .await
        .map_err(relay_failure)
}

/// What a scan opens: text from a keyboard-wedge scanner, the camera or an NFC card. A
/// customer the tablet does not hold (another store's) is fetched from the relay when online.
#[tauri::command]
pub async fn scan(app: AppHandle, args: ScanArgs) -> Result<ScanTarget, ApiError> {
    let text = args.text;
    let state_store = app.state::<AppState>().store.clone();
    let scanned = text.clone();
    let resolved = with_store(app.clone(), move |s| {
        let text = scanned;
        let target = s.resolve_scan(&text);
        let held = match &target {
            Ok(ScanTarget::Customer { id }) => {
                s.has_doc(&aisle_core::DocId::Customer(id.clone()))?
            }
            _ => true,
        };
        let loyalty = match aisle_core::scan::classify(&text) {
            Ok(aisle_core::scan::Scanned::Loyalty(l)) => Some(l),
            _ => None,
        };
        Ok((target, held, loyalty))
    })
    .await?;
    match resolved {
        // A loyalty code of a customer of another store, verified here: the relay checks it
        // again and sends the profile.
        (Ok(ScanTarget::Customer { .. }), false, _) => {
            let config = relay_config(&app)?;
            let id = relay_client::fetch_customer_by_token(&config, &state_store, &text)
                .await
                .map_err(relay_failure)?;
            Ok(ScanTarget::Customer { id })
        }
        // A printed loyalty number of a customer of another store.
        (Err(CoreError::NotFound { .. }), _, Some(loyalty)) if relay_config(&app).is_ok() => {
            let config = relay_config(&app)?;
            let id = relay_client::fetch_customer(
                &config,
                &state_store,
                &aisle_core::model::Identifier::Loyalty(loyalty),
            )
            .await
            .map_err(relay_failure)?;
            Ok(ScanTarget::Customer { id })
        }
        (target, _, _) => target.map_err(|e| e.to_api()),
    }
}

/// A photo of a QR code (the camera app, or a picture the customer sent): decoded, then
/// handled as a scan.
#[tauri::command]
pub async fn scan_image(app: AppHandle, args: ScanImageArgs) -> Result<ScanTarget, ApiError> {
    let image = args.image;
    let texts = tauri::async_runtime::spawn_blocking(move || {
        let image = image::load_from_memory(&image)
            .map_err(|e| invalid(format!("not a photo this app can read: {e}")))?
            .to_luma8();
        Ok::<_, ApiError>(aisle_core::qr::decode_qr(
            image.width() as usize,
            image.height() as usize,
            image.as_raw(),
        ))
    })
    .await
    .map_err(|e| invalid(e.to_string()))??;
    let text = texts
        .into_iter()
        .next()
        .ok_or_else(|| invalid("no readable QR code in the photo"))?;
    scan(app, ScanArgs { text }).await
}

/// Links an NFC card nobody has to the open customer; the next tap identifies them.
#[tauri::command]
pub async fn link_card(app: AppHandle, args: LinkCardArgs) -> Result<(), ApiError> {
    let customer = parse(CustomerId::parse(args.customer))?;
    let uid = parse(aisle_core::model::NfcUid::parse(args.uid))?;
    let associate = associate(&app).ok();
    with_store_mut(app, move |s| {
        s.link_nfc_card(&customer, &uid, associate.as_ref())
    })
    .await
}

/// A check-in at the entry kiosk from a scanned code or a tapped card. Offline, a code whose
/// signature checks out is queued and sent when the kiosk reconnects.
#[tauri::command]
pub async fn kiosk_check_in(
    app: AppHandle,
    args: KioskCheckInArgs,
) -> Result<KioskWelcome, ApiError> {
    let config = relay_config(&app)?;
    let token = match args.code.as_deref().map(aisle_core::scan::classify) {
        Some(Ok(aisle_core::scan::Scanned::Token(token))) => Some(token),
        Some(Ok(_)) => return Err(invalid("Please scan the loyalty QR code in your app.")),
        Some(Err(e)) => return Err(e.to_api()),
        None => None,
    };
    let nfc_uid = args.nfc_uid;
    let check_in = with_store(app.clone(), move |s| {
        // A forged or revoked code is refused here and now, online or not. A key the kiosk
        // has not synced yet is the relay's to judge.
        if let Some(token) = &token {
            match s.verify_loyalty_token(token) {
                Ok(_) | Err(CoreError::Token(aisle_core::loyalty::TokenError::UnknownKey(_))) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(KioskCheckIn {
            id: aisle_core::IdGen::random().new_id(),
            token,
            nfc_uid,
            at: s.now(),
        })
    })
    .await?;
    match relay_client::kiosk_check_in(&config, &check_in).await {
        Ok(welcome) => Ok(welcome),
        // Offline, slowed down, the relay not trusted or failing: the visit is kept and sent
        // later; the customer is welcomed all the same.
        Err(e) if e.is_transient() => {
            tracing::info!(error = %e, "check-in queued");
            with_store_mut(app, move |s| s.queue_check_in(&check_in)).await?;
            Ok(KioskWelcome {
                queued: true,
                ..KioskWelcome::default()
            })
        }
        Err(e) => Err(relay_failure(e)),
    }
}

/// The customer's answer to the kiosk's personalisation question.
#[tauri::command]
pub async fn kiosk_consent(app: AppHandle, args: KioskConsentArgs) -> Result<(), ApiError> {
    let config = relay_config(&app)?;
    let token = args
        .code
        .as_deref()
        .map(aisle_core::scan::classify)
        .and_then(|c| match c {
            Ok(aisle_core::scan::Scanned::Token(token)) => Some(token),
            _ => None,
        });
    let check_in = KioskCheckIn {
        id: aisle_core::IdGen::random().new_id(),
        token,
        nfc_uid: args.nfc_uid,
        at: crate::now_ms(),
    };
    relay_client::kiosk_consent(&config, &check_in, args.granted)
        .await
        .map_err(relay_failure)
}
