//! The API listener: accepts connections and bounds what each may hold, so that slow,
//! silent or merely numerous clients cannot starve well-behaved ones.
//!
//! Per connection ([`ConnectionLimits`]):
//! - **idle**: a connection with no request under way and no byte of a next one is
//!   closed after `idle_timeout` (a silent connection, an idle keep-alive one);
//! - **header**: from the first byte of a request, its head must arrive within
//!   `header_timeout` (a slow-header client). hyper's own header read timeout, set to
//!   `idle_timeout + header_timeout` from when hyper starts waiting for a head, backs
//!   this up;
//! - **body**: a request's body must arrive whole within `body_timeout`
//!   ([`crate::body::DeadlineBody`]).
//!
//! At most `max_connections` are open. A plain semaphore (as mini-redis bounds its
//! connections) would let idle connections hold every permit while a new client
//! waits; so at the cap, a new connection instead closes the connection that has
//! been idle longest (one with no request under way: silent, idle keep-alive, then
//! slow-header ones), and is refused with 503 only when every connection is busy.
//! A connection is only ever dropped between requests, never under a running one:
//! its requests run inside its own task, which is the one that drops it.
//!
//! On shutdown the listener stops accepting, asks every connection to finish its
//! request and close (hyper's graceful shutdown), and waits for them all.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use http_body_util::BodyExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;
use tower::Service;

use crate::body::DeadlineBody;
use crate::config::ConnectionLimits;

/// The body a connection refused at the cap is answered with before it is closed.
const REFUSED_BODY: &str =
    "{\"Type\":\"Service\",\"message\":\"gust has too many busy connections open; retry in a moment\"}";

/// The whole response to a connection refused at the cap.
fn refused() -> Vec<u8> {
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         x-amzn-errortype: ServiceException\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{}",
        REFUSED_BODY.len(),
        REFUSED_BODY
    )
    .into_bytes()
}

/// Serves `app` on `listener` until `shutdown` resolves, then closes every
/// connection gracefully and returns once they are all gone.
pub async fn serve(
    listener: TcpListener,
    mut from_instances: mpsc::Receiver<TcpStream>,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let registry = Arc::new(Registry::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection task holds a sender; when the last is gone, all have ended.
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            Some(stream) = from_instances.recv() => match stream.peer_addr() {
                Ok(peer) => (stream, peer),
                Err(_) => continue,
            },
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was
                    // accepted: back off a little rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Responses are written as their parts are ready (a head, then a body read
        // from a file): without this, Nagle's algorithm holds the second write
        // for the client's delayed ACK (40 ms a request).
        let _ = stream.set_nodelay(true);
        let Some(slot) = registry.admit() else {
            tracing::debug!(%peer, "refusing a connection: every connection is busy");
            // Best effort: the client may not read it, and must not hold the loop.
            let _ = stream.try_write(&refused());
            continue;
        };
        tokio::spawn(connection(
            stream,
            peer,
            app.clone(),
            slot,
            limits,
            stop_rx.clone(),
            alive_tx.clone(),
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(alive_tx);
    let _ = alive_rx.recv().await;
}

/// Runs one connection until it ends, is idle too long, is evicted, or the server
/// stops.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    slot: Slot,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
    _alive: mpsc::Sender<()>,
) {
    let state = slot.state.clone();
    let io = TokioIo::new(Tracked {
        inner: stream,
        state: state.clone(),
    });
    let service_state = state.clone();
    let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
        // Runs inside this connection's task (hyper polls it from `conn` below).
        let busy = Busy::begin(service_state.clone());
        let mut app = app.clone();
        async move {
            let (parts, incoming) = req.into_parts();
            let body = DeadlineBody::new(incoming, limits.body_timeout);
            let read_whole = body.read_whole();
            let mut req = http::Request::from_parts(parts, Body::new(body));
            req.extensions_mut().insert(ConnectInfo(peer));
            let mut resp = match app.call(req).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            };
            if !read_whole.load(std::sync::atomic::Ordering::Relaxed) {
                resp.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
            }
            // The request stays busy until its response has been written.
            Ok::<_, Infallible>(resp.map(move |b| {
                Body::new(b.map_frame(move |f| {
                    let _ = &busy;
                    f
                }))
            }))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout + limits.header_timeout);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(%peer, error = %e, "connection ended");
                }
                return;
            }
            () = state.timed_out(limits) => {
                // Nothing of a request is under way (checked in this task, which alone
                // runs the connection's requests), so closing loses nothing.
                tracing::debug!(%peer, "closing a connection that sent no request in time");
                return;
            }
            () = state.evict.notified() => {
                if state.busy.load(Ordering::SeqCst) == 0 {
                    tracing::debug!(%peer, "closing an idle connection to admit a new one");
                    return;
                }
                // A request began since it was chosen: let it finish, then close.
                conn.as_mut().graceful_shutdown();
            }
            _ = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What the listener and a connection's task know of the connection.
#[derive(Debug)]
struct ConnState {
    /// Requests under way (head read, response not yet written).
    busy: AtomicUsize,
    /// Whether a byte of a next request has arrived since the connection went idle.
    reading: AtomicBool,
    /// When it went idle, and when the next request's first byte came.
    times: Mutex<Times>,
    /// Wakes the watchdog when the connection's phase changes.
    changed: Notify,
    /// Tells the connection's task to close it to make room.
    evict: Notify,
    /// Chosen for eviction already (so not chosen twice).
    evicting: AtomicBool,
}

#[derive(Debug, Clone, Copy)]
struct Times {
    idle_since: Instant,
    reading_since: Option<Instant>,
}

impl ConnState {
    fn new() -> ConnState {
        ConnState {
            busy: AtomicUsize::new(0),
            reading: AtomicBool::new(false),
            times: Mutex::new(Times {
                idle_since: Instant::now(),
                reading_since: None,
            }),
            changed: Notify::new(),
            evict: Notify::new(),
            evicting: AtomicBool::new(false),
        }
    }

    fn times(&self) -> MutexGuard<'_, Times> {
        self.times.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When the connection must have started a request (`None` while one runs).
    fn deadline(&self, limits: ConnectionLimits) -> Option<Instant> {
        if self.busy.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let t = *self.times();
        Some(match t.reading_since {
            Some(first_byte) => first_byte + limits.header_timeout,
            None => t.idle_since + limits.idle_timeout,
        })
    }

    /// Bytes arrived: the first of a next request starts its header time.
    fn saw_bytes(&self) {
        if self.busy.load(Ordering::SeqCst) == 0 && !self.reading.swap(true, Ordering::SeqCst) {
            self.times().reading_since = Some(Instant::now());
            self.changed.notify_waiters();
        }
    }

    /// Resolves once the connection has gone past its deadline with no request.
    async fn timed_out(&self, limits: ConnectionLimits) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.deadline(limits) {
                Some(deadline) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => {
                            if self.deadline(limits).is_some_and(|d| d <= Instant::now()) {
                                return;
                            }
                        }
                        () = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

/// A request under way on a connection; dropped once its response is written.
struct Busy(Arc<ConnState>);

impl Busy {
    fn begin(state: Arc<ConnState>) -> Busy {
        state.busy.fetch_add(1, Ordering::SeqCst);
        state.reading.store(false, Ordering::SeqCst);
        state.times().reading_since = None;
        state.changed.notify_waiters();
        Busy(state)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let s = &self.0;
        {
            let mut t = s.times();
            t.idle_since = Instant::now();
            t.reading_since = None;
        }
        s.reading.store(false, Ordering::SeqCst);
        s.busy.fetch_sub(1, Ordering::SeqCst);
        s.changed.notify_waiters();
    }
}

/// The socket, noting when bytes arrive.
struct Tracked {
    inner: TcpStream,
    state: Arc<ConnState>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.saw_bytes();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The open connections, for the cap and for choosing whom to evict.
#[derive(Debug)]
struct Registry {
    max: usize,
    inner: Mutex<RegistryInner>,
}

#[derive(Debug, Default)]
struct RegistryInner {
    next_id: u64,
    open: HashMap<u64, Arc<ConnState>>,
}

/// A connection's place in the registry, given back when it is dropped.
struct Slot {
    id: u64,
    state: Arc<ConnState>,
    registry: Arc<Registry>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.lock().open.remove(&self.id);
    }
}

impl Registry {
    fn new(max: usize) -> Registry {
        Registry {
            max: max.max(1),
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, RegistryInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for a new connection: free below the cap; at it, taken from the
    /// connection idle longest, which is told to close; `None` when every
    /// connection is busy (or so many are still closing that the hard bound of
    /// twice the cap is reached).
    fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut inner = self.lock();
        let evicting = inner
            .open
            .values()
            .filter(|c| c.evicting.load(Ordering::SeqCst))
            .count();
        if inner.open.len() - evicting >= self.max {
            if inner.open.len() >= 2 * self.max {
                return None;
            }
            let victim = inner
                .open
                .values()
                .filter(|c| {
                    !c.evicting.load(Ordering::SeqCst) && c.busy.load(Ordering::SeqCst) == 0
                })
                // Silent and idle keep-alive connections first, then slow headers;
                // oldest first within each.
                .min_by_key(|c| {
                    let t = *c.times();
                    (
                        t.reading_since.is_some(),
                        t.reading_since.unwrap_or(t.idle_since),
                    )
                })?;
            victim.evicting.store(true, Ordering::SeqCst);
            victim.evict.notify_one();
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let state = Arc::new(ConnState::new());
        inner.open.insert(id, state.clone());
        Some(Slot {
            id,
            state,
            registry: self.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const LIMITS: ConnectionLimits = ConnectionLimits {
        header_timeout: Duration::from_secs(20),
        idle_timeout: Duration::from_secs(15),
        body_timeout: Duration::from_secs(120),
        max_connections: 2,
    };

    #[test]
    fn the_refusal_is_a_complete_response() {
        let text = String::from_utf8(refused()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let _: serde_json::Value = serde_json::from_str(body).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn silent_connections_time_out_after_the_idle_timeout() {
        let s = ConnState::new();
        let started = Instant::now();
        s.timed_out(LIMITS).await;
        assert_eq!(started.elapsed(), LIMITS.idle_timeout);
    }

    #[tokio::test(start_paused = true)]
    async fn a_started_head_has_the_header_timeout_from_its_first_byte() {
        let s = Arc::new(ConnState::new());
        let started = Instant::now();
        let writer = s.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            writer.saw_bytes();
        });
        s.timed_out(LIMITS).await;
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(10) + LIMITS.header_timeout
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_running_request_never_times_out_and_idleness_restarts_after_it() {
        let s = Arc::new(ConnState::new());
        let busy = Busy::begin(s.clone());
        let started = Instant::now();
        tokio::spawn(async move {
            // Far longer than any timeout: an invocation may run for 15 minutes.
            tokio::time::sleep(Duration::from_secs(900)).await;
            drop(busy);
        });
        s.timed_out(LIMITS).await;
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(900) + LIMITS.idle_timeout
        );
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_cap_the_longest_idle_connection_makes_room() {
        let r = Arc::new(Registry::new(2));
        let oldest = r.admit().unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let newer = r.admit().unwrap();
        let third = r.admit().expect("an idle connection makes room");
        assert!(oldest.state.evicting.load(Ordering::SeqCst));
        assert!(!newer.state.evicting.load(Ordering::SeqCst));
        // The evicted one is told; here nobody drops it, so the next admission
        // evicts the next idle one rather than the same twice.
        let _busy = Busy::begin(third.state.clone());
        let fourth = r.admit().expect("the newer idle one makes room");
        assert!(newer.state.evicting.load(Ordering::SeqCst));
        drop((oldest, newer));
        // Two open, both busy: nobody to evict.
        let _busy4 = Busy::begin(fourth.state.clone());
        assert!(r.admit().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn slow_headers_are_evicted_after_silent_connections() {
        let r = Arc::new(Registry::new(2));
        let slow = r.admit().unwrap();
        slow.state.saw_bytes();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let silent = r.admit().unwrap();
        let _new = r.admit().unwrap();
        assert!(silent.state.evicting.load(Ordering::SeqCst));
        assert!(!slow.state.evicting.load(Ordering::SeqCst));
    }
}
