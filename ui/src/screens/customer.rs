//! The customer briefing: who they are, what they looked at and left in their online cart
//! (with stock here and elsewhere), and the in-store cart, holds, notes and sale.

use aisle_core::model::{
    Briefing, CartStatus, Channel, ConsentPurpose, CustomerProfile, CustomerSummary, ProductSku,
    SizeBasis, StoreStock, SuggestionKind, VariantSku,
};
use leptos::prelude::*;

use crate::api;
use crate::app::{AppEvents, Screen, Selected, StockProduct};
use crate::screens::floor::{CustomerSearch, ResultList, tier_label};
use crate::screens::product_image::ProductImage;

/// The Customers screen: the briefing of the selected customer, or a search.
#[component]
pub fn CustomersScreen() -> impl IntoView {
    let selected = expect_context::<Selected>();
    view! {
        <section class="screen" data-testid="screen-customers">
            {move || match selected.customer.get() {
                Some(id) => view! { <BriefingView id=id/> }.into_any(),
                None => {
                    view! {
                        <h1>"Customers"</h1>
                        <CustomerSearch/>
                    }
                        .into_any()
                }
            }}
        </section>
    }
}

/// What the last return or exchange at the counter said, kept across the briefing's refresh.
#[derive(Clone, Copy)]
struct CounterOutcome(RwSignal<Option<Result<String, String>>>);

#[component]
fn BriefingView(id: String) -> impl IntoView {
    let events = expect_context::<AppEvents>();
    let version = RwSignal::new(0u32);
    // Outlives the briefing's re-renders: a sync arriving mid-sentence keeps the draft.
    provide_context(NoteDraft(RwSignal::new(String::new())));
    // So does what a return or an exchange said: recording one refreshes the briefing.
    provide_context(CounterOutcome(RwSignal::new(None)));
    let briefing = LocalResource::new({
        let id = id.clone();
        move || {
            events.data_version.track();
            version.track();
            let id = id.clone();
            async move { api::customer_briefing(&id).await }
        }
    });
    let selected = expect_context::<Selected>();
    view! {
        <div class="briefing-top">
            <button class="secondary" data-testid="back-to-search" on:click=move |_| selected.customer.set(None)>
                "‹ Search"
            </button>
        </div>
        <Suspense fallback=|| view! { <p class="muted">"Opening…"</p> }>
            {move || {
                briefing
                    .get()
                    .map(|r| match r {
                        Ok(b) => view! { <BriefingBody briefing=b version=version/> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{api::describe(&e)}</p> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

/// Runs a change, then refreshes the briefing or shows the error.
fn act<F>(version: RwSignal<u32>, error: RwSignal<Option<String>>, f: F)
where
    F: std::future::Future<Output = Result<(), aisle_core::model::ApiError>> + 'static,
{
    leptos::task::spawn_local(async move {
        match f.await {
            Ok(()) => {
                error.set(None);
                version.update(|v| *v += 1);
            }
            Err(e) => error.set(Some(api::describe(&e))),
        }
    });
}

#[component]
fn BriefingBody(briefing: Briefing, version: RwSignal<u32>) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let b = StoredValue::new(briefing);
    let profile = b.with_value(|b| b.profile.clone());
    let id = profile.id.to_string();
    let id_for_erase = id.clone();
    let personalise = profile.has_consent(ConsentPurpose::InStorePersonalisation);
    let here_today = b.with_value(|b| b.here_today);
    let greet = {
        let id = id.clone();
        move |_| {
            let id = id.clone();
            act(version, error, async move {
                api::greet_customer(&id).await.map(|_| ())
            });
        }
    };
    view! {
        <header class="briefing-header" data-testid="briefing">
            <div>
                <h1 data-testid="briefing-name">{profile.identity.name.clone()}</h1>
                <p class="muted">
                    {format!("{} · {} · joined {}", tier_label(profile.identity.tier), profile.identity.loyalty_id, api::when(profile.identity.joined_at))}
                </p>
                <ConsentChips profile=profile.clone()/>
                {(!profile.merged_from.is_empty()).then(|| {
                    let merged = profile
                        .merged_from
                        .iter()
                        .map(|m| format!("{} ({})", m.loyalty_id, api::when(m.merged_at)))
                        .collect::<Vec<_>>()
                        .join(", ");
                    view! { <p class="muted" data-testid="merged-from">{format!("Duplicate profiles merged in: {merged}")}</p> }
                })}
            </div>
            {if here_today {
                view! { <span class="badge ok" data-testid="here-today">"In store today"</span> }.into_any()
            } else {
                view! { <button class="primary" data-testid="greet" on:click=greet>"Start serving"</button> }.into_any()
            }}
        </header>
        <LinkCard customer=id.clone() name=profile.identity.name.clone()/>
        {move || error.get().map(|e| view! { <p class="error" role="alert" data-testid="briefing-error">{e}</p> })}
        {if personalise {
            view! { <Personal b=b version=version error=error/> }.into_any()
        } else {
            view! {
                <div class="card notice" data-testid="no-consent">
                    <p>
                        "This customer has not agreed to in-store personalisation: browsing, carts and preferences are not shown. Ask them if they would like to opt in at the kiosk or online."
                    </p>
                </div>
                <Notes b=b version=version error=error/>
            }
                .into_any()
        }}
        <MergeDuplicate id=id_for_erase.clone()/>
        <Erase id=id_for_erase/>
    }
}

/// Whether this tablet is enrolled as a manager's, re-read when the enrolment changes.
fn manager_tablet() -> impl Fn() -> bool + Copy {
    let events = expect_context::<AppEvents>();
    let info = LocalResource::new(move || {
        events.enrolment_version.track();
        api::app_info()
    });
    move || {
        info.get()
            .and_then(Result::ok)
            .and_then(|i| i.enrolment)
            .is_some_and(|e| e.role == aisle_core::model::Role::Manager)
    }
}

/// The name of customer `id` among search results.
fn name_among(results: Option<Vec<CustomerSummary>>, id: &str) -> Option<String> {
    results?
        .into_iter()
        .find(|c| c.id.as_str() == id)
        .map(|c| c.name)
}

/// The same person found twice (signed up again at the till, say), for manager tablets: find
/// the other profile and fold it into this one. Its history comes here, and its loyalty
/// number and cards open this customer on every tablet.
#[component]
fn MergeDuplicate(id: String) -> impl IntoView {
    let events = expect_context::<AppEvents>();
    let manager = manager_tablet();
    let this = StoredValue::new(id);
    let query = RwSignal::new(String::new());
    let picked = RwSignal::new(None::<String>);
    let message = RwSignal::new(None::<Result<String, String>>);
    let matches = LocalResource::new(move || {
        let q = query.get();
        async move {
            if q.trim().chars().count() < 2 {
                return Vec::new();
            }
            let mut found = api::search_customers(&q).await.unwrap_or_default();
            found.retain(|c| c.id.as_str() != this.get_value());
            found.truncate(5);
            found
        }
    });
    let merge = move |_| {
        let Some(duplicate) = picked.get_untracked() else {
            return;
        };
        let name = name_among(matches.get_untracked(), &duplicate)
            .unwrap_or_else(|| "The other profile".to_string());
        leptos::task::spawn_local(async move {
            match api::merge_customers(&this.get_value(), &duplicate).await {
                Ok(()) => {
                    picked.set(None);
                    query.set(String::new());
                    message.set(Some(Ok(format!(
                        "{name} is merged into this profile; their history arrives with the next sync."
                    ))));
                    events.data_version.update(|v| *v += 1);
                }
                Err(e) => message.set(Some(Err(api::describe(&e)))),
            }
        });
    };
    move || {
        manager().then(|| {
            view! {
                <section class="card merge" data-testid="merge">
                    <h2>"Same person twice?"</h2>
                    <p class="muted">"Find their other profile and merge it into this one: its purchases, carts and notes come here, and its loyalty number and cards open this customer on every tablet."</p>
                    <input
                        class="search-input"
                        type="search"
                        placeholder="Their other name, email, phone or loyalty number"
                        autocomplete="off"
                        data-testid="merge-search"
                        prop:value=move || query.get()
                        on:input=move |ev| {
                            query.set(event_target_value(&ev));
                            picked.set(None);
                            message.set(None);
                        }
                    />
                    <Transition fallback=|| ()>
                        {move || {
                            matches
                                .get()
                                .map(|list| {
                                    view! { <ResultList list=list open=move |id| picked.set(Some(id))/> }
                                })
                        }}
                    </Transition>
                    {move || {
                        picked
                            .get()
                            .map(|id| {
                                let name = name_among(matches.get(), &id)
                                    .unwrap_or_else(|| "the chosen profile".to_string());
                                view! {
                                    <button class="primary" data-testid="merge-confirm" on:click=merge>
                                        {format!("Merge {name} into this profile")}
                                    </button>
                                }
                            })
                    }}
                    {move || {
                        message
                            .get()
                            .map(|m| match m {
                                Ok(done) => view! { <p class="muted" role="status">{done}</p> }.into_any(),
                                Err(e) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
                            })
                    }}
                </section>
            }
        })
    }
}

/// A card nobody has was tapped while this customer is open: link it to them in one tap.
#[component]
fn LinkCard(customer: String, name: String) -> impl IntoView {
    let events = expect_context::<AppEvents>();
    let message = RwSignal::new(None::<String>);
    move || {
        events.unknown_card.get().map(|uid| {
            let customer = customer.clone();
            let link = {
                let uid = uid.clone();
                move |_| {
                    let (customer, uid) = (customer.clone(), uid.clone());
                    leptos::task::spawn_local(async move {
                        match api::link_card(&customer, &uid).await {
                            Ok(()) => {
                                events.unknown_card.set(None);
                                message.set(Some("Card linked: it opens this customer from now on.".into()));
                            }
                            Err(e) => message.set(Some(api::describe(&e))),
                        }
                    });
                }
            };
            view! {
                <div class="card notice" data-testid="unknown-card" role="status">
                    <p>{format!("A card nobody has was tapped ({uid}).")}</p>
                    <button class="primary" data-testid="link-card" on:click=link>{format!("Link it to {name}")}</button>
                    <button class="secondary" on:click=move |_| events.unknown_card.set(None)>"Not now"</button>
                    {move || message.get().map(|m| view! { <p class="muted">{m}</p> })}
                </div>
            }
        })
    }
}

/// A customer's right to erasure, for manager tablets: two taps, then the relay deletes the
/// profile and every tablet purges it.
#[component]
fn Erase(id: String) -> impl IntoView {
    let events = expect_context::<AppEvents>();
    let selected = expect_context::<Selected>();
    let manager = manager_tablet();
    let armed = RwSignal::new(false);
    let message = RwSignal::new(None::<String>);
    let erase = move |_| {
        if !armed.get_untracked() {
            armed.set(true);
            return;
        }
        let id = id.clone();
        leptos::task::spawn_local(async move {
            match api::erase_customer(&id).await {
                Ok(()) => {
                    selected.customer.set(None);
                    events.data_version.update(|v| *v += 1);
                }
                Err(e) => message.set(Some(api::describe(&e))),
            }
        });
    };
    move || {
        manager().then(|| {
            let erase = erase.clone();
            view! {
                <section class="card erase" data-testid="erase">
                    <h2>"Erase this customer"</h2>
                    <p class="muted">"At the customer's request: their profile, history and notes are deleted from the relay and every tablet. This cannot be undone."</p>
                    <button class="secondary danger" data-testid="erase-customer" on:click=erase>
                        {move || if armed.get() { "Tap again to erase" } else { "Erase customer…" }}
                    </button>
                    {move || message.get().map(|m| view! { <p class="error" role="alert">{m}</p> })}
                </section>
            }
        })
    }
}

#[component]
fn ConsentChips(profile: CustomerProfile) -> impl IntoView {
    let label = |p: ConsentPurpose| match p {
        ConsentPurpose::InStorePersonalisation => "Personalisation",
        ConsentPurpose::MarketingEmail => "Email",
        ConsentPurpose::MarketingSms => "SMS",
    };
    view! {
        <ul class="chips" aria-label="Consent">
            {ConsentPurpose::ALL
                .into_iter()
                .map(|p| {
                    let yes = profile.has_consent(p);
                    view! {
                        <li class="chip" class:ok=yes class:no=!yes>
                            {format!("{} {}", if yes { "✓" } else { "✗" }, label(p))}
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}

#[component]
fn Personal(
    b: StoredValue<Briefing>,
    version: RwSignal<u32>,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    view! {
        <div class="briefing-grid">
            <WhatToDo b=b/>
            <OnlineCart b=b version=version error=error/>
            <InStoreCart b=b version=version error=error/>
            <Preferences b=b/>
            <AlsoShow b=b/>
            <Holds b=b version=version error=error/>
            <Viewed b=b/>
            <Wishlist b=b version=version error=error/>
            <Notes b=b version=version error=error/>
            <History b=b/>
        </div>
    }
}

/// The short list an associate acts on: chat context, the cart, what to bring from the shelf.
#[component]
fn WhatToDo(b: StoredValue<Briefing>) -> impl IntoView {
    let suggestions = b.with_value(|b| b.suggestions.clone());
    (!suggestions.is_empty()).then(|| {
        view! {
            <article class="card wide todo" data-testid="suggestions">
                <h2>"What to do"</h2>
                <ul class="todo-list">
                    {suggestions
                        .into_iter()
                        .map(|s| {
                            let icon = match s.kind {
                                SuggestionKind::Chat => "✎",
                                SuggestionKind::Cart => "◔",
                                SuggestionKind::Bring => "→",
                                SuggestionKind::Elsewhere => "↗",
                                SuggestionKind::KeepsViewing => "◉",
                                SuggestionKind::Wishlist => "♡",
                                SuggestionKind::GoesWith => "+",
                            };
                            view! {
                                <li data-testid="suggestion">
                                    <span class="todo-icon" aria-hidden="true">{icon}</span>
                                    <span>{s.text}</span>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </article>
        }
    })
}

/// Products often bought with what they want, in stock here in their size.
#[component]
fn AlsoShow(b: StoredValue<Briefing>) -> impl IntoView {
    let picks = b.with_value(|b| b.recommendations.clone());
    let stock_product = expect_context::<StockProduct>();
    let screen = expect_context::<RwSignal<Screen>>();
    (!picks.is_empty()).then(|| {
        view! {
            <article class="card" data-testid="recommendations">
                <h2>"Also show them"</h2>
                <ul class="lines">
                    {picks
                        .into_iter()
                        .map(|r| {
                            let sku = r.product.sku.to_string();
                            view! {
                                <li>
                                    <button class="result" data-testid="recommendation" on:click=move |_| {
                                        stock_product.0.set(Some(sku.clone()));
                                        screen.set(Screen::Stock);
                                    }>
                                        <span class="result-name">{r.product.name.clone()}</span>
                                        <span class="result-meta">
                                            {format!(
                                                "Goes with the {} · {} here{}",
                                                r.because_name,
                                                r.available,
                                                r.size.as_ref().map(|s| format!(" in {s}")).unwrap_or_default()
                                            )}
                                        </span>
                                    </button>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </article>
        }
    })
}

#[component]
fn Preferences(b: StoredValue<Briefing>) -> impl IntoView {
    let p = b.with_value(|b| b.profile.clone());
    // The likely size per category, and what the guess rests on.
    let sizes = b.with_value(|b| {
        b.likely_sizes
            .iter()
            .map(|l| {
                let basis = match l.basis {
                    SizeBasis::Recorded => "recorded",
                    SizeBasis::Purchases => "bought",
                    SizeBasis::Cart => "in cart",
                    SizeBasis::Views => "viewed",
                };
                format!("{} {} ({basis})", l.category.label(), l.size)
            })
            .collect::<Vec<_>>()
    });
    let colours = p
        .colour_affinity
        .iter()
        .take(4)
        .map(|a| a.name.clone())
        .collect::<Vec<_>>();
    let styles = p
        .style_affinity
        .iter()
        .take(3)
        .map(|a| a.name.clone())
        .collect::<Vec<_>>();
    let or_none = |v: Vec<String>| {
        if v.is_empty() {
            "—".to_string()
        } else {
            v.join(" · ")
        }
    };
    view! {
        <article class="card" data-testid="preferences">
            <h2>"Sizes and colours"</h2>
            <dl class="facts">
                <dt>"Sizes"</dt>
                <dd>{or_none(sizes)}</dd>
                <dt>"Colours"</dt>
                <dd>{or_none(colours)}</dd>
                <dt>"Style"</dt>
                <dd>{or_none(styles)}</dd>
            </dl>
        </article>
    }
}

/// "3 here" or where else it is: other stores' stock comes from the relay when online.
#[component]
fn StockHere(
    product: ProductSku,
    variant: VariantSku,
    available: i64,
    here: String,
) -> impl IntoView {
    if available > 0 {
        return view! { <span class="stock ok" data-testid="stock-here">{format!("{available} here")}</span> }.into_any();
    }
    view! { <Elsewhere product=product variant=variant.to_string() here=here/> }.into_any()
}

/// Which other stores have a variant (or, without one, any size of the product), from the
/// relay when online.
#[component]
fn Elsewhere(
    product: ProductSku,
    #[prop(optional)] variant: Option<String>,
    here: String,
) -> impl IntoView {
    let nearby = LocalResource::new(move || {
        let product = product.to_string();
        async move { api::nearby_stock(&product).await }
    });
    view! {
        <span class="stock none" data-testid="not-here">
            "None here · "
            <Suspense fallback=|| "looking…">
                {move || {
                    let (variant, here) = (variant.clone(), here.clone());
                    nearby.get().map(move |r| match r {
                        Ok(stores) => where_else(&stores, variant.as_deref(), &here),
                        Err(_) => "other stores need a connection".to_string(),
                    })
                }}
            </Suspense>
        </span>
    }
}

fn where_else(stores: &[StoreStock], variant: Option<&str>, here: &str) -> String {
    let found: Vec<String> = stores
        .iter()
        .filter(|s| s.store.as_str() != here)
        .filter_map(|s| {
            let n: i64 = match variant {
                Some(v) => *s.available.get(v)?,
                None => s.available.values().sum(),
            };
            (n > 0).then(|| format!("{} {n} ({:.0} km)", s.store_name, s.distance_km))
        })
        .take(2)
        .collect();
    if found.is_empty() {
        "none in other stores".to_string()
    } else {
        found.join(", ")
    }
}

#[component]
fn OnlineCart(
    b: StoredValue<Briefing>,
    version: RwSignal<u32>,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let Some(cart) = b.with_value(|b| b.profile.online_cart().cloned()) else {
        return view! {
            <article class="card" data-testid="online-cart">
                <h2>"Online cart"</h2>
                <p class="muted">"Nothing in their online cart."</p>
            </article>
        }
        .into_any();
    };
    let id = b.with_value(|b| b.profile.id.to_string());
    let here = b.with_value(|b| b.store.to_string());
    let status = match cart.status {
        CartStatus::Open => "open",
        CartStatus::Abandoned => "abandoned",
        CartStatus::Converted => "bought",
    };
    let open_cart = open_store_cart(&b);
    let pull = {
        let lines: Vec<(String, u32)> = cart
            .lines
            .values()
            .map(|l| (l.variant.to_string(), l.quantity))
            .collect();
        let id = id.clone();
        move |_| {
            let (id, lines, cart) = (id.clone(), lines.clone(), open_cart.clone());
            act(version, error, async move {
                api::pull_into_cart(&id, cart.as_deref(), lines)
                    .await
                    .map(|_| ())
            });
        }
    };
    view! {
        <article class="card wide" data-testid="online-cart">
            <h2>
                "Online cart "
                <span class="muted">{format!("{status} · {} ago · {}", api::age(cart.updated_at), api::money(cart.total_cents()))}</span>
            </h2>
            <ul class="lines">
                {cart
                    .lines
                    .values()
                    .map(|line| {
                        let view = b.with_value(|b| {
                            b.variant(&line.product, &line.variant)
                                .map(|v| (v.product.name.clone(), Some((v.product.image.clone(), v.product.category)), v.size.to_string(), v.colour.to_string(), v.available))
                        });
                        let (name, image, size, colour, available) = view
                            .unwrap_or_else(|| (line.product.to_string(), None, String::new(), String::new(), 0));
                        let quantity = line.quantity;
                        let hold = {
                            let (id, variant) = (id.clone(), line.variant.to_string());
                            move |_| {
                                let (id, variant) = (id.clone(), variant.clone());
                                // Hold what is here, up to what they wanted.
                                let quantity = quantity.min(u32::try_from(available).unwrap_or(1)).max(1);
                                act(version, error, async move { api::place_hold(&id, &variant, quantity, 24).await.map(|_| ()) });
                            }
                        };
                        view! {
                            <li class="line" data-testid="online-line">
                                {image.map(|(image, category)| view! { <ProductImage image=image category=category/> })}
                                <div class="line-text">
                                    <span class="line-name">{name}</span>
                                    <span class="muted">{format!("{colour} · size {size} · ×{} · {}", line.quantity, api::money(line.unit_price_cents))}</span>
                                    <StockHere product=line.product.clone() variant=line.variant.clone() available=available here=here.clone()/>
                                </div>
                                <button class="secondary" data-testid="hold-online-line" disabled=available <= 0 on:click=hold>
                                    "Hold"
                                </button>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
            {(cart.status != CartStatus::Converted).then(|| view! {
                <button class="primary" data-testid="pull-online-cart" on:click=pull>"Add all to in-store cart"</button>
            })}
        </article>
    }
    .into_any()
}

/// The customer's open in-store cart here, if any.
fn open_store_cart(b: &StoredValue<Briefing>) -> Option<String> {
    b.with_value(|b| {
        b.profile
            .carts
            .iter()
            .filter(|c| c.item.channel == Channel::Store && c.item.status == CartStatus::Open)
            .max_by_key(|c| c.item.updated_at)
            .map(|c| c.id.clone())
    })
}

#[component]
fn InStoreCart(
    b: StoredValue<Briefing>,
    version: RwSignal<u32>,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let id = b.with_value(|b| b.profile.id.to_string());
    let open = open_store_cart(&b).and_then(|cart_id| {
        b.with_value(|b| {
            b.profile
                .carts
                .iter()
                .find(|c| c.id == cart_id)
                .map(|c| (cart_id.clone(), c.item.clone()))
        })
    });
    let Some((cart_id, cart)) = open else {
        return view! {
            <article class="card" data-testid="store-cart">
                <h2>"In-store cart"</h2>
                <p class="muted">"Empty. Add items from the online cart or wishlist."</p>
            </article>
        }
        .into_any();
    };
    let total = cart.total_cents();
    let checkout = {
        let (id, cart_id) = (id.clone(), cart_id.clone());
        move |_| {
            let (id, cart_id) = (id.clone(), cart_id.clone());
            act(version, error, async move {
                let receipt = api::checkout_cart(&id, &cart_id).await?;
                leptos::logging::log!("sale {} recorded", receipt.sale_id);
                Ok(())
            });
        }
    };
    view! {
        <article class="card wide" data-testid="store-cart">
            <h2>"In-store cart " <span class="muted">{api::money(total)}</span></h2>
            <ul class="lines">
                {cart
                    .lines
                    .iter()
                    .map(|(line_id, line)| {
                        let grid = b.with_value(|b| b.products.get(line.product.as_str()).cloned());
                        let name = grid.as_ref().map(|g| g.product.name.clone()).unwrap_or_else(|| line.product.to_string());
                        let options: Vec<(String, String, i64)> = grid
                            .map(|g| g.levels.iter().map(|l| (l.variant.to_string(), format!("{} · {}", l.colour, l.size), l.available())).collect())
                            .unwrap_or_default();
                        let current = line.variant.to_string();
                        let quantity = line.quantity;
                        let change = {
                            let (id, cart_id, line_id) = (id.clone(), cart_id.clone(), line_id.clone());
                            move |ev: leptos::ev::Event| {
                                let variant = event_target_value(&ev);
                                let (id, cart_id, line_id) = (id.clone(), cart_id.clone(), line_id.clone());
                                act(version, error, async move { api::change_cart_variant(&id, &cart_id, &line_id, &variant).await.map(|_| ()) });
                            }
                        };
                        let set_quantity = {
                            let (id, cart_id, line_id) = (id.clone(), cart_id.clone(), line_id.clone());
                            move |q: u32| {
                                let (id, cart_id, line_id) = (id.clone(), cart_id.clone(), line_id.clone());
                                act(version, error, async move {
                                    if q == 0 {
                                        api::remove_cart_line(&id, &cart_id, &line_id).await
                                    } else {
                                        api::set_cart_quantity(&id, &cart_id, &line_id, q).await
                                    }
                                });
                            }
                        };
                        let less = set_quantity.clone();
                        let available_now = options.iter().find(|o| o.0 == current).map(|o| o.2).unwrap_or(0);
                        let hold = {
                            let (id, variant) = (id.clone(), current.clone());
                            move |_| {
                                let (id, variant) = (id.clone(), variant.clone());
                                let quantity = quantity.min(u32::try_from(available_now).unwrap_or(1)).max(1);
                                act(version, error, async move { api::place_hold(&id, &variant, quantity, 24).await.map(|_| ()) });
                            }
                        };
                        view! {
                            <li class="line" data-testid="store-line">
                                <div class="line-text">
                                    <span class="line-name">{name.clone()}</span>
                                    <label class="visually-hidden" for=format!("variant-{line_id}")>{format!("Size and colour of {name}")}</label>
                                    <select id=format!("variant-{line_id}") on:change=change>
                                        {options
                                            .into_iter()
                                            .map(|(v, label, available)| {
                                                let selected = v == current;
                                                view! { <option value=v.clone() selected=selected>{format!("{label} ({available} here)")}</option> }
                                            })
                                            .collect_view()}
                                    </select>
                                </div>
                                <button class="secondary" data-testid="hold-store-line" disabled=available_now <= 0 on:click=hold>"Hold"</button>
                                <div class="stepper">
                                    <button class="secondary" aria-label="One fewer" on:click=move |_| less(quantity - 1)>"−"</button>
                                    <span aria-label="Quantity">{quantity}</span>
                                    <button class="secondary" aria-label="One more" on:click=move |_| set_quantity(quantity + 1)>"+"</button>
                                </div>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
            <button class="primary" data-testid="record-sale" on:click=checkout>"Record sale (send to till)"</button>
        </article>
    }
    .into_any()
}

#[component]
fn Holds(
    b: StoredValue<Briefing>,
    version: RwSignal<u32>,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let holds = b.with_value(|b| b.holds.clone());
    view! {
        <article class="card" data-testid="holds">
            <h2>"Holds"</h2>
            {if holds.is_empty() {
                view! { <p class="muted">"Nothing on hold."</p> }.into_any()
            } else {
                view! {
                    <ul class="lines">
                        {holds
                            .into_iter()
                            .map(|h| {
                                let hold_id = h.hold.id.clone();
                                let release = move |_| {
                                    let hold_id = hold_id.clone();
                                    act(version, error, async move { api::release_hold(&hold_id).await });
                                };
                                view! {
                                    <li class="line" data-testid="hold">
                                        <div class="line-text">
                                            <span class="line-name">{h.product_name.clone()}</span>
                                            <span class="muted">{format!("{} · {} · until {}", h.colour, h.size, api::when(h.hold.hold.expires_at))}</span>
                                        </div>
                                        <button class="secondary" on:click=release>"Release"</button>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                }
                    .into_any()
            }}
        </article>
    }
}

#[component]
fn Viewed(b: StoredValue<Briefing>) -> impl IntoView {
    let mut views = b.with_value(|b| b.profile.views.clone());
    views.sort_by_key(|v| std::cmp::Reverse((v.count, v.last_seen)));
    view! {
        <article class="card" data-testid="viewed">
            <h2>"Viewed online"</h2>
            {if views.is_empty() {
                view! { <p class="muted">"No browsing recorded."</p> }.into_any()
            } else {
                view! {
                    <ol class="lines">
                        {views
                            .into_iter()
                            .take(8)
                            .map(|v| {
                                let name = b.with_value(|b| b.products.get(v.product.as_str()).map(|g| g.product.name.clone())).unwrap_or_else(|| v.product.to_string());
                                let sizes = v.sizes.iter().map(|(s, n)| format!("{s}×{n}")).collect::<Vec<_>>().join(" ");
                                view! {
                                    <li class="line">
                                        <div class="line-text">
                                            <span class="line-name">{name}</span>
                                            <span class="muted">{format!("{} views · last {} · sizes {}", v.count, api::when(v.last_seen), if sizes.is_empty() { "—".into() } else { sizes })}</span>
                                        </div>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ol>
                }
                    .into_any()
            }}
        </article>
    }
}

#[component]
fn Wishlist(
    b: StoredValue<Briefing>,
    version: RwSignal<u32>,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let items = b.with_value(|b| b.profile.wishlist.clone());
    let id = b.with_value(|b| b.profile.id.to_string());
    let here = b.with_value(|b| b.store.to_string());
    view! {
        <article class="card" data-testid="wishlist">
            <h2>"Wishlist"</h2>
            {if items.is_empty() {
                view! { <p class="muted">"Empty."</p> }.into_any()
            } else {
                view! {
                    <ul class="lines">
                        {items
                            .into_iter()
                            .map(|w| {
                                // Their size if known and in stock here, else any size in stock.
                                let (name, pick) = b.with_value(|b| {
                                    let grid = b.products.get(w.product.as_str());
                                    let name = grid.map(|g| g.product.name.clone()).unwrap_or_else(|| w.product.to_string());
                                    let preferred: Vec<&str> = b.profile.sizes.values().map(|p| p.size.as_str()).collect();
                                    let pick = grid.and_then(|g| {
                                        g.levels
                                            .iter()
                                            .filter(|l| l.available() > 0)
                                            .max_by_key(|l| preferred.contains(&l.size.as_str()))
                                            .map(|l| (l.variant.to_string(), format!("{} · {}", l.colour, l.size)))
                                    });
                                    (name, pick)
                                });
                                let open_cart = open_store_cart(&b);
                                let id = id.clone();
                                view! {
                                    <li class="line">
                                        <div class="line-text">
                                            <span class="line-name">{name}</span>
                                            {match pick.as_ref() {
                                                Some(p) => view! { <span class="stock ok">{format!("{} in stock here", p.1)}</span> }.into_any(),
                                                None => view! { <Elsewhere product=w.product.clone() here=here.clone()/> }.into_any(),
                                            }}
                                        </div>
                                        {pick.map(|(variant, _)| {
                                            let add = move |_| {
                                                let (id, variant, cart) = (id.clone(), variant.clone(), open_cart.clone());
                                                act(version, error, async move { api::pull_into_cart(&id, cart.as_deref(), vec![(variant, 1)]).await.map(|_| ()) });
                                            };
                                            view! { <button class="secondary" on:click=add>"Add to cart"</button> }
                                        })}
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                }
                    .into_any()
            }}
        </article>
    }
}

/// The note being typed on the open briefing.
#[derive(Clone, Copy)]
struct NoteDraft(RwSignal<String>);

#[component]
fn Notes(
    b: StoredValue<Briefing>,
    version: RwSignal<u32>,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let mut notes = b.with_value(|b| b.profile.notes.clone());
    notes.sort_by_key(|n| std::cmp::Reverse(n.item.at));
    let id = b.with_value(|b| b.profile.id.to_string());
    let text = expect_context::<NoteDraft>().0;
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (id, note) = (id.clone(), text.get_untracked());
        if note.trim().is_empty() {
            return;
        }
        text.set(String::new());
        act(version, error, async move {
            api::add_note(&id, &note).await.map(|_| ())
        });
    };
    view! {
        <article class="card" data-testid="notes">
            <h2>"Notes"</h2>
            <form class="note-form" on:submit=save>
                <label for="note-text" class="visually-hidden">"New note"</label>
                <input id="note-text" class="text-input" type="text" maxlength="2000" placeholder="Add a note for colleagues" data-testid="note-text"
                    prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev)) />
                <button class="primary" type="submit" data-testid="add-note">"Add"</button>
            </form>
            <ul class="notes">
                {notes
                    .into_iter()
                    .map(|n| view! {
                        <li data-testid="note">
                            <p>{n.item.text.clone()}</p>
                            <span class="muted">{format!("{} · {}", n.item.author, api::when(n.item.at))}</span>
                        </li>
                    })
                    .collect_view()}
            </ul>
        </article>
    }
}

#[component]
fn History(b: StoredValue<Briefing>) -> impl IntoView {
    let events = expect_context::<AppEvents>();
    let CounterOutcome(returned) = expect_context::<CounterOutcome>();
    let mut purchases = b.with_value(|b| b.profile.purchases.clone());
    purchases.sort_by_key(|p| std::cmp::Reverse(p.item.at));
    let mut visits = b.with_value(|b| b.profile.visits.clone());
    visits.sort_by_key(|v| std::cmp::Reverse(v.item.at));
    view! {
        <article class="card" data-testid="purchases">
            <h2>"Purchases"</h2>
            {if purchases.is_empty() {
                view! { <p class="muted">"None yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="lines">
                        {purchases
                            .into_iter()
                            .take(6)
                            .map(|p| {
                                let names = p.item.lines.iter().map(|l| b.with_value(|b| b.products.get(l.product.as_str()).map(|g| g.product.name.clone())).unwrap_or_else(|| l.product.to_string())).collect::<Vec<_>>().join(", ");
                                let channel = match p.item.channel { Channel::Store => "in store", Channel::Web => "online", Channel::App => "in the app" };
                                // A sale rung up here can be brought back, a unit at a time.
                                let returns = (p.item.channel == Channel::Store).then(|| {
                                    p.item.lines.iter().map(|l| {
                                        let (sale, variant) = (p.id.clone(), l.variant.to_string());
                                        let label = format!("Return one {}", l.variant);
                                        let give_back = move |_| {
                                            let (sale, variant) = (sale.clone(), variant.clone());
                                            leptos::task::spawn_local(async move {
                                                match api::record_return(&sale, &variant, 1).await {
                                                    Ok(level) => {
                                                        returned.set(Some(Ok(format!("Returned one {variant}: {level} on hand."))));
                                                        events.data_version.update(|v| *v += 1);
                                                    }
                                                    Err(e) => returned.set(Some(Err(api::describe(&e)))),
                                                }
                                            });
                                        };
                                        view! { <button class="secondary small" data-testid="return-line" on:click=give_back>{label}</button> }
                                    }).collect_view()
                                });
                                // Or swapped for another size or colour of it that is here.
                                let exchanges = (p.item.channel == Channel::Store).then(|| {
                                    p.item.lines.iter().filter_map(|l| {
                                        let options: Vec<(String, String)> = b.with_value(|b| {
                                            b.products.get(l.product.as_str()).map(|g| {
                                                g.levels
                                                    .iter()
                                                    .filter(|v| v.variant != l.variant && v.available() > 0)
                                                    .map(|v| (v.variant.to_string(), format!("{} {}", v.colour, v.size)))
                                                    .collect()
                                            })
                                        })?;
                                        let first = options.first()?.0.clone();
                                        let instead = RwSignal::new(first);
                                        let (sale, back) = (p.id.clone(), l.variant.to_string());
                                        let swap = move |_| {
                                            let (sale, back, instead) = (sale.clone(), back.clone(), instead.get_untracked());
                                            leptos::task::spawn_local(async move {
                                                match api::record_exchange(sale, back.clone(), instead.clone()).await {
                                                    Ok(receipt) => {
                                                        let due = receipt.total_cents - receipt.refund_minor;
                                                        let settle = match due {
                                                            d if d > 0 => format!("they pay {}", api::money(d)),
                                                            d if d < 0 => format!("refund {}", api::money(-d)),
                                                            _ => "nothing to pay".to_string(),
                                                        };
                                                        returned.set(Some(Ok(format!("Exchanged {back} for {instead}: {settle}."))));
                                                        events.data_version.update(|v| *v += 1);
                                                    }
                                                    Err(e) => returned.set(Some(Err(api::describe(&e)))),
                                                }
                                            });
                                        };
                                        let choices = options
                                            .into_iter()
                                            .map(|(sku, label)| view! { <option value=sku>{label}</option> })
                                            .collect_view();
                                        Some(view! {
                                            <span class="exchange">
                                                <label class="visually-hidden" for=format!("exchange-{}-{}", p.id, l.variant)>"Exchange for"</label>
                                                <select id=format!("exchange-{}-{}", p.id, l.variant) data-testid="exchange-instead" on:change=move |ev| instead.set(event_target_value(&ev))>{choices}</select>
                                                <button class="secondary small" data-testid="exchange-line" on:click=swap>"Exchange"</button>
                                            </span>
                                        })
                                    }).collect_view()
                                });
                                view! {
                                    <li class="line" data-testid="purchase">
                                        <div class="line-text">
                                            <span class="line-name">{names}</span>
                                            <span class="muted">{format!("{} · {channel} · {}", api::when(p.item.at), api::money(p.item.total_cents))}</span>
                                        </div>
                                        {returns}
                                        {exchanges}
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                }
                    .into_any()
            }}
            {move || returned.get().map(|r| match r {
                Ok(m) => view! { <p class="ok" role="status" data-testid="return-recorded">{m}</p> }.into_any(),
                Err(m) => view! { <p class="error" role="alert">{m}</p> }.into_any(),
            })}
            <h2>"Visits"</h2>
            <p class="muted" data-testid="visits">
                {if visits.is_empty() { "No visits recorded.".to_string() } else {
                    visits.iter().take(5).map(|v| format!("{} {}", api::when(v.item.at), v.item.store)).collect::<Vec<_>>().join(" · ")
                }}
            </p>
        </article>
    }
}
