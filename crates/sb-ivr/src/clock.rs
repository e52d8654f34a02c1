//! Opening hours against civil time (the arithmetic lives in `sb_types::civil`, shared with
//! the reports).

use crate::model::Schedule;
pub use sb_types::civil::{local_time, LocalTime};

impl Schedule {
    /// Whether the service is open at `unix_secs`.
    pub fn is_open(&self, unix_secs: i64) -> bool {
        let t = local_time(unix_secs, self.utc_offset_min);
        if self.holidays.contains(&(t.year, t.month, t.day)) {
            return false;
        }
        self.windows.iter().any(|(days, from, to)| {
            days & (1 << t.weekday) != 0 && *from <= t.minute && t.minute < *to
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        // 2026-11-22T07:00:00Z is a Sunday, 15:00 in Shanghai.
        let t = local_time(1_795_330_800, 480);
        assert_eq!(
            (t.year, t.month, t.day, t.weekday, t.minute),
            (2026, 11, 22, 6, 15 * 60)
        );
        let epoch = local_time(0, 0);
        assert_eq!(
            (epoch.year, epoch.month, epoch.day, epoch.weekday),
            (1970, 1, 1, 3)
        );
        // Midnight crossing by offset: 2024-02-29T20:00Z is 2024-03-01 04:00 in Shanghai.
        let leap = local_time(1_709_236_800, 480);
        assert_eq!(
            (leap.year, leap.month, leap.day, leap.minute),
            (2024, 3, 1, 240)
        );
    }
}
