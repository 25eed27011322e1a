//! Thresholds and window size of the policy.

use thiserror::Error;

/// Settings of the backpressure policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackpressureConfig {
    /// Drop rate above which a session is in [`Warning`](crate::BackpressureState::Warning).
    /// Default 0.10 (`STREAM_DROP_THRESHOLD`).
    pub drop_threshold: f64,
    /// Drop rate above which a session is [`Critical`](crate::BackpressureState::Critical) and is told to
    /// slow down. Default 0.30 (`STREAM_SLOWDOWN_THRESHOLD`).
    pub slowdown_threshold: f64,
    /// Number of most recent frames the drop rate is computed over. Default 30 (`STREAM_DROP_WINDOW`).
    pub window: usize,
}

impl BackpressureConfig {
    /// Largest accepted window: the window is allocated once per session, so it is bounded.
    pub const MAX_WINDOW: usize = 10_000;

    /// Checks that the thresholds are rates in `0..=1`, ordered, and that the window is in
    /// `1..=MAX_WINDOW`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, value) in
            [("drop_threshold", self.drop_threshold), ("slowdown_threshold", self.slowdown_threshold)]
        {
            if !(0.0..=1.0).contains(&value) {
                return Err(ConfigError::ThresholdOutOfRange { name, value });
            }
        }
        if self.drop_threshold > self.slowdown_threshold {
            return Err(ConfigError::ThresholdsOutOfOrder {
                drop: self.drop_threshold,
                slowdown: self.slowdown_threshold,
            });
        }
        if !(1..=Self::MAX_WINDOW).contains(&self.window) {
            return Err(ConfigError::WindowOutOfRange { window: self.window, max: Self::MAX_WINDOW });
        }
        Ok(())
    }
}

impl Default for BackpressureConfig {
    fn default() -> Self {
        Self { drop_threshold: 0.10, slowdown_threshold: 0.30, window: 30 }
    }
}

/// A [`BackpressureConfig`] that cannot be used.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A threshold is not a rate between 0 and 1 (or is NaN).
    #[error("{name} must be between 0 and 1, got {value}")]
    ThresholdOutOfRange {
        /// Which threshold.
        name: &'static str,
        /// The rejected value.
        value: f64,
    },
    /// The warning threshold is above the slow-down threshold.
    #[error("drop_threshold ({drop}) must not exceed slowdown_threshold ({slowdown})")]
    ThresholdsOutOfOrder {
        /// The warning threshold.
        drop: f64,
        /// The slow-down threshold.
        slowdown: f64,
    },
    /// The window is empty or too large.
    #[error("window must be between 1 and {max} frames, got {window}")]
    WindowOutOfRange {
        /// The rejected window.
        window: usize,
        /// The largest accepted window.
        max: usize,
    },
}
