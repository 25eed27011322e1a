//! One frame in flight, one waiting: the latest frame wins.

/// What to do with a frame that just arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission<T> {
    /// Nothing is in flight: start processing this frame now.
    Start(T),
    /// A frame is in flight: this one waits in the single slot.
    Parked,
    /// A frame is in flight and another was waiting: the new frame takes the slot, and the returned frame
    /// is dropped (answer it with a drop notice at once).
    Replaced(T),
}

/// The per-session frame slots: at most one frame in flight and at most one waiting.
///
/// This is what makes latency independent of the client's rate: there is never a queue to wait in.
#[derive(Debug, Clone)]
pub struct FrameSlots<T> {
    in_flight: bool,
    waiting: Option<T>,
}

impl<T> FrameSlots<T> {
    /// Idle slots.
    pub const fn new() -> Self {
        Self { in_flight: false, waiting: None }
    }

    /// Admits a newly arrived frame.
    pub fn admit(&mut self, frame: T) -> Admission<T> {
        if !self.in_flight {
            self.in_flight = true;
            return Admission::Start(frame);
        }
        match self.waiting.replace(frame) {
            None => Admission::Parked,
            Some(replaced) => Admission::Replaced(replaced),
        }
    }

    /// The in-flight frame finished: returns the waiting frame, which is now in flight, if there is one.
    pub fn finish(&mut self) -> Option<T> {
        let next = self.waiting.take();
        self.in_flight = next.is_some();
        next
    }

    /// Whether a frame is in flight.
    pub const fn is_busy(&self) -> bool {
        self.in_flight
    }

    /// Whether a frame is waiting.
    pub const fn has_waiting(&self) -> bool {
        self.waiting.is_some()
    }

    /// Whether a frame arriving now would cause a drop (one in flight and one waiting).
    pub const fn would_drop(&self) -> bool {
        self.in_flight && self.waiting.is_some()
    }

    /// Empties both slots (the session is ending); returns the waiting frame, if any.
    pub fn clear(&mut self) -> Option<T> {
        self.in_flight = false;
        self.waiting.take()
    }
}

impl<T> Default for FrameSlots<T> {
    fn default() -> Self {
        Self::new()
    }
}
