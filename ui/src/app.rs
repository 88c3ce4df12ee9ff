//! The app shell: top bar, navigation, and the current screen.

use leptos::prelude::*;

use crate::api::{self, LoadingProgress};
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

/// App-wide signals fed by the app's events; screens read them from context.
#[derive(Clone, Copy)]
pub struct AppEvents {
    /// Bumped whenever the local data changed underneath (e.g. the demo data finished
    /// loading); resources that read it refetch.
    pub data_version: RwSignal<u32>,
    /// Demo data loading on a first start.
    pub loading: RwSignal<Option<LoadingProgress>>,
}

impl AppEvents {
    fn listen(self) {
        leptos::task::spawn_local(async move {
            if let Ok(info) = api::app_info().await {
                self.loading.set(info.loading);
            }
            crate::tauri::listen("demo-progress", move |p: LoadingProgress| {
                self.loading.set(Some(p));
            })
            .await;
            crate::tauri::listen("data-ready", move |_: ()| {
                self.loading.set(None);
                self.data_version.update(|v| *v += 1);
            })
            .await;
        });
    }
}

#[component]
pub fn App() -> impl IntoView {
    let screen = RwSignal::new(Screen::Floor);
    let events = AppEvents {
        data_version: RwSignal::new(0),
        loading: RwSignal::new(None),
    };
    events.listen();
    provide_context(events);
    let info = LocalResource::new(move || {
        events.data_version.track();
        api::app_info()
    });
    let store_name = move || {
        info.get()
            .and_then(Result::ok)
            .map(|i| i.home_store_name.unwrap_or(i.home_store))
            .unwrap_or_default()
    };
    view! {
        <div class="shell">
            <header class="topbar">
                <span class="brand">"Aisle"</span>
                <span class="store-name" data-testid="store-name">{store_name}</span>
                <span class="sync-status" title="Sync arrives with the relay connection">"Local"</span>
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
