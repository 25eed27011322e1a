//! The global budget for bytes of partly received WebSocket frames (`STREAM_FRAME_BUDGET_MB`).
//!
//! A frame is buffered until its last byte arrives, so many clients each sending most of a large frame and then
//! stalling would hold up to `sessions × max frame size` of memory. Every byte read from a WebSocket counts
//! against one shared budget until the message it belongs to is complete; a read that would go over the budget
//! ends that session with `server_busy` instead of buffering it. The idle timeout bounds how long a stalled
//! frame can hold its share.
//!
//! Accounting is per read, in [`Metered`], the session's I/O: the bytes read since the last complete message
//! are held. When a binary message completes, its share moves into the frame itself ([`Hold::frame`]) and goes
//! back when the last reference to the frame is dropped (answered, or replaced in the waiting slot); other
//! messages give theirs back at once. So frames waiting or in the pipeline count too, and the budget bounds all
//! frame memory. What the last read brought of the next message (at most one read, [`READ_CHUNK`]) is not
//! counted, a bounded error per session.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most bytes one read of a session takes from its socket (tungstenite's read buffer size).
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// The bytes of partly received frames held across all sessions, and the most allowed.
#[derive(Debug)]
pub(crate) struct FrameBudget {
    limit: usize,
    used: AtomicUsize,
}

impl FrameBudget {
    pub(crate) fn new(limit: usize) -> Self {
        Self { limit, used: AtomicUsize::new(0) }
    }

    /// Takes `bytes` if they fit.
    fn try_take(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.limit)
            })
            .is_ok()
    }

    fn give(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Bytes held now.
    #[cfg(test)]
    fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// One session's share of the budget: what it has read since its last complete message.
#[derive(Debug)]
pub(crate) struct Hold {
    budget: Arc<FrameBudget>,
    bytes: AtomicUsize,
    /// Set once the session is over and its socket is only drained: reads are discarded, not held.
    draining: AtomicBool,
}

impl Hold {
    pub(crate) fn new(budget: Arc<FrameBudget>) -> Arc<Self> {
        Arc::new(Self { budget, bytes: AtomicUsize::new(0), draining: AtomicBool::new(false) })
    }

    /// A message is complete: its bytes are no longer partly received.
    pub(crate) fn release(&self) {
        let bytes = self.bytes.swap(0, Ordering::AcqRel);
        if bytes > 0 {
            self.budget.give(bytes);
        }
    }

    /// A binary message is complete: its bytes stay counted until the returned frame (zero-copy, the same
    /// bytes) is dropped.
    pub(crate) fn frame(&self, payload: bytes::Bytes) -> bytes::Bytes {
        let bytes = self.bytes.swap(0, Ordering::AcqRel);
        if bytes == 0 {
            return payload;
        }
        bytes::Bytes::from_owner(Counted {
            payload,
            _share: Share { budget: Arc::clone(&self.budget), bytes },
        })
    }

    /// From now on, what is read is discarded at once: nothing more is counted. What the session holds now
    /// stays counted until it ends (its buffers live until then).
    pub(crate) fn drain(&self) {
        self.draining.store(true, Ordering::Release);
    }

    fn take(&self, bytes: usize) -> bool {
        if self.draining.load(Ordering::Acquire) {
            return true;
        }
        if !self.budget.try_take(bytes) {
            return false;
        }
        self.bytes.fetch_add(bytes, Ordering::AcqRel);
        true
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.release();
    }
}

/// A frame and the budget share it holds.
struct Counted {
    payload: bytes::Bytes,
    _share: Share,
}

impl AsRef<[u8]> for Counted {
    fn as_ref(&self) -> &[u8] {
        &self.payload
    }
}

struct Share {
    budget: Arc<FrameBudget>,
    bytes: usize,
}

impl Drop for Share {
    fn drop(&mut self) {
        self.budget.give(self.bytes);
    }
}

/// The error a read returns when the budget is exhausted (recognised by [`is_over_budget`]).
#[derive(Debug, thiserror::Error)]
#[error("the server's budget for partly received frames is exhausted")]
struct OverBudget;

/// Whether an I/O error is the budget's refusal.
pub(crate) fn is_over_budget(error: &io::Error) -> bool {
    error.get_ref().is_some_and(|inner| inner.is::<OverBudget>())
}

/// A session's connection, counting what it reads against the budget.
#[derive(Debug)]
pub(crate) struct Metered<T> {
    inner: T,
    hold: Arc<Hold>,
}

impl<T> Metered<T> {
    pub(crate) fn new(inner: T, hold: Arc<Hold>) -> Self {
        Self { inner, hold }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Metered<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let read = buf.filled().len() - before;
            if read > 0 && !this.hold.take(read) {
                return Poll::Ready(Err(io::Error::other(OverBudget)));
            }
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Metered<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn reads_hold_budget_until_released_and_fail_beyond_it() {
        let budget = Arc::new(FrameBudget::new(10));
        let (mut client, server) = tokio::io::duplex(64);
        let hold = Hold::new(Arc::clone(&budget));
        let mut metered = Metered::new(server, Arc::clone(&hold));
        let mut buf = [0u8; 64];

        client.write_all(&[1; 6]).await.unwrap();
        assert_eq!(metered.read(&mut buf).await.unwrap(), 6);
        assert_eq!(budget.used(), 6);
        // A second session cannot take more than what is left.
        let other = Hold::new(Arc::clone(&budget));
        assert!(other.take(4) && !other.take(1));
        drop(other);
        assert_eq!(budget.used(), 6);

        client.write_all(&[1; 5]).await.unwrap();
        let error = metered.read(&mut buf).await.unwrap_err();
        assert!(is_over_budget(&error), "{error}");
        assert!(!is_over_budget(&io::Error::other("something else")));

        hold.release();
        assert_eq!(budget.used(), 0);
        client.write_all(&[1; 3]).await.unwrap();
        assert_eq!(metered.read(&mut buf).await.unwrap(), 3);
        // A completed frame keeps its share until it is dropped.
        let frame = hold.frame(bytes::Bytes::copy_from_slice(&buf[..3]));
        assert_eq!((&frame[..], budget.used()), (&[1u8, 1, 1][..], 3));
        let clone = frame.clone();
        drop(frame);
        assert_eq!(budget.used(), 3);
        drop(clone);
        assert_eq!(budget.used(), 0);
        drop(metered);
        drop(hold);
        assert_eq!(budget.used(), 0, "a session's hold goes back when it ends");
    }
}
