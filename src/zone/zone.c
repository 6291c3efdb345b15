#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/codec.h"
#include "common/err.h"
#include "zone/packet.h"
#include "zone/zone.h"

#define CNAME_DEPTH_MAX 8 /* docs/design.md §1: chains stop at depth 8 */
#define PRE_BUF_MAX 65535

typedef struct {
	const uint8_t *data;
	uint16_t len;
} rdata_t;

typedef struct {
	uint16_t type;
	uint16_t count, cap;
	uint32_t ttl;
	rdata_t *rd;
} rrset_t;

/* A pre-rendered answer: the sections that follow the question, for a query whose name is
 * this node's owner (so compression pointers into the question at offset 12 stay valid). */
typedef struct {
	uint16_t qtype; /* 0: any type without its own entry */
	uint8_t rcode;
	uint16_t an, ns;
	uint16_t len;
	bool too_deep;
	const uint8_t *next; /* a CNAME target in another key's zone, or NULL */
	const uint8_t *body;
} pre_t;

typedef struct {
	const uint8_t *owner; /* lower case */
	uint16_t owner_len;
	uint16_t nsets, capsets;
	uint64_t hash;
	rrset_t *sets;
	pre_t *pre;
	uint16_t npre;
} node_t;

struct zone {
	uint8_t key[32];
	uint64_t seq;
	uint8_t apex[2 + SW_Z32_KEY_LEN];
	uint64_t seed;
	node_t *nodes;
	size_t nnodes, capnodes;
	node_t **table;
	size_t mask;
	size_t nrr;
	uint32_t min_ttl;
	rrset_t soa;
	rdata_t soa_rd;
	uint16_t types[64];
	size_t ntypes;
	bool cuts; /* an NS record below the apex: zone_delegation() has something to look at */
	uint8_t *relay;
	size_t relay_len;
	sw_arena_t arena;
};

static node_t *node_find(const zone_t *z, const uint8_t *name, size_t len)
{
	uint64_t h = sw_hash(name, len, z->seed);
	for (size_t i = h & z->mask;; i = (i + 1) & z->mask) {
		node_t *n = z->table[i];
		if (n == NULL)
			return NULL;
		if (n->hash == h && n->owner_len == len && memcmp(n->owner, name, len) == 0)
			return n;
	}
}

/* Linear search, only while building; the table is made afterwards. */
static node_t *node_find_build(zone_t *z, const uint8_t *name, size_t len)
{
	for (size_t i = 0; i < z->nnodes; i++)
		if (z->nodes[i].owner_len == len && memcmp(z->nodes[i].owner, name, len) == 0)
			return &z->nodes[i];
	return NULL;
}

static node_t *node_add(zone_t *z, const uint8_t *name, size_t len)
{
	node_t *n = node_find_build(z, name, len);
	if (n)
		return n;
	if (z->nnodes == z->capnodes) {
		size_t cap = z->capnodes ? 2 * z->capnodes : 16;
		node_t *nn = realloc(z->nodes, cap * sizeof(*nn));
		if (nn == NULL)
			return NULL;
		z->nodes = nn;
		z->capnodes = cap;
	}
	n = &z->nodes[z->nnodes];
	memset(n, 0, sizeof(*n));
	n->owner = sw_arena_dup(&z->arena, name, len);
	if (n->owner == NULL)
		return NULL;
	n->owner_len = (uint16_t)len;
	z->nnodes++;
	return n;
}

static const rrset_t *node_rrset(const node_t *n, uint16_t type)
{
	for (uint16_t i = 0; i < n->nsets; i++)
		if (n->sets[i].type == type)
			return &n->sets[i];
	return NULL;
}

static uint32_t clamp_ttl(uint32_t ttl, const zone_opts_t *o)
{
	if (ttl < o->min_ttl)
		return o->min_ttl;
	if (ttl > o->max_ttl)
		return o->max_ttl;
	return ttl;
}

static int node_add_rr(zone_t *z, node_t *n, const zone_rr_t *rr, const zone_opts_t *o)
{
	rrset_t *s = NULL;
	for (uint16_t i = 0; i < n->nsets; i++)
		if (n->sets[i].type == rr->type)
			s = &n->sets[i];
	if (s == NULL) {
		if (n->nsets == n->capsets) {
			uint16_t cap = n->capsets ? (uint16_t)(2 * n->capsets) : 2;
			rrset_t *ns = realloc(n->sets, cap * sizeof(*ns));
			if (ns == NULL)
				return SW_ENOMEM;
			n->sets = ns;
			n->capsets = cap;
		}
		s = &n->sets[n->nsets++];
		memset(s, 0, sizeof(*s));
		s->type = rr->type;
		s->ttl = clamp_ttl(rr->ttl, o);
		bool seen = false;
		for (size_t i = 0; i < z->ntypes; i++)
			seen |= z->types[i] == rr->type;
		if (!seen && z->ntypes < sizeof(z->types) / sizeof(z->types[0]))
			z->types[z->ntypes++] = rr->type;
	}
	/* RFC 2181 §5.2: one TTL per RRset; the lowest one wins. */
	uint32_t ttl = clamp_ttl(rr->ttl, o);
	if (ttl < s->ttl)
		s->ttl = ttl;
	/* RFC 2181 §5: an RRset holds no duplicate records. */
	for (uint16_t i = 0; i < s->count; i++)
		if (s->rd[i].len == rr->rdlen && memcmp(s->rd[i].data, rr->rdata, rr->rdlen) == 0)
			return 0;
	if (s->count == s->cap) {
		uint16_t cap = s->cap ? (uint16_t)(2 * s->cap) : 2;
		rdata_t *nr = realloc(s->rd, cap * sizeof(*nr));
		if (nr == NULL)
			return SW_ENOMEM;
		s->rd = nr;
		s->cap = cap;
	}
	s->rd[s->count].data = sw_arena_dup(&z->arena, rr->rdata, rr->rdlen);
	s->rd[s->count].len = rr->rdlen;
	if (rr->rdlen && s->rd[s->count].data == NULL)
		return SW_ENOMEM;
	s->count++;
	z->nrr++;
	return 0;
}

/* What one rendering writes and how: shared by every step of a CNAME chain. */
typedef struct {
	const zone_t *z;
	dns_wr_t *w;
	zone_result_t *res;
	uint16_t qtype;
	uint32_t ttl;	/* 0: the records' own TTLs; else every TTL (serve-stale, RFC 8767 §4) */
	unsigned flags; /* ZONE_ANY_ONE */
	const node_t *chain[CNAME_DEPTH_MAX];
} render_t;

static void write_rrset(render_t *rc, const uint8_t *owner, const rrset_t *s, uint16_t *count)
{
	uint32_t ttl = rc->ttl ? rc->ttl : s->ttl;
	for (uint16_t i = 0; i < s->count; i++)
		dns_wr_rr(rc->w, owner, s->type, DNS_C_IN, ttl, s->rd[i].data, s->rd[i].len);
	*count = (uint16_t)(*count + s->count);
}

static void write_soa(render_t *rc)
{
	write_rrset(rc, rc->z->apex, &rc->z->soa, &rc->res->ns);
}

/* Finds the node that answers `qname`: the exact node, or the wildcard of the closest
 * encloser (RFC 4592 §3.3.1). NULL means the name does not exist. */
static const node_t *resolve_node(const zone_t *z, const uint8_t *qname)
{
	size_t len = dns_name_len(qname);
	const node_t *n = node_find(z, qname, len);
	if (n)
		return n;
	const uint8_t *ce = qname;
	while (*ce) {
		ce += 1 + (size_t)*ce;
		size_t celen = dns_name_len(ce);
		if (node_find(z, ce, celen) == NULL)
			continue;
		if (celen + 2 > DNS_NAME_MAX)
			return NULL;
		uint8_t wild[DNS_NAME_MAX];
		wild[0] = 1;
		wild[1] = '*';
		memcpy(wild + 2, ce, celen);
		return node_find(z, wild, celen + 2);
	}
	return NULL;
}

/* Is name a key name, `<z32>.`, with a rightmost label that decodes to a key? */
static bool is_key_name(const uint8_t *name)
{
	uint8_t pk[32];
	return name[0] == SW_Z32_KEY_LEN && name[1 + SW_Z32_KEY_LEN] == 0 &&
	       sw_z32_decode_key((const char *)name + 1, SW_Z32_KEY_LEN, pk) == 0;
}

/* Writes the answer for `lookup` (lower case, in this zone) with `owner` as the owner name of
 * the records found there. A CNAME to a name outside this zone ends the rendering with the
 * target in res->next, for the caller to follow (docs/design.md §1). */
static void render(render_t *rc, const uint8_t *lookup, const uint8_t *owner, int depth)
{
	const zone_t *z = rc->z;
	zone_result_t *res = rc->res;
	const node_t *n = resolve_node(z, lookup);
	for (int i = 0; i < depth && n; i++)
		if (rc->chain[i] == n)
			return; /* a loop ends at the first repetition (RFC 1034 §3.6.2) */
	if (n == NULL) {
		res->rcode = DNS_RCODE_NXDOMAIN;
		write_soa(rc);
		return;
	}
	if (rc->qtype == DNS_T_ANY && (rc->flags & ZONE_ANY_ONE) && n->nsets > 0) {
		/* RFC 8482 §4.1: one RRset of those present, here the smallest, so ANY is no
		 * amplifier. */
		const rrset_t *best = NULL;
		size_t best_size = SIZE_MAX;
		for (uint16_t i = 0; i < n->nsets; i++) {
			size_t size = 0;
			for (uint16_t j = 0; j < n->sets[i].count; j++)
				size += n->sets[i].rd[j].len;
			if (n->sets[i].count > 0 && size < best_size)
				best = &n->sets[i], best_size = size;
		}
		if (best)
			write_rrset(rc, owner, best, &res->an);
		else
			write_soa(rc);
		return;
	}
	if (rc->qtype == DNS_T_ANY) {
		for (uint16_t i = 0; i < n->nsets; i++)
			write_rrset(rc, owner, &n->sets[i], &res->an);
		if (n->nsets == 0)
			write_soa(rc);
		return;
	}
	const rrset_t *s = node_rrset(n, rc->qtype);
	if (s) {
		write_rrset(rc, owner, s, &res->an);
		return;
	}
	const rrset_t *cname = node_rrset(n, DNS_T_CNAME);
	if (cname && cname->count > 0) {
		write_rrset(rc, owner, cname, &res->an);
		const uint8_t *target = cname->rd[0].data;
		if (depth + 1 >= CNAME_DEPTH_MAX) {
			res->too_deep = true;
			return;
		}
		uint8_t lower[DNS_NAME_MAX];
		dns_name_lower(lower, target);
		if (dns_name_in(lower, z->apex)) {
			rc->chain[depth] = n;
			render(rc, lower, lower, depth + 1);
		} else if (is_key_name(dns_name_suffix(lower, 1))) {
			/* Another key's zone: the resolver goes on there. Other names are left to
			 * the client's resolver (RFC 1034 §4.3.2). */
			memcpy(res->next, lower, dns_name_len(lower));
			res->has_next = true;
		}
		return;
	}
	write_soa(rc); /* NODATA: RFC 2308 §2.2 */
}

static int prerender_one(zone_t *z, node_t *n, uint16_t qtype, uint8_t *buf)
{
	dns_wr_t w;
	dns_wr_init(&w, buf, PRE_BUF_MAX, DNS_HDR_LEN);
	size_t qpos = w.len;
	dns_wr_bytes(&w, n->owner, n->owner_len);
	dns_wr_u16(&w, qtype);
	dns_wr_u16(&w, DNS_C_IN);
	dns_wr_mark_name(&w, qpos);
	size_t start = w.len;
	zone_result_t res;
	memset(&res, 0, sizeof(res));
	render_t rc = {.z = z, .w = &w, .res = &res, .qtype = qtype};
	render(&rc, n->owner, n->owner, 0);
	if (w.err) /* larger than any DNS message: left to render at query time */
		return 0;
	pre_t *p = &n->pre[n->npre++];
	p->qtype = qtype;
	p->next = res.has_next ? sw_arena_dup(&z->arena, res.next, dns_name_len(res.next)) : NULL;
	p->too_deep = res.too_deep;
	p->rcode = res.rcode;
	p->an = res.an;
	p->ns = res.ns;
	p->len = (uint16_t)(w.len - start);
	p->body = sw_arena_dup(&z->arena, buf + start, p->len);
	return p->body || p->len == 0 ? 0 : SW_ENOMEM;
}

static int prerender(zone_t *z, node_t *n, uint8_t *buf)
{
	const rrset_t *cname = node_rrset(n, DNS_T_CNAME);
	/* A CNAME node answers each type with what its target holds, so it needs an entry for
	 * every type of the zone; any other node answers only its own types with data. */
	size_t max = (cname ? z->ntypes : n->nsets) + 2;
	n->pre = sw_arena_alloc(&z->arena, max * sizeof(pre_t));
	if (n->pre == NULL)
		return SW_ENOMEM;
	int ret = 0;
	if (cname) {
		for (size_t i = 0; i < z->ntypes && !ret; i++)
			ret = prerender_one(z, n, z->types[i], buf);
	} else {
		for (uint16_t i = 0; i < n->nsets && !ret; i++)
			ret = prerender_one(z, n, n->sets[i].type, buf);
	}
	if (!ret)
		ret = prerender_one(z, n, DNS_T_ANY, buf);
	if (!ret)
		ret = prerender_one(z, n, 0, buf);
	return ret;
}

/* The SOA served in negative answers (RFC 2308 §3): the zone's own apex SOA if it has one,
 * else one synthesised from the key. Its TTL is the clamp minimum (docs/design.md §3 step 3). */
static int make_soa(zone_t *z, const zone_opts_t *o)
{
	node_t *apex = node_find_build(z, z->apex, sizeof(z->apex));
	const rrset_t *own = apex ? node_rrset(apex, DNS_T_SOA) : NULL;
	z->soa.type = DNS_T_SOA;
	z->soa.count = 1;
	z->soa.ttl = o->min_ttl;
	z->soa.rd = &z->soa_rd;
	if (own && own->count > 0) {
		z->soa_rd = own->rd[0];
		return 0;
	}
	static const uint8_t rname_label[] = "\x0ahostmaster";
	size_t alen = sizeof(z->apex), len = 0;
	uint8_t *rd = sw_arena_alloc(&z->arena, 2 * alen + 11 + 20);
	if (rd == NULL)
		return SW_ENOMEM;
	memcpy(rd, z->apex, alen);
	len = alen;
	memcpy(rd + len, rname_label, 11);
	memcpy(rd + len + 11, z->apex, alen);
	len += 11 + alen;
	uint32_t serial = (uint32_t)(z->seq / 1000000); /* seq is in microseconds */
	uint32_t vals[5] = {serial, 3600, 600, 86400, o->min_ttl};
	for (int i = 0; i < 5; i++) {
		rd[len++] = (uint8_t)(vals[i] >> 24);
		rd[len++] = (uint8_t)(vals[i] >> 16);
		rd[len++] = (uint8_t)(vals[i] >> 8);
		rd[len++] = (uint8_t)vals[i];
	}
	z->soa_rd.data = rd;
	z->soa_rd.len = (uint16_t)len;
	/* The apex answers SOA queries with it too, as any authoritative server does. */
	zone_rr_t rr = {z->apex, DNS_T_SOA, DNS_C_IN, o->min_ttl, (uint16_t)len, rd};
	int ret = apex ? node_add_rr(z, apex, &rr, o) : SW_ENOMEM;
	if (ret == 0)
		z->nrr--; /* synthesised, not one of the owner's records */
	return ret;
}

int zone_build(const uint8_t pk[32], const item_t *item, const zone_opts_t *opts, zone_t **out)
{
	const uint8_t *packet;
	size_t packet_len;
	/* A zone is the item of its key with no salt, v the packet as a bencoded string. */
	if (item->salt_len || item->seq < 0)
		return SW_EINVAL;
	if (item_str(item, &packet, &packet_len))
		return SW_EMALF;
	return zone_build_packet(pk, (uint64_t)item->seq, item->sig, packet, packet_len, opts, out);
}

int zone_build_packet(const uint8_t pk[32], uint64_t seq, const uint8_t sig[64],
		      const uint8_t *packet, size_t packet_len, const zone_opts_t *opts,
		      zone_t **out)
{
	int ret = SW_ENOMEM;
	uint8_t *buf = NULL;
	zone_rrlist_t l;
	zone_rrlist_init(&l);
	zone_t *z = calloc(1, sizeof(*z));
	if (z == NULL)
		goto fail;
	sw_arena_init(&z->arena, 8192);
	memcpy(z->key, pk, 32);
	z->seq = seq;
	z->apex[0] = SW_Z32_KEY_LEN;
	sw_z32_encode_key(pk, (char *)z->apex + 1);
	z->apex[1 + SW_Z32_KEY_LEN] = 0;
	z->seed = seq ^ 0x6a09e667f3bcc908ULL;

	ret = zone_packet_parse(packet, packet_len, &l);
	if (ret)
		goto fail;
	ret = SW_ENOMEM;
	if (node_add(z, z->apex, sizeof(z->apex)) == NULL)
		goto fail;
	for (size_t i = 0; i < l.count; i++) {
		const zone_rr_t *rr = &l.rrs[i];
		if (!dns_name_in(rr->owner, z->apex))
			continue;
		uint8_t owner[DNS_NAME_MAX];
		dns_name_lower(owner, rr->owner);
		/* Every ancestor up to the apex exists, as an empty non-terminal if it holds
		 * nothing (RFC 4592 §2.2.2), so that it answers NODATA rather than NXDOMAIN. */
		for (const uint8_t *p = owner; !dns_name_equal(p, z->apex); p += 1 + *p)
			if (node_add(z, p, dns_name_len(p)) == NULL)
				goto fail;
		node_t *n = node_add(z, owner, dns_name_len(owner));
		if (n == NULL || node_add_rr(z, n, rr, opts))
			goto fail;
	}
	if (make_soa(z, opts))
		goto fail;
	/* How long a cached copy is fresh: the lowest TTL of the zone (docs/design.md §3). */
	z->min_ttl = opts->max_ttl;
	for (size_t i = 0; i < z->nnodes; i++) {
		for (uint16_t j = 0; j < z->nodes[i].nsets; j++)
			if (z->nodes[i].sets[j].ttl < z->min_ttl)
				z->min_ttl = z->nodes[i].sets[j].ttl;
		/* nodes[0] is the apex, whose NS records delegate nothing. */
		z->cuts |= i > 0 && node_rrset(&z->nodes[i], DNS_T_NS) != NULL;
	}

	size_t size = 4;
	while (size < 2 * z->nnodes)
		size *= 2;
	z->table = calloc(size, sizeof(*z->table));
	if (z->table == NULL)
		goto fail;
	z->mask = size - 1;
	for (size_t i = 0; i < z->nnodes; i++) {
		node_t *n = &z->nodes[i];
		n->hash = sw_hash(n->owner, n->owner_len, z->seed);
		size_t j = n->hash & z->mask;
		while (z->table[j])
			j = (j + 1) & z->mask;
		z->table[j] = n;
	}
	buf = malloc(PRE_BUF_MAX);
	if (buf == NULL)
		goto fail;
	for (size_t i = 0; i < z->nnodes; i++)
		if (prerender(z, &z->nodes[i], buf))
			goto fail;

	z->relay_len = ITEM_RELAY_HDR + packet_len;
	z->relay = sw_arena_alloc(&z->arena, z->relay_len);
	if (z->relay == NULL || item_relay_write_str(sig, seq, packet, packet_len, z->relay,
						     z->relay_len, &z->relay_len))
		goto fail;
	free(buf);
	zone_rrlist_deinit(&l);
	*out = z;
	return 0;
fail:
	free(buf);
	zone_rrlist_deinit(&l);
	zone_free(z);
	return ret;
}

void zone_free(zone_t *z)
{
	if (z == NULL)
		return;
	for (size_t i = 0; i < z->nnodes; i++) {
		for (uint16_t j = 0; j < z->nodes[i].nsets; j++)
			free(z->nodes[i].sets[j].rd);
		free(z->nodes[i].sets);
	}
	free(z->nodes);
	free(z->table);
	sw_arena_deinit(&z->arena);
	free(z);
}

const uint8_t *zone_key(const zone_t *z)
{
	return z->key;
}

uint64_t zone_seq(const zone_t *z)
{
	return z->seq;
}

const uint8_t *zone_apex(const zone_t *z)
{
	return z->apex;
}

const uint8_t *zone_relay(const zone_t *z, size_t *len)
{
	*len = z->relay_len;
	return z->relay;
}

void zone_item(const zone_t *z, item_t *out)
{
	item_relay_parse(z->key, z->relay, z->relay_len, out); /* it parsed when z was built */
}

size_t zone_rr_count(const zone_t *z)
{
	return z->nrr;
}

void zone_answer(const zone_t *z, const dns_query_t *q, dns_wr_t *w, zone_result_t *res)
{
	memset(res, 0, sizeof(*res));
	const node_t *n = node_find(z, q->qname_lower, q->qname_len);
	if (n) {
		const pre_t *p = NULL;
		for (uint16_t i = 0; i < n->npre; i++) {
			if (n->pre[i].qtype == q->qtype) {
				p = &n->pre[i];
				break;
			}
			if (n->pre[i].qtype == 0)
				p = &n->pre[i];
		}
		if (p) {
			dns_wr_bytes(w, p->body, p->len);
			res->rcode = p->rcode;
			res->an = p->an;
			res->ns = p->ns;
			res->too_deep = p->too_deep;
			if (p->next) {
				memcpy(res->next, p->next, dns_name_len(p->next));
				res->has_next = true;
			}
			return;
		}
	}
	zone_answer_name(z, q->qname_lower, q->qname_lower, q->qtype, 0, 0, w, res);
}

void zone_answer_name(const zone_t *z, const uint8_t *lookup, const uint8_t *owner, uint16_t qtype,
		      uint32_t ttl, unsigned flags, dns_wr_t *w, zone_result_t *res)
{
	render_t rc = {.z = z, .w = w, .res = res, .qtype = qtype, .ttl = ttl, .flags = flags};
	memset(res, 0, sizeof(*res));
	render(&rc, lookup, owner, 0);
}

bool zone_delegation(const zone_t *z, const uint8_t *name, uint8_t out[DNS_NAME_MAX])
{
	/* The closest ancestor (below the apex) with an NS record whose target is a key name
	 * delegates the rest of the name to that key (docs/design.md §1). Most zones have no NS
	 * record below their apex: nothing to look up on every answer. */
	if (!z->cuts)
		return false;
	int labels = dns_name_labels(name), apex_labels = dns_name_labels(z->apex);
	for (int keep = apex_labels + 1; keep <= labels; keep++) {
		const uint8_t *anc = dns_name_suffix(name, keep);
		const node_t *n = node_find(z, anc, dns_name_len(anc));
		const rrset_t *ns = n ? node_rrset(n, DNS_T_NS) : NULL;
		if (ns == NULL)
			continue;
		for (uint16_t i = 0; i < ns->count; i++) {
			uint8_t target[DNS_NAME_MAX];
			dns_name_lower(target, ns->rd[i].data);
			if (!is_key_name(target))
				continue;
			size_t prefix = (size_t)(anc - name), tlen = dns_name_len(target);
			if (prefix + tlen > DNS_NAME_MAX)
				return false;
			memcpy(out, name, prefix);
			memcpy(out + prefix, target, tlen);
			return true;
		}
	}
	return false;
}

bool zone_holds(const zone_t *z, const uint8_t *name)
{
	int labels = dns_name_labels(name), apex_labels = dns_name_labels(z->apex);
	for (int keep = apex_labels + 1; keep <= labels; keep++) {
		const uint8_t *anc = dns_name_suffix(name, keep);
		if (node_find(z, anc, dns_name_len(anc)))
			return true;
	}
	const node_t *n = resolve_node(z, name);
	return n && dns_name_labels(n->owner) > apex_labels + 1;
}

uint32_t zone_min_ttl(const zone_t *z)
{
	return z->min_ttl;
}
