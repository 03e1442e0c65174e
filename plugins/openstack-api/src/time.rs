//! ISO 8601 times as Nova writes and reads them, from and to milliseconds since the epoch.

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

/// A time written as `2026-11-25T01:10:33Z`, without building a string first.
#[derive(Clone, Copy)]
pub struct Iso(pub i64);

/// A time written as Nova's `2026-11-25T01:10:33.000000` (microseconds, no zone).
#[derive(Clone, Copy)]
pub struct IsoMicro(pub i64);

fn write_clock(f: &mut std::fmt::Formatter<'_>, ms: i64) -> std::fmt::Result {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    write!(
        f,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Pushes `n` as exactly `width` decimal digits (zero-padded; `n` fits).
fn push_digits(out: &mut Vec<u8>, n: i64, width: usize) {
    let mut buf = [b'0'; 6];
    let mut n = n.unsigned_abs();
    for slot in buf[..width].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&buf[..width]);
}

/// `YYYY-MM-DDTHH:MM:SS` of `ms`, digit by digit (the listing's hot path: no formatter).
fn push_clock(out: &mut Vec<u8>, ms: i64) {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        // Outside what four digits hold: the formatter's spelling.
        use std::io::Write;
        let _ = write!(out, "{y:04}");
    } else {
        push_digits(out, y, 4);
    }
    out.push(b'-');
    push_digits(out, m, 2);
    out.push(b'-');
    push_digits(out, d, 2);
    out.push(b'T');
    push_digits(out, rem / 3600, 2);
    out.push(b':');
    push_digits(out, rem % 3600 / 60, 2);
    out.push(b':');
    push_digits(out, rem % 60, 2);
}

impl Iso {
    /// Appends the time as a JSON string.
    pub fn push_json(self, out: &mut Vec<u8>) {
        out.push(b'"');
        push_clock(out, self.0);
        out.extend_from_slice(b"Z\"");
    }
}

impl IsoMicro {
    /// Appends the time as a JSON string.
    pub fn push_json(self, out: &mut Vec<u8>) {
        out.push(b'"');
        push_clock(out, self.0);
        out.push(b'.');
        push_digits(out, self.0.rem_euclid(1000) * 1000, 6);
        out.push(b'"');
    }
}

impl std::fmt::Display for Iso {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_clock(f, self.0)?;
        f.write_str("Z")
    }
}

impl std::fmt::Display for IsoMicro {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_clock(f, self.0)?;
        write!(f, ".{:06}", self.0.rem_euclid(1000) * 1000)
    }
}

impl serde::Serialize for Iso {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl serde::Serialize for IsoMicro {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `2026-11-25T01:10:33Z`
pub fn format(ms: i64) -> String {
    Iso(ms).to_string()
}

/// Nova's `updated`-style `2026-11-25T01:10:33.000000` (no zone).
pub fn format_micro(ms: i64) -> String {
    IsoMicro(ms).to_string()
}

/// Parses `YYYY-MM-DD[THH:MM[:SS[.frac]]][Z|±HH:MM]`.
pub fn parse(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, rest) = match s.find(['T', ' ']) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    let mut dp = date.split('-');
    let y: i64 = dp.next()?.parse().ok()?;
    let m: i64 = dp.next()?.parse().ok()?;
    let d: i64 = dp.next()?.parse().ok()?;
    if dp.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let (clock, offset_min) = if let Some(c) = rest.strip_suffix('Z') {
        (c, 0)
    } else if let Some(i) = rest.rfind(['+', '-']).filter(|_| rest.len() > 5) {
        let (c, off) = rest.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (h, mi) = off[1..]
            .split_once(':')
            .unwrap_or((&off[1..3.min(off.len())], "0"));
        (
            c,
            sign * (h.parse::<i64>().ok()? * 60 + mi.parse::<i64>().ok()?),
        )
    } else {
        (rest, 0)
    };
    let (mut h, mut mi, mut sec, mut ms) = (0i64, 0i64, 0i64, 0i64);
    if !clock.is_empty() {
        let mut cp = clock.split(':');
        h = cp.next()?.parse().ok()?;
        mi = cp.next().unwrap_or("0").parse().ok()?;
        if let Some(sv) = cp.next() {
            let (whole, frac) = sv.split_once('.').unwrap_or((sv, ""));
            sec = whole.parse().ok()?;
            let frac3: String = frac.chars().chain("000".chars()).take(3).collect();
            ms = frac3.parse().ok()?;
        }
    }
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    Some(((days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60) * 1000) + ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_written_in_place_match_the_formatter() {
        let times = [
            0,
            1,
            999,
            1_764_000_001_234,
            951_782_400_000,
            253_402_300_799_999,
            -1,
        ];
        for ms in times {
            let mut out = Vec::new();
            Iso(ms).push_json(&mut out);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("\"{}\"", Iso(ms)),
                "{ms}"
            );
            let mut out = Vec::new();
            IsoMicro(ms).push_json(&mut out);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("\"{}\"", IsoMicro(ms)),
                "{ms}"
            );
        }
    }

    #[test]
    fn round_trips() {
        assert_eq!(format(0), "1970-01-01T00:00:00Z");
        let t = parse("2026-11-25T01:10:33Z").unwrap();
        assert_eq!(format(t), "2026-11-25T01:10:33Z");
        assert_eq!(parse("2026-11-25T01:10:33.5+00:00"), Some(t + 500));
        assert_eq!(parse("2026-11-25T02:10:33+01:00"), Some(t));
        assert_eq!(parse("2026-11-25"), parse("2026-11-25T00:00:00Z"));
        assert_eq!(parse("yesterday"), None);
        assert_eq!(format_micro(t + 5), "2026-11-25T01:10:33.005000");
    }
}
