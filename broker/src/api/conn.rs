//! One client connection as the listener sees it, below HTTP:
//!
//! - [`Activity`]: when the connection last had a request in flight and when the bytes of the
//!   next request began, so [`Activity::expired`] can close idle and slowloris connections
//!   (hyper's own header timeout also runs while a keep-alive connection is idle, so it cannot
//!   give the two different bounds).
//! - [`Watched`]: the socket wrapper (over TCP, or over TLS above it so that it sees plaintext)
//!   that feeds [`Activity`] and gives hyper's automatic answers to unparsable requests (400,
//!   414, 431, sent with an empty body) the JSON error body the API promises for every failure.
//!   Dropped, it lingers: half-closed and drained for a moment, so the last answer is not lost
//!   to a reset while the client still sends.
//! - [`answer_and_close`]: one JSON error answer on a connection that is not served, such as
//!   [`refuse`]: the answer to a connection beyond `http.max_connections`.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::error::ApiError;
use crate::config::HttpLimits;

/// `first_byte_ms` while no byte of a next request has arrived.
const NONE: u64 = u64::MAX;

/// What a connection is doing, shared by its socket wrapper, its requests and its watchdog.
#[derive(Debug)]
pub struct Activity {
    epoch: Instant,
    /// Requests (h2: streams) handed to the router and not yet answered.
    in_flight: AtomicU32,
    /// When the last request was answered (or the connection opened), in ms since `epoch`.
    idle_since_ms: AtomicU64,
    /// When the first byte after going idle arrived, or [`NONE`].
    first_byte_ms: AtomicU64,
}

/// Why a connection's watchdog closed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// A request's line and headers took longer than `header_read_timeout_ms`.
    HeaderRead,
    /// Nothing happened for `idle_timeout_ms`.
    Idle,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            in_flight: AtomicU32::new(0),
            idle_since_ms: AtomicU64::new(0),
            first_byte_ms: AtomicU64::new(NONE),
        })
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Marks a request as in flight until the guard drops.
    pub fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.first_byte_ms.store(NONE, Ordering::Release);
        InFlight(Arc::clone(self))
    }

    fn bytes_arrived(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let _ = self.first_byte_ms.compare_exchange(
                NONE,
                self.now_ms(),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }

    /// Whether the connection has outlived a bound with no request in flight. Requests in
    /// flight have their own bounds (body read timeout, `max_wait_ms`).
    pub fn expired(&self, limits: &HttpLimits) -> Option<Expiry> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let now = self.now_ms();
        let first = self.first_byte_ms.load(Ordering::Acquire);
        if first != NONE {
            return (now.saturating_sub(first) > limits.header_read_timeout_ms)
                .then_some(Expiry::HeaderRead);
        }
        let idle = now.saturating_sub(self.idle_since_ms.load(Ordering::Acquire));
        (idle > limits.idle_timeout_ms).then_some(Expiry::Idle)
    }
}

/// A request in flight on its connection (see [`Activity::request_started`]).
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        a.idle_since_ms.store(a.now_ms(), Ordering::Release);
        let before = a.in_flight.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(before > 0, "a request ended that never started");
    }
}

/// How often a connection's watchdog looks at its [`Activity`]: often enough to close within
/// about a quarter of the shorter timeout past it.
pub fn check_period(limits: &HttpLimits) -> Duration {
    let shorter = limits.header_read_timeout_ms.min(limits.idle_timeout_ms);
    Duration::from_millis((shorter / 4).clamp(10, 1_000))
}

/// A client byte stream: the TCP socket, or the TLS stream over it.
pub trait ClientIo: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> ClientIo for S {}

/// The client socket, watched (see the module doc).
#[derive(Debug)]
pub struct Watched<S: ClientIo = TcpStream> {
    /// Always `Some` until dropped (then it may be handed to [`linger`]).
    inner: Option<S>,
    activity: Arc<Activity>,
    limits: (u64, u32),
    /// A JSON answer being written in place of one of hyper's empty ones: bytes, how many are
    /// written, and how many of hyper's bytes it stands for.
    replacing: Option<(Vec<u8>, usize, usize)>,
}

impl<S: ClientIo> Watched<S> {
    pub fn new(inner: S, activity: Arc<Activity>, limits: &HttpLimits) -> Self {
        Self {
            inner: Some(inner),
            activity,
            limits: (limits.max_header_bytes, limits.max_headers),
            replacing: None,
        }
    }

    fn io(&mut self) -> Pin<&mut S> {
        Pin::new(
            self.inner
                .as_mut()
                .expect("the socket is only taken on drop"),
        )
    }

    /// Writes the replacement answer; `Ready(Ok(n))` (hyper's count) once all of it is out.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        loop {
            let Some((bytes, written, stands_for)) = &mut self.replacing else {
                return Poll::Ready(Ok(0));
            };
            if *written == bytes.len() {
                let n = *stands_for;
                self.replacing = None;
                return Poll::Ready(Ok(n));
            }
            let inner = self
                .inner
                .as_mut()
                .expect("the socket is only taken on drop");
            let n = ready!(Pin::new(inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
    }

    fn start_replacing(&mut self, head: &[u8]) -> bool {
        let Some(error) = automatic_error(head, self.limits) else {
            return false;
        };
        self.replacing = Some((render(&error), 0, head.len()));
        true
    }
}

/// The error hyper answered by itself, if `head` is one of its automatic answers. The router
/// never answers 400, 414 or 431 without a JSON body, so an empty one is hyper's.
fn automatic_error(head: &[u8], (limit_bytes, limit_count): (u64, u32)) -> Option<ApiError> {
    let status = head.strip_prefix(b"HTTP/1.1 ")?.get(..4)?;
    let error = match status {
        b"400 " => ApiError::MalformedRequest,
        b"414 " => ApiError::UriTooLong,
        b"431 " => ApiError::HeadersTooLarge {
            limit_bytes,
            limit_count,
        },
        _ => return None,
    };
    let lower = head.to_ascii_lowercase();
    let empty = lower.windows(21).any(|w| w == b"\r\ncontent-length: 0\r\n");
    (empty && lower.ends_with(b"\r\n\r\n")).then_some(error)
}

/// A whole HTTP/1.1 answer carrying `error` as JSON; the connection closes after it.
pub fn render(error: &ApiError) -> Vec<u8> {
    let status = error.status();
    let body = serde_json::to_vec(&wharf_proto::api::ErrorBody {
        error: error.detail(),
    })
    .unwrap_or_default();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

impl<S: ClientIo> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(self.io().poll_read(cx, buf))?;
        if buf.filled().len() > before {
            self.activity.bytes_arrived();
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: ClientIo> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.replacing.is_some() || self.start_replacing(buf) {
            return self.poll_replacement(cx);
        }
        self.io().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // hyper writes a head as the first slice; its automatic answers have nothing after it.
        let first = bufs.iter().find(|b| !b.is_empty());
        if self.replacing.is_some() || first.is_some_and(|head| self.start_replacing(head)) {
            return self.poll_replacement(cx);
        }
        self.io().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.replacing.is_some() {
            ready!(self.poll_replacement(cx))?;
        }
        self.io().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.replacing.is_some() {
            ready!(self.poll_replacement(cx))?;
        }
        self.io().poll_shutdown(cx)
    }
}

/// How long a refused or closed connection is given to take its last answer before it is
/// dropped, and how much of what the client still sends is read (and thrown away) meanwhile.
pub const LINGER_MS: u64 = 1_000;
const LINGER_MAX_BYTES: usize = 2 * 1024 * 1024;
/// Closing connections lingering at once; past it a closing socket is dropped at once, so
/// lingering cannot hold more descriptors than this beyond `max_connections`.
const MAX_LINGERING: usize = 256;

static LINGERING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_LINGERING);

impl<S: ClientIo> Drop for Watched<S> {
    /// Closing a socket with unread bytes from the client makes the kernel send a reset, and a
    /// client still sending (a body after a 401, a flood of headers after the 431) then loses
    /// the answer. So the socket is half-closed and drained for a moment first, off the task.
    fn drop(&mut self) {
        let Some(stream) = self.inner.take() else {
            return;
        };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Ok(permit) = LINGERING.try_acquire() else {
            return;
        };
        handle.spawn(async move {
            linger(stream).await;
            drop(permit);
        });
    }
}

/// Half-closes `stream` (over TLS: after its close_notify) and reads what the client still sends,
/// within [`LINGER_MS`] and [`LINGER_MAX_BYTES`], before dropping it.
async fn linger(mut stream: impl ClientIo) {
    let drain = async {
        stream.shutdown().await?;
        let mut sink = [0u8; 8192];
        let mut read = 0usize;
        while read < LINGER_MAX_BYTES {
            match stream.read(&mut sink).await? {
                0 => break,
                n => read += n,
            }
        }
        Ok::<(), io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_millis(LINGER_MS), drain).await;
}

/// Answers a connection beyond `http.max_connections` with a 503 `overloaded` and closes it.
pub async fn refuse(stream: impl ClientIo, max_connections: u32) {
    let overloaded = ApiError::Overloaded {
        resource: "connections",
        limit: u64::from(max_connections),
    };
    answer_and_close(stream, &overloaded).await;
}

/// Writes `error` as a whole HTTP/1.1 answer and closes. What the client sent is read (and
/// thrown away) for a moment after, so closing does not reset the connection before the answer
/// is read. Bounded by [`LINGER_MS`] for the write and again for the linger.
pub async fn answer_and_close(mut stream: impl ClientIo, error: &ApiError) {
    let answer = render(error);
    let sent = tokio::time::timeout(Duration::from_millis(LINGER_MS), async {
        stream.write_all(&answer).await?;
        stream.flush().await
    });
    if matches!(sent.await, Ok(Ok(()))) {
        linger(stream).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: (u64, u32) = (8192, 100);

    #[test]
    fn hypers_empty_parse_error_answers_are_recognised() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Thu, 03 Dec 2026 09:00:00 GMT\r\n\r\n";
        assert!(matches!(
            automatic_error(head, LIMITS),
            Some(ApiError::HeadersTooLarge { .. })
        ));
        let head = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        assert!(matches!(
            automatic_error(head, LIMITS),
            Some(ApiError::MalformedRequest)
        ));
    }

    #[test]
    fn router_answers_are_left_alone() {
        // A JSON 400 from a handler, and an empty 404.
        let head = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 80\r\n\r\n";
        assert!(automatic_error(head, LIMITS).is_none());
        let head = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
        assert!(automatic_error(head, LIMITS).is_none());
    }

    #[test]
    fn rendered_answers_carry_the_json_error_and_close() {
        let text = String::from_utf8(render(&ApiError::UriTooLong)).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(head.contains("connection: close"), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["code"], "uri_too_long");
    }

    #[test]
    fn idle_and_half_sent_connections_expire_by_their_own_bounds() {
        let limits = HttpLimits {
            header_read_timeout_ms: 50,
            idle_timeout_ms: 10_000,
            ..HttpLimits::default()
        };
        let a = Activity::new();
        assert_eq!(a.expired(&limits), None);
        a.bytes_arrived();
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(a.expired(&limits), Some(Expiry::HeaderRead));
        let guard = a.request_started();
        assert_eq!(a.expired(&limits), None, "a request in flight is not idle");
        drop(guard);
        assert_eq!(a.expired(&limits), None, "just answered");
        let idle = HttpLimits {
            idle_timeout_ms: 30,
            ..limits
        };
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(a.expired(&idle), Some(Expiry::Idle));
    }
}
