//! A small blocking HTTP/1.1 keep-alive client over [`TcpStream`].
//!
//! The load generator's own cost must stay far below the server's, so this client
//! sends pre-built request bytes, parses only what a benchmark reads (status line,
//! `Content-Length` or chunked framing, `Connection: close`, `X-Amz-Function-Error`),
//! reuses one buffer and one connection, and allocates nothing per request.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Largest response head accepted, so a broken peer cannot make the client buffer
/// without bound.
const MAX_HEAD: usize = 64 * 1024;
/// Largest response body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// Connect timeout when the caller gave no deadline.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How far past the caller's deadline a socket timeout may be left, to spare a
/// `setsockopt` per request; a response completed past the deadline is still
/// reported as a timeout.
const TIMEOUT_SLACK: Duration = Duration::from_millis(20);
/// Write timeout of every connection (requests are small: writes never wait long).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Pre-built bytes of one request, reused for every send.
#[derive(Debug, Clone)]
pub struct Request {
    bytes: Vec<u8>,
}

impl Request {
    /// A request with a body (`POST`, `PUT`) or without one (`GET`, `DELETE`).
    pub fn new(method: &str, addr: SocketAddr, path: &str, body: &[u8]) -> Request {
        let mut bytes = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n").into_bytes();
        if !body.is_empty() || method == "POST" || method == "PUT" {
            bytes.extend_from_slice(b"Content-Type: application/json\r\n");
            bytes.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        bytes.extend_from_slice(b"\r\n");
        bytes.extend_from_slice(body);
        Request { bytes }
    }

    /// A request from its bytes as sent (for headers the other constructors do not
    /// write, such as `X-Amz-Target`).
    pub fn raw(bytes: Vec<u8>) -> Request {
        Request { bytes }
    }

    /// A synchronous Lambda Invoke of `function` with the payload `{}`.
    pub fn invoke(addr: SocketAddr, function: &str) -> Request {
        let path = gust_wire::paths::invocations(function);
        Request::new("POST", addr, &path, b"{}")
    }
}

/// What the benchmarks read of a response; the body stays in the connection's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// The response carried `X-Amz-Function-Error`: the function failed.
    pub function_error: bool,
}

impl Reply {
    /// A 200 without a function error: the only answer a benchmark counts as a success.
    pub fn ok(&self) -> bool {
        self.status == 200 && !self.function_error
    }
}

/// One keep-alive connection, reconnected on demand.
#[derive(Debug)]
pub struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    /// Read buffer; only `buf[..filled]` holds data. Kept at full length so reads
    /// need no zeroing.
    buf: Vec<u8>,
    filled: usize,
    body: (usize, usize),
    chunked_body: Vec<u8>,
    body_is_chunked: bool,
    /// The socket's current read timeout, to set it only when it must change.
    read_timeout: Option<Duration>,
    /// Connections opened so far (1 for a connection that was never dropped).
    pub connects: u64,
}

impl Conn {
    /// A connection to `addr`, opened lazily by the first call.
    pub fn new(addr: SocketAddr) -> Conn {
        Conn {
            addr,
            stream: None,
            buf: vec![0; 16 * 1024],
            filled: 0,
            body: (0, 0),
            chunked_body: Vec::new(),
            body_is_chunked: false,
            read_timeout: None,
            connects: 0,
        }
    }

    /// Opens the connection now (a warm-up, or to time connection setup apart).
    pub fn connect(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        let timeout = match deadline {
            Some(d) => remaining(d)?,
            None => DEFAULT_CONNECT_TIMEOUT,
        };
        let stream = TcpStream::connect_timeout(&self.addr, timeout)?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        self.stream = Some(stream);
        self.read_timeout = None;
        self.filled = 0;
        self.connects += 1;
        Ok(())
    }

    /// Drops the connection; the next call opens a new one.
    pub fn close(&mut self) {
        self.stream = None;
        self.filled = 0;
    }

    /// Sends `req` and reads the whole response, by `deadline` if one is given. A
    /// reused connection that the server had closed is reopened and the request sent
    /// once more; any other failure closes the connection and is returned.
    pub fn call(&mut self, req: &Request, deadline: Option<Instant>) -> io::Result<Reply> {
        let reused = self.stream.is_some();
        match self.try_call(req, deadline) {
            Ok(_) if deadline.is_some_and(|d| Instant::now() > d) => Err(io::Error::new(
                ErrorKind::TimedOut,
                "answered after the deadline",
            )),
            Ok(reply) => Ok(reply),
            Err(e) if reused && is_stale(&e) => {
                self.close();
                self.try_call(req, deadline).inspect_err(|_| self.close())
            }
            Err(e) => {
                self.close();
                Err(e)
            }
        }
    }

    /// The body of the last response.
    pub fn body(&self) -> &[u8] {
        if self.body_is_chunked {
            &self.chunked_body
        } else {
            &self.buf[self.body.0..self.body.1]
        }
    }

    fn try_call(&mut self, req: &Request, deadline: Option<Instant>) -> io::Result<Reply> {
        if self.stream.is_none() {
            self.connect(deadline)?;
        }
        if let Some(d) = deadline {
            remaining(d)?;
        }
        let stream = self.stream.as_mut().expect("connected above");
        stream.write_all(&req.bytes)?;
        self.read_response(deadline)
    }

    fn read_response(&mut self, deadline: Option<Instant>) -> io::Result<Reply> {
        self.filled = 0;
        self.body_is_chunked = false;
        let head_end = loop {
            if let Some(pos) = find(&self.buf[..self.filled], b"\r\n\r\n") {
                break pos + 4;
            }
            if self.filled > MAX_HEAD {
                return Err(invalid("response head too large"));
            }
            self.fill(deadline)?;
        };
        let head = Head::parse(&self.buf[..head_end])?;
        if head.chunked {
            self.read_chunked(head_end, deadline)?;
        } else {
            let len = head.content_length.unwrap_or(0);
            if len > MAX_BODY {
                return Err(invalid("response body too large"));
            }
            while self.filled < head_end + len {
                self.fill(deadline)?;
            }
            self.body = (head_end, head_end + len);
        }
        if head.close {
            self.stream = None;
        }
        Ok(Reply {
            status: head.status,
            function_error: head.function_error,
        })
    }

    fn read_chunked(&mut self, mut pos: usize, deadline: Option<Instant>) -> io::Result<()> {
        self.chunked_body.clear();
        self.body_is_chunked = true;
        loop {
            let line_end = loop {
                if let Some(p) = find(&self.buf[pos..self.filled], b"\r\n") {
                    break pos + p;
                }
                self.fill(deadline)?;
            };
            let size_text = std::str::from_utf8(&self.buf[pos..line_end])
                .map_err(|_| invalid("bad chunk size"))?;
            let size_text = size_text.split(';').next().unwrap_or("").trim();
            let size =
                usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
            pos = line_end + 2;
            // The chunk's data and its CRLF (for the last chunk: the empty trailer line).
            while self.filled < pos + size + 2 {
                self.fill(deadline)?;
            }
            if size == 0 {
                return Ok(());
            }
            if self.chunked_body.len() + size > MAX_BODY {
                return Err(invalid("response body too large"));
            }
            self.chunked_body
                .extend_from_slice(&self.buf[pos..pos + size]);
            pos += size + 2;
        }
    }

    fn fill(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| io::Error::new(ErrorKind::NotConnected, "not connected"))?;
        if self.buf.len() - self.filled < 4096 {
            let grown = self.buf.len() * 2;
            self.buf.resize(grown, 0);
        }
        let n = loop {
            match deadline {
                Some(d) => {
                    let left = remaining(d)?;
                    // Keep the socket's timeout unless it would overshoot the deadline
                    // by more than the slack or fire far too early.
                    let keep = self
                        .read_timeout
                        .is_some_and(|t| t <= left + TIMEOUT_SLACK && t >= left / 2);
                    if !keep {
                        stream.set_read_timeout(Some(left))?;
                        self.read_timeout = Some(left);
                    }
                }
                None if self.read_timeout.is_some() => {
                    stream.set_read_timeout(None)?;
                    self.read_timeout = None;
                }
                None => {}
            }
            match stream.read(&mut self.buf[self.filled..]) {
                // The socket's timeout fired before the deadline: wait for the rest.
                Err(e) if is_timeout(&e) && deadline.is_some_and(|d| Instant::now() < d) => {
                    self.read_timeout = None;
                }
                other => break other?,
            }
        };
        self.filled += n;
        if n == 0 {
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                "connection closed by the server",
            ));
        }
        Ok(())
    }
}

/// The parts of a response head a benchmark needs.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    status: u16,
    content_length: Option<usize>,
    chunked: bool,
    close: bool,
    function_error: bool,
}

impl Head {
    fn parse(head: &[u8]) -> io::Result<Head> {
        let text = std::str::from_utf8(head).map_err(|_| invalid("response head not UTF-8"))?;
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        if !version.starts_with("HTTP/1.") {
            return Err(invalid("not an HTTP/1.x response"));
        }
        let status = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid("bad status line"))?;
        let mut out = Head {
            status,
            content_length: None,
            chunked: false,
            close: version == "HTTP/1.0",
            function_error: false,
        };
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                out.content_length =
                    Some(value.parse().map_err(|_| invalid("bad Content-Length"))?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                out.chunked = value.to_ascii_lowercase().contains("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                out.close = value.eq_ignore_ascii_case("close");
            } else if name.eq_ignore_ascii_case(gust_wire::paths::FUNCTION_ERROR) {
                out.function_error = true;
            }
        }
        Ok(out)
    }
}

/// A failure that means the server closed an idle keep-alive connection before
/// reading the request.
fn is_stale(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::UnexpectedEof
            | ErrorKind::ConnectionReset
            | ErrorKind::BrokenPipe
            | ErrorKind::ConnectionAborted
    )
}

/// Whether an error is the caller's deadline passing.
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

fn remaining(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(io::Error::new(ErrorKind::TimedOut, "deadline passed"))
    } else {
        Ok(left)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn head_reads_status_length_and_function_error() {
        let head = Head::parse(
            b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\nX-Amz-Function-Error: Unhandled\r\n\r\n",
        )
        .unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.content_length, Some(12));
        assert!(head.function_error);
        assert!(!head.close);
        let head = Head::parse(b"HTTP/1.1 429 Too Many\r\nConnection: close\r\n\r\n").unwrap();
        assert_eq!(head.status, 429);
        assert!(head.close);
        assert!(Head::parse(b"SSH-2.0\r\n\r\n").is_err());
    }

    /// Serves `responses` in order on one connection, then closes it.
    fn serve(responses: Vec<&'static [u8]>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            for r in responses {
                let _ = sock.read(&mut buf).unwrap();
                sock.write_all(r).unwrap();
            }
        });
        addr
    }

    #[test]
    fn keep_alive_connection_reads_length_and_chunked_bodies() {
        let addr = serve(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        ]);
        let mut conn = Conn::new(addr);
        let req = Request::invoke(addr, "f");
        let reply = conn.call(&req, None).unwrap();
        assert!(reply.ok());
        assert_eq!(conn.body(), b"ok");
        conn.call(&req, None).unwrap();
        assert_eq!(conn.body(), b"abcde");
        assert_eq!(conn.connects, 1);
    }

    #[test]
    fn deadline_turns_a_silent_server_into_a_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut conn = Conn::new(addr);
        let deadline = Instant::now() + Duration::from_millis(50);
        let err = conn
            .call(&Request::invoke(addr, "f"), Some(deadline))
            .unwrap_err();
        assert!(is_timeout(&err), "{err:?}");
        drop(listener);
    }
}
