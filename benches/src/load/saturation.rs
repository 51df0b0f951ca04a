//! The saturation search: steps of a few seconds at rising rates (× a factor per step, from
//! the profile's rate) on one cluster, until a step breaks a rule: dispatch p99 over its limit
//! (100 ms), errors over 1 % of requests, or the server not keeping up (accepting under 95 %
//! of the offered rate, or completing under 90 % of it). The highest rate that held is the
//! maximum sustainable throughput.

use serde::Serialize;

use crate::load::report::RunReport;

/// The search's rules.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rules {
    /// Rate of the first step, tasks/s.
    pub start_rate: f64,
    /// Each step's rate over the one before.
    pub factor: f64,
    /// No step above this rate, tasks/s (keeps the load bounded).
    pub max_rate: f64,
    /// The dispatch p99 a sustainable step stays under, ms.
    pub dispatch_p99_ms: f64,
    /// The error rate a sustainable step stays at or under.
    pub max_error_rate: f64,
    /// Accepted / offered a sustainable step reaches.
    pub min_accepted_ratio: f64,
    /// Completed / offered a sustainable step reaches.
    pub min_completed_ratio: f64,
}

impl Rules {
    /// The rules of issue #7 from `start_rate`, × `factor` per step, up to `max_rate`.
    #[must_use]
    pub fn new(start_rate: f64, factor: f64, max_rate: f64) -> Self {
        Self {
            start_rate,
            factor,
            max_rate,
            dispatch_p99_ms: 100.0,
            max_error_rate: 0.01,
            min_accepted_ratio: 0.95,
            min_completed_ratio: 0.90,
        }
    }

    /// The rates of the steps, in order: `start_rate × factor^i` up to `max_rate` (the last one
    /// is `max_rate` itself when the product jumps past it).
    #[must_use]
    pub fn rates(&self) -> Vec<f64> {
        let mut rates = Vec::new();
        let mut rate = self.start_rate;
        if rate.is_nan() || rate <= 0.0 || self.factor.is_nan() || self.factor <= 1.0 {
            return vec![self.start_rate.min(self.max_rate)];
        }
        while rate < self.max_rate {
            rates.push(rate.round());
            rate *= self.factor;
        }
        rates.push(self.max_rate);
        rates
    }

    /// Why `step` is not sustainable, or `None` when it held every rule.
    #[must_use]
    pub fn broken(&self, step: &RunReport) -> Option<String> {
        let offered = step.offered_per_s;
        if step.dispatch.count == 0 {
            return Some(format!("no task was dispatched at {offered:.0}/s"));
        }
        if step.dispatch.p99_ms > self.dispatch_p99_ms {
            return Some(format!(
                "dispatch p99 {:.1} ms > {:.0} ms at {offered:.0}/s",
                step.dispatch.p99_ms, self.dispatch_p99_ms
            ));
        }
        if step.error_rate > self.max_error_rate {
            return Some(format!(
                "errors {:.2} % > {:.0} % at {offered:.0}/s ({:?})",
                step.error_rate * 100.0,
                self.max_error_rate * 100.0,
                step.errors
            ));
        }
        if step.submitted_per_s < self.min_accepted_ratio * offered {
            return Some(format!(
                "accepted {:.0}/s < {:.0} % of {offered:.0}/s offered",
                step.submitted_per_s,
                self.min_accepted_ratio * 100.0
            ));
        }
        if step.completed_per_s < self.min_completed_ratio * offered {
            return Some(format!(
                "completed {:.0}/s < {:.0} % of {offered:.0}/s offered",
                step.completed_per_s,
                self.min_completed_ratio * 100.0
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::load::measure::LatencySummary;
    use crate::load::plan::Plan;
    use crate::load::report::Recorded;

    #[test]
    fn rates_rise_by_the_factor_and_end_at_the_cap() {
        let rules = Rules::new(200.0, 2.0, 3_000.0);
        assert_eq!(rules.rates(), [200.0, 400.0, 800.0, 1_600.0, 3_000.0]);
        let exact = Rules::new(100.0, 1.5, 337.5);
        assert_eq!(exact.rates(), [100.0, 150.0, 225.0, 337.5]);
        assert_eq!(
            Rules::new(50.0, 1.0, 1e6).rates(),
            [50.0],
            "no rise: one step"
        );
    }

    fn step(offered: f64) -> RunReport {
        let plan = Plan {
            gateways: 1,
            rate: offered,
            reads_per_s: 0.0,
            run_ms: 20,
            max_sessions: 1,
            seconds: 1.0,
            warmup: 0.0,
        };
        let mut r = RunReport::summarise(&plan, Recorded::default());
        r.submitted_per_s = offered;
        r.completed_per_s = offered;
        r.dispatch = LatencySummary {
            count: 100,
            p50_ms: 2.0,
            p95_ms: 5.0,
            p99_ms: 9.0,
            max_ms: 12.0,
        };
        r
    }

    #[test]
    fn a_step_is_sustainable_until_a_rule_breaks() {
        let rules = Rules::new(100.0, 2.0, 1e4);
        assert_eq!(rules.broken(&step(1_000.0)), None);

        let mut slow = step(1_000.0);
        slow.dispatch.p99_ms = 100.5;
        assert!(
            rules
                .broken(&slow)
                .unwrap()
                .starts_with("dispatch p99 100.5 ms")
        );

        let mut failing = step(1_000.0);
        failing.error_rate = 0.011;
        failing.errors = BTreeMap::from([("submit_http_503".to_owned(), 11)]);
        assert!(rules.broken(&failing).unwrap().contains("errors 1.10 %"));
        failing.error_rate = 0.01;
        assert_eq!(rules.broken(&failing), None, "1 % exactly still holds");

        let mut behind = step(1_000.0);
        behind.submitted_per_s = 940.0;
        assert!(rules.broken(&behind).unwrap().starts_with("accepted 940/s"));

        let mut backlog = step(1_000.0);
        backlog.completed_per_s = 899.0;
        assert!(
            rules
                .broken(&backlog)
                .unwrap()
                .starts_with("completed 899/s")
        );

        let mut idle = step(1_000.0);
        idle.dispatch = LatencySummary::default();
        assert!(
            rules
                .broken(&idle)
                .unwrap()
                .starts_with("no task was dispatched")
        );
    }
}
