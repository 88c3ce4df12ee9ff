//! The manager's view: the store's tablets and when they last synced, oversell conflicts to
//! settle with a recount, and KPIs over a chosen period drawn as SVG.

use aisle_core::model::{ConflictLine, DayKpis, DeviceHealth, Role, StoreKpis};
use leptos::prelude::*;

use crate::api;
use crate::app::AppEvents;

#[component]
pub fn ManagerScreen() -> impl IntoView {
    let events = expect_context::<AppEvents>();
    let info = LocalResource::new(move || {
        events.enrolment_version.track();
        api::app_info()
    });
    view! {
        <section class="screen" data-testid="screen-manager">
            <h1>"Manager"</h1>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    info.get()
                        .map(|r| match r.ok().and_then(|i| i.enrolment).map(|e| e.role) {
                            Some(Role::Manager) => view! { <ManagerBody/> }.into_any(),
                            _ => view! {
                                <div class="card notice" data-testid="not-manager">
                                    <p>"This view is for a store manager's tablet. Enrol a manager tablet in Settings to review sync health, conflicts and KPIs."</p>
                                </div>
                            }
                                .into_any(),
                        })
                }}
            </Suspense>
        </section>
    }
}

#[component]
fn ManagerBody() -> impl IntoView {
    view! {
        <div class="manager-grid">
            <Tablets/>
            <Conflicts/>
        </div>
        <TillDeliveries/>
        <StockOutlook/>
        <Kpis/>
        <SecurityLog/>
    }
}

/// The store's part of the relay's audit trail, newest first: enrolments, tablets removed or
/// reported lost, erasures, merges, devices slowed down for too many lookups or check-ins.
#[component]
fn SecurityLog() -> impl IntoView {
    let events = expect_context::<AppEvents>();
    let entries = LocalResource::new(move || {
        events.data_version.track();
        api::store_audit()
    });
    view! {
        <article class="card wide" data-testid="security-log">
            <h2>"Security log"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Asking the relay…"</p> }>
                {move || {
                    entries
                        .get()
                        .map(|r| match r {
                            Ok(list) if list.is_empty() => {
                                view! { <p class="muted">"Nothing recorded for this store yet."</p> }.into_any()
                            }
                            Ok(list) => {
                                view! {
                                    <ul class="lines">
                                        {list
                                            .into_iter()
                                            .rev()
                                            .take(50)
                                            .map(|e| {
                                                let what = e.action.as_str().replace('_', " ");
                                                let detail = if e.detail.is_empty() {
                                                    String::new()
                                                } else {
                                                    format!(" · {}", e.detail)
                                                };
                                                view! {
                                                    <li class="line" data-testid="audit-entry">
                                                        <div class="line-text">
                                                            <span class="line-name">{format!("{what}: {}", e.subject)}</span>
                                                            <span class="muted">{format!("{} · by {}{detail}", api::when(e.at), e.actor)}</span>
                                                        </div>
                                                    </li>
                                                }
                                            })
                                            .collect_view()}
                                    </ul>
                                }
                                    .into_any()
                            }
                            Err(e) => view! { <p class="muted" data-testid="security-log-offline">{api::describe(&e)}</p> }.into_any(),
                        })
                }}
            </Suspense>
        </article>
    }
}

/// Sales on their way to the till and those it acknowledged: what a manager checks when the
/// till says a sale is missing. Refreshed every few seconds while open.
#[component]
fn TillDeliveries() -> impl IntoView {
    let events = expect_context::<AppEvents>();
    let tick = RwSignal::new(0u32);
    let interval = leptos::prelude::set_interval_with_handle(
        move || tick.update(|t| *t += 1),
        std::time::Duration::from_secs(3),
    );
    on_cleanup(move || {
        if let Ok(handle) = interval {
            handle.clear();
        }
    });
    let status = LocalResource::new(move || {
        events.data_version.track();
        tick.track();
        api::till_status()
    });
    view! {
        <article class="card wide" data-testid="till">
            <h2>"Sales to the till"</h2>
            <Transition fallback=|| view! { <p class="muted">"Asking the relay…"</p> }>
                {move || status.get().map(|r| match r {
                    Ok(status) => {
                        let summary = match (status.connected, status.waiting) {
                            (false, 0) => "No till is connected to the relay.".to_string(),
                            (false, n) => format!("No till is connected: {n} sale{} waiting.", if n == 1 { "" } else { "s" }),
                            (true, 0) => "Every sale has reached the till.".to_string(),
                            (true, n) => format!("{n} sale{} on the way to the till.", if n == 1 { "" } else { "s" }),
                        };
                        view! {
                            <p class="muted" data-testid="till-summary">{summary}</p>
                            <ul class="lines">
                                {status.deliveries.into_iter().take(20).map(|d| {
                                    let state = match (d.delivered_at, &d.last_error) {
                                        (Some(at), _) => format!(
                                            "Delivered {}{}",
                                            api::when(at),
                                            d.reference.as_ref().map(|r| format!(" · till ref {r}")).unwrap_or_default()
                                        ),
                                        (None, Some(error)) => format!(
                                            "Not delivered after {} attempt{}: {error}. Next try {}",
                                            d.attempts,
                                            if d.attempts == 1 { "" } else { "s" },
                                            d.next_attempt_at.map(api::when).unwrap_or_default()
                                        ),
                                        (None, None) => "Waiting to be sent".to_string(),
                                    };
                                    let delivered = d.delivered_at.is_some();
                                    let failing = !delivered && d.attempts > 0;
                                    view! {
                                        <li class="line" data-testid="till-delivery" data-delivered=delivered.to_string()>
                                            <div class="line-text">
                                                <span class="line-name">{format!("{} at {} · {}", if d.event == "return" { "Return" } else { "Sale" }, api::when(d.recorded_at), api::money(d.total_minor))}</span>
                                                <span class="muted" class:error=failing>{state}</span>
                                            </div>
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any()
                    }
                    Err(e) => view! { <p class="muted" data-testid="till-offline">{api::describe(&e)}</p> }.into_any(),
                })}
            </Transition>
        </article>
    }
}

#[component]
fn Tablets() -> impl IntoView {
    let events = expect_context::<AppEvents>();
    let devices = LocalResource::new(move || {
        events.data_version.track();
        api::store_devices()
    });
    let own = move || {
        events.sync.get().map(|s| {
            format!(
                "This tablet: {} change(s) waiting to sync{}",
                s.pending,
                s.last_synced_at
                    .map(|at| format!(", last synced {}", api::when(at)))
                    .unwrap_or_default()
            )
        })
    };
    view! {
        <article class="card" data-testid="tablets">
            <h2>"Tablets"</h2>
            <p class="muted" data-testid="own-pending">{own}</p>
            <Suspense fallback=|| view! { <p class="muted">"Asking the relay…"</p> }>
                {move || {
                    devices
                        .get()
                        .map(|r| match r {
                            Ok(list) => view! { <DeviceList devices=list/> }.into_any(),
                            Err(e) => view! { <p class="muted" data-testid="tablets-offline">{api::describe(&e)}</p> }.into_any(),
                        })
                }}
            </Suspense>
        </article>
    }
}

#[component]
fn DeviceList(devices: Vec<DeviceHealth>) -> impl IntoView {
    view! {
        <ul class="lines">
            {devices
                .into_iter()
                .map(|d| {
                    let state = if d.revoked {
                        "revoked".to_string()
                    } else if d.online {
                        "online now".to_string()
                    } else {
                        d.last_seen_at
                            .map(|at| format!("offline · last synced {} ({} ago)", api::when(at), api::age(at)))
                            .unwrap_or_else(|| "never synced".into())
                    };
                    view! {
                        <li class="line" data-testid="device">
                            <span class="dot" class:ok=d.online class:no=!d.online aria-hidden="true"></span>
                            <div class="line-text">
                                <span class="line-name">{format!("{} ({})", d.name, d.role.as_str())}</span>
                                <span class="muted">{state}</span>
                            </div>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}

/// What runs out within the chosen horizon at the current rate of sale, and what customers
/// want that is not here.
#[component]
fn StockOutlook() -> impl IntoView {
    let events = expect_context::<AppEvents>();
    let horizon = RwSignal::new(14u32);
    let alerts = LocalResource::new(move || {
        events.data_version.track();
        let d = horizon.get();
        async move { api::stock_alerts(d).await }
    });
    view! {
        <article class="card wide" data-testid="stock-outlook">
            <div class="kpi-head">
                <h2>"Stock outlook"</h2>
                <div class="segmented" role="group" aria-label="Horizon">
                    {[7u32, 14, 30].into_iter().map(|d| view! {
                        <button class:active=move || horizon.get() == d aria-pressed=move || (horizon.get() == d).to_string()
                            data-testid=format!("horizon-{d}") on:click=move |_| horizon.set(d)>
                            {format!("{d} days")}
                        </button>
                    }).collect_view()}
                </div>
            </div>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    alerts.get().map(|r| match r {
                        Ok(list) if list.alerts.is_empty() => view! { <p class="muted">"Nothing runs out in that time."</p> }.into_any(),
                        Ok(list) => view! {
                            <p class="muted">{format!("{} variants; most urgent first.", list.total)}</p>
                            <ul class="lines">
                                {list.alerts.into_iter().map(|a| view! {
                                    <li class="line" data-testid="outlook-line">
                                        <div class="line-text">
                                            <span class="line-name">{a.product_name.clone()}</span>
                                            <span class="muted" class:error=a.available <= 0>{format!("{} · {} · {}", a.colour, a.size, crate::screens::floor::alert_text(&a))}</span>
                                        </div>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{api::describe(&e)}</p> }.into_any(),
                    })
                }}
            </Suspense>
        </article>
    }
}

#[component]
fn Conflicts() -> impl IntoView {
    let events = expect_context::<AppEvents>();
    let version = RwSignal::new(0u32);
    let conflicts = LocalResource::new(move || {
        events.data_version.track();
        version.track();
        api::conflicts()
    });
    let error = RwSignal::new(None::<String>);
    view! {
        <article class="card" data-testid="conflicts">
            <h2>"Conflicts"</h2>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    conflicts
                        .get()
                        .map(|r| match r {
                            Ok(list) if list.is_empty() => view! { <p class="muted">"No conflicts."</p> }.into_any(),
                            Ok(list) => view! {
                                <ul class="lines">
                                    {list.into_iter().map(|c| view! { <ConflictRow line=c version=version error=error/> }).collect_view()}
                                </ul>
                            }
                                .into_any(),
                            Err(e) => view! { <p class="error" role="alert">{api::describe(&e)}</p> }.into_any(),
                        })
                }}
            </Suspense>
        </article>
    }
}

#[component]
fn ConflictRow(
    line: ConflictLine,
    version: RwSignal<u32>,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let conflict = line.conflict;
    let counted = RwSignal::new("0".to_string());
    let id = conflict.id.clone();
    let resolve = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Ok(n) = counted.get_untracked().trim().parse::<i64>() else {
            error.set(Some(
                "Enter the number of units counted on the shelf.".into(),
            ));
            return;
        };
        let id = id.clone();
        leptos::task::spawn_local(async move {
            match api::resolve_conflict(&id, n).await {
                Ok(_) => {
                    error.set(None);
                    version.update(|v| *v += 1);
                }
                Err(e) => error.set(Some(api::describe(&e))),
            }
        });
    };
    let title = format!(
        "Oversold: {} · {} · {} at {} (stock went to {})",
        line.product_name, line.colour, line.size, conflict.store, conflict.on_hand
    );
    let input_id = format!("count-{}", conflict.id);
    match conflict.resolved_at {
        Some(at) => view! {
            <li class="line resolved" data-testid="conflict-resolved">
                <div class="line-text">
                    <span class="line-name">{title}</span>
                    <span class="muted">{format!("Resolved {} by {}", api::when(at), conflict.resolved_by.map(|b| b.to_string()).unwrap_or_else(|| "another tablet".into()))}</span>
                </div>
            </li>
        }
            .into_any(),
        None => view! {
            <li class="line" data-testid="conflict-open">
                <div class="line-text">
                    <span class="line-name">{title}</span>
                    <span class="muted">{format!("Found {}. Count the shelf and record it.", api::when(conflict.detected_at))}</span>
                </div>
                <form class="resolve-form" on:submit=resolve>
                    <label for=input_id.clone()>"Counted"</label>
                    <input id=input_id type="number" min="0" inputmode="numeric" data-testid="counted"
                        prop:value=move || counted.get() on:input=move |ev| counted.set(event_target_value(&ev)) />
                    <button class="primary" type="submit" data-testid="resolve-conflict">"Resolve"</button>
                </form>
            </li>
        }
            .into_any(),
    }
}

#[component]
fn Kpis() -> impl IntoView {
    let events = expect_context::<AppEvents>();
    let days = RwSignal::new(7u32);
    let kpis = LocalResource::new(move || {
        events.data_version.track();
        let d = days.get();
        async move { api::store_kpis(d).await }
    });
    let exported = RwSignal::new(None::<Result<String, String>>);
    let export = move |_| {
        let d = days.get_untracked();
        leptos::task::spawn_local(async move {
            exported.set(Some(match api::export_kpis(d).await {
                Ok(paths) => Ok(format!("Saved {}", paths.join(" and "))),
                Err(e) => Err(api::describe(&e)),
            }));
        });
    };
    view! {
        <article class="card wide" data-testid="kpis">
            <div class="kpi-head">
                <h2>"How the store did"</h2>
                <div class="segmented" role="group" aria-label="Period">
                    {[7u32, 14, 30]
                        .into_iter()
                        .map(|d| view! {
                            <button class:active=move || days.get() == d aria-pressed=move || (days.get() == d).to_string()
                                data-testid=format!("period-{d}") on:click=move |_| days.set(d)>
                                {format!("{d} days")}
                            </button>
                        })
                        .collect_view()}
                </div>
                <button class="secondary" data-testid="export-kpis" on:click=export>"Export CSV"</button>
            </div>
            {move || exported.get().map(|r| match r {
                Ok(m) => view! { <p class="ok" role="status" data-testid="kpis-exported">{m}</p> }.into_any(),
                Err(m) => view! { <p class="error" role="alert">{m}</p> }.into_any(),
            })}
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    kpis.get()
                        .map(|r| match r {
                            Ok(k) => view! { <KpiCharts kpis=k/> }.into_any(),
                            Err(e) => view! { <p class="error" role="alert">{api::describe(&e)}</p> }.into_any(),
                        })
                }}
            </Suspense>
        </article>
    }
}

#[component]
fn KpiCharts(kpis: StoreKpis) -> impl IntoView {
    let total = |f: fn(&DayKpis) -> u64| kpis.days.iter().map(f).sum::<u64>();
    let revenue: i64 = kpis.days.iter().map(|d| d.revenue_cents).sum();
    let series = |f: fn(&DayKpis) -> u64| {
        kpis.days
            .iter()
            .map(|d| (d.day_start, f(d)))
            .collect::<Vec<_>>()
    };
    view! {
        <div class="stats">
            <div class="stat" data-testid="kpi-checkins"><span class="stat-value">{total(|d| d.check_ins)}</span><span class="stat-label">"Check-ins"</span></div>
            <div class="stat" data-testid="kpi-assisted"><span class="stat-value">{total(|d| d.assisted)}</span><span class="stat-label">"Assisted sessions"</span></div>
            <div class="stat" data-testid="kpi-converted"><span class="stat-value">{total(|d| d.online_carts_converted)}</span><span class="stat-label">"Online carts converted"</span></div>
            <div class="stat" data-testid="kpi-revenue"><span class="stat-value">{api::money(revenue)}</span><span class="stat-label">"Sales"</span></div>
        </div>
        <div class="charts">
            <BarChart title="Check-ins per day" points=series(|d| d.check_ins)/>
            <BarChart title="Assisted sessions per day" points=series(|d| d.assisted)/>
            <BarChart title="Online carts converted in store" points=series(|d| d.online_carts_converted)/>
            <AssociateChart kpis=kpis.clone()/>
        </div>
    }
}

const CHART_W: f64 = 320.0;
const CHART_H: f64 = 140.0;

/// Vertical bars, one per day, with the day's value as the bar's title for screen readers.
#[component]
fn BarChart(title: &'static str, points: Vec<(i64, u64)>) -> impl IntoView {
    let max = points.iter().map(|p| p.1).max().unwrap_or(0).max(1) as f64;
    let n = points.len().max(1) as f64;
    let slot = CHART_W / n;
    let bar = (slot * 0.7).max(2.0);
    let bars = points
        .iter()
        .enumerate()
        .map(|(i, (day, value))| {
            let h = (*value as f64 / max) * (CHART_H - 20.0);
            let x = i as f64 * slot + (slot - bar) / 2.0;
            let y = CHART_H - 16.0 - h;
            let label = format!("{}: {value}", api::when(*day));
            view! {
                <rect class="bar" x=format!("{x:.1}") y=format!("{y:.1}") width=format!("{bar:.1}") height=format!("{h:.1}")>
                    <title>{label}</title>
                </rect>
            }
        })
        .collect_view();
    let first = points.first().map(|p| api::when(p.0)).unwrap_or_default();
    let last = points.last().map(|p| api::when(p.0)).unwrap_or_default();
    view! {
        <figure class="chart">
            <figcaption>{title}</figcaption>
            <svg viewBox=format!("0 0 {CHART_W} {CHART_H}") role="img" aria-label=title>
                <line class="axis" x1="0" y1=CHART_H - 16.0 x2=CHART_W y2=CHART_H - 16.0/>
                {bars}
                <text class="axis-label" x="0" y=CHART_H - 2.0>{first}</text>
                <text class="axis-label" x=CHART_W y=CHART_H - 2.0 text-anchor="end">{last}</text>
                <text class="axis-label" x="0" y="10">{format!("max {}", max as u64)}</text>
            </svg>
        </figure>
    }
}

#[component]
fn AssociateChart(kpis: StoreKpis) -> impl IntoView {
    let max = kpis
        .by_associate
        .iter()
        .map(|a| a.revenue_cents)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let row_h = 22.0;
    let height = (kpis.by_associate.len().max(1) as f64) * row_h + 4.0;
    let rows = kpis
        .by_associate
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let y = i as f64 * row_h + 2.0;
            let w = (a.revenue_cents as f64 / max) * (CHART_W - 130.0);
            view! {
                <g>
                    <text class="axis-label" x="0" y=y + 14.0>{a.associate.to_string()}</text>
                    <rect class="bar" x="90" y=y width=format!("{w:.1}") height=row_h - 6.0>
                        <title>{format!("{}: {} sales, {}", a.associate, a.sales, api::money(a.revenue_cents))}</title>
                    </rect>
                    <text class="axis-label" x=format!("{:.1}", 94.0 + w) y=y + 14.0>{api::money(a.revenue_cents)}</text>
                </g>
            }
        })
        .collect_view();
    view! {
        <figure class="chart" data-testid="sales-by-associate">
            <figcaption>"Sales by associate"</figcaption>
            {if kpis.by_associate.is_empty() {
                view! { <p class="muted">"No sales in this period."</p> }.into_any()
            } else {
                view! { <svg viewBox=format!("0 0 {CHART_W} {height}") role="img" aria-label="Sales by associate">{rows}</svg> }.into_any()
            }}
        </figure>
    }
}
