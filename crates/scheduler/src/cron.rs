//! Five-field cron schedules (minute hour day-of-month month day-of-week), in UTC:
//! `*`, numbers, ranges `a-b`, lists `a,b`, and steps `*/n` or `a-b/n`. Day-of-week 0 or
//! 7 is Sunday. As in classic cron, when both day fields are restricted a day matches if
//! either does.

use scimgate_core::Timestamp;
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    days_restricted: bool,
    weekdays_restricted: bool,
}

impl std::fmt::Display for Cron {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

fn field(text: &str, name: &str, min: u32, max: u32) -> Result<u64, String> {
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .map_err(|_| format!("{name}: step {s:?} is not a number"))?;
                if step == 0 {
                    return Err(format!("{name}: a step of 0 never fires"));
                }
                if step > max {
                    return Err(format!("{name}: step {step} is larger than {max}"));
                }
                (r, step)
            }
            None => (part, 1),
        };
        let number = |t: &str| -> Result<u32, String> {
            let n: u32 = t
                .parse()
                .map_err(|_| format!("{name}: {t:?} is not a number"))?;
            if n < min || n > max {
                return Err(format!("{name}: {n} is outside {min}-{max}"));
            }
            Ok(n)
        };
        let (from, to) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (number(a)?, number(b)?);
            if a > b {
                return Err(format!("{name}: range {a}-{b} runs backwards"));
            }
            (a, b)
        } else {
            let n = number(range)?;
            (n, if part.contains('/') { max } else { n })
        };
        let mut n = from;
        while n <= to {
            bits |= 1 << n;
            n = match n.checked_add(step) {
                Some(next) => next,
                None => break,
            };
        }
    }
    Ok(bits)
}

impl Cron {
    pub fn parse(text: &str) -> Result<Cron, String> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = parts[..] else {
            return Err(format!(
                "schedule {text:?}: expected 5 fields (minute hour day-of-month month day-of-week), got {}",
                parts.len()
            ));
        };
        let wrap = |e: String| format!("schedule {text:?}: {e}");
        let mut weekdays = field(weekday, "day of week", 0, 7).map_err(wrap)?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1;
        }
        Ok(Cron {
            text: parts.join(" "),
            minutes: field(minute, "minute", 0, 59).map_err(wrap)?,
            hours: field(hour, "hour", 0, 23).map_err(wrap)?,
            days: field(day, "day of month", 1, 31).map_err(wrap)?,
            months: field(month, "month", 1, 12).map_err(wrap)?,
            weekdays,
            days_restricted: day != "*",
            weekdays_restricted: weekday != "*",
        })
    }

    fn matches(&self, t: OffsetDateTime) -> bool {
        let bit = |set: u64, n: u8| set & (1 << n) != 0;
        let day = bit(self.days, t.day());
        let weekday = bit(self.weekdays, t.weekday().number_days_from_sunday());
        let day_ok = match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => day || weekday,
            _ => day && weekday,
        };
        bit(self.minutes, t.minute())
            && bit(self.hours, t.hour())
            && bit(self.months, u8::from(t.month()))
            && day_ok
    }

    /// The latest fire time at or before `now`, looking back at most `horizon_minutes`.
    pub fn latest_fire(&self, now: Timestamp, horizon_minutes: i64) -> Option<Timestamp> {
        let minute = now.unix_millis().div_euclid(60_000) * 60_000;
        (0..=horizon_minutes)
            .map(|back| minute - back * 60_000)
            .find(|millis| {
                OffsetDateTime::from_unix_timestamp(millis / 1000).is_ok_and(|t| self.matches(t))
            })
            .and_then(Timestamp::from_unix_millis)
    }
}

impl Cron {
    /// The next `count` fire times after `now`, looking ahead at most a year.
    pub fn next_fires(&self, now: Timestamp, count: usize) -> Vec<Timestamp> {
        const YEAR_MINUTES: i64 = 366 * 24 * 60;
        let minute = now.unix_millis().div_euclid(60_000) * 60_000;
        (1..=YEAR_MINUTES)
            .map(|ahead| minute + ahead * 60_000)
            .filter(|millis| {
                OffsetDateTime::from_unix_timestamp(millis / 1000).is_ok_and(|t| self.matches(t))
            })
            .take(count)
            .filter_map(Timestamp::from_unix_millis)
            .collect()
    }

    /// The schedule in words, for the common shapes ("every 15 minutes", "every day at
    /// 02:30 UTC"); other shapes are named by their cron line.
    pub fn describe(&self) -> String {
        let fields: Vec<&str> = self.text.split(' ').collect();
        let [minute, hour, day, month, weekday] = fields[..] else {
            return format!("cron “{}” (UTC)", self.text);
        };
        let every_day = day == "*" && month == "*" && weekday == "*";
        let number = |t: &str| t.parse::<u32>().ok();
        let step = |t: &str| t.strip_prefix("*/").and_then(|n| n.parse::<u32>().ok());
        match (number(minute), number(hour), step(minute), step(hour)) {
            _ if every_day && minute == "*" && hour == "*" => "every minute".into(),
            (_, _, Some(n), _) if every_day && hour == "*" => format!("every {n} minutes"),
            (Some(m), _, _, _) if every_day && hour == "*" => {
                format!("every hour at minute {m}")
            }
            (Some(m), _, _, Some(n)) if every_day => format!("every {n} hours at minute {m}"),
            (Some(m), Some(h), _, _) if every_day => format!("every day at {h:02}:{m:02} UTC"),
            (Some(m), Some(h), _, _) if day == "*" && month == "*" => {
                format!("at {h:02}:{m:02} UTC on {}", weekdays(weekday))
            }
            _ => format!("cron “{}” (UTC)", self.text),
        }
    }
}

/// `1-5` → "Monday to Friday", `0,6` → "Sunday, Saturday".
fn weekdays(field: &str) -> String {
    const NAMES: [&str; 8] = [
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    let name = |t: &str| t.parse::<usize>().ok().and_then(|n| NAMES.get(n).copied());
    if let Some((a, b)) = field.split_once('-') {
        if let (Some(a), Some(b)) = (name(a), name(b)) {
            return format!("{a} to {b}");
        }
    }
    let names: Option<Vec<&str>> = field.split(',').map(name).collect();
    names.map_or_else(|| format!("days {field}"), |n| n.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_read_in_words_and_fire_next() {
        let words = |text: &str| Cron::parse(text).unwrap().describe();
        assert_eq!(words("*/15 * * * *"), "every 15 minutes");
        assert_eq!(words("* * * * *"), "every minute");
        assert_eq!(words("5 * * * *"), "every hour at minute 5");
        assert_eq!(words("0 */6 * * *"), "every 6 hours at minute 0");
        assert_eq!(words("30 2 * * *"), "every day at 02:30 UTC");
        assert_eq!(words("0 7 * * 1-5"), "at 07:00 UTC on Monday to Friday");
        assert_eq!(words("0 7 * * 0,6"), "at 07:00 UTC on Sunday, Saturday");
        assert_eq!(words("0 0 1 1 *"), "cron “0 0 1 1 *” (UTC)");
        let next = Cron::parse("30 2 * * *")
            .unwrap()
            .next_fires(at("2026-12-06T23:00:00Z"), 3);
        let next: Vec<String> = next.into_iter().map(Timestamp::to_rfc3339).collect();
        assert_eq!(
            next,
            [
                "2026-12-07T02:30:00.000Z",
                "2026-12-08T02:30:00.000Z",
                "2026-12-09T02:30:00.000Z"
            ]
        );
        let yearly = Cron::parse("0 0 1 1 *").unwrap();
        assert_eq!(yearly.next_fires(at("2026-12-06T23:00:00Z"), 1).len(), 1);
    }

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn every_fifteen_minutes() {
        let cron = Cron::parse("*/15 * * * *").unwrap();
        assert_eq!(
            cron.latest_fire(at("2026-11-22T10:14:59Z"), 60),
            Some(at("2026-11-22T10:00:00Z"))
        );
        assert_eq!(
            cron.latest_fire(at("2026-11-22T10:15:00Z"), 60),
            Some(at("2026-11-22T10:15:00Z"))
        );
    }

    #[test]
    fn ranges_lists_and_weekdays() {
        let cron = Cron::parse("30 8-17/3 * * 1-5").unwrap();
        // 2026-11-22 is a Sunday: the last fire is Friday 17:30.
        assert_eq!(
            cron.latest_fire(at("2026-11-22T12:00:00Z"), 4 * 24 * 60),
            Some(at("2026-11-20T17:30:00Z"))
        );
        let cron = Cron::parse("0 0 1,15 * 0").unwrap();
        // Day 15 or any Sunday (both day fields restricted: either matches).
        assert_eq!(
            cron.latest_fire(at("2026-11-22T12:00:00Z"), 8 * 24 * 60),
            Some(at("2026-11-22T00:00:00Z"))
        );
        let sunday7 = Cron::parse("0 0 * * 7").unwrap();
        assert!(sunday7.latest_fire(at("2026-11-22T00:00:00Z"), 0).is_some());
    }

    #[test]
    fn bad_schedules_name_the_field() {
        for (text, needle) in [
            ("* * * *", "expected 5 fields"),
            ("60 * * * *", "minute: 60 is outside 0-59"),
            ("*/0 * * * *", "step of 0"),
            ("5/4294967295 * * * *", "larger than 59"),
            ("* 5-2 * * *", "runs backwards"),
            ("* * x * *", "day of month: \"x\" is not a number"),
            ("* * * 13 *", "month: 13"),
        ] {
            let err = Cron::parse(text).err().unwrap_or_default();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
