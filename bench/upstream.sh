#!/usr/bin/env bash
# swarmdns forwarding benchmark over an encrypted upstream (issue 13): swarmdns with
# `upstream tls://...` against Unbound with `forward-tls-upstream: yes`, both forwarding every
# query over DNS over TLS (RFC 7858) to the same upstream, a second Unbound serving local data.
#
# The upstream answers every name under bench. with TTL 0, so neither forwarder can answer from
# its cache: each client query is one query over the forwarder's TLS connection(s). The
# forwarder measured runs pinned to core 1; dnsperf (UDP) and the upstream Unbound share core 0.
# In interleaved rounds: queries per second at saturation and the forwarder's CPU time per
# answered query (utime+stime from /proc). Reports medians and the ratios swarmdns / Unbound;
# JSON to bench/out/upstream-tls.json. See bench/README.md.
#
# The helpers (proc_tree, stop_pid, cpu_ticks, median, ...) are bench/lib.sh's.
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	cat <<'EOF'
Usage: bench/upstream.sh [options]     (also: bench/run.sh --suite upstream-tls [options])

Options:
  --quick            1 round of 3 s (a smoke run)
  --rounds N         interleaved rounds (default 3)
  --seconds N        length of each dnsperf run (default 10)
  --outstanding N    queries dnsperf keeps in flight (default 200)
  --out FILE         JSON output (default bench/out/upstream-tls.json)
  --keep             keep the temporary directory
Environment: SWARMDNS_BIN, BENCH_SERVER_CPU (1), BENCH_CLIENT_CPU (0), BENCH_TIME_LIMIT.
Tools: dnsperf, unbound, unbound-control, dig, taskset, ss, curl.
EOF
}

log() { printf 'bench-upstream: [%3ds] %s\n' "$SECONDS" "$*" >&2; }
die() {
	printf 'bench-upstream: error: %s\n' "$*" >&2
	exit 1
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${SWARMDNS_BIN:-$ROOT/build/swarmdns}
ROUNDS=3 SECS=10 OUTSTANDING=200 KEEP=0
OUT=$ROOT/bench/out/upstream-tls.json
SERVER_CPU=${BENCH_SERVER_CPU:-1}
CLIENT_CPU=${BENCH_CLIENT_CPU:-0}
NAMES=10000
ADDR=192.0.2.1

need_arg() { [[ $# -ge 2 && -n $2 ]] || die "option $1 needs a value"; }
while [[ $# -gt 0 ]]; do
	case $1 in
	--quick) SECS=3 ROUNDS=1 ;;
	--rounds) need_arg "$@"; ROUNDS=$2; shift ;;
	--seconds) need_arg "$@"; SECS=$2; shift ;;
	--outstanding) need_arg "$@"; OUTSTANDING=$2; shift ;;
	--out) need_arg "$@"; OUT=$2; shift ;;
	--keep) KEEP=1 ;;
	--suite) shift ;; # when called through run.sh --suite upstream-tls
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown option: $1" ;;
	esac
	shift
done
for v in ROUNDS SECS OUTSTANDING; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"
done

missing=()
need_tool dnsperf dnsperf
need_tool dig dnsutils
need_tool unbound unbound
need_tool unbound-control unbound
need_tool taskset util-linux
need_tool ss iproute2
need_tool curl curl
if [[ ${#missing[@]} -gt 0 ]]; then
	for m in "${missing[@]}"; do log "missing tool: $m"; done
	die "scripts/install-deps.sh bench installs them"
fi
[[ -x $BIN ]] || die "swarmdns binary not found at $BIN (run make, or set SWARMDNS_BIN)"
[[ $(getconf _NPROCESSORS_ONLN) -gt $SERVER_CPU && $(getconf _NPROCESSORS_ONLN) -gt $CLIENT_CPU ]] ||
	die "needs cores $CLIENT_CPU and $SERVER_CPU"
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------------------------------------
# Processes, cleanup, time bound (as in bench/tls.sh)

LIMIT=${BENCH_TIME_LIMIT:-$((300 + (ROUNDS + 1) * 2 * (SECS + 20)))}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/swarmdns-bench-upstream.XXXXXX")
declare -A PID=() LOGF=() VERSION=() PORT=()
WATCHDOG='' JOB=''

bench_guard

mkdir -p "$TMP/bin"
cp "$BIN" "$TMP/bin/swarmdns"
BIN=$TMP/bin/swarmdns

# Names q0.bench. .. q9999.bench.: the upstream answers each (TTL 0), so they all go upstream.
for ((i = 0; i < NAMES; i++)); do echo "q$i.bench. A"; done >"$TMP/queries"

log "making a certificate (swarmdns cert: localhost, 127.0.0.1)"
"$BIN" cert -o "$TMP/cert" >/dev/null 2>&1 || die "swarmdns cert failed"
CERT=$TMP/cert/cert.pem
KEY=$TMP/cert/key.pem
chmod 0644 "$KEY"

# ---------------------------------------------------------------------------------------------
# Servers

pin() { # name cpu
	local p
	for p in $(proc_tree "${PID[$1]}"); do taskset -a -p -c "$2" "$p" >/dev/null 2>&1 || true; done
}
dig_a() { timeout 5 dig @127.0.0.1 -p "$1" +time=2 +tries=1 +short "$2" A 2>/dev/null | grep -E '^[0-9.]+$' || true; }
wait_answer() { # name port log
	local i got=
	for ((i = 0; i < 100; i++)); do
		proc_alive "${PID[$1]}" || die "$1 exited at start; its log:
$(tail -n 20 "$3" 2>/dev/null)"
		got=$(dig_a "$2" "check$i.bench.")
		[[ $got == "$ADDR" ]] && return 0
		sleep 0.2
	done
	die "$1 on 127.0.0.1:$2 does not answer check.bench. (got '${got:-nothing}'); its log:
$(tail -n 20 "$3" 2>/dev/null)"
}

# The upstream: Unbound answering everything under bench. from local data, over DoT.
start_origin() {
	local dir=$TMP/origin a='' b=''
	mkdir -p "$dir"
	pick_port a
	pick_port b
	PORT[origin]=$a PORT[origin_tls]=$b
	cat >"$dir/unbound.conf" <<EOF
server:
    interface: 127.0.0.1@$a
    interface: 127.0.0.1@$b
    port: $a
    tls-port: $b
    tls-service-key: "$KEY"
    tls-service-pem: "$CERT"
    incoming-num-tcp: 256
$(unbound_base_conf "$dir")
    do-not-query-localhost: yes
    module-config: "iterator"
    extended-statistics: yes
    ratelimit: 0
    ip-ratelimit: 0
    tcp-idle-timeout: 120000
    local-zone: "." refuse
    local-zone: "bench." redirect
    local-data: "bench. 0 IN A $ADDR"
remote-control:
    control-enable: yes
    control-interface: "$dir/control.sock"
    control-use-cert: no
EOF
	unbound-checkconf "$dir/unbound.conf" >"$dir/checkconf.out" 2>&1 || die "unbound-checkconf: $(tail -n 5 "$dir/checkconf.out")"
	taskset -c "$CLIENT_CPU" unbound -d -c "$dir/unbound.conf" >"$dir/unbound.log" 2>&1 &
	PID[origin]=$!
	LOGF[origin]=$dir/unbound.log
	wait_answer origin "$a" "$dir/unbound.log"
	pin origin "$CLIENT_CPU"
	VERSION[origin]="unbound $(first_line unbound -V | sed 's/^Version //')"
}
origin_tls_queries() {
	unbound-control -c "$TMP/origin/unbound.conf" stats_noreset 2>/dev/null |
		awk -F= '$1 == "num.query.tls" { print $2 + 0; f = 1 } END { if (!f) print 0 }'
}

start_swarmdns() {
	local dir=$TMP/swarmdns a=''
	mkdir -p "$dir/data"
	pick_port a
	pick_port SW_API
	PORT[swarmdns]=$a
	local args=(--data-dir "$dir/data" --listen-dns "127.0.0.1:$a" --listen-api "127.0.0.1:$SW_API"
		--dht-listen 127.0.0.1:0 --bootstrap none
		--upstream "tls://127.0.0.1:${PORT[origin_tls]}#localhost" --upstream-ca "$CERT")
	local help
	help=$("$BIN" serve --help 2>&1 || true)
	[[ $help == *--rrl-rate* ]] && args+=(--rrl-rate 0)
	# One serving thread on its one core, as Unbound runs (the default is one per core).
	[[ $help == *--workers* ]] && args+=(--workers 1)
	echo "$BIN serve ${args[*]}" >"$dir/command"
	taskset -c "$SERVER_CPU" "$BIN" serve "${args[@]}" >"$dir/swarmdns.log" 2>&1 &
	PID[swarmdns]=$!
	LOGF[swarmdns]=$dir/swarmdns.log
	wait_answer swarmdns "$a" "$dir/swarmdns.log"
	VERSION[swarmdns]=$(first_line "$BIN" --version)
}

start_unbound() {
	local dir=$TMP/unbound a=''
	mkdir -p "$dir"
	pick_port a
	PORT[unbound]=$a
	cat >"$dir/unbound.conf" <<EOF
server:
    interface: 127.0.0.1@$a
    port: $a
$(unbound_base_conf "$dir")
    do-not-query-localhost: no
    module-config: "iterator"
    qname-minimisation: no
    prefetch: no
    minimal-responses: yes
    ratelimit: 0
    ip-ratelimit: 0
    tls-cert-bundle: "$CERT"
    outgoing-num-tcp: 10
    local-zone: "test." nodefault
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@${PORT[origin_tls]}#localhost
    forward-tls-upstream: yes
remote-control:
    control-enable: no
EOF
	unbound-checkconf "$dir/unbound.conf" >"$dir/checkconf.out" 2>&1 || die "unbound-checkconf: $(tail -n 5 "$dir/checkconf.out")"
	taskset -c "$SERVER_CPU" unbound -d -c "$dir/unbound.conf" >"$dir/unbound.log" 2>&1 &
	PID[unbound]=$!
	LOGF[unbound]=$dir/unbound.log
	wait_answer unbound "$a" "$dir/unbound.log"
	VERSION[unbound]="unbound $(first_line unbound -V | sed 's/^Version //')"
}

# ---------------------------------------------------------------------------------------------
# Measurements

dnsperf_run() { # server seconds outfile
	local args=(-s 127.0.0.1 -p "${PORT[$1]}" -d "$TMP/queries" -l "$2" -c 4 -T 1 -q "$OUTSTANDING" -t 3) res
	run_job --to "$3" timeout $(($2 + 30)) taskset -c "$CLIENT_CPU" dnsperf "${args[@]}" ||
		die "dnsperf ($1) failed: $(tail -n 5 "$3")"
	res=$(awk '
		/Queries sent:/ { sent = $3 }
		/Queries completed:/ { done = $3 }
		/Queries per second:/ { qps = $4 }
		/Run time \(s\):/ { rt = $4 }
		/Response codes:/ { for (i = 3; i <= NF; i++) if ($i ~ /^NOERROR/) ok = $(i + 1) }
		END { if (qps == "" || done == "" || rt == "") exit 1; print qps, done, sent, rt, ok + 0 }' "$3") ||
		die "cannot read dnsperf's report ($1): $(tail -n 5 "$3")"
	read -r DP_QPS DP_DONE DP_SENT DP_RUNTIME DP_OK <<<"$res"
}

declare -A QPS=() CPUUS=() CORE=() LOSS=() OKPCT=() UPQ=()
measure() { # server round
	local s=$1 r=$2 pid=${PID[$1]} t0 t1 u0 u1 out=$TMP/$1.r$2.txt
	u0=$(origin_tls_queries)
	t0=$(cpu_ticks "$pid")
	dnsperf_run "$s" "$SECS" "$out"
	t1=$(cpu_ticks "$pid")
	u1=$(origin_tls_queries)
	proc_alive "$pid" || die "$s died during the run: $(tail -n 20 "${LOGF[$s]}")"
	[[ $DP_DONE -gt 0 ]] || die "$s answered no query: $(tail -n 8 "$out")"
	local us core loss okp upq
	us=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$DP_DONE" 'BEGIN { printf "%.3f", d * 1e6 / hz / n }')
	core=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v rt="$DP_RUNTIME" 'BEGIN { printf "%.1f", 100 * d / hz / rt }')
	loss=$(awk -v s="$DP_SENT" -v d="$DP_DONE" 'BEGIN { printf "%.3f", (s > 0 ? 100 * (s - d) / s : 0) }')
	okp=$(awk -v o="$DP_OK" -v d="$DP_DONE" 'BEGIN { printf "%.1f", (d > 0 ? 100 * o / d : 0) }')
	# Queries the upstream received over TLS per answered client query: about 1 when every
	# answer was forwarded (none came from a cache).
	upq=$(awk -v u=$((u1 - u0)) -v d="$DP_DONE" 'BEGIN { printf "%.3f", (d > 0 ? u / d : 0) }')
	QPS[$s]+="$DP_QPS " CPUUS[$s]+="$us " CORE[$s]+="$core " LOSS[$s]+="$loss " OKPCT[$s]+="$okp " UPQ[$s]+="$upq "
	log "round $r $s: $(printf '%.0f' "$DP_QPS") q/s, $us µs CPU/query, core busy $core%, loss $loss%, NOERROR $okp%, upstream TLS queries per answer $upq"
}

# ---------------------------------------------------------------------------------------------
# Run

SERVERS=(swarmdns unbound)
log "forwarders: ${SERVERS[*]} over DoT to one Unbound; $ROUNDS round(s) of ${SECS}s; $OUTSTANDING outstanding;" \
	"forwarder on core $SERVER_CPU, dnsperf and the upstream on core $CLIENT_CPU; limit ${LIMIT}s"
start_origin
for s in "${SERVERS[@]}"; do
	"start_$s"
	pin "$s" "$SERVER_CPU"
done
# Both really forward over TLS: the upstream counts one TLS query per name asked.
for s in "${SERVERS[@]}"; do
	u0=$(origin_tls_queries)
	[[ $(dig_a "${PORT[$s]}" "verify-$s.bench.") == "$ADDR" ]] || die "$s does not forward verify-$s.bench."
	u1=$(origin_tls_queries)
	[[ $((u1 - u0)) -ge 1 ]] || die "$s answered without a TLS query to the upstream"
	log "$s: forwards over TLS (the upstream counted $((u1 - u0)) TLS query)"
done
log "warming up (1 s each)"
for s in "${SERVERS[@]}"; do dnsperf_run "$s" 1 "$TMP/$s.warmup.txt"; done
for s in "${SERVERS[@]}"; do pin "$s" "$SERVER_CPU"; done
for ((r = 1; r <= ROUNDS; r++)); do
	for s in "${SERVERS[@]}"; do measure "$s" "$r"; done
done
CONNS_SW=$(ss -Htn state established "( dport = :${PORT[origin_tls]} )" 2>/dev/null | wc -l)

declare -A MQPS=() MCPU=() MCORE=() MOK=() MUPQ=()
for s in "${SERVERS[@]}"; do
	# shellcheck disable=SC2086 # the lists are words
	{
		MQPS[$s]=$(median ${QPS[$s]})
		MCPU[$s]=$(median ${CPUUS[$s]})
		MCORE[$s]=$(median ${CORE[$s]})
		MOK[$s]=$(median ${OKPCT[$s]})
		MUPQ[$s]=$(median ${UPQ[$s]})
	}
done
R_Q=$(ratio "${MQPS[swarmdns]}" "${MQPS[unbound]}")
R_C=$(ratio "${MCPU[swarmdns]}" "${MCPU[unbound]}")

echo
printf 'Forwarding over DNS over TLS to one upstream (TTL 0: every query forwarded), median of %d round(s) x %d s\n' "$ROUNDS" "$SECS"
printf '%-9s %12s %10s %14s %9s %14s\n' server "q/s" "core busy" "CPU µs/query" NOERROR "up TLS q/ans"
for s in "${SERVERS[@]}"; do
	printf '%-9s %12.0f %9.0f%% %14.3f %8s%% %14s\n' "$s" "${MQPS[$s]}" "${MCORE[$s]}" "${MCPU[$s]}" "${MOK[$s]}" "${MUPQ[$s]}"
done
echo
echo "q/s swarmdns/unbound: $R_Q    CPU µs per query swarmdns/unbound: $R_C"
echo "(q/s ratio > 1: swarmdns faster; CPU ratio < 1: swarmdns cheaper. Core busy well below 100%: the generator or the upstream was the limit.)"
echo "TLS connections to the upstream open at the end (both forwarders): $CONNS_SW"

mkdir -p "$(dirname "$OUT")"
{
	echo "{"
	echo "  \"benchmark\": \"forward-over-dot\","
	echo "  \"rounds\": $ROUNDS, \"seconds\": $SECS, \"outstanding\": $OUTSTANDING, \"names\": $NAMES,"
	echo "  \"dnsperf\": $(json_str "-c 4 -T 1 -q $OUTSTANDING -t 3 -l $SECS (UDP)"),"
	echo "  \"server_cpu\": $SERVER_CPU, \"client_cpu\": $CLIENT_CPU,"
	echo "  \"date\": $(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)"),"
	echo "  \"versions\": {\"swarmdns\": $(json_str "${VERSION[swarmdns]}"), \"unbound\": $(json_str "${VERSION[unbound]}"), \"upstream\": $(json_str "${VERSION[origin]}")},"
	for s in "${SERVERS[@]}"; do
		# shellcheck disable=SC2086
		echo "  \"$s\": {\"qps\": ${MQPS[$s]}, \"cpu_us_per_query\": ${MCPU[$s]}, \"server_core_busy_pct\": ${MCORE[$s]}, \"noerror_pct\": ${MOK[$s]}, \"upstream_tls_queries_per_answer\": ${MUPQ[$s]}, \"rounds\": {\"qps\": $(json_list ${QPS[$s]}), \"cpu_us_per_query\": $(json_list ${CPUUS[$s]}), \"loss_pct\": $(json_list ${LOSS[$s]})}},"
	done
	echo "  \"ratios\": {\"qps_swarmdns_over_unbound\": $R_Q, \"cpu_swarmdns_over_unbound\": $R_C}"
	echo "}"
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
log "wrote $OUT"
