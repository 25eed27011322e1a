//! Exact latency statistics: every sample is kept and sorted, which is cheap at benchmark volumes (a 5-minute
//! run of 10 sessions at 30 FPS is 90 000 samples) and avoids the rounding of bucketed histograms.

use serde::Serialize;

/// Samples in milliseconds.
#[derive(Debug, Clone, Default)]
pub struct Samples(Vec<f64>);

impl Samples {
    /// Adds one sample; non-finite values (which no clock produces) are ignored.
    pub fn push(&mut self, ms: f64) {
        if ms.is_finite() {
            self.0.push(ms);
        }
    }

    /// How many samples there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds every sample of `other`.
    pub fn extend(&mut self, other: &Samples) {
        self.0.extend_from_slice(&other.0);
    }

    /// Percentiles of the samples, or `None` when there are none.
    pub fn summary(&self) -> Option<Summary> {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        let at = |p| percentile(&sorted, p).map(round_us);
        Some(Summary {
            count: sorted.len(),
            p50: at(50.0)?,
            p90: at(90.0)?,
            p99: at(99.0)?,
            max: round_us(*sorted.last()?),
            mean: round_us(sorted.iter().sum::<f64>() / sorted.len() as f64),
        })
    }
}

impl FromIterator<f64> for Samples {
    fn from_iter<I: IntoIterator<Item = f64>>(iter: I) -> Self {
        let mut samples = Self::default();
        for ms in iter {
            samples.push(ms);
        }
        samples
    }
}

/// Percentiles of a set of samples, in milliseconds rounded to the microsecond.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Number of samples.
    pub count: usize,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

/// The nearest-rank percentile of `sorted` (ascending): the smallest sample such that at least `p` percent of
/// the samples are less than or equal to it. `p` is clamped to `0..=100`; `None` when there are no samples.
///
/// Nearest rank always returns an observed value (no interpolation), so `p99` of 10 samples is the maximum.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 100.0) };
    // The 1-based rank is ceil(p/100 * n); rank 0 (p = 0) means the first sample.
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.saturating_sub(1).min(last)])
}

/// Rounds milliseconds to three decimals (one microsecond), to keep reports free of float noise.
fn round_us(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_on_one_to_hundred() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 50.0), Some(50.0));
        assert_eq!(percentile(&sorted, 90.0), Some(90.0));
        assert_eq!(percentile(&sorted, 99.0), Some(99.0));
        assert_eq!(percentile(&sorted, 99.5), Some(100.0));
        assert_eq!(percentile(&sorted, 100.0), Some(100.0));
        assert_eq!(percentile(&sorted, 0.0), Some(1.0));
    }

    #[test]
    fn small_and_edge_sets() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7.0], 0.0), Some(7.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        // Ten samples: p50 is the 5th, p90 the 9th, p99 the 10th.
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&ten, 50.0), Some(5.0));
        assert_eq!(percentile(&ten, 90.0), Some(9.0));
        assert_eq!(percentile(&ten, 99.0), Some(10.0));
        // Out-of-range and NaN percentiles are clamped, never a panic.
        assert_eq!(percentile(&ten, 150.0), Some(10.0));
        assert_eq!(percentile(&ten, -3.0), Some(1.0));
        assert_eq!(percentile(&ten, f64::NAN), Some(1.0));
    }

    #[test]
    fn summary_sorts_and_rounds() {
        let samples: Samples = [3.0, 1.0, 2.0, 4.0, f64::NAN, 1.000_000_4].into_iter().collect();
        assert_eq!(samples.len(), 5);
        let summary = samples.summary().unwrap();
        assert_eq!(summary, Summary { count: 5, p50: 2.0, p90: 4.0, p99: 4.0, max: 4.0, mean: 2.2 });
        assert_eq!(Samples::default().summary(), None);
    }

    #[test]
    fn extend_merges() {
        let mut a: Samples = [1.0, 2.0].into_iter().collect();
        let b: Samples = [10.0].into_iter().collect();
        a.extend(&b);
        assert_eq!(a.summary().unwrap().max, 10.0);
        assert_eq!(a.len(), 3);
    }
}
