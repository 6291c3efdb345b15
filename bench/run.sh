#!/usr/bin/env bash
# swarmdns DNS benchmark: swarmdns against Knot DNS and NSD, same 1,000 names, same answers.
#
# For each server, pinned to one core while dnsperf runs on the other, it measures
#   a. queries per second at saturation (as dnsperf reports it), and
#   b. server CPU time per answered query at a fixed offered rate (default 50,000 q/s),
# in interleaved rounds (A B C A B C ...), and reports the median of each figure and the
# ratios swarmdns/knot and swarmdns/nsd. See bench/README.md for the method and the traps.
set -Eeuo pipefail

usage() {
	cat <<'EOF'
Usage: bench/run.sh [options]

Benchmarks swarmdns against Knot DNS (knotd) and NSD over UDP on 127.0.0.1 with dnsperf.
Prints a table and writes it as JSON to bench/out/dns.json.

Options:
  --quick            3-second runs, 1 round (a smoke run; figures are noisy)
  --rounds N         interleaved rounds; the median is reported (default 3)
  --seconds N        length of each dnsperf run in seconds (default 10)
  --rate N           offered rate for the CPU-per-query figure, q/s (default 50000)
  --names N          number of names (keys) in the data set (default 1000)
  --servers LIST     comma-separated subset of swarmdns,knot,nsd (default: all three)
  --out FILE         JSON output (default bench/out/dns.json)
  --keep             keep the temporary directory (configs, zones, logs) for inspection
  -h, --help         this help

Environment:
  SWARMDNS_BIN         swarmdns binary (default: <repo>/build/swarmdns; this script builds nothing)
  SWARMDNS_SERVE_ARGS  extra arguments appended to `swarmdns serve`
  BENCH_SERVER_CPU     core the servers are pinned to (default 1)
  BENCH_CLIENT_CPU     core dnsperf is pinned to (default 0)
  BENCH_TIME_LIMIT     seconds after which the whole run is stopped (default: from the options)
  BENCH_PUBLISH_JOBS   zones signed and PUT to swarmdns at once (default 4)

Tools needed: dnsperf, knotd, nsd, dig, taskset, curl (scripts/install-deps.sh bench).
EOF
}

log() { printf 'bench: [%3ds] %s\n' "$SECONDS" "$*" >&2; }
die() {
	printf 'bench: error: %s\n' "$*" >&2
	exit 1
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${SWARMDNS_BIN:-$ROOT/build/swarmdns}
ROUNDS=3
SECS=10
RATE=50000
NAMES=1000
SERVERS=swarmdns,knot,nsd
OUT=$ROOT/bench/out/dns.json
KEEP=0
SERVER_CPU=${BENCH_SERVER_CPU:-1}
CLIENT_CPU=${BENCH_CLIENT_CPU:-0}
PUBLISH_JOBS=${BENCH_PUBLISH_JOBS:-4}
Z32_ALPHABET=ybndrfg8ejkmcpqxot1uwisza345h769

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
need_arg() { [[ $# -ge 2 && -n $2 ]] || die "option $1 needs a value (see --help)"; }

while [[ $# -gt 0 ]]; do
	case $1 in
	--quick) SECS=3 ROUNDS=1 ;;
	--rounds) need_arg "$@"; ROUNDS=$2; shift ;;
	--seconds) need_arg "$@"; SECS=$2; shift ;;
	--rate) need_arg "$@"; RATE=$2; shift ;;
	--names) need_arg "$@"; NAMES=$2; shift ;;
	--servers) need_arg "$@"; SERVERS=$2; shift ;;
	--out) need_arg "$@"; OUT=$2; shift ;;
	--keep) KEEP=1 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown option: $1" ;;
	esac
	shift
done

for v in ROUNDS SECS RATE NAMES PUBLISH_JOBS; do
	if ! is_uint "${!v}" || [[ ${!v} -eq 0 ]]; then die "$v must be a positive integer, got '${!v}'"; fi
done
[[ $NAMES -le 60000 ]] || die "--names is limited to 60000 (addresses are 10.0.x.y from the index)"

# The order here is the interleaving order of each round.
SERVER_LIST=()
IFS=, read -r -a _req <<<"$SERVERS"
for s in swarmdns knot nsd; do
	for r in "${_req[@]}"; do [[ $r == "$s" ]] && SERVER_LIST+=("$s"); done
done
for r in "${_req[@]}"; do
	case $r in swarmdns | knot | nsd) ;; *) die "unknown server '$r' in --servers (swarmdns, knot, nsd)" ;; esac
done
[[ ${#SERVER_LIST[@]} -gt 0 ]] || die "--servers selects no server"
has_server() {
	local s
	for s in "${SERVER_LIST[@]}"; do [[ $s == "$1" ]] && return 0; done
	return 1
}

# ---------------------------------------------------------------------------------------------
# Tools

missing=()
need_tool() { command -v "$1" >/dev/null 2>&1 || missing+=("$1 (Debian package $2)"); }
need_tool dnsperf dnsperf
need_tool dig dnsutils
need_tool taskset util-linux
need_tool timeout coreutils
need_tool xargs findutils
need_tool pgrep procps
need_tool ss iproute2
need_tool awk mawk
has_server knot && need_tool knotd knot
has_server nsd && need_tool nsd nsd
has_server swarmdns && need_tool curl curl
if [[ ${#missing[@]} -gt 0 ]]; then
	for m in "${missing[@]}"; do log "missing tool: $m"; done
	die "scripts/install-deps.sh bench installs them"
fi
if has_server swarmdns; then
	[[ -x $BIN ]] || die "swarmdns binary not found at $BIN: run 'make' first, or set SWARMDNS_BIN"
fi
ncpu=$(getconf _NPROCESSORS_ONLN)
[[ $SERVER_CPU -lt $ncpu && $CLIENT_CPU -lt $ncpu ]] ||
	die "needs cores $CLIENT_CPU (dnsperf) and $SERVER_CPU (servers); this machine has $ncpu"
[[ $SERVER_CPU -ne $CLIENT_CPU ]] || log "warning: servers and dnsperf share core $SERVER_CPU"
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------------------------------------
# Time bound, processes, cleanup

# Every step is bounded on its own (timeouts on each command, bounded readiness loops); the
# watchdog bounds the whole run in case something still hangs.
LIMIT=${BENCH_TIME_LIMIT:-$((600 + NAMES / 5 + (ROUNDS + 1) * ${#SERVER_LIST[@]} * 2 * (SECS + 20)))}
is_uint "$LIMIT" || die "BENCH_TIME_LIMIT must be a number of seconds"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/swarmdns-bench.XXXXXX")
declare -A PID=() LOGF=() # server -> pid, log file
WATCHDOG=
JOB=

# All descendants of a process, the process first (NSD forks its workers).
proc_tree() {
	local c
	echo "$1"
	for c in $(pgrep -P "$1" 2>/dev/null || true); do proc_tree "$c"; done
}

proc_alive() {
	local st
	st=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $st && $st != Z ]]
}

stop_pid() {
	local tree i p left
	tree=$(proc_tree "$1")
	kill -TERM "$1" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		left=
		for p in $tree; do proc_alive "$p" && left=1; done
		[[ -z $left ]] && break
		sleep 0.1
	done
	for p in $tree; do
		if proc_alive "$p"; then kill -KILL "$p" 2>/dev/null || true; fi
	done
	wait "$1" 2>/dev/null || true
}

cleanup() {
	local rc=$? s
	set +e
	trap - EXIT INT TERM HUP ERR
	[[ -n $JOB ]] && stop_pid "$JOB"
	for s in "${!PID[@]}"; do stop_pid "${PID[$s]}"; done
	[[ -n $WATCHDOG ]] && kill -TERM "$WATCHDOG" 2>/dev/null && wait "$WATCHDOG" 2>/dev/null
	if [[ $KEEP == 1 ]]; then
		log "kept $TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'log "error: unexpected failure (status $?) at line $LINENO: $BASH_COMMAND"' ERR
trap 'log "interrupted"; exit 130' INT
trap 'log "stopped (time limit of ${LIMIT}s or signal)"; exit 143' TERM
trap 'exit 129' HUP

# The watchdog kills its sleep when it is stopped, so nothing is left behind.
(
	trap 'kill $sp 2>/dev/null; wait $sp; exit 0' TERM
	sleep "$LIMIT" &
	sp=$!
	wait $sp
	kill -TERM $$ 2>/dev/null
) &
WATCHDOG=$!

# Runs a command in the background and waits, so that a signal is handled at once. With
# --to FILE the command's output goes to FILE (a redirection of run_job itself would also
# catch the messages of a trap that runs while it waits).
run_job() {
	local out=
	if [[ $1 == --to ]]; then
		out=$2
		shift 2
	fi
	if [[ -n $out ]]; then
		"$@" >"$out" 2>&1 &
	else
		"$@" &
	fi
	JOB=$!
	local rc=0
	wait "$JOB" || rc=$?
	JOB=
	return $rc
}

# Random ports below the kernel's ephemeral range (where outgoing connections and dnsperf's
# sockets take theirs), not used by any socket in any state.
declare -A USED_PORT=()
read -r EPH_LOW _ </proc/sys/net/ipv4/ip_local_port_range || EPH_LOW=32768
[[ $EPH_LOW -gt 12000 ]] || EPH_LOW=32768
port_free() { [[ -z ${USED_PORT[$1]:-} && -z $(ss -Hantu "( sport = :$1 )" 2>/dev/null) ]]; }
pick_port() { # VAR
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((10000 + RANDOM % (EPH_LOW - 10000)))
		if port_free "$p"; then
			USED_PORT[$p]=1
			printf -v "$1" '%s' "$p"
			return 0
		fi
	done
	die "no free port found"
}

# A private copy of the binary: a rebuild during the run (make in another shell) must neither
# break the run nor mix two versions in one set of figures.
if has_server swarmdns; then
	mkdir -p "$TMP/bin"
	cp "$BIN" "$TMP/bin/swarmdns" || die "cannot copy $BIN"
	SRC_BIN=$BIN
	BIN=$TMP/bin/swarmdns
fi

# ---------------------------------------------------------------------------------------------
# Data set: NAMES keys, one answered name www.<z32>. A 10.a.b.c per key.

D=$TMP/data
mkdir -p "$D"
seq 0 $((NAMES - 1)) >"$D/indices"
addr_of() { # index -> address, in ADDR (never .0 or .255)
	ADDR="10.0.$(($1 / 250 + 1)).$(($1 % 250 + 1))"
}

if has_server swarmdns; then
	log "generating $NAMES keys with $SRC_BIN keygen"
	run_job timeout 300 xargs -a "$D/indices" -P 4 -I{} \
		sh -c '"$1" keygen -o "$2/k$3.key" >"$2/k$3.name" 2>"$2/k$3.err" || { cat "$2/k$3.err" >&2; exit 255; }' \
		sh "$BIN" "$D" {} || die "swarmdns keygen failed"
	for ((i = 0; i < NAMES; i++)); do
		name=
		read -r name <"$D/k$i.name" || true
		[[ $name =~ ^[$Z32_ALPHABET]{52}$ ]] ||
			die "swarmdns keygen printed '$name', not a 52-character z-base32 name"
		echo "$name"
	done >"$D/names"
else
	# Without swarmdns only the comparison servers run: random names of the same shape (the
	# 52nd character of a 256-bit key in z-base32 carries one bit: y or o).
	log "generating $NAMES random key names (swarmdns not selected)"
	awk -v n="$NAMES" -v a="$Z32_ALPHABET" -v seed="$RANDOM$RANDOM" 'BEGIN {
		srand(seed)
		for (i = 0; i < n; i++) {
			s = ""
			for (j = 0; j < 51; j++) s = s substr(a, 1 + int(rand() * 32), 1)
			print s (i % 2 ? "y" : "o")
		}
	}' >"$D/names"
fi
[[ $(sort -u "$D/names" | wc -l) -eq $NAMES ]] || die "the $NAMES names are not distinct"

mapfile -t NAME <"$D/names"
WITH_SWARMDNS=0
has_server swarmdns && WITH_SWARMDNS=1
: >"$D/queries"
: >"$D/expected"
{
	echo '$TTL 3600'
	echo '. 3600 IN SOA ns.bench. hostmaster.bench. 1 3600 900 604800 300'
	echo '. 3600 IN NS ns.bench.'
	echo 'ns.bench. 3600 IN A 127.0.0.1'
} >"$D/root.zone"
for ((i = 0; i < NAMES; i++)); do
	addr_of "$i"
	a=$ADDR
	n="www.${NAME[$i]}."
	echo "$n A" >>"$D/queries"
	echo "$n 3600 $a" >>"$D/expected"
	echo "$n 3600 IN A $a" >>"$D/root.zone"
	if [[ $WITH_SWARMDNS == 1 ]]; then echo "$n 3600 IN A $a" >"$D/k$i.zone"; fi
done
sort -o "$D/expected.sorted" "$D/expected"
SAMPLE_NAME="www.${NAME[$((NAMES / 2))]}."
addr_of $((NAMES / 2))
SAMPLE_ADDR=$ADDR

# ---------------------------------------------------------------------------------------------
# Servers

# Re-pins every thread of every process of a server (knotd pins its UDP worker to CPU 0 itself),
# then checks that every thread is on the server core.
pin_server() { # server
	local p t aff bad=
	for p in $(proc_tree "${PID[$1]}"); do
		taskset -a -p -c "$SERVER_CPU" "$p" >/dev/null 2>&1 || true
	done
	for p in $(proc_tree "${PID[$1]}"); do
		for t in /proc/"$p"/task/*; do
			aff=$(awk '/^Cpus_allowed_list:/ { print $2 }' "$t/status" 2>/dev/null) || continue
			[[ $aff == "$SERVER_CPU" ]] || bad+=" ${t##*/} ($aff)"
		done
	done
	[[ -z $bad ]] || die "$1: threads$bad are not pinned to core $SERVER_CPU"
}

first_line() { { "$@" 2>&1 || true; } | awk 'NR == 1'; }
output_of() { { "$@" 2>&1 || true; } | cat; }

dig_a() { # PORT NAME -> the A addresses, or nothing
	timeout 5 dig @127.0.0.1 -p "$1" +time=1 +tries=1 +short "$2" A 2>/dev/null | grep -E '^[0-9.]+$' || true
}

# Waits until the server answers the sample name correctly; aborts with its log if not.
wait_answer() { # server port logfile
	local i got=
	for ((i = 0; i < 100; i++)); do
		proc_alive "${PID[$1]}" || die "$1 exited at start; its log ($3):
$(tail -n 20 "$3" 2>/dev/null)"
		got=$(dig_a "$2" "$SAMPLE_NAME")
		[[ $got == "$SAMPLE_ADDR" ]] && return 0
		sleep 0.2
	done
	die "$1 on 127.0.0.1:$2 does not answer $SAMPLE_NAME A with $SAMPLE_ADDR (got '${got:-no answer}'); its log ($3):
$(tail -n 20 "$3" 2>/dev/null)"
}

# Checks that the server answers every name of the data set with its address and TTL, and
# nothing else, so that all servers are measured on the same answers.
verify_all() { # server port
	local got=$TMP/$1.answers
	run_job --to "$got.raw" timeout 120 dig @127.0.0.1 -p "$2" +time=2 +tries=2 +noall +answer -f "$D/queries" || true
	awk '$4 == "A" { print $1, $2, $5 }' "$got.raw" | sort >"$got"
	# A UDP query lost twice is not a wrong answer: ask the few missing names once more.
	local missing n
	missing=$(comm -23 "$D/expected.sorted" "$got" | awk '{ print $1 }')
	if [[ -n $missing && $(wc -l <<<"$missing") -le 20 ]]; then
		for n in $missing; do
			timeout 10 dig @127.0.0.1 -p "$2" +time=2 +tries=3 +noall +answer "$n" A 2>/dev/null |
				awk '$4 == "A" { print $1, $2, $5 }' >>"$got" || true
		done
		sort -u -o "$got" "$got"
		log "$1: asked $(wc -l <<<"$missing") unanswered name(s) again"
	fi
	if ! cmp -s "$got" "$D/expected.sorted"; then
		log "$1: answers differ from the data set (< expected, > $1):"
		diff "$D/expected.sorted" "$got" | head -n 10 >&2 || true
		die "$1 does not answer all $NAMES names correctly" \
			"($(comm -12 "$D/expected.sorted" "$got" | wc -l) of $NAMES right; --keep keeps the raw answers)"
	fi
	log "$1: all $NAMES names answered correctly"
}

start_knot() {
	local dir=$TMP/knot
	mkdir -p "$dir"
	pick_port KNOT_PORT
	cp "$D/root.zone" "$dir/root.zone"
	cat >"$dir/knot.conf" <<EOF
server:
    rundir: "$dir"
    listen: 127.0.0.1@$KNOT_PORT
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: warning
database:
    storage: "$dir"
template:
  - id: default
    storage: "$dir"
    journal-content: none
    zonefile-sync: -1
zone:
  - domain: .
    file: root.zone
EOF
	taskset -c "$SERVER_CPU" knotd -c "$dir/knot.conf" >"$dir/knot.log" 2>&1 &
	PID[knot]=$!
	PORT[knot]=$KNOT_PORT
	LOGF[knot]=$dir/knot.log
	wait_answer knot "$KNOT_PORT" "$dir/knot.log"
	VERSION[knot]=$(first_line knotd --version)
}

start_nsd() {
	local dir=$TMP/nsd
	mkdir -p "$dir"
	pick_port NSD_PORT
	cp "$D/root.zone" "$dir/root.zone"
	cat >"$dir/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1@$NSD_PORT
    port: $NSD_PORT
    do-ip6: no
    server-count: 1
    rrl-ratelimit: 0
    minimal-responses: yes
    username: ""
    chroot: ""
    zonesdir: "$dir"
    database: ""
    zonelistfile: "$dir/zone.list"
    xfrdfile: "$dir/xfrd.state"
    xfrdir: "$dir"
    pidfile: "$dir/nsd.pid"
    logfile: "$dir/nsd.log"
    verbosity: 0
remote-control:
    control-enable: no
zone:
    name: "."
    zonefile: "root.zone"
EOF
	taskset -c "$SERVER_CPU" nsd -d -c "$dir/nsd.conf" >"$dir/nsd.out" 2>&1 &
	PID[nsd]=$!
	PORT[nsd]=$NSD_PORT
	LOGF[nsd]=$dir/nsd.log
	wait_answer nsd "$NSD_PORT" "$dir/nsd.log"
	VERSION[nsd]=$(first_line nsd -v)
}

start_swarmdns() {
	local dir=$TMP/swarmdns i
	mkdir -p "$dir/data"
	pick_port SW_PORT
	pick_port SW_API
	# A node of its own: its DHT socket on loopback and no bootstrap into the public DHT (no
	# internet here, and background DHT work would be counted against the DNS figures).
	local args=(--data-dir "$dir/data" --listen-dns "127.0.0.1:$SW_PORT" --listen-api "127.0.0.1:$SW_API")
	local help
	help=$(output_of "$BIN" serve --help)
	[[ $help == *--dht-listen* ]] && args+=(--dht-listen 127.0.0.1:0)
	[[ $help == *--bootstrap* ]] && args+=(--bootstrap none)
	# shellcheck disable=SC2206 # SWARMDNS_SERVE_ARGS is a list of words
	args+=(${SWARMDNS_SERVE_ARGS:-})
	echo "$BIN serve ${args[*]}" >"$dir/command"
	taskset -c "$SERVER_CPU" "$BIN" serve "${args[@]}" >"$dir/swarmdns.log" 2>&1 &
	PID[swarmdns]=$!
	PORT[swarmdns]=$SW_PORT
	LOGF[swarmdns]=$dir/swarmdns.log
	for ((i = 0; i < 100; i++)); do
		proc_alive "${PID[swarmdns]}" || die "swarmdns serve exited at start; its log:
$(tail -n 20 "$dir/swarmdns.log")"
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$SW_API/v1/status" && break
		sleep 0.2
	done
	[[ $i -lt 100 ]] || die "swarmdns API on 127.0.0.1:$SW_API not ready after 20 s"

	# Sign each zone and PUT it to the relay interface, in parallel.
	log "publishing $NAMES zones to swarmdns (sign + PUT /<z32>, $PUBLISH_JOBS at a time)"
	cat >"$TMP/publish1.sh" <<'EOF'
#!/bin/sh
# publish1.sh BIN DATADIR API INDEX
bin=$1 d=$2 api=$3 i=$4
name=$(sed -n 's/^www\.\([^.]*\)\..*/\1/p' "$d/k$i.zone")
if ! "$bin" sign -k "$d/k$i.key" -o "$d/k$i.body" "$d/k$i.zone" >"$d/k$i.err" 2>&1; then
	echo "k$i: swarmdns sign failed: $(head -c 300 "$d/k$i.err")" >&2
	exit 255
fi
code=$(curl -s -o "$d/k$i.resp" -w '%{http_code}' --max-time 10 -X PUT \
	--data-binary @"$d/k$i.body" "http://127.0.0.1:$api/$name")
case $code in
2??) ;;
*) echo "k$i: PUT /$name answered HTTP $code: $(head -c 300 "$d/k$i.resp" 2>/dev/null)" >&2; exit 255 ;;
esac
EOF
	if ! run_job timeout 600 xargs -a "$D/indices" -P "$PUBLISH_JOBS" -I{} sh "$TMP/publish1.sh" "$BIN" "$D" "$SW_API" {}; then
		proc_alive "${PID[swarmdns]}" || die "swarmdns serve died while the zones were published; its log:
$(tail -n 20 "$dir/swarmdns.log")"
		die "publishing the zones to swarmdns failed"
	fi
	wait_answer swarmdns "$SW_PORT" "$dir/swarmdns.log"
	VERSION[swarmdns]=$(first_line "$BIN" --version)
}

# ---------------------------------------------------------------------------------------------
# Measurements

# Sum of utime+stime, in clock ticks, of every process of a server (each process's figure
# covers all its threads, including threads that have exited).
cpu_ticks() {
	local total=0 p f
	for p in $(proc_tree "$1"); do
		f=$(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null) || continue
		total=$((total + ${f:-0}))
	done
	echo "$total"
}

# dnsperf pinned to the other core. Sets DP_QPS, DP_DONE, DP_SENT, DP_RUNTIME and DP_RESP (the
# average response size). -t 2: queries still unanswered 2 s after the end are lost (the
# default of 5 s only makes every run wait longer).
dnsperf_run() { # port seconds rate(0 = unlimited) outfile
	local args=(-s 127.0.0.1 -p "$1" -d "$D/queries" -l "$2" -c 4 -T 1 -q 500 -t 2) res
	[[ $3 -gt 0 ]] && args+=(-Q "$3")
	run_job --to "$4" timeout $(($2 + 30)) taskset -c "$CLIENT_CPU" dnsperf "${args[@]}" ||
		die "dnsperf failed: $(tail -n 5 "$4")"
	res=$(awk '
		/Queries sent:/ { sent = $3 }
		/Queries completed:/ { done = $3 }
		/Queries per second:/ { qps = $4 }
		/Run time \(s\):/ { rt = $4 }
		/Average packet size:/ { resp = $7 }
		END { if (qps == "" || done == "" || rt == "") exit 1; print qps, done, sent, rt, resp + 0 }' "$4") ||
		die "cannot read dnsperf's report: $(tail -n 5 "$4")"
	read -r DP_QPS DP_DONE DP_SENT DP_RUNTIME DP_RESP <<<"$res"
}

# shellcheck disable=SC2034 # VERSION is read through get()
declare -A PORT=() VERSION=() QPS=() CPUUS=() CORE=() SATUS=() LOSS=()

# Busy and total ticks of the server core, from /proc/stat.
core_ticks() {
	awk -v c="cpu$SERVER_CPU" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat
}

# The share of the server core that went to something other than the server during a run
# (another process is skewing the figures; a few percent are the kernel's own work and the
# difference between /proc/stat's and the processes' accounting). Sets FOREIGN (percent).
FOREIGN_RUNS=
DISTURBED=0
foreign_share() { # core_before core_after server_ticks
	FOREIGN=$(awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { split(a, x, " "); split(b, y, " ")
		dt = y[2] - x[2]; f = dt > 0 ? 100 * ((y[1] - x[1]) - t) / dt : 0
		printf "%.1f", f < 0 ? 0 : f }')
	FOREIGN_RUNS+="$FOREIGN "
	if awk -v f="$FOREIGN" 'BEGIN { exit !(f > 25) }'; then
		DISTURBED=$((DISTURBED + 1))
		log "warning: during this run ${FOREIGN}% of core $SERVER_CPU went to other processes:" \
			"the figures are skewed"
	fi
}

# Stops the run when a server stops answering during the measurements, with what is known.
server_failed() { # server message dnsperf_output
	local p st
	p=${PID[$1]}
	st=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$p/stat" 2>/dev/null || echo gone)
	die "$1 $2 (process $p state $st, wchan $(cat "/proc/$p/wchan" 2>/dev/null || echo -)," \
		"$(dig_a "${PORT[$1]}" "$SAMPLE_NAME" | head -n 1 | grep . || echo "no answer to dig");" \
		"dnsperf: $(grep -E 'Queries (sent|completed)' "$3" 2>/dev/null | tr -s ' \n' ' ')); its log:
$(tail -n 20 "${LOGF[$1]}" 2>/dev/null)"
}

measure() { # server round
	local s=$1 r=$2 pid=${PID[$1]} port=${PORT[$1]} t0 t1 c0 c1 sat us fsat
	# a. saturation
	c0=$(core_ticks)
	t0=$(cpu_ticks "$pid")
	dnsperf_run "$port" "$SECS" 0 "$TMP/$s.r$r.sat.txt"
	t1=$(cpu_ticks "$pid")
	c1=$(core_ticks)
	foreign_share "$c0" "$c1" $((t1 - t0))
	fsat=$FOREIGN
	proc_alive "$pid" || server_failed "$s" "died during the saturation run" "$TMP/$s.r$r.sat.txt"
	[[ $DP_DONE -gt 0 ]] || server_failed "$s" "answered no query at saturation" "$TMP/$s.r$r.sat.txt"
	sat=$DP_QPS
	QPS[$s]+="$sat "
	CORE[$s]+="$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v rt="$DP_RUNTIME" 'BEGIN { printf "%.1f", 100 * d / hz / rt }') "
	SATUS[$s]+="$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$DP_DONE" 'BEGIN { printf "%.3f", (n ? d * 1e6 / hz / n : 0) }') "
	# b. fixed offered rate
	c0=$(core_ticks)
	t0=$(cpu_ticks "$pid")
	dnsperf_run "$port" "$SECS" "$RATE" "$TMP/$s.r$r.fixed.txt"
	t1=$(cpu_ticks "$pid")
	c1=$(core_ticks)
	foreign_share "$c0" "$c1" $((t1 - t0))
	proc_alive "$pid" || server_failed "$s" "died during the fixed-rate run" "$TMP/$s.r$r.fixed.txt"
	[[ $DP_DONE -gt 0 ]] || server_failed "$s" "answered no query at the fixed rate" "$TMP/$s.r$r.fixed.txt"
	us=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$DP_DONE" 'BEGIN { printf "%.3f", d * 1e6 / hz / n }')
	CPUUS[$s]+="$us "
	LOSS[$s]+="$(awk -v s="$DP_SENT" -v d="$DP_DONE" 'BEGIN { printf "%.3f", (s > 0 ? 100 * (s - d) / s : 0) }') "
	log "round $r $s: saturation $(printf '%.0f' "$sat") q/s; at $RATE q/s offered:" \
		"$us µs/query ($DP_DONE answered, $(printf '%.0f' "$DP_QPS") q/s); core $SERVER_CPU time" \
		"not the server's: ${fsat}%, ${FOREIGN}%"
	if awk -v q="$DP_QPS" -v r="$RATE" 'BEGIN { exit !(q < 0.97 * r) }'; then
		log "warning: $s answered only $(printf '%.0f' "$DP_QPS") of the $RATE q/s offered: lower --rate"
	fi
}

# Other processes on the cores skew every figure (a compiler, another benchmark): sample both
# cores for a second while the servers are idle and warn if they are busy.
BUSY_WARNINGS=0
check_idle() {
	local a b
	a=$(awk '/^cpu[0-9]/ { print $1, $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
	sleep 1
	b=$(awk '/^cpu[0-9]/ { print $1, $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
	local busy
	busy=$(printf '%s\n%s\n' "$a" "$b" | awk -v c0="cpu$CLIENT_CPU" -v c1="cpu$SERVER_CPU" '
		$1 != c0 && $1 != c1 { next }
		$1 in idle { di = $2 - idle[$1]; dt = $3 - tot[$1]; if (dt > 0 && 100 * (1 - di / dt) > 10)
			out = out sprintf(" %s %.0f%%", $1, 100 * (1 - di / dt)); next }
		{ idle[$1] = $2; tot[$1] = $3 }
		END { print out }')
	if [[ -n $busy ]]; then
		BUSY_WARNINGS=$((BUSY_WARNINGS + 1))
		log "warning: other processes keep the cores busy while the servers are idle:$busy;" \
			"the figures will be skewed (see bench/README.md)"
	fi
}

median() { # values...
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "null"; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() { # a b -> a/b with 3 decimals, or null
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "null" || b == "null" || b + 0 == 0) print "null"; else printf "%.3f", a / b }'
}

# ---------------------------------------------------------------------------------------------
# Run

log "servers: ${SERVER_LIST[*]}; $NAMES names; $ROUNDS round(s) of ${SECS}s; fixed rate $RATE q/s;" \
	"servers on core $SERVER_CPU, dnsperf on core $CLIENT_CPU; time limit ${LIMIT}s"
for s in "${SERVER_LIST[@]}"; do
	"start_$s"
	pin_server "$s"
	verify_all "$s" "${PORT[$s]}"
done
# Re-pin once more: some servers start threads lazily on their first queries.
for s in "${SERVER_LIST[@]}"; do pin_server "$s"; done

log "warming up (1 s per server)"
declare -A RESP=()
for s in "${SERVER_LIST[@]}"; do
	dnsperf_run "${PORT[$s]}" 1 0 "$TMP/$s.warmup.txt"
	RESP[$s]=$DP_RESP
done
# The same answers should be the same bytes: a server that adds authority or additional
# records (NSD without minimal-responses) does more work per query than the others.
if [[ $(printf '%s\n' "${RESP[@]}" | sort -u | wc -l) -ne 1 ]]; then
	log "warning: the servers' responses differ in size (bytes:$(for s in "${SERVER_LIST[@]}"; do
		printf ' %s %s' "$s" "${RESP[$s]}"; done)); the comparison is not like for like"
fi

for ((r = 1; r <= ROUNDS; r++)); do
	check_idle
	for s in "${SERVER_LIST[@]}"; do measure "$s" "$r"; done
done

# Every server must still answer correctly after the load.
for s in "${SERVER_LIST[@]}"; do
	[[ $(dig_a "${PORT[$s]}" "$SAMPLE_NAME") == "$SAMPLE_ADDR" ]] || die "$s no longer answers $SAMPLE_NAME after the runs"
done

declare -A MQPS=() MCPU=() MCORE=() MSATUS=()
for s in "${SERVER_LIST[@]}"; do
	# shellcheck disable=SC2086 # word lists
	MQPS[$s]=$(median ${QPS[$s]})
	# shellcheck disable=SC2086
	MCPU[$s]=$(median ${CPUUS[$s]})
	# shellcheck disable=SC2086
	MCORE[$s]=$(median ${CORE[$s]})
	# shellcheck disable=SC2086
	MSATUS[$s]=$(median ${SATUS[$s]})
done

get() { local -n a=$1; echo "${a[$2]:-null}"; }
R_QPS_KNOT=$(ratio "$(get MQPS swarmdns)" "$(get MQPS knot)")
R_QPS_NSD=$(ratio "$(get MQPS swarmdns)" "$(get MQPS nsd)")
R_CPU_KNOT=$(ratio "$(get MCPU swarmdns)" "$(get MCPU knot)")
R_CPU_NSD=$(ratio "$(get MCPU swarmdns)" "$(get MCPU nsd)")

echo
printf 'DNS over UDP, %d names, median of %d round(s) x %d s; servers on core %s, dnsperf on core %s\n' \
	"$NAMES" "$ROUNDS" "$SECS" "$SERVER_CPU" "$CLIENT_CPU"
printf '%-10s %15s %12s %15s %20s\n' server "saturation q/s" "core busy" "CPU µs/q @sat" "CPU µs/q @$RATE q/s"
for s in "${SERVER_LIST[@]}"; do
	printf '%-10s %15.0f %11.0f%% %15.3f %20.3f\n' "$s" "${MQPS[$s]}" "${MCORE[$s]}" "${MSATUS[$s]}" "${MCPU[$s]}"
done
fmt() { [[ $1 == null ]] && echo n/a || echo "$1"; }
printf '%-16s %12s %16s\n' ratio "q/s" "CPU µs/query"
printf '%-16s %12s %16s\n' swarmdns/knot "$(fmt "$R_QPS_KNOT")" "$(fmt "$R_CPU_KNOT")"
printf '%-16s %12s %16s\n' swarmdns/nsd "$(fmt "$R_QPS_NSD")" "$(fmt "$R_CPU_NSD")"
echo "(q/s ratio > 1: swarmdns faster; CPU ratio < 1: swarmdns cheaper. A server core busy well" \
	"below 100% at saturation means dnsperf, not the server, was the limit.)"
if [[ $BUSY_WARNINGS -gt 0 || $DISTURBED -gt 0 ]]; then
	echo "WARNING: other processes were using the cores (before $BUSY_WARNINGS of $ROUNDS round(s)," \
		"during $DISTURBED of $((ROUNDS * 2 * ${#SERVER_LIST[@]})) runs); these figures are skewed:" \
		"run again on a quiet machine."
fi

# JSON
json_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
json_list() { local v out=; for v in "$@"; do out+="${out:+, }$v"; done; echo "[$out]"; }
mkdir -p "$(dirname "$OUT")"
{
	echo "{"
	echo "  \"benchmark\": \"dns-udp\","
	echo "  \"names\": $NAMES,"
	echo "  \"rounds\": $ROUNDS,"
	echo "  \"seconds\": $SECS,"
	echo "  \"fixed_rate_qps\": $RATE,"
	echo "  \"dnsperf\": $(json_str "-c 4 -T 1 -q 500 -t 2 -l $SECS"),"
	echo "  \"server_cpu\": $SERVER_CPU,"
	echo "  \"client_cpu\": $CLIENT_CPU,"
	echo "  \"date\": $(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)"),"
	echo "  \"busy_machine_warnings\": $BUSY_WARNINGS,"
	echo "  \"disturbed_runs\": $DISTURBED,"
	# shellcheck disable=SC2086
	echo "  \"foreign_pct_on_server_core\": $(json_list $FOREIGN_RUNS),"
	echo "  \"servers\": {"
	n=0
	for s in "${SERVER_LIST[@]}"; do
		n=$((n + 1))
		comma=,
		[[ $n -lt ${#SERVER_LIST[@]} ]] || comma=
		# shellcheck disable=SC2086
		cat <<EOF
    "$s": {
      "version": $(json_str "$(get VERSION "$s")"),
      "response_bytes": ${RESP[$s]},
      "qps_saturation": ${MQPS[$s]},
      "server_core_busy_pct_at_saturation": ${MCORE[$s]},
      "cpu_us_per_query_at_saturation": ${MSATUS[$s]},
      "cpu_us_per_query": ${MCPU[$s]},
      "rounds": {
        "qps_saturation": $(json_list ${QPS[$s]}),
        "server_core_busy_pct_at_saturation": $(json_list ${CORE[$s]}),
        "cpu_us_per_query_at_saturation": $(json_list ${SATUS[$s]}),
        "cpu_us_per_query": $(json_list ${CPUUS[$s]}),
        "loss_pct_at_fixed_rate": $(json_list ${LOSS[$s]})
      }
    }$comma
EOF
	done
	echo "  },"
	echo "  \"ratios\": {"
	echo "    \"swarmdns/knot\": {\"qps_saturation\": $R_QPS_KNOT, \"cpu_us_per_query\": $R_CPU_KNOT},"
	echo "    \"swarmdns/nsd\": {\"qps_saturation\": $R_QPS_NSD, \"cpu_us_per_query\": $R_CPU_NSD}"
	echo "  }"
	echo "}"
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
log "wrote $OUT"
