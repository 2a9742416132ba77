//! Wall-clock times written the way Node writes them: `JSON.stringify(new Date())` (ISO 8601)
//! and `new Date() + ""` (the handshake's `time`), in UTC. No calendar crate for two formats.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 for a clock set before it).
pub(crate) fn unix_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `2026-12-07T03:42:47.123Z`, as `Date.prototype.toISOString`.
#[cfg_attr(not(feature = "admin-ui"), allow(dead_code))] // for instrumentation only
pub(crate) fn iso8601(at: SystemTime) -> String {
    let t = Civil::from_millis(unix_millis(at));
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.millis
    )
}

/// `Mon Dec 07 2026 03:42:47 GMT+0000 (Coordinated Universal Time)`, as `String(new Date())`
/// on a server whose time zone is UTC.
pub(crate) fn js_date_string(at: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let millis = unix_millis(at);
    let t = Civil::from_millis(millis);
    // 1970-01-01 was a Thursday.
    let weekday = DAYS[((millis / 86_400_000) % 7) as usize];
    let month = MONTHS[(t.month - 1) as usize];
    format!(
        "{weekday} {month} {:02} {:04} {:02}:{:02}:{:02} GMT+0000 (Coordinated Universal Time)",
        t.day, t.year, t.hour, t.minute, t.second
    )
}

/// A UTC calendar date and time of day.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u64,
    minute: u64,
    second: u64,
    #[cfg_attr(not(feature = "admin-ui"), allow(dead_code))] // for instrumentation only
    millis: u64,
}

impl Civil {
    fn from_millis(millis: u64) -> Civil {
        let days = (millis / 86_400_000) as i64;
        let in_day = millis % 86_400_000;
        // Days to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: in_day / 3_600_000,
            minute: in_day / 60_000 % 60,
            second: in_day / 1_000 % 60,
            millis: in_day % 1_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_like_node() {
        let at = UNIX_EPOCH + Duration::from_millis(1_796_615_367_123);
        assert_eq!(iso8601(at), "2026-12-07T03:49:27.123Z");
        assert_eq!(
            js_date_string(at),
            "Mon Dec 07 2026 03:49:27 GMT+0000 (Coordinated Universal Time)"
        );
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_millis(951_782_400_000);
        assert_eq!(iso8601(leap), "2000-02-29T00:00:00.000Z");
    }
}
