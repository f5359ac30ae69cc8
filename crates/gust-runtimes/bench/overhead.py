"""Cold start and warm-invoke overhead of gust's bootstraps.

    python3 crates/gust-runtimes/bench/overhead.py [python|node] [invocations]

Serves the Runtime API from a bare socket (no HTTP framework, so that the
figure is the runtime's): "first next" is the time from spawning the
interpreter to its first `invocation/next`; a warm round trip is the time from
writing a `next` response to having read the whole response POST, for a handler
that returns its event. Interpreters: $GUST_BENCH_PYTHON (default: this
Python), $GUST_BENCH_NODE (default: node).
"""

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CRATE = Path(__file__).resolve().parent.parent


def main():
    runtime = sys.argv[1] if len(sys.argv) > 1 else "python"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    root = tempfile.mkdtemp()
    if runtime == "python":
        Path(root, "app.py").write_text("def handler(event, context):\n    return event\n")
        argv = [os.environ.get("GUST_BENCH_PYTHON", sys.executable), str(CRATE / "python/bootstrap.py")]
    else:
        Path(root, "app.js").write_text("exports.handler = async (event) => event;\n")
        argv = [os.environ.get("GUST_BENCH_NODE", "node"), str(CRATE / "node/bootstrap.js")]

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    address = "127.0.0.1:%d" % listener.getsockname()[1]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_RUNTIME_API": address,
        "_HANDLER": "app.handler",
        "LAMBDA_TASK_ROOT": root,
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
    }
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.DEVNULL)
    conn, _ = listener.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = RequestReader(conn)
    reader.read()
    first_next = time.perf_counter() - started

    payload = b'{"key": "value", "n": 1}'
    samples = []
    try:
        for i in range(count):
            deadline = int(time.time() * 1000) + 60000
            response = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Lambda-Runtime-Aws-Request-Id: req-%d\r\nLambda-Runtime-Deadline-Ms: %d\r\n"
                b"Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:1:function:bench\r\n"
                b"Lambda-Runtime-Trace-Id: Root=1-0-0\r\nContent-Length: %d\r\n\r\n%s"
            ) % (i, deadline, len(payload), payload)
            t = time.perf_counter()
            conn.sendall(response)
            head, body = reader.read()
            samples.append(time.perf_counter() - t)
            assert b"/response " in head.split(b"\r\n", 1)[0], head
            conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
            reader.read()
    finally:
        proc.kill()
        proc.wait()
    samples.sort()
    print(
        "%s: first next %.1f ms; warm round trip median %.1f us, p90 %.1f us, p99 %.1f us (%d invocations)"
        % (
            runtime,
            first_next * 1e3,
            statistics.median(samples) * 1e6,
            samples[int(count * 0.9)] * 1e6,
            samples[int(count * 0.99)] * 1e6,
            count,
        )
    )


class RequestReader:
    def __init__(self, conn):
        self.conn = conn
        self.buf = b""

    def read(self):
        while b"\r\n\r\n" not in self.buf:
            chunk = self.conn.recv(65536)
            if not chunk:
                raise EOFError("runtime closed the connection")
            self.buf += chunk
        end = self.buf.index(b"\r\n\r\n")
        head, self.buf = self.buf[:end], self.buf[end + 4:]
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(self.buf) < length:
            self.buf += self.conn.recv(65536)
        body, self.buf = self.buf[:length], self.buf[length:]
        return head, body


if __name__ == "__main__":
    main()
