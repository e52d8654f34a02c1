//! Civil time from Unix time and a fixed offset: enough for opening hours and for the
//! reports' days, weeks, months and shifts. (Days-from-civil arithmetic after H. Hinnant's
//! algorithms.) The hospital's zones keep no daylight saving time, so a fixed offset is
//! the whole truth.

/// A moment in local civil time, to the minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// The year, e.g. 2026.
    pub year: i32,
    /// 1 to 12.
    pub month: u8,
    /// 1 to 31.
    pub day: u8,
    /// Monday = 0 ... Sunday = 6.
    pub weekday: u8,
    /// Minutes since local midnight.
    pub minute: u16,
}

/// The local time at `unix_secs` in a zone `utc_offset_min` minutes east of UTC.
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

/// Days since 1970-01-01 of a civil date.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `HH:MM` to minutes of the day; `24:00` is the end of the day.
pub fn hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 || h == 24 && m == 0).then_some(h * 60 + m)
}

/// Time zones by fixed offset: the hospital's zones keep no daylight saving time.
pub fn utc_offset(tz: &str) -> Option<i32> {
    match tz {
        "Asia/Shanghai" | "Asia/Chongqing" | "Asia/Hong_Kong" | "Asia/Macau" | "Asia/Taipei"
        | "Asia/Singapore" | "PRC" => Some(480),
        "UTC" | "Etc/UTC" => Some(0),
        s => {
            let sign = match s.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let m = hhmm(&s[1..])? as i32;
            (m <= 14 * 60).then_some(sign * m)
        }
    }
}
