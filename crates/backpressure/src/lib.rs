//! The backpressure policy of ForgeSyte Stream (SPEC §3) as pure decisions: drop, never queue.
//!
//! A session has at most one frame in the pipeline and at most one waiting ([`FrameSlots`]); a newer frame
//! replaces the waiting one, which is dropped at once. Every frame's fate — processed or dropped — goes into a
//! sliding window ([`DropWindow`]) whose drop rate sets the session's [`BackpressureState`]; entering
//! [`Critical`](BackpressureState::Critical) asks the client to slow down, once per overload episode
//! ([`DropPolicy`]).
//!
//! This crate does no I/O, reads no clock and knows nothing of sockets or async runtimes: callers feed it
//! events and act on its decisions, so the policy is tested exhaustively without time or threads.
//!
//! ```
//! use backpressure::{Admission, BackpressureConfig, DropPolicy, FrameSlots, Outcome};
//!
//! let mut slots = FrameSlots::new();
//! let mut policy = DropPolicy::new(BackpressureConfig::default());
//!
//! // Frame 0 starts at once; frame 1 waits; frame 2 replaces frame 1, which is dropped.
//! assert_eq!(slots.admit(0), Admission::Start(0));
//! policy.record(Outcome::Processed);
//! assert_eq!(slots.admit(1), Admission::Parked);
//! assert_eq!(slots.admit(2), Admission::Replaced(1));
//! let decision = policy.record(Outcome::Dropped);
//! assert!(!decision.slow_down); // one drop in a window of 30 is not yet overload
//!
//! // When frame 0 finishes, the waiting frame 2 starts.
//! assert_eq!(slots.finish(), Some(2));
//! ```
#![deny(missing_docs)]

mod config;
mod policy;
mod slots;
mod window;

pub use crate::{
    config::{BackpressureConfig, ConfigError},
    policy::{BackpressureState, Decision, DropPolicy, Outcome, should_slow_down, state_for},
    slots::{Admission, FrameSlots},
    window::DropWindow,
};
