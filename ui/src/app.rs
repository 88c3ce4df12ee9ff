//! The app shell: top bar, navigation, and the current screen.

use leptos::prelude::*;

use aisle_core::model::SyncStatus;

use crate::api;
use crate::screens::SyncIndicator;
use crate::screens::{CustomersScreen, FloorScreen, ManagerScreen, SettingsScreen, StockScreen};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    Floor,
    Customers,
    Stock,
    Manager,
    Settings,
}

impl Screen {
    const ALL: [Screen; 5] = [
        Screen::Floor,
        Screen::Customers,
        Screen::Stock,
        Screen::Manager,
        Screen::Settings,
    ];

    fn label(self) -> &'static str {
        match self {
            Screen::Floor => "Floor",
            Screen::Customers => "Customers",
            Screen::Stock => "Stock",
            Screen::Manager => "Manager",
            Screen::Settings => "Settings",
        }
    }

    fn icon(self) -> &'static str {
        match self {
            Screen::Floor => "◎",
            Screen::Customers => "☺",
            Screen::Stock => "▦",
            Screen::Manager => "▲",
            Screen::Settings => "⚙",
        }
    }

    fn test_id(self) -> &'static str {
        match self {
            Screen::Floor => "nav-floor",
            Screen::Customers => "nav-customers",
            Screen::Stock => "nav-stock",
            Screen::Manager => "nav-manager",
            Screen::Settings => "nav-settings",
        }
    }
}

/// The customer whose briefing is open on the Customers screen.
#[derive(Clone, Copy)]
pub struct Selected {
    pub customer: RwSignal<Option<String>>,
}

/// The product shown on the Stock screen.
#[derive(Clone, Copy)]
pub struct StockProduct(pub RwSignal<Option<String>>);

/// App-wide signals fed by the app's events; screens read them from context.
#[derive(Clone, Copy)]
pub struct AppEvents {
    /// Bumped whenever local data changed underneath (sync delivered something, the tablet
    /// was enrolled); resources that read it refetch.
    pub data_version: RwSignal<u32>,
    /// The sync client's status; `None` until enrolled.
    pub sync: RwSignal<Option<SyncStatus>>,
    /// Bumped when the enrolment changed.
    pub enrolment_version: RwSignal<u32>,
    /// The latest NFC card tap on this tablet's reader, numbered so a screen opened later
    /// does not act on a tap from before it.
    pub card: RwSignal<Option<(u64, api::CardTap)>>,
    /// A tapped card nobody has: the open customer can take it.
    pub unknown_card: RwSignal<Option<String>>,
}

impl AppEvents {
    fn listen(self) {
        leptos::task::spawn_local(async move {
            if let Ok(status) = api::sync_status().await {
                self.sync.set(status);
            }
            crate::tauri::listen(
                aisle_core::model::commands::events::NFC_TAP,
                move |tap: api::CardTap| {
                    let seq = self.card.get_untracked().map_or(1, |(n, _)| n + 1);
                    self.card.set(Some((seq, tap)));
                },
            )
            .await;
            crate::tauri::listen(
                aisle_core::model::commands::events::SYNC_STATUS,
                move |status: SyncStatus| {
                    let previous = self.sync.get_untracked();
                    let delivered =
                        previous.as_ref().map(|p| p.last_synced_at) != Some(status.last_synced_at);
                    let caught_up = previous.as_ref().is_some_and(|p| p.catch_up.is_some())
                        && status.catch_up.is_none();
                    self.sync.set(Some(status));
                    if delivered || caught_up {
                        self.data_version.update(|v| *v += 1);
                    }
                },
            )
            .await;
        });
    }
}

#[component]
pub fn App() -> impl IntoView {
    let screen = RwSignal::new(Screen::Floor);
    let events = AppEvents {
        data_version: RwSignal::new(0),
        sync: RwSignal::new(None),
        enrolment_version: RwSignal::new(0),
        card: RwSignal::new(None),
        unknown_card: RwSignal::new(None),
    };
    events.listen();
    provide_context(events);
    provide_context(screen);
    provide_context(Selected {
        customer: RwSignal::new(None),
    });
    provide_context(StockProduct(RwSignal::new(None)));
    let info = LocalResource::new(move || {
        events.data_version.track();
        events.enrolment_version.track();
        api::app_info()
    });
    // Amounts and dates everywhere follow the tenant's currency and locale once known.
    Effect::new(move |_| {
        if let Some(Ok(info)) = info.get() {
            api::set_locale(info.locale.clone());
        }
    });
    // A memo: the kiosk screen is rebuilt only when the role changes, not on every refetch.
    let kiosk = Memo::new(move |_| {
        info.get()
            .and_then(Result::ok)
            .and_then(|i| i.enrolment)
            .is_some_and(|e| e.role == aisle_core::model::Role::Kiosk)
    });
    // On an associate's tablet a card tap opens the customer, or offers to link the card.
    let selected = expect_context::<Selected>();
    Effect::new(move |_| {
        let Some((_, tap)) = events.card.get() else {
            return;
        };
        if kiosk.get_untracked() {
            return;
        }
        match (&tap.customer, &tap.problem) {
            (Some(id), _) => {
                events.unknown_card.set(None);
                selected.customer.set(Some(id.clone()));
                screen.set(Screen::Customers);
            }
            (None, None) if !tap.uid.is_empty() => events.unknown_card.set(Some(tap.uid.clone())),
            _ => {}
        }
    });
    let store_name = move || {
        info.get()
            .and_then(Result::ok)
            .and_then(|i| i.home_store_name.or(i.enrolment.map(|e| e.store)))
            .unwrap_or_else(|| "Not enrolled".into())
    };
    view! {
        {move || kiosk.get().then(|| view! { <crate::screens::KioskScreen/> })}
        <div class="shell" class:hidden=kiosk>
            <header class="topbar">
                <span class="brand">"Aisle"</span>
                <span class="store-name" data-testid="store-name">{store_name}</span>
                <SyncIndicator/>
            </header>
            <nav class="nav" aria-label="Screens">
                {Screen::ALL
                    .into_iter()
                    .map(|s| {
                        view! {
                            <button
                                class="nav-item"
                                class:active=move || screen.get() == s
                                aria-current=move || (screen.get() == s).then_some("page")
                                data-testid=s.test_id()
                                on:click=move |_| screen.set(s)
                            >
                                <span class="nav-icon" aria-hidden="true">{s.icon()}</span>
                                <span class="nav-label">{s.label()}</span>
                            </button>
                        }
                    })
                    .collect_view()}
            </nav>
            <main class="content">
                {move || match screen.get() {
                    Screen::Floor => view! { <FloorScreen/> }.into_any(),
                    Screen::Customers => view! { <CustomersScreen/> }.into_any(),
                    Screen::Stock => view! { <StockScreen/> }.into_any(),
                    Screen::Manager => view! { <ManagerScreen/> }.into_any(),
                    Screen::Settings => view! { <SettingsScreen/> }.into_any(),
                }}
            </main>
        </div>
    }
}
