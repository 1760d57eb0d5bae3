//! Python's `datetime` values as they travel through the predefined translators (ext codes
//! 123–127), in terms of [`chrono`]:
//!
//! | Python | Rust value | also converts from/to |
//! |---|---|---|
//! | `datetime.date` (127) | [`NaiveDate`] | |
//! | `datetime.datetime` (126) | [`PyDateTime`] | [`NaiveDateTime`] (naive), [`DateTime<FixedOffset>`], [`DateTime<Utc>`] (aware) |
//! | `datetime.time` (125) | [`PyTime`] | [`NaiveTime`] (naive) |
//! | `datetime.timedelta` (124) | [`TimeDelta`] | |
//! | `datetime.timezone` (123) | [`PyTimezone`] | [`FixedOffset`], [`Utc`] |
//!
//! [`PyDateTime`] and [`PyTime`] keep what chrono's types cannot: an optional timezone with
//! its optional name, and PEP 495's `fold`, so a value decoded from Python re-encodes to the
//! same bytes. Python has microsecond precision and years 1–9999: encoding truncates
//! sub-microsecond digits (towards the past) and rejects other years.

use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike, Utc,
};

use super::pyrepr::repr_str;

/// Python's largest `timedelta.days` magnitude.
pub const MAX_DELTA_DAYS: i64 = 999_999_999;

const US_PER_DAY: i128 = 86_400_000_000;

/// A `datetime.timezone`: a fixed offset strictly between -24 h and +24 h, with an optional
/// name (`timezone(timedelta(hours=3), 'MSK')`). `datetime.timezone.utc` is the zero offset
/// without a name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PyTimezone {
    /// Microseconds east of UTC (|offset| < one day).
    offset_us: i64,
    name: Option<Box<str>>,
}

impl PyTimezone {
    /// `datetime.timezone.utc`.
    pub fn utc() -> PyTimezone {
        PyTimezone {
            offset_us: 0,
            name: None,
        }
    }

    /// `timezone(offset[, name])`; `None` unless `-24 h < offset < 24 h` (Python's rule).
    /// Sub-microsecond digits are dropped.
    pub fn new(offset: TimeDelta, name: Option<String>) -> Option<PyTimezone> {
        let us = delta_micros(&offset);
        if us.abs() >= US_PER_DAY {
            return None;
        }
        Some(PyTimezone {
            offset_us: us as i64,
            name: name.map(String::into_boxed_str),
        })
    }

    /// A fixed offset in seconds east of UTC, without a name.
    pub fn from_seconds(seconds: i32) -> Option<PyTimezone> {
        PyTimezone::new(TimeDelta::seconds(seconds as i64), None)
    }

    /// The offset from UTC (east positive).
    pub fn offset(&self) -> TimeDelta {
        TimeDelta::microseconds(self.offset_us)
    }

    /// The name given to the timezone, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The offset as a chrono [`FixedOffset`]; `None` when it has sub-second digits.
    pub fn fixed_offset(&self) -> Option<FixedOffset> {
        if self.offset_us % 1_000_000 != 0 {
            return None;
        }
        FixedOffset::east_opt((self.offset_us / 1_000_000) as i32)
    }

    /// Python's `repr()`.
    pub fn python_repr(&self) -> String {
        if self.offset_us == 0 && self.name.is_none() {
            return "datetime.timezone.utc".into();
        }
        match &self.name {
            None => format!("datetime.timezone({})", repr_timedelta(&self.offset())),
            Some(n) => format!(
                "datetime.timezone({}, {})",
                repr_timedelta(&self.offset()),
                repr_str(n)
            ),
        }
    }
}

impl From<FixedOffset> for PyTimezone {
    fn from(o: FixedOffset) -> PyTimezone {
        PyTimezone {
            offset_us: o.local_minus_utc() as i64 * 1_000_000,
            name: None,
        }
    }
}

impl From<Utc> for PyTimezone {
    fn from(_: Utc) -> PyTimezone {
        PyTimezone::utc()
    }
}

/// A `datetime.datetime`: local date and time, an optional timezone, and `fold`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PyDateTime {
    /// The wall-clock date and time (in `tz` when there is one).
    pub naive: NaiveDateTime,
    /// The timezone (`tzinfo`); `None` for a naive datetime.
    pub tz: Option<PyTimezone>,
    /// PEP 495's `fold` (which of two ambiguous wall times is meant).
    pub fold: bool,
}

impl PyDateTime {
    /// A naive datetime.
    pub fn naive(naive: NaiveDateTime) -> PyDateTime {
        PyDateTime {
            naive,
            tz: None,
            fold: false,
        }
    }

    /// An aware datetime: wall time `naive` in `tz`.
    pub fn aware(naive: NaiveDateTime, tz: PyTimezone) -> PyDateTime {
        PyDateTime {
            naive,
            tz: Some(tz),
            fold: false,
        }
    }

    /// As a chrono [`DateTime<FixedOffset>`], when aware with a whole-second offset.
    pub fn to_fixed(&self) -> Option<DateTime<FixedOffset>> {
        let off = self.tz.as_ref()?.fixed_offset()?;
        self.naive.and_local_timezone(off).single()
    }

    /// Python's `repr()`.
    pub fn python_repr(&self) -> String {
        let d = self.naive.date();
        let t = self.naive.time();
        let mut s = format!(
            "datetime.datetime({}, {}, {}, {}, {}",
            d.year(),
            d.month(),
            d.day(),
            t.hour(),
            t.minute()
        );
        push_seconds(&mut s, &t);
        if let Some(tz) = &self.tz {
            s.push_str(", tzinfo=");
            s.push_str(&tz.python_repr());
        }
        if self.fold {
            s.push_str(", fold=1");
        }
        s.push(')');
        s
    }
}

fn push_seconds(s: &mut String, t: &NaiveTime) {
    let us = t.nanosecond() / 1000;
    if us != 0 {
        s.push_str(&format!(", {}, {}", t.second(), us));
    } else if t.second() != 0 {
        s.push_str(&format!(", {}", t.second()));
    }
}

impl From<NaiveDateTime> for PyDateTime {
    fn from(naive: NaiveDateTime) -> PyDateTime {
        PyDateTime::naive(naive)
    }
}

impl From<DateTime<FixedOffset>> for PyDateTime {
    fn from(dt: DateTime<FixedOffset>) -> PyDateTime {
        PyDateTime::aware(dt.naive_local(), (*dt.offset()).into())
    }
}

impl From<DateTime<Utc>> for PyDateTime {
    fn from(dt: DateTime<Utc>) -> PyDateTime {
        PyDateTime::aware(dt.naive_utc(), PyTimezone::utc())
    }
}

/// A `datetime.time`: wall time, an optional timezone, and `fold`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PyTime {
    /// The wall-clock time.
    pub naive: NaiveTime,
    /// The timezone (`tzinfo`); `None` for a naive time.
    pub tz: Option<PyTimezone>,
    /// PEP 495's `fold`.
    pub fold: bool,
}

impl PyTime {
    /// A naive time.
    pub fn naive(naive: NaiveTime) -> PyTime {
        PyTime {
            naive,
            tz: None,
            fold: false,
        }
    }

    /// Python's `repr()`.
    pub fn python_repr(&self) -> String {
        let mut s = format!(
            "datetime.time({}, {}",
            self.naive.hour(),
            self.naive.minute()
        );
        push_seconds(&mut s, &self.naive);
        if let Some(tz) = &self.tz {
            s.push_str(", tzinfo=");
            s.push_str(&tz.python_repr());
        }
        if self.fold {
            s.push_str(", fold=1");
        }
        s.push(')');
        s
    }
}

impl From<NaiveTime> for PyTime {
    fn from(naive: NaiveTime) -> PyTime {
        PyTime::naive(naive)
    }
}

/// Python's `repr()` of a `date`.
pub fn repr_date(d: &NaiveDate) -> String {
    format!("datetime.date({}, {}, {})", d.year(), d.month(), d.day())
}

/// Python's `repr()` of a `timedelta` (3.7+ keyword form).
pub fn repr_timedelta(d: &TimeDelta) -> String {
    let Some((days, secs, us)) = delta_parts(d) else {
        return format!("datetime.timedelta(<out of range: {d}>)");
    };
    let mut parts = Vec::new();
    if days != 0 {
        parts.push(format!("days={days}"));
    }
    if secs != 0 {
        parts.push(format!("seconds={secs}"));
    }
    if us != 0 {
        parts.push(format!("microseconds={us}"));
    }
    if parts.is_empty() {
        "datetime.timedelta(0)".into()
    } else {
        format!("datetime.timedelta({})", parts.join(", "))
    }
}

/// Whole microseconds of `d`, rounded towards the past.
pub(crate) fn delta_micros(d: &TimeDelta) -> i128 {
    let ns = d.num_seconds() as i128 * 1_000_000_000 + d.subsec_nanos() as i128;
    ns.div_euclid(1000)
}

/// A delta of `us` microseconds, if chrono can hold it.
pub(crate) fn micros_delta(us: i128) -> Option<TimeDelta> {
    let secs = us.div_euclid(1_000_000);
    let rest = us.rem_euclid(1_000_000);
    TimeDelta::new(i64::try_from(secs).ok()?, (rest * 1000) as u32)
}

/// Python's normalized `(days, seconds, microseconds)` of `d`; `None` beyond Python's range.
pub fn delta_parts(d: &TimeDelta) -> Option<(i64, i64, i64)> {
    let us = delta_micros(d);
    let days = us.div_euclid(US_PER_DAY);
    let rest = us.rem_euclid(US_PER_DAY);
    if days.abs() > MAX_DELTA_DAYS as i128 {
        return None;
    }
    Some((
        days as i64,
        (rest / 1_000_000) as i64,
        (rest % 1_000_000) as i64,
    ))
}

/// The delta Python's `timedelta(days, seconds, microseconds)` constructor builds (any
/// integers, normalized); `None` beyond Python's range.
pub fn delta_from_parts(days: i128, seconds: i128, micros: i128) -> Option<TimeDelta> {
    let us = days
        .checked_mul(US_PER_DAY)?
        .checked_add(seconds.checked_mul(1_000_000)?)?
        .checked_add(micros)?;
    if us.div_euclid(US_PER_DAY).abs() > MAX_DELTA_DAYS as i128 {
        return None;
    }
    micros_delta(us)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reprs() {
        let dt = NaiveDate::from_ymd_opt(2026, 11, 25)
            .unwrap()
            .and_hms_micro_opt(19, 34, 29, 123456)
            .unwrap();
        assert_eq!(
            PyDateTime::naive(dt).python_repr(),
            "datetime.datetime(2026, 11, 25, 19, 34, 29, 123456)"
        );
        let tz = PyTimezone::new(TimeDelta::seconds(-19800), Some("X".into())).unwrap();
        assert_eq!(
            tz.python_repr(),
            "datetime.timezone(datetime.timedelta(days=-1, seconds=66600), 'X')"
        );
        assert_eq!(repr_timedelta(&TimeDelta::zero()), "datetime.timedelta(0)");
        assert_eq!(
            delta_parts(&delta_from_parts(-1, 3, 7).unwrap()),
            Some((-1, 3, 7))
        );
        assert!(PyTimezone::new(TimeDelta::hours(24), None).is_none());
    }
}
