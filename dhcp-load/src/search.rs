//! `--find-max`: the highest offered DORA rate whose drops stay within a bound — the method ISC
//! uses for Kea's published figures (an exchange unanswered within 1 s is a drop; a rate
//! passes when at most 2.5 % drop).
//!
//! The search doubles the rate from a start until a step fails, then bisects between the
//! highest passing and the lowest failing rate until they are within a relative precision or
//! the step budget is spent. A step where the generator itself could not send the rate asked
//! for ends the search: beyond it, the generator and not the server is measured.

use serde::Serialize;

/// The measurement of one step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct StepResult {
    /// DORAs per second asked for.
    pub target: f64,
    /// DORAs per second actually started.
    pub offered: f64,
    /// DORAs per second completed.
    pub completed: f64,
    /// Percentage of the step's DORAs that failed.
    pub drop_pct: f64,
    /// Whether the step passed.
    pub passed: bool,
}

/// Why the search stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchEnd {
    /// The passing and failing rates are within the precision.
    Converged,
    /// The step budget ran out.
    OutOfSteps,
    /// The generator could not offer the rate of a passing step.
    GeneratorLimit,
    /// Even the lowest rate tried failed.
    NothingPassed,
}

/// The search state (sans-IO: the driver runs each step and reports it).
#[derive(Clone, Debug)]
pub struct RateSearch {
    max_drop_pct: f64,
    precision: f64,
    max_steps: usize,
    next: f64,
    pass: Option<StepResult>,
    fail: Option<f64>,
    steps: Vec<StepResult>,
    end: Option<SearchEnd>,
}

/// A step whose offered rate stays below this share of its target measured the generator.
const SENT_ENOUGH: f64 = 0.9;

/// Steps below this rate are not tried.
const MIN_RATE: f64 = 10.0;

impl RateSearch {
    /// A search starting at `start` DORAs/s.
    pub fn new(start: f64, max_drop_pct: f64, precision: f64, max_steps: usize) -> Self {
        RateSearch {
            max_drop_pct,
            precision,
            max_steps,
            next: start.max(MIN_RATE),
            pass: None,
            fail: None,
            steps: Vec::with_capacity(max_steps),
            end: None,
        }
    }

    /// The rate of the next step, or `None` when the search is over.
    pub fn next_rate(&self) -> Option<f64> {
        if self.end.is_some() {
            None
        } else {
            Some(self.next)
        }
    }

    /// Records the step just run at [`next_rate`](Self::next_rate).
    pub fn record(&mut self, offered: f64, completed: f64, drop_pct: f64) {
        let target = self.next;
        let sent_enough = offered >= SENT_ENOUGH * target;
        let passed = drop_pct <= self.max_drop_pct && sent_enough;
        let step = StepResult {
            target,
            offered,
            completed,
            drop_pct,
            passed,
        };
        self.steps.push(step);
        if drop_pct <= self.max_drop_pct && !sent_enough {
            // The server kept up with all the generator could send.
            if self.pass.is_none_or(|p| p.target < target) {
                self.pass = Some(step);
            }
            self.end = Some(SearchEnd::GeneratorLimit);
            return;
        }
        if passed {
            self.pass = Some(step);
        } else {
            self.fail = Some(self.fail.map_or(target, |f| f.min(target)));
        }
        let lo = self.pass.map(|p| p.target);
        self.next = match (lo, self.fail) {
            (Some(lo), None) => lo * 2.0,
            (Some(lo), Some(hi)) => {
                if (hi - lo) / hi <= self.precision {
                    self.end = Some(SearchEnd::Converged);
                }
                (lo + hi) / 2.0
            }
            (None, Some(hi)) => {
                if hi / 2.0 < MIN_RATE {
                    self.end = Some(SearchEnd::NothingPassed);
                }
                hi / 2.0
            }
            (None, None) => unreachable!("a step was recorded"),
        };
        if self.end.is_none() && self.steps.len() >= self.max_steps {
            self.end = Some(SearchEnd::OutOfSteps);
        }
    }

    /// The highest passing step (its `offered` rate is the result: with a generator limit it
    /// is below the target).
    pub fn best(&self) -> Option<StepResult> {
        self.pass
    }

    /// Every step, in order.
    pub fn steps(&self) -> &[StepResult] {
        &self.steps
    }

    /// Why the search ended (`None` while it runs).
    pub fn end(&self) -> Option<SearchEnd> {
        self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that completes everything up to `capacity` DORAs/s and drops the excess, and
    /// a generator that can send at most `ceiling`.
    fn search(capacity: f64, ceiling: f64, start: f64) -> RateSearch {
        let mut s = RateSearch::new(start, 2.5, 0.02, 30);
        while let Some(rate) = s.next_rate() {
            let offered = rate.min(ceiling);
            let completed = offered.min(capacity);
            let drop = 100.0 * (offered - completed) / offered;
            s.record(offered, completed, drop);
        }
        s
    }

    #[test]
    fn converges_on_the_capacity() {
        let s = search(73_000.0, 1e9, 1000.0);
        assert_eq!(s.end(), Some(SearchEnd::Converged));
        let best = s.best().unwrap().target;
        // 2.5 % drop allowed above capacity: up to 73,000 / 0.975.
        assert!((72_000.0..=74_900.0).contains(&best), "{best}");
        assert!(s.steps().len() < 20);
    }

    #[test]
    fn starting_too_high_comes_down() {
        let s = search(5_000.0, 1e9, 100_000.0);
        let best = s.best().unwrap().target;
        assert!((4_900.0..=5_130.0).contains(&best), "{best}");
    }

    #[test]
    fn the_generator_limit_ends_the_search() {
        let s = search(1e9, 40_000.0, 1000.0);
        assert_eq!(s.end(), Some(SearchEnd::GeneratorLimit));
        assert_eq!(s.best().unwrap().offered, 40_000.0);
    }

    #[test]
    fn nothing_passing_is_reported() {
        let s = search(0.0, 1e9, 1000.0);
        assert_eq!(s.end(), Some(SearchEnd::NothingPassed));
        assert!(s.best().is_none());
    }

    #[test]
    fn the_step_budget_is_kept() {
        let mut s = RateSearch::new(1000.0, 2.5, 0.0, 5);
        while let Some(r) = s.next_rate() {
            s.record(r, r * 0.5, if r > 3000.0 { 50.0 } else { 0.0 });
        }
        assert_eq!(s.steps().len(), 5);
        assert_eq!(s.end(), Some(SearchEnd::OutOfSteps));
    }
}
