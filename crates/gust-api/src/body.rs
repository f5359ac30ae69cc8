//! Request bodies with a deadline: a body must arrive whole within the server's body
//! timeout, so an upload that stalls cannot hold its connection and the part it has
//! sent in memory for ever. Whoever reads the body sees [`BodyTimedOut`] as the read
//! error; [`read_error`] turns any read error into the response a client sees.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::error::aws_error;
use crate::routes::request_id;

type BoxError = Box<dyn StdError + Send + Sync>;

/// The request body did not arrive within the body timeout.
#[derive(Debug, thiserror::Error)]
#[error(
    "the request body did not arrive within {} s (gust serve --body-timeout)",
    .0.as_secs_f64()
)]
pub struct BodyTimedOut(pub Duration);

/// A body that fails with [`BodyTimedOut`] once its deadline passes.
pub struct DeadlineBody<B> {
    inner: B,
    deadline: Instant,
    /// The timer, armed the first time the body is waited for (most bodies are
    /// empty or already buffered, and never need one).
    timer: Option<Pin<Box<Sleep>>>,
    limit: Duration,
    /// Set once the body has been read to its end (see [`DeadlineBody::read_whole`]).
    ended: Arc<AtomicBool>,
}

impl<B: HttpBody> DeadlineBody<B> {
    /// `inner`, which must arrive whole within `limit` from now.
    pub fn new(inner: B, limit: Duration) -> DeadlineBody<B> {
        let ended = Arc::new(AtomicBool::new(inner.is_end_stream()));
        DeadlineBody {
            inner,
            deadline: Instant::now() + limit,
            timer: None,
            limit,
            ended,
        }
    }

    /// Whether the body was read to its end, to be asked once its request has
    /// been answered: a connection whose request body was left unread cannot
    /// carry another request, and must say so (`Connection: close`) rather than
    /// close under a client that reuses it.
    pub fn read_whole(&self) -> Arc<AtomicBool> {
        self.ended.clone()
    }
}

impl<B> HttpBody for DeadlineBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            if frame.is_none() || this.inner.is_end_stream() {
                this.ended.store(true, Ordering::Relaxed);
            }
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut(this.limit))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether `err` or one of its sources is a [`BodyTimedOut`].
pub fn timed_out<'e>(err: &'e (dyn StdError + 'static)) -> Option<&'e BodyTimedOut> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(t) = e.downcast_ref::<BodyTimedOut>() {
            return Some(t);
        }
        next = e.source();
    }
    None
}

/// Whether `err` or one of its sources is a body over its length limit.
fn too_large(err: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// The response to a body that could not be read whole: over `limit` bytes (413),
/// too slow (408, and the connection closes), or cut off by the client (400).
pub fn read_error(err: &(dyn StdError + 'static), limit: usize) -> Response {
    let (status, kind, message) = if too_large(err) {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            format!("Request must be smaller than {limit} bytes"),
        )
    } else if let Some(t) = timed_out(err) {
        (
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeoutException",
            t.to_string(),
        )
    } else {
        (
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            format!("could not read the request body: {err}"),
        )
    };
    aws_error(status, kind, message, None, &request_id())
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    /// A body fed from a channel: what the client sends, when it sends it.
    struct ChanBody(tokio::sync::mpsc::Receiver<Bytes>);

    impl HttpBody for ChanBody {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
        }
    }

    fn stalled() -> (tokio::sync::mpsc::Sender<Bytes>, DeadlineBody<ChanBody>) {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        (tx, DeadlineBody::new(ChanBody(rx), Duration::from_secs(30)))
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_fails_at_its_deadline() {
        let (tx, body) = stalled();
        tx.send(Bytes::from_static(b"part")).await.unwrap();
        let started = tokio::time::Instant::now();
        let err = body.collect().await.unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_secs(30));
        let t = timed_out(err.as_ref()).expect("a timeout");
        assert_eq!(t.0, Duration::from_secs(30));
        let resp = read_error(err.as_ref(), 10);
        assert_eq!(resp.status(), StatusCode::REQUEST_TIMEOUT);
        drop(tx);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_arrives_in_time_is_read_whole() {
        let (tx, body) = stalled();
        let send = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(29)).await;
            tx.send(Bytes::from_static(b"late but in time"))
                .await
                .unwrap();
        });
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"late but in time");
        send.await.unwrap();
    }

    #[tokio::test]
    async fn oversize_bodies_are_413() {
        let body = http_body_util::Full::new(Bytes::from_static(b"twelve bytes"));
        let err = http_body_util::Limited::new(body, 10)
            .collect()
            .await
            .unwrap_err();
        assert_eq!(
            read_error(err.as_ref(), 10).status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
