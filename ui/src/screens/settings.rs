//! Settings: who uses the tablet, enrolment with the store's relay, and the connection's state.

use leptos::prelude::*;

use super::sync::{EnrolForm, SyncDetails};
use crate::api;
use crate::app::AppEvents;

#[component]
pub fn SettingsScreen() -> impl IntoView {
    view! {
        <section class="screen" data-testid="screen-settings">
            <h1>"Settings"</h1>
            <SyncDetails/>
            <AssociateForm/>
            <EnrolForm/>
        </section>
    }
}

/// The associate signed in on this tablet: their name goes on notes, holds and sales.
#[component]
fn AssociateForm() -> impl IntoView {
    let events = expect_context::<AppEvents>();
    let name = RwSignal::new(String::new());
    let message = RwSignal::new(None::<Result<String, String>>);
    let info = LocalResource::new(move || {
        events.enrolment_version.track();
        api::app_info()
    });
    Effect::new(move || {
        if let Some(Ok(i)) = info.get()
            && let Some(a) = i.associate
        {
            name.set(a);
        }
    });
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let value = name.get_untracked();
        leptos::task::spawn_local(async move {
            message.set(Some(
                api::set_associate(&value)
                    .await
                    .map(|a| format!("Signed in as {a}."))
                    .map_err(|e| api::describe(&e)),
            ));
        });
    };
    view! {
        <form class="card form" on:submit=save data-testid="associate-form">
            <h2>"Associate"</h2>
            <label for="associate-name">"Signed in as (staff id, e.g. sam.k)"</label>
            <input id="associate-name" class="text-input" type="text" autocomplete="off" data-testid="associate-name"
                prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
            <button class="primary" type="submit" data-testid="associate-save">"Save"</button>
            {move || message.get().map(|m| match m {
                Ok(text) => view! { <p class="success" role="status">{text}</p> }.into_any(),
                Err(text) => view! { <p class="error" role="alert">{text}</p> }.into_any(),
            })}
        </form>
    }
}
