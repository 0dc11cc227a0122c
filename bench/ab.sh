#!/usr/bin/env bash
# ab.sh runs test binaries of this benchmark built against different code
# (another paho, a change to mqttrpc) against each other, in passes: every
# pass runs every binary once on every case, in an order rotated per pass, so
# that a disturbance hits one pass of every build rather than every run of
# one. abstat.py then pairs each build with the first one within each pass.
#
#   ./ab.sh OUT PASSES NAME=BINARY...
#   ./abstat.py OUT
#
# Environment: IMPLS (default mqttrpc-v5), BROKER (mosquitto-nodelay), QOS ('0|1'),
# SIZES ('16'), CALLERS ('1 64'), BENCHTIME (default 2000x for one caller,
# 10000x for more).
#
# Build each binary with `go test -c -o NAME.test .` in a copy of the module
# whose go.mod points at the code to try (a replace directive there, never
# here).
set -euo pipefail
out=$1
passes=$2
shift 2
builds=("$@")
IMPLS=${IMPLS:-mqttrpc-v5}
BROKER=${BROKER:-mosquitto-nodelay}
QOS=${QOS:-0|1}
SIZES=${SIZES:-16}
CALLERS=${CALLERS:-1 64}
BENCHTIME=${BENCHTIME:-}
cd "$(dirname "$0")"
: >"$out"
echo "# builds: ${builds[*]%%=*}" >>"$out"
k=${#builds[@]}
for pass in $(seq "$passes"); do
	echo "# pass $pass load $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out"
	for i in $(seq 0 $((k - 1))); do
		b=${builds[$(((i + pass) % k))]}
		name=${b%%=*}
		bin=${b#*=}
		for size in $SIZES; do
			for callers in $CALLERS; do
				bt=$BENCHTIME
				if [[ -z $bt ]]; then
					if ((callers == 1)); then bt=2000x; else bt=10000x; fi
				fi
				"$bin" -test.run '^$' -test.benchmem -test.benchtime "$bt" \
					-test.bench "^BenchmarkRoundTrip\$/^broker=$BROKER\$/^impl=($IMPLS)\$/^qos=($QOS)\$/^size=$size\$/^callers=$callers\$" |
					grep '^Benchmark' | sed "s/^/$name pass=$pass /" >>"$out"
			done
		done
	done
done
