# Helpers shared by bench/run.sh, tls.sh and upstream.sh (sourced, not run): the guard of a
# suite (cleanup, traps, time limit), processes, free ports,
# CPU accounting from /proc, medians and ratios, JSON pieces. They use the caller's globals
# USED_PORT (an associative array), EPH_LOW (the first ephemeral port), SERVER_CPU, JOB,
# missing (an array) and its die().
# shellcheck shell=bash

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
port_free() { [[ -z ${USED_PORT[$1]:-} && -z $(ss -Hantu "( sport = :$1 )" 2>/dev/null) ]]; }
pick_port() { # VAR
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((10000 + RANDOM % (EPH_LOW - 10000)))
		if port_free "$p"; then
			# shellcheck disable=SC2004 # an associative array: $p is the key
			USED_PORT[$p]=1
			printf -v "$1" '%s' "$p"
			return 0
		fi
	done
	die "no free port found"
}
first_line() { { "$@" 2>&1 || true; } | awk 'NR == 1'; }
need_tool() { command -v "$1" >/dev/null 2>&1 || missing+=("$1 (Debian package $2)"); }
cpu_ticks() {
	local total=0 p f
	for p in $(proc_tree "$1"); do
		f=$(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null) || continue
		total=$((total + ${f:-0}))
	done
	echo "$total"
}
# The cores of a taskset(1) list (1, 0-1, 0,2-3) as /proc/stat names them: "cpu0 cpu1".
cpu_names() {
	tr ',' '\n' <<<"$1" | awk -F- 'NF { for (i = $1; i <= (NF > 1 ? $2 : $1); i++) print "cpu" i }' |
		sort -u -V | tr '\n' ' ' | sed 's/ $//'
}
# Busy and total ticks of the server cores (SERVER_CPU, a taskset list), from /proc/stat.
core_ticks() {
	awk -v cores=" $(cpu_names "$SERVER_CPU") " 'index(cores, " " $1 " ") {
		b += $2 + $3 + $4 + $7 + $8 + $9; t += $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }
		END { print b, t }' /proc/stat
}
# Resident memory of a process and its descendants, in KiB (VmRSS of /proc/PID/status).
rss_kb() {
	local total=0 p f
	for p in $(proc_tree "$1"); do
		f=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || continue
		total=$((total + ${f:-0}))
	done
	echo "$total"
}
median() { # values...
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "null"; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { # a b -> a/b with 3 decimals, or null
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "null" || b == "null" || b + 0 == 0) print "null"; else printf "%.3f", a / b }'
}
json_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
json_list() { local v out=; for v in "$@"; do out+="${out:+, }$v"; done; echo "[$out]"; }

# What every suite does on its way out (EXIT, and the signals below): stops the job and the
# servers (PID: server -> pid), the watchdog, and removes TMP unless KEEP=1.
bench_cleanup() {
	local rc=$? s
	set +e
	trap - EXIT INT TERM HUP ERR
	[[ -n $JOB ]] && stop_pid "$JOB"
	for s in "${!PID[@]}"; do stop_pid "${PID[$s]}"; done
	[[ -n $WATCHDOG ]] && kill -TERM "$WATCHDOG" 2>/dev/null && wait "$WATCHDOG" 2>/dev/null
	if [[ $KEEP == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
	exit "$rc"
}

# The guard of a suite: bench_cleanup on exit, errors and signals reported, a watchdog that
# sends this shell TERM after LIMIT seconds (and kills its own sleep when stopped, so nothing
# is left behind: WATCHDOG), and the port bookkeeping of pick_port: random ports below the
# kernel's ephemeral range (EPH_LOW), where outgoing connections and dnsperf's sockets take
# theirs.
bench_guard() {
	trap bench_cleanup EXIT
	trap 'log "error: unexpected failure (status $?) at line $LINENO: $BASH_COMMAND"' ERR
	trap 'log "interrupted"; exit 130' INT
	trap 'log "stopped (time limit of ${LIMIT}s or signal)"; exit 143' TERM
	trap 'exit 129' HUP
	(
		trap 'kill $sp 2>/dev/null; wait $sp; exit 0' TERM
		sleep "$LIMIT" &
		sp=$!
		wait $sp
		kill -TERM $$ 2>/dev/null
	) &
	WATCHDOG=$!
	declare -gA USED_PORT=()
	read -r EPH_LOW _ </proc/sys/net/ipv4/ip_local_port_range || EPH_LOW=32768
	[[ $EPH_LOW -gt 12000 ]] || EPH_LOW=32768
}

# The server: lines every benchmark's Unbound shares (one thread, IPv4 on loopback, no
# privilege drop or chroot, its files in DIR, its log on stderr), for a heredoc.
unbound_base_conf() { # DIR
	cat <<EOC
    num-threads: 1
    do-ip6: no
    username: ""
    chroot: ""
    directory: "$1"
    pidfile: "$1/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    access-control: 127.0.0.0/8 allow
EOC
}
