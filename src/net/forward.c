/*
 * The ordinary-DNS forwarder: see forward.h.
 *
 * A query in flight (fwd_query_t) owns a timer and at most one socket (fwd_sock_t), UDP for
 * a try or TCP after TC=1. A socket that is replaced is detached from its query (sock->q =
 * NULL) before it is closed, so that late callbacks find nothing to act on; its memory is
 * freed in its close callback, the query's in its timer's close callback (libuv's rule).
 * Queries in flight are on a doubly linked list for cancel and free.
 *
 * Identical questions share one query in flight (RFC 5452 §5: the more identical questions
 * are outstanding, the better a spoofer's odds, as one forged answer fits any of them). A
 * query keeps a list of waiters (fwd_waiter_t), each with its own callback, ID and question
 * case, and sits in a hash table of questions in flight under the cache's key plus the RD
 * bit; it leaves that table when it ends, so that a question asked from inside a callback
 * starts afresh.
 *
 * The cache is a hash table of whole responses keyed by the lower-cased name, type, class
 * and the EDNS, DO and CD bits of the query, with an LRU list for eviction. Each entry
 * remembers where the TTL fields of its records are, so that an answer from the cache is
 * one copy and a few stores.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/arena.h"
#include "common/err.h"
#include "common/log.h"
#include "crypto/crypto.h"
#include "dns/query.h"
#include "dns/wire.h"
#include "net/forward.h"
#include "net/http.h"
#include "net/net.h"
#include "net/upstream_tls.h"

#define FLAG_QR 0x8000
#define FLAG_TC 0x0200
#define FLAG_RD 0x0100
#define FLAG_CD 0x0010
#define OPCODE_MASK 0x7800

#define DEFAULT_TIMEOUT_MS 800
#define DEFAULT_CACHE_ENTRIES 10000
#define DEFAULT_CACHE_MAX_TTL 86400
#define DEFAULT_MAX_PENDING 4096
#define DEFAULT_MAX_WAITERS 1024
#define DEFAULT_UNWANTED_THRESHOLD 10
#define INFLIGHT_BUCKETS_MAX 65536
/* A server that left this many tries in a row unanswered is logged as down (once), and as
 * back at its next answer. */
#define DOWN_AFTER 3
#define HEALTH_MAX (NET_FORWARD_UPSTREAMS_MAX + NET_FORWARD_RULES_MAX * NET_FORWARD_RULE_ADDRS_MAX)
#define CACHE_BYTES_PER_ENTRY 2048 /* the cache's memory budget, per allowed entry */
#define MSG_MAX 65535		   /* RFC 1035 §4.2.2: a two-byte length over TCP */
#define PAD_BLOCK 128		   /* RFC 8467 §4.1: queries padded to a multiple of this */
#define EDNS_OPT_PADDING 12	   /* RFC 7830 */

/* Parts of the cache key beyond name, type and class. */
#define KEY_EDNS 1
#define KEY_DO 2
#define KEY_CD 4
#define KEY_RD 8 /* questions in flight only: RD=0 asks a server for its cache alone */

typedef struct fwd_query fwd_query_t;

/* A client query waiting for the answer to its question. */
typedef struct fwd_waiter fwd_waiter_t;
struct fwd_waiter {
	fwd_waiter_t *next;
	net_forward_cb cb;
	void *ctx;
	uint16_t id;		     /* the client's ID */
	uint8_t qname[DNS_NAME_MAX]; /* the client's case; as long as the query's qname */
};

typedef struct {
	union {
		uv_handle_t handle;
		uv_udp_t udp;
		uv_tcp_t tcp;
	} u;
	fwd_query_t *q;	  /* NULL once detached: callbacks then do nothing */
	net_forward_t *f; /* for the shared UDP receive buffer */
	union {
		uv_udp_send_t send;
		uv_write_t write;
	} req;
	uv_connect_t connect;
	uint8_t *in; /* TCP: the length-prefixed response being read */
	size_t in_len;
	size_t out_len;
	uint8_t out[]; /* the query as sent (TCP: with its length prefix) */
} fwd_sock_t;

struct fwd_query {
	net_forward_t *f;
	fwd_query_t *prev, *next; /* the list of queries in flight */
	fwd_query_t *hnext;	  /* the hash chain of questions in flight */
	uint64_t hash;
	uv_timer_t timer;
	fwd_sock_t *sock;
	net_up_tls_t *enc;	  /* the TLS server of the current try, while it is asked */
	net_http_req_t *http_req; /* the DoH request of the current try, while it is asked */
	uint8_t kinds[NET_FORWARD_UPSTREAMS_MAX]; /* NET_FORWARD_* of each server, at start */
	fwd_waiter_t *waiters;			  /* in the order they came */
	fwd_waiter_t **waiters_tail;
	size_t nwaiters;
	const struct sockaddr_storage *servers; /* in f->opts, or own_servers */
	struct sockaddr_storage *own_servers;	/* a copy made when the servers were replaced */
	size_t nservers;
	size_t tries, ntries; /* tries started, tries allowed */
	size_t cur;	      /* the server of the current try */
	size_t unwanted;      /* unwanted replies to the current try */
	uint16_t id_sent;
	uint16_t qtype, qclass;
	uint8_t kflags;		     /* KEY_*, KEY_RD included */
	bool done;		     /* answered or failed; the waiters are being called */
	bool released;		     /* ended: its handles are closing */
	uint8_t qname[DNS_NAME_MAX]; /* as the first client sent it */
	uint8_t qname_lower[DNS_NAME_MAX];
	size_t qname_len;
	uint8_t *servfail; /* the last SERVFAIL, passed on when every server has failed */
	size_t servfail_len;
	size_t qlen;
	uint8_t query[];
};

typedef struct fwd_entry fwd_entry_t;
struct fwd_entry {
	fwd_entry_t *hnext;	    /* hash chain */
	fwd_entry_t *lprev, *lnext; /* LRU list, most recently used first */
	uint64_t hash;
	uint64_t stored_ms, expires_ms;
	size_t size; /* bytes of this allocation */
	uint16_t qtype, qclass;
	uint8_t kflags;
	uint16_t name_len;
	uint8_t name[DNS_NAME_MAX]; /* lower case */
	uint16_t len;
	uint32_t nttl;
	uint16_t *ttl_off; /* positions of the TTL fields, in this allocation */
	uint8_t *resp;	   /* the response, in this allocation */
};

struct net_forward {
	uv_loop_t *loop;
	net_forward_opts_t opts;
	fwd_query_t *pending;
	size_t npending;	/* queries in flight (one per question) */
	size_t nwaiting;	/* client queries waiting on them: bounded by max_pending */
	fwd_query_t **inflight; /* hash table of the pending queries, by question */
	size_t ninflight;	/* buckets, a power of two */
	net_forward_stats_t stats;
	/* The cache. */
	fwd_entry_t **buckets;
	size_t nbuckets; /* a power of two */
	fwd_entry_t *lru_head, *lru_tail;
	size_t nentries, bytes, max_bytes;
	uint64_t seed;
	/* Each server's answers, for the operator's "down" and "back" lines. */
	struct {
		struct sockaddr_storage addr;
		uint32_t fails; /* tries in a row without an answer */
		bool down;
		uint64_t down_ms;
	} health[HEALTH_MAX];
	size_t nhealth;
	/* The TLS servers among the defaults, one connection each; creds made for the first. */
	struct {
		struct sockaddr_storage addr;
		char auth_name[256];
		net_up_tls_t *tls;
	} enc[NET_FORWARD_UPSTREAMS_MAX];
	size_t nenc;
	net_up_tls_creds_t *creds;
	net_http_t *http;	 /* for DoH servers; made for the first */
	net_up_tls_stats_t gone; /* counters of TLS servers no longer configured */
	/* UDP datagrams are read here: the loop thread handles one at a time. */
	uint8_t rbuf[MSG_MAX];
	/* A query with its padding, made for a TLS or HTTPS try and copied at once by the
	 * transport (not rbuf: a callback that starts a try may run while rbuf is being
	 * delivered). */
	uint8_t pbuf[MSG_MAX];
};

static void try_next(fwd_query_t *q);

/* ---- small helpers ---- */

void net_forward_opts_init(net_forward_opts_t *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->timeout_ms = DEFAULT_TIMEOUT_MS;
	opts->cache_entries = DEFAULT_CACHE_ENTRIES;
	opts->cache_max_ttl = DEFAULT_CACHE_MAX_TTL;
	opts->max_pending = DEFAULT_MAX_PENDING;
	opts->max_waiters = DEFAULT_MAX_WAITERS;
	opts->unwanted_threshold = DEFAULT_UNWANTED_THRESHOLD;
}

static socklen_t addr_len(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return sizeof(struct sockaddr_in6);
	if (ss->ss_family == AF_INET)
		return sizeof(struct sockaddr_in);
	return 0;
}

/* Is `from` the server we asked (RFC 5452 §9.1: the answer comes from the queried address
 * and port)? */
static bool addr_equal(const struct sockaddr *from, const struct sockaddr_storage *server)
{
	if (from == NULL || from->sa_family != server->ss_family)
		return false;
	if (from->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)from, *b = (const void *)server;
		return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
	}
	if (from->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)from, *b = (const void *)server;
		return a->sin6_port == b->sin6_port &&
		       memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) == 0;
	}
	return false;
}

static const char *https_url(const fwd_query_t *q);

/* The current try's server as the operator wrote it: its URL, tls://address, or address. */
static void server_label(const fwd_query_t *q, char *out, size_t cap)
{
	const char *url = q->kinds[q->cur] == NET_FORWARD_HTTPS ? https_url(q) : NULL;
	char a[80];
	net_addr_to_str((const struct sockaddr *)&q->servers[q->cur], a, sizeof(a));
	if (url)
		snprintf(out, cap, "%s", url);
	else
		snprintf(out, cap, "%s%s", q->kinds[q->cur] == NET_FORWARD_TLS ? "tls://" : "", a);
}

/* Records whether the server of q's current try answered (any answer to our question, even
 * SERVFAIL) or not (a timeout, an ICMP error, a refused connection), and logs the changes. */
static void server_result(fwd_query_t *q, bool answered)
{
	net_forward_t *f = q->f;
	const struct sockaddr_storage *a = &q->servers[q->cur];
	size_t i;
	for (i = 0; i < f->nhealth; i++)
		if (addr_equal((const struct sockaddr *)a, &f->health[i].addr))
			break;
	if (i == f->nhealth) {
		if (answered || i == HEALTH_MAX)
			return;
		memset(&f->health[i], 0, sizeof(f->health[i]));
		f->health[i].addr = *a;
		f->nhealth++;
	}
	char name[400];
	uint64_t now = uv_now(f->loop);
	if (answered) {
		if (f->health[i].down) {
			server_label(q, name, sizeof(name));
			sw_log_limited(SW_LOG_INFO,
				       "upstream %s back: answering again after %llu s", name,
				       (unsigned long long)(now - f->health[i].down_ms) / 1000);
		}
		f->health[i].fails = 0;
		f->health[i].down = false;
		return;
	}
	if (++f->health[i].fails >= DOWN_AFTER && !f->health[i].down) {
		f->health[i].down = true;
		f->health[i].down_ms = now;
		server_label(q, name, sizeof(name));
		sw_log_limited(SW_LOG_WARN,
			       "upstream %s down: no answer to %u tries in a row (names it serves "
			       "go to the next server, or fail)",
			       name, f->health[i].fails);
	}
}

static uint8_t key_flags(const dns_query_t *dq)
{
	return (uint8_t)((dq->has_edns ? KEY_EDNS : 0) | (dq->edns_do ? KEY_DO : 0) |
			 ((dq->flags & FLAG_CD) ? KEY_CD : 0));
}

static uint64_t key_hash(const net_forward_t *f, const uint8_t *name, size_t name_len,
			 uint16_t qtype, uint16_t qclass, uint8_t kflags)
{
	uint64_t h = sw_hash(name, name_len, f->seed);
	uint64_t extra = (uint64_t)qtype << 24 | (uint64_t)qclass << 8 | kflags;
	return sw_hash(&extra, sizeof(extra), h);
}

/* Walks the records of a response. Collects the position of each record's TTL field (OPT's
 * is not a TTL: RFC 6891 §6.1.3) into offs when offs is not NULL, and the lowest TTL; neg_ttl
 * gets the negative-caching TTL of the first SOA in the authority section, the lower of its
 * TTL and its MINIMUM field (RFC 2308 §5), or UINT32_MAX without one. Returns 0 or
 * SW_EMALF. */
static int resp_scan(const uint8_t *msg, size_t len, uint16_t *offs, uint32_t *noffs,
		     uint32_t *min_ttl, uint32_t *neg_ttl)
{
	dns_rd_t r;
	uint8_t name[DNS_NAME_MAX];
	dns_rd_init(&r, msg, len, 4);
	uint16_t qd = dns_rd_u16(&r), an = dns_rd_u16(&r), ns = dns_rd_u16(&r), ar = dns_rd_u16(&r);
	uint32_t n = 0;
	*min_ttl = UINT32_MAX;
	*neg_ttl = UINT32_MAX;
	for (uint16_t i = 0; i < qd; i++) {
		dns_rd_name(&r, name, true);
		dns_rd_u32(&r);
	}
	uint32_t total = (uint32_t)an + ns + ar;
	for (uint32_t i = 0; i < total && !r.err; i++) {
		dns_rd_name(&r, name, true);
		uint16_t type = dns_rd_u16(&r);
		dns_rd_u16(&r);
		size_t ttl_pos = r.pos;
		uint32_t ttl = dns_rd_u32(&r);
		uint16_t rdlen = dns_rd_u16(&r);
		size_t rd_pos = r.pos;
		dns_rd_bytes(&r, rdlen);
		if (r.err || type == DNS_T_OPT)
			continue;
		if (ttl > 0x7FFFFFFF)
			ttl = 0; /* RFC 2181 §8: a TTL with the top bit set counts as zero */
		if (offs != NULL)
			offs[n] = (uint16_t)ttl_pos;
		n++;
		if (ttl < *min_ttl)
			*min_ttl = ttl;
		if (type == DNS_T_SOA && i >= an && i < (uint32_t)an + ns &&
		    *neg_ttl == UINT32_MAX) {
			/* The names in SOA rdata may be compressed (RFC 1035 §4.1.4). */
			dns_rd_t s;
			dns_rd_init(&s, msg, rd_pos + rdlen, rd_pos);
			dns_rd_name(&s, name, true);
			dns_rd_name(&s, name, true);
			dns_rd_bytes(&s, 16); /* serial, refresh, retry, expire */
			uint32_t minimum = dns_rd_u32(&s);
			if (s.err || s.pos != rd_pos + rdlen) {
				r.err = SW_EMALF;
				continue;
			}
			*neg_ttl = minimum < ttl ? minimum : ttl;
		}
	}
	*noffs = n;
	return r.err ? SW_EMALF : 0;
}

/* ---- the cache ---- */

static void lru_unlink(net_forward_t *f, fwd_entry_t *e)
{
	if (e->lprev)
		e->lprev->lnext = e->lnext;
	else
		f->lru_head = e->lnext;
	if (e->lnext)
		e->lnext->lprev = e->lprev;
	else
		f->lru_tail = e->lprev;
	e->lprev = e->lnext = NULL;
}

static void lru_push(net_forward_t *f, fwd_entry_t *e)
{
	e->lprev = NULL;
	e->lnext = f->lru_head;
	if (f->lru_head)
		f->lru_head->lprev = e;
	f->lru_head = e;
	if (f->lru_tail == NULL)
		f->lru_tail = e;
}

static fwd_entry_t *cache_find(net_forward_t *f, uint64_t hash, const uint8_t *name,
			       size_t name_len, uint16_t qtype, uint16_t qclass, uint8_t kflags)
{
	for (fwd_entry_t *e = f->buckets[hash & (f->nbuckets - 1)]; e; e = e->hnext)
		if (e->hash == hash && e->qtype == qtype && e->qclass == qclass &&
		    e->kflags == kflags && e->name_len == name_len &&
		    memcmp(e->name, name, name_len) == 0)
			return e;
	return NULL;
}

static void cache_remove(net_forward_t *f, fwd_entry_t *e)
{
	fwd_entry_t **pp = &f->buckets[e->hash & (f->nbuckets - 1)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(f, e);
	f->nentries--;
	f->bytes -= e->size;
	free(e);
}

/* Stores a response (ID and question already those of the query) for ttl seconds. Failure
 * to allocate only means the answer is not cached. */
static void cache_insert(net_forward_t *f, const fwd_query_t *q, const uint8_t *msg, size_t len,
			 uint32_t ttl)
{
	uint32_t nttl, min_ttl, neg_ttl;
	if (resp_scan(msg, len, NULL, &nttl, &min_ttl, &neg_ttl) != 0)
		return;
	size_t size = sizeof(fwd_entry_t) + (size_t)nttl * sizeof(uint16_t) + len;
	if (size > f->max_bytes)
		return;
	fwd_entry_t *e = malloc(size);
	if (e == NULL)
		return;
	memset(e, 0, sizeof(*e));
	e->ttl_off = (uint16_t *)(e + 1);
	e->resp = (uint8_t *)(e->ttl_off + nttl);
	resp_scan(msg, len, e->ttl_off, &e->nttl, &min_ttl, &neg_ttl);
	memcpy(e->resp, msg, len);
	e->len = (uint16_t)len;
	e->size = size;
	e->qtype = q->qtype;
	e->qclass = q->qclass;
	e->kflags = q->kflags & (uint8_t)~KEY_RD; /* answers from the cache take the RD bit */
	e->name_len = (uint16_t)q->qname_len;
	memcpy(e->name, q->qname_lower, q->qname_len);
	e->hash = key_hash(f, e->name, e->name_len, e->qtype, e->qclass, e->kflags);
	e->stored_ms = uv_now(f->loop);
	e->expires_ms = e->stored_ms + (uint64_t)ttl * 1000;

	fwd_entry_t *old =
	    cache_find(f, e->hash, e->name, e->name_len, e->qtype, e->qclass, e->kflags);
	if (old)
		cache_remove(f, old);
	while (f->lru_tail &&
	       (f->nentries >= f->opts.cache_entries || f->bytes + size > f->max_bytes))
		cache_remove(f, f->lru_tail);
	fwd_entry_t **bucket = &f->buckets[e->hash & (f->nbuckets - 1)];
	e->hnext = *bucket;
	*bucket = e;
	lru_push(f, e);
	f->nentries++;
	f->bytes += size;
}

size_t net_forward_cache_answer(net_forward_t *f, const uint8_t *query, size_t qlen, uint8_t *out,
				size_t cap)
{
	dns_query_t dq;
	if (f->buckets == NULL || dns_query_parse(query, qlen, &dq) != DNS_QUERY_OK ||
	    !dq.has_question)
		goto miss;
	uint8_t kflags = key_flags(&dq);
	uint64_t hash = key_hash(f, dq.qname_lower, dq.qname_len, dq.qtype, dq.qclass, kflags);
	fwd_entry_t *e =
	    cache_find(f, hash, dq.qname_lower, dq.qname_len, dq.qtype, dq.qclass, kflags);
	uint64_t now = uv_now(f->loop);
	if (e != NULL && now >= e->expires_ms) {
		cache_remove(f, e);
		e = NULL;
	}
	if (e == NULL || e->len > cap)
		goto miss;
	memcpy(out, e->resp, e->len);
	dns_wr_put_u16_at(out, 0, dq.id);
	uint16_t flags = (uint16_t)((dns_get_u16(out + 2) & ~(FLAG_RD | FLAG_CD)) |
				    (dq.flags & (FLAG_RD | FLAG_CD)));
	dns_wr_put_u16_at(out, 2, flags);
	/* The question at offset 12 has the query's name length (it was checked uncompressed
	 * and equal when stored), so the client's case can be written over it. */
	memcpy(out + DNS_HDR_LEN, dq.qname, dq.qname_len);
	uint32_t age = (uint32_t)((now - e->stored_ms) / 1000);
	for (uint32_t i = 0; i < e->nttl; i++) {
		uint8_t *p = out + e->ttl_off[i];
		uint32_t ttl = dns_get_u32(p);
		ttl = ttl > age ? ttl - age : 0; /* RFC 1035 §7.4: TTLs count down in a cache */
		dns_wr_put_u16_at(p, 0, (uint16_t)(ttl >> 16));
		dns_wr_put_u16_at(p, 2, (uint16_t)ttl);
	}
	lru_unlink(f, e);
	lru_push(f, e);
	f->stats.cache_hits++;
	return e->len;
miss:
	f->stats.cache_misses++;
	return 0;
}

size_t net_forward_flush(net_forward_t *f, const uint8_t *name)
{
	uint8_t lower[DNS_NAME_MAX];
	size_t n = 0, nl = 0;
	if (name) {
		dns_name_lower(lower, name);
		nl = dns_name_len(lower);
	}
	for (fwd_entry_t *e = f->lru_head, *next; e; e = next) {
		next = e->lnext;
		/* At or below name: its wire form ends with name's, on a label boundary. */
		bool hit = name == NULL;
		if (!hit && e->name_len >= nl &&
		    memcmp(e->name + e->name_len - nl, lower, nl) == 0) {
			for (size_t off = 0; off < e->name_len; off += 1 + (size_t)e->name[off])
				if (off == e->name_len - nl) {
					hit = true;
					break;
				}
		}
		if (hit) {
			cache_remove(f, e);
			n++;
		}
	}
	return n;
}

size_t net_forward_cache_size(const net_forward_t *f)
{
	return f->nentries;
}

/* ---- queries in flight ---- */

static void on_sock_closed(uv_handle_t *h)
{
	fwd_sock_t *s = h->data;
	free(s->in);
	free(s);
}

static void waiters_free(fwd_query_t *q)
{
	while (q->waiters) {
		fwd_waiter_t *w = q->waiters;
		q->waiters = w->next;
		free(w);
	}
	q->waiters_tail = &q->waiters;
}

static void on_timer_closed(uv_handle_t *h)
{
	fwd_query_t *q = h->data;
	waiters_free(q);
	free(q->servfail);
	free(q->own_servers);
	free(q);
}

/* Detaches the current socket from its query and closes it. */
static void sock_drop(fwd_query_t *q)
{
	if (q->enc) {
		net_up_tls_cancel(q->enc, q);
		q->enc = NULL;
	}
	if (q->http_req) {
		net_http_cancel(q->http_req);
		q->http_req = NULL;
	}
	fwd_sock_t *s = q->sock;
	if (s == NULL)
		return;
	q->sock = NULL;
	s->q = NULL;
	uv_close(&s->u.handle, on_sock_closed);
}

/* Takes q out of the table of questions in flight (it may not be there any more). */
static void inflight_remove(fwd_query_t *q)
{
	net_forward_t *f = q->f;
	for (fwd_query_t **pp = &f->inflight[q->hash & (f->ninflight - 1)]; *pp; pp = &(*pp)->hnext)
		if (*pp == q) {
			*pp = q->hnext;
			q->hnext = NULL;
			return;
		}
}

static fwd_query_t *inflight_find(net_forward_t *f, uint64_t hash, const dns_query_t *dq,
				  uint8_t kflags)
{
	for (fwd_query_t *q = f->inflight[hash & (f->ninflight - 1)]; q; q = q->hnext)
		if (q->hash == hash && q->qtype == dq->qtype && q->qclass == dq->qclass &&
		    q->kflags == kflags && q->qname_len == dq->qname_len &&
		    memcmp(q->qname_lower, dq->qname_lower, dq->qname_len) == 0)
			return q;
	return NULL;
}

static void pending_unlink(fwd_query_t *q)
{
	net_forward_t *f = q->f;
	inflight_remove(q);
	f->nwaiting -= q->nwaiters;
	if (q->prev)
		q->prev->next = q->next;
	else
		f->pending = q->next;
	if (q->next)
		q->next->prev = q->prev;
	q->prev = q->next = NULL;
	f->npending--;
}

/* Ends a query (already unlinked) without callbacks: its handles close, its memory and its
 * waiters go with the timer. */
static void query_release(fwd_query_t *q)
{
	q->done = true;
	q->released = true;
	sock_drop(q);
	uv_close((uv_handle_t *)&q->timer, on_timer_closed);
}

/* Writes a waiter's ID and question case into a response to its question. The question at
 * offset 12 is uncompressed and as long as the waiter's name (resp_matches() checked it). */
static void resp_restore(const fwd_waiter_t *w, size_t qname_len, uint8_t *msg)
{
	dns_wr_put_u16_at(msg, 0, w->id);
	memcpy(msg + DNS_HDR_LEN, w->qname, qname_len);
}

/* Answers every waiter, each with its own ID and question case, in the order they came.
 * resp is writable, or NULL with err. */
static void finish(fwd_query_t *q, uint8_t *resp, size_t len, int err)
{
	if (q->done)
		return;
	q->done = true;
	/* Out of the table first: a question asked from a callback starts its own query. */
	inflight_remove(q);
	uv_timer_stop(&q->timer);
	sock_drop(q);
	/* A callback may cancel other waiters (they leave the list), start queries, or free
	 * the forwarder (which releases q: the rest then get no callback). q's memory lives
	 * until its timer's close callback, so it can be looked at after each call; f
	 * cannot. */
	while (q->waiters != NULL && !q->released) {
		fwd_waiter_t *w = q->waiters;
		q->waiters = w->next;
		if (q->waiters == NULL)
			q->waiters_tail = &q->waiters;
		q->nwaiters--;
		q->f->nwaiting--;
		if (resp != NULL)
			resp_restore(w, q->qname_len, resp);
		w->cb(w->ctx, resp, len, err);
		free(w);
	}
	if (!q->released) {
		pending_unlink(q);
		query_release(q);
	}
}

static void on_exhausted(uv_timer_t *t)
{
	fwd_query_t *q = t->data;
	q->f->stats.failures++;
	if (q->servfail)
		finish(q, q->servfail, q->servfail_len, 0);
	else
		finish(q, NULL, 0, SW_ECONN);
}

/* The current try failed: on to the next server. */
static void try_failed(fwd_query_t *q)
{
	sock_drop(q);
	if (q->tries < q->ntries)
		q->f->stats.failovers++;
	try_next(q);
}

static void on_try_timeout(uv_timer_t *t)
{
	fwd_query_t *q = t->data;
	q->f->stats.timeouts++;
	server_result(q, false);
	try_failed(q);
}

/* Checks an answer against the question we asked (RFC 5452 §9.1): our ID, QR=1, a standard
 * query, one question equal to ours. The question name must be uncompressed so that the
 * client's case can be written back over it. */
static bool resp_matches(const fwd_query_t *q, const uint8_t *msg, size_t len)
{
	dns_rd_t r;
	uint8_t name[DNS_NAME_MAX];
	dns_rd_init(&r, msg, len, 0);
	uint16_t id = dns_rd_u16(&r), flags = dns_rd_u16(&r), qd = dns_rd_u16(&r);
	dns_rd_init(&r, msg, len, DNS_HDR_LEN);
	size_t nl = dns_rd_name(&r, name, false);
	uint16_t qtype = dns_rd_u16(&r), qclass = dns_rd_u16(&r);
	return !r.err && len >= DNS_HDR_LEN && id == q->id_sent && (flags & FLAG_QR) &&
	       (flags & OPCODE_MASK) == 0 && qd == 1 && nl == q->qname_len &&
	       dns_name_equal(name, q->qname_lower) && qtype == q->qtype && qclass == q->qclass;
}

/* How long a response may be cached, or 0 for not at all; min_ttl and neg_ttl come from
 * resp_scan(). */
static uint32_t resp_cache_ttl(const net_forward_t *f, const uint8_t *msg, uint32_t min_ttl,
			       uint32_t neg_ttl)
{
	uint16_t flags = dns_get_u16(msg + 2), an = dns_get_u16(msg + 6);
	uint8_t rcode = flags & 0xF;
	uint32_t ttl;
	if (f->buckets == NULL || (flags & FLAG_TC))
		return 0;
	if (rcode == DNS_RCODE_NOERROR && an > 0)
		ttl = min_ttl;
	else if (rcode == DNS_RCODE_NXDOMAIN || rcode == DNS_RCODE_NOERROR)
		ttl = neg_ttl; /* RFC 2308 §5: without an SOA, a negative answer is not cached */
	else
		return 0;
	if (ttl == UINT32_MAX)
		return 0;
	return ttl < f->opts.cache_max_ttl ? ttl : f->opts.cache_max_ttl;
}

static void start_tcp(fwd_query_t *q);

/* A response that came from the current server over the current socket. msg is writable
 * (the shared UDP buffer or the socket's TCP buffer). */
/* A datagram on the query's UDP socket that is not the answer: a forgery, or a stale or
 * broken reply. Keep waiting (RFC 5452 §9.1), but a spoofer who knows our port needs about
 * 32768 tries to hit the ID: past the threshold, ask over TCP, where a blind spoofer would
 * also have to guess the sequence numbers (RFC 5452 §5, Unbound's
 * unwanted-reply-threshold). */
static void unwanted_reply(fwd_query_t *q)
{
	net_forward_t *f = q->f;
	f->stats.unwanted++;
	q->unwanted++;
	if (f->opts.unwanted_threshold == 0 || q->unwanted < f->opts.unwanted_threshold)
		return;
	f->stats.unwanted_tcp++;
	start_tcp(q);
}

static void on_response(fwd_query_t *q, uint8_t *msg, size_t len, bool tcp)
{
	net_forward_t *f = q->f;
	if (!resp_matches(q, msg, len)) {
		/* Over TCP the server itself answered wrongly. */
		if (tcp)
			try_failed(q);
		else
			unwanted_reply(q);
		return;
	}
	server_result(q, true);
	uint16_t flags = dns_get_u16(msg + 2);
	uint8_t rcode = flags & 0xF;
	if (!tcp && (flags & FLAG_TC)) {
		f->stats.tcp_retries++;
		start_tcp(q); /* RFC 7766 §5: retry the truncated answer over TCP */
		return;
	}
	uint32_t n, min_ttl, neg_ttl;
	if (rcode == DNS_RCODE_SERVFAIL || rcode == DNS_RCODE_REFUSED ||
	    resp_scan(msg, len, NULL, &n, &min_ttl, &neg_ttl) != 0) {
		if (rcode == DNS_RCODE_SERVFAIL) {
			uint8_t *copy = malloc(len);
			if (copy) {
				memcpy(copy, msg, len);
				free(q->servfail);
				q->servfail = copy;
				q->servfail_len = len;
			}
		}
		try_failed(q);
		return;
	}
	/* The cache stores the question in the first client's case; answers from it take
	 * each client's. */
	memcpy(msg + DNS_HDR_LEN, q->qname, q->qname_len);
	uint32_t ttl = resp_cache_ttl(f, msg, min_ttl, neg_ttl);
	if (ttl > 0)
		cache_insert(f, q, msg, len, ttl);
	finish(q, msg, len, 0);
}

/* ---- UDP ---- */

static void on_udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	fwd_sock_t *s = h->data;
	*buf = uv_buf_init((char *)s->f->rbuf, sizeof(s->f->rbuf));
}

static void on_udp_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf,
			const struct sockaddr *from, unsigned flags)
{
	fwd_sock_t *s = u->data;
	fwd_query_t *q = s->q;
	if (q == NULL)
		return;
	if (nread < 0) {
		/* An ICMP error on the connected socket (port unreachable): the server is not
		 * there, so there is no point waiting for the timeout. */
		server_result(q, false);
		try_failed(q);
		return;
	}
	if (nread == 0 && from == NULL)
		return; /* libuv: nothing more to read now */
	if (nread < DNS_HDR_LEN || (flags & UV_UDP_PARTIAL) ||
	    !addr_equal(from, &q->servers[q->cur])) {
		/* The socket is connected, so the kernel drops other sources; count what
		 * still comes. */
		unwanted_reply(q);
		return;
	}
	on_response(q, (uint8_t *)buf->base, (size_t)nread, false);
}

static void on_udp_sent(uv_udp_send_t *req, int status)
{
	fwd_sock_t *s = req->handle->data;
	if (status < 0 && s->q != NULL)
		try_failed(s->q);
}

static fwd_sock_t *sock_new(fwd_query_t *q, size_t out_len)
{
	fwd_sock_t *s = calloc(1, sizeof(*s) + out_len);
	if (s == NULL)
		return NULL;
	s->q = q;
	s->f = q->f;
	s->out_len = out_len;
	return s;
}

/* A fresh random ID for this try (RFC 5452 §9.2), written into the query. */
static void new_id(fwd_query_t *q)
{
	sw_random_bytes(&q->id_sent, sizeof(q->id_sent));
	dns_wr_put_u16_at(q->query, 0, q->id_sent);
}

/* Starts a UDP try to q->servers[q->cur] on a fresh socket. Its implicit bind gives it a
 * random ephemeral port (RFC 5452 §9.2), and connecting it makes the kernel drop datagrams
 * from anyone but the server and report ICMP errors. */
static int start_udp(fwd_query_t *q)
{
	net_forward_t *f = q->f;
	const struct sockaddr_storage *server = &q->servers[q->cur];
	int err;
	fwd_sock_t *s = sock_new(q, q->qlen);
	if (s == NULL)
		return SW_ENOMEM;
	err = uv_udp_init(f->loop, &s->u.udp);
	if (err) {
		free(s);
		return err;
	}
	s->u.handle.data = s;
	q->sock = s;
	q->unwanted = 0;
	err = uv_udp_connect(&s->u.udp, (const struct sockaddr *)server);
	if (err)
		goto fail;
	err = uv_udp_recv_start(&s->u.udp, on_udp_alloc, on_udp_recv);
	if (err)
		goto fail;
	new_id(q);
	f->stats.sent_udp++;
	memcpy(s->out, q->query, q->qlen);
	uv_buf_t b = uv_buf_init((char *)s->out, (unsigned)s->out_len);
	err = uv_udp_send(&s->req.send, &s->u.udp, &b, 1, NULL, on_udp_sent);
	if (err)
		goto fail;
	uv_timer_start(&q->timer, on_try_timeout, f->opts.timeout_ms, 0);
	return 0;
fail:
	sock_drop(q);
	return err;
}

static net_up_tls_t *enc_find(const net_forward_t *f, const struct sockaddr_storage *a)
{
	for (size_t i = 0; i < f->nenc; i++)
		if (addr_equal((const struct sockaddr *)a, &f->enc[i].addr))
			return f->enc[i].tls;
	return NULL;
}

static int start_tls(fwd_query_t *q, net_up_tls_t *enc);
static int start_https(fwd_query_t *q);
static void keep_servfail(fwd_query_t *q, const char *text);

static void try_next(fwd_query_t *q)
{
	while (q->tries < q->ntries) {
		q->cur = q->tries % q->nservers;
		q->tries++;
		net_up_tls_t *enc = enc_find(q->f, &q->servers[q->cur]);
		int err;
		if (q->kinds[q->cur] == NET_FORWARD_HTTPS)
			err = start_https(q);
		else if (enc)
			err = start_tls(q, enc);
		else if (q->kinds[q->cur] == NET_FORWARD_TLS)
			err = SW_ECONN; /* removed by a reload: never in clear text */
		else
			err = start_udp(q);
		if (err == 0)
			return;
		if (err == SW_ECRYPTO && enc)
			keep_servfail(q, net_up_tls_rejected(enc));
		if (sw_log_enabled(SW_LOG_DEBUG)) {
			char name[80];
			net_addr_to_str((const struct sockaddr *)&q->servers[q->cur], name,
					sizeof(name));
			sw_debug("forward: cannot send to upstream %s: %s", name, sw_strerror(err));
		}
	}
	/* Never call back from inside net_forward_query(): report on the next loop turn. */
	uv_timer_start(&q->timer, on_exhausted, 0, 0);
}

/* ---- TCP ---- */

static void on_tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	fwd_sock_t *s = h->data;
	*buf = uv_buf_init((char *)s->in + s->in_len, (unsigned)(2 + MSG_MAX - s->in_len));
}

static void on_tcp_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	fwd_sock_t *s = st->data;
	fwd_query_t *q = s->q;
	if (q == NULL || nread == 0)
		return;
	if (nread < 0) {
		try_failed(q); /* closed or reset before the whole response came */
		return;
	}
	s->in_len += (size_t)nread;
	if (s->in_len < 2)
		return;
	size_t len = dns_get_u16(s->in); /* RFC 1035 §4.2.2: two-byte length prefix */
	if (len < DNS_HDR_LEN) {
		try_failed(q);
		return;
	}
	if (s->in_len < 2 + len)
		return; /* the buffer holds 2 + MSG_MAX bytes: there is room for the rest */
	uv_read_stop(st);
	on_response(q, s->in + 2, len, true);
}

static void on_tcp_written(uv_write_t *req, int status)
{
	fwd_sock_t *s = req->handle->data;
	if (status < 0 && s->q != NULL)
		try_failed(s->q);
}

static void on_tcp_connect(uv_connect_t *req, int status)
{
	fwd_sock_t *s = req->handle->data;
	fwd_query_t *q = s->q;
	int err = status;
	if (q == NULL)
		return;
	if (err)
		goto fail;
	s->in = malloc(2 + MSG_MAX);
	if (s->in == NULL) {
		err = SW_ENOMEM;
		goto fail;
	}
	uv_buf_t b = uv_buf_init((char *)s->out, (unsigned)s->out_len);
	err = uv_write(&s->req.write, (uv_stream_t *)&s->u.tcp, &b, 1, on_tcp_written);
	if (err)
		goto fail;
	err = uv_read_start((uv_stream_t *)&s->u.tcp, on_tcp_alloc, on_tcp_read);
	if (err)
		goto fail;
	return;
fail:
	if (sw_log_enabled(SW_LOG_DEBUG)) {
		char name[80];
		net_addr_to_str((const struct sockaddr *)&q->servers[q->cur], name, sizeof(name));
		sw_debug("forward: TCP to upstream %s failed: %s", name, sw_strerror(err));
	}
	if (status)
		server_result(q, false);
	try_failed(q);
}

/* Replaces the UDP try with a TCP connection to the same server. A failure to start is a
 * failed try. */
static void start_tcp(fwd_query_t *q)
{
	net_forward_t *f = q->f;
	sock_drop(q);
	fwd_sock_t *s = sock_new(q, 2 + q->qlen);
	if (s == NULL)
		goto fail;
	if (uv_tcp_init(f->loop, &s->u.tcp) != 0) {
		free(s);
		goto fail;
	}
	s->u.handle.data = s;
	q->sock = s;
	new_id(q);
	f->stats.sent_tcp++;
	dns_wr_put_u16_at(s->out, 0, (uint16_t)q->qlen);
	memcpy(s->out + 2, q->query, q->qlen);
	if (uv_tcp_connect(&s->connect, &s->u.tcp, (const struct sockaddr *)&q->servers[q->cur],
			   on_tcp_connect) != 0)
		goto fail;
	uv_timer_start(&q->timer, on_try_timeout, 2 * (uint64_t)f->opts.timeout_ms, 0);
	return;
fail:
	try_failed(q);
}

/* ---- EDNS padding over encrypted transports ---- */

/* The position of the RDLEN field of msg's OPT record when it is the message's last record
 * (RFC 6891 §6.1.1: one OPT, in the additional section; a TSIG after it would forbid any
 * change), or 0. */
static size_t opt_rdlen_pos(const uint8_t *msg, size_t len)
{
	dns_rd_t r;
	uint8_t name[DNS_NAME_MAX];
	size_t pos = 0;
	uint16_t type = 0;
	dns_rd_init(&r, msg, len, 4);
	uint16_t qd = dns_rd_u16(&r), an = dns_rd_u16(&r), ns = dns_rd_u16(&r), ar = dns_rd_u16(&r);
	for (uint16_t i = 0; i < qd; i++) {
		dns_rd_name(&r, name, true);
		dns_rd_u32(&r);
	}
	uint32_t total = (uint32_t)an + ns + ar;
	for (uint32_t i = 0; i < total && !r.err; i++) {
		dns_rd_name(&r, name, true);
		type = dns_rd_u16(&r);
		dns_rd_bytes(&r, 6); /* class, TTL */
		pos = r.pos;
		dns_rd_bytes(&r, dns_rd_u16(&r));
	}
	if (r.err || r.pos != len || ar == 0 || type != DNS_T_OPT)
		return 0;
	return pos;
}

/* Copies query into out with an EDNS Padding option (RFC 7830) that makes its length a
 * multiple of 128 (RFC 8467 §4.1), so that the names asked cannot be told by the size of
 * the encrypted records. A query without OPT (a client that did not use EDNS must get an
 * answer without one), or one that has padding already, or that would not fit, is copied
 * as it is. Returns the length. */
static size_t pad_query(const uint8_t *query, size_t len, uint8_t *out, size_t cap)
{
	memcpy(out, query, len);
	size_t rdl = opt_rdlen_pos(query, len);
	if (rdl == 0)
		return len;
	size_t rdlen = dns_get_u16(query + rdl);
	for (size_t o = rdl + 2; o + 4 <= rdl + 2 + rdlen; o += 4 + dns_get_u16(query + o + 2))
		if (dns_get_u16(query + o) == EDNS_OPT_PADDING)
			return len;
	size_t pad = (PAD_BLOCK - (len + 4) % PAD_BLOCK) % PAD_BLOCK;
	if (len + 4 + pad > cap || rdlen + 4 + pad > 0xFFFF)
		return len;
	dns_wr_put_u16_at(out, rdl, (uint16_t)(rdlen + 4 + pad));
	dns_wr_put_u16_at(out, len, EDNS_OPT_PADDING);
	dns_wr_put_u16_at(out, len + 2, (uint16_t)pad);
	memset(out + len + 4, 0, pad);
	return len + 4 + pad;
}

/* Takes the Padding options out of an answer that came over TLS or HTTPS (a server pads
 * its answer to a padded query, RFC 8467 §4.1): they are for the encrypted hop, and the
 * answer goes on to clients over any transport and into the cache. Returns the new length
 * (len when there is nothing to take out or the OPT is not last). */
static size_t strip_padding(uint8_t *msg, size_t len)
{
	size_t rdl = opt_rdlen_pos(msg, len);
	if (rdl == 0)
		return len;
	size_t end = rdl + 2 + dns_get_u16(msg + rdl), o = rdl + 2;
	while (o + 4 <= end) {
		size_t olen = 4 + (size_t)dns_get_u16(msg + o + 2);
		if (o + olen > end)
			return len; /* a broken option list: the answer is checked later */
		if (dns_get_u16(msg + o) != EDNS_OPT_PADDING) {
			o += olen;
			continue;
		}
		memmove(msg + o, msg + o + olen, len - o - olen);
		end -= olen;
		len -= olen;
	}
	dns_wr_put_u16_at(msg, rdl, (uint16_t)(end - rdl - 2));
	return len;
}

/* ---- TLS ---- */

/* Keeps a SERVFAIL with EDE 23 and text (RFC 8914 §4.24) as the query's last SERVFAIL: it
 * reaches the clients if no other server answers, so that a certificate problem is named. */
static void keep_servfail(fwd_query_t *q, const char *text)
{
	dns_query_t dq;
	uint8_t buf[1024];
	dns_wr_t w;
	if (dns_query_parse(q->query, q->qlen, &dq) != DNS_QUERY_OK)
		return;
	dns_wr_init(&w, buf, sizeof(buf), 0);
	dns_resp_begin(&w, &dq, DNS_RCODE_SERVFAIL, false);
	dns_resp_opt(&w, &dq, DNS_RCODE_SERVFAIL, 1232, DNS_EDE_NETWORK_ERROR, text, NULL, 0);
	if (w.err)
		return;
	uint8_t *copy = malloc(w.len);
	if (copy == NULL)
		return;
	memcpy(copy, buf, w.len);
	free(q->servfail);
	q->servfail = copy;
	q->servfail_len = w.len;
}

static void on_tls_answer(void *ctx, uint8_t *resp, size_t len, int err, const char *text)
{
	fwd_query_t *q = ctx;
	q->enc = NULL; /* its request is over */
	if (err == 0) {
		on_response(q, resp, strip_padding(resp, len), true);
		return;
	}
	if (err == SW_ECRYPTO)
		keep_servfail(q, text); /* it answered, but cannot be trusted */
	else
		server_result(q, false);
	try_failed(q);
}

/* A try over the server's TLS connection (opened now, or already open). The first try on a
 * new connection needs a TCP and a TLS handshake: three times the UDP timeout. */
static int start_tls(fwd_query_t *q, net_up_tls_t *enc)
{
	new_id(q);
	size_t plen = pad_query(q->query, q->qlen, q->f->pbuf, sizeof(q->f->pbuf));
	int err = net_up_tls_query(enc, q->f->pbuf, plen, on_tls_answer, q);
	if (err)
		return err;
	q->enc = enc;
	q->unwanted = 0;
	q->f->stats.sent_tls++;
	uv_timer_start(&q->timer, on_try_timeout, 3 * (uint64_t)q->f->opts.timeout_ms, 0);
	return 0;
}

/* ---- HTTPS ---- */

/* The URL of the current try's DoH server, or NULL when a reload removed it. */
static const char *https_url(const fwd_query_t *q)
{
	const net_forward_t *f = q->f;
	for (size_t i = 0; i < f->opts.n_upstreams; i++)
		if (f->opts.upstream_tp[i].transport == NET_FORWARD_HTTPS &&
		    addr_equal((const struct sockaddr *)&q->servers[q->cur], &f->opts.upstreams[i]))
			return f->opts.upstream_tp[i].name;
	return NULL;
}

static void on_https_done(void *ctx, net_http_req_t *req, const net_http_resp_t *resp)
{
	fwd_query_t *q = ctx;
	net_forward_t *f = q->f;
	char text[512], ctype[128];
	q->http_req = NULL;
	const char *url = https_url(q);
	if (url == NULL)
		url = "(removed)";
	if (resp->err) {
		if (resp->err == SW_ECRYPTO) {
			snprintf(text, sizeof(text), "upstream %s: TLS failed: %s", url,
				 resp->error);
			sw_log_limited(SW_LOG_WARN, "%s", text);
			f->stats.https_tls_failures++;
			keep_servfail(q, text);
		} else {
			sw_debug("forward: upstream %s: %s", url, resp->error);
			server_result(q, false);
		}
		try_failed(q);
		return;
	}
	/* RFC 8484 §4.2.1: a 2xx with the DNS message as application/dns-message. */
	if (resp->status != 200 || resp->body_len < DNS_HDR_LEN || resp->body_len > MSG_MAX ||
	    net_http_header_find(req, "content-type", ctype, sizeof(ctype)) != 0 ||
	    strncasecmp(ctype, "application/dns-message", 23) != 0) {
		snprintf(text, sizeof(text), "upstream %s: HTTP status %d, %zu bytes", url,
			 resp->status, resp->body_len);
		sw_debug("forward: %s", text);
		if (resp->status != 200)
			keep_servfail(q, text);
		try_failed(q);
		return;
	}
	memcpy(f->rbuf, resp->body, resp->body_len);
	on_response(q, f->rbuf, strip_padding(f->rbuf, resp->body_len), true);
}

/* A try as an RFC 8484 POST, ID 0 (RFC 8484 §4.1). libcurl keeps the connection and puts
 * concurrent requests on one HTTP/2 connection as streams. */
static int start_https(fwd_query_t *q)
{
	net_forward_t *f = q->f;
	const char *url = https_url(q);
	if (url == NULL || f->http == NULL)
		return SW_ECONN;
	static const char *const headers[] = {"Content-Type: application/dns-message",
					      "Accept: application/dns-message"};
	q->id_sent = 0;
	dns_wr_put_u16_at(q->query, 0, 0);
	net_http_req_opts_t o = {
	    .method = "POST",
	    .url = url,
	    .headers = headers,
	    .nheaders = 2,
	    .body = f->pbuf,
	    .body_len = pad_query(q->query, q->qlen, f->pbuf, sizeof(f->pbuf)),
	    .timeout_ms = 3 * f->opts.timeout_ms,
	    .max_body = MSG_MAX,
	    .cafile = f->opts.ca_file[0] ? f->opts.ca_file : NULL,
	    .http2 = true,
	};
	int err = net_http_request(f->http, &o, on_https_done, q, &q->http_req);
	if (err)
		return err;
	q->unwanted = 0;
	f->stats.sent_https++;
	/* libcurl's own timeout reports first. */
	uv_timer_start(&q->timer, on_try_timeout, 3 * (uint64_t)f->opts.timeout_ms + 200, 0);
	return 0;
}

/* Makes f->enc match opts' TLS servers: a server already connected keeps its connection,
 * removed ones close (their queries in flight time out and move on). Returns 0, SW_ECONF
 * (the CA certificates cannot be read: logged) or SW_ENOMEM, with f->enc unchanged. */
static int enc_update(net_forward_t *f, const net_forward_opts_t *opts)
{
	net_up_tls_t *keep[NET_FORWARD_UPSTREAMS_MAX] = {0};
	size_t n = 0, created = 0;
	int err = 0;
	struct {
		struct sockaddr_storage addr;
		char auth_name[256];
		net_up_tls_t *tls;
	} next[NET_FORWARD_UPSTREAMS_MAX];
	for (size_t i = 0; i < opts->n_upstreams; i++) {
		if (opts->upstream_tp[i].transport == NET_FORWARD_HTTPS && f->http == NULL &&
		    (err = net_http_new(f->loop, &(net_http_opts_t){0}, &f->http)) != 0)
			goto fail;
		if (opts->upstream_tp[i].transport != NET_FORWARD_TLS)
			continue;
		if (f->creds == NULL) {
			char msg[512];
			err = net_up_tls_creds_new(opts->ca_file, &f->creds, msg, sizeof(msg));
			if (err) {
				sw_err("%s", msg);
				goto fail;
			}
		}
		next[n].addr = opts->upstreams[i];
		snprintf(next[n].auth_name, sizeof(next[n].auth_name), "%s",
			 opts->upstream_tp[i].name);
		next[n].tls = NULL;
		for (size_t j = 0; j < f->nenc; j++)
			if (addr_equal((const struct sockaddr *)&next[n].addr, &f->enc[j].addr) &&
			    strcmp(next[n].auth_name, f->enc[j].auth_name) == 0) {
				next[n].tls = f->enc[j].tls;
				keep[j] = f->enc[j].tls;
			}
		if (next[n].tls == NULL) {
			char label[400], addr[80];
			net_addr_to_str((const struct sockaddr *)&next[n].addr, addr, sizeof(addr));
			snprintf(label, sizeof(label), "tls://%s%s%s", addr,
				 next[n].auth_name[0] ? "#" : "", next[n].auth_name);
			err = net_up_tls_new(f->loop, &next[n].addr, next[n].auth_name, label,
					     f->creds, &next[n].tls);
			if (err)
				goto fail;
			created |= (size_t)1 << n;
		}
		n++;
	}
	for (size_t j = 0; j < f->nenc; j++) {
		if (keep[j])
			continue;
		for (fwd_query_t *q = f->pending; q; q = q->next)
			if (q->enc == f->enc[j].tls)
				q->enc = NULL;
		net_up_tls_stats_add(f->enc[j].tls, &f->gone);
		net_up_tls_free(f->enc[j].tls);
	}
	memcpy(f->enc, next, n * sizeof(next[0]));
	f->nenc = n;
	return 0;
fail:
	for (size_t k = 0; k < n; k++)
		if (created & ((size_t)1 << k))
			net_up_tls_free(next[k].tls);
	return err;
}

/* ---- the public functions ---- */

static bool servers_valid(const net_forward_opts_t *opts)
{
	if (opts->n_upstreams > NET_FORWARD_UPSTREAMS_MAX || opts->n_rules > NET_FORWARD_RULES_MAX)
		return false;
	for (size_t i = 0; i < opts->n_upstreams; i++)
		if (addr_len(&opts->upstreams[i]) == 0)
			return false;
	for (size_t i = 0; i < opts->n_rules; i++) {
		if (opts->rules[i].n == 0 || opts->rules[i].n > NET_FORWARD_RULE_ADDRS_MAX ||
		    dns_name_check(opts->rules[i].suffix, DNS_NAME_MAX) == 0)
			return false;
		for (size_t j = 0; j < opts->rules[i].n; j++)
			if (addr_len(&opts->rules[i].addrs[j]) == 0)
				return false;
	}
	return true;
}

int net_forward_new(uv_loop_t *loop, const net_forward_opts_t *opts, net_forward_t **out)
{
	int err = SW_EINVAL;
	net_forward_t *f = NULL;
	*out = NULL;
	if (!servers_valid(opts))
		goto fail;
	err = SW_ENOMEM;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		goto fail;
	f->loop = loop;
	f->opts = *opts;
	for (size_t i = 0; i < f->opts.n_rules; i++)
		dns_name_lower(f->opts.rules[i].suffix, f->opts.rules[i].suffix);
	if (f->opts.timeout_ms == 0)
		f->opts.timeout_ms = DEFAULT_TIMEOUT_MS;
	if (f->opts.cache_max_ttl == 0)
		f->opts.cache_max_ttl = DEFAULT_CACHE_MAX_TTL;
	if (f->opts.max_pending == 0)
		f->opts.max_pending = DEFAULT_MAX_PENDING;
	if (f->opts.max_waiters == 0)
		f->opts.max_waiters = DEFAULT_MAX_WAITERS;
	/* Secret, so that nobody can choose names that collide in the cache or in the table
	 * of questions in flight (hash flooding). */
	sw_random_bytes(&f->seed, sizeof(f->seed));
	f->ninflight = 16;
	while (f->ninflight < f->opts.max_pending && f->ninflight < INFLIGHT_BUCKETS_MAX)
		f->ninflight *= 2;
	f->inflight = calloc(f->ninflight, sizeof(*f->inflight));
	if (f->inflight == NULL)
		goto fail;
	if (f->opts.cache_entries > 0) {
		f->nbuckets = 16;
		while (f->nbuckets < f->opts.cache_entries)
			f->nbuckets *= 2;
		f->buckets = calloc(f->nbuckets, sizeof(*f->buckets));
		if (f->buckets == NULL)
			goto fail;
		f->max_bytes = f->opts.cache_entries * CACHE_BYTES_PER_ENTRY;
	}
	if ((err = enc_update(f, opts)) != 0)
		goto fail;
	*out = f;
	return 0;
fail:
	if (f) {
		free(f->inflight);
		free(f->buckets);
		net_up_tls_creds_free(f->creds);
		net_http_free(f->http);
	}
	free(f);
	return err;
}

void net_forward_free(net_forward_t *f)
{
	if (f == NULL)
		return;
	while (f->pending) {
		fwd_query_t *q = f->pending;
		pending_unlink(q);
		query_release(q);
	}
	while (f->lru_head)
		cache_remove(f, f->lru_head);
	for (size_t i = 0; i < f->nenc; i++)
		net_up_tls_free(f->enc[i].tls);
	net_up_tls_creds_free(f->creds);
	net_http_free(f->http);
	free(f->buckets);
	free(f->inflight);
	free(f);
}

/* Adds a waiter for dq to q. Returns 0 or SW_ENOMEM. */
static int waiter_add(fwd_query_t *q, const dns_query_t *dq, net_forward_cb cb, void *ctx)
{
	fwd_waiter_t *w = malloc(sizeof(*w));
	if (w == NULL)
		return SW_ENOMEM;
	w->next = NULL;
	w->cb = cb;
	w->ctx = ctx;
	w->id = dq->id;
	memcpy(w->qname, dq->qname, dq->qname_len);
	*q->waiters_tail = w;
	q->waiters_tail = &w->next;
	q->nwaiters++;
	q->f->nwaiting++;
	return 0;
}

int net_forward_query(net_forward_t *f, const uint8_t *query, size_t qlen, net_forward_cb cb,
		      void *ctx)
{
	dns_query_t dq;
	if (cb == NULL || qlen > MSG_MAX || dns_query_parse(query, qlen, &dq) != DNS_QUERY_OK ||
	    !dq.has_question)
		return SW_EINVAL;
	if (f->nwaiting >= f->opts.max_pending)
		return SW_ELIMIT;
	uint8_t kflags = (uint8_t)(key_flags(&dq) | ((dq.flags & FLAG_RD) ? KEY_RD : 0));
	uint64_t hash = key_hash(f, dq.qname_lower, dq.qname_len, dq.qtype, dq.qclass, kflags);

	/* RFC 5452 §5: the same question in flight is not sent again. */
	fwd_query_t *q = inflight_find(f, hash, &dq, kflags);
	if (q != NULL) {
		if (q->nwaiters >= f->opts.max_waiters) {
			f->stats.waiters_refused++;
			return SW_ELIMIT;
		}
		int err = waiter_add(q, &dq, cb, ctx);
		if (err)
			return err;
		f->stats.queries++;
		f->stats.coalesced++;
		return 0;
	}

	q = calloc(1, sizeof(*q) + qlen);
	if (q == NULL)
		return SW_ENOMEM;
	q->f = f;
	q->waiters_tail = &q->waiters;
	if (waiter_add(q, &dq, cb, ctx) != 0) {
		free(q);
		return SW_ENOMEM;
	}
	q->hash = hash;
	q->qlen = qlen;
	memcpy(q->query, query, qlen);
	q->qtype = dq.qtype;
	q->qclass = dq.qclass;
	q->kflags = kflags;
	q->qname_len = dq.qname_len;
	memcpy(q->qname, dq.qname, dq.qname_len);
	memcpy(q->qname_lower, dq.qname_lower, dq.qname_len);

	/* The longest rule suffix that contains the name wins; otherwise the defaults. */
	size_t best = 0;
	q->servers = f->opts.upstreams;
	q->nservers = f->opts.n_upstreams;
	for (size_t i = 0; i < f->opts.n_rules; i++) {
		size_t sl = dns_name_len(f->opts.rules[i].suffix);
		if (sl > best && dns_name_in(q->qname_lower, f->opts.rules[i].suffix)) {
			best = sl;
			q->servers = f->opts.rules[i].addrs;
			q->nservers = f->opts.rules[i].n;
		}
	}
	if (q->servers == f->opts.upstreams)
		for (size_t i = 0; i < q->nservers; i++)
			q->kinds[i] = f->opts.upstream_tp[i].transport;
	/* Each server once; a lone server twice, as a lost datagram is not a dead server. */
	q->ntries = q->nservers == 1 ? 2 : q->nservers;

	uv_timer_init(f->loop, &q->timer);
	q->timer.data = q;
	q->next = f->pending;
	if (f->pending)
		f->pending->prev = q;
	f->pending = q;
	f->npending++;
	fwd_query_t **bucket = &f->inflight[hash & (f->ninflight - 1)];
	q->hnext = *bucket;
	*bucket = q;
	f->stats.queries++;
	try_next(q);
	return 0;
}

void net_forward_cancel(net_forward_t *f, void *ctx)
{
	fwd_query_t *q = f->pending;
	while (q) {
		fwd_query_t *next = q->next;
		fwd_waiter_t **pp = &q->waiters;
		while (*pp) {
			fwd_waiter_t *w = *pp;
			if (w->ctx != ctx) {
				pp = &w->next;
				continue;
			}
			*pp = w->next;
			q->nwaiters--;
			f->nwaiting--;
			free(w);
		}
		q->waiters_tail = pp;
		/* Nobody waits for it: abandon it (unless it is calling its waiters now). */
		if (q->waiters == NULL && !q->done) {
			pending_unlink(q);
			query_release(q);
		}
		q = next;
	}
}

void net_forward_stats(const net_forward_t *f, net_forward_stats_t *out)
{
	*out = f->stats;
	net_up_tls_stats_t t = f->gone;
	for (size_t i = 0; i < f->nenc; i++)
		net_up_tls_stats_add(f->enc[i].tls, &t);
	out->tls_connects = t.connects;
	out->tls_handshakes = t.handshakes;
	out->tls_failures = t.handshake_failures;
	out->tls_cert_failures = t.cert_failures;
	out->tls_resumed = t.resumed;
}

int net_forward_set_servers(net_forward_t *f, const net_forward_opts_t *opts)
{
	if (!servers_valid(opts))
		return SW_EINVAL;
	int err = enc_update(f, opts);
	if (err)
		return err;
	/* Queries in flight keep the servers they started with: their current try is checked
	 * against its server's address, and they go on down their own list. */
	const char *lo = (const char *)&f->opts, *hi = lo + sizeof(f->opts);
	for (fwd_query_t *q = f->pending; q; q = q->next) {
		const char *p = (const char *)q->servers;
		if (q->own_servers || p < lo || p >= hi)
			continue;
		q->own_servers = malloc(q->nservers * sizeof(*q->own_servers));
		if (q->own_servers == NULL)
			return SW_ENOMEM; /* the copies made so far are harmless */
		memcpy(q->own_servers, q->servers, q->nservers * sizeof(*q->own_servers));
		q->servers = q->own_servers;
	}
	memcpy(f->opts.upstreams, opts->upstreams, sizeof(f->opts.upstreams));
	memcpy(f->opts.upstream_tp, opts->upstream_tp, sizeof(f->opts.upstream_tp));
	f->opts.n_upstreams = opts->n_upstreams;
	memcpy(f->opts.rules, opts->rules, sizeof(f->opts.rules));
	f->opts.n_rules = opts->n_rules;
	for (size_t i = 0; i < f->opts.n_rules; i++)
		dns_name_lower(f->opts.rules[i].suffix, f->opts.rules[i].suffix);
	f->opts.max_waiters = opts->max_waiters ? opts->max_waiters : DEFAULT_MAX_WAITERS;
	f->opts.unwanted_threshold = opts->unwanted_threshold;
	/* Servers no longer used are forgotten; the others keep their state. */
	size_t k = 0;
	for (size_t i = 0; i < f->nhealth; i++) {
		bool used = false;
		const struct sockaddr *a = (const struct sockaddr *)&f->health[i].addr;
		for (size_t j = 0; j < f->opts.n_upstreams && !used; j++)
			used = addr_equal(a, &f->opts.upstreams[j]);
		for (size_t r = 0; r < f->opts.n_rules && !used; r++)
			for (size_t j = 0; j < f->opts.rules[r].n && !used; j++)
				used = addr_equal(a, &f->opts.rules[r].addrs[j]);
		if (used)
			f->health[k++] = f->health[i];
	}
	f->nhealth = k;
	return 0;
}
