//! The ISO 8601 date-times `group-reset --to-datetime` accepts: the forms
//! `kafka-consumer-groups.sh` takes (Kafka's `Utils.getDateTime`), and a few more.
//!
//! ```text
//! YYYY-MM-DDTHH:mm:SS.sss            no zone: UTC (Kafka appends `Z` too)
//! YYYY-MM-DDTHH:mm:SS.sssZ           UTC
//! YYYY-MM-DDTHH:mm:SS.sss+hh:mm      an offset from UTC (also -hh:mm, +hhmm, +hh)
//! ```
//!
//! Beyond Kafka (whose pattern is strictly `ss.SSS`): the fraction may have 1
//! to 9 digits (truncated to milliseconds) or be left out, and so may the
//! seconds (`YYYY-MM-DDTHH:mm`).

/// Milliseconds since the Unix epoch of `text`, or why it is not a date-time.
pub fn parse_ms(text: &str) -> Result<i64, String> {
    let bad = |why: &str| {
        Err(format!(
            "--to-datetime {text:?} is not an ISO 8601 date-time like 2024-10-09T15:48:18.000 \
             (optionally ending in Z or +hh:mm): {why}"
        ))
    };
    let Some((date, time)) = text.split_once('T') else {
        return bad("no 'T' between date and time");
    };
    let (time, zone_ms) = match split_zone(time) {
        Ok(split) => split,
        Err(why) => return bad(&why),
    };
    let mut d = date.split('-');
    let (Some(y), Some(mo), Some(day), None) = (d.next(), d.next(), d.next(), d.next()) else {
        return bad("the date is not YYYY-MM-DD");
    };
    let (Some(year), Some(month), Some(day)) = (digits(y, 4), digits(mo, 2), digits(day, 2)) else {
        return bad("the date is not YYYY-MM-DD");
    };
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return bad("no such date");
    }
    let (hms, fraction) = time.split_once('.').map_or((time, None), |(a, b)| (a, Some(b)));
    let mut t = hms.split(':');
    let (Some(h), Some(mi), s, None) = (t.next(), t.next(), t.next(), t.next()) else {
        return bad("the time is not HH:mm:SS");
    };
    let (Some(hour), Some(minute)) = (digits(h, 2), digits(mi, 2)) else {
        return bad("the time is not HH:mm:SS");
    };
    let second = match s.map(|s| digits(s, 2)) {
        None if fraction.is_none() => 0,
        Some(Some(s)) => s,
        _ => return bad("the time is not HH:mm:SS"),
    };
    if hour > 23 || minute > 59 || second > 59 {
        return bad("the time is out of range");
    }
    let millis = match fraction {
        None => 0,
        Some(f) if (1..=9).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()) => f
            .bytes()
            .chain(std::iter::repeat(b'0'))
            .take(3)
            .fold(0, |n, b| n * 10 + i64::from(b - b'0')),
        Some(_) => return bad("the fraction of a second is not 1 to 9 digits"),
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
    Ok(seconds * 1_000 + millis - zone_ms)
}

/// Splits a trailing `Z`, `+hh:mm`, `-hh:mm`, `+hhmm` or `+hh` off the time part:
/// the time and the zone's offset from UTC in ms.
fn split_zone(time: &str) -> Result<(&str, i64), String> {
    if let Some(t) = time.strip_suffix('Z').or_else(|| time.strip_suffix('z')) {
        return Ok((t, 0));
    }
    let Some(at) = time.find(['+', '-']) else { return Ok((time, 0)) };
    let (t, zone) = time.split_at(at);
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let zone = &zone[1..];
    let (h, m) = match (zone.len(), zone.split_once(':')) {
        (_, Some((h, m))) => (h, m),
        // Split only ASCII: a multi-byte character there is simply not an offset.
        (4, None) if zone.is_ascii() => zone.split_at(2),
        (2, None) => (zone, "00"),
        _ => return Err(format!("the zone offset {zone:?} is not hh:mm")),
    };
    match (digits(h, 2), digits(m, 2)) {
        (Some(h), Some(m)) if h <= 18 && m <= 59 => Ok((t, sign * (h * 60 + m) * 60_000)),
        _ => Err(format!("the zone offset {zone:?} is not hh:mm")),
    }
}

/// `s` as a number when it is exactly `n` ASCII digits.
fn digits(s: &str, n: usize) -> Option<i64> {
    if s.len() != n || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafkas_forms() {
        assert_eq!(parse_ms("1970-01-01T00:00:00.000"), Ok(0));
        assert_eq!(parse_ms("2024-10-09T15:48:18.123Z"), Ok(1_728_488_898_123));
        assert_eq!(parse_ms("2024-10-09T17:48:18.123+02:00"), Ok(1_728_488_898_123));
        assert_eq!(parse_ms("2024-10-09T13:18:18.123-0230"), Ok(1_728_488_898_123));
        assert_eq!(parse_ms("2024-10-09T15:48:18"), Ok(1_728_488_898_000));
        assert_eq!(parse_ms("2024-10-09T15:48"), Ok(1_728_488_880_000));
        assert_eq!(parse_ms("2024-02-29T00:00:00.5"), Ok(1_709_164_800_500));
        assert_eq!(parse_ms("1969-12-31T23:59:59.999Z"), Ok(-1));
        for bad in [
            "2024-10-09",
            "2024-13-01T00:00",
            "2023-02-29T00:00",
            "2024-10-09T24:00",
            "2024-10-09T15:48:18.",
            "2024-10-09T15:48:18+2",
            "24-10-09T15:48",
        ] {
            assert!(parse_ms(bad).is_err(), "{bad}");
        }
    }
}
