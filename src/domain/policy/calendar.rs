//! Change windows and freezes: weekly recurring spans in a time zone (or one-off instants), and the
//! weekday and minute-of-week arithmetic that decides whether `now` falls inside one. The parser
//! builds them from the file's strings with the helpers at the end.

use jiff::Timestamp;
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use serde::Serialize;

/// A recurring weekly window in a time zone: on `days`, from `start` to `end` (overnight if end < start).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    pub days: Vec<String>,
    #[serde(skip)]
    pub(super) weekdays: Vec<Weekday>,
    pub start: String,
    pub end: String,
    pub tz: String,
    #[serde(skip)]
    pub(super) times: (Time, Time),
    #[serde(skip)]
    pub(super) zone: TimeZone,
}

/// A freeze: weekly recurring (`from`/`to` such as "fri 16:00" → "mon 09:00" in `tz`) or one-off.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Freeze {
    pub reason: String,
    #[serde(flatten)]
    pub when: FreezeWhen,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum FreezeWhen {
    Weekly {
        from: String,
        to: String,
        tz: String,
        #[serde(skip)]
        minutes: (u32, u32),
        #[serde(skip)]
        zone: TimeZone,
    },
    Once {
        start: Timestamp,
        end: Timestamp,
    },
}

pub(super) const MINUTES_PER_WEEK: u32 = 7 * 24 * 60;

fn minute_of_week(ts: Timestamp, zone: &TimeZone) -> (Weekday, u32, Time) {
    let z = ts.to_zoned_datetime(zone.clone());
    let day = z.weekday();
    let t = z.time();
    let m = day.to_monday_zero_offset() as u32 * 1440 + t.hour() as u32 * 60 + t.minute() as u32;
    (day, m, t)
}

impl Window {
    pub fn contains(&self, now: Timestamp) -> bool {
        let (day, _, t) = minute_of_week(now, &self.zone);
        let (start, end) = self.times;
        if start < end {
            self.weekdays.contains(&day) && start <= t && t < end
        } else {
            (self.weekdays.contains(&day) && t >= start)
                || (self.weekdays.contains(&day.previous()) && t < end)
        }
    }
}

impl Freeze {
    pub fn contains(&self, now: Timestamp) -> bool {
        match &self.when {
            FreezeWhen::Once { start, end } => *start <= now && now < *end,
            FreezeWhen::Weekly {
                minutes: (from, to),
                zone,
                ..
            } => {
                let (_, m, _) = minute_of_week(now, zone);
                if from < to {
                    *from <= m && m < *to
                } else {
                    m >= *from || m < *to
                }
            }
        }
    }
}

pub(super) fn parse_weekday(s: &str) -> Option<Weekday> {
    Some(match s.to_ascii_lowercase().get(..3)? {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

pub(super) fn parse_time(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

pub(super) fn parse_zone(s: &str) -> Option<TimeZone> {
    TimeZone::get(s).ok()
}
