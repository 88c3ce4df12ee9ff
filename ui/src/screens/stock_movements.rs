//! A manager's stock movements on the Stock screen: a delivery received, damage, a transfer
//! sent to another store, a shelf count of the product open, the transfers on their way here,
//! and the product's last movements.

use aisle_core::model::{IncomingTransfer, MovementKind, StockGrid, StockMovement};
use leptos::prelude::*;

use crate::api;
use crate::app::AppEvents;

/// Something local changed: every screen that reads the tablet's data refetches.
fn changed(events: AppEvents) {
    events.data_version.update(|v| *v += 1);
}

/// "Navy M" for a variant of the grid.
fn variant_label(grid: &StockGrid, variant: &str) -> String {
    grid.levels
        .iter()
        .find(|l| l.variant.as_str() == variant)
        .map(|l| format!("{} {}", l.colour, l.size))
        .unwrap_or_else(|| variant.to_string())
}

/// Delivery, damage or a transfer sent, for one variant of the product open. Built once for
/// the product: what the manager is typing stays when the grid is read again (a sync landing,
/// the movement just recorded).
#[component]
pub fn MovementForm(grid: Signal<Option<StockGrid>>) -> impl IntoView {
    let events = expect_context::<AppEvents>();
    let kind = RwSignal::new(MovementKind::Delivery);
    // Empty until chosen: the first size of the grid.
    let chosen = RwSignal::new(String::new());
    let variant = Signal::derive(move || {
        let picked = chosen.get();
        if !picked.is_empty() {
            return picked;
        }
        grid.with(|g| {
            g.as_ref()
                .and_then(|g| g.levels.first())
                .map(|l| l.variant.to_string())
                .unwrap_or_default()
        })
    });
    let quantity = RwSignal::new(String::from("1"));
    let to_store = RwSignal::new(String::new());
    let note = RwSignal::new(String::new());
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let stores = LocalResource::new(api::stores);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Ok(n) = quantity.get_untracked().trim().parse::<i64>() else {
            outcome.set(Some(Err("Enter how many units, as a whole number.".into())));
            return;
        };
        let (k, v, t, text) = (
            kind.get_untracked(),
            variant.get_untracked(),
            to_store.get_untracked(),
            note.get_untracked(),
        );
        let target = (k == MovementKind::TransferOut)
            .then_some(t)
            .filter(|t| !t.is_empty());
        let label = grid.with_untracked(|g| {
            g.as_ref()
                .map(|g| variant_label(g, &v))
                .unwrap_or_else(|| v.clone())
        });
        leptos::task::spawn_local(async move {
            match api::record_stock_movement(k, &v, n, target, &text).await {
                Ok(receipt) => {
                    let message = match receipt.transfer {
                        Some(reference) => format!(
                            "Transfer {reference} sent: {n} × {label}. {} left on hand.",
                            receipt.on_hand
                        ),
                        None => format!(
                            "{}: {n} × {label}. {} on hand now.",
                            k.label(),
                            receipt.on_hand
                        ),
                    };
                    outcome.set(Some(Ok(message)));
                    note.set(String::new());
                    changed(events);
                }
                Err(e) => outcome.set(Some(Err(api::describe(&e)))),
            }
        });
    };
    let kinds = [
        MovementKind::Delivery,
        MovementKind::Damage,
        MovementKind::TransferOut,
    ];
    let options = move || {
        grid.get()
            .map(|g| {
                g.levels
                    .into_iter()
                    .map(|l| {
                        let v = l.variant.to_string();
                        let label = format!("{} {} ({} on hand)", l.colour, l.size, l.on_hand);
                        let value = v.clone();
                        view! { <option value=value selected=move || variant.get() == v>{label}</option> }
                    })
                    .collect_view()
            })
    };
    let store_options = move || {
        let here = grid.with(|g| g.as_ref().map(|g| g.store.to_string()).unwrap_or_default());
        stores
            .get()
            .and_then(Result::ok)
            .unwrap_or_default()
            .into_iter()
            .filter(move |s| s.id.as_str() != here)
            .map(|s| {
                let id = s.id.to_string();
                view! { <option value=id.clone() selected=move || to_store.get() == id>{s.name.clone()}</option> }
            })
            .collect_view()
    };
    view! {
        <article class="card" data-testid="movement-form">
            <h2>"Record a stock movement"</h2>
            <form class="stack" on:submit=submit>
                <label for="movement-kind">"What happened"</label>
                <select id="movement-kind" data-testid="movement-kind"
                    on:change=move |ev| {
                        if let Some(k) = MovementKind::parse(&event_target_value(&ev)) {
                            kind.set(k);
                        }
                    }>
                    {kinds
                        .into_iter()
                        .map(|k| view! { <option value=k.as_str() selected=move || kind.get() == k>{k.label()}</option> })
                        .collect_view()}
                </select>
                <label for="movement-variant">"Colour and size"</label>
                <select id="movement-variant" data-testid="movement-variant"
                    on:change=move |ev| chosen.set(event_target_value(&ev))>
                    {options}
                </select>
                <label for="movement-quantity">"Units"</label>
                <input id="movement-quantity" type="number" min="1" inputmode="numeric" data-testid="movement-quantity"
                    prop:value=move || quantity.get() on:input=move |ev| quantity.set(event_target_value(&ev)) />
                <Show when=move || kind.get() == MovementKind::TransferOut>
                    <label for="movement-store">"To store"</label>
                    <select id="movement-store" data-testid="movement-store"
                        on:change=move |ev| to_store.set(event_target_value(&ev))>
                        <option value="" selected=move || to_store.get().is_empty()>"Choose a store"</option>
                        {store_options}
                    </select>
                </Show>
                <label for="movement-note">"Note (delivery note, what happened)"</label>
                <input id="movement-note" type="text" maxlength="200" data-testid="movement-note"
                    prop:value=move || note.get() on:input=move |ev| note.set(event_target_value(&ev)) />
                <button class="primary" type="submit" data-testid="record-movement">"Record"</button>
            </form>
            {move || outcome.get().map(|o| match o {
                Ok(m) => view! { <p class="ok" role="status" data-testid="movement-recorded">{m}</p> }.into_any(),
                Err(m) => view! { <p class="error" role="alert" data-testid="movement-error">{m}</p> }.into_any(),
            })}
        </article>
    }
}

/// A shelf count of the product open: the variants given a number are counted, the rest
/// are left as they are (a partial count). What is typed stays while the grid is read again.
#[component]
pub fn CountForm(grid: Signal<Option<StockGrid>>) -> impl IntoView {
    let events = expect_context::<AppEvents>();
    let outcome = RwSignal::new(None::<Result<String, String>>);
    // Variant → what was typed for it.
    let entered = RwSignal::new(std::collections::BTreeMap::<String, String>::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let labels = grid.with_untracked(|g| {
            g.as_ref()
                .map(|g| {
                    g.levels
                        .iter()
                        .map(|l| (l.variant.to_string(), format!("{} {}", l.colour, l.size)))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        });
        let typed = entered.get_untracked();
        let mut lines = Vec::new();
        for (variant, label) in &labels {
            let Some(text) = typed.get(variant).filter(|t| !t.trim().is_empty()) else {
                continue;
            };
            match text.trim().parse::<i64>() {
                Ok(n) => lines.push((variant.clone(), n)),
                Err(_) => {
                    outcome.set(Some(Err(format!(
                        "{label}: enter the units counted as a whole number."
                    ))));
                    return;
                }
            }
        }
        if lines.is_empty() {
            outcome.set(Some(Err(
                "Enter what was counted for at least one size.".into()
            )));
            return;
        }
        let n = lines.len();
        leptos::task::spawn_local(async move {
            match api::count_stock(lines, "Shelf count").await {
                Ok(_) => {
                    outcome.set(Some(Ok(format!(
                        "Count saved for {n} size{}.",
                        if n == 1 { "" } else { "s" }
                    ))));
                    entered.set(Default::default());
                    changed(events);
                }
                Err(e) => outcome.set(Some(Err(api::describe(&e)))),
            }
        });
    };
    let rows = move || {
        grid.get().map(|g| {
            g.levels
                .into_iter()
                .map(|l| {
                    let variant = l.variant.to_string();
                    let id = format!("count-{variant}");
                    let key = variant.clone();
                    let shown = move || entered.with(|e| e.get(&key).cloned().unwrap_or_default());
                    let typed = variant.clone();
                    view! {
                        <tr>
                            <th scope="row"><label for=id.clone()>{format!("{} {}", l.colour, l.size)}</label></th>
                            <td>{l.on_hand}</td>
                            <td>
                                <input id=id type="number" min="0" inputmode="numeric" class="count-input"
                                    data-testid=format!("count-{variant}")
                                    prop:value=shown
                                    on:input=move |ev| {
                                        let value = event_target_value(&ev);
                                        entered.update(|e| {
                                            e.insert(typed.clone(), value);
                                        });
                                    } />
                            </td>
                        </tr>
                    }
                })
                .collect_view()
        })
    };
    view! {
        <article class="card" data-testid="count-form">
            <h2>"Count the shelf"</h2>
            <p class="muted">"Enter what is on the shelf for the sizes counted; the others stay as they are."</p>
            <form on:submit=submit>
                <table class="stock-table">
                    <thead>
                        <tr><th scope="col">"Colour / size"</th><th scope="col">"On hand"</th><th scope="col">"Counted"</th></tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
                <button class="primary" type="submit" data-testid="save-count">"Save count"</button>
            </form>
            {move || outcome.get().map(|o| match o {
                Ok(m) => view! { <p class="ok" role="status" data-testid="count-saved">{m}</p> }.into_any(),
                Err(m) => view! { <p class="error" role="alert" data-testid="count-error">{m}</p> }.into_any(),
            })}
        </article>
    }
}

/// The product's last movements here.
#[component]
pub fn MovementList(sku: String) -> impl IntoView {
    let events = expect_context::<AppEvents>();
    let movements = LocalResource::new(move || {
        events.data_version.track();
        let sku = sku.clone();
        async move { api::stock_movements(&sku).await }
    });
    view! {
        <article class="card" data-testid="movements">
            <h2>"Recent movements"</h2>
            <Suspense fallback=|| ()>
                {move || movements.get().map(|r| match r {
                    Ok(list) if list.is_empty() => view! { <p class="muted">"No deliveries, transfers or counts yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <ul class="lines" data-testid="movement-list">
                            {list.into_iter().map(|m| view! { <MovementRow movement=m/> }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{api::describe(&e)}</p> }.into_any(),
                })}
            </Suspense>
        </article>
    }
}

#[component]
fn MovementRow(movement: StockMovement) -> impl IntoView {
    let what = match (movement.kind, movement.counted) {
        (MovementKind::Count, Some(counted)) => format!("Count: {counted} ({:+})", movement.delta),
        (kind, _) => format!("{}: {:+}", kind.label(), movement.delta),
    };
    let whom = match (&movement.other_store, &movement.transfer) {
        (Some(store), Some(transfer)) => format!(" · {store} · {transfer}"),
        _ => String::new(),
    };
    let note = (!movement.note.is_empty()).then(|| format!(" · {}", movement.note));
    view! {
        <li class="line" data-testid="movement" data-kind=movement.kind.as_str()>
            <div class="line-text">
                <span class="line-name">{format!("{} {} · {what}", movement.colour, movement.size)}</span>
                <span class="muted">{format!("{} by {}{whom}{}", api::when(movement.at), movement.by, note.unwrap_or_default())}</span>
            </div>
        </li>
    }
}

/// Transfers on their way here, each received in one tap (as sent) or with fewer units.
#[component]
pub fn IncomingTransfers() -> impl IntoView {
    let events = expect_context::<AppEvents>();
    let transfers = LocalResource::new(move || {
        events.data_version.track();
        api::incoming_transfers()
    });
    view! {
        <article class="card" data-testid="incoming-transfers">
            <h2>"Transfers on their way here"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Asking the relay…"</p> }>
                {move || transfers.get().map(|r| match r {
                    Ok(list) if list.is_empty() => view! { <p class="muted" data-testid="no-transfers">"Nothing on its way."</p> }.into_any(),
                    Ok(list) => view! {
                        <ul class="lines">
                            {list.into_iter().map(|t| view! { <IncomingRow transfer=t/> }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(e) => view! { <p class="muted" data-testid="transfers-offline">{api::describe(&e)}</p> }.into_any(),
                })}
            </Suspense>
        </article>
    }
}

#[component]
fn IncomingRow(transfer: IncomingTransfer) -> impl IntoView {
    let events = expect_context::<AppEvents>();
    let error = RwSignal::new(None::<String>);
    let lines: Vec<(String, String, RwSignal<String>)> = transfer
        .lines
        .iter()
        .filter(|l| l.received < l.sent)
        .map(|l| {
            (
                l.variant.to_string(),
                format!("{} · {} {}", l.product_name, l.colour, l.size),
                RwSignal::new((l.sent - l.received).to_string()),
            )
        })
        .collect();
    let entered = lines.clone();
    let (reference, from) = (transfer.transfer.clone(), transfer.from_store.to_string());
    let receive = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut received = Vec::new();
        for (variant, label, value) in &entered {
            match value.get_untracked().trim().parse::<i64>() {
                Ok(0) => {}
                Ok(n) => received.push((variant.clone(), n)),
                Err(_) => {
                    error.set(Some(format!("{label}: enter the units that arrived.")));
                    return;
                }
            }
        }
        let (reference, from) = (reference.clone(), from.clone());
        leptos::task::spawn_local(async move {
            match api::receive_transfer(&reference, &from, received).await {
                Ok(_) => {
                    error.set(None);
                    changed(events);
                }
                Err(e) => error.set(Some(api::describe(&e))),
            }
        });
    };
    view! {
        <li class="line" data-testid="incoming-transfer">
            <form class="stack" on:submit=receive>
                <span class="line-name">{format!("{} from {} · sent {}", transfer.transfer, transfer.from_store_name, api::when(transfer.sent_at))}</span>
                {lines
                    .into_iter()
                    .map(|(variant, label, value)| {
                        let id = format!("receive-{}-{variant}", transfer.transfer);
                        view! {
                            <label for=id.clone()>{label}</label>
                            <input id=id type="number" min="0" inputmode="numeric" data-testid="receive-quantity"
                                prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev)) />
                        }
                    })
                    .collect_view()}
                <button class="primary" type="submit" data-testid="receive-transfer">"Receive"</button>
                {move || error.get().map(|m| view! { <p class="error" role="alert">{m}</p> })}
            </form>
        </li>
    }
}
