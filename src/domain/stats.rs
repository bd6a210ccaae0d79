//! Anytime-valid statistics for the canary gate: they stay valid however often an agent looks, so
//! polling the gate every minute cannot turn noise into a PROMOTE or a ROLLBACK
//! (notes/canary-gate.md). Differences are oriented so that positive means the canary is worse.
//!
//! - `cs_halfwidth`: the one-sided asymptotic confidence sequence of Waudby-Smith et al., as GrowthBook
//!   implements it, for rates and means with enough events.
//! - `event_share_evalue`: an exact e-value for rare events (errors, safety failures): given the
//!   exposures, each event falls in the canary with a known probability under "equal rates".
//! - `srm_bayes_factor`: the sequential sample-ratio-mismatch check (Dirichlet-multinomial against the
//!   configured split, Lindon et al. 2022).
//! - `mcnemar_regression_p`, `paired_regression_p`: the offline preflight for prompt and model changes,
//!   candidate against last-known-good on the same eval items (fixed-sample tests: run once per suite).

use statrs::distribution::{Binomial, ContinuousCDF, DiscreteCDF, StudentsT};
use statrs::function::gamma::ln_gamma;

/// GrowthBook's default: the sequence is narrowest near this many samples (both arms).
pub const DEFAULT_TUNING_N: f64 = 5000.0;

/// Half the width of the one-sided `1 - alpha` confidence sequence for a difference with variance
/// `se2` after `n` samples in all (both arms), tuned to be narrowest near `tuning_n`.
pub fn cs_halfwidth(se2: f64, n: f64, alpha: f64, tuning_n: f64) -> f64 {
    let a = 2.0 * alpha;
    let rho2 = (-2.0 * a.ln() + (-2.0 * a.ln() + 1.0).ln()) / tuning_n;
    let s2 = n * se2;
    let spread = 2.0 * (n * rho2 + 1.0) / (n * n * rho2);
    (s2 * spread * (1.0 + (n * rho2 + 1.0).sqrt() / (2.0 * alpha)).ln()).sqrt()
}

/// Half the width of the two-sided `1 - alpha` confidence sequence (the same asymptotic sequence,
/// GrowthBook's two-sided form): an experiment's comparison, where either arm may be the better one.
pub fn cs_halfwidth_two_sided(se2: f64, n: f64, alpha: f64, tuning_n: f64) -> f64 {
    let rho2 = (-2.0 * alpha.ln() + (-2.0 * alpha.ln() + 1.0).ln()) / tuning_n;
    let s2 = n * se2;
    let spread = 2.0 * (n * rho2 + 1.0) / (n * n * rho2);
    (s2 * spread * ((n * rho2 + 1.0).sqrt() / alpha).ln()).sqrt()
}

/// An estimated difference (canary worse when positive), its variance, and the samples behind it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Diff {
    pub estimate: f64,
    pub se2: f64,
    pub n: u64,
}

impl Diff {
    /// The difference in the share of bad outcomes (errors, failed tasks, failed safety checks):
    /// canary minus control. `None` while an arm has no samples.
    pub fn of_rates(
        bad_canary: u64,
        n_canary: u64,
        bad_control: u64,
        n_control: u64,
    ) -> Option<Diff> {
        if n_canary == 0 || n_control == 0 {
            return None;
        }
        let (pt, pc) = (
            bad_canary as f64 / n_canary as f64,
            bad_control as f64 / n_control as f64,
        );
        Some(Diff {
            estimate: pt - pc,
            se2: pt * (1.0 - pt) / n_canary as f64 + pc * (1.0 - pc) / n_control as f64,
            n: n_canary + n_control,
        })
    }

    /// The difference of means where higher is better (eval scores): control minus canary, with
    /// Welch's variance. Each arm is (count, mean, sample variance).
    pub fn of_means(canary: (u64, f64, f64), control: (u64, f64, f64)) -> Option<Diff> {
        let ((nt, mt, vt), (nc, mc, vc)) = (canary, control);
        if nt < 2 || nc < 2 {
            return None;
        }
        Some(Diff {
            estimate: mc - mt,
            se2: vt / nt as f64 + vc / nc as f64,
            n: nt + nc,
        })
    }

    /// The lowest difference the evidence allows at level `alpha`, at any look: above a harm margin
    /// means the canary is worse.
    pub fn lower(&self, alpha: f64, tuning_n: f64) -> f64 {
        self.estimate - cs_halfwidth(self.se2, self.n as f64, alpha, tuning_n)
    }

    /// The highest difference the evidence allows at level `alpha`, at any look: below a
    /// non-inferiority margin means the canary is no worse than the margin.
    pub fn upper(&self, alpha: f64, tuning_n: f64) -> f64 {
        self.estimate + cs_halfwidth(self.se2, self.n as f64, alpha, tuning_n)
    }
}

/// Events and exposures of both arms over one period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Period {
    pub canary_events: u64,
    pub canary_exposures: u64,
    pub control_events: u64,
    pub control_exposures: u64,
}

/// The canary-to-control risk ratios the event-share test weighs, equally.
pub const RISK_RATIOS: [f64; 5] = [1.25, 1.5, 2.0, 3.0, 5.0];

/// An e-value against "the canary's event rate is no higher than the control's". Within a period, an
/// event lands in the canary with probability r = canary exposures / all exposures when the rates are
/// equal, and rθ / (rθ + 1 − r) when the canary's rate is θ times the control's; the e-value is the
/// likelihood ratio averaged over `RISK_RATIOS`. Exact given the exposures, valid at every look
/// (Ville's inequality): harm when it reaches 1/alpha.
pub fn event_share_evalue(periods: &[Period]) -> f64 {
    let ln_theta = RISK_RATIOS.map(f64::ln);
    let mut log_lr = [0.0f64; RISK_RATIOS.len()];
    for p in periods {
        let events = p.canary_events + p.control_events;
        // A period without events, or where one arm saw nobody, says nothing (its factor is 1).
        if events == 0 || p.canary_exposures == 0 || p.control_exposures == 0 {
            continue;
        }
        let r = p.canary_exposures as f64 / (p.canary_exposures + p.control_exposures) as f64;
        for ((l, theta), ln_t) in log_lr.iter_mut().zip(RISK_RATIOS).zip(ln_theta) {
            // ct·ln(θ/norm) + cc·ln(1/norm) = ct·ln θ − (ct + cc)·ln norm
            *l += p.canary_events as f64 * ln_t - events as f64 * (r * theta + 1.0 - r).ln();
        }
    }
    let max = log_lr.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = log_lr.iter().map(|l| (l - max).exp()).sum::<f64>() / RISK_RATIOS.len() as f64;
    max.exp() * mean
}

/// The Bayes factor of "the arms' exposures do not follow `expected`" (Dirichlet-multinomial with
/// the given concentration around `expected`) against "they do" (multinomial at `expected`). The
/// anytime-valid p-value is the running minimum of its inverse over the looks.
pub fn srm_bayes_factor(counts: &[u64], expected: &[f64], concentration: f64) -> f64 {
    let ln_multibeta = |a: &mut dyn Iterator<Item = f64>| {
        let (mut sum, mut total) = (0.0, 0.0);
        for x in a {
            sum += ln_gamma(x);
            total += x;
        }
        sum - ln_gamma(total)
    };
    let prior = || expected.iter().map(|p| p * concentration);
    let posterior = counts.iter().zip(prior()).map(|(x, a)| a + *x as f64);
    let ln_null: f64 = counts
        .iter()
        .zip(expected)
        .map(|(x, p)| *x as f64 * p.ln())
        .sum();
    let ln_bf = ln_multibeta(&mut posterior.into_iter()) - ln_multibeta(&mut prior()) - ln_null;
    ln_bf.exp()
}

/// Exact one-sided McNemar test on paired pass/fail items: the p-value of "the candidate fails where
/// the last-known-good passes no more often than the reverse", from the discordant pairs alone
/// (`regressions`: LKG passed, candidate failed; `improvements`: the reverse).
pub fn mcnemar_regression_p(regressions: u64, improvements: u64) -> f64 {
    let n = regressions + improvements;
    if regressions == 0 {
        return 1.0;
    }
    let b = Binomial::new(0.5, n).expect("p = 0.5 is a probability");
    1.0 - b.cdf(regressions - 1)
}

/// One-sided paired t-test on per-item score differences (last-known-good minus candidate, so
/// positive is a regression): the p-value of "the mean regression is at most `margin`". `None` with
/// fewer than two items or no variation at all.
pub fn paired_regression_p(diffs: &[f64], margin: f64) -> Option<f64> {
    let n = diffs.len();
    if n < 2 {
        return None;
    }
    let mean = diffs.iter().sum::<f64>() / n as f64;
    let var = diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    if var == 0.0 {
        return Some(if mean > margin { 0.0 } else { 1.0 });
    }
    let t = (mean - margin) / (var / n as f64).sqrt();
    let dist = StudentsT::new(0.0, 1.0, (n - 1) as f64).ok()?;
    Some(1.0 - dist.cdf(t))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use rand_distr::{Binomial, Distribution};

    use super::*;

    #[test]
    fn the_sequence_narrows_and_costs_about_twice_a_fixed_test_near_tuning_n() {
        let se2 = |n: f64| 2.0 * 0.02 * 0.98 / (n / 2.0);
        let at = |n: f64| cs_halfwidth(se2(n), n, 0.05, DEFAULT_TUNING_N);
        assert!(at(1_000.0) > at(5_000.0) && at(5_000.0) > at(50_000.0));
        let fixed = 1.6449 * se2(5_000.0).sqrt();
        let ratio = at(5_000.0) / fixed;
        assert!((1.5..2.2).contains(&ratio), "width ratio {ratio}");
    }

    #[test]
    fn rate_and_mean_differences_point_at_the_worse_canary() {
        let d = Diff::of_rates(40, 1000, 20, 1000).unwrap();
        assert!((d.estimate - 0.02).abs() < 1e-12 && d.n == 2000);
        // Anytime validity costs width: 1000 per arm cannot yet tell 4 % from 2 %; 2000 can.
        assert!(d.lower(0.05, DEFAULT_TUNING_N) < 0.0);
        let d = Diff::of_rates(80, 2000, 40, 2000).unwrap();
        assert!(
            d.lower(0.05, DEFAULT_TUNING_N) > 0.0,
            "4 % against 2 % over 2000 each is harm"
        );
        assert!(Diff::of_rates(1, 0, 0, 10).is_none());
        let m = Diff::of_means((100, 0.70, 0.04), (100, 0.80, 0.04)).unwrap();
        assert!(
            (m.estimate - 0.10).abs() < 1e-12,
            "a lower canary score is worse"
        );
    }

    #[test]
    fn event_share_weighs_where_events_fall() {
        assert_eq!(event_share_evalue(&[]), 1.0);
        let p = |ct, cc| Period {
            canary_events: ct,
            canary_exposures: 1000,
            control_events: cc,
            control_exposures: 1000,
        };
        assert!(event_share_evalue(&[p(5, 5)]) < 1.0);
        assert!(event_share_evalue(&[p(30, 5)]) > 1000.0);
        // Unequal exposure: twice the canary events from twice the canary traffic is no evidence.
        let unequal = Period {
            canary_events: 10,
            canary_exposures: 2000,
            control_events: 5,
            control_exposures: 1000,
        };
        assert!(event_share_evalue(&[unequal]) < 1.0);
    }

    #[test]
    fn srm_flags_a_skewed_split_only() {
        let even = srm_bayes_factor(&[5_000, 5_000], &[0.5, 0.5], 10_000.0);
        let skewed = srm_bayes_factor(&[5_000, 4_000], &[0.5, 0.5], 10_000.0);
        assert!(even < 1.0, "{even}");
        assert!(skewed > 1_000.0, "{skewed}");
    }

    #[test]
    fn preflight_tests_find_paired_regressions() {
        assert!((mcnemar_regression_p(10, 0) - 0.5f64.powi(10)).abs() < 1e-12);
        assert!(mcnemar_regression_p(5, 5) > 0.5);
        assert_eq!(mcnemar_regression_p(0, 7), 1.0);
        let worse: Vec<f64> = (0..40)
            .map(|i| 0.1 + 0.02 * ((i % 5) as f64 - 2.0))
            .collect();
        assert!(paired_regression_p(&worse, 0.0).unwrap() < 1e-6);
        assert!(
            paired_regression_p(&worse, 0.2).unwrap() > 0.99,
            "within a 0.2 margin"
        );
        let even: Vec<f64> = (0..40)
            .map(|i| if i % 2 == 0 { 0.05 } else { -0.05 })
            .collect();
        assert!(paired_regression_p(&even, 0.0).unwrap() > 0.4);
        assert_eq!(paired_regression_p(&[0.3], 0.0), None);
    }

    /// Peeking after every batch: how often each test cries harm when the canary is no worse (must
    /// stay under alpha), and how often it finds a real doubling of the error rate.
    #[test]
    fn repeated_looks_keep_the_false_harm_rate_under_alpha() {
        const RUNS: usize = 400;
        const LOOKS: usize = 40;
        const ALPHA: f64 = 0.05;
        let mut rng = StdRng::seed_from_u64(7);
        let mut run = |p_canary: f64, p_control: f64, per_look: u64| {
            let (mut cs_harm, mut es_harm) = (0, 0);
            for _ in 0..RUNS {
                let (mut bt, mut bc, mut n) = (0, 0, 0);
                let mut periods = Vec::new();
                let (mut cs_hit, mut es_hit) = (false, false);
                for _ in 0..LOOKS {
                    let t = Binomial::new(per_look, p_canary).unwrap().sample(&mut rng);
                    let c = Binomial::new(per_look, p_control).unwrap().sample(&mut rng);
                    (bt, bc, n) = (bt + t, bc + c, n + per_look);
                    periods.push(Period {
                        canary_events: t,
                        canary_exposures: per_look,
                        control_events: c,
                        control_exposures: per_look,
                    });
                    let d = Diff::of_rates(bt, n, bc, n).unwrap();
                    cs_hit |= n >= 150 && d.lower(ALPHA, DEFAULT_TUNING_N) > 0.0;
                    es_hit |= event_share_evalue(&periods) >= 1.0 / ALPHA;
                }
                cs_harm += cs_hit as usize;
                es_harm += es_hit as usize;
            }
            (cs_harm as f64 / RUNS as f64, es_harm as f64 / RUNS as f64)
        };
        let (cs, es) = run(0.02, 0.02, 250);
        eprintln!("false harm over {LOOKS} looks: CS {cs}, event share {es}");
        assert!(
            cs <= ALPHA && es <= ALPHA,
            "false harm: CS {cs}, event share {es}"
        );
        let (cs, es) = run(0.04, 0.02, 250);
        eprintln!("power at 2x: CS {cs}, event share {es}");
        assert!(
            cs >= 0.8 && es >= 0.8,
            "power at twice the error rate: CS {cs}, event share {es}"
        );
    }
}
