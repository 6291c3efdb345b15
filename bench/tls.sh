#!/usr/bin/env bash
# swarmdns encrypted-transport benchmark (issue 5): TCP, DNS over TLS and DNS over HTTPS/2,
# swarmdns (own zones) against Unbound, Knot Resolver and dnsdist (answers from their caches,
# filled once from Knot DNS), same 1,000 names, same machine, same run.
#
# Each server runs pinned to core 1, dnsperf (-m tcp|dot|doh, 4 persistent connections) to core 0.
# For each transport and server, in interleaved rounds: queries per second at saturation and the
# server's CPU time per answered query (utime+stime from /proc). Reports medians and the ratios
# swarmdns / best peer per transport; JSON to bench/out/tls.json. See bench/README.md.
#
# The helpers (proc_tree, stop_pid, cpu_ticks, median, ...) are bench/lib.sh's, as in bench/run.sh.
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	cat <<'EOF'
Usage: bench/tls.sh [options]     (also: bench/run.sh --suite tls [options])

Options:
  --quick            1 round of 3 s (a smoke run)
  --rounds N         interleaved rounds (default 3)
  --seconds N        length of each dnsperf run (default 10)
  --names N          names in the data set (default 1000)
  --servers LIST     subset of swarmdns,unbound,kresd,dnsdist (default: all)
  --transports LIST  subset of tcp,dot,doh (default: all)
  --conns N          persistent connections of dnsperf (default 4)
  --out FILE         JSON output (default bench/out/tls.json)
  --keep             keep the temporary directory
Environment: SWARMDNS_BIN, BENCH_SERVER_CPU (1), BENCH_CLIENT_CPU (0), BENCH_TIME_LIMIT.
Tools: dnsperf (>= 2.10, -m dot|doh), knotd, unbound, kresd (knot-resolver), dnsdist, dig, kdig, curl.
EOF
}

log() { printf 'bench-tls: [%3ds] %s\n' "$SECONDS" "$*" >&2; }
die() {
	printf 'bench-tls: error: %s\n' "$*" >&2
	exit 1
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${SWARMDNS_BIN:-$ROOT/build/swarmdns}
ROUNDS=3 SECS=10 NAMES=1000 CONNS=4 KEEP=0
SERVERS=swarmdns,unbound,kresd,dnsdist
TRANSPORTS=tcp,dot,doh
OUT=$ROOT/bench/out/tls.json
SERVER_CPU=${BENCH_SERVER_CPU:-1}
CLIENT_CPU=${BENCH_CLIENT_CPU:-0}
TTL=86400
Z32_ALPHABET=ybndrfg8ejkmcpqxot1uwisza345h769

need_arg() { [[ $# -ge 2 && -n $2 ]] || die "option $1 needs a value"; }
while [[ $# -gt 0 ]]; do
	case $1 in
	--quick) SECS=3 ROUNDS=1 ;;
	--rounds) need_arg "$@"; ROUNDS=$2; shift ;;
	--seconds) need_arg "$@"; SECS=$2; shift ;;
	--names) need_arg "$@"; NAMES=$2; shift ;;
	--servers) need_arg "$@"; SERVERS=$2; shift ;;
	--transports) need_arg "$@"; TRANSPORTS=$2; shift ;;
	--conns) need_arg "$@"; CONNS=$2; shift ;;
	--out) need_arg "$@"; OUT=$2; shift ;;
	--keep) KEEP=1 ;;
	--suite) shift ;; # when called through run.sh --suite tls
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown option: $1" ;;
	esac
	shift
done
for v in ROUNDS SECS NAMES CONNS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"
done
[[ $NAMES -le 60000 ]] || die "--names is limited to 60000"
IFS=, read -r -a SERVER_LIST <<<"$SERVERS"
IFS=, read -r -a TR_LIST <<<"$TRANSPORTS"
for s in "${SERVER_LIST[@]}"; do [[ $s =~ ^(swarmdns|unbound|kresd|dnsdist)$ ]] || die "unknown server $s"; done
for t in "${TR_LIST[@]}"; do [[ $t =~ ^(tcp|dot|doh)$ ]] || die "unknown transport $t"; done
has_server() { [[ " ${SERVER_LIST[*]} " == *" $1 "* ]]; }

missing=()
need_tool dnsperf dnsperf
need_tool dig dnsutils
need_tool kdig knot-dnsutils
need_tool knotd knot
need_tool taskset util-linux
need_tool ss iproute2
need_tool curl curl
need_tool h2load nghttp2-client
need_tool python3 python3
has_server unbound && need_tool unbound unbound
has_server kresd && need_tool kresd knot-resolver
has_server dnsdist && need_tool dnsdist dnsdist
if [[ ${#missing[@]} -gt 0 ]]; then
	for m in "${missing[@]}"; do log "missing tool: $m"; done
	die "scripts/install-deps.sh bench installs them"
fi
# Not `dnsperf -h | grep -q`: grep leaves at the first match, dnsperf dies of SIGPIPE writing
# the rest of its help, and pipefail turns that into a failure.
[[ $(dnsperf -h 2>&1) == *'udp, tcp, dot or doh'* ]] || die "this dnsperf has no -m dot|doh (needs 2.10 or later)"
[[ -x $BIN ]] || die "swarmdns binary not found at $BIN (run make, or set SWARMDNS_BIN)"
[[ $(getconf _NPROCESSORS_ONLN) -gt $SERVER_CPU && $(getconf _NPROCESSORS_ONLN) -gt $CLIENT_CPU ]] ||
	die "needs cores $CLIENT_CPU and $SERVER_CPU"
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------------------------------------
# Processes, cleanup, time bound (as in bench/run.sh)

LIMIT=${BENCH_TIME_LIMIT:-$((600 + NAMES / 5 + (ROUNDS + 1) * ${#SERVER_LIST[@]} * ${#TR_LIST[@]} * (SECS + 20)))}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/swarmdns-bench-tls.XXXXXX")
declare -A PID=() LOGF=() VERSION=() P_DNS=() P_DOT=() P_DOH=()
WATCHDOG= JOB=

bench_guard

mkdir -p "$TMP/bin"
cp "$BIN" "$TMP/bin/swarmdns"
SRC_BIN=$BIN
BIN=$TMP/bin/swarmdns

# ---------------------------------------------------------------------------------------------
# Data set (as the default suite): NAMES keys, www.<z32>. TTL A 10.0.x.y

D=$TMP/data
mkdir -p "$D"
seq 0 $((NAMES - 1)) >"$D/indices"
log "generating $NAMES keys with $SRC_BIN keygen"
run_job timeout 300 xargs -a "$D/indices" -P 4 -I{} \
	sh -c '"$1" keygen -o "$2/k$3.key" >"$2/k$3.name" 2>"$2/k$3.err" || { cat "$2/k$3.err" >&2; exit 255; }' \
	sh "$BIN" "$D" {} || die "swarmdns keygen failed"
for ((i = 0; i < NAMES; i++)); do
	name=
	read -r name <"$D/k$i.name" || true
	[[ $name =~ ^[$Z32_ALPHABET]{52}$ ]] || die "swarmdns keygen printed '$name'"
	echo "$name"
done >"$D/names"
mapfile -t NAME <"$D/names"
{
	echo '$TTL 3600'
	echo '. 3600 IN SOA ns.bench. hostmaster.bench. 1 3600 900 604800 300'
	echo '. 3600 IN NS ns.bench.'
	echo 'ns.bench. 3600 IN A 127.0.0.1'
} >"$D/root.zone"
: >"$D/queries"
: >"$D/expected"
for ((i = 0; i < NAMES; i++)); do
	a="10.0.$((i / 250 + 1)).$((i % 250 + 1))"
	n="www.${NAME[$i]}."
	echo "$n A" >>"$D/queries"
	echo "$n $a" >>"$D/expected"
	echo "$n $TTL IN A $a" >>"$D/root.zone"
	echo "$n $TTL IN A $a" >"$D/k$i.zone"
done
sort -o "$D/expected.sorted" "$D/expected"
SAMPLE_NAME="www.${NAME[$((NAMES / 2))]}."
SAMPLE_ADDR="10.0.$((NAMES / 2 / 250 + 1)).$((NAMES / 2 % 250 + 1))"

log "making a certificate (swarmdns cert)"
"$BIN" cert -o "$TMP/cert" >/dev/null 2>&1 || die "swarmdns cert failed"
CERT=$TMP/cert/cert.pem
KEY=$TMP/cert/key.pem
chmod 0644 "$KEY" # every server reads it as this user

# ---------------------------------------------------------------------------------------------
# Servers

pin_server() {
	local p t aff bad=
	for p in $(proc_tree "${PID[$1]}"); do taskset -a -p -c "$SERVER_CPU" "$p" >/dev/null 2>&1 || true; done
	for p in $(proc_tree "${PID[$1]}"); do
		for t in /proc/"$p"/task/*; do
			aff=$(awk '/^Cpus_allowed_list:/ { print $2 }' "$t/status" 2>/dev/null) || continue
			[[ $aff == "$SERVER_CPU" ]] || bad+=" ${t##*/} ($aff)"
		done
	done
	[[ -z $bad ]] || die "$1: threads$bad are not pinned to core $SERVER_CPU"
}
dig_a() { timeout 5 dig @127.0.0.1 -p "$1" +time=1 +tries=1 +short "$2" A 2>/dev/null | grep -E '^[0-9.]+$' || true; }
wait_answer() { # server port log
	local i got=
	for ((i = 0; i < 100; i++)); do
		proc_alive "${PID[$1]}" || die "$1 exited at start; its log:
$(tail -n 20 "$3" 2>/dev/null)"
		got=$(dig_a "$2" "$SAMPLE_NAME")
		[[ $got == "$SAMPLE_ADDR" ]] && return 0
		sleep 0.2
	done
	die "$1 on 127.0.0.1:$2 does not answer $SAMPLE_NAME (got '${got:-nothing}'); its log:
$(tail -n 20 "$3" 2>/dev/null)"
}
# Every name answered with its address (TTL at most TTL: caches count it down), nothing else.
verify_all() { # server port
	local got=$TMP/$1.answers
	run_job --to "$got.raw" timeout 120 dig @127.0.0.1 -p "$2" +tcp +time=2 +tries=2 +noall +answer -f "$D/queries" || true
	awk -v hi="$TTL" '$4 == "A" && $2 <= hi { print $1, $5 }' "$got.raw" | sort >"$got"
	if ! cmp -s "$got" "$D/expected.sorted"; then
		diff "$D/expected.sorted" "$got" | head -n 10 >&2 || true
		die "$1 does not answer all $NAMES names correctly ($(comm -12 "$D/expected.sorted" "$got" | wc -l) right)"
	fi
	log "$1: all $NAMES names answered correctly (TCP)"
}
# The sample name over DoT and DoH, with kdig trusting our certificate.
verify_encrypted() { # server
	local got
	got=$(timeout 10 kdig @127.0.0.1 -p "${P_DOT[$1]}" +tls-ca="$CERT" +tls-hostname=localhost +short "$SAMPLE_NAME" A 2>&1 | grep -E '^[0-9.]+$' || true)
	[[ $got == "$SAMPLE_ADDR" ]] || die "$1: DoT on ${P_DOT[$1]} answered '$got'"
	got=$(timeout 10 kdig @127.0.0.1 -p "${P_DOH[$1]}" +https=/dns-query +tls-ca="$CERT" +tls-hostname=localhost +short "$SAMPLE_NAME" A 2>&1 | grep -E '^[0-9.]+$' || true)
	[[ $got == "$SAMPLE_ADDR" ]] || die "$1: DoH on ${P_DOH[$1]} answered '$got'"
	log "$1: DoT and DoH answer $SAMPLE_NAME correctly"
}

start_knot() { # the authoritative server the resolvers fill their caches from, on the client core
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
	taskset -c "$CLIENT_CPU" knotd -c "$dir/knot.conf" >"$dir/knot.log" 2>&1 &
	PID[knot]=$!
	wait_answer knot "$KNOT_PORT" "$dir/knot.log"
	for p in $(proc_tree "${PID[knot]}"); do taskset -a -p -c "$CLIENT_CPU" "$p" >/dev/null 2>&1 || true; done
	VERSION[knot]=$(first_line knotd --version)
}

ports_for() { # server
	local a b c
	pick_port a; pick_port b; pick_port c
	P_DNS[$1]=$a P_DOT[$1]=$b P_DOH[$1]=$c
}

start_swarmdns() {
	local dir=$TMP/swarmdns i
	ports_for swarmdns
	pick_port SW_API
	mkdir -p "$dir/data"
	local args=(--data-dir "$dir/data" --listen-dns "127.0.0.1:${P_DNS[swarmdns]}" --listen-api "127.0.0.1:$SW_API"
		--listen-dot "127.0.0.1:${P_DOT[swarmdns]}" --listen-doh "127.0.0.1:${P_DOH[swarmdns]}"
		--tls-cert "$CERT" --tls-key "$KEY" --dht-listen 127.0.0.1:0 --bootstrap none --upstream none
		--tls-max-clients 4096 --doh-max-streams 1000)
	# One serving thread on its one core, as the peers run (the default is one per core).
	[[ $("$BIN" serve --help 2>&1 || true) == *--workers* ]] && args+=(--workers 1)
	echo "$BIN serve ${args[*]}" >"$dir/command"
	taskset -c "$SERVER_CPU" "$BIN" serve "${args[@]}" >"$dir/swarmdns.log" 2>&1 &
	PID[swarmdns]=$!
	LOGF[swarmdns]=$dir/swarmdns.log
	for ((i = 0; i < 100; i++)); do
		proc_alive "${PID[swarmdns]}" || die "swarmdns serve exited at start: $(tail -n 20 "$dir/swarmdns.log")"
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$SW_API/v1/status" && break
		sleep 0.2
	done
	[[ $i -lt 100 ]] || die "swarmdns API not ready after 20 s"
	log "publishing $NAMES zones to swarmdns (sign + PUT /<z32>, 4 at a time)"
	cat >"$TMP/publish1.sh" <<'EOF'
#!/bin/sh
bin=$1 d=$2 api=$3 i=$4
name=$(sed -n 's/^www\.\([^.]*\)\..*/\1/p' "$d/k$i.zone")
"$bin" sign -k "$d/k$i.key" -o "$d/k$i.body" "$d/k$i.zone" >"$d/k$i.err" 2>&1 || { echo "k$i: sign failed" >&2; exit 255; }
code=$(curl -s -o "$d/k$i.resp" -w '%{http_code}' --max-time 10 -X PUT --data-binary @"$d/k$i.body" "http://127.0.0.1:$api/$name")
case $code in 2??) ;; *) echo "k$i: PUT answered HTTP $code" >&2; exit 255 ;; esac
EOF
	run_job timeout 600 xargs -a "$D/indices" -P 4 -I{} sh "$TMP/publish1.sh" "$BIN" "$D" "$SW_API" {} ||
		die "publishing the zones to swarmdns failed"
	wait_answer swarmdns "${P_DNS[swarmdns]}" "$dir/swarmdns.log"
	VERSION[swarmdns]=$(first_line "$BIN" --version)
}

start_unbound() {
	local dir=$TMP/unbound
	mkdir -p "$dir"
	ports_for unbound
	cat >"$dir/unbound.conf" <<EOF
server:
    interface: 127.0.0.1@${P_DNS[unbound]}
    interface: 127.0.0.1@${P_DOT[unbound]}
    interface: 127.0.0.1@${P_DOH[unbound]}
    tls-port: ${P_DOT[unbound]}
    https-port: ${P_DOH[unbound]}
    tls-service-key: "$KEY"
    tls-service-pem: "$CERT"
    http-endpoint: "/dns-query"
    http-max-streams: 1000
    incoming-num-tcp: 4096
    do-ip4: yes
$(unbound_base_conf "$dir")
    do-not-query-localhost: no
    module-config: "iterator"
    qname-minimisation: no
    prefetch: no
    minimal-responses: yes
    msg-cache-size: 128m
    rrset-cache-size: 256m
    cache-max-ttl: 86400
    ratelimit: 0
    ip-ratelimit: 0
    tcp-idle-timeout: 120000
    local-zone: "test." nodefault
stub-zone:
    name: "."
    stub-addr: 127.0.0.1@$KNOT_PORT
remote-control:
    control-enable: no
EOF
	unbound-checkconf "$dir/unbound.conf" >"$dir/checkconf.out" 2>&1 || die "unbound-checkconf: $(tail -n 5 "$dir/checkconf.out")"
	taskset -c "$SERVER_CPU" unbound -d -c "$dir/unbound.conf" >"$dir/unbound.log" 2>&1 &
	PID[unbound]=$!
	LOGF[unbound]=$dir/unbound.log
	wait_answer unbound "${P_DNS[unbound]}" "$dir/unbound.log"
	VERSION[unbound]="unbound $(first_line unbound -V | sed 's/^Version //')"
}

start_kresd() {
	local dir=$TMP/kresd
	mkdir -p "$dir/cache"
	ports_for kresd
	# No trust anchor (the bench root is unsigned), no root priming or time checks that would
	# try public servers: everything goes to Knot DNS (policy.STUB).
	cat >"$dir/kresd.conf" <<EOF
net.ipv6 = false
net.listen('127.0.0.1', ${P_DNS[kresd]}, { kind = 'dns' })
net.listen('127.0.0.1', ${P_DOT[kresd]}, { kind = 'tls' })
net.listen('127.0.0.1', ${P_DOH[kresd]}, { kind = 'doh2' })
net.tls('$CERT', '$KEY')
net.tcp_pipeline(1000)
trust_anchors.remove('.')
modules.unload('priming')
modules.unload('detect_time_skew')
modules.unload('detect_time_jump')
modules.unload('ta_signal_query')
modules.unload('ta_sentinel')
cache.open(512 * MB, 'lmdb://$dir/cache')
cache.max_ttl(86400)
policy.add(policy.all(policy.STUB('127.0.0.1@$KNOT_PORT')))
EOF
	taskset -c "$SERVER_CPU" kresd -n -c "$dir/kresd.conf" "$dir" >"$dir/kresd.log" 2>&1 </dev/null &
	PID[kresd]=$!
	LOGF[kresd]=$dir/kresd.log
	wait_answer kresd "${P_DNS[kresd]}" "$dir/kresd.log"
	VERSION[kresd]=$(first_line kresd --version)
}

start_dnsdist() {
	local dir=$TMP/dnsdist
	mkdir -p "$dir"
	ports_for dnsdist
	cat >"$dir/dnsdist.conf" <<EOF
setLocal('127.0.0.1:${P_DNS[dnsdist]}')
addTLSLocal('127.0.0.1:${P_DOT[dnsdist]}', '$CERT', '$KEY')
addDOHLocal('127.0.0.1:${P_DOH[dnsdist]}', '$CERT', '$KEY', '/dns-query')
newServer{ address = '127.0.0.1:$KNOT_PORT', checkInterval = 3600 }
pc = newPacketCache(100000, { maxTTL = 86400, minTTL = 0 })
getPool(''):setCache(pc)
setMaxTCPClientThreads(1)
setSecurityPollSuffix('')
EOF
	taskset -c "$SERVER_CPU" dnsdist --supervised --disable-syslog -C "$dir/dnsdist.conf" >"$dir/dnsdist.log" 2>&1 </dev/null &
	PID[dnsdist]=$!
	LOGF[dnsdist]=$dir/dnsdist.log
	wait_answer dnsdist "${P_DNS[dnsdist]}" "$dir/dnsdist.log"
	VERSION[dnsdist]=$(first_line dnsdist --version)
}

# ---------------------------------------------------------------------------------------------
# Measurements

tr_port() { # server transport
	case $2 in tcp) echo "${P_DNS[$1]}" ;; dot) echo "${P_DOT[$1]}" ;; doh) echo "${P_DOH[$1]}" ;; esac
}
# dnsperf on the client core: CONNS persistent connections (-c), 500 queries outstanding.
dnsperf_run() { # server transport seconds outfile
	local port args res
	port=$(tr_port "$1" "$2")
	if [[ $2 == doh ]]; then
		h2load_run "$1" "$port" "$3" "$4"
		return
	fi
	args=(-m "$2" -s 127.0.0.1 -p "$port" -d "$D/queries" -l "$3" -c "$CONNS" -T 1 -q 500 -t 2)
	run_job --to "$4" timeout $(($3 + 30)) taskset -c "$CLIENT_CPU" dnsperf "${args[@]}" ||
		die "dnsperf ($1 $2) failed: $(tail -n 5 "$4")"
	res=$(awk '
		/Queries sent:/ { sent = $3 }
		/Queries completed:/ { done = $3 }
		/Queries per second:/ { qps = $4 }
		/Run time \(s\):/ { rt = $4 }
		/Average packet size:/ { resp = $7 }
		/Connection attempts/ { conn = $0 }
		END { if (qps == "" || done == "" || rt == "") exit 1; print qps, done, sent, rt, resp + 0 }' "$4") ||
		die "cannot read dnsperf's report ($1 $2): $(tail -n 5 "$4")"
	read -r DP_QPS DP_DONE DP_SENT DP_RUNTIME DP_RESP <<<"$res"
}

# DoH: dnsperf 2.10's DoH client stalls after a few queries against swarmdns and dnsdist (it
# works with Unbound and Knot Resolver), so every server is measured with h2load instead: GET
# /dns-query?dns=<base64url> over the same 1,000 questions, CONNS connections of HTTP/2 with
# 500/CONNS streams each (500 outstanding, as dnsperf -q 500). It counts 2xx answers.
doh_uris() { # port -> file of URIs
	local f=$TMP/doh-uris.$1
	[[ -s $f ]] || python3 - "$D/queries" "$1" >"$f" <<'PYEOF'
import base64, struct, sys
out = []
for line in open(sys.argv[1]):
    name = line.split()[0]
    w = struct.pack('>HHHHHH', 0, 0x0100, 1, 0, 0, 0)
    for l in name.rstrip('.').split('.'):
        w += bytes([len(l)]) + l.encode()
    w += b'\0' + struct.pack('>HH', 1, 1)
    out.append('https://127.0.0.1:%s/dns-query?dns=%s' % (sys.argv[2], base64.urlsafe_b64encode(w).decode().rstrip('=')))
print('\n'.join(out))
PYEOF
	echo "$f"
}
h2load_run() { # server port seconds outfile
	local uris res
	uris=$(doh_uris "$2")
	run_job --to "$4" timeout $(($3 + 30)) taskset -c "$CLIENT_CPU" h2load -c "$CONNS" -m $((500 / CONNS)) -D "$3" -i "$uris" ||
		die "h2load ($1 doh) failed: $(tail -n 5 "$4")"
	res=$(awk '
		/^finished in/ { rt = $3; sub(/s,$/, "", rt) }
		/^requests:/ { started = $4 }
		/^status codes:/ { ok = $3 }
		/^traffic:/ { }
		END { if (rt == "" || ok == "") exit 1; printf "%.1f %d %d %s 0\n", ok / rt, ok, started, rt }' "$4") ||
		die "cannot read h2load's report ($1 doh): $(tail -n 5 "$4")"
	read -r DP_QPS DP_DONE DP_SENT DP_RUNTIME DP_RESP <<<"$res"
}

declare -A QPS=() CPUUS=() CORE=() LOSS=() RESP=() RECONN=()
FOREIGN_RUNS= DISTURBED=0
measure() { # server transport round
	local s=$1 t=$2 r=$3 pid=${PID[$1]} t0 t1 c0 c1 f out=$TMP/$1.$2.r$3.txt
	c0=$(core_ticks)
	t0=$(cpu_ticks "$pid")
	dnsperf_run "$s" "$t" "$SECS" "$out"
	t1=$(cpu_ticks "$pid")
	c1=$(core_ticks)
	proc_alive "$pid" || die "$s died during the $t run: $(tail -n 20 "${LOGF[$s]}")"
	[[ $DP_DONE -gt 0 ]] || die "$s answered no query over $t: $(tail -n 8 "$out")"
	f=$(awk -v a="$c0" -v b="$c1" -v d=$((t1 - t0)) 'BEGIN { split(a, x, " "); split(b, y, " ")
		dt = y[2] - x[2]; f = dt > 0 ? 100 * ((y[1] - x[1]) - d) / dt : 0; printf "%.1f", f < 0 ? 0 : f }')
	FOREIGN_RUNS+="$f "
	if awk -v f="$f" 'BEGIN { exit !(f > 25) }'; then
		DISTURBED=$((DISTURBED + 1))
		log "warning: ${f}% of core $SERVER_CPU went to other processes during this run"
	fi
	local k=$s.$t us core loss
	us=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$DP_DONE" 'BEGIN { printf "%.3f", d * 1e6 / hz / n }')
	core=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v rt="$DP_RUNTIME" 'BEGIN { printf "%.1f", 100 * d / hz / rt }')
	loss=$(awk -v s="$DP_SENT" -v d="$DP_DONE" 'BEGIN { printf "%.3f", (s > 0 ? 100 * (s - d) / s : 0) }')
	QPS[$k]+="$DP_QPS " CPUUS[$k]+="$us " CORE[$k]+="$core " LOSS[$k]+="$loss "
	RESP[$k]=$DP_RESP
	# dnsperf reconnects when a server closes a connection: a persistent-connection run has none.
	local rc
	rc=$(awk '/Reconnections:/ { n += $2 } /^requests:/ { n += $12 + $14 } END { print n + 0 }' "$out")
	RECONN[$k]=$((${RECONN[$k]:-0} + rc))
	[[ $rc -eq 0 ]] || log "warning: $s $t: dnsperf reports $rc closed/reset/re-made connection line(s)"
	log "round $r $s $t: $(printf '%.0f' "$DP_QPS") q/s, $us µs CPU/query, core busy $core%, loss $loss%, not the server's ${f}%"
}

# ---------------------------------------------------------------------------------------------
# Run

log "servers: ${SERVER_LIST[*]}; transports: ${TR_LIST[*]}; $NAMES names; $ROUNDS round(s) of ${SECS}s;" \
	"$CONNS connections; servers on core $SERVER_CPU, dnsperf and Knot DNS on core $CLIENT_CPU; limit ${LIMIT}s"
NEED_KNOT=0
for s in "${SERVER_LIST[@]}"; do [[ $s != swarmdns ]] && NEED_KNOT=1; done
[[ $NEED_KNOT == 1 ]] && start_knot
for s in "${SERVER_LIST[@]}"; do
	"start_$s"
	pin_server "$s"
	[[ $s != swarmdns ]] && log "$s: first pass over all names (fills its cache from Knot DNS)"
	verify_all "$s" "${P_DNS[$s]}"
	verify_encrypted "$s"
done
# The caches are full: Knot DNS must stay idle from here on (each resolver answers from its cache).
KNOT_T0=0
[[ $NEED_KNOT == 1 ]] && KNOT_T0=$(cpu_ticks "${PID[knot]}")
for s in "${SERVER_LIST[@]}"; do pin_server "$s"; done

log "warming up (1 s per server and transport)"
for t in "${TR_LIST[@]}"; do
	for s in "${SERVER_LIST[@]}"; do
		dnsperf_run "$s" "$t" 1 "$TMP/$s.$t.warmup.txt"
		RESP[$s.$t]=$DP_RESP
	done
done
for s in "${SERVER_LIST[@]}"; do pin_server "$s"; done # threads started lazily (dnsdist TCP workers)

for ((r = 1; r <= ROUNDS; r++)); do
	for t in "${TR_LIST[@]}"; do
		for s in "${SERVER_LIST[@]}"; do measure "$s" "$t" "$r"; done
	done
done
KNOT_TICKS=0
[[ $NEED_KNOT == 1 ]] && KNOT_TICKS=$(($(cpu_ticks "${PID[knot]}") - KNOT_T0))
[[ $KNOT_TICKS -le 5 ]] || log "warning: Knot DNS used $((KNOT_TICKS * 1000 / CLK_TCK)) ms of CPU during the runs: a resolver asked it (cache misses)"
for s in "${SERVER_LIST[@]}"; do
	[[ $(dig_a "${P_DNS[$s]}" "$SAMPLE_NAME") == "$SAMPLE_ADDR" ]] || die "$s no longer answers $SAMPLE_NAME after the runs"
done

declare -A MQPS=() MCPU=() MCORE=()
for t in "${TR_LIST[@]}"; do
	for s in "${SERVER_LIST[@]}"; do
		k=$s.$t
		# shellcheck disable=SC2086
		MQPS[$k]=$(median ${QPS[$k]}); MCPU[$k]=$(median ${CPUUS[$k]}); MCORE[$k]=$(median ${CORE[$k]})
	done
done
# Per transport: the best peer by q/s and by CPU per query, and swarmdns's ratios to them.
declare -A BEST_Q=() BEST_C=() R_Q=() R_C=()
for t in "${TR_LIST[@]}"; do
	bq= bc=
	for s in "${SERVER_LIST[@]}"; do
		[[ $s == swarmdns ]] && continue
		[[ -z $bq ]] || awk -v a="${MQPS[$s.$t]}" -v b="${MQPS[$bq.$t]}" 'BEGIN { exit !(a > b) }' && bq=$s
		[[ -z $bc ]] || awk -v a="${MCPU[$s.$t]}" -v b="${MCPU[$bc.$t]}" 'BEGIN { exit !(a < b) }' && bc=$s
	done
	BEST_Q[$t]=$bq BEST_C[$t]=$bc
	if has_server swarmdns && [[ -n $bq ]]; then
		R_Q[$t]=$(ratio "${MQPS[swarmdns.$t]}" "${MQPS[$bq.$t]}")
		R_C[$t]=$(ratio "${MCPU[swarmdns.$t]}" "${MCPU[$bc.$t]}")
	else
		R_Q[$t]=null R_C[$t]=null
	fi
done

echo
printf 'TCP / DoT / DoH, %d names, %d persistent connections, median of %d round(s) x %d s; servers on core %s, dnsperf on core %s\n' \
	"$NAMES" "$CONNS" "$ROUNDS" "$SECS" "$SERVER_CPU" "$CLIENT_CPU"
printf '%-9s %-9s %12s %10s %14s %10s\n' transport server "q/s" "core busy" "CPU µs/query" "resp B"
for t in "${TR_LIST[@]}"; do
	for s in "${SERVER_LIST[@]}"; do
		k=$s.$t
		printf '%-9s %-9s %12.0f %9.0f%% %14.3f %10s\n' "$t" "$s" "${MQPS[$k]}" "${MCORE[$k]}" "${MCPU[$k]}" "${RESP[$k]}"
	done
done
echo
printf '%-9s %-28s %-32s\n' transport "q/s swarmdns/best peer" "CPU µs/q swarmdns/cheapest peer"
for t in "${TR_LIST[@]}"; do
	printf '%-9s %-28s %-32s\n' "$t" "${R_Q[$t]} (${BEST_Q[$t]:-n/a})" "${R_C[$t]} (${BEST_C[$t]:-n/a})"
done
echo "(q/s ratio > 1: swarmdns faster; CPU ratio < 1: swarmdns cheaper. Core busy well below 100%: the generator was the limit.)"
[[ $DISTURBED -eq 0 ]] || echo "WARNING: $DISTURBED run(s) had more than 25% of the server core taken by other processes."

mkdir -p "$(dirname "$OUT")"
{
	echo "{"
	echo "  \"benchmark\": \"dns-tcp-dot-doh\","
	echo "  \"names\": $NAMES, \"rounds\": $ROUNDS, \"seconds\": $SECS, \"connections\": $CONNS,"
	echo "  \"dnsperf\": $(json_str "dnsperf $(dnsperf -h 2>&1 | grep -m1 Version | awk "{ print \$2 }") -m tcp|dot|doh -c $CONNS -T 1 -q 500 -t 2 -l $SECS ; DoH: h2load -c $CONNS -m $((500 / CONNS)) -D $SECS, GET, HTTP/2"),"
	echo "  \"server_cpu\": $SERVER_CPU, \"client_cpu\": $CLIENT_CPU,"
	echo "  \"date\": $(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)"),"
	echo "  \"disturbed_runs\": $DISTURBED,"
	# shellcheck disable=SC2086
	echo "  \"foreign_pct_on_server_core\": $(json_list $FOREIGN_RUNS),"
	echo "  \"knot_cpu_ms_during_runs\": $((KNOT_TICKS * 1000 / CLK_TCK)),"
	echo "  \"versions\": {"
	n=0
	for s in "${SERVER_LIST[@]}" $([[ $NEED_KNOT == 1 ]] && echo knot); do
		n=$((n + 1)); [[ $n -gt 1 ]] && echo ","
		printf '    "%s": %s' "$s" "$(json_str "${VERSION[$s]}")"
	done
	echo
	echo "  },"
	echo "  \"transports\": {"
	nt=0
	for t in "${TR_LIST[@]}"; do
		nt=$((nt + 1))
		echo "    \"$t\": {"
		for s in "${SERVER_LIST[@]}"; do
			k=$s.$t
			# shellcheck disable=SC2086
			echo "      \"$s\": {\"qps\": ${MQPS[$k]}, \"cpu_us_per_query\": ${MCPU[$k]}, \"server_core_busy_pct\": ${MCORE[$k]}, \"response_bytes\": ${RESP[$k]}, \"connection_warnings\": ${RECONN[$k]:-0}, \"rounds\": {\"qps\": $(json_list ${QPS[$k]}), \"cpu_us_per_query\": $(json_list ${CPUUS[$k]}), \"loss_pct\": $(json_list ${LOSS[$k]})}},"
		done
		echo "      \"ratios\": {\"qps_swarmdns_over_best_peer\": ${R_Q[$t]}, \"best_peer_qps\": $(json_str "${BEST_Q[$t]}"), \"cpu_swarmdns_over_cheapest_peer\": ${R_C[$t]}, \"cheapest_peer_cpu\": $(json_str "${BEST_C[$t]}")}"
		[[ $nt -lt ${#TR_LIST[@]} ]] && echo "    }," || echo "    }"
	done
	echo "  }"
	echo "}"
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
log "wrote $OUT"
