"""Helpers shared by the end-to-end tests: archives, names, invocations, waiting."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import struct
import time
import uuid
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Union

FUNCTIONS_DIR = Path(__file__).resolve().parent / "functions"

REGION = "us-east-1"
ACCOUNT = "000000000000"
PYTHON = "python3.11"
NODE = "nodejs20.x"
PROVIDED_RUNTIMES = ("provided", "provided.al2", "provided.al2023")

# LastModified as AWS formats it: 2019-09-24T18:20:35.054+0000
LAST_MODIFIED_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")

# A file's content, or (content, unix mode).
FileSpec = Union[str, bytes, tuple[Union[str, bytes], int]]


def unique_name(prefix: str) -> str:
    """A function name no other test uses: prefix plus random hex, within 64 chars."""
    return f"{prefix[:40]}-{uuid.uuid4().hex[:12]}"


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def make_zip(files: Mapping[str, FileSpec]) -> bytes:
    """Builds a zip archive in memory. Entries keep the given unix modes (default 0644,
    0755 for a file named `bootstrap`), with a fixed date so equal input gives equal
    bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(files):
            spec = files[path]
            if isinstance(spec, tuple):
                content, mode = spec
            else:
                content = spec
                mode = 0o755 if Path(path).name == "bootstrap" else 0o644
            if isinstance(content, str):
                content = content.encode()
            info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
            info.create_system = 3  # unix, so external_attr carries the mode
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
    return buf.getvalue()


def read_function_files(directory: str | Path) -> dict[str, tuple[bytes, int]]:
    """The files of a test function under tests/functions/, with their modes."""
    root = Path(directory)
    if not root.is_absolute():
        root = FUNCTIONS_DIR / root
    out: dict[str, tuple[bytes, int]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts or "node_modules" in path.parts:
            continue
        rel = path.relative_to(root).as_posix()
        mode = path.stat().st_mode & 0o777
        if path.name == "bootstrap":
            mode |= 0o755
        out[rel] = (path.read_bytes(), mode)
    return out


def function_zip(directory: str | Path, extra: Mapping[str, FileSpec] | None = None,
                 replace: Mapping[str, str] | None = None) -> bytes:
    """Zips a test function directory, adding `extra` files and applying text
    replacements (`replace`) to every file."""
    files: dict[str, FileSpec] = dict(read_function_files(directory))
    if replace:
        for path, (content, mode) in list(files.items()):  # type: ignore[misc]
            text = content.decode()
            for old, new in replace.items():
                text = text.replace(old, new)
            files[path] = (text.encode(), mode)
    if extra:
        files.update(extra)
    return make_zip(files)


def sha256_b64(data: bytes) -> str:
    """CodeSha256 as AWS computes it: base64 of the raw SHA-256 digest."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@dataclass
class Invocation:
    """What one synchronous Invoke returned."""

    status: int
    payload_bytes: bytes
    function_error: str | None
    log: str | None
    request_id: str
    executed_version: str | None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def payload(self) -> Any:
        if not self.payload_bytes:
            return None
        return json.loads(self.payload_bytes)

    def ok(self) -> Any:
        """The payload, after checking the invocation succeeded."""
        assert self.status == 200, f"status {self.status}: {self.payload_bytes[:2000]!r}"
        assert self.function_error is None, (
            f"unexpected function error {self.function_error}: {self.payload_bytes[:2000]!r}"
            f"\nlog: {self.log}"
        )
        return self.payload

    def error(self) -> dict:
        """The error payload, after checking the invocation failed as AWS reports it."""
        assert self.status == 200, f"status {self.status}: {self.payload_bytes[:2000]!r}"
        assert self.function_error == "Unhandled", (
            f"expected X-Amz-Function-Error: Unhandled, got {self.function_error!r}; "
            f"payload {self.payload_bytes[:2000]!r}"
        )
        body = self.payload
        assert isinstance(body, dict), f"error payload is not an object: {body!r}"
        assert "errorType" in body and "errorMessage" in body, body
        return body


def invoke(client, name: str, payload: Any = None, *, tail: bool = False,
           raw: bytes | None = None, **kwargs) -> Invocation:
    """Invokes synchronously through boto3 and decodes what came back."""
    body = raw if raw is not None else json.dumps(payload if payload is not None else {}).encode()
    resp = client.invoke(
        FunctionName=name,
        Payload=body,
        LogType="Tail" if tail else "None",
        **kwargs,
    )
    log = resp.get("LogResult")
    meta = resp["ResponseMetadata"]
    return Invocation(
        status=resp["StatusCode"],
        payload_bytes=resp["Payload"].read(),
        function_error=resp.get("FunctionError"),
        log=base64.b64decode(log).decode("utf-8", "replace") if log else None,
        request_id=meta.get("RequestId", ""),
        executed_version=resp.get("ExecutedVersion"),
        headers=dict(meta.get("HTTPHeaders", {})),
    )


def client_error(error) -> tuple[str, int, str]:
    """(error code, HTTP status, message) of a botocore ClientError, given the error
    or pytest's ExceptionInfo of it."""
    resp = getattr(error, "value", error).response
    return (
        resp["Error"]["Code"],
        resp["ResponseMetadata"]["HTTPStatusCode"],
        resp["Error"].get("Message", ""),
    )


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.2,
               message: str = "condition") -> Any:
    """Polls `predicate` until it returns something truthy; fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}; last value {last!r}")


def env_for_subprocess() -> dict[str, str]:
    """The environment for gust processes: the caller's, less anything that would
    point gust or the AWS tools somewhere else. GUST_SDK_DIR stays: the runtimes'
    AWS SDKs are the machine's (scripts/test installs them)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GUST_", "AWS_"))
           or k in ("GUST_BIN", "GUST_TEST_ISOLATION", "GUST_SDK_DIR")}
    env.pop("GUST_BIN", None)
    env.pop("GUST_TEST_ISOLATION", None)
    return env


def png_info(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered rows of an 8-bit RGB/RGBA, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    height = bpp = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line) if bpp == 3 else bytes(
            v for j in range(0, stride, 4) for v in line[j:j + 3]))
        prev = line
    return width, height, rows
