/*
 * The ordinary-DNS forwarder (docs/design.md §6): names outside the swarm are sent to upstream
 * recursive servers, and their answers are cached. It owns its cache and one UDP socket (or,
 * after TC=1, one TCP connection) per query in flight; nothing else.
 *
 * Each try uses a fresh UDP socket connected to the server, so the kernel picks a random
 * source port and drops datagrams from any other address, and a fresh random 16-bit ID
 * (RFC 5452 §9.2). An answer is accepted only with our ID, QR=1 and the question we asked
 * (RFC 5452 §9.1). TC=1 is retried over TCP to the same server (RFC 7766 §5); SERVFAIL,
 * REFUSED, a malformed answer, an ICMP error or a timeout move on to the next server. Complete
 * answers are cached: positive ones for the lowest TTL of their records, NXDOMAIN and NODATA
 * for the SOA's negative TTL (RFC 2308 §5). The client's OPT record goes upstream unchanged
 * (RFC 6891 §7 leaves payload size and DO to the requestor).
 *
 * Identical questions in flight are sent upstream once (RFC 5452 §5): "identical" is the
 * name compared case-insensitively, type, class, the EDNS presence and the DO, CD and RD
 * bits, everything of the query that changes the upstream's answer (the cache's key, plus
 * RD). Each waiting client gets the answer with its own ID and question case. Replies on the
 * query's socket that fail the checks above are counted as unwanted; past a threshold the
 * question is asked again over TCP to the same server, where an off-path spoofer would have
 * to guess a TCP sequence number as well (Unbound's `unwanted-reply-threshold`, here per
 * question in flight).
 *
 * A default server may be encrypted (docs/forward.md "Encrypted upstreams"): DNS over TLS
 * (RFC 7858) over one kept, pipelined connection per server (upstream_tls.h), or DNS over
 * HTTPS (RFC 8484 POST) through the node's HTTP client (http.h). A try to such a server is
 * checked as a TCP answer is; a certificate that does not verify fails the try, and, if no
 * server answers, the clients get SERVFAIL with EDE 23 naming the upstream and the reason.
 *
 * libuv; loop thread only.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#define NET_FORWARD_UPSTREAMS_MAX 8
#define NET_FORWARD_RULES_MAX 16
#define NET_FORWARD_RULE_ADDRS_MAX 4

typedef struct net_forward net_forward_t;

enum { NET_FORWARD_PLAIN = 0, NET_FORWARD_TLS = 1, NET_FORWARD_HTTPS = 2 };

typedef struct {
	/* Default servers, in order of preference. */
	struct sockaddr_storage upstreams[NET_FORWARD_UPSTREAMS_MAX];
	size_t n_upstreams;
	/* How each default server is reached: NET_FORWARD_PLAIN (UDP, TCP after TC=1),
	 * NET_FORWARD_TLS (RFC 7858, port 853 usually) with in name the name its certificate
	 * must carry ("": its address), or NET_FORWARD_HTTPS (RFC 8484, POST over HTTP/2) with
	 * in name the URL; the address in upstreams then only tells the servers apart (and
	 * is 0.0.0.0 when the URL names a host). Zeroed: plain. */
	struct {
		uint8_t transport;
		char name[320];
	} upstream_tp[NET_FORWARD_UPSTREAMS_MAX];
	/* PEM CA certificates that TLS servers' certificates must chain to; "": the system's
	 * store. Read by net_forward_new() only. */
	char ca_file[1024];
	/* `forward SUFFIX=addr`: the longest suffix that contains the query name wins. */
	struct {
		uint8_t suffix[255]; /* wire name, lower case */
		struct sockaddr_storage addrs[NET_FORWARD_RULE_ADDRS_MAX];
		size_t n;
	} rules[NET_FORWARD_RULES_MAX];
	size_t n_rules;
	uint32_t timeout_ms;	     /* per UDP try; 0 means 800 (a dead first server costs < 1 s);
				      * a TCP try gets twice this (connect, then the exchange) */
	size_t cache_entries;	     /* 0 disables the cache; net_forward_opts_init() sets 10000;
				      * memory is bounded too, at 2 KiB per entry on average */
	uint32_t cache_max_ttl;	     /* seconds; 0 means 86400 */
	size_t max_pending;	     /* client queries waiting; 0 means 4096 */
	size_t max_waiters;	     /* client queries waiting on one question; 0 means 1024 */
	uint32_t unwanted_threshold; /* unwanted replies to one UDP try before the question
				      * goes over TCP; 0: never (they are still counted) */
} net_forward_opts_t;

/* Fills opts with the defaults: no servers, no rules, 800 ms, 10000 entries, 86400 s,
 * 4096 client queries waiting, 1024 of them on one question, TCP after 10 unwanted
 * replies. */
void net_forward_opts_init(net_forward_opts_t *opts);

/* Called exactly once per query, never from inside net_forward_query(). resp is the
 * upstream's response with the ID and the question case of the original query restored;
 * it is valid only during the call. It may be larger than the client's UDP payload size
 * (it may have come over TCP): truncating is the caller's job. err is 0, or SW_ECONN when
 * every server failed or timed out (resp is then NULL). When every server failed and the
 * last one to answer said SERVFAIL, that SERVFAIL is passed on with err 0, so that its
 * Extended DNS Error reaches the client. */
typedef void (*net_forward_cb)(void *ctx, const uint8_t *resp, size_t len, int err);

/* Creates a forwarder on loop; opts is copied. Returns 0, SW_EINVAL (a rule or an address
 * of an unknown family), SW_ECONF (TLS servers, and the CA certificates cannot be read: the
 * reason is logged) or SW_ENOMEM. */
int net_forward_new(uv_loop_t *loop, const net_forward_opts_t *opts, net_forward_t **out);
/* Frees the forwarder. Queries in flight end without callbacks; their sockets close
 * asynchronously (the loop must run once more to release them). NULL is a no-op. */
void net_forward_free(net_forward_t *f);

/* Replaces the servers and rules, max_waiters and unwanted_threshold (the rest of opts is
 * ignored: the cache and its bounds stay). Queries in flight finish with the servers they
 * started with. Returns 0, SW_EINVAL (as net_forward_new()) or SW_ENOMEM, with the old
 * servers kept on failure. */
int net_forward_set_servers(net_forward_t *f, const net_forward_opts_t *opts);

/* Answers from the cache: copies the cached response to a query with the same name
 * (case-insensitively), type, class and EDNS presence, DO and CD bits into out, with the
 * query's ID, RD and CD bits and question case, and every TTL lowered by the entry's age.
 * Returns its length, or 0 on a miss, an expired entry, an unparsable query, or when the
 * response does not fit in cap (a UDP caller passes the client's payload size, and on a
 * miss forwards the query). Allocates nothing. */
size_t net_forward_cache_answer(net_forward_t *f, const uint8_t *query, size_t qlen, uint8_t *out,
				size_t cap);

/* Sends the query upstream: to the servers of the longest matching rule, else to the
 * defaults, each once in order (a single server is tried twice). A query identical to one in
 * flight (see above) waits for that one's answer instead. Returns 0 (cb then runs exactly
 * once, later), SW_EINVAL (not a standard query with one question), SW_ELIMIT (max_pending
 * client queries waiting, or max_waiters on this question) or SW_ENOMEM. Having no server at
 * all is reported through cb with SW_ECONN. */
int net_forward_query(net_forward_t *f, const uint8_t *query, size_t qlen, net_forward_cb cb,
		      void *ctx);

/* Cancels every query whose ctx is ctx; their callbacks do not run. A question that nobody
 * waits for any more is abandoned. */
void net_forward_cancel(net_forward_t *f, void *ctx);

/* Counters for metrics. queries: accepted by net_forward_query(); coalesced: of those, the
 * ones that joined an identical question in flight instead of being sent; waiters_refused:
 * refused for max_waiters; cache_hits/cache_misses: outcomes of net_forward_cache_answer();
 * timeouts: tries that got no answer in time; tcp_retries: TC=1 answers retried over TCP;
 * unwanted: UDP replies with a wrong ID, question or source; unwanted_tcp: questions moved
 * to TCP for unwanted_threshold; failovers: moves to another server after a failed try;
 * failures: questions that ended with SW_ECONN or a passed-on SERVFAIL. */
typedef struct {
	uint64_t queries, coalesced, waiters_refused, cache_hits, cache_misses, timeouts,
	    tcp_retries, unwanted, unwanted_tcp, failovers, failures;
	/* Tries sent, by transport; DoT connections opened, handshakes completed, handshakes
	 * failed (of those, certificates rejected), sessions resumed; DoH requests that failed in
	 * TLS (libcurl: a certificate, mostly). */
	uint64_t sent_udp, sent_tcp, sent_tls, sent_https, tls_connects, tls_handshakes,
	    tls_failures, tls_cert_failures, tls_resumed, https_tls_failures;
} net_forward_stats_t;
void net_forward_stats(const net_forward_t *f, net_forward_stats_t *out);

/* Drops cached answers (`swarmdns flush`): every one when name is NULL, else those for name
 * (wire form, any case) and the names below it, of every type. Questions in flight go on.
 * Returns the number of answers dropped. */
size_t net_forward_flush(net_forward_t *f, const uint8_t *name);

/* Entries in the cache now (for metrics and tests). */
size_t net_forward_cache_size(const net_forward_t *f);
