"""The direct baseline: the reference handler in a plain persistent HTTP server.

One process, no platform: `http.server` with HTTP/1.1 keep-alive and a thread per
connection, importing the same handler file gust runs. Every POST (any path) parses
the body as the event, calls handler(event, context) and answers its JSON result.

usage: python3 server.py HANDLER_FILE [PORT]   (prints "listening on PORT")
"""

import http.server
import importlib.util
import json
import os
import sys


class Context:
    """The few context attributes a Lambda handler may read."""

    function_name = "noop"
    function_version = "$LATEST"
    memory_limit_in_mb = 128
    aws_request_id = "direct"

    @staticmethod
    def get_remaining_time_in_millis():
        return 10_000


def load_handler(path):
    spec = importlib.util.spec_from_file_location("noop", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    spec.loader.exec_module(module)
    return module.handler


HANDLER = load_handler(sys.argv[1])
CONTEXT = Context()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        event = json.loads(body) if body else {}
        out = json.dumps(HANDLER(event, CONTEXT)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, format, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def main():
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    server = Server(("127.0.0.1", port), Handler)
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
