//! Reading an upload's request body under limits a client cannot talk its way around.
//!
//! [`GuardedBody`] sits between the socket and the multipart parser and refuses, with a typed [`BodyError`]:
//! - a body longer than its limit, chunked or not ([`BodyError::TooLarge`]);
//! - a body that delivers less than the minimum rate over any window of the body timeout, a silent one
//!   included ([`BodyError::TooSlow`]);
//! - multipart framing that makes the parser buffer more than [`MULTIPART_OVERHEAD`] bytes without handing
//!   any field data out: a long preamble, unterminated part headers, a boundary that never comes
//!   ([`BodyError::Framing`]).
//!
//! The parser (multer) buffers what it has not yet recognised; counting the bytes it pulled against the field
//! bytes the handler received ([`Delivered`]) bounds that buffer whatever the body looks like.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

/// The most bytes of a multipart body that may be neither field data nor consumed: boundaries, part headers
/// and a preamble, plus what the parser holds back while it looks for a boundary (one read of the socket).
pub(crate) const MULTIPART_OVERHEAD: u64 = 256 * 1024;

/// Why a body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BodyError {
    #[error("the body exceeds {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the body arrived at less than {min_bytes} bytes in {window_s} s")]
    TooSlow { min_bytes: u64, window_s: u64 },
    #[error("the multipart framing holds more than {MULTIPART_OVERHEAD} bytes outside any field")]
    Framing,
    #[error("the connection failed while reading the body")]
    Read,
}

/// Field bytes the handler has taken out of the parser, shared with the [`GuardedBody`] feeding it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Delivered(Arc<AtomicU64>);

impl Delivered {
    pub(crate) fn add(&self, bytes: usize) {
        self.0.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The limits of one body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimits {
    /// The most bytes the whole body may have.
    pub(crate) max_bytes: u64,
    /// Each window of this length must bring at least `min_rate × window` bytes.
    pub(crate) window: Duration,
    /// Bytes per second; 0: only a window with no byte at all fails.
    pub(crate) min_rate: u64,
}

/// A request body stream with the limits of the module documentation.
pub(crate) struct GuardedBody<S> {
    inner: S,
    limits: BodyLimits,
    delivered: Delivered,
    consumed: u64,
    window_start_bytes: u64,
    window_end: Pin<Box<Sleep>>,
    failed: bool,
}

impl<S> GuardedBody<S> {
    pub(crate) fn new(inner: S, limits: BodyLimits, delivered: Delivered) -> Self {
        Self {
            inner,
            limits,
            delivered,
            consumed: 0,
            window_start_bytes: 0,
            window_end: Box::pin(tokio::time::sleep(limits.window)),
            failed: false,
        }
    }

    fn min_window_bytes(&self) -> u64 {
        self.limits.min_rate.saturating_mul(self.limits.window.as_secs()).max(1)
    }

    fn fail(&mut self, error: BodyError) -> Poll<Option<Result<Bytes, BodyError>>> {
        self.failed = true;
        Poll::Ready(Some(Err(error)))
    }
}

impl<S, E> Stream for GuardedBody<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, BodyError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.failed {
            return Poll::Ready(None);
        }
        // A window is over: it must have brought enough.
        if self.window_end.as_mut().poll(cx).is_ready() {
            let brought = self.consumed - self.window_start_bytes;
            let min_bytes = self.min_window_bytes();
            if brought < min_bytes {
                let window_s = self.limits.window.as_secs();
                return self.fail(BodyError::TooSlow { min_bytes, window_s });
            }
            self.window_start_bytes = self.consumed;
            let next = Instant::now() + self.limits.window;
            self.window_end.as_mut().reset(next);
            // Register the new deadline with the waker.
            let _ = self.window_end.as_mut().poll(cx);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(_))) => self.fail(BodyError::Read),
            Poll::Ready(Some(Ok(chunk))) => {
                self.consumed += chunk.len() as u64;
                if self.consumed > self.limits.max_bytes {
                    let limit = self.limits.max_bytes;
                    return self.fail(BodyError::TooLarge { limit });
                }
                if self.consumed.saturating_sub(self.delivered.get())
                    > MULTIPART_OVERHEAD + chunk.len() as u64
                {
                    return self.fail(BodyError::Framing);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use futures_util::StreamExt;

    use super::*;

    fn limits(max_bytes: u64) -> BodyLimits {
        BodyLimits { max_bytes, window: Duration::from_secs(10), min_rate: 100 }
    }

    fn chunks(sizes: &[usize]) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        futures_util::stream::iter(sizes.iter().map(|&n| Ok(Bytes::from(vec![b'x'; n]))).collect::<Vec<_>>())
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_over_its_limit_fails_chunked_or_not() {
        let delivered = Delivered::default();
        delivered.add(10_000);
        let mut body = GuardedBody::new(chunks(&[4000, 4000, 4000]), limits(10_000), delivered);
        assert!(body.next().await.unwrap().is_ok());
        assert!(body.next().await.unwrap().is_ok());
        assert_eq!(body.next().await.unwrap(), Err(BodyError::TooLarge { limit: 10_000 }));
        assert!(body.next().await.is_none(), "nothing after the error");
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_the_parser_keeps_to_itself_are_bounded() {
        // Nothing delivered: a preamble or headers that never end.
        let sizes = vec![64 * 1024; 8];
        let mut body = GuardedBody::new(chunks(&sizes), limits(u64::MAX), Delivered::default());
        let mut passed = 0;
        let error = loop {
            match body.next().await.unwrap() {
                Ok(chunk) => passed += chunk.len() as u64,
                Err(error) => break error,
            }
        };
        assert_eq!(error, BodyError::Framing);
        assert!(passed <= MULTIPART_OVERHEAD + 64 * 1024, "{passed}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_or_trickling_body_fails_at_the_end_of_a_window() {
        // Silent: fails once the first window ends.
        let silent = futures_util::stream::pending::<Result<Bytes, std::io::Error>>();
        let started = Instant::now();
        let mut body = GuardedBody::new(silent, limits(u64::MAX), Delivered::default());
        assert_eq!(body.next().await.unwrap(), Err(BodyError::TooSlow { min_bytes: 1000, window_s: 10 }));
        assert_eq!(started.elapsed(), Duration::from_secs(10));

        // One byte every 5 s: 2 bytes per 10 s window, under 100 B/s.
        let trickle = futures_util::stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Some((Ok::<_, std::io::Error>(Bytes::from_static(b"x")), ()))
        });
        let delivered = Delivered::default();
        delivered.add(1 << 20);
        let mut body = GuardedBody::new(Box::pin(trickle), limits(u64::MAX), delivered);
        let outcome = loop {
            match body.next().await.unwrap() {
                Ok(_) => {}
                Err(error) => break error,
            }
        };
        assert!(matches!(outcome, BodyError::TooSlow { .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_body_passes_window_after_window() {
        let steady = futures_util::stream::unfold(0, |n| async move {
            if n == 50 {
                return None;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            Some((Ok::<_, std::io::Error>(Bytes::from(vec![0u8; 200])), n + 1))
        });
        let delivered = Delivered::default();
        delivered.add(1 << 20);
        let mut body = GuardedBody::new(Box::pin(steady), limits(u64::MAX), delivered);
        let mut total = 0;
        while let Some(chunk) = body.next().await {
            total += chunk.unwrap().len();
        }
        assert_eq!(total, 50 * 200);
    }
}
