//! Turns an instance's merged stdout/stderr pipe into log lines attributed to the
//! invocation in progress.
//!
//! A background task reads the pipe as data arrives. When a runtime posts its response,
//! the Runtime API handler calls [`OutputCapture::drain`] first: the runtime flushed its
//! output before posting, so everything the invocation printed is in the pipe and is
//! attributed to it before its `END` line is written.
//!
//! A line is one log record. Carriage returns inside it separate the lines of one
//! multi-line record (AWS's runtimes write a traceback that way, so that the log
//! keeps it as one event): the record keeps them as newlines, so that a reader
//! sees the traceback's lines. A line ending in `\r\n` loses its `\r`.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use parking_lot::Mutex;
use std::io::Read;

use tokio::io::unix::AsyncFd;

use crate::logs::FunctionLog;

/// Longest line kept whole; longer output is split.
const MAX_LINE: usize = 256 * 1024;
/// Bytes of the current invocation's log kept for `X-Amz-Log-Type: Tail`.
const TAIL_KEEP: usize = gust_types::limits::LOG_TAIL_BYTES;

/// The reading side of one instance's output.
pub struct OutputCapture {
    /// Reads go straight to the file (a real `read` even when tokio thinks the pipe
    /// is empty), which [`OutputCapture::drain`] relies on.
    fd: AsyncFd<std::fs::File>,
    state: Mutex<State>,
    log: Arc<FunctionLog>,
}

struct State {
    /// Bytes after the last newline.
    partial: Vec<u8>,
    /// The invocation output is attributed to, if one is running.
    request_id: Option<Arc<str>>,
    /// The running invocation's log text (last [`TAIL_KEEP`] bytes matter).
    tail: Vec<u8>,
    /// Set once the pipe reports end of file.
    eof: bool,
}

impl OutputCapture {
    /// Wraps the read end of an instance's output pipe (non-blocking).
    pub fn new(fd: OwnedFd, log: Arc<FunctionLog>) -> std::io::Result<OutputCapture> {
        Ok(OutputCapture {
            // `AsyncFd::new` is deprecated because a wrapped fd could change under it;
            // an owned `File` cannot, so the registration is sound.
            #[allow(deprecated)]
            fd: AsyncFd::new(std::fs::File::from(fd))?,
            state: Mutex::new(State {
                partial: Vec::new(),
                request_id: None,
                tail: Vec::new(),
                eof: false,
            }),
            log,
        })
    }

    /// Reads the pipe until the instance closes it. Run as a task.
    pub async fn run(self: Arc<Self>) {
        loop {
            let Ok(mut guard) = self.fd.readable().await else {
                return;
            };
            guard.clear_ready();
            if self.drain() {
                return;
            }
        }
    }

    /// Reads whatever the pipe holds now, without waiting. Returns true at end of file.
    pub fn drain(&self) -> bool {
        let mut st = self.state.lock();
        if st.eof {
            return true;
        }
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.fd.get_ref().read(&mut buf) {
                Ok(0) => {
                    st.eof = true;
                    self.flush_partial(&mut st);
                    return true;
                }
                Ok(n) => self.take(&mut st, &buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
    }

    fn take(&self, st: &mut State, mut data: &[u8]) {
        while let Some(pos) = data.iter().position(|&b| b == b'\n') {
            let (line, rest) = data.split_at(pos);
            st.partial.extend_from_slice(line);
            self.emit(st);
            data = &rest[1..];
        }
        st.partial.extend_from_slice(data);
        if st.partial.len() >= MAX_LINE {
            self.emit(st);
        }
    }

    fn flush_partial(&self, st: &mut State) {
        if !st.partial.is_empty() {
            self.emit(st);
        }
    }

    fn emit(&self, st: &mut State) {
        let line = record_text(&st.partial);
        st.partial.clear();
        if st.request_id.is_some() {
            push_tail(&mut st.tail, line.as_bytes());
        }
        self.log.push(st.request_id.as_deref(), line);
    }

    /// Attributes output from now on to `request_id` and writes its `START` line. A
    /// cold start attributes the init output to the same request first; its tail is
    /// kept so the caller sees the init output too.
    pub fn begin(&self, request_id: Arc<str>, start_line: String) {
        let mut st = self.state.lock();
        self.flush_partial(&mut st);
        if st.request_id.as_deref() != Some(&*request_id) {
            st.tail.clear();
        }
        push_tail(&mut st.tail, start_line.as_bytes());
        self.log.push(Some(&request_id), start_line);
        st.request_id = Some(request_id);
    }

    /// Writes a platform line (e.g. a timeout notice) into the running invocation.
    pub fn platform_line(&self, line: String) {
        let mut st = self.state.lock();
        if st.request_id.is_some() {
            push_tail(&mut st.tail, line.as_bytes());
        }
        let rid = st.request_id.clone();
        self.log.push(rid.as_deref(), line);
    }

    /// Drains the pipe, writes the `END` and `REPORT` lines, stops attributing output
    /// to the invocation, and returns its log tail when `want_tail`.
    pub fn end(&self, end_lines: [String; 2], want_tail: bool) -> Option<Vec<u8>> {
        self.drain();
        let mut st = self.state.lock();
        self.flush_partial(&mut st);
        let rid = st.request_id.take();
        // An empty line stands for none (an init error has no REPORT line).
        for line in end_lines.into_iter().filter(|l| !l.is_empty()) {
            push_tail(&mut st.tail, line.as_bytes());
            self.log.push(rid.as_deref(), line);
        }
        let tail = std::mem::take(&mut st.tail);
        want_tail.then(|| {
            let start = tail.len().saturating_sub(TAIL_KEEP);
            // Keep the tail on a UTF-8 boundary so it decodes cleanly.
            let mut s = start;
            while s < tail.len() && (tail[s] & 0xC0) == 0x80 {
                s += 1;
            }
            tail[s..].to_vec()
        })
    }
}

/// The text of the record for one line of output: carriage returns become newlines,
/// except one ending the line (`\r\n`), which goes.
fn record_text(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = String::from_utf8_lossy(line);
    if text.contains('\r') {
        text.replace('\r', "\n")
    } else {
        text.into_owned()
    }
}

/// Appends a line (plus newline) to a tail buffer, trimming it so it stays small.
fn push_tail(tail: &mut Vec<u8>, line: &[u8]) {
    tail.extend_from_slice(line);
    tail.push(b'\n');
    if tail.len() > 4 * TAIL_KEEP {
        let cut = tail.len() - TAIL_KEEP;
        tail.drain(..cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[tokio::test]
    async fn lines_are_attributed_to_the_running_invocation() {
        let (r, w) = gust_sandbox::output_pipe().unwrap();
        let log = Arc::new(FunctionLog::new(1 << 20));
        let cap = Arc::new(OutputCapture::new(r, log.clone()).unwrap());
        let mut w = std::fs::File::from(w);
        w.write_all(b"before\n").unwrap();
        cap.drain();
        cap.begin("req-1".into(), "START RequestId: req-1".into());
        w.write_all(b"hello\npartial").unwrap();
        let tail = cap
            .end(
                [
                    "END RequestId: req-1".into(),
                    "REPORT RequestId: req-1".into(),
                ],
                true,
            )
            .unwrap();
        let text = String::from_utf8(tail).unwrap();
        assert_eq!(
            text,
            "START RequestId: req-1\nhello\npartial\nEND RequestId: req-1\nREPORT RequestId: req-1\n"
        );
        let (records, _) = log.read(0, 100);
        assert_eq!(records[0].message, "before");
        assert_eq!(records[0].request_id, None);
        assert!(records[1..]
            .iter()
            .all(|r| r.request_id.as_deref() == Some("req-1")));
    }

    #[tokio::test]
    async fn carriage_returns_join_the_lines_of_one_record() {
        let (r, w) = gust_sandbox::output_pipe().unwrap();
        let log = Arc::new(FunctionLog::new(1 << 20));
        let cap = Arc::new(OutputCapture::new(r, log.clone()).unwrap());
        let mut w = std::fs::File::from(w);
        w.write_all(
            b"[ERROR] boom\rTraceback (most recent call last):\r  File \"app.py\"\nwindows\r\n\n",
        )
        .unwrap();
        cap.drain();
        let (records, _) = log.read(0, 100);
        let messages: Vec<&str> = records.iter().map(|r| r.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "[ERROR] boom\nTraceback (most recent call last):\n  File \"app.py\"",
                "windows",
                ""
            ]
        );
    }

    #[test]
    fn tail_keeps_the_last_four_kilobytes() {
        let mut tail = Vec::new();
        for _ in 0..1000 {
            push_tail(&mut tail, b"0123456789");
        }
        assert!(tail.len() <= 4 * TAIL_KEEP);
        assert!(tail.len() >= TAIL_KEEP);
    }
}
