//! Screens whose content arrives with later work; each says what it will hold.

use leptos::prelude::*;

#[component]
fn Upcoming(title: &'static str, test_id: &'static str, what: &'static str) -> impl IntoView {
    view! {
        <section class="screen" data-testid=test_id>
            <h1>{title}</h1>
            <div class="empty-state">
                <p>{what}</p>
            </div>
        </section>
    }
}

#[component]
pub fn CustomersScreen() -> impl IntoView {
    view! {
        <Upcoming
            title="Customers"
            test_id="screen-customers"
            what="Customer briefings: sizes, colours, what they viewed online, their abandoned cart with stock here, wishlist, purchases and notes."
        />
    }
}

#[component]
pub fn StockScreen() -> impl IntoView {
    view! {
        <Upcoming
            title="Stock"
            test_id="screen-stock"
            what="Stock by size and colour for this store and nearby stores, with holds."
        />
    }
}

#[component]
pub fn ManagerScreen() -> impl IntoView {
    view! {
        <Upcoming
            title="Manager"
            test_id="screen-manager"
            what="Tablet sync health, oversell conflicts to resolve, and store KPIs."
        />
    }
}
