#!/usr/bin/env python3
"""allocsites.py: allocations per round trip by the function that made them.

Usage:
    allocsites.py [--by source|function] BIN SMALL.mem N_SMALL LARGE.mem N_LARGE

SMALL.mem and LARGE.mem are heap profiles (-test.memprofile with
-test.memprofilerate 1) of the same benchmark case run with
-test.benchtime N_SMALLx and N_LARGEx. Each allocation is charged to the
innermost frame on its stack that belongs to paho.golang, paho.mqtt.golang,
mqttrpc or this harness, so that a bytes.Buffer growing, a context made or a
goroutine started inside paho is paho's. The small run's counts are subtracted
from the large run's, which cancels connecting, subscribing and warming up;
the difference over N_LARGE - N_SMALL is per round trip.

The profiler records a tiny allocation (under 16 bytes, no pointers) only when
it starts a new 16-byte block, so counts come out below -benchmem's allocs/op;
bytes agree with B/op.
"""
import collections
import re
import subprocess
import sys

UNITS = {"": 1, "k": 1024, "M": 1024**2, "G": 1024**3}


def load(binary, mem):
    out = subprocess.run(
        ["go", "tool", "pprof", "-sample_index=alloc_objects", "-traces", binary, mem],
        capture_output=True, text=True, check=True).stdout
    for block in out.split("-----------+" + "-" * 55)[1:]:
        lines = [l for l in block.split("\n") if l.strip()]
        if not lines:
            continue
        size = 0.0
        if lines[0].strip().startswith("bytes:"):
            m = re.match(r"([\d.]+)([kMG]?)B", lines[0].split(":")[1].strip())
            size = float(m.group(1)) * UNITS[m.group(2)]
            lines = lines[1:]
        first = lines[0].split()
        count = int(first[0])
        frames = [first[1]] + [l.split()[0] for l in lines[1:]]
        yield count, count * size, [f.replace("%2e", ".") for f in frames]


def site(frames):
    for f in frames:
        if f.startswith("github.com/"):
            return f
    return frames[-1] if frames else "?"


def source(frames):
    fn, stack = site(frames), " ".join(frames)
    rules = [
        ("github.com/eclipse/paho.golang/packets",
         "paho.golang packets: decoding" if "packets.ReadPacket" in stack else "paho.golang packets: encoding"),
        ("github.com/eclipse/paho.golang/paho/session", "paho.golang session state"),
        ("github.com/eclipse/paho.golang/autopaho", "paho.golang autopaho"),
        ("github.com/eclipse/paho.golang/paho",
         "paho.golang client: receiving and routing"
         if re.search(r"routePublishPackets|\(\*Client\)\.incoming|PublishFromPacketPublish", stack)
         and "PublishWithOptions" not in stack else "paho.golang client: publishing"),
        ("github.com/eclipse/paho.mqtt.golang/packets",
         "paho.mqtt.golang packets: decoding" if "packets.ReadPacket" in stack else "paho.mqtt.golang packets: encoding"),
        ("github.com/eclipse/paho.mqtt.golang", "paho.mqtt.golang client"),
        ("github.com/mqttrpc/mqttrpc/bench", "bench harness"),
        ("github.com/mqttrpc/mqttrpc", "mqttrpc"),
    ]
    for prefix, name in rules:
        if fn.startswith(prefix):
            return name
    return "other"


def tally(binary, mem, by):
    t = collections.defaultdict(lambda: [0, 0.0])
    for count, size, frames in load(binary, mem):
        key = source(frames) if by == "source" else site(frames)
        t[key][0] += count
        t[key][1] += size
    return t


def main(argv):
    by = "source"
    if argv[:1] == ["--by"]:
        by, argv = argv[1], argv[2:]
    binary, small, n_small, large, n_large = argv
    a, b = tally(binary, small, by), tally(binary, large, by)
    n = int(n_large) - int(n_small)
    rows = []
    for k in set(a) | set(b):
        objs = (b[k][0] - a[k][0]) / n
        size = (b[k][1] - a[k][1]) / n
        rows.append((objs, size, k))
    rows.sort(key=lambda r: -r[0])
    for objs, size, k in rows:
        if abs(objs) >= 0.3 or abs(size) >= 50:
            print(f"{objs:7.1f} {size:8.0f}  {k}")
    print(f"{sum(r[0] for r in rows):7.1f} {sum(r[1] for r in rows):8.0f}  all in the profile")


if __name__ == "__main__":
    main(sys.argv[1:])
