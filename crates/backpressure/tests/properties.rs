//! Property tests of the policy (SPEC §3), over a discrete-event simulation of one session: a client sends
//! frames at given intervals, a pipeline takes a given time per frame, and `FrameSlots` + `DropPolicy` decide.
//! Time is virtual (microseconds), so these tests involve no clock and no threads.
#![allow(clippy::unwrap_used)] // Test helpers outside #[test] fns unwrap too.

use backpressure::{Admission, BackpressureConfig, BackpressureState, DropPolicy, FrameSlots, Outcome};
use proptest::prelude::*;

/// What happened over a simulated session.
#[derive(Debug, Default)]
struct Trace {
    processed: Vec<u64>,
    dropped: Vec<u64>,
    warnings: usize,
    /// State after each recorded outcome.
    states: Vec<BackpressureState>,
}

struct Session {
    slots: FrameSlots<u64>,
    policy: DropPolicy,
    service_us: u64,
    busy_until: Option<u64>,
    next_index: u64,
    now: u64,
    trace: Trace,
}

impl Session {
    fn new(config: BackpressureConfig, service_us: u64) -> Self {
        Self {
            slots: FrameSlots::new(),
            policy: DropPolicy::new(config),
            service_us,
            busy_until: None,
            next_index: 0,
            now: 0,
            trace: Trace::default(),
        }
    }

    fn record(&mut self, outcome: Outcome) {
        let decision = self.policy.record(outcome);
        self.trace.warnings += usize::from(decision.slow_down);
        self.trace.states.push(decision.state);
        assert_eq!(decision.slow_down, decision.slow_down && decision.state == BackpressureState::Critical);
    }

    fn start(&mut self, index: u64, at: u64) {
        self.trace.processed.push(index);
        self.record(Outcome::Processed);
        self.busy_until = Some(at + self.service_us);
    }

    /// Completes every run that ends at or before `t` (completions come before an arrival at the same time).
    fn run_until(&mut self, t: u64) {
        while let Some(done) = self.busy_until.filter(|&done| done <= t) {
            match self.slots.finish() {
                Some(next) => self.start(next, done),
                None => self.busy_until = None,
            }
        }
    }

    /// A frame arrives `interval_us` after the previous one.
    fn arrive_after(&mut self, interval_us: u64) {
        self.now += interval_us;
        self.run_until(self.now);
        let index = self.next_index;
        self.next_index += 1;
        match self.slots.admit(index) {
            Admission::Start(index) => self.start(index, self.now),
            Admission::Parked => {}
            Admission::Replaced(old) => {
                self.trace.dropped.push(old);
                self.record(Outcome::Dropped);
            }
        }
    }

    fn finish(mut self) -> Trace {
        self.run_until(u64::MAX);
        assert!(!self.slots.is_busy() && !self.slots.has_waiting());
        self.trace
    }
}

fn config_with_window(window: usize) -> BackpressureConfig {
    BackpressureConfig { window, ..BackpressureConfig::default() }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// A client that sends no faster than the pipeline processes never sees a drop.
    #[test]
    fn slower_client_never_sees_a_drop(
        service_us in 1_000u64..200_000,
        extras in prop::collection::vec(0u64..200_000, 1..400),
        window in 1usize..100,
    ) {
        let mut session = Session::new(config_with_window(window), service_us);
        for extra in extras {
            session.arrive_after(service_us + extra);
        }
        let trace = session.finish();
        prop_assert!(trace.dropped.is_empty());
        prop_assert_eq!(trace.warnings, 0);
        prop_assert!(trace.states.iter().all(|&s| s == BackpressureState::Normal));
    }

    /// Whatever the rates, every frame is processed or dropped exactly once, and processing is in order.
    #[test]
    fn every_frame_is_answered_exactly_once(
        service_us in 1u64..100_000,
        intervals in prop::collection::vec(0u64..100_000, 1..400),
    ) {
        let n = intervals.len() as u64;
        let mut session = Session::new(BackpressureConfig::default(), service_us);
        for interval in intervals {
            session.arrive_after(interval);
        }
        let trace = session.finish();
        prop_assert!(trace.processed.windows(2).all(|w| w[0] < w[1]), "processed out of order");
        let mut all: Vec<u64> = trace.processed.iter().chain(&trace.dropped).copied().collect();
        all.sort_unstable();
        prop_assert_eq!(all, (0..n).collect::<Vec<_>>());
        // The last frame is never dropped: nothing newer can replace it.
        prop_assert_eq!(trace.processed.last().copied(), Some(n - 1));
    }

    /// Alternating sustained overload and a slow client: exactly one warning per overload episode, and the
    /// session is back to `normal` after each slow phase.
    #[test]
    fn one_warning_per_episode_and_recovery(
        service_us in 10_000u64..100_000,
        window in 10usize..60,
        episodes in prop::collection::vec(
            (
                // Overload: frames arrive 2.5 to 5 times faster than the pipeline runs, for 3–8 windows.
                (20u64..=40, 3usize..=8),
                // Recovery: frames arrive no faster than the pipeline, for 1–3 windows plus a margin.
                (100u64..=300, 1usize..=3),
            ),
            1..5,
        ),
    ) {
        let mut session = Session::new(config_with_window(window), service_us);
        for &((overload_pct, overload_windows), (slow_pct, slow_windows)) in &episodes {
            let warnings_before = session.trace.warnings;
            for _ in 0..overload_windows * window {
                session.arrive_after(service_us * overload_pct / 100);
            }
            prop_assert_eq!(session.policy.state(), BackpressureState::Critical);
            prop_assert_eq!(session.trace.warnings, warnings_before + 1);
            for _ in 0..slow_windows * window + 2 {
                session.arrive_after(service_us * slow_pct / 100);
            }
            prop_assert_eq!(session.policy.state(), BackpressureState::Normal);
            prop_assert_eq!(session.trace.warnings, warnings_before + 1);
        }
        let trace = session.finish();
        prop_assert_eq!(trace.warnings, episodes.len());
    }

    /// The state always matches the drop rate of the recorded outcomes, and a warning is only ever sent on
    /// entering `critical` while armed.
    #[test]
    fn state_follows_the_window(outcomes in prop::collection::vec(any::<bool>(), 1..500), window in 1usize..50) {
        let config = config_with_window(window);
        let mut policy = DropPolicy::new(config);
        let mut history: Vec<bool> = Vec::new();
        let mut armed = true;
        for dropped in outcomes {
            history.push(dropped);
            let decision = policy.record(if dropped { Outcome::Dropped } else { Outcome::Processed });
            let recent = &history[history.len().saturating_sub(window)..];
            let rate = recent.iter().filter(|&&d| d).count() as f64 / window as f64;
            prop_assert!((decision.drop_rate - rate).abs() < 1e-12);
            prop_assert_eq!(decision.state, backpressure::state_for(rate, &config));
            prop_assert_eq!(decision.slow_down, armed && decision.state == BackpressureState::Critical);
            // Only a drop raises the rate, so only a drop can ask to slow down: the session loop sends
            // `slow_down` when it admits a frame, never when one completes.
            prop_assert!(dropped || !decision.slow_down, "a processed frame asked to slow down");
            if decision.slow_down {
                armed = false;
            } else if decision.state == BackpressureState::Normal {
                armed = true;
            }
        }
    }
}

#[test]
fn config_validation_names_the_problem() {
    let bad = [
        (
            BackpressureConfig { drop_threshold: -0.1, ..Default::default() },
            "drop_threshold must be between 0 and 1",
        ),
        (BackpressureConfig { slowdown_threshold: f64::NAN, ..Default::default() }, "slowdown_threshold"),
        (
            BackpressureConfig { drop_threshold: 0.5, slowdown_threshold: 0.3, ..Default::default() },
            "must not exceed",
        ),
        (BackpressureConfig { window: 0, ..Default::default() }, "window must be between 1 and"),
    ];
    for (config, expected) in bad {
        let message = config.validate().unwrap_err().to_string();
        assert!(message.contains(expected), "{message:?} lacks {expected:?}");
    }
    assert!(BackpressureConfig::default().validate().is_ok());
}
