//! Settings: enrolment with the store's relay, and the connection's state.

use leptos::prelude::*;

use super::sync::{EnrolForm, SyncDetails};

#[component]
pub fn SettingsScreen() -> impl IntoView {
    view! {
        <section class="screen" data-testid="screen-settings">
            <h1>"Settings"</h1>
            <SyncDetails/>
            <EnrolForm/>
        </section>
    }
}
