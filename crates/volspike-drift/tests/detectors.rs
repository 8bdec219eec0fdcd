//! Detectors on simulated autocorrelated streams: in the reference's regime
//! the alarm rate stays at the configured rate (within its sampling error)
//! and drift is never declared; after a regime change it is declared within
//! k windows.
//!
//! The stream is an AR(1) process with correlation time of about 50
//! values, like a rolling feature: each window of 1,000 values is nearly
//! independent of the next (0.98^1000 ~ 2e-9), so the alarms of stable
//! windows are Bernoulli trials.

use rand::SeedableRng as _;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, StandardNormal};
use volspike_drift::detector::{Calibration, Detector, Statistic};

const PHI: f64 = 0.98;
const WINDOW: usize = 1_000;
const STABLE_WINDOWS: usize = 300;
const RATE: f64 = 0.05;
const K: usize = 4;
/// 300 windows: an upper 5% quantile estimated from fewer independent
/// windows is itself too uncertain (from 60, its true exceedance rate has a
/// standard deviation of about 0.03).
const REFERENCE: usize = 300 * WINDOW;

/// An AR(1) stream: x = mean + PHI (x - mean) + scale sqrt(1 - PHI^2) e.
struct Stream {
    rng: ChaCha8Rng,
    x: f64,
}

impl Stream {
    fn take(&mut self, n: usize, mean: f64, scale: f64) -> Vec<f64> {
        let innovation = scale * (1.0 - PHI * PHI).sqrt();
        (0..n)
            .map(|_| {
                let e: f64 = StandardNormal.sample(&mut self.rng);
                self.x = mean + PHI * (self.x - mean) + innovation * e;
                self.x
            })
            .collect()
    }
}

fn check(statistic: Statistic) {
    let mut stream = Stream {
        rng: ChaCha8Rng::seed_from_u64(42),
        x: 0.0,
    };
    let reference = stream.take(REFERENCE, 0.0, 1.0);
    let cal = Calibration {
        window: WINDOW,
        block: WINDOW,
        draws: 2_000,
        false_alarm_rate: RATE,
        seed: 7,
    };
    let mut detector = Detector::calibrate(&reference, statistic, &cal, K).unwrap();

    // What a test that assumes independent values would flag: the KS
    // distance over its 5% critical value (Kolmogorov's limit).
    let naive_critical = 1.358 * ((WINDOW + REFERENCE) as f64 / (WINDOW * REFERENCE) as f64).sqrt();
    let (mut alarms, mut naive_alarms) = (0, 0);
    for _ in 0..STABLE_WINDOWS {
        let v = detector.observe(&stream.take(WINDOW, 0.0, 1.0)).unwrap();
        alarms += usize::from(v.over);
        if statistic == Statistic::Ks {
            naive_alarms += usize::from(v.value > naive_critical);
        }
        assert!(!v.drift, "{statistic:?}: drift declared on a stable stream");
    }
    let rate = alarms as f64 / STABLE_WINDOWS as f64;
    if statistic == Statistic::Ks {
        assert!(
            naive_alarms > STABLE_WINDOWS * 3 / 4,
            "an iid KS test flags {naive_alarms} of {STABLE_WINDOWS} stable windows"
        );
    }
    eprintln!(
        "{statistic:?}: threshold {:.4}, alarm rate {rate:.3} on {STABLE_WINDOWS} stable windows",
        detector.threshold()
    );
    let sampling_error = (RATE * (1.0 - RATE) / STABLE_WINDOWS as f64).sqrt();
    assert!(
        rate <= RATE + 3.0 * sampling_error,
        "{statistic:?}: alarm rate {rate} over {RATE} + 3 x {sampling_error:.4}"
    );

    // A new regime: twice the spread, a level two reference sds higher (an
    // effective window of about 10 independent values cannot tell subtler
    // changes apart window by window).
    let mut declared = None;
    for i in 1..=K {
        let v = detector.observe(&stream.take(WINDOW, 2.0, 2.0)).unwrap();
        eprintln!("{statistic:?} window {i} after the change: {v:?}");
        if v.drift {
            declared = Some(i);
            break;
        }
    }
    assert!(
        declared.is_some_and(|i| i <= K),
        "{statistic:?}: drift not declared within {K} windows of the change"
    );
}

#[test]
fn psi_detector_keeps_its_rate_and_catches_a_regime_change() {
    check(Statistic::Psi);
}

#[test]
fn ks_detector_keeps_its_rate_and_catches_a_regime_change() {
    check(Statistic::Ks);
}

#[test]
fn wasserstein_detector_keeps_its_rate_and_catches_a_regime_change() {
    check(Statistic::WassersteinNorm);
}
