"""The data directory is gust's alone: a directory gust creates is 0700, the
database (environment variables in plain text) and its WAL are 0600, and no
unpacked file is group- or world-writable, while functions still run from it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

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
