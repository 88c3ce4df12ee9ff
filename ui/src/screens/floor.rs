//! The Floor screen: search a customer, and what this tablet holds.

use aisle_core::model::{
    CustomerSummary, FloorOverview, StockAlert, StoreStats, Tier, VisitSource,
};
use leptos::prelude::*;

use crate::api;
use crate::app::{AppEvents, Screen, Selected};
use crate::screens::CatchUpBar;

#[component]
pub fn FloorScreen() -> impl IntoView {
    let events = expect_context::<AppEvents>();
    let stats = LocalResource::new(move || {
        events.data_version.track();
        api::store_stats()
    });
    let screen = expect_context::<RwSignal<crate::app::Screen>>();
    let not_enrolled = move || events.sync.get().is_none();

    view! {
        <section class="screen" data-testid="screen-floor">
            <h1>"Floor"</h1>
            {move || {
                not_enrolled()
                    .then(|| {
                        view! {
                            <div class="card notice" data-testid="not-enrolled">
                                <p>"This tablet is not enrolled with a store yet."</p>
                                <button class="primary" on:click=move |_| screen.set(crate::app::Screen::Settings)>
                                    "Enrol in Settings"
                                </button>
                            </div>
                        }
                    })
            }}
            <CustomerSearch/>
            <CatchUpBar/>
            <Overview/>
            <h2>"On this tablet"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    stats
                        .get()
                        .map(|result| match result {
                            Ok(s) => view! { <StatsCards stats=s/> }.into_any(),
                            Err(e) => {
                                view! { <p class="error" role="alert">{api::describe(&e)}</p> }
                                    .into_any()
                            }
                        })
                }}
            </Suspense>
        </section>
    }
}

/// Marks the first moment the Floor shows local data, once per app start: the end-to-end
/// suite reads it to time start-up without WebDriver's overhead.
fn mark_floor_ready() {
    let global = js_sys::global();
    let key = wasm_bindgen::JsValue::from_str("aisleFloorReadyAt");
    if js_sys::Reflect::get(&global, &key).is_ok_and(|v| v.is_undefined()) {
        let _ = js_sys::Reflect::set(&global, &key, &js_sys::Date::now().into());
    }
}

#[component]
fn StatsCards(stats: StoreStats) -> impl IntoView {
    if stats.customers > 0 {
        mark_floor_ready();
    }
    let card = |label: &'static str, value: String, id: &'static str| {
        view! {
            <div class="stat" data-testid=id>
                <span class="stat-value">{value}</span>
                <span class="stat-label">{label}</span>
            </div>
        }
    };
    view! {
        <div class="stats" data-testid="store-stats">
            {card("Customers", stats.customers.to_string(), "stat-customers")}
            {card("Products", stats.products.to_string(), "stat-products")}
            {card("Units in stock", stats.units_on_hand.to_string(), "stat-units")}
            {card("Stores", stats.stores.to_string(), "stat-stores")}
            {card("Active holds", stats.active_holds.to_string(), "stat-holds")}
            {card("Open conflicts", stats.open_conflicts.to_string(), "stat-conflicts")}
        </div>
    }
}

/// Search as you type; Enter (what a keyboard-wedge scanner sends after a loyalty number)
/// opens the best match.
#[component]
pub fn CustomerSearch() -> impl IntoView {
    let query = RwSignal::new(String::new());
    let results = LocalResource::new(move || {
        let q = query.get();
        async move {
            if q.trim().is_empty() {
                Ok(Vec::new())
            } else {
                api::search_customers(&q).await
            }
        }
    });
    let selected = expect_context::<Selected>();
    let screen = expect_context::<RwSignal<Screen>>();
    let open = move |id: String| {
        selected.customer.set(Some(id));
        screen.set(Screen::Customers);
    };
    let open_target = crate::screens::scan::opener();
    let scan_error = RwSignal::new(None::<String>);
    let scanning = RwSignal::new(false);
    // Enter is what a keyboard-wedge scanner sends after the code: a loyalty QR, a loyalty
    // number or a product barcode opens what it names; anything else opens the best match.
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() != "Enter" {
            return;
        }
        let q = event_target_value(&ev);
        leptos::task::spawn_local(async move {
            match api::scan(&q).await {
                Ok(target) => {
                    scan_error.set(None);
                    query.set(String::new());
                    open_target(target);
                }
                Err(e) if e.message.contains("not a loyalty code") => {
                    scan_error.set(None);
                    if let Ok(found) = api::search_customers(&q).await
                        && let Some(first) = found.first()
                    {
                        open(first.id.to_string());
                    }
                }
                Err(e) => scan_error.set(Some(api::describe(&e))),
            }
        });
    };
    view! {
        <div class="search">
            <label for="customer-search" class="visually-hidden">"Search customers"</label>
            <input
                id="customer-search"
                class="search-input"
                type="search"
                placeholder="Name, email, phone or loyalty number (or scan)"
                autocomplete="off"
                data-testid="customer-search"
                prop:value=move || query.get()
                on:input=move |ev| query.set(event_target_value(&ev))
                on:keydown=on_key
            />
            <button class="secondary" data-testid="open-scanner" on:click=move |_| scanning.set(true)>"Scan"</button>
            {move || scan_error.get().map(|e| view! { <p class="error" role="alert" data-testid="scan-error">{e}</p> })}
            {move || scanning.get().then(|| view! { <crate::screens::scan::ScanSheet open=scanning/> })}
            <Transition fallback=|| ()>
                {move || {
                    results
                        .get()
                        .map(|r| match r {
                            Ok(list) if list.is_empty() && !query.get().trim().is_empty() => {
                                view! { <p class="muted">"No customer matches."</p> }.into_any()
                            }
                            Ok(list) => view! { <ResultList list=list open=open/> }.into_any(),
                            Err(e) => {
                                view! { <p class="error" role="alert">{api::describe(&e)}</p> }
                                    .into_any()
                            }
                        })
                }}
            </Transition>
        </div>
    }
}

pub fn tier_label(tier: Tier) -> &'static str {
    match tier {
        Tier::Member => "Member",
        Tier::Silver => "Silver",
        Tier::Gold => "Gold",
    }
}

#[component]
pub fn ResultList(
    list: Vec<CustomerSummary>,
    open: impl Fn(String) + Copy + 'static,
) -> impl IntoView {
    view! {
        <ul class="results" data-testid="search-results">
            {list
                .into_iter()
                .map(|c| {
                    let id = c.id.to_string();
                    view! {
                        <li>
                            <button class="result" on:click=move |_| open(id.clone())>
                                <span class="result-name">{c.name.clone()}</span>
                                <span class="result-meta">
                                    {format!("{} · {} · {}", c.loyalty_id, tier_label(c.tier), c.home_store)}
                                </span>
                            </button>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}

/// Who is in, holds running out today, nearly sold out.
#[component]
fn Overview() -> impl IntoView {
    let events = expect_context::<AppEvents>();
    let overview = LocalResource::new(move || {
        events.data_version.track();
        api::floor_overview()
    });
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                overview
                    .get()
                    .map(|r| match r {
                        Ok(o) => view! { <OverviewCards overview=o/> }.into_any(),
                        // Not enrolled: the notice above says what to do.
                        Err(_) if events.sync.get().is_none() => ().into_any(),
                        Err(e) => view! { <p class="error" role="alert">{api::describe(&e)}</p> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

#[component]
fn OverviewCards(overview: FloorOverview) -> impl IntoView {
    let selected = expect_context::<Selected>();
    let screen = expect_context::<RwSignal<Screen>>();
    let stock_product = expect_context::<crate::app::StockProduct>();
    let source = |s: VisitSource| match s {
        VisitSource::Kiosk => "kiosk",
        VisitSource::NfcTap => "card tap",
        VisitSource::Associate => "greeted",
        VisitSource::Import => "visit",
    };
    // Kiosk check-ins and card taps of the last quarter of an hour: someone to greet now.
    let now = js_sys::Date::now() as i64;
    let arrived: Vec<_> = overview
        .checked_in
        .iter()
        .filter(|c| {
            matches!(c.source, VisitSource::Kiosk | VisitSource::NfcTap) && now - c.at < 15 * 60_000
        })
        .cloned()
        .collect();
    view! {
        {(!arrived.is_empty()).then(|| view! {
            <section class="card arrived" data-testid="just-arrived" aria-live="polite">
                <h2>"Just arrived"</h2>
                <ul class="lines">
                    {arrived.into_iter().map(|c| {
                        let id = c.customer.id.to_string();
                        view! {
                            <li>
                                <button class="result" data-testid="arrived-customer" on:click=move |_| {
                                    selected.customer.set(Some(id.clone()));
                                    screen.set(Screen::Customers);
                                }>
                                    <span class="result-name">{c.customer.name.clone()}</span>
                                    <span class="result-meta">{format!("{} · {} · {}", tier_label(c.customer.tier), source(c.source), api::age(c.at))}</span>
                                </button>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            </section>
        })}
        <div class="overview">
            <article class="card" data-testid="checked-in">
                <h2>"In store now"</h2>
                {if overview.checked_in.is_empty() {
                    view! { <p class="muted">"Nobody has checked in today yet."</p> }.into_any()
                } else {
                    view! {
                        <ul class="lines">
                            {overview.checked_in.into_iter().map(|c| {
                                let id = c.customer.id.to_string();
                                view! {
                                    <li>
                                        <button class="result" data-testid="checked-in-customer" on:click=move |_| {
                                            selected.customer.set(Some(id.clone()));
                                            screen.set(Screen::Customers);
                                        }>
                                            <span class="result-name">{c.customer.name.clone()}</span>
                                            <span class="result-meta">{format!("{} · {} · {}", tier_label(c.customer.tier), source(c.source), api::when(c.at))}</span>
                                        </button>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }}
            </article>
            <article class="card" data-testid="holds-expiring">
                <h2>"Holds ending today"</h2>
                {if overview.holds_expiring.is_empty() {
                    view! { <p class="muted">"None."</p> }.into_any()
                } else {
                    view! {
                        <ul class="lines">
                            {overview.holds_expiring.into_iter().map(|h| view! {
                                <li class="line">
                                    <div class="line-text">
                                        <span class="line-name">{h.product_name.clone()}</span>
                                        <span class="muted">{format!("{} · {} · {} · until {}", h.colour, h.size, h.customer_name, api::when(h.hold.hold.expires_at))}</span>
                                    </div>
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }}
            </article>
            <article class="card" data-testid="stock-alerts">
                <h2>{format!("Running out ({})", overview.stock_alerts_total)}</h2>
                {if overview.stock_alerts.is_empty() {
                    view! { <p class="muted">"Nothing is expected to run out this week."</p> }.into_any()
                } else {
                    view! {
                        <ul class="lines">
                            {overview.stock_alerts.into_iter().map(|a| {
                                let product = a.product.to_string();
                                let urgent = a.available <= 0;
                                view! {
                                    <li>
                                        <button class="result" data-testid="stock-alert" on:click=move |_| {
                                            stock_product.0.set(Some(product.clone()));
                                            screen.set(Screen::Stock);
                                        }>
                                            <span class="result-name">{a.product_name.clone()}</span>
                                            <span class="result-meta" class:error=urgent>{format!("{} · {} · {}", a.colour, a.size, alert_text(&a))}</span>
                                        </button>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }}
            </article>
        </div>
    }
}

/// "2 left, about 3 days at 0.7 a day · in 4 carts": what a stock alert says.
pub fn alert_text(a: &StockAlert) -> String {
    let left = if a.available <= 0 {
        "none left".to_string()
    } else {
        format!("{} left", a.available)
    };
    let cover = match a.days_of_cover {
        Some(days) if a.available > 0 => format!(
            ", about {} at {:.1} a day",
            if days < 1.0 {
                "today".to_string()
            } else {
                format!(
                    "{:.0} day{}",
                    days,
                    if days.round() == 1.0 { "" } else { "s" }
                )
            },
            a.per_day
        ),
        _ => String::new(),
    };
    let carts = match a.in_carts {
        0 => String::new(),
        1 => " · in 1 customer cart".to_string(),
        n => format!(" · {n} in customer carts"),
    };
    format!("{left}{cover}{carts}")
}
