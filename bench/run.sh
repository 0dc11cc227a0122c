#!/usr/bin/env bash
# run.sh runs the round-trip and pending-request benchmarks and prints
# Markdown tables of the medians (see cmd/benchtable).
#
# Environment (all optional):
#   COUNT=5          passes over the whole selection; each pass runs every
#                    case once, so a disturbance (another process taking a
#                    core) hits one pass of all implementations rather than
#                    every run of one implementation
#   BROKERS='mochi|mosquitto-nodelay|mosquitto-raised|nats'
#                    (brokers_test.go) mosquitto-nodelay is mosquitto with
#                    set_tcp_nodelay true and its default limits (inflight
#                    20, 1000 queued); mosquitto-raised adds inflight 1000 and
#                    10000 queued. mosquitto-stock, mosquitto as installed
#                    (Nagle's algorithm on), is left out by default: the bare
#                    clients take 44 ms per QoS 1 round trip there, which
#                    adds about ten minutes a pass; add it to compare
#   IMPLS='mqttrpc-v5|paho-v5|autopaho-v5|mqttrpc-v311|paho-v311|nats'
#   RPC=1            0 skips paho-rpc (autopaho/extensions/rpc)
#   QOS='0|1'
#   SIZES='16 1024 65536'
#   CALLERS='1 64'
#   PENDING=1        0 skips BenchmarkPending10k
#   DISCOVERY=0      1 runs the mqttrpc responders as Service endpoints
#                    (discovery on) instead of plain Subscribers
#   BENCHTIME=       one -benchtime for every case, e.g. 1s; the default is
#                    a fixed number of round trips per size and callers
#   OUT=out/<time>   where bench.txt (raw output) and table.md are kept
#
set -euo pipefail
cd "$(dirname "$0")"

COUNT=${COUNT:-5}
BROKERS=${BROKERS:-mochi|mosquitto-nodelay|mosquitto-raised|nats}
IMPLS=${IMPLS:-mqttrpc-v5|paho-v5|autopaho-v5|mqttrpc-v311|paho-v311|nats}
RPC=${RPC:-1}
QOS=${QOS:-0|1}
SIZES=${SIZES:-16 1024 65536}
CALLERS=${CALLERS:-1 64}
PENDING=${PENDING:-1}
DISCOVERY=${DISCOVERY:-0}
export BENCH_DISCOVERY=$DISCOVERY
BENCHTIME=${BENCHTIME:-}
OUT=${OUT:-out/$(date +%Y%m%d-%H%M%S)}

# The command that reproduces this run, every knob spelled out.
disc=
if [[ $DISCOVERY == 1 ]]; then disc=" DISCOVERY=1"; fi
command="COUNT=$COUNT BROKERS='$BROKERS' IMPLS='$IMPLS' RPC=$RPC QOS='$QOS' SIZES='$SIZES' CALLERS='$CALLERS' PENDING=$PENDING${BENCHTIME:+ BENCHTIME=$BENCHTIME}${disc} ./run.sh"
cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
mosq=$( (mosquitto -h 2>/dev/null || /usr/sbin/mosquitto -h 2>/dev/null || true) | sed -n 's/^mosquitto version //p' | head -1)
machine="$(nproc) cores, ${cpu:-unknown CPU}, $(uname -sr), $(go version | cut -d' ' -f3), mosquitto ${mosq:-not found}"
echo "# command: $command" >&2
echo "# machine: $machine" >&2

mkdir -p "$OUT"
raw="$OUT/bench.txt"
: >"$raw"

# One test binary for every group, so that no group rebuilds; the library's
# version is noted now, as it was compiled, not after the run.
library=$(git -C .. describe --always --dirty 2>/dev/null || echo unknown)
go test -c -o "$OUT/bench.test" .
go build -o "$OUT/benchtable" ./cmd/benchtable

# Round trips fixed per size and callers rather than -benchtime=1s: the
# time-based ramp-up costs about as much again as the measurement, and every
# run of a case then makes the same number of round trips.
benchtime() { # size callers
	if [[ -n $BENCHTIME ]]; then
		echo "$BENCHTIME"
	elif (($1 >= 65536)); then
		if (($2 == 1)); then echo 500x; else echo 2000x; fi
	else
		if (($2 == 1)); then echo 2000x; else echo 10000x; fi
	fi
}

# paho-rpc loses a few replies per hundred, each costing a timeout (see
# lossyTimeout), so it makes a quarter of the round trips to keep the run short.
quarter() {
	if [[ $1 == *x ]]; then echo "$((${1%x} / 4 > 0 ? ${1%x} / 4 : 1))x"; else echo "$1"; fi
}

# A group that fails (a broker that dropped requests, say) is noted and the
# run goes on, so that one failure does not throw away every other figure;
# the script still exits 1 at the end.
failed=()
run() { # benchtime pattern
	echo "# -bench '$2' -benchtime $1" >&2
	if ! "$OUT/bench.test" -test.run '^$' -test.bench "$2" -test.benchtime "$1" \
		-test.count 1 -test.benchmem -test.timeout 30m | tee -a "$raw" >&2; then
		failed+=("$2")
	fi
}

rt="^BenchmarkRoundTrip\$/^broker=($BROKERS)\$"
IFS='|' read -ra impls <<<"$IMPLS"
for pass in $(seq "$COUNT"); do
	# Each selected implementation in turn runs first (see startingAt).
	export BENCH_FIRST=${impls[(pass - 1) % ${#impls[@]}]}
	echo "# pass $pass of $COUNT; load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$raw" >&2
	for size in $SIZES; do
		for callers in $CALLERS; do
			bt=$(benchtime "$size" "$callers")
			tail="/^qos=($QOS)\$/^size=$size\$/^callers=$callers\$"
			run "$bt" "$rt/^impl=($IMPLS)\$$tail"
			if [[ $RPC == 1 ]]; then
				run "$(quarter "$bt")" "$rt/^impl=paho-rpc\$$tail"
			fi
		done
	done
	if [[ $PENDING == 1 ]]; then
		# Every goroutine starts with the runtime's minimum stack: by default
		# the first stack follows the average the runtime has seen so far,
		# which depends on what ran before in this process, and so moves the
		# stack per pending request by more than the implementations differ.
		GODEBUG=adaptivestackstart=0 run 1x "^BenchmarkPending10k\$/^broker=($BROKERS)\$//^qos=($QOS)\$"
	fi
done

{
	echo "command: \`cd bench && $command\`"
	echo
	echo "machine: $machine"
	echo
	echo "library: $library"
	echo
	"$OUT/benchtable" <"$raw"
	for f in "${failed[@]}"; do
		echo "FAILED (see $raw): -bench '$f'"
	done
} | tee "$OUT/table.md"
((${#failed[@]} == 0))
