//! Whether a shelter is open now: its OpenStreetMap `opening_hours` evaluated at the city's
//! local time (the `opening-hours` crate, which reads the syntax the way the OSM tools do).

use chrono::{DateTime, NaiveDateTime, Utc};
use opening_hours::OpeningHours;

/// The city's local time at `now`.
pub fn local(now: DateTime<Utc>, tz: chrono_tz::Tz) -> NaiveDateTime {
    now.with_timezone(&tz).naive_local()
}

/// `Some(true)` open, `Some(false)` closed, `None` when the hours are missing, cannot be read,
/// or leave the moment unknown.
pub fn open_at(hours: Option<&str>, at: NaiveDateTime) -> Option<bool> {
    state(&hours?.trim().parse().ok()?, at)
}

fn state(oh: &OpeningHours, at: NaiveDateTime) -> Option<bool> {
    if oh.is_open(at) {
        Some(true)
    } else if oh.is_closed(at) {
        Some(false)
    } else {
        None
    }
}

/// Whether a shelter is open at `at`: never when closed or reported locked, else by its
/// (already read) hours; `None` when that is not known. The one rule the search, the list
/// and the page's answers share.
pub fn open_now(
    status: super::ShelterStatus,
    hours: Option<&OpeningHours>,
    at: NaiveDateTime,
) -> Option<bool> {
    match status {
        super::ShelterStatus::Closed | super::ShelterStatus::LockedReported => Some(false),
        _ => hours.and_then(|h| state(h, at)),
    }
}

/// Whether `hours` can be read (the audit names the ones that cannot).
pub fn readable(hours: &str) -> bool {
    hours.trim().parse::<OpeningHours>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn hours_at_the_city_time() {
        let kyiv: chrono_tz::Tz = "Europe/Kyiv".parse().unwrap();
        // 06:30 UTC on a Thursday in December is 08:30 in Kyiv.
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 6, 30, 0).unwrap();
        let at = local(now, kyiv);
        assert_eq!(open_at(Some("24/7"), at), Some(true));
        assert_eq!(open_at(Some("Mo-Fr 08:00-17:00"), at), Some(true));
        assert_eq!(open_at(Some("Mo-Fr 09:00-17:00"), at), Some(false));
        assert_eq!(open_at(Some("Sa-Su 08:00-17:00"), at), Some(false));
        assert_eq!(open_at(None, at), None);
        assert_eq!(open_at(Some("during school hours"), at), None);
        assert!(!readable("during school hours"));
        assert!(readable("Mo-Fr 08:00-17:00; PH off"));
    }
}
