"""The data directory is gust's alone: a directory gust creates is 0700, the
database (environment variables in plain text) and its WAL are 0600, and no
unpacked file is group- or world-writable, while functions still run from it."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from botocore.exceptions import ClientError

import support
from conftest import GustServer


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def fresh(gust_bin, tmp_path):
    """A server whose data directory does not exist before it starts."""
    srv = GustServer(gust_bin, tmp_path, [])
    data = tmp_path / "new" / "data"
    srv.data_dir.rmdir()
    srv.data_dir = data
    srv.args[srv.args.index("--data-dir") + 1] = str(data)
    srv.start()
    yield srv
    srv.stop()


def test_what_gust_creates_is_private_and_functions_still_run(fresh):
    assert mode(fresh.data_dir) == 0o700
    name = support.unique_name("private")
    code = support.make_zip({
        "app.py": ("import os\ndef handler(event, context):\n"
                   "    return open(os.path.join(os.path.dirname(__file__), 'data.txt')).read()\n",
                   0o666),
        "data.txt": ("shared", 0o777),
    })
    fresh.create_function(name, code, Environment={"Variables": {"SECRET": "s3cr3t"}})
    assert support.invoke(fresh.lambda_, name).ok() == "shared"

    files = {p.name: mode(p) for p in fresh.data_dir.glob("gust.db*")}
    assert files.get("gust.db") == 0o600, files
    assert files.get("gust.db-wal") == 0o600, files
    assert all(m == 0o600 for m in files.values()), files

    digest = next((fresh.data_dir / "archives" / "zips").glob("*.zip"))
    assert mode(digest) == 0o600
    tree = fresh.data_dir / "archives" / "code" / digest.stem
    assert mode(tree / "app.py") == 0o644
    assert mode(tree / "data.txt") == 0o755
    writable = [p for p in tree.rglob("*") if mode(p) & 0o022]
    assert not writable, writable


def test_an_existing_open_data_dir_is_kept_and_warned_about(start_server):
    srv = start_server()
    srv.data_dir.chmod(0o755)
    srv.stop()
    again = start_server(data_dir=srv.data_dir)
    assert mode(again.data_dir) == 0o755
    log = again.stderr_tail(10**6)
    assert "is mode 0755" in log and "chmod 700" in log, log[-2000:]
    assert mode(again.data_dir / "gust.db") == 0o600


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 4 MB tmpfs to hold a data directory (needs root to mount)."""
    mountpoint = tmp_path / "small"
    mountpoint.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mountpoint)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def test_a_full_disk_is_a_service_error_that_names_no_host_path(gust_bin, tmp_path, small_disk):
    (tmp_path / "srv").mkdir()
    srv = GustServer(gust_bin, tmp_path / "srv", [], data_dir=small_disk / "data")
    srv.start()
    try:
        code = support.make_zip({"app.py": "x = 1\n", "big.bin": os.urandom(5 * 1024 * 1024)})
        with pytest.raises(ClientError) as e:
            srv.create_function(support.unique_name("full"), code)
        kind, status, message = support.client_error(e)
        assert (kind, status) == ("ServiceException", 500), message
        assert "No space left on device" in message, message
        assert str(small_disk) not in message and "/" not in message, message
        # The detail, with the path, is in gust's own log.
        assert f"{small_disk}/data/archives" in srv.stderr_tail(10**6)
    finally:
        srv.stop()
