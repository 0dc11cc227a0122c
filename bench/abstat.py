#!/usr/bin/env python3
"""abstat.py OUT: medians of an ab.sh run, each build against the first named.

For every case and build: allocs/op and B/op (medians; they repeat exactly),
the median CPU time and round trips per second, and the median with its range
of the ratios to the first build's run of the same pass.
"""
import collections
import re
import statistics
import sys


def main(path):
    runs = collections.defaultdict(dict)  # case -> (build, pass) -> metrics
    builds = []
    for line in open(path):
        if line.startswith("# builds:"):
            builds = line.split()[2:]
        if " pass=" not in line or "Benchmark" not in line:
            continue
        f = line.split()
        build, p, name = f[0], int(f[1].split("=")[1]), f[2]
        name = re.sub(r"-\d+$", "", name).replace("BenchmarkRoundTrip/", "")
        m = {f[i + 1]: float(f[i]) for i in range(4, len(f) - 1, 2)}
        runs[name][(build, p)] = m
        if build not in builds:
            builds.append(build)
    base = builds[0]
    med = statistics.median
    print("| case | build | allocs/op | B/op | cpu-ns/op | rt/s | CPU ÷ %s | rt/s ÷ %s | passes |" % (base, base))
    print("|---|---|---:|---:|---:|---:|---|---|---:|")
    for name in sorted(runs):
        d = runs[name]
        for b in builds:
            ps = sorted(p for (bb, p) in d if bb == b)
            if not ps:
                continue
            col = lambda k: [d[(b, p)][k] for p in ps]
            ratio = lambda k: [d[(b, p)][k] / d[(base, p)][k] for p in ps if (base, p) in d]
            cells = []
            for k in ("cpu-ns/op", "rt/s"):
                r = ratio(k)
                cells.append("" if b == base or not r else "%.2f (%.2f–%.2f)" % (med(r), min(r), max(r)))
            print("| %s | %s | %.0f | %.0f | %.0f | %.0f | %s | %s | %d |" % (
                name, b, med(col("allocs/op")), med(col("B/op")), med(col("cpu-ns/op")),
                med(col("rt/s")), cells[0], cells[1], len(ps)))


if __name__ == "__main__":
    main(sys.argv[1])
