//! The small public accessors embedders read: names, sizes, defaults.

use backpressure::{Admission, BackpressureConfig, BackpressureState, DropPolicy, DropWindow, FrameSlots};

#[test]
fn states_have_their_log_names() {
    let names = [BackpressureState::Normal, BackpressureState::Warning, BackpressureState::Critical]
        .map(BackpressureState::as_str);
    assert_eq!(names, ["normal", "warning", "critical"]);
}

#[test]
fn a_window_reports_its_fill_and_capacity() {
    let mut window = DropWindow::new(3);
    assert!(window.is_empty());
    assert_eq!((window.len(), window.capacity()), (0, 3));
    for _ in 0..5 {
        window.record(true);
    }
    assert!(!window.is_empty());
    assert_eq!((window.len(), window.capacity()), (3, 3));
}

#[test]
fn a_policy_keeps_its_config_and_default_slots_are_empty() {
    let config = BackpressureConfig { window: 7, ..BackpressureConfig::default() };
    assert_eq!(DropPolicy::new(config).config(), &config);
    let mut slots = FrameSlots::<u8>::default();
    assert!(matches!(slots.admit(1), Admission::Start(1)));
}
