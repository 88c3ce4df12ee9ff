//! A product's picture: the image this tablet keeps from the relay, or, until it has one (or
//! for a product without one), its category's outline, which the app ships with.

use aisle_core::model::{Category, ImageSource};
use leptos::prelude::*;

use crate::api;

#[component]
pub fn ProductImage(
    image: String,
    category: Category,
    #[prop(optional)] large: bool,
) -> impl IntoView {
    let class = if large { "thumb large" } else { "thumb" };
    let outline = format!("assets/{}", ImageSource::outline_of(category));
    if let ImageSource::Outline(path) = ImageSource::of(&image) {
        return view! { <img class=class src=format!("assets/{path}") alt="" /> }.into_any();
    }
    let kept = LocalResource::new(move || {
        let image = image.clone();
        async move { api::product_image(image).await.ok().flatten() }
    });
    let src = move || kept.get().flatten().unwrap_or_else(|| outline.clone());
    let shown = move || kept.get().flatten().is_some();
    view! {
        <img class=class src=src data-testid="product-image" data-kept=move || shown().to_string() alt="" />
    }
    .into_any()
}
