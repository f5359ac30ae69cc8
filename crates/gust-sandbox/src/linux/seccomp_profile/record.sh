#!/usr/bin/env bash
# Records the syscalls real workloads make under the runtime's seccomp filter, for
# refreshing the allow list in ../seccomp.rs. Needs root, strace and a built gust
# (cargo build). Runs the runtime-facing e2e tests against a gust traced with
# `strace -f`, then summarises what the sandboxed processes called:
#
#   crates/gust-sandbox/src/linux/seccomp_profile/record.sh > recorded.txt
#
# Tests may time out under strace; what they called until then is still recorded.
# Calls the current filter refused show in the summary with their errno (EPERM,
# ENOSYS): they are the candidates to review, not to add blindly.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../../../.." && pwd)"
OUT="$(mktemp -d /tmp/gust-seccomp-record.XXXXXX)"
# The traced gust keeps its pid (the tests signal and wait for it): strace attaches
# to the wrapper, which then becomes gust.
cat > "$OUT/gust" <<WRAP
#!/bin/bash
strace -f -ff -qq -s 48 --pidns-translation -o "$OUT/trace" -p \$\$ 2>/dev/null &
until grep -q '^TracerPid:[[:space:]]*[1-9]' /proc/\$\$/status; do sleep 0.05; done
exec "$ROOT/target/debug/gust" "\$@"
WRAP
chmod 755 "$OUT/gust"
cd "$ROOT"
GUST_BIN="$OUT/gust" GUST_TEST_ISOLATION=linux .venv/bin/python -m pytest -q -p no:cacheprovider \
    tests/test_seccomp.py tests/test_invoke_python.py tests/test_invoke_node.py \
    tests/test_provided.py -k "not rootless" >&2 || true
python3 "$HERE/summarize.py" "$OUT"
[[ -n "${KEEP:-}" ]] && echo "traces kept in $OUT" >&2 || rm -rf "$OUT"
