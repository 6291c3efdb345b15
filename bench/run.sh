#!/usr/bin/env bash
# swarmdns DNS benchmark: swarmdns against Knot DNS and NSD, same 1,000 names, same answers.
#
# For each server, pinned to one core while dnsperf runs on the other, it measures
#   a. queries per second at saturation (as dnsperf reports it), and
#   b. server CPU time per answered query at a fixed offered rate (default 50,000 q/s),
# in interleaved rounds (A B C A B C ...), and reports the median of each figure and the
# ratios swarmdns/knot and swarmdns/nsd. See bench/README.md for the method and the traps.
#
# --suite cache measures the resolver instead: a swarmdns node answering 1,000 key names of
# other owners from its verified cache (fetched once from a private DHT, `swarmdns testnet`)
# against Unbound answering the same names from its cache (fetched once from Knot DNS), and
# reports the ratio swarmdns/unbound.
#
# --suite multi measures serving on two cores: swarmdns `workers 2` against Knot DNS
# `udp-workers 2`, NSD `server-count 2` and Unbound `num-threads 2` (its cache filled from that
# Knot DNS), and swarmdns `workers 1`, all on the same two cores as dnsperf, and reports the
# ratios swarmdns/other (swarmdns/swarmdns1: workers 2 against workers 1).
set -Eeuo pipefail

# --suite tls (TCP, DNS over TLS and HTTPS against Unbound, Knot Resolver and dnsdist) is bench/tls.sh.
# --suite upstream-tls (forwarding over a DNS-over-TLS upstream, against Unbound) is bench/upstream.sh.
for _a in "$@"; do
	[[ ${_prev:-} == --suite && $_a == tls ]] && exec "$(dirname "${BASH_SOURCE[0]}")/tls.sh" "$@"
	[[ ${_prev:-} == --suite && $_a == upstream-tls ]] && exec "$(dirname "${BASH_SOURCE[0]}")/upstream.sh" "$@"
	_prev=$_a
done
unset _a _prev
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	cat <<'EOF'
Usage: bench/run.sh [options]

Benchmarks swarmdns against Knot DNS (knotd) and NSD over UDP on 127.0.0.1 with dnsperf.
Prints a table and writes it as JSON to bench/out/dns.json.

With --suite cache: a swarmdns node answering key names of other owners from its cache (the
zones published into a private DHT, swarmdns testnet, by their owners' nodes) against Unbound
answering the same names from its cache (filled once from Knot DNS); JSON to bench/out/cache.json.

With --suite multi: two cores for each server, shared with dnsperf: swarmdns `workers 2`
(swarmdns) and `workers 1` (swarmdns1), Knot DNS `udp-workers 2`, NSD `server-count 2`, Unbound
`num-threads 2` answering from its cache (filled from that Knot DNS); JSON to
bench/out/multi.json.

Options:
  --suite NAME       dns (default: authoritative answers, swarmdns vs knot, nsd),
                     cache (cached answers, swarmdns vs unbound) or
                     multi (two cores: swarmdns vs swarmdns1,knot,nsd,unbound; see above)
  --quick            3-second runs, 1 round (a smoke run; figures are noisy)
  --rounds N         interleaved rounds; the median is reported (default 3)
  --seconds N        length of each dnsperf run in seconds (default 10)
  --rate N           offered rate for the CPU-per-query figure, q/s (default 50000)
  --names N          number of names (keys) in the data set (default 1000)
  --servers LIST     comma-separated subset of swarmdns,knot,nsd (default: all three);
                     with --suite cache, of swarmdns,unbound (default: both); with
                     --suite multi, of swarmdns,swarmdns1,knot,nsd,unbound (default: all)
  --testnet-nodes N  --suite cache: DHT nodes of the private DHT (default 20)
  --publishers N     --suite cache: owner nodes (A1..AN) the zones are published to, each a
                     share (default 8). A DHT node takes 60 puts a minute from one sender:
                     through one node A, 1,000 zones into 20 DHT nodes take 6 to 9 minutes;
                     through 8, about 20 seconds
  --out FILE         JSON output (default bench/out/dns.json, or bench/out/cache.json)
  --keep             keep the temporary directory (configs, zones, logs) for inspection
  -h, --help         this help

Environment:
  SWARMDNS_BIN         swarmdns binary (default: <repo>/build/swarmdns; this script builds nothing)
  SWARMDNS_SERVE_ARGS  extra arguments appended to `swarmdns serve`
  BENCH_SERVER_CPU     core the servers are pinned to (default 1; --suite multi: 0-1)
  BENCH_CLIENT_CPU     core dnsperf is pinned to (default 0; --suite multi: 0-1)
  BENCH_TIME_LIMIT     seconds after which the whole run is stopped (default: from the options)
  BENCH_PUBLISH_JOBS   zones signed and PUT (published, --suite cache) to swarmdns at once
                       (default 4; --suite cache: 8)

Tools needed: dnsperf, knotd, nsd, dig, taskset, curl (scripts/install-deps.sh bench);
--suite cache: unbound and unbound-control instead of nsd; --suite multi: all of them.
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
SERVERS=
OUT=
SUITE=dns
TESTNET_NODES=20
PUBLISHERS=8
KEEP=0
SERVER_CPU=${BENCH_SERVER_CPU:-}
CLIENT_CPU=${BENCH_CLIENT_CPU:-}
PUBLISH_JOBS=${BENCH_PUBLISH_JOBS:-}
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
	--suite) need_arg "$@"; SUITE=$2; shift ;;
	--testnet-nodes) need_arg "$@"; TESTNET_NODES=$2; shift ;;
	--publishers) need_arg "$@"; PUBLISHERS=$2; shift ;;
	--out) need_arg "$@"; OUT=$2; shift ;;
	--keep) KEEP=1 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown option: $1" ;;
	esac
	shift
done

# Per suite: the servers measured (in the interleaving order of each round), the TTL of the
# records, the output file.
case $SUITE in
dns)
	ALL_SERVERS=(swarmdns knot nsd)
	TTL=3600
	: "${OUT:=$ROOT/bench/out/dns.json}"
	: "${PUBLISH_JOBS:=4}"
	;;
cache)
	ALL_SERVERS=(swarmdns unbound)
	# Cached answers live a day: nothing expires and nothing is refreshed during the run.
	TTL=86400
	: "${OUT:=$ROOT/bench/out/cache.json}"
	: "${PUBLISH_JOBS:=8}"
	;;
multi)
	ALL_SERVERS=(swarmdns swarmdns1 knot nsd unbound)
	TTL=3600
	: "${OUT:=$ROOT/bench/out/multi.json}"
	: "${PUBLISH_JOBS:=4}"
	;;
*) die "unknown suite '$SUITE' (dns, cache, multi, tls, upstream-tls)" ;;
esac
# Workers of each server, and where the servers and dnsperf run: one worker on core 1 and
# dnsperf on core 0, or (multi) two workers and dnsperf with two threads on the same two cores.
if [[ $SUITE == multi ]]; then
	WORKERS=2
	: "${SERVER_CPU:=0-1}" "${CLIENT_CPU:=0-1}"
	DNSPERF_OPTS=(-c 8 -T 2 -q 1000 -t 2)
else
	WORKERS=1
	: "${SERVER_CPU:=1}" "${CLIENT_CPU:=0}"
	DNSPERF_OPTS=(-c 4 -T 1 -q 500 -t 2)
fi
SERVERS=${SERVERS:-$(IFS=,; echo "${ALL_SERVERS[*]}")}

for v in ROUNDS SECS RATE NAMES PUBLISH_JOBS TESTNET_NODES PUBLISHERS; do
	if ! is_uint "${!v}" || [[ ${!v} -eq 0 ]]; then die "$v must be a positive integer, got '${!v}'"; fi
done
[[ $NAMES -le 60000 ]] || die "--names is limited to 60000 (addresses are 198.18.x.y from the index)"

# The order here is the interleaving order of each round.
SERVER_LIST=()
IFS=, read -r -a _req <<<"$SERVERS"
for s in "${ALL_SERVERS[@]}"; do
	for r in "${_req[@]}"; do [[ $r == "$s" ]] && SERVER_LIST+=("$s"); done
done
for r in "${_req[@]}"; do
	[[ " ${ALL_SERVERS[*]} " == *" $r "* ]] ||
		die "unknown server '$r' in --servers for suite $SUITE (${ALL_SERVERS[*]})"
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
if has_server unbound; then
	need_tool unbound unbound
	need_tool unbound-control unbound
	need_tool knotd knot # the authoritative server Unbound fills its cache from
fi
if [[ ${#missing[@]} -gt 0 ]]; then
	for m in "${missing[@]}"; do log "missing tool: $m"; done
	die "scripts/install-deps.sh bench installs them"
fi
if has_server swarmdns || has_server swarmdns1; then
	[[ -x $BIN ]] || die "swarmdns binary not found at $BIN: run 'make' first, or set SWARMDNS_BIN"
fi
ncpu=$(getconf _NPROCESSORS_ONLN)
# The cores of SERVER_CPU and CLIENT_CPU (taskset's lists: 1, 0-1, 0,2), as cpuN.
CORES=$(cpu_names "$SERVER_CPU,$CLIENT_CPU")
for c in $CORES; do
	[[ ${c#cpu} -lt $ncpu ]] ||
		die "needs cores $CLIENT_CPU (dnsperf) and $SERVER_CPU (servers); this machine has $ncpu"
done
if [[ $SUITE == multi ]]; then
	[[ $(cpu_names "$SERVER_CPU" | wc -w) -eq $WORKERS ]] ||
		log "warning: $WORKERS workers per server on cores $SERVER_CPU"
elif [[ $SERVER_CPU == "$CLIENT_CPU" ]]; then
	log "warning: servers and dnsperf share core $SERVER_CPU"
fi
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------------------------------------
# Time bound, processes, cleanup

# Every step is bounded on its own (timeouts on each command, bounded readiness loops); the
# watchdog bounds the whole run in case something still hangs.
LIMIT=${BENCH_TIME_LIMIT:-$((600 + NAMES / 5 + (ROUNDS + 1) * ${#SERVER_LIST[@]} * 2 * (SECS + 20)))}
# The cache suite also starts a DHT, publishes into it and fills two caches (with a pass to
# check them) before it measures.
# Publishing is bound by the DHT's put limit (60 a minute per sender and node): about
# 60 × nodes / 8 zones a minute per owner node.
if [[ $SUITE == cache && -z ${BENCH_TIME_LIMIT:-} ]]; then
	LIMIT=$((LIMIT + 300 + NAMES / 5 + 120 * (NAMES * 8 / (60 * TESTNET_NODES * PUBLISHERS) + 2)))
fi
is_uint "$LIMIT" || die "BENCH_TIME_LIMIT must be a number of seconds"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/swarmdns-bench.XXXXXX")
declare -A PID=() LOGF=() # server -> pid, log file
WATCHDOG=
JOB=

bench_guard

# Random ports below the kernel's ephemeral range (where outgoing connections and dnsperf's
# sockets take theirs), not used by any socket in any state.
pick_port_range() { # VAR N: N consecutive free ports, the first in VAR
	local p i j ok
	for ((i = 0; i < 200; i++)); do
		p=$((10000 + RANDOM % (EPH_LOW - 10000 - $2)))
		ok=1
		for ((j = 0; j < $2; j++)); do port_free $((p + j)) || { ok=; break; }; done
		if [[ -n $ok ]]; then
			for ((j = 0; j < $2; j++)); do USED_PORT[$((p + j))]=1; done
			printf -v "$1" '%s' "$p"
			return 0
		fi
	done
	die "no $2 consecutive free ports found"
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
	ADDR="198.18.$(($1 / 250 + 1)).$(($1 % 250 + 1))"
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
	echo "$n $TTL $a" >>"$D/expected"
	echo "$n $TTL IN A $a" >>"$D/root.zone"
	if [[ $WITH_SWARMDNS == 1 ]]; then
		if [[ $SUITE == cache ]]; then
			echo "www $TTL IN A $a" >"$D/k$i.zone" # as an owner writes it: relative to the key
		else
			echo "$n $TTL IN A $a" >"$D/k$i.zone"
		fi
	fi
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
			[[ $(cpu_names "$aff") == "$(cpu_names "$SERVER_CPU")" ]] || bad+=" ${t##*/} ($aff)"
		done
	done
	[[ -z $bad ]] || die "$1: threads$bad are not pinned to core $SERVER_CPU"
}

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
# nothing else, so that all servers are measured on the same answers. A cache counts the TTL
# down: in the cache suite a TTL between TTL_LOW and TTL is right. swarmdns keeps a zone of
# another key for its own lifetime (the SOA's, min-ttl at least) and gives a cached answer the
# seconds that entry has left, so its TTLs count down from there, not from the record's TTL.
# In the multi suite only Unbound is a cache.
is_cache() { [[ $SUITE == cache || ($SUITE == multi && $1 == unbound) ]]; }
answer_lines() { awk -v lo="$TTL_LOW" -v hi="$TTL" '$4 == "A" { t = $2; if (t >= lo && t <= hi) t = hi; print $1, t, $5 }'; }
verify_all() { # server port
	local got=$TMP/$1.answers TTL_LOW=$TTL
	is_cache "$1" && TTL_LOW=1
	run_job --to "$got.raw" timeout 120 dig @127.0.0.1 -p "$2" +time=2 +tries=2 +noall +answer -f "$D/queries" || true
	answer_lines <"$got.raw" | sort >"$got"
	# A UDP query lost twice is not a wrong answer: ask the few missing names once more.
	local missing n
	missing=$(comm -23 "$D/expected.sorted" "$got" | awk '{ print $1 }')
	if [[ -n $missing && $(wc -l <<<"$missing") -le 20 ]]; then
		for n in $missing; do
			timeout 10 dig @127.0.0.1 -p "$2" +time=2 +tries=3 +noall +answer "$n" A 2>/dev/null |
				answer_lines >>"$got" || true
		done
		sort -u -o "$got" "$got"
		log "$1: asked $(wc -l <<<"$missing") unanswered name(s) again"
	fi
	if ! cmp -s "$got" "$D/expected.sorted"; then
		log "$1: answers differ from the data set (< expected, > $1):"
		diff "$D/expected.sorted" "$got" | head -n 10 >&2 || true
		# What the server says about the first few names it did not answer right.
		for n in $(comm -23 "$D/expected.sorted" "$got" | awk 'NR <= 3 { print $1 }'); do
			log "$1: dig $n A:"
			timeout 10 dig @127.0.0.1 -p "$2" +time=2 +tries=1 "$n" A 2>&1 | grep -v '^;; \(Query time\|SERVER\|WHEN\|MSG SIZE\)\|^$' >&2 || true
			[[ $SUITE == cache && $1 == swarmdns ]] && swarmdns_evidence "$n"
		done
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
    udp-workers: $WORKERS
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
	taskset -c "${KNOT_CPU:-$SERVER_CPU}" knotd -c "$dir/knot.conf" >"$dir/knot.log" 2>&1 &
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
    server-count: $WORKERS
    reuseport: $([[ $WORKERS -gt 1 ]] && echo yes || echo no)
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

# Starts `swarmdns serve` on core CPU with its data in DIR/data and waits for its API.
launch_swarmdns() { # key dir cpu dns-port api-port extra-args...
	local key=$1 dir=$2 cpu=$3 port=$4 api=$5 i
	shift 5
	mkdir -p "$dir/data"
	local args=(--data-dir "$dir/data" --listen-dns "127.0.0.1:$port" --listen-api "127.0.0.1:$api")
	# dnsperf asks from one address, 100,000s of times a second: response-rate limiting would
	# answer a fraction of it. The peers run without RRL too (their defaults).
	# Node B of the cache suite starts its 1,000 lookups from one address too (lookup-rate).
	local help
	help=$(output_of "$BIN" serve --help)
	[[ $help == *--rrl-rate* ]] && args+=(--rrl-rate 0)
	[[ $help == *--lookup-rate* ]] && args+=(--lookup-rate 0)
	args+=("$@")
	echo "$BIN serve ${args[*]}" >"$dir/command"
	taskset -c "$cpu" "$BIN" serve "${args[@]}" >"$dir/swarmdns.log" 2>&1 &
	PID[$key]=$!
	PORT[$key]=$port
	LOGF[$key]=$dir/swarmdns.log
	for ((i = 0; i < 100; i++)); do
		proc_alive "${PID[$key]}" || die "swarmdns serve ($key) exited at start; its log:
$(tail -n 20 "$dir/swarmdns.log")"
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$api/v1/status" && break
		sleep 0.2
	done
	[[ $i -lt 100 ]] || die "swarmdns API ($key) on 127.0.0.1:$api not ready after 20 s"
}

# Starts the measured nodes (swarmdns; in the multi suite also swarmdns1, with one worker) and
# gives each the NAMES zones.
start_swarmdns() {
	[[ $SUITE == cache ]] && { start_swarmdns_cache; return; }
	[[ -n ${PID[swarmdns]:-} ]] && return 0
	local key keys=() apis=() port api wargs
	# A node of its own: its DHT socket on loopback and no bootstrap into the public DHT (no
	# internet here, and background DHT work would be counted against the DNS figures).
	local args=()
	local help
	help=$(output_of "$BIN" serve --help)
	[[ $help == *--dht-listen* ]] && args+=(--dht-listen 127.0.0.1:0)
	[[ $help == *--bootstrap* ]] && args+=(--bootstrap none)
	# shellcheck disable=SC2206 # SWARMDNS_SERVE_ARGS is a list of words
	args+=(${SWARMDNS_SERVE_ARGS:-})
	for key in swarmdns swarmdns1; do
		has_server "$key" || continue
		pick_port port
		pick_port api
		# As many serving threads as the other servers have workers (swarmdns's default is one
		# per core).
		wargs=()
		[[ $help == *--workers* ]] && wargs=(--workers "$(sw_workers "$key")")
		launch_swarmdns "$key" "$TMP/$key" "$SERVER_CPU" "$port" "$api" "${wargs[@]}" "${args[@]}"
		[[ $key == swarmdns ]] && SW_PORT=$port SW_API=$api
		keys+=("$key")
		apis+=("$api")
	done

	# Sign each zone and PUT it to the relay interface, in parallel.
	log "publishing $NAMES zones to ${keys[*]} (sign + PUT /<z32>, $PUBLISH_JOBS at a time)"
	cat >"$TMP/publish1.sh" <<'EOF'
#!/bin/sh
# publish1.sh BIN DATADIR INDEX API...: signs zone INDEX once and PUTs it to every API.
bin=$1 d=$2 i=$3
shift 3
name=$(sed -n 's/^www\.\([^.]*\)\..*/\1/p' "$d/k$i.zone")
if ! "$bin" sign -k "$d/k$i.key" -o "$d/k$i.body" "$d/k$i.zone" >"$d/k$i.err" 2>&1; then
	echo "k$i: swarmdns sign failed: $(head -c 300 "$d/k$i.err")" >&2
	exit 255
fi
for api in "$@"; do
	code=$(curl -s -o "$d/k$i.resp" -w '%{http_code}' --max-time 10 -X PUT \
		--data-binary @"$d/k$i.body" "http://127.0.0.1:$api/$name")
	case $code in
	2??) ;;
	*) echo "k$i: PUT /$name to :$api answered HTTP $code: $(head -c 300 "$d/k$i.resp" 2>/dev/null)" >&2; exit 255 ;;
	esac
done
EOF
	if ! run_job timeout 600 xargs -a "$D/indices" -P "$PUBLISH_JOBS" -I{} sh "$TMP/publish1.sh" "$BIN" "$D" {} "${apis[@]}"; then
		for key in "${keys[@]}"; do
			proc_alive "${PID[$key]}" || die "swarmdns serve ($key) died while the zones were published; its log:
$(tail -n 20 "${LOGF[$key]}")"
		done
		die "publishing the zones to swarmdns failed"
	fi
	for key in "${keys[@]}"; do
		wait_answer "$key" "${PORT[$key]}" "${LOGF[$key]}"
		VERSION[$key]="$(first_line "$BIN" --version) (workers $(sw_workers "$key"))"
	done
}
start_swarmdns1() { [[ -n ${PID[swarmdns1]:-} ]] || start_swarmdns; }

# The workers of a measured swarmdns node: `swarmdns` WORKERS of them, `swarmdns1` one.
sw_workers() { [[ $1 == swarmdns1 ]] && echo 1 || echo "$WORKERS"; }

# --- The cache suite ------------------------------------------------------------------------
# swarmdns: a private DHT (swarmdns testnet), owner nodes ("node A": PID[publisher1..N], each
# owning a share of the zones) that put the zones into the DHT, and the measured node (node B,
# PID[swarmdns]) that owns none and answers them from the DHT the first time and from its
# verified cache afterwards.
# Unbound: it fills its cache from Knot DNS (the same root zone as the dns suite), then answers
# from the cache alone. The helpers (the DHT, the owner nodes, Knot DNS) run on dnsperf's core:
# they are idle during the measurement, and their CPU time is recorded to show it.

# Re-pins every thread of a helper to the client core.
pin_helper() { # key
	local p
	for p in $(proc_tree "${PID[$1]}"); do
		taskset -a -p -c "$CLIENT_CPU" "$p" >/dev/null 2>&1 || true
	done
}

# A figure of a swarmdns node's /v1/status, as section.key (queries.udp, cache.dht_lookups,
# answers_by_source.cache, dht.good_nodes, ...). Prints "section.key value" lines.
sw_status() { # api-port
	curl -s --max-time 2 "http://127.0.0.1:$1/v1/status" 2>/dev/null | awk '
		/^  "[a-z_]+": \{/ { sec = $1; gsub(/[":]/, "", sec); next }
		/^  \}/ { sec = ""; next }
		/^ +"[a-z_]+": [0-9]+,?$/ { k = $1; gsub(/[":]/, "", k); v = $2; sub(/,$/, "", v); print (sec == "" ? "" : sec ".") k, v }' || true
}
sw_get() { # api-port key... -> the values, one line, 0 for a missing one
	local st k
	st=$(sw_status "$1")
	shift
	for k in "$@"; do awk -v k="$k" '$1 == k { v = $2 } END { printf "%s ", v + 0 }' <<<"$st"; done
	echo
}

# Before each publishing pass: every owner node must know good DHT nodes, or its puts reach
# none ("0 of 0 DHT nodes asked"). Waits up to 3 minutes and says how long it took.
publishers_ready() {
	local p i g rt
	for ((p = 1; p <= PUBLISHERS; p++)); do
		for ((i = 0; i < 180; i++)); do
			read -r g rt <<<"$(sw_get "${PUB_API[$((p - 1))]}" dht.good_nodes dht.routing_table)"
			[[ $g -gt 0 ]] && break
			[[ $i -eq 0 ]] && log "warning: node A$p knows no good DHT node (routing table: $rt nodes): waiting"
			sleep 1
		done
		if [[ $i -gt 0 ]]; then
			PUBLISHER_STALLS=$((PUBLISHER_STALLS + i))
			log "node A$p: $g good DHT nodes after ${i}s"
		fi
	done
}

# What node B, node A and the DHT say about a name node B did not answer right: B's audit trail
# (swarmdns resolve), a DHT lookup of the zone from B and from A (swarmdns dht get), and how
# many DHT nodes A's publishing reported.
swarmdns_evidence() { # name
	local z=${1#www.} i
	z=${z%.}
	i=$(grep -n -x "$z" "$D/names" | cut -d: -f1)
	i=$((i - 1))
	log "swarmdns: evidence for $1 (zone k$i, published: $(grep -h "^$i " "$D"/stored.pass* 2>/dev/null |
		awk '{ printf "%s%s of %s", (NR > 1 ? ", then " : ""), $2, $3 }') DHT nodes):"
	{
		echo "--- swarmdns resolve through node B"
		timeout 20 "$BIN" resolve --api "http://127.0.0.1:$SW_API" "$1" A 2>&1 || true
		echo "--- swarmdns dht get through node B"
		timeout 20 "$BIN" dht get --api "http://127.0.0.1:$SW_API" "$z" 2>&1 || true
		echo "--- swarmdns dht get through node A"
		timeout 20 "$BIN" dht get --api "http://127.0.0.1:${PUB_API[$((i % PUBLISHERS))]}" "$z" 2>&1 || true
		echo "--- node B's status: $(sw_status "$SW_API" | grep -E '^(cache|dht|answers_by_source)\.' | tr '\n' ' ')"
	} | tee -a "$TMP/swarmdns-evidence.txt" | sed 's/^/    /' >&2
}

start_swarmdns_cache() {
	local dir=$TMP/swarmdns i line
	# 1. A private DHT on loopback.
	mkdir -p "$TMP/testnet"
	pick_port_range TN_PORT "$TESTNET_NODES"
	log "starting a private DHT: swarmdns testnet -n $TESTNET_NODES on 127.0.0.1:$TN_PORT-$((TN_PORT + TESTNET_NODES - 1))"
	taskset -c "$CLIENT_CPU" "$BIN" testnet -n "$TESTNET_NODES" --base-port "$TN_PORT" \
		>"$TMP/testnet/testnet.out" 2>"$TMP/testnet/testnet.err" &
	PID[testnet]=$!
	LOGF[testnet]=$TMP/testnet/testnet.err
	for ((i = 0; i < 200; i++)); do
		grep -q 'testnet: ready' "$TMP/testnet/testnet.out" 2>/dev/null && break
		proc_alive "${PID[testnet]}" || die "swarmdns testnet exited at start:
$(tail -n 20 "$TMP/testnet/testnet.out" "$TMP/testnet/testnet.err")"
		sleep 0.1
	done
	[[ $i -lt 200 ]] || die "swarmdns testnet not ready after 20 s: $(tail -n 5 "$TMP/testnet/testnet.out")"
	TESTNET_READY=$(grep -m1 'testnet: ready' "$TMP/testnet/testnet.out")
	log "$TESTNET_READY"
	local join=(--dht-listen 127.0.0.1:0 --bootstrap "127.0.0.1:$TN_PORT" --dht-rate-limit 1000000 --upstream none)

	# 2. Node A, the zones' owner (with --publishers N: N owner nodes A1..AN, each with a share of
	# the zones), and node B, the measured one, which owns none. All in that DHT.
	local p ga gb
	PUB_API=()
	for ((p = 1; p <= PUBLISHERS; p++)); do
		pick_port A_PORT
		pick_port A_API
		PUB_API+=("$A_API")
		launch_swarmdns "publisher$p" "$TMP/publisher$p" "$CLIENT_CPU" "$A_PORT" "$A_API" "${join[@]}"
	done
	pick_port SW_PORT
	pick_port SW_API
	# shellcheck disable=SC2206 # SWARMDNS_SERVE_ARGS is a list of words
	local serve_args=(${SWARMDNS_SERVE_ARGS:-})
	[[ $(output_of "$BIN" serve --help) == *--workers* ]] && serve_args=(--workers 1 "${serve_args[@]}")
	launch_swarmdns swarmdns "$dir" "$SERVER_CPU" "$SW_PORT" "$SW_API" "${join[@]}" "${serve_args[@]}"
	# Each must know the DHT before anything is published or looked up.
	local want=$((TESTNET_NODES / 2 < 8 ? TESTNET_NODES / 2 : 8))
	for ((i = 0; i < 100; i++)); do
		ga=$(sw_get "${PUB_API[$((PUBLISHERS - 1))]}" dht.good_nodes)
		gb=$(sw_get "$SW_API" dht.good_nodes)
		[[ ${ga% } -ge $want && ${gb% } -ge $want ]] && break
		sleep 0.2
	done
	[[ $i -lt 100 ]] || die "the nodes did not join the DHT in 20 s (good nodes: A ${ga% }, B ${gb% }; want $want)"
	log "nodes A and B joined the DHT (good nodes: A ${ga% }, B ${gb% })"

	# 3. Publish every zone to its owner node, which stores it and puts it into the DHT. A DHT
	# node accepts 60 puts a minute from one sender (docs/design.md §4; on loopback a sender is
	# an address and port), so the first pass stores about 60 × nodes / 8 zones per owner node and
	# the rest are refused ("by 0 of 8"): the zones stored by fewer than half of the nodes asked
	# are published again (a new seq) once the limits have refilled, pass after pass.
	cat >"$TMP/publish-dht.sh" <<'EOF'
#!/bin/sh
# publish-dht.sh BIN DATADIR INDEX API...: publishes zone INDEX to API number INDEX % count.
bin=$1 d=$2 i=$3
shift 3
n=$#
shift $((i % n))
api=$1
if ! "$bin" publish -k "$d/k$i.key" --api "http://127.0.0.1:$api" "$d/k$i.zone" >"$d/k$i.pub" 2>&1; then
	echo "k$i: swarmdns publish failed: $(tail -c 300 "$d/k$i.pub")" >&2
	exit 255
fi
EOF
	local pending=$D/indices pass wait_s t_pub=$SECONDS
	PUBLISH_PASSES=0
	PUBLISHER_STALLS=0
	for ((pass = 1; pass <= 40; pass++)); do
		publishers_ready
		log "publishing $(wc -l <"$pending") zone(s) to node A$([[ $PUBLISHERS -gt 1 ]] && echo "1..A$PUBLISHERS")" \
			"(swarmdns publish, $PUBLISH_JOBS at a time; pass $pass)"
		if ! run_job timeout 900 xargs -a "$pending" -P "$PUBLISH_JOBS" -I{} sh "$TMP/publish-dht.sh" "$BIN" "$D" {} "${PUB_API[@]}"; then
			for ((p = 1; p <= PUBLISHERS; p++)); do
				proc_alive "${PID[publisher$p]}" || die "node A$p died while the zones were published; its log:
$(tail -n 20 "${LOGF[publisher$p]}")"
			done
			die "publishing the zones to node A failed"
		fi
		PUBLISH_PASSES=$pass
		# Each reports "... and by N of M DHT nodes asked".
		while read -r i; do
			line=$(grep -o 'by [0-9]* of [0-9]* DHT nodes' "$D/k$i.pub" || true)
			[[ -n $line ]] || die "swarmdns publish of k$i did not say how many DHT nodes stored it: $(tail -c 300 "$D/k$i.pub")"
			echo "$i $(awk '{ print $2, $4 }' <<<"$line")"
		done <"$pending" >"$D/stored.pass$pass"
		awk '2 * $2 < $3 || $3 == 0 { print $1 }' "$D/stored.pass$pass" >"$D/pending.$pass"
		pending=$D/pending.$pass
		[[ -s $pending ]] || break
		# Wait until the busiest DHT node accepts the next pass's puts again (a token a second).
		wait_s=$(awk -v z="$(wc -l <"$pending")" -v p="$PUBLISHERS" -v n="$TESTNET_NODES" \
			'BEGIN { w = 5 + int(1.5 * z * 8 / (p * (n + 1))); print (w > 61 ? 61 : w) }')
		log "$(wc -l <"$pending") zone(s) stored by fewer than half of the DHT nodes asked: again in ${wait_s}s"
		sleep "$wait_s"
	done
	[[ ! -s $pending ]] || log "warning: $(wc -l <"$pending") zone(s) still stored by fewer than half of the DHT nodes asked after $PUBLISH_PASSES passes"
	# The last pass of each zone counts.
	cat "$D"/stored.pass* | awk '{ n[$1] = $2 } END { for (i in n) print n[i] }' >"$D/stored"
	PUBLISH_STORED=$(awk '{ t += $1; if (NR == 1 || $1 < lo) lo = $1; if ($1 > hi) hi = $1; if ($1 == 0) z++ }
		END { printf "%d %.1f %d %d", lo, t / NR, hi, z }' "$D/stored")
	read -r ST_MIN ST_AVG ST_MAX ST_ZERO <<<"$PUBLISH_STORED"
	PUBLISH_SECS=$((SECONDS - t_pub))
	log "published $NAMES zones in ${PUBLISH_SECS}s ($PUBLISH_PASSES pass(es)): stored by $ST_MIN to $ST_MAX" \
		"DHT nodes (average $ST_AVG); by none: $ST_ZERO"
	[[ $ST_ZERO -eq 0 ]] || log "warning: $ST_ZERO zone(s) were stored by no DHT node"

	# 4. Node B answers from the DHT (the first time).
	wait_answer swarmdns "$SW_PORT" "${LOGF[swarmdns]}"
	VERSION[swarmdns]=$(first_line "$BIN" --version)
}

start_unbound() {
	# The authoritative server Unbound fills its cache from, on the client core (in the multi
	# suite: the measured Knot DNS, idle while Unbound is measured).
	if [[ -z ${PID[knot]:-} ]]; then
		KNOT_CPU=$CLIENT_CPU start_knot
		pin_helper knot
	fi
	local dir=$TMP/unbound
	mkdir -p "$dir"
	pick_port UB_PORT
	cat >"$dir/unbound.conf" <<EOF
server:
    interface: 127.0.0.1@$UB_PORT
    port: $UB_PORT
    do-ip4: yes
    do-udp: yes
    do-tcp: yes
$(unbound_base_conf "$dir" | sed "s/num-threads: 1/num-threads: $WORKERS/")
    # The stub is Knot DNS on 127.0.0.1.
    do-not-query-localhost: no
    # A plain cache: no DNSSEC validation (swarmdns does its own verification of signed
    # zones before it caches them), no prefetching, no minimisation.
    module-config: "iterator"
    qname-minimisation: no
    prefetch: no
    prefetch-key: no
    serve-expired: no
    minimal-responses: yes
    harden-glue: yes
    harden-dnssec-stripped: no
    harden-below-nxdomain: no
    harden-referral-path: no
    harden-algo-downgrade: no
    aggressive-nsec: no
    msg-cache-size: 128m
    rrset-cache-size: 256m
    key-cache-size: 1m
    neg-cache-size: 1m
    cache-max-ttl: 86400
    statistics-interval: 0
    extended-statistics: no
    statistics-cumulative: yes
    ratelimit: 0
    ip-ratelimit: 0
    local-zone: "test." nodefault
stub-zone:
    name: "."
    stub-addr: 127.0.0.1@$KNOT_PORT
remote-control:
    control-enable: yes
    control-interface: "$dir/control.sock"
    control-use-cert: no
EOF
	UB_CONF=$dir/unbound.conf
	unbound-checkconf "$UB_CONF" >"$dir/checkconf.out" 2>&1 || die "unbound-checkconf: $(tail -n 5 "$dir/checkconf.out")"
	taskset -c "$SERVER_CPU" unbound -d -c "$UB_CONF" >"$dir/unbound.log" 2>&1 &
	PID[unbound]=$!
	PORT[unbound]=$UB_PORT
	LOGF[unbound]=$dir/unbound.log
	wait_answer unbound "$UB_PORT" "$dir/unbound.log"
	VERSION[unbound]="unbound $(first_line unbound -V | sed 's/^Version //')"
}

ub_stats() { # key... -> values of unbound-control stats_noreset (total.num.cachehits, ...)
	local st k
	st=$(timeout 10 unbound-control -c "$UB_CONF" stats_noreset 2>/dev/null || true)
	for k in "$@"; do awk -F= -v k="$k" '$1 == k { v = $2 } END { printf "%s ", v + 0 }' <<<"$st"; done
	echo
}

# Where the answers of a measured server come from. Sets CC_HIT (answers from the cache),
# CC_MISS (questions the cache did not answer), CC_UP (work that went beyond the server:
# swarmdns DHT lookups; for Unbound the CPU ticks of its authoritative server) and
# CC_HELPER (CPU ticks of the helpers: the DHT and node A; Knot DNS).
cache_counters() { # server
	local v
	case $1 in
	swarmdns)
		v=$(sw_get "$SW_API" answers_by_source.cache cache.misses cache.dht_lookups)
		read -r CC_HIT CC_MISS CC_UP <<<"$v"
		CC_HELPER=$(cpu_ticks "${PID[testnet]}")
		for ((v = 1; v <= PUBLISHERS; v++)); do CC_HELPER=$((CC_HELPER + $(cpu_ticks "${PID[publisher$v]}"))); done
		;;
	unbound)
		v=$(ub_stats total.num.cachehits total.num.cachemiss)
		read -r CC_HIT CC_MISS <<<"$v"
		CC_UP=$(cpu_ticks "${PID[knot]}")
		CC_HELPER=$CC_UP
		;;
	esac
}

# A second pass over all names, which the cache alone must answer: every answer from the cache,
# no miss, nothing asked upstream (the DHT; Knot DNS).
verify_cached() { # server
	local h0 m0 u0
	cache_counters "$1"
	h0=$CC_HIT m0=$CC_MISS u0=$CC_UP
	verify_all "$1" "${PORT[$1]}"
	cache_counters "$1"
	local dh=$((CC_HIT - h0)) dm=$((CC_MISS - m0)) du=$((CC_UP - u0))
	WARM_CHECK[$1]="$dh $dm $du"
	if [[ $dh -ge $NAMES && $dm -eq 0 && $du -le $(upstream_tolerance "$1") ]]; then
		log "$1: second pass answered from the cache alone ($dh cache answers, 0 misses, $(upstream_word "$1") 0)"
	else
		CACHE_WARNINGS=$((CACHE_WARNINGS + 1))
		log "warning: $1: second pass not from the cache alone: $dh cache answers for $NAMES names," \
			"$dm misses, $(upstream_word "$1") $du"
	fi
}
upstream_word() { [[ $1 == swarmdns ]] && echo "DHT lookups" || echo "Knot DNS CPU ticks"; }
# No DHT lookup at all; knotd's own timers take a clock tick (10 ms) now and then while it is
# idle, where answering Unbound's misses at these rates would take hundreds.
upstream_tolerance() { [[ $1 == swarmdns ]] && echo 0 || echo 2; }

# Around each server's two runs of a round: the answers must all come from the cache, and the
# upstream (DHT, Knot DNS) must stay idle.
CACHE_WARNINGS=0
declare -A WARM_CHECK=() EV_ANS=() EV_HIT=() EV_MISS=() EV_UP=() EV_HELPER=()
cache_before() { # server
	cache_counters "$1"
	CB_HIT=$CC_HIT CB_MISS=$CC_MISS CB_UP=$CC_UP CB_HELPER=$CC_HELPER
}
cache_after() { # server round answered
	cache_counters "$1"
	local dh=$((CC_HIT - CB_HIT)) dm=$((CC_MISS - CB_MISS)) du=$((CC_UP - CB_UP)) dx=$((CC_HELPER - CB_HELPER))
	EV_ANS[$1]=$((${EV_ANS[$1]:-0} + $3))
	EV_HIT[$1]=$((${EV_HIT[$1]:-0} + dh))
	EV_MISS[$1]=$((${EV_MISS[$1]:-0} + dm))
	EV_UP[$1]=$((${EV_UP[$1]:-0} + du))
	EV_HELPER[$1]=$((${EV_HELPER[$1]:-0} + dx))
	log "round $2 $1: $3 answers seen by dnsperf, $dh answered from the cache, $dm misses," \
		"$(upstream_word "$1") $du, helpers' CPU $((dx * 1000 / CLK_TCK)) ms"
	if [[ $dm -ne 0 || $du -gt $(upstream_tolerance "$1") || $dh -lt $3 ]]; then
		CACHE_WARNINGS=$((CACHE_WARNINGS + 1))
		log "warning: $1 did not answer from its cache alone in round $2"
	fi
}

# ---------------------------------------------------------------------------------------------
# Measurements

# Sum of utime+stime, in clock ticks, of every process of a server (each process's figure
# covers all its threads, including threads that have exited).

# CPU time of this shell's waited-for children and theirs (getrusage(2) RUSAGE_CHILDREN, as
# the builtin `times` reports it), in clock ticks, in VAR. Not in $(...): a subshell has
# children of its own.
children_ticks() { # VAR
	times >"$TMP/times"
	printf -v "$1" '%s' "$(awk -v hz="$CLK_TCK" 'NR == 2 { split($1, u, /[ms]/); split($2, y, /[ms]/)
		printf "%d", (u[1] * 60 + u[2] + y[1] * 60 + y[2]) * hz }' "$TMP/times")"
}

# dnsperf pinned to the other core (multi suite: two threads on the servers' cores). Sets
# DP_QPS, DP_DONE, DP_SENT, DP_RUNTIME, DP_RESP (the average response size) and DP_TICKS
# (dnsperf's own CPU time where it shares the servers' cores, else 0). -t 2: queries still
# unanswered 2 s after the end are lost (the default of 5 s only makes every run wait longer).
dnsperf_run() { # port seconds rate(0 = unlimited) outfile
	local args=(-s 127.0.0.1 -p "$1" -d "$D/queries" -l "$2" "${DNSPERF_OPTS[@]}") res k0 k1
	[[ $3 -gt 0 ]] && args+=(-Q "$3")
	children_ticks k0
	run_job --to "$4" timeout $(($2 + 30)) taskset -c "$CLIENT_CPU" dnsperf "${args[@]}" ||
		die "dnsperf failed: $(tail -n 5 "$4")"
	children_ticks k1
	DP_TICKS=0
	[[ $SUITE == multi ]] && DP_TICKS=$((k1 - k0))
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

# The share of the server core that went to something other than the server during a run
# (another process is skewing the figures; a few percent are the kernel's own work and the
# difference between /proc/stat's and the processes' accounting). Sets FOREIGN (percent).
FOREIGN_RUNS=
DISTURBED=0
# In the multi suite the cores are dnsperf's too: its CPU time counts with the server's.
foreign_share() { # core_before core_after server_ticks
	FOREIGN=$(awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { split(a, x, " "); split(b, y, " ")
		dt = y[2] - x[2]; f = dt > 0 ? 100 * ((y[1] - x[1]) - t) / dt : 0
		printf "%.1f", f < 0 ? 0 : f }')
	FOREIGN_RUNS+="$FOREIGN "
	if awk -v f="$FOREIGN" 'BEGIN { exit !(f > 25) }'; then
		DISTURBED=$((DISTURBED + 1))
		log "warning: during this run ${FOREIGN}% of cores $SERVER_CPU went to other processes:" \
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
	local s=$1 r=$2 pid=${PID[$1]} port=${PORT[$1]} t0 t1 c0 c1 sat us fsat dsat
	is_cache "$s" && cache_before "$s"
	# a. saturation
	c0=$(core_ticks)
	t0=$(cpu_ticks "$pid")
	dnsperf_run "$port" "$SECS" 0 "$TMP/$s.r$r.sat.txt"
	t1=$(cpu_ticks "$pid")
	c1=$(core_ticks)
	foreign_share "$c0" "$c1" $((t1 - t0 + DP_TICKS))
	fsat=$FOREIGN
	proc_alive "$pid" || server_failed "$s" "died during the saturation run" "$TMP/$s.r$r.sat.txt"
	[[ $DP_DONE -gt 0 ]] || server_failed "$s" "answered no query at saturation" "$TMP/$s.r$r.sat.txt"
	sat=$DP_QPS
	dsat=$DP_DONE
	QPS[$s]+="$sat "
	CORE[$s]+="$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v rt="$DP_RUNTIME" 'BEGIN { printf "%.1f", 100 * d / hz / rt }') "
	SATUS[$s]+="$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$DP_DONE" 'BEGIN { printf "%.3f", (n ? d * 1e6 / hz / n : 0) }') "
	# b. fixed offered rate. In the multi suite after a pause: swarmdns spreads UDP over its
	# workers only while one is busy (udp-spread-at, docs/workers.md) and goes back to one a
	# second or more after the saturation run; the figure is the steady state at RATE.
	[[ $SUITE == multi ]] && sleep 5
	c0=$(core_ticks)
	t0=$(cpu_ticks "$pid")
	dnsperf_run "$port" "$SECS" "$RATE" "$TMP/$s.r$r.fixed.txt"
	t1=$(cpu_ticks "$pid")
	c1=$(core_ticks)
	foreign_share "$c0" "$c1" $((t1 - t0 + DP_TICKS))
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
	is_cache "$s" && cache_after "$s" "$r" $((dsat + DP_DONE))
	return 0
}

# Other processes on the cores skew every figure (a compiler, another benchmark): sample both
# cores for a second while the servers are idle and warn if they are busy.
BUSY_WARNINGS=0
IDLE_SECS=0
declare -A IDLE_TICKS=()
check_idle() {
	local a b
	local s
	declare -A i0=()
	for s in "${SERVER_LIST[@]}"; do i0[$s]=$(cpu_ticks "${PID[$s]}"); done
	a=$(awk '/^cpu[0-9]/ { print $1, $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
	sleep 1
	b=$(awk '/^cpu[0-9]/ { print $1, $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
	# The servers' own CPU time while nobody asks them anything (timers, the DHT node).
	for s in "${SERVER_LIST[@]}"; do IDLE_TICKS[$s]=$((${IDLE_TICKS[$s]:-0} + $(cpu_ticks "${PID[$s]}") - ${i0[$s]})); done
	IDLE_SECS=$((IDLE_SECS + 1))
	local busy
	busy=$(printf '%s\n%s\n' "$a" "$b" | awk -v cores=" $CORES " '
		index(cores, " " $1 " ") == 0 { next }
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



# ---------------------------------------------------------------------------------------------
# Run

log "servers: ${SERVER_LIST[*]}; $NAMES names; $ROUNDS round(s) of ${SECS}s; fixed rate $RATE q/s;" \
	"servers on core $SERVER_CPU, dnsperf on core $CLIENT_CPU; time limit ${LIMIT}s"
for s in "${SERVER_LIST[@]}"; do
	"start_$s"
	pin_server "$s"
	# A cache: this first pass fills the cache; a second one must be answered from it.
	is_cache "$s" && log "$s: first pass over all names (fills its cache)"
	verify_all "$s" "${PORT[$s]}"
	is_cache "$s" && verify_cached "$s"
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

# Every server must still answer correctly after the load (in the cache suite: every name).
for s in "${SERVER_LIST[@]}"; do
	[[ $(dig_a "${PORT[$s]}" "$SAMPLE_NAME") == "$SAMPLE_ADDR" ]] || die "$s no longer answers $SAMPLE_NAME after the runs"
	is_cache "$s" && verify_all "$s" "${PORT[$s]}"
done
# Memory of each server after the runs (the multi suite: what the per-worker copies cost).
declare -A RSS=()
for s in "${SERVER_LIST[@]}"; do RSS[$s]=$(rss_kb "${PID[$s]}"); done

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
# Ratios swarmdns/other for every other server of the suite (n/a for one not run).
OTHERS=()
for s in "${ALL_SERVERS[@]}"; do [[ $s == swarmdns ]] || OTHERS+=("$s"); done
declare -A R_QPS=() R_CPU=()
for o in "${OTHERS[@]}"; do
	R_QPS[$o]=$(ratio "$(get MQPS swarmdns)" "$(get MQPS "$o")")
	R_CPU[$o]=$(ratio "$(get MCPU swarmdns)" "$(get MCPU "$o")")
done

echo
if [[ $SUITE == cache ]]; then
	printf 'Cached key names over UDP, %d names, median of %d round(s) x %d s; servers on core %s, dnsperf on core %s\n' \
		"$NAMES" "$ROUNDS" "$SECS" "$SERVER_CPU" "$CLIENT_CPU"
elif [[ $SUITE == multi ]]; then
	printf 'DNS over UDP on %d workers (swarmdns1: swarmdns with 1), %d names, median of %d round(s) x %d s; servers on cores %s, dnsperf (%s) on cores %s\n' \
		"$WORKERS" "$NAMES" "$ROUNDS" "$SECS" "$SERVER_CPU" "${DNSPERF_OPTS[*]}" "$CLIENT_CPU"
else
	printf 'DNS over UDP, %d names, median of %d round(s) x %d s; servers on core %s, dnsperf on core %s\n' \
		"$NAMES" "$ROUNDS" "$SECS" "$SERVER_CPU" "$CLIENT_CPU"
fi
printf '%-10s %15s %12s %15s %20s %10s\n' server "saturation q/s" "core busy" "CPU µs/q @sat" "CPU µs/q @$RATE q/s" "RSS MiB"
for s in "${SERVER_LIST[@]}"; do
	printf '%-10s %15.0f %11.0f%% %15.3f %20.3f %10.1f\n' "$s" "${MQPS[$s]}" "${MCORE[$s]}" "${MSATUS[$s]}" "${MCPU[$s]}" \
		"$(awk -v k="${RSS[$s]}" 'BEGIN { print k / 1024 }')"
done
fmt() { [[ $1 == null ]] && echo n/a || echo "$1"; }
printf '%-16s %12s %16s\n' ratio "q/s" "CPU µs/query"
for o in "${OTHERS[@]}"; do
	printf '%-16s %12s %16s\n' "swarmdns/$o" "$(fmt "${R_QPS[$o]}")" "$(fmt "${R_CPU[$o]}")"
done
echo "(q/s ratio > 1: swarmdns faster; CPU ratio < 1: swarmdns cheaper. A server core busy well" \
	"below 100% at saturation means dnsperf, not the server, was the limit.)"
GOAL=null
GOAL_QPS=null
GOAL_SCALE=null
if [[ $SUITE == multi ]]; then
	# The goals of issue 14: q/s at least 1.0 x the fastest of the others; CPU per query with
	# 2 workers at most 1.05 x with 1 (no sharing cost).
	FASTEST=
	for o in knot nsd unbound; do
		has_server "$o" || continue
		[[ -z $FASTEST ]] || awk -v a="${MQPS[$o]}" -v b="${MQPS[$FASTEST]}" 'BEGIN { exit !(a > b) }' && FASTEST=$o
	done
	if [[ -n $FASTEST && ${R_QPS[$FASTEST]} != null ]]; then
		GOAL_QPS=$(awk -v r="${R_QPS[$FASTEST]}" 'BEGIN { print (r >= 1.0 ? "true" : "false") }')
		echo "goal (q/s at least 1.0 x the fastest other, $FASTEST): $([[ $GOAL_QPS == true ]] && echo met || echo "not met") (${R_QPS[$FASTEST]})"
	fi
	if [[ ${R_CPU[swarmdns1]} != null ]]; then
		GOAL_SCALE=$(awk -v r="${R_CPU[swarmdns1]}" 'BEGIN { print (r <= 1.05 ? "true" : "false") }')
		echo "goal (CPU per query with $WORKERS workers at most 1.05 x with 1): $([[ $GOAL_SCALE == true ]] && echo met || echo "not met") (${R_CPU[swarmdns1]})"
	fi
	echo "(dnsperf shares the servers' cores: the saturation rate is what is left for the server" \
		"once the generator has its share; the CPU per query is the server's own.)"
	has_server unbound && echo "unbound during the runs: ${EV_HIT[unbound]:-0} answers from the cache for" \
		"${EV_ANS[unbound]:-0} seen by dnsperf, ${EV_MISS[unbound]:-0} misses"
	if [[ $CACHE_WARNINGS -gt 0 ]]; then
		echo "WARNING: $CACHE_WARNINGS check(s) found Unbound answers that did not come from its cache alone (see the log)."
	fi
fi
if [[ $SUITE == cache ]]; then
	# The goal of issue 4: at most 0.8 of Unbound's CPU time per query.
	if [[ ${R_CPU[unbound]} != null ]]; then
		GOAL=$(awk -v r="${R_CPU[unbound]}" 'BEGIN { print (r <= 0.8 ? "true" : "false") }')
		echo "goal (swarmdns CPU per query at most 0.8 of Unbound's): $([[ $GOAL == true ]] && echo met || echo "not met") (${R_CPU[unbound]})"
	fi
	for s in "${SERVER_LIST[@]}"; do
		echo "$s during the runs: ${EV_HIT[$s]:-0} answers from the cache for ${EV_ANS[$s]:-0} seen by dnsperf," \
			"${EV_MISS[$s]:-0} misses, $(upstream_word "$s") ${EV_UP[$s]:-0}; helpers' CPU" \
			"$((${EV_HELPER[$s]:-0} * 1000 / CLK_TCK)) ms ($([[ $s == swarmdns ]] && echo "DHT and node A" || echo "Knot DNS"));" \
			"own CPU while idle $((${IDLE_TICKS[$s]:-0} * 1000 / CLK_TCK)) ms in $IDLE_SECS s"
	done
	if [[ $CACHE_WARNINGS -gt 0 ]]; then
		echo "WARNING: $CACHE_WARNINGS check(s) found answers that did not come from the cache alone (see the log)."
	fi
fi
if [[ $BUSY_WARNINGS -gt 0 || $DISTURBED -gt 0 ]]; then
	echo "WARNING: other processes were using the cores (before $BUSY_WARNINGS of $ROUNDS round(s)," \
		"during $DISTURBED of $((ROUNDS * 2 * ${#SERVER_LIST[@]})) runs); these figures are skewed:" \
		"run again on a quiet machine."
fi

# JSON
mkdir -p "$(dirname "$OUT")"
{
	echo "{"
	if [[ $SUITE == cache ]]; then
		echo "  \"benchmark\": \"dns-udp-cache\","
	elif [[ $SUITE == multi ]]; then
		echo "  \"benchmark\": \"dns-udp-multi\","
		echo "  \"workers\": $WORKERS,"
		echo "  \"goal_qps_at_least_fastest\": $GOAL_QPS,"
		echo "  \"goal_cpu_workers_vs_1_at_most_1.05\": $GOAL_SCALE,"
	else
		echo "  \"benchmark\": \"dns-udp\","
	fi
	echo "  \"names\": $NAMES,"
	echo "  \"rounds\": $ROUNDS,"
	echo "  \"seconds\": $SECS,"
	echo "  \"fixed_rate_qps\": $RATE,"
	echo "  \"dnsperf\": $(json_str "${DNSPERF_OPTS[*]} -l $SECS"),"
	# A core as a number, a list of cores (the multi suite) as a string.
	echo "  \"server_cpu\": $(is_uint "$SERVER_CPU" && echo "$SERVER_CPU" || json_str "$SERVER_CPU"),"
	echo "  \"client_cpu\": $(is_uint "$CLIENT_CPU" && echo "$CLIENT_CPU" || json_str "$CLIENT_CPU"),"
	echo "  \"date\": $(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)"),"
	echo "  \"busy_machine_warnings\": $BUSY_WARNINGS,"
	echo "  \"disturbed_runs\": $DISTURBED,"
	# shellcheck disable=SC2086
	echo "  \"foreign_pct_on_server_core\": $(json_list $FOREIGN_RUNS),"
	if [[ $SUITE == cache ]]; then
		echo "  \"record_ttl\": $TTL,"
		echo "  \"cache_warnings\": $CACHE_WARNINGS,"
		echo "  \"goal_cpu_ratio_at_most_0.8\": $GOAL,"
		echo "  \"setup\": {"
		if has_server swarmdns; then
			echo "    \"testnet_nodes\": $TESTNET_NODES,"
			echo "    \"testnet\": $(json_str "$TESTNET_READY"),"
			echo "    \"publishers\": $PUBLISHERS,"
			echo "    \"publish_passes\": $PUBLISH_PASSES,"
			echo "    \"publish_seconds\": $PUBLISH_SECS,"
			echo "    \"publisher_seconds_without_good_dht_nodes\": $PUBLISHER_STALLS,"
			echo "    \"published_stored_by_dht_nodes\": {\"min\": $ST_MIN, \"avg\": $ST_AVG, \"max\": $ST_MAX, \"none\": $ST_ZERO},"
			echo "    \"swarmdns_command\": $(json_str "$(cat "$TMP/swarmdns/command")"),"
		fi
		if has_server unbound; then
			echo "    \"unbound_upstream\": $(json_str "$(get VERSION knot)"),"
		fi
		echo "    \"helpers_cpu\": $CLIENT_CPU"
		echo "  },"
	fi
	echo "  \"servers\": {"
	n=0
	for s in "${SERVER_LIST[@]}"; do
		n=$((n + 1))
		comma=,
		[[ $n -lt ${#SERVER_LIST[@]} ]] || comma=
		extra=
		if [[ $SUITE == cache ]]; then
			read -r wh wm wu <<<"${WARM_CHECK[$s]:-0 0 0}"
			extra="      \"cache\": {\"second_pass\": {\"from_cache\": $wh, \"misses\": $wm, \"upstream\": $wu},
        \"during_runs\": {\"answered_per_dnsperf\": ${EV_ANS[$s]:-0}, \"from_cache\": ${EV_HIT[$s]:-0}, \"misses\": ${EV_MISS[$s]:-0}, \"upstream\": ${EV_UP[$s]:-0}, \"helpers_cpu_ms\": $((${EV_HELPER[$s]:-0} * 1000 / CLK_TCK))},
        \"upstream_is\": $(json_str "$(upstream_word "$s")")},
      \"idle_cpu_ms\": $((${IDLE_TICKS[$s]:-0} * 1000 / CLK_TCK)), \"idle_seconds\": $IDLE_SECS,
"
		fi
		# shellcheck disable=SC2086 # word lists
		cat <<EOF
    "$s": {
      "version": $(json_str "$(get VERSION "$s")"),
      "response_bytes": ${RESP[$s]},
      "rss_kb_after_runs": ${RSS[$s]},
${extra}      "qps_saturation": ${MQPS[$s]},
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
	n=0
	for o in "${OTHERS[@]}"; do
		n=$((n + 1))
		comma=,
		[[ $n -lt ${#OTHERS[@]} ]] || comma=
		echo "    \"swarmdns/$o\": {\"qps_saturation\": ${R_QPS[$o]}, \"cpu_us_per_query\": ${R_CPU[$o]}}$comma"
	done
	echo "  }"
	echo "}"
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
log "wrote $OUT"
