"""Groups a `perf report --no-children --sort comm,dso,symbol -g none` listing:
CPU by thread name and by Rust crate, library or the kernel (filter the report to
gust's pid first). usage: perf_by_crate.py SYMBOLS.txt"""

import collections
import re
import sys

LINE = re.compile(r"\s*([\d.]+)%\s+(\S+)\s+(\S+)\s+\[(.)\]\s+(.*?)\s*$")


def crate_of(symbol):
    s = symbol.lstrip("<")
    return re.split(r"::|<| ", s)[0] or "?"


def main(path):
    by_comm = collections.Counter()
    by_crate = collections.Counter()
    top = []
    for line in open(path):
        m = LINE.match(line)
        if not m:
            continue
        pct, comm, dso, kind, sym = float(m[1]), m[2], m[3], m[4], m[5]
        sym = re.sub(r"\s+-\s+-\s*$", "", sym)
        by_comm[comm] += pct
        if kind == "k":
            by_crate["kernel"] += pct
        elif dso.endswith(".so") or ".so." in dso or dso.startswith("["):
            by_crate["lib " + dso] += pct
        else:
            by_crate[crate_of(sym)] += pct
            top.append((pct, sym))
    print("== gust by thread name")
    for comm, pct in by_comm.most_common(8):
        print(f"  {pct:6.2f}%  {comm}")
    print("== gust by crate / library / kernel")
    for name, pct in by_crate.most_common(22):
        print(f"  {pct:6.2f}%  {name}")
    print("== gust's hottest own symbols (self)")
    for pct, sym in sorted(top, reverse=True)[:25]:
        print(f"  {pct:6.2f}%  {sym[:150]}")


if __name__ == "__main__":
    main(sys.argv[1])
