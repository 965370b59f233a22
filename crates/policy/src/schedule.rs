//! When an install may start: inside a maintenance window in the device's local
//! time, with the whole install fitting before the window closes, and never
//! overlapping a blackout.
//!
//! Part of the contract because a policy's [`Description`](crate::Description)
//! states its windows and blackouts in these terms, and whoever checks a
//! rollout against them (the simulator) must read them as the policy does.

use serde::{Deserialize, Serialize};

use crate::calendar::DAY;

/// A recurring maintenance window in local time. `end <= start` crosses
/// midnight: the window belongs to the day it starts on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Weekdays it opens on (0 = Monday); empty means every day.
    pub days: Vec<u32>,
    /// Minutes after local midnight.
    pub start: u32,
    pub end: u32,
}

impl Window {
    /// Length in seconds.
    pub fn seconds(&self) -> i64 {
        let end = if self.end > self.start {
            self.end
        } else {
            self.end + 1440
        };
        i64::from(end - self.start) * 60
    }
}

/// An absolute period with no new installs (an all-hands, a launch), UTC.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Blackout {
    pub start: i64,
    pub end: i64,
    pub reason: String,
}

/// Why a device may not start now, and until when.
#[derive(Clone, Debug, PartialEq)]
pub enum Wait {
    /// Not before `until`: a blackout (the reason) covers the install.
    Blackout { until: i64, reason: String },
    /// Not before `until`: no maintenance window open long enough before then.
    Window { until: i64 },
}

/// Maintenance windows and blackouts, with the time an install takes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schedule {
    pub windows: Vec<Window>,
    pub blackouts: Vec<Blackout>,
    /// Seconds an install needs, so it neither runs past a window's end nor
    /// into a blackout.
    pub install: i64,
}

/// Open window intervals, UTC `[start, end)`, merged, for the local days around `at`.
fn intervals(windows: &[Window], at: i64, offset_seconds: i64) -> Vec<(i64, i64)> {
    let local_day = (at + offset_seconds).div_euclid(DAY);
    let mut out = Vec::new();
    for day in local_day - 1..=local_day + 8 {
        let weekday = crate::calendar::weekday(day);
        for w in windows {
            if !w.days.is_empty() && !w.days.contains(&weekday) {
                continue;
            }
            let start = day * DAY + i64::from(w.start) * 60 - offset_seconds;
            out.push((start, start + w.seconds()));
        }
    }
    out.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(out.len());
    for (s, e) in out {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

impl Schedule {
    /// Whether an install may start at `now` for a device `offset_minutes` east
    /// of UTC; if not, the first reason found and the earliest time it may.
    /// `windows` and `blackouts` say which rules apply (a critical campaign may
    /// be allowed to pass them). `None` from the inner search means no window
    /// in the coming week fits an install, which validation rules out.
    pub fn check(
        &self,
        now: i64,
        offset_minutes: i32,
        windows: bool,
        blackouts: bool,
    ) -> Result<(), Wait> {
        let offset = i64::from(offset_minutes) * 60;
        let mut t = now;
        let mut first: Option<Wait> = None;
        // Each round moves past one blackout or to one window, so few are needed.
        for _ in 0..64 {
            if blackouts
                && let Some(b) = self
                    .blackouts
                    .iter()
                    .filter(|b| b.start < t + self.install && t < b.end)
                    .max_by_key(|b| b.end)
            {
                t = b.end;
                first.get_or_insert(Wait::Blackout {
                    until: t,
                    reason: b.reason.clone(),
                });
                continue;
            }
            if windows && !self.windows.is_empty() {
                let open = intervals(&self.windows, t, offset);
                let fits = open.iter().any(|&(s, e)| s <= t && t + self.install <= e);
                if !fits {
                    let next = open
                        .iter()
                        .filter(|&&(s, e)| s > t && e - s >= self.install)
                        .map(|&(s, _)| s)
                        .next();
                    t = next.unwrap_or(t + 7 * DAY);
                    first.get_or_insert(Wait::Window { until: t });
                    continue;
                }
            }
            break;
        }
        match first {
            None => Ok(()),
            Some(Wait::Blackout { reason, .. }) => Err(Wait::Blackout { until: t, reason }),
            Some(Wait::Window { .. }) => Err(Wait::Window { until: t }),
        }
    }

    /// Seconds of room left in the window an install could start in at `at`
    /// (after the install itself), for spreading deferred devices; a day when
    /// no window applies.
    pub fn room(&self, at: i64, offset_minutes: i32) -> i64 {
        if self.windows.is_empty() {
            return DAY;
        }
        intervals(&self.windows, at, i64::from(offset_minutes) * 60)
            .iter()
            .find(|&&(s, e)| s <= at && at < e)
            .map(|&(_, e)| (e - at - self.install).max(0))
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::parse_instant;

    fn at(text: &str) -> i64 {
        parse_instant(text).unwrap()
    }

    fn nightly(start: u32, end: u32) -> Schedule {
        Schedule {
            windows: vec![Window {
                days: vec![],
                start: start * 60,
                end: end * 60,
            }],
            blackouts: vec![],
            install: 1800,
        }
    }

    #[test]
    fn a_window_is_open_in_local_time_with_room_for_the_install() {
        let s = nightly(2, 5);
        assert_eq!(s.check(at("2026-12-02T02:00:00Z"), 0, true, true), Ok(()));
        assert_eq!(
            s.check(at("2026-12-02T04:30:00Z"), 0, true, true),
            Ok(()),
            "exactly fits"
        );
        assert_eq!(
            s.check(at("2026-12-02T04:31:00Z"), 0, true, true),
            Err(Wait::Window {
                until: at("2026-12-03T02:00:00Z")
            }),
            "the install would run past the end"
        );
        assert_eq!(
            s.check(at("2026-12-02T01:59:59Z"), 0, true, true),
            Err(Wait::Window {
                until: at("2026-12-02T02:00:00Z")
            })
        );
        // 02:00 in UTC+05:30 is 20:30 UTC the day before.
        assert_eq!(s.check(at("2026-12-01T20:30:00Z"), 330, true, true), Ok(()));
        assert!(
            s.check(at("2026-12-02T02:00:00Z"), 330, true, true)
                .is_err()
        );
        // Windows off (a critical campaign): any time.
        assert_eq!(s.check(at("2026-12-02T12:00:00Z"), 0, false, true), Ok(()));
    }

    #[test]
    fn windows_across_midnight_and_at_the_ends_of_the_offset_range() {
        let s = nightly(22, 3);
        assert_eq!(s.check(at("2026-12-02T23:00:00Z"), 0, true, true), Ok(()));
        assert_eq!(s.check(at("2026-12-03T01:00:00Z"), 0, true, true), Ok(()));
        assert_eq!(
            s.check(at("2026-12-03T02:45:00Z"), 0, true, true),
            Err(Wait::Window {
                until: at("2026-12-03T22:00:00Z")
            })
        );
        // UTC+14 (Kiribati): local 22:00 is 08:00 UTC; UTC-12: 10:00 UTC next day.
        assert_eq!(
            s.check(at("2026-12-02T08:00:00Z"), 14 * 60, true, true),
            Ok(())
        );
        assert_eq!(
            s.check(at("2026-12-02T07:59:00Z"), 14 * 60, true, true),
            Err(Wait::Window {
                until: at("2026-12-02T08:00:00Z")
            })
        );
        // UTC-12 at 12:00 UTC is local midnight, inside the night before's window;
        // at 16:00 UTC (04:00 local) it waits for 22:00 local, 10:00 UTC next day.
        assert_eq!(
            s.check(at("2026-12-02T12:00:00Z"), -12 * 60, true, true),
            Ok(())
        );
        assert_eq!(
            s.check(at("2026-12-02T16:00:00Z"), -12 * 60, true, true),
            Err(Wait::Window {
                until: at("2026-12-03T10:00:00Z")
            })
        );
    }

    #[test]
    fn weekday_windows_belong_to_the_day_they_start() {
        // Saturday 23:00 → Sunday 02:00 only.
        let s = Schedule {
            windows: vec![Window {
                days: vec![5],
                start: 23 * 60,
                end: 2 * 60,
            }],
            install: 600,
            ..Schedule::default()
        };
        // 2026-12-05 is a Saturday.
        assert_eq!(s.check(at("2026-12-06T01:00:00Z"), 0, true, true), Ok(()));
        assert_eq!(
            s.check(at("2026-12-06T23:30:00Z"), 0, true, true),
            Err(Wait::Window {
                until: at("2026-12-12T23:00:00Z")
            }),
            "Sunday night is not in the window"
        );
    }

    #[test]
    fn adjacent_windows_merge() {
        let s = Schedule {
            windows: vec![
                Window {
                    days: vec![],
                    start: 23 * 60,
                    end: 1440,
                },
                Window {
                    days: vec![],
                    start: 0,
                    end: 60,
                },
            ],
            install: 3600,
            ..Schedule::default()
        };
        assert_eq!(s.check(at("2026-12-02T23:30:00Z"), 0, true, true), Ok(()));
    }

    #[test]
    fn blackouts_are_never_overlapped_and_edges_are_exact() {
        let s = Schedule {
            blackouts: vec![Blackout {
                start: at("2026-12-01T14:00:00Z"),
                end: at("2026-12-01T18:00:00Z"),
                reason: "all-hands".into(),
            }],
            install: 1800,
            ..Schedule::default()
        };
        let wait = Err(Wait::Blackout {
            until: at("2026-12-01T18:00:00Z"),
            reason: "all-hands".into(),
        });
        assert_eq!(
            s.check(at("2026-12-01T13:30:00Z"), 0, true, true),
            Ok(()),
            "ends as it starts"
        );
        assert_eq!(
            s.check(at("2026-12-01T13:30:01Z"), 0, true, true),
            wait,
            "would run into it"
        );
        assert_eq!(s.check(at("2026-12-01T17:59:59Z"), 0, true, true), wait);
        assert_eq!(
            s.check(at("2026-12-01T18:00:00Z"), 0, true, true),
            Ok(()),
            "the end is free"
        );
        assert_eq!(
            s.check(at("2026-12-01T15:00:00Z"), 0, true, false),
            Ok(()),
            "bypassed"
        );
    }

    #[test]
    fn a_blackout_then_the_next_window() {
        let mut s = nightly(2, 5);
        s.blackouts.push(Blackout {
            start: at("2026-12-01T00:00:00Z"),
            end: at("2026-12-02T03:00:00Z"),
            reason: "freeze".into(),
        });
        assert_eq!(
            s.check(at("2026-12-01T12:00:00Z"), 0, true, true),
            Err(Wait::Blackout {
                until: at("2026-12-02T03:00:00Z"),
                reason: "freeze".into()
            })
        );
        // From 03:00 the rest of that night's window still fits a 30-minute install.
        assert_eq!(s.check(at("2026-12-02T03:00:00Z"), 0, true, true), Ok(()));
        assert_eq!(
            s.room(at("2026-12-02T03:00:00Z"), 0),
            5400,
            "05:00 - 03:00 - 30 min"
        );
    }
}
