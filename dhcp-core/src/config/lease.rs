//! Lease times: built-in defaults, overridden key by key by `[lease]`, overridden key by key by
//! a subnet's `lease = { .. }`. A relation that breaks (min above default, ...) is reported at
//! the level that set one of its keys, so a bad `[lease]` is reported once, not once a subnet.

use std::fmt;

use super::defaults;
use super::error::Problems;
use super::file::LeaseFile;
use super::model::LeaseTimes;

/// Where a value came from, for the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// The level being checked.
    Here,
    /// `[lease]`, seen from a subnet.
    Global,
    /// `defaults.rs`.
    BuiltIn,
}

#[derive(Clone, Copy, Debug)]
struct Setting<T> {
    value: T,
    from: Origin,
}

/// The first of two keys that was set at the level being checked.
fn blame<'k, T>(first: (&'k str, Setting<T>), second: (&'k str, Setting<T>)) -> Option<&'k str> {
    [first, second]
        .into_iter()
        .find(|(_, s)| s.from == Origin::Here)
        .map(|(k, _)| k)
}

/// Where a value came from, after the value.
fn origin(from: Origin) -> &'static str {
    match from {
        Origin::Here => "",
        Origin::Global => " from [lease]",
        Origin::BuiltIn => ", the built-in default",
    }
}

/// Seconds with their origin: `600 s`, `600 s from [lease]`.
struct Shown(u32, Origin);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} s{}", self.0, origin(self.1))
    }
}

/// Effective lease settings at one level, each with its origin.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LeaseSettings {
    default: Setting<u32>,
    min: Setting<u32>,
    max: Setting<u32>,
    renew: Setting<u16>,
    rebind: Setting<u16>,
}

impl LeaseSettings {
    /// The built-in defaults.
    pub(crate) fn built_in() -> Self {
        let b = |value| Setting {
            value,
            from: Origin::BuiltIn,
        };
        let permille = |p: f64| Setting {
            value: percent_to_permille(p).unwrap_or(0),
            from: Origin::BuiltIn,
        };
        Self {
            default: b(defaults::LEASE_DEFAULT_SECS),
            min: b(defaults::LEASE_MIN_SECS),
            max: b(defaults::LEASE_MAX_SECS),
            renew: permille(defaults::RENEW_PERCENT),
            rebind: permille(defaults::REBIND_PERCENT),
        }
    }

    /// The validated times.
    pub(crate) fn times(&self) -> LeaseTimes {
        LeaseTimes {
            min_secs: self.min.value,
            default_secs: self.default.value,
            max_secs: self.max.value,
            renew_permille: self.renew.value,
            rebind_permille: self.rebind.value,
        }
    }

    /// `file` over `self` (the parent level, `[lease]` or built in). Records every problem of
    /// `file` under `key`; `None` when there was one.
    pub(crate) fn overlay(&self, file: &LeaseFile, key: &str, p: &mut Problems) -> Option<Self> {
        let inherited = |from| match from {
            Origin::Here => Origin::Global,
            other => other,
        };
        let mut out = *self;
        for s in [&mut out.default, &mut out.min, &mut out.max] {
            s.from = inherited(s.from);
        }
        for s in [&mut out.renew, &mut out.rebind] {
            s.from = inherited(s.from);
        }

        let mut ok = true;
        let durations = [
            ("default", &file.default, &mut out.default),
            ("min", &file.min, &mut out.min),
            ("max", &file.max, &mut out.max),
        ];
        for (name, value, slot) in durations {
            let Some(value) = value else { continue };
            match value.secs() {
                Ok(0) => p.push(format!("{key}.{name}"), "must be at least 1 second"),
                Ok(v) => {
                    *slot = Setting {
                        value: v,
                        from: Origin::Here,
                    };
                    continue;
                }
                Err(reason) => p.push(format!("{key}.{name}"), reason),
            }
            ok = false;
        }
        let fractions = [
            ("renew-percent", file.renew_percent, &mut out.renew),
            ("rebind-percent", file.rebind_percent, &mut out.rebind),
        ];
        for (name, value, slot) in fractions {
            let Some(value) = value else { continue };
            match percent_to_permille(value) {
                Ok(v) => {
                    *slot = Setting {
                        value: v,
                        from: Origin::Here,
                    }
                }
                Err(reason) => {
                    p.push(format!("{key}.{name}"), reason);
                    ok = false;
                }
            }
        }
        // Relations between values that did not parse would only repeat those problems.
        (ok && out.check(key, p)).then_some(out)
    }

    /// Checks the relations between the keys; true when they hold.
    fn check(&self, key: &str, p: &mut Problems) -> bool {
        let mut ok = true;
        let mut order = |lo: (&str, Setting<u32>), hi: (&str, Setting<u32>)| {
            if lo.1.value <= hi.1.value {
                return;
            }
            ok = false;
            // Blame a key set at this level; when both are inherited the parent reported it.
            let Some(blamed) = blame(hi, lo) else { return };
            p.push(
                format!("{key}.{blamed}"),
                format!(
                    "{} ({}) must not be greater than {} ({})",
                    lo.0,
                    Shown(lo.1.value, lo.1.from),
                    hi.0,
                    Shown(hi.1.value, hi.1.from),
                ),
            );
        };
        order(("min", self.min), ("default", self.default));
        order(("default", self.default), ("max", self.max));
        // T1 < T2 strictly (RFC 2131 section 4.4.5).
        if self.renew.value >= self.rebind.value {
            ok = false;
            if let Some(blamed) = blame(
                ("rebind-percent", self.rebind),
                ("renew-percent", self.renew),
            ) {
                p.push(
                    format!("{key}.{blamed}"),
                    format!(
                        "renew ({}) must be less than rebind ({})",
                        Percent(self.renew),
                        Percent(self.rebind)
                    ),
                );
            }
        }
        ok
    }
}

/// Shows a per-mille setting as a percentage with its origin.
struct Percent(Setting<u16>);

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Setting { value, from } = self.0;
        let pct = format!("{}.{}", value / 10, value % 10);
        let pct = pct.strip_suffix(".0").unwrap_or(&pct);
        write!(f, "{pct} %{}", origin(from))
    }
}

/// 87.5 -> 875; in steps of 0.1, strictly between 0 and 100.
fn percent_to_permille(p: f64) -> Result<u16, String> {
    let permille = (p * 10.0).round();
    if !(p > 0.0 && p < 100.0) {
        return Err(format!(
            "{p} is not a percentage between 0 and 100 (both excluded)"
        ));
    }
    if (p * 10.0 - permille).abs() > 1e-6 {
        return Err(format!("{p}: percentages are taken in steps of 0.1"));
    }
    // 0 < p < 100 and a multiple of 0.1, so 1..=999.
    Ok(permille as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::DurationValue;

    fn file(default: Option<u32>, min: Option<u32>, max: Option<u32>) -> LeaseFile {
        let d = |v: Option<u32>| v.map(|v| DurationValue::Secs(i64::from(v)));
        LeaseFile {
            default: d(default),
            min: d(min),
            max: d(max),
            ..LeaseFile::default()
        }
    }

    fn problems(f: impl FnOnce(&mut Problems)) -> Vec<String> {
        let mut p = Problems::default();
        f(&mut p);
        p.into_errors()
            .iter()
            .map(|e| format!("{}: {}", e.key, e.reason))
            .collect()
    }

    #[test]
    fn built_in_defaults_are_consistent() {
        let t = LeaseSettings::built_in().times();
        assert_eq!(
            (t.min_secs, t.default_secs, t.max_secs),
            (600, 3600, 86_400)
        );
        assert_eq!((t.renew_permille, t.rebind_permille), (500, 875));
        assert!(problems(|p| assert!(LeaseSettings::built_in().check("lease", p))).is_empty());
    }

    #[test]
    fn keys_override_one_by_one() {
        let mut p = Problems::default();
        let global = LeaseSettings::built_in()
            .overlay(&file(Some(7200), None, None), "lease", &mut p)
            .unwrap();
        let sub = LeaseFile {
            max: Some(DurationValue::Text("1d".into())),
            renew_percent: Some(40.0),
            ..LeaseFile::default()
        };
        let t = global
            .overlay(&sub, "subnet[0].lease", &mut p)
            .unwrap()
            .times();
        assert!(p.is_empty());
        assert_eq!(
            (t.min_secs, t.default_secs, t.max_secs),
            (600, 7200, 86_400)
        );
        assert_eq!((t.renew_permille, t.rebind_permille), (400, 875));
    }

    #[test]
    fn impossible_times_are_reported_where_they_were_set() {
        let b = LeaseSettings::built_in();
        assert_eq!(
            problems(|p| {
                b.overlay(&file(Some(0), None, None), "lease", p);
            }),
            ["lease.default: must be at least 1 second"]
        );
        assert_eq!(
            problems(|p| {
                b.overlay(&file(Some(100_000), None, None), "lease", p);
            }),
            [
                "lease.default: default (100000 s) must not be greater than max (86400 s, the built-in default)"
            ]
        );
        assert_eq!(
            problems(|p| {
                b.overlay(&file(None, Some(7200), None), "lease", p);
            }),
            [
                "lease.min: min (7200 s) must not be greater than default (3600 s, the built-in default)"
            ]
        );
        assert_eq!(
            problems(|p| {
                b.overlay(&file(Some(300), Some(600), Some(200)), "lease", p);
            }),
            [
                "lease.default: min (600 s) must not be greater than default (300 s)",
                "lease.max: default (300 s) must not be greater than max (200 s)",
            ]
        );
        // Seen from a subnet, an inherited value says where it came from.
        let mut p = Problems::default();
        let global = b
            .overlay(&file(None, Some(1200), None), "lease", &mut p)
            .unwrap();
        assert_eq!(
            problems(|p| {
                global.overlay(&file(Some(900), None, None), "subnet[1].lease", p);
            }),
            [
                "subnet[1].lease.default: min (1200 s from [lease]) must not be greater than default (900 s)"
            ]
        );
    }

    #[test]
    fn renew_must_come_before_rebind_before_expiry() {
        let b = LeaseSettings::built_in();
        let pct = |renew, rebind| LeaseFile {
            renew_percent: renew,
            rebind_percent: rebind,
            ..LeaseFile::default()
        };
        assert_eq!(
            problems(|p| {
                b.overlay(&pct(Some(90.0), None), "lease", p);
            }),
            [
                "lease.renew-percent: renew (90 %) must be less than rebind (87.5 %, the built-in default)"
            ]
        );
        assert_eq!(
            problems(|p| {
                b.overlay(&pct(Some(60.0), Some(60.0)), "lease", p);
            }),
            ["lease.rebind-percent: renew (60 %) must be less than rebind (60 %)"]
        );
        assert_eq!(
            problems(|p| {
                b.overlay(&pct(None, Some(100.0)), "lease", p);
            }),
            ["lease.rebind-percent: 100 is not a percentage between 0 and 100 (both excluded)"]
        );
        assert_eq!(
            problems(|p| {
                b.overlay(&pct(Some(0.0), None), "lease", p);
            }),
            ["lease.renew-percent: 0 is not a percentage between 0 and 100 (both excluded)"]
        );
        assert_eq!(
            problems(|p| {
                b.overlay(&pct(Some(33.33), None), "lease", p);
            }),
            ["lease.renew-percent: 33.33: percentages are taken in steps of 0.1"]
        );
        assert_eq!(percent_to_permille(87.5), Ok(875));
        assert_eq!(percent_to_permille(0.1), Ok(1));
        assert!(percent_to_permille(f64::NAN).is_err());
    }
}
