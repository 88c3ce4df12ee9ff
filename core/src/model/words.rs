//! How ages read, the same in the briefing's suggestions and on every screen (amounts:
//! `money`).

use super::Millis;

/// A duration as an associate says it: "5 min", "3 h", "2 days".
pub fn ago(ms: Millis) -> String {
    let minutes = ms.max(0) / 60_000;
    match minutes {
        0..=59 => format!("{minutes} min"),
        60..=2_879 => format!("{} h", minutes / 60),
        _ => format!("{} days", minutes / 1_440),
    }
}
