#!/usr/bin/env python3
"""Reads `strace -f -ff --pidns-translation -o DIR/trace` output of a gust server and prints the syscalls
that runtimes made under the seccomp filter: everything a process did after its
`seccomp(SECCOMP_SET_MODE_FILTER, ...) = 0`, and everything its descendants
(threads and children, found through the return values of clone, clone3, fork and
vfork) did. One line per syscall: name, calls, and the errors it returned.

    summarize.py DIR > recorded.txt
"""

import collections
import re
import sys
from pathlib import Path

CALL = re.compile(r"^(?:\d+ )?([a-z_0-9]+)\((.*)\)\s+= (-?\d+|\?|0x[0-9a-f]+)"
                  r"(?: /\* (\d+) in strace's PID NS \*/)?(?: (E[A-Z0-9]+))?")
SPAWN = {"clone", "clone3", "fork", "vfork"}


def main(directory: str) -> None:
    traces = {int(p.suffix[1:]): p for p in Path(directory).glob("trace.*")}
    lines = {pid: p.read_text(errors="replace").splitlines() for pid, p in traces.items()}
    todo = []
    for pid, text in lines.items():
        for i, line in enumerate(text):
            if line.startswith("seccomp(SECCOMP_SET_MODE_FILTER") and line.endswith("= 0"):
                todo.append((pid, i + 1))
                break
    calls = collections.Counter()
    errors = collections.defaultdict(collections.Counter)
    args = collections.defaultdict(set)
    seen = set()
    while todo:
        pid, start = todo.pop()
        if pid in seen or pid not in lines:
            continue
        seen.add(pid)
        for line in lines[pid][start:]:
            m = CALL.match(line)
            if not m:
                continue
            name, arg, ret, host_pid, err = m.groups()
            calls[name] += 1
            if err:
                errors[name][err] += 1
            if name in ("personality", "socket", "clone", "unshare", "mknodat", "mknod"):
                args[name].add(arg[:80])
            # Sandboxed processes see their own pid namespace: the child's host pid
            # (what names its trace file) is strace's translation.
            if name in SPAWN and ret.isdigit() and int(ret) > 0:
                todo.append((int(host_pid or ret), 0))
    print(f"# {len(seen)} processes and threads, {sum(calls.values())} calls")
    for name in sorted(calls):
        errs = " ".join(f"{e}x{n}" for e, n in sorted(errors[name].items()))
        print(f"{name} {calls[name]}{' ' + errs if errs else ''}")
    for name in sorted(args):
        for a in sorted(args[name])[:20]:
            print(f"#   {name}({a})")


if __name__ == "__main__":
    main(sys.argv[1])
