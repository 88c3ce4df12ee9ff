//! The entry kiosk: full screen, one job. The customer scans their loyalty QR (camera or a
//! fixed scanner, which types into the hidden field) or taps their card; the kiosk says hello,
//! asks a first-time visitor about in-store personalisation, and the associates' tablets show
//! them as just arrived.

use aisle_core::model::KioskWelcome;
use leptos::prelude::*;

use crate::api;
use crate::app::AppEvents;
use crate::screens::scan::Camera;

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    Welcome,
    Working,
    Greeting {
        welcome: KioskWelcome,
        code: Option<String>,
        nfc_uid: Option<String>,
    },
    Thanks,
    Problem(String),
}

/// Back to the welcome after this long, so the next customer finds it ready.
const RESET_MS: u64 = 8_000;

#[component]
pub fn KioskScreen() -> impl IntoView {
    let events = expect_context::<AppEvents>();
    let phase = RwSignal::new(Phase::Welcome);
    let camera = RwSignal::new(false);
    let input = NodeRef::<leptos::html::Input>::new();
    let generation = StoredValue::new(0u32);

    // Each new screen state returns to the welcome later, unless something newer happened.
    let reset_later = move || {
        generation.update_value(|g| *g += 1);
        let mine = generation.get_value();
        set_timeout(
            move || {
                if generation.get_value() == mine {
                    phase.set(Phase::Welcome);
                    if let Some(i) = input.get_untracked() {
                        let _ = i.focus();
                    }
                }
            },
            std::time::Duration::from_millis(RESET_MS),
        );
    };
    let check_in = move |code: Option<String>, nfc_uid: Option<String>| {
        phase.set(Phase::Working);
        camera.set(false);
        leptos::task::spawn_local(async move {
            match api::kiosk_check_in(code.as_deref(), nfc_uid.as_deref()).await {
                Ok(welcome) => phase.set(Phase::Greeting {
                    welcome,
                    code,
                    nfc_uid,
                }),
                Err(e) => phase.set(Phase::Problem(e.message)),
            }
            reset_later();
        });
    };
    // A card tapped on the kiosk's reader (since this screen opened).
    let opened_after = events.card.get_untracked().map_or(0, |(n, _)| n);
    Effect::new(move |_| {
        if let Some((seq, tap)) = events.card.get()
            && seq > opened_after
        {
            if let Some(problem) = tap.problem.clone().filter(|_| tap.uid.is_empty()) {
                phase.set(Phase::Problem(problem));
                reset_later();
            } else {
                check_in(tap.token.clone(), Some(tap.uid.clone()));
            }
        }
    });
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Enter" {
            let code = event_target_value(&ev);
            if let Some(i) = input.get_untracked() {
                i.set_value("");
            }
            if !code.trim().is_empty() {
                check_in(Some(code), None);
            }
        }
    };
    let on_camera_code = Callback::new(move |code: String| check_in(Some(code), None));
    let answer = move |granted: bool| {
        let Phase::Greeting { code, nfc_uid, .. } = phase.get_untracked() else {
            return;
        };
        leptos::task::spawn_local(async move {
            match api::kiosk_consent(code.as_deref(), nfc_uid.as_deref(), granted).await {
                Ok(()) => phase.set(Phase::Thanks),
                Err(e) => phase.set(Phase::Problem(e.message)),
            }
            reset_later();
        });
    };

    view! {
        <section class="kiosk" data-testid="screen-kiosk">
            <input
                node_ref=input
                class="kiosk-input"
                aria-label="Loyalty code"
                data-testid="kiosk-input"
                autofocus=true
                autocomplete="off"
                on:keydown=on_key
            />
            {move || match phase.get() {
                Phase::Welcome => view! {
                    <h1>"Welcome"</h1>
                    <p class="kiosk-lead">"Scan your loyalty code or tap your card to check in."</p>
                    {move || if camera.get() {
                        view! { <Camera on_code=on_camera_code/> }.into_any()
                    } else {
                        view! {
                            <button class="primary kiosk-button" data-testid="kiosk-camera" on:click=move |_| camera.set(true)>
                                "Show my code to the camera"
                            </button>
                        }.into_any()
                    }}
                }.into_any(),
                Phase::Working => view! { <h1>"One moment…"</h1> }.into_any(),
                Phase::Greeting { welcome, .. } => {
                    let hello = match (&welcome.first_name, welcome.queued) {
                        (_, true) => "Welcome! You're checked in.".to_string(),
                        (Some(name), _) => format!("Welcome, {name}!"),
                        (None, _) => "Welcome!".to_string(),
                    };
                    view! {
                        <h1 data-testid="kiosk-welcome">{hello}</h1>
                        <p class="kiosk-lead">"An associate will be with you shortly."</p>
                        {welcome.asks_consent.then(|| view! {
                            <div class="card kiosk-consent" data-testid="kiosk-consent">
                                <p>"May our associates use what you browsed and saved online to help you in store? You can change this any time."</p>
                                <div class="row">
                                    <button class="primary kiosk-button" data-testid="consent-yes" on:click=move |_| answer(true)>"Yes, please"</button>
                                    <button class="secondary kiosk-button" data-testid="consent-no" on:click=move |_| answer(false)>"No, thanks"</button>
                                </div>
                            </div>
                        })}
                    }.into_any()
                }
                Phase::Thanks => view! { <h1>"Thank you!"</h1> }.into_any(),
                Phase::Problem(message) => view! {
                    <h1>"Sorry, that did not work"</h1>
                    <p class="kiosk-lead" role="alert" data-testid="kiosk-problem">{message}</p>
                    <p class="muted">"Please ask an associate."</p>
                }.into_any(),
            }}
        </section>
    }
}
