//! When to retrain: triggers, and the guards that hold a trigger back.
//!
//! Triggers: input drift at or above a configured severity for k windows
//! in a row, performance drift, a schedule, and a person asking. Guards:
//! enough labeled rows and positives to train on, a cooldown since the
//! last retrain, and a cap on promotions in the last 24 hours.
//!
//! A request by hand skips the cooldown and the promotion cap (someone
//! decided; the gate still refuses a promotion over the cap) but never the
//! data guards: a model cannot be trained on rows that are not there.
//!
//! Time is passed in (ns since the epoch), so the policy is a pure state
//! machine that tests drive with any clock.

use std::collections::VecDeque;
use std::time::Duration;

use crate::detector::Severity;
use crate::performance::PerformanceVerdict;

const DAY_NS: i64 = 86_400_000_000_000;

/// The policy's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PolicyConfig {
    /// Severity that counts towards a drift trigger.
    pub drift_severity: Severity,
    /// Windows in a row at or above it before drift triggers.
    pub drift_windows: usize,
    /// Retrain at least this often; `None` for no schedule.
    pub schedule: Option<Duration>,
    /// Labeled rows needed to train.
    pub min_rows: u64,
    /// Positive labels needed to train.
    pub min_positives: u64,
    /// Least time between two retrains.
    pub cooldown: Duration,
    /// Most promotions in any 24 hours.
    pub max_promotions_per_day: u32,
}

/// Why a retrain was (or would be) started.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trigger {
    /// Input drift at `severity` or above for `windows` windows in a row.
    Drift {
        /// The latest window's severity.
        severity: Severity,
        /// Windows in a row at or above the configured severity.
        windows: usize,
    },
    /// Live PR-AUC's upper bound below the model's test PR-AUC x (1 - tolerance).
    Performance {
        /// The interval's upper bound.
        upper: f64,
        /// The limit it fell below.
        limit: f64,
    },
    /// The schedule came due.
    Schedule {
        /// Time since the last retrain (or since the worker started).
        since: Duration,
    },
    /// Asked for by hand.
    Manual,
}

impl Trigger {
    /// A short name for reports and metrics labels.
    pub fn name(&self) -> &'static str {
        match self {
            Trigger::Drift { .. } => "drift",
            Trigger::Performance { .. } => "performance",
            Trigger::Schedule { .. } => "schedule",
            Trigger::Manual => "manual",
        }
    }
}

/// What holds a retrain back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Blocked {
    /// Too few labeled rows.
    TooFewRows {
        /// Rows at hand.
        have: u64,
        /// Rows needed.
        need: u64,
    },
    /// Too few positive labels.
    TooFewPositives {
        /// Positives at hand.
        have: u64,
        /// Positives needed.
        need: u64,
    },
    /// The last retrain was too recent.
    Cooldown {
        /// Time until the cooldown ends.
        remaining: Duration,
    },
    /// The promotion cap for the last 24 hours is reached.
    PromotionCap {
        /// Promotions in the last 24 hours.
        promotions: u32,
        /// The cap.
        cap: u32,
    },
}

/// What the worker has to train on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    /// Labeled rows in the training window.
    pub rows: u64,
    /// Positive labels among them.
    pub positives: u64,
    /// The latest performance judgement, if any.
    pub performance: Option<PerformanceVerdict>,
}

/// The answer to "should the worker retrain now?".
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Every trigger that is active.
    pub triggers: Vec<Trigger>,
    /// Every guard that holds back an automatic retrain.
    pub blocked: Vec<Blocked>,
    /// Retrain now: a trigger is active and nothing that applies to it
    /// blocks.
    pub retrain: bool,
}

/// The policy's state.
#[derive(Debug, Clone)]
pub struct Policy {
    cfg: PolicyConfig,
    drift_run: usize,
    last_severity: Severity,
    /// The last retrain, or when the policy started (the schedule's anchor).
    last_retrain_ns: Option<i64>,
    started_ns: i64,
    promotions_ns: VecDeque<i64>,
}

impl Policy {
    /// A policy starting at `now_ns`.
    pub fn new(cfg: PolicyConfig, now_ns: i64) -> Policy {
        Policy {
            cfg,
            drift_run: 0,
            last_severity: Severity::None,
            last_retrain_ns: None,
            started_ns: now_ns,
            promotions_ns: VecDeque::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &PolicyConfig {
        &self.cfg
    }

    /// Records one drift window's severity.
    pub fn observe(&mut self, severity: Severity) {
        self.last_severity = severity;
        self.drift_run = if severity >= self.cfg.drift_severity && severity > Severity::None {
            self.drift_run + 1
        } else {
            0
        };
    }

    /// Windows in a row at or above the configured severity.
    pub fn drift_run(&self) -> usize {
        self.drift_run
    }

    /// Whether to retrain at `now_ns`, given `evidence`; `manual` when a
    /// person asked.
    pub fn check(&self, now_ns: i64, evidence: &Evidence, manual: bool) -> Check {
        let mut triggers = Vec::new();
        if manual {
            triggers.push(Trigger::Manual);
        }
        if self.drift_run >= self.cfg.drift_windows.max(1) {
            triggers.push(Trigger::Drift {
                severity: self.last_severity,
                windows: self.drift_run,
            });
        }
        if let Some(PerformanceVerdict::Drift { upper, limit }) = evidence.performance {
            triggers.push(Trigger::Performance { upper, limit });
        }
        let anchor = self.last_retrain_ns.unwrap_or(self.started_ns);
        let since = elapsed(anchor, now_ns);
        if let Some(every) = self.cfg.schedule
            && since >= every
        {
            triggers.push(Trigger::Schedule { since });
        }

        let mut data = Vec::new();
        if evidence.rows < self.cfg.min_rows {
            data.push(Blocked::TooFewRows {
                have: evidence.rows,
                need: self.cfg.min_rows,
            });
        }
        if evidence.positives < self.cfg.min_positives {
            data.push(Blocked::TooFewPositives {
                have: evidence.positives,
                need: self.cfg.min_positives,
            });
        }
        let mut timing = Vec::new();
        if let Some(last) = self.last_retrain_ns {
            let since_last = elapsed(last, now_ns);
            if since_last < self.cfg.cooldown {
                timing.push(Blocked::Cooldown {
                    remaining: self.cfg.cooldown - since_last,
                });
            }
        }
        let promotions = self.promotions_in_last_day(now_ns);
        if promotions >= self.cfg.max_promotions_per_day {
            timing.push(Blocked::PromotionCap {
                promotions,
                cap: self.cfg.max_promotions_per_day,
            });
        }
        let automatic = triggers.iter().any(|t| *t != Trigger::Manual);
        // A retrain asked for by hand passes the same guards as an
        // automatic one: the cooldown and the daily cap on promotions are
        // what keep a champion from being churned, whoever asks.
        let retrain = data.is_empty() && timing.is_empty() && (manual || automatic);
        data.extend(timing);
        Check {
            triggers,
            blocked: data,
            retrain,
        }
    }

    /// Records a retrain started at `now_ns`: the cooldown and the schedule
    /// start again, and drift must build up again.
    pub fn retrained(&mut self, now_ns: i64) {
        self.last_retrain_ns = Some(now_ns);
        self.drift_run = 0;
    }

    /// Records a promotion at `now_ns`.
    pub fn promoted(&mut self, now_ns: i64) {
        self.promotions_ns.push_back(now_ns);
    }

    /// Promotions in the 24 hours up to `now_ns`.
    pub fn promotions_in_last_day(&self, now_ns: i64) -> u32 {
        self.promotions_ns
            .iter()
            .filter(|&&t| now_ns.saturating_sub(t) < DAY_NS)
            .count() as u32
    }

    /// Whether one more promotion fits under the cap at `now_ns`.
    pub fn may_promote(&self, now_ns: i64) -> bool {
        self.promotions_in_last_day(now_ns) < self.cfg.max_promotions_per_day
    }
}

fn elapsed(from_ns: i64, to_ns: i64) -> Duration {
    Duration::from_nanos(to_ns.saturating_sub(from_ns).max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000_000;

    fn cfg() -> PolicyConfig {
        PolicyConfig {
            drift_severity: Severity::Medium,
            drift_windows: 3,
            schedule: None,
            min_rows: 1_000,
            min_positives: 30,
            cooldown: Duration::from_secs(3600),
            max_promotions_per_day: 2,
        }
    }

    fn enough() -> Evidence {
        Evidence {
            rows: 5_000,
            positives: 100,
            performance: None,
        }
    }

    #[test]
    fn drift_triggers_after_k_windows_in_a_row_at_the_severity() {
        let mut p = Policy::new(cfg(), 0);
        for s in [
            Severity::Medium,
            Severity::High,
            Severity::Low,
            Severity::Medium,
        ] {
            p.observe(s);
        }
        assert!(
            !p.check(MIN, &enough(), false).retrain,
            "the Low broke the run"
        );
        p.observe(Severity::High);
        let c = p.check(MIN, &enough(), false);
        assert!(!c.retrain);
        p.observe(Severity::Medium);
        let c = p.check(MIN, &enough(), false);
        assert!(c.retrain, "{c:?}");
        assert_eq!(
            c.triggers,
            vec![Trigger::Drift {
                severity: Severity::Medium,
                windows: 3
            }]
        );
    }

    #[test]
    fn guards_hold_automatic_and_manual_triggers_alike() {
        let mut p = Policy::new(cfg(), 0);
        let perf = Evidence {
            performance: Some(PerformanceVerdict::Drift {
                upper: 0.2,
                limit: 0.3,
            }),
            ..enough()
        };
        assert!(p.check(0, &perf, false).retrain);
        p.retrained(0);
        let c = p.check(10 * MIN, &perf, false);
        assert!(!c.retrain);
        assert_eq!(
            c.blocked,
            vec![Blocked::Cooldown {
                remaining: Duration::from_secs(50 * 60)
            }]
        );
        let c = p.check(10 * MIN, &perf, true);
        assert!(!c.retrain, "a manual retrain waits out the cooldown too");
        assert_eq!(c.triggers[0], Trigger::Manual);
        assert!(p.check(61 * MIN, &perf, false).retrain);
        let thin = Evidence {
            rows: 10,
            positives: 1,
            ..perf
        };
        let c = p.check(61 * MIN, &thin, true);
        assert!(!c.retrain, "no data, no retrain, even by hand");
        assert_eq!(c.blocked.len(), 2);
        p.promoted(61 * MIN);
        p.promoted(62 * MIN);
        assert!(!p.may_promote(63 * MIN));
        let c = p.check(180 * MIN, &perf, false);
        assert!(!c.retrain);
        assert!(matches!(
            c.blocked[..],
            [Blocked::PromotionCap {
                promotions: 2,
                cap: 2
            }]
        ));
        assert!(
            !p.check(180 * MIN, &perf, true).retrain,
            "nor the cap by hand"
        );
        assert!(p.may_promote(61 * MIN + 24 * 60 * MIN));
    }

    #[test]
    fn the_schedule_counts_from_start_and_from_each_retrain() {
        let mut p = Policy::new(
            PolicyConfig {
                schedule: Some(Duration::from_secs(6 * 3600)),
                ..cfg()
            },
            0,
        );
        assert!(p.check(5 * 60 * MIN, &enough(), false).triggers.is_empty());
        assert!(p.check(6 * 60 * MIN, &enough(), false).retrain);
        p.retrained(6 * 60 * MIN);
        assert!(!p.check(11 * 60 * MIN, &enough(), false).retrain);
        assert!(p.check(12 * 60 * MIN, &enough(), false).retrain);
    }
}
