#!/usr/bin/env bash
# Profiles gust while `gust bench` drives it: the warm invoke path (a warm Python
# noop invoked back to back) or the cold-start path (a burst of first invocations of
# fresh functions). Records the whole machine with perf (gust, the runtime processes,
# the kernel) and prints CPU by process and, for gust's own threads, by crate.
#
# usage: bench/profile.sh warm|cold [GUST_BIN] [SECONDS]
#   GUST_ISOLATION=none|linux|auto (default auto) picks `gust serve --isolation`.
# needs: perf (Debian linux-perf; `scripts/bench-deps --profile` installs it)
set -euo pipefail

mode="${1:?usage: bench/profile.sh warm|cold [GUST_BIN] [SECONDS]}"
bin="${2:-target/release/gust}"
secs="${3:-15}"
here="$(cd "$(dirname "$0")" && pwd)"
out="$(mktemp -d /tmp/gust-profile-XXXXXX)"
mkdir -p "$out/data"

"$bin" serve --listen 127.0.0.1:0 --data-dir "$out/data" --isolation "${GUST_ISOLATION:-auto}" \
    --memory 65536 --log-level warn >"$out/serve.out" 2>"$out/serve.err" &
gust_pid=$!
trap 'kill $gust_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    grep -q "listening on" "$out/serve.out" 2>/dev/null && break
    sleep 0.1
done
url="$(sed -n 's/gust listening on //p' "$out/serve.out")"
echo "gust at $url (pid $gust_pid), mode $mode, ${secs}s; output in $out"

case "$mode" in
    warm) args=(overhead --runtime python --requests 10000000 --warmup 200) ;;
    cold) args=(coldstart --runtime python --samples 1 --burst 1000 --callers 4) ;;
    *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
"$bin" bench "${args[@]}" --endpoint "$url" --server-pid "$gust_pid" --no-baseline \
    --out "$out/bench" >"$out/bench.log" 2>&1 &
bench_pid=$!
# Start recording once instances run (cold mode deploys its functions first).
for _ in $(seq 600); do
    curl -sf "$url/gust/v1/health" | grep -q '"instances":[1-9]' && break
    sleep 0.2
done
sleep 1
perf record -a -g -F 997 -o "$out/perf.data" -- sleep "$secs" 2>"$out/perf-record.log"
# The instances: every process below gust (other gust servers on the machine, e.g. a
# test suite's, are left out by filtering on these pids).
kids=""
frontier="$gust_pid"
while [ -n "$frontier" ]; do
    next=""
    for p in $frontier; do
        for c in $(pgrep -P "$p" || true); do kids="$kids,$c"; next="$next $c"; done
    done
    frontier="$next"
done
kill "$bench_pid" 2>/dev/null || true
wait "$bench_pid" 2>/dev/null || true

report() { perf report -i "$out/perf.data" "$@" --stdio 2>/dev/null | grep -v '^#' | sed '/^$/d'; }
report --no-children --sort pid -g none --pid "$gust_pid$kids,$bench_pid" >"$out/by-pid.txt"
report --no-children --sort comm,dso,symbol -g none --pid "$gust_pid" >"$out/symbols.txt"
report --no-children --sort comm,dso,symbol -g none --pid "${kids#,}" >"$out/runtime-symbols.txt"
report --children --sort comm,symbol -g none --pid "$gust_pid" >"$out/inclusive.txt"
echo "== CPU by process (percent of all samples, all cores): gust $gust_pid, bench $bench_pid, instances below gust"
head -12 "$out/by-pid.txt"
python3 "$here/perf_by_crate.py" "$out/symbols.txt"
echo "== syscalls and kernel paths in gust (inclusive)"
grep -E '\[k\] (__x64_sys_|tcp_sendmsg |ksys_read|proc_pid_status|try_to_wake_up|schedule$)' \
    "$out/inclusive.txt" | awk '{print "  " $1 "  " $5}' | head -20
echo "== the instances' hottest symbols (self)"
awk '{print "  " $1 "  " $2 "  " $3 "  " $5}' "$out/runtime-symbols.txt" | head -15
