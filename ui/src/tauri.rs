//! The one bridge to Tauri: `invoke` a command and `listen` to an event. Everything else in
//! the UI goes through [`crate::api`].

use aisle_core::model::commands::Command;
use aisle_core::model::{ApiError, ErrorCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["window", "__TAURI__", "core"], js_name = invoke, catch)]
    async fn invoke_raw(cmd: &str, args: JsValue) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_namespace = ["window", "__TAURI__", "event"], js_name = listen, catch)]
    async fn listen_raw(
        event: &str,
        handler: &Closure<dyn FnMut(JsValue)>,
    ) -> Result<JsValue, JsValue>;
}

fn outside_app() -> ApiError {
    ApiError {
        code: ErrorCode::Internal,
        message: "This screen only works inside the Aisle app.".into(),
    }
}

/// What `invoke` sends: a command's arguments under `args`, the parameter every handler in the
/// app takes them as.
#[derive(Serialize)]
struct Payload<'a, C> {
    args: &'a C,
}

/// Calls the command whose arguments `args` are. A rejected call carries the command's
/// `{code, message}`.
pub async fn invoke<C: Command>(args: &C) -> Result<C::Output, ApiError> {
    let payload = serde_wasm_bindgen::to_value(&Payload { args }).map_err(|e| ApiError {
        code: ErrorCode::Internal,
        message: format!("cannot send arguments: {e}"),
    })?;
    match invoke_raw(C::NAME, payload).await {
        Ok(value) => serde_wasm_bindgen::from_value(value).map_err(|e| ApiError {
            code: ErrorCode::Internal,
            message: format!("unexpected reply to {}: {e}", C::NAME),
        }),
        Err(err) => Err(
            serde_wasm_bindgen::from_value::<ApiError>(err.clone()).unwrap_or_else(|_| {
                match err.as_string() {
                    Some(message) => ApiError {
                        code: ErrorCode::Internal,
                        message,
                    },
                    None => outside_app(),
                }
            }),
        ),
    }
}

/// Calls `handler` with each event's payload for the life of the app.
pub async fn listen<T: DeserializeOwned + 'static>(
    event: &str,
    mut handler: impl FnMut(T) + 'static,
) {
    let closure = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        let payload =
            js_sys::Reflect::get(&event, &JsValue::from_str("payload")).unwrap_or(JsValue::NULL);
        if let Ok(payload) = serde_wasm_bindgen::from_value(payload) {
            handler(payload);
        }
    });
    if listen_raw(event, &closure).await.is_ok() {
        // App-lifetime listener: the closure must outlive this function.
        closure.forget();
    }
}
