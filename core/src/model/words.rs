//! How amounts and ages read, the same in the briefing's suggestions and on every screen.

use super::Millis;

/// Money as the shop shows it: "£58.99".
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}£{}.{:02}", (cents / 100).abs(), (cents % 100).abs())
}

/// A duration as an associate says it: "5 min", "3 h", "2 days".
pub fn ago(ms: Millis) -> String {
    let minutes = ms.max(0) / 60_000;
    match minutes {
        0..=59 => format!("{minutes} min"),
        60..=2_879 => format!("{} h", minutes / 60),
        _ => format!("{} days", minutes / 1_440),
    }
}
