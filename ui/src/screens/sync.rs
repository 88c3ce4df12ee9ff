//! Sync state in the UI: the indicator in the top bar, the first-sync progress bar, and the
//! enrolment form on Settings.

use aisle_core::model::{Connection, SyncStatus};
use leptos::prelude::*;

use crate::api;
use crate::app::AppEvents;

/// "14:02" for a time today, in the tablet's local time.
pub fn clock_time(millis: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(millis as f64));
    format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
}

fn changes(n: u64) -> String {
    if n == 1 {
        "1 change".into()
    } else {
        format!("{n} changes")
    }
}

/// One line about sync for the top bar, and a class for its colour.
fn describe(status: Option<&SyncStatus>) -> (String, &'static str) {
    let Some(s) = status else {
        return ("Not enrolled".into(), "sync-none");
    };
    match s.connection {
        Connection::Online => match (s.catch_up, s.pending) {
            (Some((_, 0)), _) => ("Checking for changes…".into(), "sync-busy"),
            (Some((done, total)), _) => (format!("Syncing {done} of {total}"), "sync-busy"),
            (None, 0) => ("Synced".into(), "sync-ok"),
            (None, n) => (format!("Sending {}", changes(n)), "sync-busy"),
        },
        Connection::Connecting => ("Connecting…".into(), "sync-busy"),
        Connection::Offline => {
            let waiting = if s.pending > 0 {
                format!(" · {} waiting", changes(s.pending))
            } else {
                String::new()
            };
            (
                format!("Offline since {}{waiting}", clock_time(s.since)),
                "sync-offline",
            )
        }
        Connection::Refused if s.removed_at.is_some() => (
            "Removed from the store · customer data deleted".into(),
            "sync-refused",
        ),
        Connection::Refused => ("Enrolment revoked".into(), "sync-refused"),
        Connection::Untrusted => ("Relay not trusted · nothing sent".into(), "sync-refused"),
    }
}

#[component]
pub fn SyncIndicator() -> impl IntoView {
    let events = expect_context::<AppEvents>();
    let text = move || describe(events.sync.get().as_ref());
    view! {
        <span
            class=move || format!("sync-status {}", text().1)
            role="status"
            aria-live="polite"
            data-testid="sync-status"
        >
            {move || text().0}
        </span>
    }
}

/// The first sync's progress, shown while a tablet catches up.
#[component]
pub fn CatchUpBar() -> impl IntoView {
    let events = expect_context::<AppEvents>();
    move || {
        events
            .sync
            .get()
            .and_then(|s| s.catch_up)
            // Nothing counted yet: the first feed page comes within moments of connecting.
            .filter(|(_, total)| *total > 0)
            .map(|(done, total)| {
                let percent = (done * 100).checked_div(total).unwrap_or(0);
                view! {
                    <div class="loading" data-testid="sync-progress">
                        <p>{format!("Getting this store's data: {done} of {total} documents")}</p>
                        <progress max="100" value=percent.to_string()></progress>
                    </div>
                }
            })
    }
}

#[component]
pub fn EnrolForm() -> impl IntoView {
    let events = expect_context::<AppEvents>();
    let relay = RwSignal::new("https://127.0.0.1:8787".to_string());
    let code = RwSignal::new(String::new());
    let ca = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let outcome = RwSignal::new(None::<Result<api::Enrolment, String>>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        outcome.set(None);
        leptos::task::spawn_local(async move {
            let result = api::enrol(
                &relay.get_untracked(),
                &code.get_untracked(),
                &ca.get_untracked(),
            )
            .await;
            busy.set(false);
            if result.is_ok() {
                events.enrolment_version.update(|v| *v += 1);
                code.set(String::new());
            }
            outcome.set(Some(result.map_err(|e| api::describe(&e))));
        });
    };
    view! {
        <form class="card form" on:submit=submit data-testid="enrol-form">
            <h2>"Enrol this tablet"</h2>
            <p class="muted">
                "Ask a manager for a one-time code from the store's relay. Its QR code holds everything: scanned or pasted into the code field, the address and fingerprint are not needed."
            </p>
            <label for="relay-url">"Relay address"</label>
            <input
                id="relay-url"
                class="text-input"
                type="url"
                data-testid="relay-url"
                prop:value=move || relay.get()
                on:input=move |ev| relay.set(event_target_value(&ev))
            />
            <label for="enrol-code">"Enrolment code"</label>
            <input
                id="enrol-code"
                class="text-input"
                autocomplete="off"
                autocapitalize="characters"
                placeholder="ABCDE-FGHJK"
                data-testid="enrol-code"
                prop:value=move || code.get()
                on:input=move |ev| code.set(event_target_value(&ev))
            />
            <label for="relay-ca">"Certificate fingerprint (relays with their own certificate authority)"</label>
            <input
                id="relay-ca"
                class="text-input"
                autocomplete="off"
                placeholder="AB:CD:…"
                data-testid="relay-ca"
                prop:value=move || ca.get()
                on:input=move |ev| ca.set(event_target_value(&ev))
            />
            <button class="primary" type="submit" disabled=move || busy.get() data-testid="enrol-submit">
                {move || if busy.get() { "Enrolling…" } else { "Enrol" }}
            </button>
            {move || {
                outcome
                    .get()
                    .map(|r| match r {
                        Ok(e) => {
                            view! {
                                <p class="success" data-testid="enrol-done">
                                    {format!("Enrolled as {} for {} ({}).", e.device, e.store, e.role.as_str())}
                                </p>
                            }
                                .into_any()
                        }
                        Err(message) => view! { <p class="error" role="alert">{message}</p> }.into_any(),
                    })
            }}
        </form>
    }
}

/// What Settings shows about the current enrolment and connection.
#[component]
pub fn SyncDetails() -> impl IntoView {
    let events = expect_context::<AppEvents>();
    let info = LocalResource::new(move || {
        events.enrolment_version.track();
        api::app_info()
    });
    view! {
        <Suspense fallback=|| ()>
            {move || {
                info.get()
                    .and_then(Result::ok)
                    .and_then(|i| i.enrolment)
                    .map(|e| {
                        view! {
                            <div class="card" data-testid="enrolment">
                                <h2>"This tablet"</h2>
                                <p>{format!("Device {} · {} · store {}", e.device, e.role.as_str(), e.store)}</p>
                                <p class="muted">{format!("Relay {}", e.relay_url)}</p>
                                {e.relay_ca.clone().map(|ca| {
                                    view! { <p class="muted fingerprint">{format!("Trusted by certificate {ca}")}</p> }
                                })}
                                {move || {
                                    events.sync.get().map(|s| {
                                        let last = s.last_synced_at.map(clock_time).unwrap_or_else(|| "not yet".into());
                                        // A refused change stays on the tablet; the associate is told
                                        // why, since only someone at the relay can settle it.
                                        let refused = s
                                            .refused
                                            .iter()
                                            .map(|r| {
                                                view! {
                                                    <p class="error" data-testid="push-refusal">
                                                        {format!("Not accepted by the relay ({}): {}", r.doc, r.message)}
                                                    </p>
                                                }
                                            })
                                            .collect_view();
                                        view! {
                                            <p class="muted">
                                                {format!("Last synced {last} · {} waiting to send", changes(s.pending))}
                                            </p>
                                            {refused}
                                            {s.removed_at.and(s.reason.clone()).map(|reason| {
                                                view! { <p class="error" data-testid="removed">{reason}</p> }
                                            })}
                                            // Said in full: IT has to act on it at the relay.
                                            {(s.connection == Connection::Untrusted)
                                                .then(|| s.reason.clone())
                                                .flatten()
                                                .map(|reason| {
                                                    view! {
                                                        <p class="error" data-testid="untrusted">
                                                            {format!("Not connecting to the relay: {reason}. Changes wait on this tablet. Ask IT to check the relay's certificate, or enrol this tablet again.")}
                                                        </p>
                                                    }
                                                })}
                                        }
                                    })
                                }}
                            </div>
                        }
                    })
            }}
        </Suspense>
    }
}
