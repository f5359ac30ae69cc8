"""What a function cannot change about its own sandbox, and what a gust that was
killed leaves behind (nothing, once the next gust has started on its data
directory)."""

from __future__ import annotations

import pytest

import support
from support import invoke

OOM_SCORE = r'''
import os

def handler(event, context):
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(event["value"]))
        error = None
    except OSError as e:
        error = e.strerror
    return {"error": error, "now": open("/proc/self/oom_score_adj").read().strip()}
'''


def test_a_function_cannot_lower_its_oom_score(server):
    if server.health()["isolation"] != "linux":
        pytest.skip("the OOM score is pinned by the Linux sandbox only")
    name = support.unique_name("oom-score")
    server.create_function(name, support.make_zip({"app.py": OOM_SCORE}))
    for value in (0, 999, -1000):
        out = invoke(server.lambda_, name, {"value": value}).ok()
        assert out["now"] == "1000", out
        assert out["error"] == "Permission denied", out
