#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/codec.h"
#include "conf/conf.h"
#include "dns/wire.h"
#include "registry/label.h"

/* T_HOSTPORT: "host:port" where host may be a name (resolved later), or "none". */
/* T_PAIR: "NAME=VALUE" (forward, root). */
/* T_BOOL: yes/no (also on/off, true/false, 1/0), stored as a bool. */
/* T_FILE: a string naming a file the node reads (--check-config opens it). */
typedef enum { T_STR, T_UINT, T_BOOL, T_ADDR, T_HOSTPORT, T_PAIR, T_LOGLEVEL, T_FILE } type_t;

typedef struct {
	const char *name;
	type_t type;
	size_t off;
	size_t size;	  /* of one value, for strings */
	size_t count_off; /* repeatable: offset of the counter; else (size_t)-1 */
	unsigned max;	  /* repeatable: max values; for T_UINT the maximum value */
	unsigned min;	  /* T_UINT: minimum value */
	const char *def;
	const char *help;
} opt_t;

#define NOREP ((size_t)-1)
#define STR(f) offsetof(conf_t, f), sizeof(((conf_t *)0)->f)

static const opt_t opts[] = {
    {"data-dir", T_STR, STR(data_dir), NOREP, 0, 0, "./swarmdns-data",
     "directory of the node's LMDB storage (own zones)"},
    {"listen-dns", T_ADDR, offsetof(conf_t, listen_dns), CONF_ADDR_LEN,
     offsetof(conf_t, n_listen_dns), CONF_LISTEN_MAX, 0, "127.0.0.1:5300",
     "address:port for DNS over UDP and TCP (repeatable)"},
    {"workers", T_UINT, offsetof(conf_t, workers), 0, NOREP, 256, 0, "0",
     "threads serving DNS, each with its own sockets on every listen address "
     "(SO_REUSEPORT); 0: one per online CPU; 1: one event loop for everything"},
    {"udp-spread-at", T_UINT, offsetof(conf_t, udp_spread_at), 0, NOREP, 100, 0, "75",
     "with workers 2 or more, UDP queries go to one worker until it is this busy (percent of "
     "a core), then the kernel spreads them over every worker; 0: always spread"},
    {"listen-api", T_ADDR, STR(listen_api), NOREP, 0, 0, "127.0.0.1:8053",
     "address:port of the HTTP API and pkarr relay"},
    {"api-token", T_STR, STR(api_token), NOREP, 0, 0, "",
     "bearer token that allows API writes from beyond loopback (empty: loopback only)"},
    {"log-level", T_LOGLEVEL, offsetof(conf_t, log_level), 0, NOREP, 0, 0, "info",
     "error, warn, info or debug"},
    {"min-ttl", T_UINT, offsetof(conf_t, min_ttl), 0, NOREP, 86400 * 7, 0, "300",
     "lowest TTL served, seconds; also the negative-answer TTL"},
    {"max-ttl", T_UINT, offsetof(conf_t, max_ttl), 0, NOREP, 86400 * 7, 1, "86400",
     "highest TTL served, seconds"},
    {"udp-rcvbuf", T_UINT, offsetof(conf_t, udp_rcvbuf), 0, NOREP, 1073741824, 0, "4194304",
     "receive buffer in bytes of the DNS and DHT UDP sockets, so that floods and short "
     "stalls do not drop datagrams (past net.core.rmem_max only with CAP_NET_ADMIN; 0: the "
     "system's)"},
    {"udp-payload", T_UINT, offsetof(conf_t, udp_payload), 0, NOREP, 4096, 512, "1232",
     "EDNS(0) UDP payload size offered and honoured, bytes"},
    {"tcp-idle-timeout", T_UINT, offsetof(conf_t, tcp_idle_timeout), 0, NOREP, 3600000, 100,
     "10000", "milliseconds before an idle DNS-over-TCP connection is closed"},
    {"tcp-max-clients", T_UINT, offsetof(conf_t, tcp_max_clients), 0, NOREP, 1000000, 1, "1024",
     "most DNS-over-TCP connections open at once"},
    {"dht-listen", T_ADDR, STR(dht_listen), NOREP, 0, 0, "0.0.0.0:6881",
     "address:port of the Mainline DHT node (UDP; port 0 picks a free one)"},
    /* docs/design.md §4: the default bootstrap routers of the Mainline DHT. */
    {"bootstrap", T_HOSTPORT, offsetof(conf_t, bootstrap), CONF_ADDR_LEN,
     offsetof(conf_t, n_bootstrap), CONF_BOOTSTRAP_MAX, 0,
     "router.bittorrent.com:6881 dht.transmissionbt.com:6881 dht.libtorrent.org:25401 "
     "router.utorrent.com:6881",
     "DHT node to join through, host:port (repeatable); 'none' for a private network"},
    {"dht-rate-limit", T_UINT, offsetof(conf_t, dht_rate_limit), 0, NOREP, 10000000, 1, "20",
     "DHT queries per second accepted from one IP address"},
    {"upstream", T_STR, offsetof(conf_t, upstream), CONF_PAIR_LEN, offsetof(conf_t, n_upstream),
     CONF_LISTEN_MAX, 0, "",
     "DNS server for names outside the swarm, addr[:port], or encrypted: "
     "tls://addr[:port][#cert-name] or https://host[:port]/path (repeatable; default: the "
     "nameservers of /etc/resolv.conf; 'none': refuse them)"},
    {"upstream-ca", T_FILE, STR(upstream_ca), NOREP, 0, 0, "",
     "PEM CA certificates that tls:// and https:// upstreams' certificates must chain to "
     "(default: the system's store)"},
    {"forward", T_PAIR, offsetof(conf_t, forward), CONF_PAIR_LEN, offsetof(conf_t, n_forward),
     CONF_BOOTSTRAP_MAX, 0, "", "send a suffix to its own server: SUFFIX=addr[:port] (repeatable)"},
    {"root", T_PAIR, offsetof(conf_t, root), CONF_PAIR_LEN, offsetof(conf_t, n_root),
     CONF_BOOTSTRAP_MAX, 0, "",
     "a petname: SUFFIX=<z32> makes x.SUFFIX resolve as x.<z32> (repeatable)"},
    {"key-suffix", T_STR, offsetof(conf_t, key_suffix), CONF_ADDR_LEN,
     offsetof(conf_t, n_key_suffix), CONF_BOOTSTRAP_MAX, 0, "",
     "also accept <z32>.SUFFIX for key names, e.g. key (repeatable)"},
    {"pin", T_STR, offsetof(conf_t, pin), CONF_ADDR_LEN, offsetof(conf_t, n_pin), CONF_PIN_MAX, 0,
     "",
     "keep this zone (<z32>) alive in the DHT from this node; for a registry, its policy, "
     "tree head and live label items too (the live labels from its log: the node's mirror, "
     "else read from the URL of 'audit <z32>=URL' or of its policy); a registered name "
     "(LABEL.<z32>, or LABEL.ROOT under a root): its label item, as an owner's node keeps "
     "its own name alive (repeatable)"},
    {"stale-max", T_UINT, offsetof(conf_t, stale_max), 0, NOREP, 86400 * 30, 0, "86400",
     "seconds an expired zone may still be served when the DHT has nothing newer"},
    {"unconverged-ttl", T_UINT, offsetof(conf_t, unconverged_ttl), 0, NOREP, 30, 1, "30",
     "TTL in seconds of answers from a zone whose DHT lookup had not converged (the cache "
     "keeps such a zone no longer either), so that a trapped lookup cannot pin an old "
     "version"},
    {"cache-size", T_UINT, offsetof(conf_t, cache_size), 0, NOREP, 10000000, 1, "10000",
     "zones of other keys kept in the cache"},
    {"listen-dot", T_ADDR, offsetof(conf_t, listen_dot), CONF_ADDR_LEN,
     offsetof(conf_t, n_listen_dot), CONF_LISTEN_MAX, 0, "",
     "address:port for DNS over TLS, RFC 7858 (repeatable; needs tls-cert and tls-key)"},
    {"listen-doh", T_ADDR, offsetof(conf_t, listen_doh), CONF_ADDR_LEN,
     offsetof(conf_t, n_listen_doh), CONF_LISTEN_MAX, 0, "",
     "address:port for DNS over HTTPS, RFC 8484, HTTP/2 at /dns-query (repeatable; needs "
     "tls-cert and tls-key)"},
    {"tls-cert", T_FILE, STR(tls_cert), NOREP, 0, 0, "",
     "PEM certificate (chain) for DNS over TLS and HTTPS ('swarmdns cert' makes one)"},
    {"tls-key", T_FILE, STR(tls_key), NOREP, 0, 0, "", "PEM private key of tls-cert"},
    {"tls-max-clients", T_UINT, offsetof(conf_t, tls_max_clients), 0, NOREP, 1000000, 1, "1024",
     "most DNS-over-TLS or DNS-over-HTTPS connections open at once, per listener"},
    {"tls-idle-timeout", T_UINT, offsetof(conf_t, tls_idle_timeout), 0, NOREP, 3600000, 100,
     "10000",
     "milliseconds before an idle TLS connection is closed; a handshake must also finish "
     "in this time (at most 10 s)"},
    {"doh-max-streams", T_UINT, offsetof(conf_t, doh_max_streams), 0, NOREP, 10000, 1, "100",
     "concurrent requests (HTTP/2 streams) per DNS-over-HTTPS connection"},
    /* Abuse limits (docs/limits.md); each one counts in /metrics when it acts. */
    {"rrl-rate", T_UINT, offsetof(conf_t, rrl_rate), 0, NOREP, 1000000, 0, "20",
     "DNS-over-UDP responses per second to one client network (/24, /56) for one answer; "
     "0 turns response-rate limiting off"},
    {"rrl-slip", T_UINT, offsetof(conf_t, rrl_slip), 0, NOREP, 100, 0, "2",
     "of the responses over rrl-rate, every Nth is sent truncated (TC=1) so that real "
     "clients retry over TCP; the others are dropped (0: drop all)"},
    {"dns-cookies", T_BOOL, offsetof(conf_t, dns_cookies), 0, NOREP, 0, 0, "yes",
     "DNS Cookies (RFC 7873, RFC 9018): clients that return our cookie are not rate-limited"},
    {"minimal-any", T_BOOL, offsetof(conf_t, minimal_any), 0, NOREP, 0, 0, "yes",
     "answer ANY over UDP with one RRset (RFC 8482); TCP and HTTPS get all of them"},
    {"lookup-rate", T_UINT, offsetof(conf_t, lookup_rate), 0, NOREP, 1000000, 0, "100",
     "DHT lookups one client network (/24, /56) may start per second by asking for key names "
     "that are not cached; more get SERVFAIL (0: no limit)"},
    {"rebind-protection", T_BOOL, offsetof(conf_t, rebind_protection), 0, NOREP, 0, 0, "yes",
     "remove A/AAAA records in private, loopback, link-local and CGNAT ranges from answers "
     "out of DHT zones (not own zones), so that no zone can point browsers here (DNS "
     "rebinding); 'no' for meshes whose names point into private networks"},
    {"relay", T_STR, offsetof(conf_t, relay), CONF_URL_LEN, offsetof(conf_t, n_relay),
     CONF_RELAY_MAX, 0, "",
     "pkarr relay to ask for key names in parallel with the DHT (alone when the DHT cannot "
     "be reached) and to publish through, a base URL such as https://relay.pkarr.org "
     "(repeatable; docs/relay.md)"},
    {"relay-timeout", T_UINT, offsetof(conf_t, relay_timeout), 0, NOREP, 60000, 100, "2000",
     "milliseconds a request to a relay may take"},
    {"relay-ca", T_FILE, STR(relay_ca), NOREP, 0, 0, "",
     "PEM CA certificates that https:// relays are checked against instead of the system's"},
    {"registrar", T_FILE, offsetof(conf_t, registrar), CONF_PATH_LEN, offsetof(conf_t, n_registrar),
     CONF_REGISTRAR_MAX, 0, "",
     "run the registry of this key file: keep its policy, log and names, take registrations "
     "on the API and put its items into the DHT (repeatable; docs/registries.md)"},
    {"registrar-rate", T_UINT, offsetof(conf_t, registrar_rate), 0, NOREP, 1000000, 0, "2000",
     "requests to the registries this node runs (/v1/registry/<key>/ but log/) a second from "
     "one client network (/24, /56), with a burst of as many; more get 429 (0: no limit)"},
    {"audit", T_STR, offsetof(conf_t, audit), CONF_PAIR_LEN, offsetof(conf_t, n_audit),
     CONF_AUDIT_MAX, 0, "",
     "audit the registry of this key (z-base32): check each new signed tree head of its log "
     "against the last with a consistency proof from <key>=URL, a node that serves the log, "
     "or else the registrar's URL in its policy, and each of its label items this node "
     "resolves against the log with an inclusion proof; failures go to the log, /v1/status "
     "and /metrics (repeatable; docs/registries.md)"},
    {"audit-interval", T_UINT, offsetof(conf_t, audit_interval), 0, NOREP, 86400, 1, "300",
     "seconds between two checks of each audited registry's tree head"},
    {"audit-mirror", T_BOOL, offsetof(conf_t, audit_mirror), 0, NOREP, 0, 0, "no",
     "mirror each audited registry's log: copy the entries up to each verified tree head "
     "into the data-dir and serve them on /v1/registry/<key>/log/ (docs/registries.md)"},
    {"relay-max-requests", T_UINT, offsetof(conf_t, relay_max_requests), 0, NOREP, 100000, 1, "64",
     "requests to relays in flight at once; more are not sent"},
    {"private-domain", T_STR, offsetof(conf_t, private_domain), CONF_PAIR_LEN,
     offsetof(conf_t, n_private_domain), CONF_BOOTSTRAP_MAX, 0, "",
     "names at or below this domain may have private addresses despite rebind-protection: a "
     "<z32> key, a root or key-suffix name, or a name below them (repeatable)"},
    {"lookup-pool", T_UINT, offsetof(conf_t, lookup_pool), 0, NOREP, 100000, 1, "96",
     "DHT lookups running at once for clients' key names, shared fairly between client "
     "networks (/24, /56); below the DHT's own 128 so that republishing keeps room; more get "
     "SERVFAIL \"DHT lookups busy\""},
    {"max-pending", T_UINT, offsetof(conf_t, max_pending), 0, NOREP, 1000000, 1, "4096",
     "DNS queries waiting for the DHT or an upstream server at once; more get SERVFAIL"},
    {"dht-puts-per-minute", T_UINT, offsetof(conf_t, dht_puts_per_minute), 0, NOREP, 1000000, 1,
     "60", "BEP 44 puts accepted from one IP address per minute"},
    {"dht-max-items", T_UINT, offsetof(conf_t, dht_max_items), 0, NOREP, 10000000, 1, "4096",
     "BEP 44 items stored for others; the oldest goes when a new one comes"},
    {"dht-max-bytes", T_UINT, offsetof(conf_t, dht_max_bytes), 0, NOREP, 1073741824, 1024,
     "4194304", "bytes of BEP 44 values and salts stored for others"},
    /* docs/design.md §4 "Lookups assume a Sybil minority" and §3 step 2 (docs/dht.md). */
    {"dht-paths", T_UINT, offsetof(conf_t, dht_paths), 0, NOREP, 8, 1, "3",
     "disjoint paths of a DHT lookup; each node is asked by one path only"},
    {"dht-enforce-node-id", T_BOOL, offsetof(conf_t, dht_enforce_node_id), 0, NOREP, 0, 0, "yes",
     "lookups use no node with a public address whose ID does not conform to BEP 42"},
    {"dht-reply-nodes", T_UINT, offsetof(conf_t, dht_reply_nodes), 0, NOREP, 64, 1, "8",
     "nodes one DHT reply may add to a lookup; the rest of its list is ignored"},
    {"dht-ip-slots", T_UINT, offsetof(conf_t, dht_ip_slots), 0, NOREP, 8, 1, "1",
     "nodes of one IP address in a lookup path and in a routing-table bucket"},
    {"dht-net-slots", T_UINT, offsetof(conf_t, dht_net_slots), 0, NOREP, 8, 1, "2",
     "nodes of one /24 (IPv6 /64) in a lookup path and in a routing-table bucket "
     "(loopback and private addresses are exempt)"},
    {"dht-quorum", T_UINT, offsetof(conf_t, dht_quorum), 0, NOREP, 16, 1, "4",
     "holders in distinct networks (/24, /48) that agree on the highest seq before a zone is "
     "answered ahead of the lookup's end"},
    {"dht-quorum-private", T_UINT, offsetof(conf_t, dht_quorum_private), 0, NOREP, 16, 0, "0",
     "the same when a holder is on a loopback or private address, where each IP counts as a "
     "network; 0: no quorum there (such addresses cost an attacker nothing), the zone is "
     "answered when the lookup converges or at dht-answer-deadline"},
    {"dht-quorum-paths", T_UINT, offsetof(conf_t, dht_quorum_paths), 0, NOREP, 8, 1, "1",
     "distinct lookup paths the dht-quorum holders must come through (2 resists a single "
     "trapped path, at a cost in time to answer)"},
    {"dht-quorum-net-nodes", T_UINT, offsetof(conf_t, dht_quorum_net_nodes), 0, NOREP, 512, 1, "1",
     "a holder's network (/24, /48) counts toward dht-quorum only when the lookup saw at most "
     "this many nodes in it: a Sybil cluster fields many nodes per network near a key "
     "(512: no such check)"},
    {"dht-answer-deadline", T_UINT, offsetof(conf_t, dht_answer_deadline), 0, NOREP, 10000, 1,
     "400",
     "milliseconds after the first verified zone item until it may be answered with, "
     "when the lookup has neither converged nor found a quorum, once one of its paths "
     "converged (at the latest 3 times this)"},
    {"dht-id-vote-nets", T_UINT, offsetof(conf_t, dht_id_vote_nets), 0, NOREP, 16, 1, "3",
     "distinct /16s of the queried nodes that must report our external address before our "
     "BEP 42 node ID changes"},
    {"dht-net-share", T_UINT, offsetof(conf_t, dht_net_share), 0, NOREP, 100, 1, "10",
     "percent of dht-max-items and dht-max-bytes that one network (/24, /64) may fill, at "
     "least 16 items; its puts beyond evict its own oldest items, not others' (loopback and "
     "private addresses count per address and port)"},
    {"dht-seq-memory", T_UINT, offsetof(conf_t, dht_seq_memory), 0, NOREP, 40000000, 0, "0",
     "evicted or expired items whose seq is remembered, so that their older versions stay "
     "refused (302); 0: four times dht-max-items"},
    {"api-max-clients", T_UINT, offsetof(conf_t, api_max_clients), 0, NOREP, 100000, 1, "256",
     "HTTP API connections open at once"},
    {"api-timeout", T_UINT, offsetof(conf_t, api_timeout), 0, NOREP, 3600, 1, "30",
     "seconds before an idle HTTP API connection is closed"},
    {"relay-put-rate", T_UINT, offsetof(conf_t, relay_put_rate), 0, NOREP, 1000000, 0, "30",
     "PUT /<z32> requests a minute from one client address (IPv6: /64) that may not write "
     "(not loopback, no api-token); more get 429; 0: no limit"},
    {"query-log", T_STR, STR(query_log), NOREP, 0, 0, "",
     "log one line per query (client, name, type, rcode, source, time) to this file, or "
     "'stderr'; empty: off (docs/logging.md)"},
    /* RFC 5452 §5: identical questions in flight share one upstream query. */
    {"upstream-max-waiters", T_UINT, offsetof(conf_t, upstream_max_waiters), 0, NOREP, 1000000, 1,
     "1024", "DNS queries waiting at once on one question sent upstream; more get SERVFAIL"},
    {"unwanted-reply-threshold", T_UINT, offsetof(conf_t, unwanted_reply_threshold), 0, NOREP,
     65535, 0, "10",
     "replies with a wrong ID or question on an upstream query's port before the question "
     "is asked again over TCP (0: never; they are counted all the same)"},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))
_Static_assert(NOPTS <= sizeof(((conf_t *)0)->source), "conf_t.source has a byte per option");

/* The first slot of o in conf_t.where: one per value a repeatable option may have. */
static size_t where_base(const opt_t *o)
{
	size_t n = 0;
	for (const opt_t *p = opts; p < o; p++)
		n += p->count_off == NOREP ? 1 : p->max;
	return n;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static const opt_t *find(const char *name)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (strcmp(opts[i].name, name) == 0)
			return &opts[i];
	return NULL;
}

bool conf_known(const char *name)
{
	return find(name) != NULL;
}

int conf_addr_split(const char *s, char *host, size_t hostcap, uint16_t *port)
{
	const char *colon;
	size_t hlen;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL || end[1] != ':')
			return SW_ECONF;
		hlen = (size_t)(end - s - 1);
		s++;
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return SW_ECONF;
		hlen = (size_t)(colon - s);
		/* An IPv6 address needs brackets: "::1:53" could be either ::1 port 53 or the
		 * address ::1:53 with no port. */
		if (memchr(s, ':', hlen))
			return SW_ECONF;
	}
	if (hlen == 0 || hlen >= hostcap)
		return SW_ECONF;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	char *end;
	errno = 0;
	/* Digits only: strtoul would also take spaces and a sign. */
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (errno || *end || !is_digit(colon[1]) || p > 65535)
		return SW_ECONF;
	*port = (uint16_t)p;
	uint8_t buf[16];
	if (inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1)
		return SW_ECONF;
	return 0;
}

int conf_addr_split_default(const char *s, uint16_t defport, char *host, size_t hostcap,
			    uint16_t *port)
{
	uint8_t buf[16];
	/* A bare address (IPv4, or IPv6 without brackets) takes the default port. */
	if (strlen(s) < hostcap &&
	    (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1)) {
		strcpy(host, s);
		*port = defport;
		return 0;
	}
	return conf_addr_split(s, host, hostcap, port);
}

int conf_upstream_split(const char *s, int *kind, char *host, size_t hostcap, uint16_t *port,
			char *name, size_t namecap)
{
	char addr[CONF_PAIR_LEN];
	name[0] = '\0';
	if (strncmp(s, "https://", 8) == 0) {
		/* RFC 8484 §3: an https URI (a template without variables: POST). libcurl
		 * parses it; here only its shape: a host, then a path. */
		const char *path = strchr(s + 8, '/');
		size_t len = strlen(s);
		*kind = CONF_UPSTREAM_HTTPS;
		if (path == NULL || path == s + 8 || len >= namecap || strpbrk(s, " \t{}#") != NULL)
			return SW_ECONF;
		memcpy(name, s, len + 1);
		return 0;
	}
	*kind = strncmp(s, "tls://", 6) == 0 ? CONF_UPSTREAM_TLS : CONF_UPSTREAM_PLAIN;
	if (*kind == CONF_UPSTREAM_PLAIN)
		return conf_addr_split_default(s, 53, host, hostcap, port);
	/* RFC 7858 §3.1: port 853 unless told otherwise; the name after # is Unbound's
	 * forward-addr syntax, the address being what is connected to. */
	const char *hash = strchr(s + 6, '#');
	size_t alen = hash ? (size_t)(hash - (s + 6)) : strlen(s + 6);
	if (alen == 0 || alen >= sizeof(addr))
		return SW_ECONF;
	memcpy(addr, s + 6, alen);
	addr[alen] = '\0';
	if (hash) {
		uint8_t wire[DNS_NAME_MAX];
		size_t wl, nl = strlen(hash + 1);
		char fq[300];
		if (nl == 0 || nl >= namecap || nl > 253)
			return SW_ECONF;
		snprintf(fq, sizeof(fq), "%s.", hash + 1);
		if (dns_name_from_str(fq, wire, &wl) != 0)
			return SW_ECONF;
		memcpy(name, hash + 1, nl + 1);
	}
	return conf_addr_split_default(addr, 853, host, hostcap, port);
}

static int set_one(conf_t *c, const opt_t *o, const char *value, conf_source_t src, uint32_t where,
		   char *err, size_t errcap)
{
	char *base = (char *)c + o->off;
	size_t idx = (size_t)(o - opts), slot = where_base(o);
	switch (o->type) {
	case T_HOSTPORT: {
		const char *colon = strrchr(value, ':');
		char *end = NULL;
		unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
		if (strcmp(value, "none") != 0 &&
		    (colon == NULL || colon == value || !is_digit(colon[1]) || *end || port == 0 ||
		     port > 65535)) {
			snprintf(err, errcap,
				 "%s: '%s' is not host:port (e.g. 127.0.0.1:6881 or "
				 "router.bittorrent.com:6881) or 'none'",
				 o->name, value);
			return SW_ECONF;
		}
		goto store_str;
	}
	case T_PAIR: {
		const char *eq = strchr(value, '=');
		if (eq == NULL || eq == value || eq[1] == '\0') {
			snprintf(err, errcap, "%s: '%s' is not NAME=VALUE", o->name, value);
			return SW_ECONF;
		}
		goto store_str;
	}
	case T_ADDR: {
		char host[CONF_ADDR_LEN];
		uint16_t port;
		if (conf_addr_split(value, host, sizeof(host), &port) != 0) {
			snprintf(
			    err, errcap,
			    "%s: '%s' is not an address:port (e.g. 127.0.0.1:5300 or [::1]:5300)",
			    o->name, value);
			return SW_ECONF;
		}
	}
		/* fall through */
	case T_STR:
	case T_FILE:
	store_str:
		if (strlen(value) >= o->size) {
			snprintf(err, errcap, "%s: value is longer than %zu characters", o->name,
				 o->size - 1);
			return SW_ECONF;
		}
		if (o->count_off != NOREP) {
			unsigned *n = (unsigned *)((char *)c + o->count_off);
			if (c->source[idx] != src)
				*n = 0; /* a later source replaces the list */
			if (*n >= o->max) {
				snprintf(err, errcap, "%s: at most %u values", o->name, o->max);
				return SW_ECONF;
			}
			slot += *n;
			base += (*n)++ * o->size;
		}
		strcpy(base, value);
		break;
	case T_UINT: {
		char *end;
		errno = 0;
		unsigned long v = strtoul(value, &end, 10);
		if (errno || *end || !is_digit(value[0]) || v < o->min || v > o->max) {
			snprintf(err, errcap, "%s: '%s' is not a whole number from %u to %u",
				 o->name, value, o->min, o->max);
			return SW_ECONF;
		}
		*(uint32_t *)base = (uint32_t)v;
		break;
	}
	case T_BOOL: {
		static const char *const yes[] = {"yes", "on", "true", "1"};
		static const char *const no[] = {"no", "off", "false", "0"};
		bool *b = (bool *)base;
		size_t i;
		for (i = 0; i < 4; i++) {
			if (strcmp(value, yes[i]) == 0) {
				*b = true;
				break;
			}
			if (strcmp(value, no[i]) == 0) {
				*b = false;
				break;
			}
		}
		if (i == 4) {
			snprintf(err, errcap, "%s: '%s' is not yes or no", o->name, value);
			return SW_ECONF;
		}
		break;
	}
	case T_LOGLEVEL:
		if (sw_log_level_from_str(value, (sw_log_level_t *)base) != 0) {
			snprintf(err, errcap, "%s: '%s' is not one of error, warn, info, debug",
				 o->name, value);
			return SW_ECONF;
		}
		break;
	}
	c->source[idx] = (uint8_t)src;
	if (slot < CONF_WHERE_MAX)
		c->where[slot] = where;
	return 0;
}

void conf_init(conf_t *c)
{
	char err[256], one[CONF_PATH_LEN];
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < NOPTS; i++) {
		if (opts[i].count_off == NOREP) {
			set_one(c, &opts[i], opts[i].def, CONF_SRC_DEFAULT, 0, err, sizeof(err));
			continue;
		}
		/* A repeatable option's default may list several values, separated by spaces. */
		for (const char *p = opts[i].def; *p;) {
			size_t n = strcspn(p, " ");
			if (n > 0 && n < sizeof(one)) {
				memcpy(one, p, n);
				one[n] = '\0';
				set_one(c, &opts[i], one, CONF_SRC_DEFAULT, 0, err, sizeof(err));
			}
			p += n;
			while (*p == ' ')
				p++;
		}
	}
}

int conf_set(conf_t *c, const char *name, const char *value, conf_source_t src, char *err,
	     size_t errcap)
{
	const opt_t *o = find(name);
	if (o == NULL) {
		snprintf(err, errcap, "unknown option '%s' (swarmdns serve --help lists them)",
			 name);
		return SW_ECONF;
	}
	return set_one(c, o, value, src, 0, err, errcap);
}

int conf_set_arg(conf_t *c, const char *name, const char *value, unsigned argi, char *err,
		 size_t errcap)
{
	const opt_t *o = find(name);
	if (o == NULL) {
		snprintf(err, errcap, "unknown option '--%s' (see --help)", name);
		return SW_ECONF;
	}
	size_t idx = (size_t)(o - opts);
	/* The command line is one source like a file: a second value of a single-value option
	 * there is more likely a mistake than a wish (only across sources does one win). */
	if (o->count_off == NOREP && c->source[idx] == CONF_SRC_CLI) {
		snprintf(err, errcap,
			 "--%s is given twice on the command line (arguments %u and %u); give "
			 "it once",
			 name, c->where[where_base(o)], argi);
		return SW_ECONF;
	}
	return set_one(c, o, value, CONF_SRC_CLI, argi, err, errcap);
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/* Takes the value that starts at p (past the blanks after the name) in place: a quoted one
 * loses its quotes and escapes; an unquoted one ends where a comment starts ('#' after a
 * blank) and loses its trailing blanks. Returns NULL with *why set on a malformed line. */
static char *take_value(char *p, const char **why)
{
	char *v = p, *d = p;
	if (*p == '"' || *p == '\'') {
		char q = *p++;
		for (;; p++) {
			if (*p == '\0') {
				*why = q == '"' ? "a quoted value has no closing \""
						: "a quoted value has no closing '";
				return NULL;
			}
			if (*p == q)
				break;
			if (q == '"' && *p == '\\') {
				if (p[1] != '"' && p[1] != '\\') {
					*why =
					    "in \"...\" only \\\" and \\\\ are escapes (use '...' "
					    "for a value with backslashes)";
					return NULL;
				}
				p++;
			}
			*d++ = *p;
		}
		*d = '\0';
		/* After the closing quote: blanks, then nothing or a comment. */
		char *rest = ++p;
		while (is_blank(*p))
			p++;
		if (*p != '\0' && (*p != '#' || p == rest)) {
			*why = "text after the closing quote (a comment starts with ' #')";
			return NULL;
		}
		return v;
	}
	for (; *p; p++)
		if (*p == '#' && (p == v || is_blank(p[-1]))) /* v follows a blank */
			break;
	*p = '\0';
	while (p > v && is_blank(p[-1]))
		*--p = '\0';
	return v;
}

int conf_parse_text(conf_t *c, const char *text, size_t len, const char *filename, char *err,
		    size_t errcap)
{
	size_t pos = 0;
	unsigned line = 0;
	uint32_t seen[NOPTS] = {0}; /* line of each single-value option in this file */
	while (pos < len) {
		char buf[2048], msg[1024];
		size_t end = pos;
		while (end < len && text[end] != '\n')
			end++;
		line++;
		size_t n = end - pos;
		if (n >= sizeof(buf)) {
			snprintf(err, errcap, "%s:%u: line is too long", filename, line);
			return SW_ECONF;
		}
		memcpy(buf, text + pos, n);
		buf[n] = '\0';
		pos = end + 1;
		if (memchr(buf, '\0', n)) {
			snprintf(err, errcap, "%s:%u: line contains a NUL byte", filename, line);
			return SW_ECONF;
		}
		char *p = buf;
		while (is_blank(*p))
			p++;
		if (*p == '#')
			continue; /* a comment line */
		char *name = p;
		while (*p && !is_blank(*p))
			p++;
		if (p == name)
			continue; /* blank */
		if (*p)
			*p++ = '\0';
		while (is_blank(*p))
			p++;
		bool quoted = *p == '"' || *p == '\'';
		const char *why = NULL;
		char *value = take_value(p, &why);
		if (value == NULL) {
			snprintf(err, errcap, "%s:%u: %s: %s", filename, line, name, why);
			return SW_ECONF;
		}
		if (value[0] == '\0' && !quoted) {
			snprintf(err, errcap,
				 "%s:%u: option '%s' needs a value (\"\" for an empty one)",
				 filename, line, name);
			return SW_ECONF;
		}
		const opt_t *o = find(name);
		if (o && o->count_off == NOREP && seen[o - opts]) {
			snprintf(
			    err, errcap,
			    "%s:%u: %s is set twice, on lines %u and %u; a single-value option "
			    "takes one line (remove one)",
			    filename, line, name, seen[o - opts], line);
			return SW_ECONF;
		}
		if (o == NULL || set_one(c, o, value, CONF_SRC_FILE, line, msg, sizeof(msg)) != 0) {
			if (o == NULL)
				snprintf(
				    msg, sizeof(msg),
				    "unknown option '%.200s' (swarmdns serve --help lists them)",
				    name);
			snprintf(err, errcap, "%s:%u: %s", filename, line, msg);
			return SW_ECONF;
		}
		seen[o - opts] = line;
	}
	snprintf(c->file, sizeof(c->file), "%s", filename);
	return 0;
}

int conf_pin_parse(const conf_t *c, const char *value, uint8_t pk[32], char label[64])
{
	const char *rest;
	size_t len;
	label[0] = '\0';
	if (sw_z32_decode_key(value, strlen(value), pk) == 0)
		return 0;
	if (reg_name_split(value, label, &rest, &len) != 0)
		return SW_ECONF;
	if (sw_z32_decode_key(rest, len, pk) == 0)
		return 0;
	for (unsigned i = 0; i < c->n_root; i++) {
		const char *eq = strchr(c->root[i], '=');
		size_t sl = (size_t)(eq - c->root[i]);
		if (sl == len && strncasecmp(c->root[i], rest, len) == 0)
			return sw_z32_decode_key(eq + 1, strlen(eq + 1), pk) == 0 ? 0 : SW_ECONF;
	}
	return SW_ECONF;
}

int conf_check(const conf_t *c, char *err, size_t errcap)
{
	if (c->min_ttl > c->max_ttl) {
		snprintf(err, errcap, "min-ttl (%u) is larger than max-ttl (%u)", c->min_ttl,
			 c->max_ttl);
		return SW_ECONF;
	}
	for (unsigned i = 0; i < c->n_root; i++) {
		const char *eq = strchr(c->root[i], '=');
		uint8_t pk[32], name[DNS_NAME_MAX];
		size_t len;
		char suffix[CONF_PAIR_LEN + 2];
		snprintf(suffix, sizeof(suffix), "%.*s.", (int)(eq - c->root[i]), c->root[i]);
		if (sw_z32_decode_key(eq + 1, strlen(eq + 1), pk) != 0 ||
		    dns_name_from_str(suffix, name, &len) != 0) {
			snprintf(err, errcap, "root %s: needs SUFFIX=<52-character z-base32 key>",
				 c->root[i]);
			return SW_ECONF;
		}
	}
	for (unsigned i = 0; i < c->n_pin; i++) {
		uint8_t pk[32];
		char label[REG_LABEL_MAX + 1];
		if (conf_pin_parse(c, c->pin[i], pk, label) != 0) {
			snprintf(
			    err, errcap,
			    "pin %s: needs a 52-character z-base32 key, or a registered name "
			    "LABEL.<registry key> or LABEL.ROOT under a 'root ROOT=<key>' option",
			    c->pin[i]);
			return SW_ECONF;
		}
	}
	for (unsigned i = 0; i < c->n_audit; i++) {
		const char *eq = strchr(c->audit[i], '=');
		size_t klen = eq ? (size_t)(eq - c->audit[i]) : strlen(c->audit[i]);
		uint8_t pk[32];
		if (sw_z32_decode_key(c->audit[i], klen, pk) != 0 ||
		    (eq && strncmp(eq + 1, "http://", 7) != 0 &&
		     strncmp(eq + 1, "https://", 8) != 0)) {
			snprintf(err, errcap,
				 "audit %s: needs a registry's 52-character z-base32 key, or "
				 "KEY=http(s)://node-serving-its-log",
				 c->audit[i]);
			return SW_ECONF;
		}
	}
	for (unsigned i = 0; i < c->n_forward; i++) {
		const char *eq = strchr(c->forward[i], '=');
		char host[CONF_ADDR_LEN];
		uint16_t port;
		if (conf_addr_split_default(eq + 1, 53, host, sizeof(host), &port) != 0) {
			snprintf(err, errcap, "forward %s: needs SUFFIX=address[:port]",
				 c->forward[i]);
			return SW_ECONF;
		}
	}
	for (unsigned i = 0; i < c->n_upstream; i++) {
		char host[CONF_ADDR_LEN], name[CONF_PAIR_LEN];
		uint16_t port;
		int kind;
		if (strcmp(c->upstream[i], "none") != 0 &&
		    conf_upstream_split(c->upstream[i], &kind, host, sizeof(host), &port, name,
					sizeof(name)) != 0) {
			if (kind == CONF_UPSTREAM_TLS)
				snprintf(
				    err, errcap,
				    "upstream %s: needs tls://IP-address[:port][#certificate-name] "
				    "(the server's name goes after #, e.g. "
				    "tls://9.9.9.9#dns.quad9.net)",
				    c->upstream[i]);
			else
				snprintf(err, errcap,
					 "upstream %s: needs address[:port], "
					 "tls://address[:port][#certificate-name], "
					 "https://host[:port]/path or none",
					 c->upstream[i]);
			return SW_ECONF;
		}
	}
	for (unsigned i = 0; i < c->n_relay; i++) {
		if (strncmp(c->relay[i], "http://", 7) != 0 &&
		    strncmp(c->relay[i], "https://", 8) != 0) {
			snprintf(err, errcap,
				 "relay %s: needs a base URL, http://HOST[:PORT][/PATH] or "
				 "https://...",
				 c->relay[i]);
			return SW_ECONF;
		}
	}
	for (unsigned i = 0; i < c->n_private_domain; i++) {
		char name[CONF_PAIR_LEN + 2];
		uint8_t wire[DNS_NAME_MAX];
		size_t len, l = strlen(c->private_domain[i]);
		snprintf(name, sizeof(name), "%s%s", c->private_domain[i],
			 l && c->private_domain[i][l - 1] == '.' ? "" : ".");
		if (dns_name_from_str(name, wire, &len) != 0) {
			snprintf(err, errcap, "private-domain %s: not a domain name",
				 c->private_domain[i]);
			return SW_ECONF;
		}
	}
	if ((c->n_listen_dot || c->n_listen_doh) && (!c->tls_cert[0] || !c->tls_key[0])) {
		snprintf(err, errcap,
			 "%s needs tls-cert and tls-key (for trying it out, "
			 "'swarmdns cert -o DIR' makes a pair)",
			 c->n_listen_dot ? "listen-dot" : "listen-doh");
		return SW_ECONF;
	}
	if (c->data_dir[0] == '\0') {
		snprintf(err, errcap, "data-dir must not be empty");
		return SW_ECONF;
	}
	return 0;
}

void conf_print_help(FILE *f)
{
	for (size_t i = 0; i < NOPTS; i++) {
		char head[64];
		snprintf(head, sizeof(head), "--%s %s", opts[i].name,
			 opts[i].type == T_UINT	      ? "N"
			 : opts[i].type == T_BOOL     ? "yes|no"
			 : opts[i].type == T_ADDR     ? "ADDR:PORT"
			 : opts[i].type == T_HOSTPORT ? "HOST:PORT"
			 : opts[i].type == T_FILE     ? "FILE"
						      : "VALUE");
		fprintf(f, "  %-32s %s", head, opts[i].help);
		if (opts[i].def[0])
			fprintf(f, " [default: %s]", opts[i].def);
		fputc('\n', f);
	}
}

/* Writes v so that conf_parse_text() reads it back as it is. */
static void print_value(FILE *f, const char *v)
{
	if (v[0] != '\0' && strpbrk(v, " \t\r#\"'\\") == NULL) {
		fputs(v, f);
		return;
	}
	fputc('"', f);
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			fputc('\\', f);
		fputc(*v, f);
	}
	fputc('"', f);
}

static void print_origin(const conf_t *c, const opt_t *o, size_t slot, FILE *f)
{
	uint32_t w = slot < CONF_WHERE_MAX ? c->where[slot] : 0;
	switch (c->source[o - opts]) {
	case CONF_SRC_FILE:
		fprintf(f, "  # %s:%u\n", c->file, w);
		break;
	case CONF_SRC_CLI:
		fprintf(f, "  # command line\n");
		break;
	default:
		fprintf(f, "  # default\n");
		break;
	}
}

void conf_print(const conf_t *c, FILE *f)
{
	static const char *const levels[] = {"error", "warn", "info", "debug"};
	fprintf(f,
		"# The effective configuration (swarmdns serve --print-config): each value with\n"
		"# where it came from. It can be used as a config file as it is.\n");
	for (size_t i = 0; i < NOPTS; i++) {
		const opt_t *o = &opts[i];
		const char *base = (const char *)c + o->off;
		size_t slot = where_base(o);
		if (o->count_off != NOREP) {
			unsigned n = *(const unsigned *)((const char *)c + o->count_off);
			if (n == 0)
				fprintf(f, "# %s (no value)  # default\n", o->name);
			for (unsigned k = 0; k < n; k++) {
				fprintf(f, "%s ", o->name);
				print_value(f, base + k * o->size);
				print_origin(c, o, slot + k, f);
			}
			continue;
		}
		fprintf(f, "%s ", o->name);
		switch (o->type) {
		case T_UINT:
			fprintf(f, "%u", *(const uint32_t *)base);
			break;
		case T_BOOL:
			fputs(*(const bool *)base ? "yes" : "no", f);
			break;
		case T_LOGLEVEL:
			fputs(levels[*(const sw_log_level_t *)base], f);
			break;
		default:
			print_value(f, base);
			break;
		}
		print_origin(c, o, slot, f);
	}
}

int conf_foreach_file(const conf_t *c, int (*cb)(const char *name, const char *path, void *ctx),
		      void *ctx)
{
	for (size_t i = 0; i < NOPTS; i++) {
		unsigned n = opts[i].count_off == NOREP
				 ? 1
				 : *(const unsigned *)((const char *)c + opts[i].count_off);
		for (unsigned j = 0; opts[i].type == T_FILE && j < n; j++) {
			const char *v = (const char *)c + opts[i].off + j * opts[i].size;
			int ret;
			if (v[0] && (ret = cb(opts[i].name, v, ctx)) != 0)
				return ret;
		}
	}
	return 0;
}
