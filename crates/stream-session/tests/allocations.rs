//! Per-frame bookkeeping allocates nothing, and a session is small (SPEC §9: under 50 KB).
//!
//! This file holds one test on purpose: it installs a counting global allocator, and counts only the
//! allocations of its own thread.
#![allow(unsafe_code)] // A global allocator is `unsafe impl`; this one only counts and forwards to `System`.
#![allow(clippy::unwrap_used)] // Test helpers outside #[test] fns unwrap too.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use backpressure::Admission;
use bytes::Bytes;
use stream_session::{SessionConfig, SessionManager};
use tokio::time::Instant;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches a const-initialised
// thread-local, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const FRAME: &[u8] = include_bytes!("../../../fixtures/images/astronaut_640x480.jpg");

#[test]
fn bookkeeping_allocates_nothing_per_frame_and_a_session_is_small() {
    let config = SessionConfig::default();
    let mut session = SessionManager::new("yolo", config);
    let frame = Bytes::from_static(FRAME);
    let now = Instant::now();

    let before = ALLOCATIONS.with(Cell::get);
    let (mut started, mut parked, mut dropped) = (0, 0, 0);
    for n in 0..10_000u32 {
        // Frames arrive three times as fast as they complete: every path of the policy is taken.
        match session.admit(frame.clone(), now).action {
            Admission::Start(_) => started += 1,
            Admission::Parked => parked += 1,
            Admission::Replaced(_) => dropped += 1,
        }
        if n % 3 == 2 {
            session.complete_frame(Duration::from_millis(30));
        }
        let _ = (session.drop_rate(), session.should_drop_frame(), session.should_slow_down());
    }
    let allocations = ALLOCATIONS.with(Cell::get) - before;
    assert!(started > 0 && parked > 0 && dropped > 0, "{started} {parked} {dropped}");
    assert!(session.slow_down_signals() >= 1);
    assert_eq!(allocations, 0, "per-frame bookkeeping allocated");

    // The session object plus its one heap allocation (the drop window).
    let size = std::mem::size_of::<SessionManager>() + config.backpressure.window;
    println!(
        "SessionManager: {} bytes inline + {} bytes of window",
        size - config.backpressure.window,
        config.backpressure.window
    );
    assert!(size < 50 * 1024, "{size} bytes");
}
