#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/codec.h"
#include "common/err.h"
#include "dns/cookie.h"
#include "dns/query.h"
#include "dns/rrl.h"
#include "registry/check.h"
#include "resolver/regname.h"
#include "resolver/resolver.h"
#include "zone/packet.h"

#define UDP_PLAIN_MAX 512			 /* RFC 1035 §4.2.1 */
#define OPT_LEN 11				 /* an OPT record without options */
#define COOKIE_OPT_LEN (4 + DNS_COOKIE_FULL_LEN) /* our COOKIE option */
#define HOPS_MAX 8				 /* docs/design.md §1: chains stop at depth 8 */
#define STALE_TTL 30				 /* RFC 8767 §4: TTL of a stale answer */
#define UNCONVERGED_TTL 30 /* docs/design.md §3 step 2: at most 30 s before convergence */
#define PENDING_MAX 4096   /* default of max_pending */
#define CACHE_BUCKETS 4096
#define SCRATCH_LEN 65535
#define USE_SLOTS 16384	      /* cells of the recent demand of networks (power of two) */
#define USE_WINDOW_MS 10000   /* demand counted over this window and the one before */
#define POLICY_SALT "_policy" /* docs/design.md §9 "Policy item" */
#define REG_TEXT_MAX 200
#define CHECK_JOBS_MAX 4 /* label checks on other threads at once (up to 64 MiB each) */

const uint16_t resolver_qtype_values[RESOLVER_QT_COUNT] = {
    DNS_T_A,   DNS_T_AAAA, DNS_T_TXT, DNS_T_MX,	  DNS_T_NS,    DNS_T_CNAME, DNS_T_SOA,
    DNS_T_SRV, DNS_T_PTR,  DNS_T_CAA, DNS_T_SVCB, DNS_T_HTTPS, DNS_T_ANY,   0};

const uint32_t resolver_lat_bounds_ms[RESOLVER_LAT_BUCKETS - 1] = {5,	10,   25,   50,	  100,	250,
								   500, 1000, 2500, 5000, 10000};

static int qtype_index(uint16_t t)
{
	switch (t) {
	case DNS_T_A:
		return RESOLVER_QT_A;
	case DNS_T_AAAA:
		return RESOLVER_QT_AAAA;
	case DNS_T_TXT:
		return RESOLVER_QT_TXT;
	case DNS_T_MX:
		return RESOLVER_QT_MX;
	case DNS_T_NS:
		return RESOLVER_QT_NS;
	case DNS_T_CNAME:
		return RESOLVER_QT_CNAME;
	case DNS_T_SOA:
		return RESOLVER_QT_SOA;
	case DNS_T_SRV:
		return RESOLVER_QT_SRV;
	case DNS_T_PTR:
		return RESOLVER_QT_PTR;
	case DNS_T_CAA:
		return RESOLVER_QT_CAA;
	case DNS_T_SVCB:
		return RESOLVER_QT_SVCB;
	case DNS_T_HTTPS:
		return RESOLVER_QT_HTTPS;
	case DNS_T_ANY:
		return RESOLVER_QT_ANY;
	default:
		return RESOLVER_QT_OTHER;
	}
}

typedef struct centry centry_t;
typedef struct req req_t;

/* The dns-proof TXT records of a label item (docs/registries.md "dns-proof"), looked up in
 * ordinary DNS through the forwarder; only label items of dns-proof registries have one. */
typedef enum { PROOF_NONE, PROOF_PENDING, PROOF_DONE, PROOF_FAILED } proof_state_t;
typedef struct {
	proof_state_t state;
	uint64_t seq, pol; /* the label and policy seqs it was looked up for */
	reg_dns_txt_t txt;
} proof_t;

/* The check of a label item against its policy, done on another thread (resolver_io_t.offload)
 * when it includes an `open` registry's proof of work: everything it reads is copied in. */
typedef struct check_job {
	centry_t *e;	   /* NULL once the entry left the cache: the result is dropped */
	uint64_t seq, pol; /* the label and policy seqs checked */
	uint8_t pk[32];
	char label[REG_LABEL_MAX + 1];
	size_t label_len;
	bool ran; /* not when the pool cancelled it at a stop */
	reg_policy_t policy;
	reg_record_t rec;
	reg_dns_txt_t txt;
	reg_check_in_t in;
	int ret;
	reg_why_t why;
} check_job_t;

/* The state of one query's resolution; on the stack while it runs at once, copied into a
 * req_t when it has to wait. */
typedef struct {
	resolver_client_t client;
	dns_query_t q;
	uint8_t name[DNS_NAME_MAX];  /* what is looked up now, lower case */
	uint8_t owner[DNS_NAME_MAX]; /* the owner written for it */
	int hops;
	bool aa, stale, mapped;
	bool rooted; /* mapped through a `root`: its key was named a registry by the operator */
	uint32_t ttl_cap;      /* TTL of an answer from a zone not confirmed by convergence */
	uint32_t ttl_left;     /* seconds a cached zone on the way stays fresh; 0: none */
	const centry_t *given; /* the entry a lookup has just answered this query with */
	bool filtered;	       /* rebinding protection removed records from the answer */
	bool reg_off; /* no DHT peers for a registry's items: the apex zone answers alone */
	size_t limit, qend;
	uint16_t an, ns;
	uint8_t rcode;
	bool cookie_ok;			     /* the client returned a valid server cookie of ours */
	bool any_one;			     /* RFC 8482: this ANY gets one RRset */
	uint8_t cookie[DNS_COOKIE_FULL_LEN]; /* for the response; valid when q.cookie_len */
	dns_wr_t w;
	resolver_trace_t trace;
} ctx_t;

struct req {
	ctx_t c;
	resolver_t *r;
	req_t *next;		      /* waiters of a cache entry */
	req_t *all_prev, *all_next;   /* every pending request */
	centry_t *entry;	      /* the entry waited for, or NULL when waiting for upstream */
	struct sockaddr_storage peer; /* client.peer points here while the request waits */
	uint8_t *raw;
	size_t rawlen;
	uint8_t *buf;
};

/* A zone in the cache: fresh until expires_ms, then servable stale for stale_max. */
struct centry {
	centry_t *next;
	uint64_t hash;
	uint8_t pk[32];
	uint8_t label[SW_Z32_KEY_LEN];
	zone_t *zone;	/* what is served; NULL until a lookup was ready */
	zone_t *full;	/* zone before rebinding protection, if that removed records */
	bool converged; /* zone was given or confirmed by a converged lookup */
	uint64_t expires_ms, last_used;
	uint32_t hits, nodes;
	uint64_t fetch_started;
	bool fetching;
	/* The running lookup (docs/design.md §3 step 2): its best verified zone above the served
	 * one, kept but not answered with until the lookup is ready; whether it returned the
	 * served seq again, and from how many nodes. */
	zone_t *cand, *cand_full;
	bool lk_same;
	uint32_t lk_nodes;
	bool in_cb;	 /* on_dht() runs for it: not to be preempted now */
	uint64_t net;	 /* the client network whose query holds the pool slot */
	uint64_t serial; /* of the lookup: the newest has the highest */
	size_t pool_idx; /* where in the pool, while fetching */
	req_t *waiters;
	resolver_t *r;
	/* A registry's item under pk (docs/design.md §9): salt is the label or `_policy`;
	 * salt_len 0: the zone of pk. Its zone holds the item's records as a zone of pk. */
	uint8_t salt[REG_LABEL_MAX + 1];
	uint8_t salt_len;
	/* Salted only: a converged lookup found no item (and none is cached): the name is not
	 * registered, or the registry has no policy, until expires_ms. */
	bool absent;
	/* An apex zone looked up for a name under a registry's label: a converged lookup that
	 * finds none marks it absent as for salted items, whoever still waits for it. */
	bool reg_apex;
	/* Label items: the check of the zone's item (seq chk_seq) against the policy item of
	 * seq chk_pol (docs/registries.md "What a resolver checks of a label item"), made once
	 * per pair, not per query; chk_expires the registration's expiry (unix s, 0: never). */
	bool chk_done, chk_ok, chk_free; /* chk_free: expired or released: not registered */
	uint64_t chk_seq, chk_pol, chk_expires;
	char text[REG_TEXT_MAX]; /* the EDE text of a refusal, an expiry or NXDOMAIN */
	proof_t *proof;		 /* NULL but for label items of dns-proof registries */
	check_job_t *job;	 /* its check runs on another thread (label_check()) */
	/* An absent label item of a registry without an apex zone: a zone of R without records,
	 * whose synthesized SOA the NXDOMAIN carries (docs/design.md §3 step 3). */
	zone_t *empty;
};

typedef struct {
	uint8_t label[SW_Z32_KEY_LEN]; /* lower-case key label */
	uint64_t hash;
	zone_t *zone;
} slot_t;

typedef struct {
	uint64_t net; /* a client network's hash, never 0; 0: a free cell */
	uint32_t held;
} pnet_t;

typedef struct {
	uint64_t net, window;
	uint32_t cur, prev; /* lookups asked for in this window and the one before */
} use_t;

struct resolver {
	resolver_opts_t opts;
	resolver_stats_t stats;
	slot_t *slots; /* own zones */
	size_t mask, count;
	uint64_t seed;
	centry_t *cache[CACHE_BUCKETS];
	size_t ncache;
	uint64_t evict_cursor;
	req_t *pending;
	size_t npending;
	size_t njobs;	      /* label checks on other threads (check_job_t) */
	dns_rrl_t *rrl;	      /* NULL: rrl_rate 0 */
	dns_rrl_t *lookup_rl; /* new DHT lookups per client network; NULL: lookup_rate 0 */
	/* The lookup pool (lookup_pool; NULL: none): the entries whose lookups hold a slot, and
	 * how many each client network holds (open addressing, net 0: free). */
	centry_t **pool;
	size_t npool;
	pnet_t *pnets;
	size_t pnet_mask, n_pnets;
	use_t *use; /* USE_SLOTS: recent demand per network */
	uint64_t pool_seed, serial;
	uint8_t *scratch;      /* 64 KiB: rebinding protection's second rendering and packets */
	resolver_qlog_cb qlog; /* NULL: no query log */
	void *qlog_ctx;
	resolver_hooks_t hooks; /* all NULL: none */
};

static uint64_t now_ms(const resolver_t *r)
{
	return r->opts.io.now_ms ? r->opts.io.now_ms(r->opts.io.ctx) : 0;
}

static uint64_t unix_s(const resolver_t *r)
{
	return r->opts.io.unix_s ? r->opts.io.unix_s(r->opts.io.ctx) : now_ms(r) / 1000;
}

int resolver_new(const resolver_opts_t *opts, resolver_t **out)
{
	resolver_t *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return SW_ENOMEM;
	r->opts = *opts;
	if (r->opts.cache_size == 0)
		r->opts.cache_size = 10000;
	if (r->opts.max_pending == 0)
		r->opts.max_pending = PENDING_MAX;
	if (r->opts.unconverged_ttl == 0 || r->opts.unconverged_ttl > UNCONVERGED_TTL)
		r->opts.unconverged_ttl = UNCONVERGED_TTL;
	r->mask = 63;
	r->slots = calloc(r->mask + 1, sizeof(*r->slots));
	if (r->slots == NULL) {
		free(r);
		return SW_ENOMEM;
	}
	/* Key labels are chosen by clients: a fixed seed would let them plan collisions. Each
	 * table gets its own seed derived from the secret one. */
	r->seed = r->opts.hash_seed;
	if ((r->opts.rrl_rate && dns_rrl_new(r->opts.rrl_rate, r->opts.rrl_slip, 0,
					     sw_hash("rrl", 3, r->seed), &r->rrl)) ||
	    (r->opts.lookup_rate &&
	     dns_rrl_new(r->opts.lookup_rate, 0, 4096, sw_hash("lookup-rate", 11, r->seed),
			 &r->lookup_rl))) {
		dns_rrl_free(r->rrl);
		free(r->slots);
		free(r);
		return SW_ENOMEM;
	}
	if (r->opts.rebind_protection && (r->scratch = malloc(SCRATCH_LEN)) == NULL) {
		resolver_free(r);
		return SW_ENOMEM;
	}
	if (r->opts.lookup_pool) {
		size_t cells = 4;
		while (cells < 2 * r->opts.lookup_pool)
			cells <<= 1;
		r->pool = calloc(r->opts.lookup_pool, sizeof(*r->pool));
		r->pnets = calloc(cells, sizeof(*r->pnets));
		r->use = calloc(USE_SLOTS, sizeof(*r->use));
		r->pnet_mask = cells - 1;
		r->pool_seed = sw_hash("lookup-pool", 11, r->seed);
		if (r->pool == NULL || r->pnets == NULL || r->use == NULL) {
			r->opts.lookup_pool = 0; /* resolver_free() frees what there is */
			resolver_free(r);
			return SW_ENOMEM;
		}
	}
	*out = r;
	return 0;
}

static void req_free(resolver_t *r, req_t *rq);
static void req_reply(resolver_t *r, req_t *rq, size_t len);

void resolver_free(resolver_t *r)
{
	if (r == NULL)
		return;
	while (r->pending) {
		req_t *rq = r->pending;
		if (rq->entry == NULL && r->opts.io.fwd_cancel)
			r->opts.io.fwd_cancel(r->opts.io.ctx, rq);
		rq->entry = NULL;
		req_reply(r, rq, 0);
	}
	for (size_t i = 0; i < CACHE_BUCKETS; i++) {
		while (r->cache[i]) {
			centry_t *e = r->cache[i];
			r->cache[i] = e->next;
			if (e->fetching && r->opts.io.dht_cancel)
				r->opts.io.dht_cancel(r->opts.io.ctx, e);
			if (e->proof && e->proof->state == PROOF_PENDING && r->opts.io.fwd_cancel)
				r->opts.io.fwd_cancel(r->opts.io.ctx, e);
			if (e->job)
				e->job->e = NULL;
			free(e->proof);
			zone_free(e->empty);
			zone_free(e->zone);
			zone_free(e->full);
			zone_free(e->cand);
			zone_free(e->cand_full);
			free(e);
		}
	}
	for (size_t i = 0; i <= r->mask; i++)
		zone_free(r->slots[i].zone);
	free(r->slots);
	dns_rrl_free(r->rrl);
	dns_rrl_free(r->lookup_rl);
	free(r->pool);
	free(r->pnets);
	free(r->use);
	free(r->scratch);
	free(r);
}

/* ---- own zones ---- */

static slot_t *slot_find(const resolver_t *r, const uint8_t *label, uint64_t h)
{
	for (size_t i = h & r->mask;; i = (i + 1) & r->mask) {
		slot_t *s = &r->slots[i];
		if (s->zone == NULL)
			return s;
		if (s->hash == h && memcmp(s->label, label, SW_Z32_KEY_LEN) == 0)
			return s;
	}
}

static int grow(resolver_t *r)
{
	size_t size = 2 * (r->mask + 1);
	slot_t *old = r->slots, *slots = calloc(size, sizeof(*slots));
	if (slots == NULL)
		return SW_ENOMEM;
	size_t oldsize = r->mask + 1;
	r->slots = slots;
	r->mask = size - 1;
	for (size_t i = 0; i < oldsize; i++)
		if (old[i].zone)
			*slot_find(r, old[i].label, old[i].hash) = old[i];
	free(old);
	return 0;
}

int resolver_zone_put(resolver_t *r, zone_t *z)
{
	if (2 * (r->count + 1) > r->mask + 1 && grow(r)) {
		zone_free(z);
		return SW_ENOMEM;
	}
	const uint8_t *label = zone_apex(z) + 1;
	uint64_t h = sw_hash(label, SW_Z32_KEY_LEN, r->seed);
	slot_t *s = slot_find(r, label, h);
	if (s->zone == NULL) {
		r->count++;
		memcpy(s->label, label, SW_Z32_KEY_LEN);
		s->hash = h;
	}
	zone_free(s->zone);
	s->zone = z;
	if (r->hooks.zone_changed)
		r->hooks.zone_changed(r->hooks.ctx, zone_key(z), z);
	return 0;
}

const zone_t *resolver_zone_find(const resolver_t *r, const uint8_t pk[32])
{
	char label[SW_Z32_KEY_LEN + 1];
	sw_z32_encode_key(pk, label);
	uint64_t h = sw_hash(label, SW_Z32_KEY_LEN, r->seed);
	return slot_find(r, (const uint8_t *)label, h)->zone;
}

int resolver_zone_remove(resolver_t *r, const uint8_t pk[32])
{
	char label[SW_Z32_KEY_LEN + 1];
	sw_z32_encode_key(pk, label);
	uint64_t h = sw_hash(label, SW_Z32_KEY_LEN, r->seed);
	slot_t *s = slot_find(r, (const uint8_t *)label, h);
	if (s->zone == NULL)
		return SW_ENOTFOUND;
	zone_free(s->zone);
	s->zone = NULL;
	r->count--;
	/* Linear probing: the slots after the hole that can move back into it do (Knuth's
	 * deletion, TAOCP vol. 3 §6.4 Algorithm R), so that no search stops at the hole. */
	size_t hole = (size_t)(s - r->slots);
	for (size_t i = (hole + 1) & r->mask; r->slots[i].zone; i = (i + 1) & r->mask) {
		size_t home = r->slots[i].hash & r->mask;
		bool stays = hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
		if (stays)
			continue;
		r->slots[hole] = r->slots[i];
		r->slots[i].zone = NULL;
		hole = i;
	}
	if (r->hooks.zone_changed)
		r->hooks.zone_changed(r->hooks.ctx, pk, NULL);
	return 0;
}

size_t resolver_zone_count(const resolver_t *r)
{
	return r->count;
}

size_t resolver_cache_count(const resolver_t *r)
{
	return r->ncache;
}

void resolver_zone_foreach(const resolver_t *r, void (*cb)(const zone_t *z, void *ctx), void *ctx)
{
	for (size_t i = 0; i <= r->mask; i++)
		if (r->slots[i].zone)
			cb(r->slots[i].zone, ctx);
}

const resolver_stats_t *resolver_stats(const resolver_t *r)
{
	return &r->stats;
}

const resolver_opts_t *resolver_opts(const resolver_t *r)
{
	return &r->opts;
}

/* ---- the zone cache ---- */

/* The hash of the entry of key label (z-base32) with salt (salt_len 0: the zone); h the hash
 * of the label alone. */
static uint64_t salted_hash(const resolver_t *r, uint64_t h, const uint8_t *salt, size_t salt_len)
{
	return salt_len ? sw_hash(salt, salt_len, h ^ r->seed) : h;
}

static centry_t *cache_find_salted(const resolver_t *r, const uint8_t *label, uint64_t h,
				   const uint8_t *salt, size_t salt_len)
{
	for (centry_t *e = r->cache[h % CACHE_BUCKETS]; e; e = e->next)
		if (e->hash == h && memcmp(e->label, label, SW_Z32_KEY_LEN) == 0 &&
		    e->salt_len == salt_len &&
		    (salt_len == 0 || memcmp(e->salt, salt, salt_len) == 0))
			return e;
	return NULL;
}

static centry_t *cache_find(const resolver_t *r, const uint8_t *label, uint64_t h)
{
	return cache_find_salted(r, label, h, NULL, 0);
}

static void cache_remove(resolver_t *r, centry_t *e)
{
	centry_t **pp = &r->cache[e->hash % CACHE_BUCKETS];
	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	if (e->proof && e->proof->state == PROOF_PENDING && r->opts.io.fwd_cancel)
		r->opts.io.fwd_cancel(r->opts.io.ctx, e);
	if (e->job) { /* it frees itself when done */
		e->job->e = NULL;
		r->njobs--;
	}
	free(e->proof);
	zone_free(e->empty);
	zone_free(e->zone);
	zone_free(e->full);
	zone_free(e->cand);
	zone_free(e->cand_full);
	free(e);
	r->ncache--;
}

/* Makes room: the least recently used idle entry of a window of buckets goes. */
static void cache_evict(resolver_t *r)
{
	centry_t *victim = NULL;
	for (int i = 0; i < 64; i++) {
		size_t b = (size_t)(r->evict_cursor++ % CACHE_BUCKETS);
		for (centry_t *e = r->cache[b]; e; e = e->next)
			if (!e->fetching && !e->waiters && !e->job &&
			    !(e->proof && e->proof->state == PROOF_PENDING) &&
			    (victim == NULL || e->last_used < victim->last_used))
				victim = e;
	}
	if (victim)
		cache_remove(r, victim);
}

/* Drops what e serves; an entry that nobody is waiting for goes altogether. */
static void cache_flush_one(resolver_t *r, centry_t *e)
{
	if (!e->fetching && !e->waiters && !e->in_cb) {
		cache_remove(r, e);
		return;
	}
	zone_free(e->zone);
	zone_free(e->full);
	e->zone = e->full = NULL;
	e->converged = false;
	e->absent = false;
	e->expires_ms = 0;
}

static bool find_key(resolver_t *r, ctx_t *c, const uint8_t **label);

size_t resolver_cache_flush(resolver_t *r, const uint8_t *name)
{
	size_t n = 0;
	if (r->hooks.cache_flushed)
		r->hooks.cache_flushed(r->hooks.ctx, name);
	if (name == NULL) {
		for (size_t i = 0; i < CACHE_BUCKETS; i++)
			for (centry_t *e = r->cache[i], *next; e; e = next) {
				next = e->next;
				cache_flush_one(r, e);
				n++;
			}
		return n;
	}
	/* The zone is found as a query's would be (find_key() maps roots and suffixes). */
	ctx_t c;
	const uint8_t *label;
	memset(&c, 0, sizeof(c));
	dns_name_lower(c.name, name);
	if (!find_key(r, &c, &label))
		return 0;
	uint64_t h = sw_hash(label, SW_Z32_KEY_LEN, r->seed);
	centry_t *e = cache_find(r, label, h);
	if (e) {
		cache_flush_one(r, e);
		n++;
	}
	/* A name under a registry's label: its label item too (docs/design.md §9). */
	resolver_regname_t rn;
	if (resolver_regname_parse(c.name, &rn) == 0 && resolver_regname_in_label(&rn)) {
		const uint8_t *salt = (const uint8_t *)rn.label;
		e = cache_find_salted(r, label, salted_hash(r, h, salt, rn.label_len), salt,
				      rn.label_len);
		if (e) {
			cache_flush_one(r, e);
			n++;
		}
	}
	return n;
}

static centry_t *cache_add_salted(resolver_t *r, const uint8_t *label, uint64_t h,
				  const uint8_t *salt, size_t salt_len)
{
	if (r->ncache >= r->opts.cache_size)
		cache_evict(r);
	centry_t *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	memcpy(e->label, label, SW_Z32_KEY_LEN);
	if (sw_z32_decode_key((const char *)label, SW_Z32_KEY_LEN, e->pk) != 0) {
		free(e);
		return NULL;
	}
	e->hash = h;
	e->r = r;
	if (salt_len)
		memcpy(e->salt, salt,
		       salt_len); /* salt may be NULL (C11 §7.24.1: not even for 0) */
	e->salt_len = (uint8_t)salt_len;
	e->next = r->cache[h % CACHE_BUCKETS];
	r->cache[h % CACHE_BUCKETS] = e;
	r->ncache++;
	return e;
}

static centry_t *cache_add(resolver_t *r, const uint8_t *label, uint64_t h)
{
	return cache_add_salted(r, label, h, NULL, 0);
}

static void on_dht(void *cbctx, const resolver_dht_result_t *res);

/* The EDE text of a label item that a converged lookup did not find (RFC 8914 §2: EXTRA-TEXT
 * for the user): which registry says the label is not registered. Once, when the entry is
 * marked absent, not per query. */
static void absent_text(centry_t *e)
{
	char rz[SW_Z32_KEY_LEN + 1];
	sw_z32_encode_key(e->pk, rz);
	if (e->salt_len == 0 || e->salt[0] == '_')
		e->text[0] = 0; /* a zone, or a policy: its absence is no registry's word */
	else
		snprintf(e->text, sizeof(e->text), "%.*s is not registered in registry %s",
			 (int)e->salt_len, (const char *)e->salt, rz);
}

/* Is the name looked up one that a registry's label item may hold (docs/design.md §9): asked
 * directly (not through a delegation or CNAME), under a label that is not the registry's own
 * and is registrable? */
static bool registry_name(const ctx_t *c)
{
	resolver_regname_t n;
	return c->hops == 0 && !c->reg_off && resolver_regname_parse(c->name, &n) == 0 &&
	       resolver_regname_in_label(&n) && reg_label_check(n.label, n.label_len) == 0;
}

/* ---- the lookup pool ---- */

/* The lookup pool (lookup_pool) is shared fairly between client networks (/24, /56, as
 * lookup_rate counts them): a network may hold at most its share, max(2, pool / networks
 * holding lookups, itself included). When the pool is full, a network takes the newest slot
 * of another that holds at least two more lookups (and has asked for at least half as many
 * lately), or at least as many while it has asked for more than twice as many lookups lately
 * (a sliding count of the last 10-20 s). So a flood from a few networks cannot keep a new
 * network out, and neither can a flood from more networks than slots as long as each of them
 * asks for more than twice what a quiet network does; flooding networks do not take slots
 * from each other, busy networks do not take from quiet ones, and no network gets more than
 * its share by it. */

/* Moves u's windows on to the one of now and returns its demand then: this window's count and
 * the window before's, which counts less as this one goes on (a sliding window). */
static uint32_t use_now(use_t *u, uint64_t now)
{
	uint64_t w = now / USE_WINDOW_MS;
	if (w > u->window + 1)
		u->cur = u->prev = 0;
	else if (w == u->window + 1)
		u->prev = u->cur, u->cur = 0;
	u->window = w;
	return u->cur + (uint32_t)((uint64_t)u->prev * (USE_WINDOW_MS - now % USE_WINDOW_MS) /
				   USE_WINDOW_MS);
}

/* The recent demand of network `net` (lookups it asked for), counting one more if `add`. Each
 * network has two possible cells; a new one takes the quieter, so a busy network is not
 * forgotten by a collision (and collisions cannot be planned: the hash is seeded). */
static uint32_t pool_demand(resolver_t *r, uint64_t net, bool add)
{
	uint64_t now = now_ms(r);
	use_t *a = &r->use[net & (USE_SLOTS - 1)], *b = &r->use[(net >> 32) & (USE_SLOTS - 1)];
	use_t *u = a->net == net ? a : b->net == net ? b : NULL;
	if (u == NULL) {
		if (!add)
			return 0;
		u = use_now(a, now) <= use_now(b, now) ? a : b;
		u->net = net;
		u->cur = u->prev = 0;
	}
	uint32_t d = use_now(u, now);
	if (add && u->cur < UINT32_MAX) {
		u->cur++;
		d++;
	}
	return d;
}

static uint64_t pool_net(const resolver_t *r, const struct sockaddr *peer)
{
	uint8_t k[DNS_RRL_NET_KEY_MAX];
	size_t len = dns_rrl_net_key(peer, k);
	return sw_hash(k, len, r->pool_seed) | 1; /* no address: one network of its own */
}

static pnet_t *pnet_cell(const resolver_t *r, uint64_t net)
{
	for (size_t i = net & r->pnet_mask;; i = (i + 1) & r->pnet_mask)
		if (r->pnets[i].net == net || r->pnets[i].net == 0)
			return &r->pnets[i];
}

static uint32_t pnet_held(const resolver_t *r, uint64_t net)
{
	const pnet_t *p = pnet_cell(r, net);
	return p->net == net ? p->held : 0;
}

static void pool_take(resolver_t *r, centry_t *e, uint64_t net)
{
	pnet_t *p = pnet_cell(r, net);
	if (p->net == 0) {
		p->net = net;
		p->held = 0;
		r->n_pnets++;
	}
	p->held++;
	e->net = net;
	e->pool_idx = r->npool;
	r->pool[r->npool++] = e;
	r->stats.lookup_pool_used = r->npool;
}

static void pool_release(resolver_t *r, centry_t *e)
{
	if (r->pool == NULL)
		return;
	r->pool[e->pool_idx] = r->pool[--r->npool];
	r->pool[e->pool_idx]->pool_idx = e->pool_idx;
	r->stats.lookup_pool_used = r->npool;
	pnet_t *p = pnet_cell(r, e->net);
	if (--p->held > 0)
		return;
	/* Linear probing: deleting shifts back the cells that probed past this one. */
	size_t i = (size_t)(p - r->pnets), j = i;
	for (;;) {
		j = (j + 1) & r->pnet_mask;
		if (r->pnets[j].net == 0)
			break;
		size_t home = r->pnets[j].net & r->pnet_mask;
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			r->pnets[i] = r->pnets[j];
			i = j;
		}
	}
	r->pnets[i].net = 0;
	r->n_pnets--;
}

static void fail(ctx_t *c, uint8_t rcode, uint16_t ede, const char *text);
static size_t finish(resolver_t *r, ctx_t *c);
static void req_reply(resolver_t *r, req_t *rq, size_t len);
static void cache_remove(resolver_t *r, centry_t *e);

#define BUSY_TEXT "DHT lookups busy"

/* Takes the next request off a list of waiters taken from an entry; it no longer waits on the
 * entry. Taken before it is handled: replying frees it, advancing may queue it again. */
static req_t *waiter_next(req_t **list)
{
	req_t *rq = *list;
	if (rq) {
		*list = rq->next;
		rq->entry = NULL;
	}
	return rq;
}

/* Ends the lookup of e to give its slot to another network: its waiters get SERVFAIL. */
static void pool_preempt(resolver_t *r, centry_t *e)
{
	if (r->opts.io.dht_cancel)
		r->opts.io.dht_cancel(r->opts.io.ctx, e);
	e->fetching = false;
	pool_release(r, e);
	zone_free(e->cand); /* not ready: nobody may see it */
	zone_free(e->cand_full);
	e->cand = e->cand_full = NULL;
	r->stats.lookups_preempted++;
	req_t *w = e->waiters, *rq;
	e->waiters = NULL;
	while ((rq = waiter_next(&w)) != NULL) {
		r->stats.lookups_busy++;
		fail(&rq->c, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, BUSY_TEXT);
		req_reply(r, rq, finish(r, &rq->c));
	}
	if (e->zone == NULL)
		cache_remove(r, e);
}

/* May network `net` start a lookup now? Makes room by preemption if it may and must.
 * Returns 0 or SW_ELIMIT. */
static int pool_admit(resolver_t *r, uint64_t net, bool may_preempt)
{
	size_t cap = r->opts.lookup_pool;
	uint32_t held = pnet_held(r, net), demand = pool_demand(r, net, true);
	size_t nets = r->n_pnets + (held == 0);
	size_t share = cap / nets < 2 ? 2 : cap / nets;
	if (held >= share)
		return SW_ELIMIT;
	if (r->npool < cap)
		return 0;
	if (!may_preempt)
		return SW_ELIMIT;
	/* The victim: of the lookups of networks that hold two more (unless they asked for less
	 * than half as many: a quiet network keeps its share against a busy one), or at least
	 * as many and asked for more than twice as many, the one of the network holding the
	 * most, the busiest, the newest lookup. */
	centry_t *victim = NULL;
	uint32_t vh = 0, vd = 0;
	for (size_t i = 0; i < r->npool; i++) {
		centry_t *e = r->pool[i];
		uint32_t h = pnet_held(r, e->net), d = pool_demand(r, e->net, false);
		bool more = h >= held + 2 && 2 * (uint64_t)d >= demand;
		bool busier = h >= held && d > 2 * (uint64_t)demand;
		if (e->in_cb || !(more || busier))
			continue;
		if (victim &&
		    (h < vh || (h == vh && (d < vd || (d == vd && e->serial < victim->serial)))))
			continue;
		victim = e;
		vh = h;
		vd = d;
	}
	if (victim == NULL)
		return SW_ELIMIT;
	pool_preempt(r, victim);
	return 0;
}

/* Starts a lookup of e's zone for a query from peer unless one runs. Returns 0 (started), 1
 * (one runs already), SW_ELIMIT (the lookup pool has no room for peer's network, or the DHT's
 * own pool is full) or another error of dht_get. */
static int start_fetch_net(resolver_t *r, centry_t *e, uint64_t net, bool may_preempt);

static int start_fetch(resolver_t *r, centry_t *e, const struct sockaddr *peer, bool may_preempt)
{
	return start_fetch_net(r, e, r->pool ? pool_net(r, peer) : 0, may_preempt);
}

/* start_fetch() for client network net (pool_net()). */
static int start_fetch_net(resolver_t *r, centry_t *e, uint64_t net, bool may_preempt)
{
	if (e->fetching)
		return 1;
	if (r->opts.io.dht_get == NULL)
		return SW_ECONN;
	if (r->pool && pool_admit(r, net, may_preempt))
		return SW_ELIMIT;
	e->lk_same = false;
	e->lk_nodes = 0;
	int ret = r->opts.io.dht_get(r->opts.io.ctx, e->pk, e->salt_len ? e->salt : NULL,
				     e->salt_len, on_dht, e);
	if (ret == SW_ELIMIT)
		r->stats.dht_pool_full++;
	if (ret == 0) {
		e->fetching = true;
		e->fetch_started = now_ms(r);
		e->serial = ++r->serial;
		r->stats.dht_lookups++;
		if (r->pool)
			pool_take(r, e, net);
	}
	return ret;
}

/* How long a zone stays fresh: its lowest TTL, and no more than unconverged_ttl when no
 * converged lookup stands behind it (docs/design.md §3 step 2: a trapped lookup must not pin an
 * old version for a whole TTL). */
static uint64_t lifetime_ms(const resolver_t *r, const zone_t *z, bool converged)
{
	uint32_t ttl = zone_min_ttl(z);
	if (!converged && ttl > r->opts.unconverged_ttl)
		ttl = r->opts.unconverged_ttl;
	return (uint64_t)ttl * 1000;
}

/* The TTL of an answer out of cached zone e at now, at most `prev` (an earlier cached zone
 * of the same answer; 0: none): the seconds until e expires, rounded up, at least 1. As in
 * Unbound and Knot Resolver, a cached answer's TTL counts down, so that a client's cache
 * expires no later than ours (RFC 1035 §3.2.1: the time the record may be cached). Every
 * record's clamped TTL is at least the zone's lifetime (lifetime_ms()), so this is also
 * min(record TTL, time left). Stale answers keep STALE_TTL (RFC 8767 §4); own zones their
 * records' TTLs. Arithmetic only: the answer path. */
static uint32_t cache_ttl_left(const centry_t *e, uint64_t now, uint32_t prev)
{
	uint64_t left_ms = e->expires_ms > now ? e->expires_ms - now : 0;
	uint64_t left = (left_ms + 999) / 1000;
	if (left == 0)
		left = 1; /* the answer a finished lookup gives its waiters; 0 would mean "own" */
	if (prev && prev < left)
		left = prev;
	return (uint32_t)left;
}

/* ---- DNS rebinding protection (docs/design.md §6) ---- */

/* Addresses a name from someone else's zone must not point a browser at: this host, its
 * networks, link-local services (169.254.169.254 is the cloud metadata service). */
static bool private_v4(const uint8_t *a)
{
	return a[0] == 0 ||			       /* RFC 1122 "this network" */
	       a[0] == 10 ||			       /* RFC 1918 */
	       (a[0] == 100 && (a[1] & 0xC0) == 64) || /* RFC 6598 CGNAT */
	       a[0] == 127 ||			       /* RFC 1122 loopback */
	       (a[0] == 169 && a[1] == 254) ||	       /* RFC 3927 link-local */
	       (a[0] == 172 && (a[1] & 0xF0) == 16) || /* RFC 1918 */
	       (a[0] == 192 && a[1] == 168);	       /* RFC 1918 */
}

static bool private_v6(const uint8_t *a)
{
	static const uint8_t zero[16], mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF},
				       nat64[12] = {0x00, 0x64, 0xFF, 0x9B};
	if (memcmp(a, zero, 15) == 0 && a[15] <= 1) /* :: and ::1 (RFC 4291 §2.5.2, §2.5.3) */
		return true;
	if ((a[0] & 0xFE) == 0xFC || (a[0] == 0xFE && (a[1] & 0xC0) == 0x80))
		return true; /* fc00::/7 (RFC 4193), fe80::/10 (RFC 4291 §2.5.6) */
	/* An IPv4 address in IPv6 clothes (RFC 4291 §2.5.5.2, RFC 6052 §2.1) counts as itself. */
	return (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0) && private_v4(a + 12);
}

/* Is this record an A or AAAA into a private range? */
static bool rr_private(const zone_rr_t *rr)
{
	return (rr->type == DNS_T_A && rr->rdlen == 4 && private_v4(rr->rdata)) ||
	       (rr->type == DNS_T_AAAA && rr->rdlen == 16 && private_v6(rr->rdata));
}

/* Once, when a zone from the DHT enters the cache (never per query): if the verified item it
 * was built from has private A/AAAA records, *out gets a snapshot without them (its relay form
 * is not the signed one; it is never handed on). Returns 0 (*out NULL: nothing to remove) or
 * an error. */
static int rebind_filter(resolver_t *r, const uint8_t pk[32], const item_t *it, zone_t **out)
{
	zone_rrlist_t all, keep;
	const uint8_t *packet;
	size_t packet_len;
	zone_rrlist_init(&all);
	zone_rrlist_init(&keep);
	*out = NULL;
	int ret = item_str(it, &packet, &packet_len);
	if (ret == 0)
		ret = zone_packet_parse(packet, packet_len, &all);
	size_t removed = 0;
	for (size_t i = 0; ret == 0 && i < all.count; i++) {
		const zone_rr_t *rr = &all.rrs[i];
		if (rr_private(rr))
			removed++;
		else
			ret = zone_rrlist_add(&keep, rr->owner, rr->type, rr->cls, rr->ttl,
					      rr->rdata, rr->rdlen);
	}
	size_t len = 0;
	if (ret == 0 && removed &&
	    (ret = zone_packet_write(&keep, r->scratch, SCRATCH_LEN, &len)) == 0) {
		/* Not the signed value any more: built from, never verified or handed on. */
		if ((ret = zone_build_packet(pk, (uint64_t)it->seq, it->sig, r->scratch, len,
					     &r->opts.zone, out)) == 0)
			r->stats.rebind_zones++;
	}
	zone_rrlist_deinit(&keep);
	zone_rrlist_deinit(&all);
	return ret;
}

/* Is the name asked, or the name looked up for it, at or below a `private-domain`? */
static bool rebind_trusted(const resolver_t *r, const ctx_t *c)
{
	for (size_t i = 0; i < r->opts.n_private_domains; i++)
		if (dns_name_in(c->q.qname_lower, r->opts.private_domains[i]) ||
		    dns_name_in(c->name, r->opts.private_domains[i]))
			return true;
	return false;
}

/* ---- answering ---- */

enum { STEP_DONE, STEP_WAIT_DHT, STEP_WAIT_UPSTREAM };

/* The key whose zone holds `name` (docs/design.md §1): the rightmost label, or a key label before
 * a key-suffix, or a root. A root or suffix rewrites c->name onto the key. */
static bool find_key(resolver_t *r, ctx_t *c, const uint8_t **label)
{
	const uint8_t *last = NULL, *prev = NULL;
	for (const uint8_t *p = c->name; *p; p += 1 + (size_t)*p) {
		prev = last;
		last = p;
	}
	uint8_t pk[32];
	if (last && *last == SW_Z32_KEY_LEN &&
	    sw_z32_decode_key((const char *)last + 1, SW_Z32_KEY_LEN, pk) == 0) {
		*label = last + 1;
		return true;
	}
	if (c->mapped)
		return false;
	for (size_t i = 0; i < r->opts.n_key_suffixes; i++) {
		const uint8_t *suf = r->opts.key_suffixes[i].suffix;
		int sl = dns_name_labels(suf), nl = dns_name_labels(c->name);
		if (nl < sl + 1 || !dns_name_equal(dns_name_suffix(c->name, sl), suf))
			continue;
		const uint8_t *k = dns_name_suffix(c->name, sl + 1);
		if (*k != SW_Z32_KEY_LEN ||
		    sw_z32_decode_key((const char *)k + 1, SW_Z32_KEY_LEN, pk) != 0)
			continue;
		/* `x.<z32>.<suffix>.` is `x.<z32>.`: cut the suffix off. */
		size_t keep = (size_t)(k - c->name) + 1 + SW_Z32_KEY_LEN;
		c->name[keep] = 0;
		c->mapped = true;
		*label = c->name + (k - c->name) + 1;
		return true;
	}
	for (size_t i = 0; i < r->opts.n_roots; i++) {
		const resolver_name_map_t *m = &r->opts.roots[i];
		int sl = dns_name_labels(m->suffix), nl = dns_name_labels(c->name);
		if (nl < sl || !dns_name_equal(dns_name_suffix(c->name, sl), m->suffix))
			continue;
		/* `x.<root>.` is `x.<z32>.` (GNS "zone top-level domains"). */
		size_t prefix = (size_t)(dns_name_suffix(c->name, sl) - c->name);
		if (prefix + 2 + SW_Z32_KEY_LEN > DNS_NAME_MAX)
			return false;
		c->name[prefix] = SW_Z32_KEY_LEN;
		sw_z32_encode_key(m->key, (char *)c->name + prefix + 1);
		c->name[prefix + 1 + SW_Z32_KEY_LEN] = 0;
		c->mapped = c->rooted = true;
		*label = c->name + prefix + 1;
		(void)prev;
		return true;
	}
	return false;
}

static void fail(ctx_t *c, uint8_t rcode, uint16_t ede, const char *text)
{
	c->rcode = rcode;
	c->trace.ede = ede;
	c->trace.ede_text = text;
}

/* Writes ttl over the TTL of the n records at buf[from, to) (RFC 1035 §4.1.3: NAME, TYPE,
 * CLASS, TTL, RDLENGTH, RDATA): a pre-rendered answer given another TTL without rendering it
 * again. The bytes are our own rendering; the bounds are checked all the same. */
static void set_ttls(uint8_t *buf, size_t from, size_t to, unsigned n, uint32_t ttl)
{
	size_t i = from;
	for (unsigned k = 0; k < n; k++) {
		while (i < to && buf[i] != 0 && (buf[i] & 0xC0) != 0xC0)
			i += 1 + (size_t)buf[i];
		i += i < to && buf[i] == 0 ? 1 : 2; /* the root label, or a compression pointer */
		if (i + 10 > to)
			return;
		buf[i + 4] = (uint8_t)(ttl >> 24);
		buf[i + 5] = (uint8_t)(ttl >> 16);
		buf[i + 6] = (uint8_t)(ttl >> 8);
		buf[i + 7] = (uint8_t)ttl;
		i += 10 + (size_t)dns_get_u16(buf + i + 8);
	}
}

/* Writes the answer of zone z for c into w; ttl 0 keeps the records' TTLs, another value
 * replaces them all. */
static void answer_from(const ctx_t *c, const zone_t *z, uint32_t ttl, dns_wr_t *w,
			zone_result_t *res)
{
	if (c->hops == 0 && !c->mapped && !c->any_one) {
		size_t from = w->len;
		zone_answer(z, &c->q, w, res); /* pre-rendered: the hot path */
		if (ttl && !w->err)
			set_ttls(w->buf, from, w->len, (unsigned)res->an + res->ns, ttl);
	} else
		zone_answer_name(z, c->name, c->owner, c->q.qtype, ttl,
				 c->any_one ? ZONE_ANY_ONE : 0, w, res);
}

#define REBIND_TEXT "private address removed; see rebind-protection / private-domain"

/* The answer of a zone that lost private addresses (res, from the filtered zone) against the
 * answer the full zone gives (rendered into the scratch buffer from the state `before`): if
 * records are missing the answer says so (EDE 17), and a name whose every record was removed
 * is NODATA, not NXDOMAIN. Only zones that had private addresses pay for this. */
static void rebind_compare(resolver_t *r, ctx_t *c, const zone_t *full, uint32_t ttl,
			   const dns_wr_t *before, zone_result_t *res)
{
	dns_wr_t w = *before;
	zone_result_t fr;
	memcpy(r->scratch, before->buf, before->len);
	w.buf = r->scratch;
	answer_from(c, full, ttl, &w, &fr);
	if (fr.an > res->an || w.err) {
		if (!c->filtered)
			r->stats.rebind_filtered++;
		c->filtered = true;
	}
	if (res->rcode == DNS_RCODE_NXDOMAIN && fr.rcode == DNS_RCODE_NOERROR)
		res->rcode = DNS_RCODE_NOERROR; /* the SOA stays: RFC 2308 §2.2 NODATA */
}

enum { FZ_OK = 3 };

/* A key whose zone a converged lookup did not find, and which is no registry either. */
static void not_found(ctx_t *c)
{
	fail(c, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, "zone not found in the DHT");
	c->trace.source = RES_SRC_NONE;
}

/* The zone of key label (hash h; lower-case z-base32) from the cache, or the item of that key
 * with salt (salt_len 0: the zone; else a registry's label or policy item, docs/design.md §9),
 * starting a DHT lookup on a miss; items are cached, refreshed early, served stale and never
 * rolled back as zones are. Returns FZ_OK with *zp and *fullp (NULL: a salted item that a
 * converged lookup did not find, *ep->absent), *srcp and *ep set; STEP_WAIT_DHT with
 * *wait_for set; or STEP_DONE after fail(). */
static int cache_zone(resolver_t *r, ctx_t *c, const uint8_t *label, uint64_t h,
		      const uint8_t *salt, size_t salt_len, uint64_t now, const zone_t **zp,
		      const zone_t **fullp, resolver_source_t *srcp, centry_t **ep,
		      centry_t **wait_for)
{
	*zp = *fullp = NULL;
	centry_t *e = cache_find_salted(r, label, h, salt, salt_len);
	*ep = e;
	if (e && e->absent && e->zone == NULL && (now < e->expires_ms || c->given == e) &&
	    (salt_len || registry_name(c))) {
		return FZ_OK; /* a converged lookup found no such item */
	} else if (e && e->absent && e->zone == NULL && c->given == e) {
		not_found(c);
		return STEP_DONE;
	} else if (e && e->zone && (now < e->expires_ms || c->stale || c->given == e)) {
		*zp = e->zone;
		/* Filtered zones only: others have no full copy (no cost). */
		if (e->full && rebind_trusted(r, c))
			*zp = e->full;
		else if (e->full)
			*fullp = e->full;
		e->last_used = now;
		e->hits++;
		*srcp = c->stale			 ? RES_SRC_STALE
			: c->trace.source == RES_SRC_DHT ? RES_SRC_DHT
							 : RES_SRC_CACHE;
		c->trace.dht_nodes = e->nodes;
		if (!e->converged && !c->stale)
			c->ttl_cap = r->opts.unconverged_ttl;
		if (!c->stale)
			c->ttl_left = cache_ttl_left(e, now, c->ttl_left);
		/* A query that waited for this zone's lookup was a miss, not a hit.
		 */
		if (*srcp == RES_SRC_CACHE)
			r->stats.cache_hits++;
		/* docs/design.md §3 step 6: a popular entry is refreshed before it
		 * expires, so hot names never wait on the DHT. */
		uint64_t ttl = (uint64_t)zone_min_ttl(e->zone) * 1000;
		if (!c->stale && e->hits >= 2 && e->expires_ms < now + ttl / 10 &&
		    start_fetch(r, e, c->client.peer, false) == 0)
			r->stats.prefetches++;
	} else if (r->opts.io.dht_get == NULL) {
		fail(c, DNS_RCODE_REFUSED, DNS_EDE_NONE, NULL);
		return STEP_DONE;
	} else {
		r->stats.cache_misses++;
		/* A new lookup costs dozens of KRPC messages to others: one client
		 * network may start only so many a second (lookup_rate). */
		if ((e == NULL || !e->fetching) && r->lookup_rl &&
		    dns_rrl_check(r->lookup_rl, c->client.peer, DNS_RRL_ERROR, NULL, 0, 0, now) !=
			DNS_RRL_PASS) {
			r->stats.lookups_limited++;
			fail(c, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER,
			     "too many DHT lookups from this network; try again "
			     "later");
			return STEP_DONE;
		}
		if (e == NULL && (e = cache_add_salted(r, label, h, salt, salt_len)) == NULL) {
			fail(c, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, "out of memory");
			return STEP_DONE;
		}
		int ret = start_fetch(r, e, c->client.peer, true);
		if (ret < 0) {
			if (e->zone == NULL && e->waiters == NULL) {
				cache_remove(r, e);
				*ep = NULL;
			}
			/* Also when the DHT's own pool is full: that is not a want
			 * of peers, and the client should hear so. */
			if (ret == SW_ELIMIT) {
				r->stats.lookups_busy++;
				fail(c, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, BUSY_TEXT);
			} else {
				fail(c, DNS_RCODE_SERVFAIL, DNS_EDE_NO_REACHABLE_AUTHORITY,
				     "no DHT peers");
			}
			return STEP_DONE;
		}
		*ep = *wait_for = e;
		return STEP_WAIT_DHT;
	}
	return FZ_OK;
}

/* The packet a cached item was signed with (before rebinding protection). */
static const uint8_t *entry_packet(const centry_t *e, size_t *len)
{
	size_t n;
	const uint8_t *relay = zone_relay(e->full ? e->full : e->zone, &n);
	*len = n - 72; /* relay form: sig (64) || seq (8) || packet (docs/design.md §2) */
	return relay + 72;
}

static void advance(resolver_t *r, req_t *rq);
static void wake_registry(resolver_t *r, const centry_t *e);

/* A label item's check can go on (its dns-proof answer came, or its check on another thread
 * ended): everyone waiting on e goes on; an entry left without a zone, waiters or lookup
 * goes. */
static void waiters_go(resolver_t *r, centry_t *e)
{
	req_t *w = e->waiters, *rq;
	e->waiters = NULL;
	while ((rq = waiter_next(&w)) != NULL)
		advance(r, rq);
	if (e->zone == NULL && e->waiters == NULL && !e->fetching)
		cache_remove(r, e);
}

/* The forwarder's answer to the dns-proof TXT query of label item e: its TXT records, each
 * the concatenation of its character-strings (RFC 1035 §3.3.14), for reg_check_record();
 * then everyone waiting on e goes on. An answer that does not parse, or none, is a failure
 * (SERVFAIL, looked up again by the next query); NXDOMAIN or no TXT is no record. */
static void on_proof(void *cbctx, const uint8_t *resp, size_t len, int err)
{
	centry_t *e = cbctx;
	resolver_t *r = e->r;
	proof_t *pr = e->proof;
	pr->state =
	    err == 0 && reg_dns_txt_parse(resp, len, &pr->txt) == 0 ? PROOF_DONE : PROOF_FAILED;
	waiters_go(r, e);
}

/* Asks the forwarder for the dns-proof TXT records of label item le (docs/registries.md
 * "dns-proof": `<dns-prefix>.<domain>.`). Returns 1 (started: wait on le) or 0 with le->text
 * saying why the item cannot be checked. */
static int proof_start(resolver_t *r, centry_t *le, const reg_policy_t *pol,
		       const reg_record_t *rec, const char *rz)
{
	char text[REG_DNS_PROOF_NAME_MAX];
	uint8_t q[DNS_HDR_LEN + DNS_NAME_MAX + 4];
	size_t qlen;
	if (!(rec->has & REG_HAS_DNS) || reg_dns_proof_name(pol, rec, text, sizeof(text)) != 0 ||
	    reg_dns_proof_query(text, q, sizeof(q), &qlen) != 0) {
		snprintf(le->text, sizeof(le->text), "registry %s: label item refused: %s", rz,
			 reg_why_str(REG_WHY_EVIDENCE));
		le->chk_done = true; /* the item itself lacks it: kept until a new seq */
		r->stats.reg_refused++;
		return 0;
	}
	if (r->opts.io.fwd_query == NULL) {
		snprintf(le->text, sizeof(le->text),
			 "registry %s uses dns-proof: checking it needs an upstream DNS server",
			 rz);
		return 0;
	}
	if (le->proof == NULL && (le->proof = calloc(1, sizeof(*le->proof))) == NULL) {
		snprintf(le->text, sizeof(le->text), "out of memory");
		return 0;
	}
	le->proof->seq = le->chk_seq;
	le->proof->pol = le->chk_pol;
	le->proof->state = PROOF_PENDING;
	if (r->opts.io.fwd_query(r->opts.io.ctx, q, qlen, on_proof, le) != 0) {
		le->proof->state = PROOF_NONE;
		snprintf(le->text, sizeof(le->text),
			 "registry %s: the dns-proof TXT record could not be looked up (upstream "
			 "failed)",
			 rz);
		return 0;
	}
	return 1;
}

/* Checks label item le (label n) against policy item pe once per pair of seqs, not per query
 * (docs/registries.md "What a resolver checks of a label item"); the signatures of both were
 * verified when they entered the cache. The outcome stays in le: chk_ok, or le->text saying
 * why the item is refused. Returns 0, or 1 when the check waits for the dns-proof TXT record
 * (the caller waits on le, whose waiters go on when the upstream answered). */
static int proof_start(resolver_t *r, centry_t *le, const reg_policy_t *pol,
		       const reg_record_t *rec, const char *rz);

/* Tells the auditor (resolver_io_t.label_verified) of label item le, checked. */
static void label_verified(resolver_t *r, const centry_t *le)
{
	item_t it;
	if (r->opts.io.label_verified == NULL)
		return;
	zone_item(le->zone, &it);
	r->opts.io.label_verified(r->opts.io.label_ctx, le->pk, (const char *)le->salt,
				  le->salt_len, &it);
}

/* What the check of label item le against its policy gave (ret, why; rec its registration
 * record): le's verdict and the EDE text of a refusal or an expiry. */
static void check_result(resolver_t *r, centry_t *le, const reg_record_t *rec, int ret,
			 reg_why_t why)
{
	char rz[SW_Z32_KEY_LEN + 1];
	int ll = le->salt_len;
	const char *l = (const char *)le->salt;
	sw_z32_encode_key(le->pk, rz);
	le->chk_done = true;
	if (ret == SW_EPOLICY && why == REG_WHY_EXPIRED) {
		/* A release is a label item whose registration ends at once: the name is free. */
		le->chk_free = true;
		label_verified(r, le);
		snprintf(le->text, sizeof(le->text),
			 "%.*s is not registered in registry %s: its registration expired or was "
			 "released",
			 ll, l, rz);
		return;
	}
	if (ret) {
		snprintf(le->text, sizeof(le->text), "registry %s: label item of %.*s refused: %s",
			 rz, ll, l, ret == SW_EPOLICY ? reg_why_str(why) : sw_strerror(ret));
		r->stats.reg_refused++;
		return;
	}
	le->chk_ok = true;
	le->chk_expires = rec->expires;
	label_verified(r, le);
	/* Said if the registration expires while the item stays cached. */
	snprintf(le->text, sizeof(le->text),
		 "%.*s is not registered in registry %s: its registration expired or was released",
		 ll, l, rz);
}

/* On the pool's thread: the check itself, from the job's copies alone. */
static void check_work(void *arg)
{
	check_job_t *j = arg;
	j->ret =
	    reg_check_record(&j->policy, j->pk, j->label, j->label_len, &j->rec, &j->in, &j->why);
	j->ran = true;
}

/* Back on the resolver's thread: the verdict, unless the entry has a newer item or policy by
 * now (then the next query checks again); everyone waiting on the entry goes on. */
static void check_done(void *arg)
{
	check_job_t *j = arg;
	centry_t *e = j->e;
	if (e == NULL) {
		free(j);
		return;
	}
	resolver_t *r = e->r;
	e->job = NULL;
	r->njobs--;
	if (j->ran && e->zone && zone_seq(e->zone) == j->seq && e->chk_seq == j->seq &&
	    e->chk_pol == j->pol)
		check_result(r, e, &j->rec, j->ret, j->why);
	else
		e->chk_done = false;
	free(j);
	waiters_go(r, e);
}

/* Starts the check of le on another thread (resolver_io_t.offload). Returns 1 (started:
 * wait on le), SW_ELIMIT (CHECK_JOBS_MAX run already: le->text says so) or 0 (it cannot
 * start: the caller checks at once). */
static int check_offload(resolver_t *r, centry_t *le, const reg_policy_t *pol,
			 const reg_record_t *rec, const reg_check_in_t *in, const char *rz)
{
	if (r->njobs >= CHECK_JOBS_MAX) {
		le->chk_done = false; /* the next query tries again */
		snprintf(le->text, sizeof(le->text),
			 "registry %s: too many label items being checked at once; try again", rz);
		return SW_ELIMIT;
	}
	check_job_t *j = malloc(sizeof(*j));
	if (j == NULL)
		return 0;
	j->e = le;
	j->seq = le->chk_seq;
	j->pol = le->chk_pol;
	memcpy(j->pk, le->pk, 32);
	memcpy(j->label, le->salt, le->salt_len);
	j->label[le->salt_len] = 0;
	j->label_len = le->salt_len;
	j->ran = false;
	j->policy = *pol;
	j->rec = *rec;
	j->in = *in;
	j->txt.n = 0;
	if (le->proof && in->ntxt) {
		j->txt = le->proof->txt;
		reg_dns_txt_in(&j->txt, &j->in);
	}
	le->job = j;
	r->njobs++;
	if (r->opts.io.offload(r->opts.io.ctx, check_work, check_done, j) == 0) {
		le->chk_done = false;
		return 1;
	}
	le->job = NULL;
	r->njobs--;
	free(j);
	return 0;
}

static int label_check(resolver_t *r, centry_t *le, const centry_t *pe, const resolver_regname_t *n,
		       uint64_t now)
{
	if (le->job)
		return 1; /* its check runs on another thread */
	char rz[SW_Z32_KEY_LEN + 1];
	reg_policy_t pol;
	reg_record_t rec;
	reg_why_t why = REG_WHY_OK;
	size_t plen, llen;
	const uint8_t *ppkt = entry_packet(pe, &plen), *lpkt = entry_packet(le, &llen);
	sw_z32_encode_key(le->pk, rz);
	le->chk_done = true;
	le->chk_ok = le->chk_free = false;
	le->chk_seq = zone_seq(le->zone);
	le->chk_pol = zone_seq(pe->zone);
	le->chk_expires = 0;
	int ret = reg_policy_parse(le->pk, ppkt, plen, &pol);
	if (ret) {
		snprintf(le->text, sizeof(le->text),
			 "registry %s: its policy item (_policy) does not parse (%s); its names "
			 "cannot be checked",
			 rz, sw_strerror(ret));
		goto refused;
	}
	ret = reg_label_parse(le->pk, n->label, n->label_len, lpkt, llen, &rec, NULL);
	if (ret) {
		snprintf(le->text, sizeof(le->text),
			 "registry %s: the label item of %s does not parse (%s)", rz, n->label,
			 sw_strerror(ret));
		goto refused;
	}
	reg_check_in_t in = {.now = unix_s(r)};
	if (pol.rules & REG_RULE_DNS_PROOF) {
		proof_t *pr = le->proof;
		if (pr == NULL || pr->seq != le->chk_seq || pr->pol != le->chk_pol ||
		    pr->state == PROOF_NONE) {
			le->chk_done = false; /* not checked yet */
			return proof_start(r, le, &pol, &rec, rz);
		}
		if (pr->state == PROOF_PENDING) {
			le->chk_done = false;
			return 1;
		}
		if (pr->state == PROOF_FAILED) {
			/* Not kept: the next query looks the record up again. */
			pr->state = PROOF_NONE;
			le->chk_done = false;
			snprintf(le->text, sizeof(le->text),
				 "registry %s: the dns-proof TXT record of %s could not be looked "
				 "up (upstream failed)",
				 rz, n->label);
			return 0;
		}
		reg_dns_txt_in(&pr->txt, &in);
	}
	/* An `open` registry's proof of work is up to 0.2 s of Argon2id: not on this thread,
	 * which answers every other query meanwhile. */
	if ((pol.rules & REG_RULE_OPEN) && r->opts.io.offload) {
		int st = check_offload(r, le, &pol, &rec, &in, rz);
		if (st != 0)
			return st == 1; /* started: wait; busy: the text says so */
	}
	ret = reg_check_record(&pol, le->pk, n->label, n->label_len, &rec, &in, &why);
	check_result(r, le, &rec, ret, why);
	return 0;
refused:
	r->stats.reg_refused++;
	return 0;
}

/* Nothing can be learnt of R's items (no DHT peers): the failure is undone and R's apex zone
 * answers, as for any key. */
static int reg_unreachable(ctx_t *c)
{
	c->rcode = DNS_RCODE_NOERROR;
	c->trace.ede = DNS_EDE_NONE;
	c->trace.ede_text = NULL;
	c->reg_off = true;
	return FZ_OK;
}

/* A label R does not give out (no item, or one whose registration ended): R's apex answers,
 * or an empty zone of R when R publishes none: NXDOMAIN with R's SOA and le's EDE text. */
static int label_absent(resolver_t *r, ctx_t *c, centry_t *le, resolver_source_t lsrc,
			const zone_t **zp, const zone_t **fullp, resolver_source_t *srcp)
{
	static const uint8_t empty_pkt[DNS_HDR_LEN] = {0, 0, 0x84, 0};
	static const uint8_t no_sig[64];
	if (*zp == NULL && le->empty == NULL &&
	    zone_build_packet(le->pk, 0, no_sig, empty_pkt, sizeof(empty_pkt), &r->opts.zone,
			      &le->empty) != 0) {
		fail(c, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, "out of memory");
		return STEP_DONE;
	}
	if (*zp == NULL) {
		*zp = le->empty;
		*fullp = NULL;
		*srcp = lsrc == RES_SRC_LOCAL ? RES_SRC_CACHE : lsrc;
	}
	r->stats.reg_nxdomain++;
	c->trace.ede = DNS_EDE_OTHER;
	c->trace.ede_text = le->text;
	return FZ_OK;
}

/* Starts the lookup of key label's item with salt (h: the hash of the label alone) unless it
 * is cached fresh, known absent or looked up already, without waiting for it: a registered
 * name's apex zone, policy and label items are asked for at once, not one after the other
 * (docs/registries.md "Resolving a registered name"). Counted against the client network's
 * lookup_rate as any lookup; it never preempts another network's lookup. */
static void prefetch_item(resolver_t *r, const ctx_t *c, const uint8_t *label, uint64_t h,
			  const uint8_t *salt, size_t salt_len, uint64_t now)
{
	uint64_t sh = salted_hash(r, h, salt, salt_len);
	centry_t *e = cache_find_salted(r, label, sh, salt, salt_len);
	/* An entry without a zone that is not looked up is a lookup that just failed: the next
	 * query that needs it asks again, not every wake-up of a waiter (wake_registry()). */
	if (e && (e->fetching || (e->zone == NULL && !e->absent) || now < e->expires_ms))
		return;
	if (r->lookup_rl && dns_rrl_check(r->lookup_rl, c->client.peer, DNS_RRL_ERROR, NULL, 0, 0,
					  now) != DNS_RRL_PASS) {
		r->stats.lookups_limited++;
		return;
	}
	if (e == NULL && (e = cache_add_salted(r, label, sh, salt, salt_len)) == NULL)
		return;
	if (start_fetch(r, e, c->client.peer, false) < 0 && e->zone == NULL && e->waiters == NULL)
		cache_remove(r, e);
}

/* Is cache entry e's item (or zone) here to be used by c now? */
static bool item_here(const centry_t *e, const ctx_t *c, uint64_t now)
{
	return e && e->zone && (now < e->expires_ms || c->given == e);
}

/* docs/design.md §9: a name under label L of key R (key label, hash h) that R's apex zone *zp
 * (NULL: R publishes none) does not hold itself: R's policy item (salt `_policy`; none: R is
 * no registry and *zp answers alone), then the label item (salt L), checked against the
 * policy. Returns FZ_OK with *zp, *fullp and *srcp the label item's zone (its NS delegates to
 * the owner's zone) or, for a label a converged lookup did not find, R's apex (or an empty
 * zone of R) to answer NXDOMAIN with R's SOA, the EDE naming R; else STEP_WAIT_DHT, or
 * STEP_DONE after fail(). Names that are not under a registrable label go on in the apex.
 * apex: R's apex zone is still looked up (registry_early()); whatever the apex would decide
 * (no registry, a label not given out) waits for it: STEP_WAIT_DHT with *wait_for apex. */
static int registry_step(resolver_t *r, ctx_t *c, const uint8_t *label, uint64_t h, uint64_t now,
			 const zone_t **zp, const zone_t **fullp, resolver_source_t *srcp,
			 centry_t **wait_for, centry_t *apex)
{
	resolver_regname_t n;
	if (c->reg_off || resolver_regname_parse(c->name, &n) != 0 ||
	    !resolver_regname_in_label(&n) || reg_label_check(n.label, n.label_len) != 0)
		return FZ_OK;
	const uint8_t *lsalt = (const uint8_t *)n.label, *psalt = (const uint8_t *)POLICY_SALT;
	size_t plen = sizeof(POLICY_SALT) - 1;
	const zone_t *lz, *lfull, *pz, *pfull;
	resolver_source_t lsrc = *srcp, psrc = *srcp;
	centry_t *le, *pe;
	/* A key a `root` names is meant for a registry: its label item is asked for with the
	 * policy, not after it. */
	if (c->rooted)
		prefetch_item(r, c, label, h, lsalt, n.label_len, now);
	/* A key is a registry when it publishes a policy item: asked first, once per key and
	 * cached (also its absence), so that names a zone does not hold under a key that is no
	 * registry (a flood of random names, say) cost one lookup per key, not one per label. */
	int st = cache_zone(r, c, label, salted_hash(r, h, psalt, plen), psalt, plen, now, &pz,
			    &pfull, &psrc, &pe, wait_for);
	if (st == STEP_DONE && c->trace.ede == DNS_EDE_NO_REACHABLE_AUTHORITY)
		return reg_unreachable(c);
	if (st != FZ_OK)
		return st;
	if (pz == NULL) { /* no registry: the zone answers alone, or there is none */
		if (apex) {
			*wait_for = apex;
			return STEP_WAIT_DHT;
		}
		if (*zp == NULL)
			not_found(c);
		return *zp == NULL ? STEP_DONE : FZ_OK;
	}
	st = cache_zone(r, c, label, salted_hash(r, h, lsalt, n.label_len), lsalt, n.label_len, now,
			&lz, &lfull, &lsrc, &le, wait_for);
	if (st == STEP_DONE && c->trace.ede == DNS_EDE_NO_REACHABLE_AUTHORITY && *zp)
		return reg_unreachable(c);
	if (st != FZ_OK)
		return st;
	if (lz == NULL && apex) {
		*wait_for = apex;
		return STEP_WAIT_DHT;
	}
	if (lz == NULL)
		return label_absent(r, c, le, lsrc, zp, fullp, srcp);
	if ((!le->chk_done || le->chk_seq != zone_seq(le->zone) ||
	     le->chk_pol != zone_seq(pe->zone)) &&
	    label_check(r, le, pe, &n, now) == 1) {
		*wait_for = le;
		return STEP_WAIT_DHT;
	}
	/* Expired, or released (an item whose registration ended at once): not registered. */
	if (le->chk_free || (le->chk_ok && le->chk_expires && unix_s(r) >= le->chk_expires)) {
		if (apex) {
			*wait_for = apex;
			return STEP_WAIT_DHT;
		}
		return label_absent(r, c, le, lsrc, zp, fullp, srcp);
	}
	if (!le->chk_ok) {
		fail(c, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, le->text);
		return STEP_DONE;
	}
	c->aa = false; /* the registry's word, not one of our zones */
	*zp = lz;
	*fullp = lfull;
	*srcp = lsrc;
	return FZ_OK;
}

/* A name under label L of key R while R's apex zone is still looked up (*wait_for): when R's
 * policy and label items are both here, the label item answers without waiting for the apex,
 * which a registry need not publish (and a missing item takes its lookup's hard timeout to be
 * sure of). Both are asked for along with the apex when R may be a registry: named by a
 * `root`, its policy item cached, or a name below a label of R's. Returns what registry_step()
 * does, or STEP_WAIT_DHT for the apex; the lookups of R's items wake the apex's waiters when they
 * end (wake_registry()). A registry whose apex zone also holds names under a label it gave out
 * answers them from either, whichever is here first (docs/registries.md "Resolving a registered
 * name"). */
static int registry_early(resolver_t *r, ctx_t *c, const uint8_t *label, uint64_t h, uint64_t now,
			  const zone_t **zp, const zone_t **fullp, resolver_source_t *srcp,
			  centry_t **wait_for)
{
	resolver_regname_t n;
	centry_t *apex = *wait_for;
	if (!registry_name(c) || resolver_regname_parse(c->name, &n) != 0)
		return STEP_WAIT_DHT;
	const uint8_t *lsalt = (const uint8_t *)n.label, *psalt = (const uint8_t *)POLICY_SALT;
	size_t plen = sizeof(POLICY_SALT) - 1;
	uint64_t ph = salted_hash(r, h, psalt, plen), lh = salted_hash(r, h, lsalt, n.label_len);
	centry_t *pe = cache_find_salted(r, label, ph, psalt, plen);
	/* A name two labels or more below a key not known to be no registry (`www.alice.<R>.`):
	 * its policy and label items are asked for too, two lookups that a plain key's deep
	 * names spend in vain, once per key while its policy's absence is cached. */
	bool no_reg = pe && pe->absent && now < pe->expires_ms;
	if (!c->rooted && !item_here(pe, c, now) && (n.label_off == 0 || no_reg))
		return STEP_WAIT_DHT;
	apex->reg_apex = true;
	prefetch_item(r, c, label, h, psalt, plen, now);
	prefetch_item(r, c, label, h, lsalt, n.label_len, now);
	if (!item_here(cache_find_salted(r, label, ph, psalt, plen), c, now) ||
	    !item_here(cache_find_salted(r, label, lh, lsalt, n.label_len), c, now))
		return STEP_WAIT_DHT;
	return registry_step(r, c, label, h, now, zp, fullp, srcp, wait_for, apex);
}

/* Runs the resolution as far as it can go without waiting. *wait_for gets the cache entry
 * when a DHT lookup must finish first. */
static int resolve(resolver_t *r, ctx_t *c, centry_t **wait_for)
{
	uint64_t now = now_ms(r);
	for (;;) {
		if (c->hops > HOPS_MAX) {
			fail(c, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, "delegation too deep");
			return STEP_DONE;
		}
		const uint8_t *label = NULL;
		if (!find_key(r, c, &label)) {
			if (c->hops > 0) /* a CNAME out of the swarm: the client follows it */
				return STEP_DONE;
			if (r->opts.io.fwd_query == NULL) {
				fail(c, DNS_RCODE_REFUSED, DNS_EDE_NONE, NULL);
				return STEP_DONE;
			}
			return STEP_WAIT_UPSTREAM;
		}
		uint64_t h = sw_hash(label, SW_Z32_KEY_LEN, r->seed);
		const zone_t *z = slot_find(r, label, h)->zone, *full = NULL;
		resolver_source_t src = RES_SRC_LOCAL;
		bool early = false; /* a label item answers before R's apex: registry_early() */
		if (z) {
			if (c->hops == 0)
				c->aa = true;
		} else {
			centry_t *e;
			int st =
			    cache_zone(r, c, label, h, NULL, 0, now, &z, &full, &src, &e, wait_for);
			if (st == STEP_WAIT_DHT && c->hops == 0) {
				st = registry_early(r, c, label, h, now, &z, &full, &src, wait_for);
				early = st == FZ_OK;
			}
			if (st != FZ_OK)
				return st;
		}
		if (!early && c->hops == 0 && r->opts.io.dht_get &&
		    (z == NULL || !zone_holds(full ? full : z, c->name))) {
			int st =
			    registry_step(r, c, label, h, now, &z, &full, &src, wait_for, NULL);
			if (st != FZ_OK)
				return st;
		}
		if (z == NULL) { /* no apex zone, and no label item holds the name */
			not_found(c);
			return STEP_DONE;
		}
		c->trace.source = src;
		c->trace.has_key = true;
		memcpy(c->trace.key, zone_key(z), 32);
		c->trace.seq = zone_seq(z);

		uint8_t next[DNS_NAME_MAX];
		if (zone_delegation(z, c->name, next)) {
			memcpy(c->name, next, dns_name_len(next));
			c->hops++;
			c->trace.hops = c->hops;
			continue;
		}
		zone_result_t res;
		uint32_t ttl = c->stale ? STALE_TTL : 0;
		if (!c->stale && c->ttl_cap) {
			/* Every TTL at most the cap (ttl 0 would mean "the records' own"). */
			ttl = zone_min_ttl(z) < c->ttl_cap ? zone_min_ttl(z) : c->ttl_cap;
			ttl = ttl ? ttl : 1;
		}
		if (!c->stale && c->ttl_left && (ttl == 0 || c->ttl_left < ttl))
			ttl = c->ttl_left; /* counts down: see cache_ttl_left() */
		dns_wr_t before = c->w;
		answer_from(c, z, ttl, &c->w, &res);
		if (full)
			rebind_compare(r, c, full, ttl, &before, &res);
		if (c->any_one && res.an > 0)
			r->stats.any_minimal++;
		c->an = (uint16_t)(c->an + res.an);
		c->ns = (uint16_t)(c->ns + res.ns);
		c->rcode = res.rcode;
		if (res.too_deep) {
			fail(c, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, "delegation too deep");
			return STEP_DONE;
		}
		if (c->stale)
			c->trace.ede = DNS_EDE_STALE, c->trace.ede_text = "Stale Answer";
		/* RFC 8914 §5.18: the operator must learn at once which switch this is. */
		if (c->filtered)
			c->trace.ede = DNS_EDE_FILTERED, c->trace.ede_text = REBIND_TEXT;
		if (!res.has_next || c->w.err)
			return STEP_DONE;
		memcpy(c->name, res.next, dns_name_len(res.next));
		memcpy(c->owner, res.next, dns_name_len(res.next));
		c->mapped = c->rooted = false;
		c->hops++;
		c->trace.hops = c->hops;
	}
}

/* Does the response carry our COOKIE option (RFC 7873 §5.2)? */
static bool with_cookie(const resolver_t *r, const ctx_t *c)
{
	return r->opts.cookies && c->q.has_edns && c->q.cookie_len > 0;
}

/* Header flags and counts, the OPT, and truncation over UDP (RFC 2181 §9). */
static size_t finish(resolver_t *r, ctx_t *c)
{
	dns_wr_t *w = &c->w;
	size_t opt = 0;
	if (c->q.has_edns) {
		opt = OPT_LEN + (with_cookie(r, c) ? COOKIE_OPT_LEN : 0);
		if (c->trace.ede != DNS_EDE_NONE)
			opt += 6 + (c->trace.ede_text ? strlen(c->trace.ede_text) : 0);
	}
	bool failed = c->rcode != DNS_RCODE_NOERROR && c->rcode != DNS_RCODE_NXDOMAIN;
	if (w->err || failed || w->len + opt > c->limit) {
		if (!failed) {
			w->buf[2] |= 0x02; /* TC: the client retries over TCP */
			r->stats.truncated++;
		}
		/* A failure or a truncation carries no partial sections. */
		w->err = 0;
		w->len = c->qend;
		c->an = c->ns = 0;
	}
	w->buf[2] = (uint8_t)((w->buf[2] & ~0x04) | (c->aa ? 0x04 : 0));
	/* RA: we resolve key names and forward the rest for the client. */
	if (r->opts.io.dht_get || r->opts.io.fwd_query)
		w->buf[3] |= 0x80;
	w->buf[3] = (uint8_t)((w->buf[3] & 0xF0) | (c->rcode & 0xF));
	dns_resp_counts(w, c->an, c->ns, 0);
	w->cap = c->limit;
	size_t opt_pos = w->len;
	dns_resp_opt(w, &c->q, c->rcode, r->opts.udp_payload, c->trace.ede, c->trace.ede_text,
		     with_cookie(r, c) ? c->cookie : NULL, DNS_COOKIE_FULL_LEN);
	if (c->client.pad && c->q.has_edns)
		dns_resp_pad(w, opt_pos, 468);
	r->stats.rcodes[c->rcode < 24 ? c->rcode : 23]++;
	r->stats.sources[c->trace.source]++;
	c->trace.elapsed_ms = now_ms(r) - c->trace.started_ms;
	return w->err ? 0 : w->len;
}

/* Response-rate limiting (dns/rrl.h) of the UDP response in buf (len bytes) made for c. A
 * client that returned a valid cookie is not limited (RFC 7873 §5.4). Returns the length to
 * send: len, 0 (dropped), or that of the short answer that replaced it (a "slip"): TC=1 with
 * the question only, or BADCOOKIE with a fresh cookie for a client that sent one, so that it
 * can come back with it. */
static size_t rrl_apply(resolver_t *r, ctx_t *c, uint8_t *buf, size_t len)
{
	if (r->rrl == NULL || c->client.tp != SW_TP_UDP || c->cookie_ok || len < DNS_HDR_LEN)
		return len;
	uint8_t rcode = buf[3] & 0xF;
	const uint8_t *name = c->q.qname_lower;
	size_t nlen = c->q.has_question ? c->q.qname_len : 0;
	dns_rrl_class_t cls = DNS_RRL_ERROR;
	if (rcode == DNS_RCODE_NOERROR && dns_get_u16(buf + 6) > 0) {
		cls = DNS_RRL_ANSWER;
	} else if (rcode == DNS_RCODE_NOERROR || rcode == DNS_RCODE_NXDOMAIN) {
		/* Negative answers share one budget per zone: random names under a zone must
		 * not each get their own. Outside the swarm, the parent name stands for it. */
		cls = DNS_RRL_NEGATIVE;
		if (c->trace.has_key) {
			name = c->trace.key;
			nlen = sizeof(c->trace.key);
		} else if (nlen > 1) {
			name = dns_name_suffix(name, dns_name_labels(name) - 1);
			nlen = dns_name_len(name);
		}
	}
	switch (dns_rrl_check(r->rrl, c->client.peer, cls, name, nlen, c->q.qtype, now_ms(r))) {
	case DNS_RRL_PASS:
		return len;
	case DNS_RRL_DROP:
		r->stats.rrl_dropped++;
		return 0;
	default:
		break;
	}
	r->stats.rrl_slipped++;
	bool badcookie = with_cookie(r, c);
	uint8_t rc = badcookie ? DNS_RCODE_BADCOOKIE : rcode;
	dns_wr_t w;
	dns_wr_init(&w, buf, c->limit, 0);
	dns_resp_begin(&w, &c->q, rc, false);
	if (!badcookie)
		w.buf[2] |= 0x02; /* TC: a real client asks again over TCP */
	if (r->opts.io.dht_get || r->opts.io.fwd_query)
		w.buf[3] |= 0x80;
	dns_resp_opt(&w, &c->q, rc, r->opts.udp_payload, DNS_EDE_NONE, NULL,
		     badcookie ? c->cookie : NULL, DNS_COOKIE_FULL_LEN);
	return w.err ? 0 : w.len;
}

/* ---- waiting ---- */

static void req_free(resolver_t *r, req_t *rq)
{
	if (rq->all_prev)
		rq->all_prev->all_next = rq->all_next;
	else
		r->pending = rq->all_next;
	if (rq->all_next)
		rq->all_next->all_prev = rq->all_prev;
	r->npending--;
	r->stats.pending = r->npending;
	free(rq->raw);
	free(rq->buf);
	free(rq);
}

static void req_reply(resolver_t *r, req_t *rq, size_t len)
{
	resolver_client_t cl = rq->c.client;
	if (len > 0)
		len = rrl_apply(r, &rq->c, rq->buf, len);
	if (r->qlog && len > 0)
		r->qlog(r->qlog_ctx, &cl, rq->c.q.has_question ? rq->c.q.qname_lower : NULL,
			rq->c.q.qtype, rq->buf, len, &rq->c.trace);
	if (cl.reply)
		cl.reply(&cl, rq->buf, len, &rq->c.trace);
	req_free(r, rq);
}

/* Copies the state of a resolution that must wait, with the response built so far. */
static req_t *req_new(resolver_t *r, const ctx_t *c, const uint8_t *raw, size_t rawlen)
{
	if (r->npending >= r->opts.max_pending) {
		r->stats.pending_refused++;
		return NULL;
	}
	req_t *rq = calloc(1, sizeof(*rq));
	if (rq == NULL)
		return NULL;
	rq->buf = malloc(c->limit);
	rq->raw = malloc(rawlen);
	if (rq->buf == NULL || rq->raw == NULL) {
		free(rq->buf);
		free(rq->raw);
		free(rq);
		return NULL;
	}
	rq->c = *c;
	if (c->client.peer && c->client.peer_len <= sizeof(rq->peer)) {
		memcpy(&rq->peer, c->client.peer, c->client.peer_len);
		rq->c.client.peer = (const struct sockaddr *)&rq->peer;
	} else {
		rq->c.client.peer = NULL;
		rq->c.client.peer_len = 0;
	}
	memcpy(rq->buf, c->w.buf, c->w.len);
	rq->c.w.buf = rq->buf;
	memcpy(rq->raw, raw, rawlen);
	rq->rawlen = rawlen;
	rq->r = r;
	rq->all_next = r->pending;
	if (r->pending)
		r->pending->all_prev = rq;
	r->pending = rq;
	r->npending++;
	r->stats.pending = r->npending;
	return rq;
}

static void on_upstream(void *cbctx, const uint8_t *resp, size_t len, int err);

/* Resolution went as far as it could: answer, or park the request until it can go on. */
static void advance(resolver_t *r, req_t *rq)
{
	centry_t *e = NULL;
	int st = resolve(r, &rq->c, &e);
	if (st == STEP_DONE) {
		req_reply(r, rq, finish(r, &rq->c));
		return;
	}
	if (st == STEP_WAIT_DHT) {
		rq->entry = e;
		rq->next = e->waiters;
		e->waiters = rq;
		return;
	}
	rq->entry = NULL;
	if (r->opts.io.fwd_query(r->opts.io.ctx, rq->raw, rq->rawlen, on_upstream, rq) != 0) {
		fail(&rq->c, DNS_RCODE_SERVFAIL, DNS_EDE_NETWORK_ERROR, "upstream failed");
		req_reply(r, rq, finish(r, &rq->c));
	}
}

/* A forwarded answer is ours as a recursive resolver: RA=1, AA=0 (RFC 1035 §4.1.1). */
static void recursive_flags(uint8_t *resp)
{
	resp[2] &= (uint8_t)~0x04;
	resp[3] |= 0x80;
}

static void on_upstream(void *cbctx, const uint8_t *resp, size_t len, int err)
{
	req_t *rq = cbctx;
	resolver_t *r = rq->r;
	ctx_t *c = &rq->c;
	c->trace.source = RES_SRC_UPSTREAM;
	if (err || len < DNS_HDR_LEN) {
		fail(c, DNS_RCODE_SERVFAIL, DNS_EDE_NETWORK_ERROR, "upstream failed");
		req_reply(r, rq, finish(r, c));
		return;
	}
	r->stats.sources[RES_SRC_UPSTREAM]++;
	r->stats.rcodes[resp[3] & 0xF]++;
	c->trace.elapsed_ms = now_ms(r) - c->trace.started_ms;
	if (len <= c->limit) {
		memcpy(rq->buf, resp, len);
		recursive_flags(rq->buf);
		req_reply(r, rq, len);
		return;
	}
	/* Too large for the client's UDP payload: TC=1 with the question only (RFC 2181 §9). */
	memcpy(rq->buf, resp, DNS_HDR_LEN);
	size_t qlen = c->qend - DNS_HDR_LEN;
	memcpy(rq->buf + DNS_HDR_LEN, c->w.buf + DNS_HDR_LEN, qlen);
	rq->buf[2] |= 0x02;
	recursive_flags(rq->buf);
	memset(rq->buf + 6, 0, 6);
	r->stats.truncated++;
	req_reply(r, rq, c->qend);
}

/* Takes the item of a lookup report: never below the served seq (rollback protection); a
 * higher one is verified and kept as the candidate until the lookup is ready. */
static void take_item(resolver_t *r, centry_t *e, const resolver_dht_result_t *res)
{
	if (e->zone && res->seq < zone_seq(e->zone)) {
		r->stats.rollbacks_refused++;
		return;
	}
	if (e->cand && res->seq <= zone_seq(e->cand))
		return; /* not better than what this lookup already gave */
	if (e->zone && res->seq == zone_seq(e->zone)) {
		e->lk_same = true;
		e->lk_nodes = res->nodes;
		return;
	}
	/* The zone's item again from what the DHT or a relay gave: key, seq, packet, sig. */
	item_t it;
	zone_t *z = NULL, *served = NULL;
	bool ok = res->seq <= INT64_MAX &&
		  item_init(&it, e->pk, e->salt, e->salt_len, (int64_t)res->seq) == 0 &&
		  item_set_str(&it, res->packet, res->packet_len) == 0;
	if (ok)
		memcpy(it.sig, res->sig, 64);
	/* A registry's item (salted, verified with its salt) holds records of pk's names as a
	 * zone does: it is served as one (zone_build() takes unsalted items only). */
	if (!ok || item_verify(&it) != 0 ||
	    zone_build_packet(e->pk, res->seq, res->sig, res->packet, res->packet_len,
			      &r->opts.zone, &z) != 0) {
		r->stats.bad_items++;
		return;
	}
	if (r->opts.rebind_protection && rebind_filter(r, e->pk, &it, &served) != 0) {
		zone_free(z); /* out of memory: better no zone than an unfiltered one */
		return;
	}
	zone_free(e->cand);
	zone_free(e->cand_full);
	e->cand = served ? served : z;
	e->cand_full = served ? z : NULL;
	e->lk_nodes = res->nodes;
}

/* A label item's verified copy came before its lookup is ready: the lookup of the owner's
 * zone it delegates to starts now, alongside the label's, rather than after it (the label
 * item's newest version names the same owner but after a transfer; then one lookup was spent
 * for nothing). For the label lookup's client network, which asked for both; it preempts
 * nobody. */
static void prefetch_owner(resolver_t *r, const centry_t *e, uint64_t now)
{
	uint8_t name[DNS_NAME_MAX], next[DNS_NAME_MAX], key[SW_Z32_KEY_LEN], pk[32];
	size_t n = 0;
	name[n++] = 1; /* `x.<label>.<R>.`: a name below the label, where its NS delegates */
	name[n++] = 'x';
	name[n++] = e->salt_len;
	memcpy(name + n, e->salt, e->salt_len);
	n += e->salt_len;
	name[n++] = SW_Z32_KEY_LEN;
	memcpy(name + n, e->label, SW_Z32_KEY_LEN);
	name[n + SW_Z32_KEY_LEN] = 0;
	if (!zone_delegation(e->cand_full ? e->cand_full : e->cand, name, next))
		return;
	const uint8_t *last = NULL;
	dns_name_lower(next, next);
	for (const uint8_t *p = next; *p; p += 1 + (size_t)*p)
		last = p;
	if (last == NULL || *last != SW_Z32_KEY_LEN)
		return;
	memcpy(key, last + 1, SW_Z32_KEY_LEN);
	if (sw_z32_decode_key((const char *)key, SW_Z32_KEY_LEN, pk) != 0)
		return;
	uint64_t h = sw_hash(key, SW_Z32_KEY_LEN, r->seed);
	centry_t *o = cache_find(r, key, h);
	if (slot_find(r, key, h)->zone || (o && (o->fetching || (o->zone && now < o->expires_ms))))
		return; /* our own zone, looked up already, or cached */
	if (o == NULL && (o = cache_add_salted(r, key, h, NULL, 0)) == NULL)
		return;
	if (start_fetch_net(r, o, e->net, false) < 0 && o->zone == NULL && o->waiters == NULL)
		cache_remove(r, o);
}

/* A DHT lookup reported (docs/design.md §3 step 2, "freshness before speed"): every item is
 * verified and the highest seq kept, but nothing is answered before the lookup says it is
 * ready (converged, a quorum agrees, or its deadline passed) or done. Then the waiters get
 * the highest seq seen; an answer before convergence gets a short TTL, and so does the cache
 * entry, until a converged report confirms the zone. */
static void on_dht(void *cbctx, const resolver_dht_result_t *res)
{
	centry_t *e = cbctx;
	resolver_t *r = e->r;
	uint64_t now = now_ms(r);
	bool fresh = false;
	if (res->has_item)
		take_item(r, e, res);
	if (res->has_item && !res->ready && !res->done && e->cand && e->salt_len &&
	    e->salt[0] != '_')
		prefetch_owner(r, e, now);
	if (res->ready || res->done) {
		if (e->cand) {
			zone_free(e->zone);
			zone_free(e->full);
			e->zone = e->cand;
			e->full = e->cand_full;
			e->cand = e->cand_full = NULL;
			e->converged = res->converged;
			e->absent = false;
			e->expires_ms = now + lifetime_ms(r, e->zone, e->converged);
			fresh = true;
		} else if (e->lk_same) {
			/* The served seq again: fresh once more, for a full TTL if converged. A
			 * lookup that has not converged (yet) may be hiding a newer seq: until it
			 * does, the answers are short again, whatever an earlier lookup found. */
			e->converged = res->converged;
			uint64_t exp = now + lifetime_ms(r, e->zone, res->converged);
			if (exp > e->expires_ms || res->converged)
				e->expires_ms = exp;
			fresh = true;
		}
		if (fresh)
			e->nodes = e->lk_nodes;
	}
	/* docs/design.md §9: a registry's item that a converged lookup did not find does not
	 * exist (the name is not registered): cached as a negative answer for the negative TTL.
	 * Before convergence, or with a copy cached, nothing is concluded. A zone is marked so
	 * too when a name under a registry's label waits for it (a registry need not publish
	 * an apex zone), but the mark serves only such names; other names of that key look the
	 * zone up again, as before. */
	bool reg = e->salt_len > 0 || e->reg_apex;
	for (const req_t *rq = e->waiters; rq && !reg; rq = rq->next)
		reg = registry_name(&rq->c);
	if (res->done && reg && e->zone == NULL && !res->has_item && res->err == SW_ENOTFOUND &&
	    res->converged) {
		e->absent = true;
		e->converged = true;
		e->expires_ms = now + (uint64_t)r->opts.zone.min_ttl * 1000;
		fresh = true;
		absent_text(e);
	}
	if (res->done) {
		e->fetching = false;
		pool_release(r, e);
		uint64_t ms = now - e->fetch_started;
		int b = 0;
		while (b < RESOLVER_LAT_BUCKETS - 1 && ms > resolver_lat_bounds_ms[b])
			b++;
		r->stats.lookup_ms_buckets[b]++;
		r->stats.lookup_ms_sum += ms;
		r->stats.lookup_count++;
	}
	if (!fresh && !res->done)
		return;
	/* Everyone waiting goes on: with the fresh zone, or stale, or with an error. Their
	 * resolution may go on into other zones and need the pool: not this lookup's slot. */
	e->in_cb = true;
	req_t *w = e->waiters, *rq;
	e->waiters = NULL;
	while ((rq = waiter_next(&w)) != NULL) {
		ctx_t *c = &rq->c;
		if (fresh) {
			c->trace.source = RES_SRC_DHT;
			c->given = e; /* answered with it even if its lifetime is 0 */
		} else if (e->zone && now - e->expires_ms <= (uint64_t)r->opts.stale_max * 1000) {
			c->stale = true; /* RFC 8767 §4: the DHT gave nothing newer */
		} else {
			if (res->err == SW_ECONN && e->salt_len) {
				c->reg_off = true; /* see registry_step() */
				advance(r, rq);
				continue;
			} else if (res->err == SW_ECONN)
				fail(c, DNS_RCODE_SERVFAIL, DNS_EDE_NO_REACHABLE_AUTHORITY,
				     "no DHT peers");
			else if (e->salt_len)
				fail(c, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER,
				     e->salt[0] == '_' ? "registry policy item not found in the "
							 "DHT (lookup did not converge)"
						       : "label item not found in the DHT "
							 "(lookup did not converge)");
			else
				fail(c, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER,
				     "zone not found in the DHT");
			req_reply(r, rq, finish(r, c));
			continue;
		}
		advance(r, rq);
	}
	e->in_cb = false;
	if (e->salt_len)
		wake_registry(r, e);
	if (res->done && e->zone == NULL && !e->absent && e->waiters == NULL && !e->fetching)
		cache_remove(r, e);
}

/* The lookup of registry item e ended or gave an item: the names under R's labels that wait
 * for R's apex zone go on (registry_early()), since the label item may answer them now; the
 * others keep waiting. */
static void wake_registry(resolver_t *r, const centry_t *e)
{
	centry_t *apex = cache_find(r, e->label, sw_hash(e->label, SW_Z32_KEY_LEN, r->seed));
	if (apex == NULL || apex->in_cb || apex->waiters == NULL)
		return;
	req_t *w = apex->waiters, *go = NULL, *rq;
	apex->waiters = NULL;
	while ((rq = w) != NULL) {
		w = rq->next;
		req_t **to = registry_name(&rq->c) ? &go : &apex->waiters;
		rq->next = *to;
		*to = rq;
	}
	while ((rq = waiter_next(&go)) != NULL)
		advance(r, rq);
}

/* ---- the entry point ---- */

size_t resolver_handle_client(resolver_t *r, const uint8_t *query, size_t qlen,
			      const resolver_client_t *client, uint8_t *out, size_t cap)
{
	ctx_t c;
	sw_transport_t tp = client->tp;
	r->stats.queries[tp]++;
	int pr = dns_query_parse(query, qlen, &c.q);
	if (pr == DNS_QUERY_DROP) {
		r->stats.dropped++;
		return 0;
	}
	if (c.q.has_question)
		r->stats.qtypes[qtype_index(c.q.qtype)]++;
	c.limit = cap;
	if (tp == SW_TP_UDP) {
		/* RFC 6891 §6.2.5: payload sizes below 512 are treated as 512. */
		size_t adv = UDP_PLAIN_MAX;
		if (c.q.has_edns) {
			adv = c.q.edns_payload < UDP_PLAIN_MAX ? UDP_PLAIN_MAX : c.q.edns_payload;
			if (adv > r->opts.udp_payload)
				adv = r->opts.udp_payload < UDP_PLAIN_MAX ? UDP_PLAIN_MAX
									  : r->opts.udp_payload;
		}
		if (adv < c.limit)
			c.limit = adv;
	}
	c.client = *client;
	c.hops = 0;
	c.aa = c.stale = c.mapped = c.rooted = false;
	c.ttl_cap = 0;
	c.ttl_left = 0;
	c.given = NULL;
	c.filtered = false;
	c.reg_off = false;
	c.an = c.ns = 0;
	c.rcode = DNS_RCODE_NOERROR;
	memset(&c.trace, 0, sizeof(c.trace));
	c.trace.ede = DNS_EDE_NONE;
	c.trace.started_ms = now_ms(r);
	c.cookie_ok = false;
	c.any_one =
	    r->opts.minimal_any && tp == SW_TP_UDP && c.q.has_question && c.q.qtype == DNS_T_ANY;
	if (with_cookie(r, &c)) {
		uint32_t now_s = (uint32_t)(c.trace.started_ms / 1000);
		if (c.q.cookie_len == DNS_COOKIE_CLIENT) {
			r->stats.cookies_new++;
		} else if (dns_cookie_valid(r->opts.cookie_secret, c.q.cookie, c.q.cookie_len,
					    client->peer, now_s)) {
			c.cookie_ok = true;
			r->stats.cookies_valid++;
		} else {
			/* RFC 7873 §5.2.3: answered as if only the client cookie had come. */
			r->stats.cookies_invalid++;
		}
		dns_cookie_make(r->opts.cookie_secret, c.q.cookie, client->peer, now_s, c.cookie);
	}
	dns_wr_init(
	    &c.w, out,
	    c.limit - (c.q.has_edns ? OPT_LEN + (with_cookie(r, &c) ? COOKIE_OPT_LEN : 0) : 0), 0);
	size_t ret;
	if (pr == DNS_QUERY_ERROR) {
		dns_resp_begin(&c.w, &c.q, c.q.rcode, false);
		c.qend = c.w.len;
		c.rcode = c.q.rcode;
		ret = finish(r, &c);
		goto out;
	}
	dns_resp_begin(&c.w, &c.q, DNS_RCODE_NOERROR, false);
	c.qend = c.w.len;
	memcpy(c.name, c.q.qname_lower, c.q.qname_len);
	memcpy(c.owner, c.q.qname_lower, c.q.qname_len);
	/* Zone transfers are not offered (docs/design.md §9); other classes hold nothing here. */
	if (c.q.qtype == DNS_T_AXFR || c.q.qtype == DNS_T_IXFR ||
	    (c.q.qclass != DNS_C_IN && c.q.qclass != DNS_C_ANY)) {
		fail(&c, DNS_RCODE_REFUSED, DNS_EDE_NONE, NULL);
		ret = finish(r, &c);
		goto out;
	}
	centry_t *e = NULL;
	int st = resolve(r, &c, &e);
	if (st == STEP_WAIT_UPSTREAM && r->opts.io.fwd_cache) {
		/* The forwarder's cache answers without waiting (TC when too large for UDP). */
		size_t n = r->opts.io.fwd_cache(r->opts.io.ctx, query, qlen, out, cap);
		if (n > 0 && n <= c.limit) {
			recursive_flags(out);
			r->stats.sources[RES_SRC_UPSTREAM]++;
			c.trace.source = RES_SRC_UPSTREAM;
			ret = n;
			goto out;
		}
	}
	if (st == STEP_DONE) {
		ret = finish(r, &c);
		goto out;
	}
	if (client->reply == NULL) {
		fail(&c, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, "cannot wait for an answer here");
		ret = finish(r, &c);
		goto out;
	}
	req_t *rq = req_new(r, &c, query, qlen);
	if (rq == NULL) {
		if (st == STEP_WAIT_DHT && e->zone == NULL && e->waiters == NULL && !e->fetching)
			cache_remove(r, e);
		fail(&c, DNS_RCODE_SERVFAIL, DNS_EDE_OTHER, "too many queries waiting");
		ret = finish(r, &c);
		goto out;
	}
	if (st == STEP_WAIT_DHT) {
		rq->entry = e;
		rq->next = e->waiters;
		e->waiters = rq;
	} else if (r->opts.io.fwd_query(r->opts.io.ctx, rq->raw, rq->rawlen, on_upstream, rq) !=
		   0) {
		req_free(r, rq);
		fail(&c, DNS_RCODE_SERVFAIL, DNS_EDE_NETWORK_ERROR, "upstream failed");
		ret = finish(r, &c);
		goto out;
	}
	return RESOLVER_ASYNC;
out:
	if (ret > 0)
		ret = rrl_apply(r, &c, out, ret);
	if (client->trace)
		*client->trace = c.trace;
	if (r->qlog && ret > 0)
		r->qlog(r->qlog_ctx, client, c.q.has_question ? c.q.qname_lower : NULL, c.q.qtype,
			out, ret, &c.trace);
	return ret;
}

size_t resolver_handle(resolver_t *r, const uint8_t *query, size_t qlen, sw_transport_t tp,
		       uint8_t *out, size_t cap)
{
	resolver_client_t c;
	memset(&c, 0, sizeof(c));
	c.tp = tp;
	return resolver_handle_client(r, query, qlen, &c, out, cap);
}

int resolver_reconfigure(resolver_t *r, const resolver_opts_t *o)
{
	resolver_opts_t *cur = &r->opts;
	dns_rrl_t *rrl = r->rrl, *lookup_rl = r->lookup_rl;
	uint8_t *scratch = r->scratch;
	/* Everything that can fail first, so that a failure changes nothing. A limiter whose
	 * rate changed starts afresh: its counts were for the old rate. */
	bool new_rrl = o->rrl_rate != cur->rrl_rate || o->rrl_slip != cur->rrl_slip;
	bool new_lrl = o->lookup_rate != cur->lookup_rate;
	if (new_rrl && o->rrl_rate &&
	    dns_rrl_new(o->rrl_rate, o->rrl_slip, 0, sw_hash("rrl", 3, r->seed), &rrl))
		return SW_ENOMEM;
	if (new_lrl && o->lookup_rate &&
	    dns_rrl_new(o->lookup_rate, 0, 4096, sw_hash("lookup-rate", 11, r->seed), &lookup_rl))
		goto nomem;
	if (o->rebind_protection && scratch == NULL && (scratch = malloc(SCRATCH_LEN)) == NULL)
		goto nomem;
	if (new_rrl) {
		dns_rrl_free(r->rrl);
		r->rrl = o->rrl_rate ? rrl : NULL;
	}
	if (new_lrl) {
		dns_rrl_free(r->lookup_rl);
		r->lookup_rl = o->lookup_rate ? lookup_rl : NULL;
	}
	r->scratch = scratch;
	cur->udp_payload = o->udp_payload;
	cur->rrl_rate = o->rrl_rate;
	cur->rrl_slip = o->rrl_slip;
	cur->cookies = o->cookies;
	cur->minimal_any = o->minimal_any;
	cur->max_pending = o->max_pending ? o->max_pending : PENDING_MAX;
	cur->lookup_rate = o->lookup_rate;
	cur->zone = o->zone;
	cur->stale_max = o->stale_max;
	cur->unconverged_ttl = o->unconverged_ttl == 0 || o->unconverged_ttl > UNCONVERGED_TTL
				   ? UNCONVERGED_TTL
				   : o->unconverged_ttl;
	/* A smaller cache shrinks as new zones come in (eviction at insertion). */
	cur->cache_size = o->cache_size ? o->cache_size : 10000;
	memcpy(cur->roots, o->roots, sizeof(cur->roots));
	cur->n_roots = o->n_roots;
	memcpy(cur->key_suffixes, o->key_suffixes, sizeof(cur->key_suffixes));
	cur->n_key_suffixes = o->n_key_suffixes;
	cur->rebind_protection = o->rebind_protection;
	memcpy(cur->private_domains, o->private_domains, sizeof(cur->private_domains));
	cur->n_private_domains = o->n_private_domains;
	return 0;
nomem:
	if (new_rrl && rrl != r->rrl)
		dns_rrl_free(rrl);
	if (new_lrl && lookup_rl != r->lookup_rl)
		dns_rrl_free(lookup_rl);
	return SW_ENOMEM;
}

void resolver_set_query_log(resolver_t *r, resolver_qlog_cb cb, void *ctx)
{
	r->qlog = cb;
	r->qlog_ctx = ctx;
}

void resolver_set_hooks(resolver_t *r, const resolver_hooks_t *hooks)
{
	if (hooks)
		r->hooks = *hooks;
	else
		memset(&r->hooks, 0, sizeof(r->hooks));
}

/* ---- the cache for the relay interface (docs/api.md "pkarr relay") ---- */

static centry_t *cache_of_key(const resolver_t *r, const uint8_t pk[32], char label[], uint64_t *h)
{
	sw_z32_encode_key(pk, label);
	*h = sw_hash(label, SW_Z32_KEY_LEN, r->seed);
	return cache_find(r, (const uint8_t *)label, *h);
}

const zone_t *resolver_cache_zone(const resolver_t *r, const uint8_t pk[32], uint32_t *fresh_s)
{
	char label[SW_Z32_KEY_LEN + 1];
	uint64_t h;
	const centry_t *e = cache_of_key(r, pk, label, &h);
	if (e == NULL || e->zone == NULL)
		return NULL;
	uint64_t now = now_ms(r);
	*fresh_s = e->expires_ms > now ? (uint32_t)((e->expires_ms - now + 999) / 1000) : 0;
	/* The zone as it was signed: rebinding protection's copy no longer matches the sig. */
	return e->full ? e->full : e->zone;
}

/* resolver_cache_offer() and resolver_cache_learn(): converged, a converged lookup stands
 * behind the item (from nodes nodes). */
static int cache_take(resolver_t *r, const uint8_t pk[32], const item_t *it, bool converged,
		      uint32_t nodes)
{
	char label[SW_Z32_KEY_LEN + 1];
	uint64_t h;
	centry_t *e = cache_of_key(r, pk, label, &h);
	/* docs/design.md §3 step 2: never below the cached seq. */
	if (e && e->zone && (uint64_t)it->seq < zone_seq(e->zone))
		return SW_EOLDSEQ;
	if (e && e->zone && (uint64_t)it->seq == zone_seq(e->zone)) {
		uint64_t exp = now_ms(r) + lifetime_ms(r, e->zone, converged);
		if (converged && exp > e->expires_ms) {
			e->converged = true;
			e->expires_ms = exp;
			e->nodes = nodes;
		}
		return 0;
	}
	zone_t *z = NULL, *served = NULL;
	/* The item verifies under its own k: it must be pk's. */
	int ret = memcmp(it->k, pk, 32) != 0 ? SW_EBADSIG : item_verify(it);
	if (ret || (ret = zone_build(pk, it, &r->opts.zone, &z)))
		return ret;
	if (r->opts.rebind_protection && rebind_filter(r, pk, it, &served) != 0) {
		zone_free(z);
		return SW_ENOMEM;
	}
	if (e == NULL && (e = cache_add(r, (const uint8_t *)label, h)) == NULL) {
		zone_free(z);
		zone_free(served);
		return SW_ENOMEM;
	}
	/* A running lookup's candidate at or below this seq would roll it back when promoted. */
	if (e->cand && zone_seq(e->cand) <= (uint64_t)it->seq) {
		zone_free(e->cand);
		zone_free(e->cand_full);
		e->cand = e->cand_full = NULL;
	}
	zone_free(e->zone);
	zone_free(e->full);
	e->zone = served ? served : z;
	e->full = served ? z : NULL;
	/* One client's word, not a converged lookup: fresh for the short unconverged TTL. */
	e->converged = converged;
	e->nodes = nodes;
	e->last_used = now_ms(r);
	e->expires_ms = e->last_used + lifetime_ms(r, e->zone, converged);
	return 0;
}

int resolver_cache_offer(resolver_t *r, const uint8_t pk[32], const item_t *it)
{
	int ret = cache_take(r, pk, it, false, 0);
	if (ret == 0 && r->hooks.cache_offered)
		r->hooks.cache_offered(r->hooks.ctx, pk, it);
	return ret;
}

int resolver_cache_learn(resolver_t *r, const uint8_t pk[32], const item_t *it, bool converged,
			 uint32_t nodes)
{
	return cache_take(r, pk, it, converged, nodes);
}
