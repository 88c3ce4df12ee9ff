//! Scanning: the camera (frames decoded here, in WebAssembly, with the same QR decoder the app
//! uses), a photo, and where a scan leads. A keyboard-wedge scanner needs none of this: it
//! types into the search field and presses Enter.

use aisle_core::model::ScanTarget;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::api;
use crate::app::{Screen, Selected, StockProduct};

/// What opens a scan's target (the customer's briefing, or the product's stock); taken from
/// context while rendering, so it can be called after an `await`.
pub fn opener() -> impl Fn(ScanTarget) + Copy + 'static {
    let selected = expect_context::<Selected>();
    let screen = expect_context::<RwSignal<Screen>>();
    let stock_product = expect_context::<StockProduct>();
    move |target| match target {
        ScanTarget::Customer { id } => {
            selected.customer.set(Some(id.to_string()));
            screen.set(Screen::Customers);
        }
        ScanTarget::Product { sku, .. } => {
            stock_product.0.set(Some(sku.to_string()));
            screen.set(Screen::Stock);
        }
    }
}

/// Live camera with QR detection. `on_code` gets each new code's text once.
#[component]
pub fn Camera(on_code: Callback<String>) -> impl IntoView {
    let video = NodeRef::<leptos::html::Video>::new();
    let status = RwSignal::new(Some("Starting the camera…".to_string()));
    let stream = StoredValue::new_local(None::<web_sys::MediaStream>);
    let last = StoredValue::new(String::new());

    Effect::new(move |_| {
        let Some(element) = video.get() else {
            return;
        };
        leptos::task::spawn_local(async move {
            match start_camera(&element).await {
                Ok(s) => {
                    stream.set_value(Some(s));
                    status.set(None);
                }
                Err(reason) => status.set(Some(reason)),
            }
        });
    });

    // An off-screen canvas the frames are drawn into to read their pixels.
    let canvas = StoredValue::new_local(
        web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.create_element("canvas").ok())
            .and_then(|e| e.dyn_into::<web_sys::HtmlCanvasElement>().ok()),
    );
    let tick = set_interval_with_handle(
        move || {
            let Some(element) = video.get_untracked() else {
                return;
            };
            let Some(text) = canvas.with_value(|c| decode_frame(&element, c.as_ref())) else {
                return;
            };
            if last.with_value(|l| *l != text) {
                last.set_value(text.clone());
                on_code.run(text);
            }
        },
        std::time::Duration::from_millis(200),
    )
    .ok();
    on_cleanup(move || {
        if let Some(tick) = tick {
            tick.clear();
        }
        stream.with_value(|s| {
            if let Some(s) = s {
                for track in s.get_tracks().iter() {
                    if let Ok(track) = track.dyn_into::<web_sys::MediaStreamTrack>() {
                        track.stop();
                    }
                }
            }
        });
    });

    view! {
        <div class="camera">
            <video node_ref=video autoplay=true playsinline=true muted=true aria-label="Camera"></video>
            {move || status.get().map(|s| view! { <p class="muted" role="status">{s}</p> })}
        </div>
    }
}

async fn start_camera(element: &web_sys::HtmlVideoElement) -> Result<web_sys::MediaStream, String> {
    let unavailable = |e: wasm_bindgen::JsValue| {
        format!(
            "The camera is not available here ({}). Scan with the handheld scanner, tap the card, or use a photo.",
            e.as_string().unwrap_or_else(|| "no access".into())
        )
    };
    let devices = web_sys::window()
        .ok_or("no window")?
        .navigator()
        .media_devices()
        .map_err(unavailable)?;
    let constraints = web_sys::MediaStreamConstraints::new();
    let video = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&video, &"facingMode".into(), &"environment".into());
    constraints.set_video(&video);
    let promise = devices
        .get_user_media_with_constraints(&constraints)
        .map_err(unavailable)?;
    let stream: web_sys::MediaStream = JsFuture::from(promise)
        .await
        .map_err(unavailable)?
        .dyn_into()
        .map_err(unavailable)?;
    element.set_src_object(Some(&stream));
    if let Ok(playing) = element.play() {
        let _ = JsFuture::from(playing).await;
    }
    Ok(stream)
}

/// The first QR code in the video's current frame, if any.
fn decode_frame(
    video: &web_sys::HtmlVideoElement,
    canvas: Option<&web_sys::HtmlCanvasElement>,
) -> Option<String> {
    let canvas = canvas?;
    let (width, height) = (video.video_width(), video.video_height());
    if width == 0 || height == 0 {
        return None;
    }
    canvas.set_width(width);
    canvas.set_height(height);
    let context = canvas
        .get_context("2d")
        .ok()??
        .dyn_into::<web_sys::CanvasRenderingContext2d>()
        .ok()?;
    context
        .draw_image_with_html_video_element(video, 0.0, 0.0)
        .ok()?;
    let rgba = context
        .get_image_data(0.0, 0.0, f64::from(width), f64::from(height))
        .ok()?
        .data();
    let luma: Vec<u8> = rgba
        .chunks_exact(4)
        .map(|p| ((u32::from(p[0]) * 77 + u32::from(p[1]) * 150 + u32::from(p[2]) * 29) >> 8) as u8)
        .collect();
    aisle_core::qr::decode_qr(width as usize, height as usize, &luma)
        .into_iter()
        .next()
}

/// The bytes of the file chosen in a file input.
pub async fn chosen_file(input: &web_sys::HtmlInputElement) -> Option<Vec<u8>> {
    let file = input.files()?.get(0)?;
    let buffer = JsFuture::from(file.array_buffer()).await.ok()?;
    Some(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// The associate's scan sheet: camera, photo, and what went wrong.
#[component]
pub fn ScanSheet(open: RwSignal<bool>) -> impl IntoView {
    let message = RwSignal::new(None::<String>);
    let open_target = opener();
    let handle = move |result: Result<ScanTarget, aisle_core::model::ApiError>| match result {
        Ok(target) => {
            open.set(false);
            open_target(target);
        }
        Err(e) => message.set(Some(api::describe(&e))),
    };
    let on_code = Callback::new(move |text: String| {
        leptos::task::spawn_local(async move { handle(api::scan(&text).await) });
    });
    let on_photo = move |ev: leptos::ev::Event| {
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        else {
            return;
        };
        leptos::task::spawn_local(async move {
            match chosen_file(&input).await {
                Some(bytes) => handle(api::scan_image(bytes).await),
                None => message.set(Some("That file could not be read.".into())),
            }
        });
    };
    view! {
        <div class="card scan-sheet" data-testid="scan-sheet" role="dialog" aria-label="Scan a code">
            <div class="kpi-head">
                <h2>"Scan a loyalty code or a tag"</h2>
                <button class="secondary" on:click=move |_| open.set(false)>"Close"</button>
            </div>
            <Camera on_code=on_code/>
            <label class="secondary file-button">
                "Use a photo"
                <input type="file" accept="image/*" capture="environment" data-testid="scan-photo" on:change=on_photo/>
            </label>
            {move || message.get().map(|m| view! { <p class="error" role="alert" data-testid="scan-error">{m}</p> })}
        </div>
    }
}
