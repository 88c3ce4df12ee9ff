//! Start-up: open the local store and, if this tablet is enrolled, start syncing. A tablet can
//! be enrolled from Settings, or at first start from `AISLE_RELAY_URL` and `AISLE_ENROL_CODE`
//! (the demo command and the end-to-end suite do that).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aisle_tablet::Tablet;
use tauri::{App, Manager};

use crate::AppState;
use crate::sync;

fn data_dir(app: &App) -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("AISLE_DATA_DIR") {
        return Ok(PathBuf::from(dir));
    }
    app.path()
        .app_data_dir()
        .map_err(|e| format!("no app data directory: {e}"))
}

pub fn setup(app: &mut App) -> Result<(), String> {
    let started = Instant::now();
    let dir = data_dir(app)?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let db_path = dir.join("aisle.sqlite3");
    let store =
        Tablet::open(&db_path).map_err(|e| format!("cannot open {}: {e}", db_path.display()))?;
    let enrolment = sync::load_enrolment(&store);
    app.manage(AppState {
        store: Arc::new(Mutex::new(store)),
        db_path,
        sync: Mutex::new(None),
        enrolment: Mutex::new(enrolment.clone()),
    });
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        enrolled = enrolment.is_some(),
        "store open"
    );
    let handle = app.handle().clone();
    #[cfg(desktop)]
    crate::nfc::start(&handle);
    #[cfg(target_os = "linux")]
    enable_camera(app);
    match enrolment {
        // Removed from its store (the token was deleted then): nothing to sync with.
        Some(enrolment) if enrolment.token.is_empty() => {
            tracing::warn!(device = %enrolment.device, "this tablet was removed from its store");
        }
        Some(enrolment) => sync::start(&handle, enrolment),
        None => {
            // A ticket in AISLE_ENROL_CODE, or a code with AISLE_RELAY_URL (and
            // AISLE_RELAY_CA, the fingerprint, for a relay with a private CA).
            if let Ok(code) = std::env::var("AISLE_ENROL_CODE") {
                let relay = std::env::var("AISLE_RELAY_URL").unwrap_or_default();
                let ca = std::env::var("AISLE_RELAY_CA").ok();
                tauri::async_runtime::spawn(async move {
                    let enrolled = match sync::enrolment_ticket(&relay, &code, ca.as_deref()) {
                        Ok(ticket) => sync::enrol(&handle, ticket).await.map(drop),
                        Err(e) => Err(e),
                    };
                    if let Err(e) = enrolled {
                        tracing::error!(error = %e.message, "enrolment from the environment failed");
                    }
                });
            }
        }
    }
    Ok(())
}

/// WebKitGTK ships with `getUserMedia` off and asks the application about every camera
/// request: turn it on and allow video (the QR scanner), never audio.
#[cfg(target_os = "linux")]
fn enable_camera(app: &App) {
    use webkit2gtk::glib::object::Cast;
    use webkit2gtk::{PermissionRequestExt, SettingsExt, UserMediaPermissionRequest, WebViewExt};
    let windows = app.webview_windows();
    tracing::info!(windows = windows.len(), "camera enabled for QR scanning");
    for window in windows.values() {
        let _ = window.with_webview(|webview| {
            let view = webview.inner();
            if let Some(settings) = WebViewExt::settings(&view) {
                settings.set_enable_media_stream(true);
                settings.set_enable_mediasource(true);
            }
            view.connect_permission_request(|_, request| {
                use webkit2gtk::UserMediaPermissionRequestExt;
                match request.downcast_ref::<UserMediaPermissionRequest>() {
                    Some(media) if media.is_for_video_device() && !media.is_for_audio_device() => {
                        request.allow();
                        true
                    }
                    _ => false,
                }
            });
        });
    }
}
