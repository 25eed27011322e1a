//! The sliding window of recent frame outcomes.

/// The outcomes (dropped or not) of the last `capacity` frames, in a ring allocated once.
///
/// Until the window has filled, the frames not yet seen count as processed: a session starts with a clean
/// history, so one early drop reads as 1/30 rather than 1/2 and does not by itself set off a slow-down.
#[derive(Debug, Clone)]
pub struct DropWindow {
    outcomes: Box<[bool]>,
    next: usize,
    filled: usize,
    dropped: usize,
}

impl DropWindow {
    /// An empty window over `capacity` frames (at least one).
    pub fn new(capacity: usize) -> Self {
        Self { outcomes: vec![false; capacity.max(1)].into_boxed_slice(), next: 0, filled: 0, dropped: 0 }
    }

    /// Records one frame's outcome, forgetting the oldest once the window is full.
    pub fn record(&mut self, dropped: bool) {
        let capacity = self.outcomes.len();
        let slot = &mut self.outcomes[self.next];
        if self.filled == capacity {
            self.dropped -= usize::from(*slot);
        } else {
            self.filled += 1;
        }
        *slot = dropped;
        self.dropped += usize::from(dropped);
        self.next = (self.next + 1) % capacity;
    }

    /// Dropped frames over the window's capacity, in `0..=1`.
    pub fn drop_rate(&self) -> f64 {
        self.dropped as f64 / self.outcomes.len() as f64
    }

    /// Number of dropped frames in the window.
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// Number of frames recorded so far, up to the capacity.
    pub fn len(&self) -> usize {
        self.filled
    }

    /// Whether no frame has been recorded yet.
    pub fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// Number of frames the window covers.
    pub fn capacity(&self) -> usize {
        self.outcomes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_the_oldest_outcome() {
        let mut window = DropWindow::new(3);
        for dropped in [true, false, false] {
            window.record(dropped);
        }
        assert_eq!(window.dropped(), 1);
        window.record(false);
        assert_eq!(window.dropped(), 0);
        assert_eq!(window.len(), 3);
    }

    #[test]
    fn unseen_frames_count_as_processed() {
        let mut window = DropWindow::new(30);
        window.record(false);
        window.record(true);
        assert!((window.drop_rate() - 1.0 / 30.0).abs() < 1e-12);
    }

    #[test]
    fn zero_capacity_is_one() {
        let mut window = DropWindow::new(0);
        window.record(true);
        assert_eq!(window.drop_rate(), 1.0);
    }
}
