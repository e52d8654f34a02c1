//! Civil time from Unix time and a fixed offset, enough for opening hours: weekday, date
//! and minute of the day. (Days-from-civil arithmetic after H. Hinnant's algorithms.)

use crate::model::Schedule;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    pub month: u8,
    pub day: u8,
    /// Monday = 0 ... Sunday = 6.
    pub weekday: u8,
    pub minute: u16,
}

pub fn local_time(unix_secs: i64, utc_offset_min: i32) -> LocalTime {
    let secs = unix_secs + utc_offset_min as i64 * 60;
    let days = secs.div_euclid(86_400);
    let minute = (secs.rem_euclid(86_400) / 60) as u16;
    // 1970-01-01 was a Thursday (weekday 3 with Monday = 0).
    let weekday = (days + 3).rem_euclid(7) as u8;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (yoe + era * 400 + if month <= 2 { 1 } else { 0 }) as i32;
    LocalTime {
        year,
        month,
        day,
        weekday,
        minute,
    }
}

impl Schedule {
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
