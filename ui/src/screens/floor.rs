//! The Floor screen: search a customer, and what this tablet holds.

use aisle_core::model::{CustomerProfile, CustomerSummary, StoreStats, Tier};
use leptos::prelude::*;

use crate::api;
use crate::app::AppEvents;
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

#[component]
fn StatsCards(stats: StoreStats) -> impl IntoView {
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

#[component]
fn CustomerSearch() -> impl IntoView {
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
    let selected = RwSignal::new(None::<String>);
    view! {
        <div class="search">
            <label for="customer-search" class="visually-hidden">"Search customers"</label>
            <input
                id="customer-search"
                class="search-input"
                type="search"
                placeholder="Name, email, phone or loyalty number"
                autocomplete="off"
                data-testid="customer-search"
                prop:value=move || query.get()
                on:input=move |ev| {
                    selected.set(None);
                    query.set(event_target_value(&ev));
                }
            />
            <Transition fallback=|| ()>
                {move || {
                    results
                        .get()
                        .map(|r| match r {
                            Ok(list) if list.is_empty() && !query.get().trim().is_empty() => {
                                view! { <p class="muted">"No customer matches."</p> }.into_any()
                            }
                            Ok(list) => view! { <ResultList list=list selected=selected/> }.into_any(),
                            Err(e) => {
                                view! { <p class="error" role="alert">{api::describe(&e)}</p> }
                                    .into_any()
                            }
                        })
                }}
            </Transition>
            {move || selected.get().map(|id| view! { <CustomerCard id=id/> })}
        </div>
    }
}

fn tier_label(tier: Tier) -> &'static str {
    match tier {
        Tier::Member => "Member",
        Tier::Silver => "Silver",
        Tier::Gold => "Gold",
    }
}

#[component]
fn ResultList(list: Vec<CustomerSummary>, selected: RwSignal<Option<String>>) -> impl IntoView {
    view! {
        <ul class="results" data-testid="search-results">
            {list
                .into_iter()
                .map(|c| {
                    let id = c.id.to_string();
                    view! {
                        <li>
                            <button class="result" on:click=move |_| selected.set(Some(id.clone()))>
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

#[component]
fn CustomerCard(id: String) -> impl IntoView {
    let profile = LocalResource::new(move || {
        let id = id.clone();
        async move { api::customer_profile(&id).await }
    });
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Opening…"</p> }>
            {move || {
                profile
                    .get()
                    .map(|r| match r {
                        Ok(p) => view! { <ProfileSummary profile=p/> }.into_any(),
                        Err(e) => {
                            view! { <p class="error" role="alert">{api::describe(&e)}</p> }.into_any()
                        }
                    })
            }}
        </Suspense>
    }
}

#[component]
fn ProfileSummary(profile: CustomerProfile) -> impl IntoView {
    let sizes = profile
        .sizes
        .iter()
        .map(|(category, pref)| format!("{category} {}", pref.size))
        .collect::<Vec<_>>()
        .join(" · ");
    let cart = profile
        .online_cart()
        .map(|c| format!("{} items in their online cart", c.lines.len()));
    view! {
        <article class="card" data-testid="customer-card">
            <h3>{profile.identity.name.clone()}</h3>
            <p class="muted">{format!("{} · {}", tier_label(profile.identity.tier), profile.identity.loyalty_id)}</p>
            <p>{if sizes.is_empty() { "No sizes recorded yet".to_string() } else { sizes }}</p>
            {cart.map(|c| view! { <p>{c}</p> })}
            <p class="muted">
                {format!(
                    "{} purchases · {} visits · {} notes",
                    profile.purchases.len(),
                    profile.visits.len(),
                    profile.notes.len(),
                )}
            </p>
        </article>
    }
}
