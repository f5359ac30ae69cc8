//! `aws-chunked` bodies, decoded without checking chunk signatures: for a gust
//! that checks no signature (started without `--access-key`), where the S3
//! service sees requests as anonymous and would otherwise store the framing.
//! With keys, s3s decodes them and checks every chunk's signature.
//!
//! The format: chunks of `HEX-SIZE[;chunk-signature=SIG]\r\nDATA\r\n`, a last chunk
//! of size 0, then (for the `...-TRAILER` payloads) `name:value\r\n` trailer lines,
//! then `\r\n`. The trailers (a checksum such as `x-amz-checksum-crc32`) are handed
//! over in a [`Trailers`] slot once the body has been read, and checked like a
//! checksum header.

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use http::HeaderMap;
use parking_lot::Mutex;

/// Longest chunk header or trailer line accepted.
const MAX_LINE: usize = 4096;
/// Most trailer bytes accepted.
const MAX_TRAILERS: usize = 16 << 10;

/// Where a decoded body's trailers are left once it has been read (as a request
/// extension, for the S3 operations to check).
#[derive(Clone, Default, Debug)]
pub struct Trailers(Arc<Mutex<Option<HeaderMap>>>);

impl Trailers {
    /// The trailers, once the body has been read to its end.
    pub(crate) fn take(&self) -> Option<HeaderMap> {
        self.0.lock().take()
    }
}

/// Why a body was not valid `aws-chunked`.
#[derive(Debug, thiserror::Error)]
pub enum ChunkedError {
    /// The framing is broken.
    #[error("the aws-chunked body is malformed: {0}")]
    Format(&'static str),
    /// The body ended before its last chunk.
    #[error("the aws-chunked body ended before its last chunk")]
    Incomplete,
    /// Reading the body failed.
    #[error("reading the body: {0}")]
    Body(String),
}

enum State {
    /// Reading a chunk header line.
    Header,
    /// This many data bytes of the current chunk are still to come.
    Data(usize),
    /// The `\r\n` after a chunk's data.
    DataEnd,
    /// Trailer lines, up to the empty line.
    Trailers(HeaderMap, usize),
    Done,
}

/// Decodes `body`; the trailers go to `trailers` at the end.
pub fn decode<S, E>(
    body: S,
    trailers: Trailers,
) -> impl Stream<Item = Result<Bytes, ChunkedError>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::fmt::Display,
{
    let init = (body, BytesMut::new(), State::Header, trailers, false);
    futures::stream::unfold(
        init,
        |(mut body, mut buf, mut state, trailers, mut eof)| async move {
            loop {
                match step(&mut buf, &mut state, &trailers) {
                    Err(e) => {
                        return Some((Err(e), (body, BytesMut::new(), State::Done, trailers, true)))
                    }
                    Ok(Some(data)) => return Some((Ok(data), (body, buf, state, trailers, eof))),
                    Ok(None) if matches!(state, State::Done) => return None,
                    Ok(None) => {}
                }
                if eof {
                    return Some((
                        Err(ChunkedError::Incomplete),
                        (body, BytesMut::new(), State::Done, trailers, true),
                    ));
                }
                match body.next().await {
                    Some(Ok(more)) => buf.extend_from_slice(&more),
                    Some(Err(e)) => {
                        return Some((
                            Err(ChunkedError::Body(e.to_string())),
                            (body, BytesMut::new(), State::Done, trailers, true),
                        ))
                    }
                    None => eof = true,
                }
            }
        },
    )
}

/// Advances over what `buf` holds: data to hand out, `None` when more input is
/// needed (or the body is done).
fn step(
    buf: &mut BytesMut,
    state: &mut State,
    trailers: &Trailers,
) -> Result<Option<Bytes>, ChunkedError> {
    loop {
        match state {
            State::Done => return Ok(None),
            State::Header => {
                let Some(line) = take_line(buf)? else {
                    return Ok(None);
                };
                let size = line.split(|&b| b == b';').next().unwrap_or_default();
                let size = std::str::from_utf8(size)
                    .ok()
                    .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
                    .ok_or(ChunkedError::Format("a chunk size is not hexadecimal"))?;
                *state = if size == 0 {
                    State::Trailers(HeaderMap::new(), 0)
                } else {
                    State::Data(size)
                };
            }
            State::Data(left) => {
                if buf.is_empty() {
                    return Ok(None);
                }
                let n = (*left).min(buf.len());
                let data = buf.split_to(n).freeze();
                *left -= n;
                if *left == 0 {
                    *state = State::DataEnd;
                }
                return Ok(Some(data));
            }
            State::DataEnd => {
                if buf.len() < 2 {
                    return Ok(None);
                }
                if &buf[..2] != b"\r\n" {
                    return Err(ChunkedError::Format(
                        "a chunk's data is longer than its size",
                    ));
                }
                buf.advance(2);
                *state = State::Header;
            }
            State::Trailers(map, used) => {
                let Some(line) = take_line(buf)? else {
                    return Ok(None);
                };
                if line.is_empty() {
                    *trailers.0.lock() = Some(std::mem::take(map));
                    *state = State::Done;
                    return Ok(None);
                }
                *used += line.len();
                if *used > MAX_TRAILERS {
                    return Err(ChunkedError::Format("the trailers are too large"));
                }
                let text = std::str::from_utf8(&line)
                    .map_err(|_| ChunkedError::Format("a trailer is not text"))?;
                let (name, value) = text
                    .split_once(':')
                    .ok_or(ChunkedError::Format("a trailer is not name:value"))?;
                if let (Ok(n), Ok(v)) = (
                    http::HeaderName::from_bytes(name.trim().as_bytes()),
                    http::HeaderValue::from_str(value.trim()),
                ) {
                    map.append(n, v);
                }
            }
        }
    }
}

/// One `\r\n`-terminated line (without it), if `buf` holds a whole one.
fn take_line(buf: &mut BytesMut) -> Result<Option<Vec<u8>>, ChunkedError> {
    match buf.windows(2).position(|w| w == b"\r\n") {
        Some(i) => {
            let line = buf.split_to(i).to_vec();
            buf.advance(2);
            Ok(Some(line))
        }
        None if buf.len() > MAX_LINE => Err(ChunkedError::Format("a chunk header is too long")),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(pieces: &[&[u8]]) -> (Result<Vec<u8>, String>, Option<HeaderMap>) {
        let owned: Vec<Result<Bytes, std::io::Error>> = pieces
            .iter()
            .map(|p| Ok(Bytes::copy_from_slice(p)))
            .collect();
        let trailers = Trailers::default();
        let mut out = Vec::new();
        let mut s = Box::pin(decode(futures::stream::iter(owned), trailers.clone()));
        while let Some(item) = s.next().await {
            match item {
                Ok(b) => out.extend_from_slice(&b),
                Err(e) => return (Err(e.to_string()), trailers.take()),
            }
        }
        (Ok(out), trailers.take())
    }

    #[tokio::test]
    async fn chunks_decode_across_any_split_and_trailers_are_kept() {
        let body: &[u8] = b"5;chunk-signature=ab\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        for cut in 0..body.len() {
            let (out, trailers) = run(&[&body[..cut], &body[cut..]]).await;
            assert_eq!(out.unwrap(), b"hello world", "cut at {cut}");
            let t = trailers.unwrap();
            assert_eq!(t.get("x-amz-checksum-crc32").unwrap(), "DUoRhQ==");
        }
    }

    #[tokio::test]
    async fn broken_bodies_are_errors() {
        assert!(run(&[b"5\r\nhel"]).await.0.is_err());
        assert!(run(&[b"zz\r\nhello\r\n0\r\n\r\n"]).await.0.is_err());
        assert!(run(&[b"2\r\nhello\r\n0\r\n\r\n"]).await.0.is_err());
        let (out, _) = run(&[b"0\r\n\r\n"]).await;
        assert_eq!(out.unwrap(), b"");
    }
}
