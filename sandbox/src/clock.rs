//! The sandbox clock (real time plus an offset tests advance) and the US Eastern
//! rendering the document asks for on every date it returns.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, Offset, TimeZone, Utc, Weekday,
};

use crate::model::Dt;

#[derive(Debug, Default)]
pub struct Clock {
    offset_secs: AtomicI64,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::seconds(self.offset_secs.load(Ordering::SeqCst))
    }

    pub fn advance(&self, secs: u64) {
        let secs = i64::try_from(secs).unwrap_or(i64::MAX / 2);
        self.offset_secs.fetch_add(secs, Ordering::SeqCst);
    }

    pub fn offset_secs(&self) -> i64 {
        self.offset_secs.load(Ordering::SeqCst)
    }
}

/// US Eastern time with the DST rule in force since 2007 (second Sunday of March 02:00
/// local to first Sunday of November 02:00 local): `-04:00` in summer, `-05:00` otherwise.
/// Written out instead of pulling in a time-zone database for one zone.
pub fn eastern(t: DateTime<Utc>) -> Dt {
    let year = t.year();
    let dst_start = nth_sunday(year, 3, 2).and_then(|d| d.and_hms_opt(7, 0, 0));
    let dst_end = nth_sunday(year, 11, 1).and_then(|d| d.and_hms_opt(6, 0, 0));
    let naive = t.naive_utc();
    let in_dst = matches!((dst_start, dst_end), (Some(s), Some(e)) if naive >= s && naive < e);
    let hours = if in_dst { -4 } else { -5 };
    let offset = FixedOffset::west_opt(-hours * 3600).unwrap_or_else(|| Utc.fix());
    offset.from_utc_datetime(&naive)
}

fn nth_sunday(year: i32, month: u32, n: u32) -> Option<NaiveDate> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let to_sunday = (7 - first.weekday().num_days_from_sunday()) % 7;
    let day = 1 + to_sunday + 7 * (n - 1);
    let d = NaiveDate::from_ymd_opt(year, month, day)?;
    debug_assert_eq!(d.weekday(), Weekday::Sun);
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eastern_follows_dst() {
        let winter = Utc
            .with_ymd_and_hms(2026, 1, 15, 12, 0, 0)
            .single()
            .expect("a valid UTC time");
        assert_eq!(eastern(winter).offset().local_minus_utc(), -5 * 3600);
        let summer = Utc
            .with_ymd_and_hms(2026, 7, 1, 12, 0, 0)
            .single()
            .expect("a valid UTC time");
        assert_eq!(eastern(summer).offset().local_minus_utc(), -4 * 3600);
        // 2026-03-08 is the second Sunday of March; the switch is at 07:00 UTC.
        let before = Utc
            .with_ymd_and_hms(2026, 3, 8, 6, 59, 0)
            .single()
            .expect("a valid UTC time");
        let after = Utc
            .with_ymd_and_hms(2026, 3, 8, 7, 0, 0)
            .single()
            .expect("a valid UTC time");
        assert_eq!(eastern(before).offset().local_minus_utc(), -5 * 3600);
        assert_eq!(eastern(after).offset().local_minus_utc(), -4 * 3600);
    }
}
