//! Stock lookup: find a product by name or scanned barcode, see sizes × colours here with
//! holds, and other stores' counts when online.

use aisle_core::model::{Role, StockGrid, StoreStock};
use leptos::prelude::*;

use super::product_image::ProductImage;
use super::stock_movements::{CountForm, IncomingTransfers, MovementForm, MovementList};
use crate::api;
use crate::app::{AppEvents, StockProduct};

#[component]
pub fn StockScreen() -> impl IntoView {
    let product = expect_context::<StockProduct>().0;
    let info = LocalResource::new(api::app_info);
    // Movements are a manager's: other tablets see stock, the relay refuses their movements.
    let manager = Signal::derive(move || {
        info.get()
            .and_then(Result::ok)
            .and_then(|i| i.enrolment)
            .is_some_and(|e| e.role == Role::Manager)
    });
    let query = RwSignal::new(String::new());
    let results = LocalResource::new(move || {
        let q = query.get();
        async move {
            if q.trim().is_empty() {
                Ok(Vec::new())
            } else {
                api::search_products(&q).await
            }
        }
    });
    // A scanner types the barcode and Enter: open the product straight away.
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() != "Enter" {
            return;
        }
        let q = event_target_value(&ev);
        leptos::task::spawn_local(async move {
            if let Ok(found) = api::search_products(&q).await
                && let Some(first) = found.first()
            {
                product.set(Some(first.sku.to_string()));
            }
        });
    };
    view! {
        <section class="screen" data-testid="screen-stock">
            <h1>"Stock"</h1>
            <div class="search">
                <label for="product-search" class="visually-hidden">"Search products"</label>
                <input
                    id="product-search"
                    class="search-input"
                    type="search"
                    placeholder="Product name, brand, SKU, or scan a barcode"
                    autocomplete="off"
                    data-testid="product-search"
                    prop:value=move || query.get()
                    on:input=move |ev| query.set(event_target_value(&ev))
                    on:keydown=on_key
                />
            </div>
            <Transition fallback=|| ()>
                {move || {
                    results
                        .get()
                        .map(|r| match r {
                            Ok(list) if list.is_empty() && !query.get().trim().is_empty() => {
                                view! { <p class="muted">"No product matches."</p> }.into_any()
                            }
                            Ok(list) => {
                                view! {
                                    <ul class="results" data-testid="product-results">
                                        {list
                                            .into_iter()
                                            .map(|p| {
                                                let sku = p.sku.to_string();
                                                view! {
                                                    <li>
                                                        <button class="result" on:click=move |_| product.set(Some(sku.clone()))>
                                                            <span class="result-name">{p.name.clone()}</span>
                                                            <span class="result-meta">{format!("{} · {} · {}", p.brand, p.sku, api::money(p.price_cents))}</span>
                                                        </button>
                                                    </li>
                                                }
                                            })
                                            .collect_view()}
                                    </ul>
                                }
                                    .into_any()
                            }
                            Err(e) => view! { <p class="error" role="alert">{api::describe(&e)}</p> }.into_any(),
                        })
                }}
            </Transition>
            {move || product.get().map(|sku| view! { <Grid sku=sku manager=manager/> })}
            <Show when=move || manager.get()>
                <IncomingTransfers/>
            </Show>
        </section>
    }
}

#[component]
fn Grid(sku: String, manager: Signal<bool>) -> impl IntoView {
    let events = expect_context::<AppEvents>();
    let movements_of = sku.clone();
    let grid = LocalResource::new({
        let sku = sku.clone();
        move || {
            events.data_version.track();
            let sku = sku.clone();
            async move { api::stock_grid(&sku).await }
        }
    });
    // The last grid read: the forms keep showing it while the next is read.
    let latest = RwSignal::new(None::<StockGrid>);
    Effect::new(move |_| {
        if let Some(Ok(g)) = grid.get() {
            latest.set(Some(g));
        }
    });
    let latest = Signal::from(latest);
    let nearby = LocalResource::new(move || {
        let sku = sku.clone();
        async move { api::nearby_stock(&sku).await }
    });
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading stock…"</p> }>
            {move || {
                grid.get()
                    .map(|r| match r {
                        Ok(g) => view! { <GridTable grid=g/> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{api::describe(&e)}</p> }.into_any(),
                    })
            }}
        </Suspense>
        // Built once per product, fed each reading of the grid: a form half filled in stays.
        <Show when=move || manager.get() && latest.with(Option::is_some)>
            <MovementForm grid=latest/>
            <CountForm grid=latest/>
        </Show>
        <Show when=move || manager.get()>
            <MovementList sku=movements_of.clone()/>
        </Show>
        <article class="card" data-testid="other-stores">
            <h2>"Other stores"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Asking the relay…"</p> }>
                {move || {
                    let here = grid.get().and_then(Result::ok).map(|g| g.store.to_string());
                    nearby
                        .get()
                        .map(|r| match r {
                            Ok(stores) => view! { <OtherStores stores=stores here=here.clone()/> }.into_any(),
                            Err(e) => view! { <p class="muted" data-testid="other-stores-offline">{api::describe(&e)}</p> }.into_any(),
                        })
                }}
            </Suspense>
        </article>
    }
}

#[component]
fn GridTable(grid: StockGrid) -> impl IntoView {
    let cell = |colour: &str, size: &str| {
        grid.levels
            .iter()
            .find(|l| l.colour == colour && l.size == size)
            .map(|l| (l.available(), l.on_hand, l.held))
    };
    let rows = grid
        .colours
        .iter()
        .map(|colour| {
            let cells = grid
                .sizes
                .iter()
                .map(|size| match cell(colour, size) {
                    Some((available, on_hand, held)) => {
                        let label = format!("{colour} {size}: {available} available, {on_hand} on hand, {held} held");
                        view! {
                            <td class="stock-cell" class:none=available <= 0 class:low=available == 1 aria-label=label>
                                <span class="stock-available">{available}</span>
                                {(held > 0).then(|| view! { <span class="stock-held">{format!("{held} held")}</span> })}
                            </td>
                        }
                        .into_any()
                    }
                    None => view! { <td class="stock-cell na">"–"</td> }.into_any(),
                })
                .collect_view();
            view! {
                <tr>
                    <th scope="row">{colour.clone()}</th>
                    {cells}
                </tr>
            }
        })
        .collect_view();
    view! {
        <article class="card wide" data-testid="stock-grid">
            <div class="product-head">
                <ProductImage image=grid.product.image.clone() category=grid.product.category large=true/>
                <div>
                    <h2>{grid.product.name.clone()}</h2>
                    {grid.product.discontinued.then(|| view! { <span class="badge" data-testid="discontinued">"Discontinued: no more coming"</span> })}
                    <p class="muted">{format!("{} · {} · {}", grid.product.brand, grid.product.sku, api::money(grid.product.price_cents))}</p>
                </div>
            </div>
            <div class="table-scroll">
                <table class="stock-table">
                    <caption class="visually-hidden">"Units available here by colour and size"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Colour / size"</th>
                            {grid.sizes.iter().map(|s| view! { <th scope="col">{s.clone()}</th> }).collect_view()}
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </article>
    }
}

#[component]
fn OtherStores(stores: Vec<StoreStock>, here: Option<String>) -> impl IntoView {
    view! {
        <table class="stock-table" data-testid="other-stores-table">
            <thead>
                <tr>
                    <th scope="col">"Store"</th>
                    <th scope="col">"Distance"</th>
                    <th scope="col">"Units available"</th>
                </tr>
            </thead>
            <tbody>
                {stores
                    .into_iter()
                    .filter(|s| Some(s.store.as_str()) != here.as_deref())
                    .map(|s| {
                        let total: i64 = s.available.values().sum();
                        view! {
                            <tr>
                                <th scope="row">{s.store_name.clone()}</th>
                                <td>{format!("{:.0} km", s.distance_km)}</td>
                                <td>{total}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
