//! Timestamps as GeoPackage DATETIME text (`YYYY-MM-DDTHH:MM:SS.SSSZ`).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Formats ms since the epoch as RFC 3339 UTC with milliseconds.
pub fn format_ms(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Parses RFC 3339 text into ms since the epoch.
pub fn parse_ms(s: &str) -> Option<i64> {
    OffsetDateTime::parse(s.trim(), &Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let ms = 1_763_899_200_123;
        let s = format_ms(ms);
        assert_eq!(s, "2025-11-23T12:00:00.123Z");
        assert_eq!(parse_ms(&s), Some(ms));
        assert_eq!(parse_ms("nonsense"), None);
    }
}
