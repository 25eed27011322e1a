//! Drop rate → state → slow-down, once per episode.

use crate::{BackpressureConfig, DropWindow};

/// How overloaded a session is, from its drop rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BackpressureState {
    /// Drop rate at or below the drop threshold.
    Normal,
    /// Drop rate above the drop threshold.
    Warning,
    /// Drop rate above the slow-down threshold.
    Critical,
}

impl BackpressureState {
    /// The state's name as it appears in logs and metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// The state for a drop rate: `normal` up to `drop_threshold`, `warning` above it, `critical` above
/// `slowdown_threshold`.
pub fn state_for(drop_rate: f64, config: &BackpressureConfig) -> BackpressureState {
    if drop_rate > config.slowdown_threshold {
        BackpressureState::Critical
    } else if drop_rate > config.drop_threshold {
        BackpressureState::Warning
    } else {
        BackpressureState::Normal
    }
}

/// Whether to send `slow_down` now: the session is critical and the warning is armed (it has not been sent
/// since the state was last `normal`).
pub const fn should_slow_down(state: BackpressureState, armed: bool) -> bool {
    matches!(state, BackpressureState::Critical) && armed
}

/// What became of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The frame went into the pipeline.
    Processed,
    /// The frame was replaced while waiting and never processed.
    Dropped,
}

/// The policy's answer to one recorded outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// State before this outcome.
    pub previous: BackpressureState,
    /// State after it.
    pub state: BackpressureState,
    /// Drop rate over the window after it.
    pub drop_rate: f64,
    /// Send `{"warning":"slow_down"}` now.
    pub slow_down: bool,
}

impl Decision {
    /// Whether this outcome moved the session to another state.
    pub fn changed(&self) -> bool {
        self.previous != self.state
    }
}

/// The whole policy of one session: the window, the state, and whether the slow-down warning is armed.
///
/// The warning fires when the state becomes critical while armed, then stays disarmed until the state is
/// back to `normal`: under sustained overload the client hears it once per episode. There is deliberately
/// no rule that drops frames because the drop rate is high (the seed's sketch had one; it feeds on itself,
/// since every drop raises the rate, and never recovers): only [`FrameSlots`](crate::FrameSlots) drops.
#[derive(Debug, Clone)]
pub struct DropPolicy {
    config: BackpressureConfig,
    window: DropWindow,
    state: BackpressureState,
    armed: bool,
}

impl DropPolicy {
    /// A fresh policy: empty window, `normal`, warning armed. The window is the only allocation.
    pub fn new(config: BackpressureConfig) -> Self {
        Self { config, window: DropWindow::new(config.window), state: BackpressureState::Normal, armed: true }
    }

    /// Records one frame's outcome and decides what follows.
    pub fn record(&mut self, outcome: Outcome) -> Decision {
        self.window.record(outcome == Outcome::Dropped);
        let previous = self.state;
        let drop_rate = self.window.drop_rate();
        self.state = state_for(drop_rate, &self.config);
        let slow_down = should_slow_down(self.state, self.armed);
        if slow_down {
            self.armed = false;
        } else if self.state == BackpressureState::Normal {
            self.armed = true;
        }
        Decision { previous, state: self.state, drop_rate, slow_down }
    }

    /// The current state.
    pub fn state(&self) -> BackpressureState {
        self.state
    }

    /// The current drop rate over the window.
    pub fn drop_rate(&self) -> f64 {
        self.window.drop_rate()
    }

    /// Whether the next entry into `critical` will send a slow-down.
    pub fn is_armed(&self) -> bool {
        self.armed
    }

    /// The settings in force.
    pub fn config(&self) -> &BackpressureConfig {
        &self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_exclusive() {
        let config = BackpressureConfig::default();
        assert_eq!(state_for(0.10, &config), BackpressureState::Normal);
        assert_eq!(state_for(0.1001, &config), BackpressureState::Warning);
        assert_eq!(state_for(0.30, &config), BackpressureState::Warning);
        assert_eq!(state_for(0.3001, &config), BackpressureState::Critical);
    }

    #[test]
    fn warning_rearms_only_at_normal() {
        let config = BackpressureConfig { window: 10, ..BackpressureConfig::default() };
        let mut policy = DropPolicy::new(config);
        let mut warnings = 0;
        // 4 drops in 10 → critical: one warning.
        for _ in 0..4 {
            warnings += usize::from(policy.record(Outcome::Dropped).slow_down);
        }
        assert_eq!(policy.state(), BackpressureState::Critical);
        assert_eq!(warnings, 1);
        // Down to warning (2 drops in the window) and back up: no second warning.
        for _ in 0..8 {
            policy.record(Outcome::Processed);
        }
        assert_eq!(policy.state(), BackpressureState::Warning);
        // The last 10 outcomes are now 2 dropped and 8 processed; 4 more drops make 4 in the window again
        // (the older ones roll off).
        for _ in 0..4 {
            warnings += usize::from(policy.record(Outcome::Dropped).slow_down);
        }
        assert_eq!(policy.state(), BackpressureState::Critical);
        assert_eq!(warnings, 1);
        // All the way to normal, then critical again: a second warning.
        for _ in 0..10 {
            policy.record(Outcome::Processed);
        }
        assert_eq!(policy.state(), BackpressureState::Normal);
        assert!(policy.is_armed());
        for _ in 0..4 {
            warnings += usize::from(policy.record(Outcome::Dropped).slow_down);
        }
        assert_eq!(warnings, 2);
    }
}
