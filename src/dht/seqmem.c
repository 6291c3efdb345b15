#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/err.h"
#include "dht/seqmem.h"

#define NONE UINT32_MAX
#define FIRST_ALLOC 64

typedef struct {
	uint8_t target[DHT_ID_LEN];
	uint16_t v_len;
	int64_t seq;
	uint64_t vhash;
	uint8_t prefix[DHT_SEQMEM_PREFIX];
	uint32_t hnext, older, newer; /* indices; NONE ends a chain or the age list */
} seen_t;

struct dht_seqmem {
	uint64_t seed;
	size_t cap;  /* bound */
	size_t used; /* entries allocated: e[0..used) */
	size_t n;    /* entries in use */
	seen_t *e;
	uint32_t *tab; /* hash buckets */
	size_t tabmask;
	uint32_t free_list, oldest, newest;
	uint64_t dropped;
};

static size_t size_min(size_t a, size_t b)
{
	return a < b ? a : b;
}

int dht_seqmem_new(size_t cap, uint64_t seed, dht_seqmem_t **out)
{
	dht_seqmem_t *m = calloc(1, sizeof(*m));
	if (!m)
		return SW_ENOMEM;
	m->seed = seed;
	m->cap = cap < 1 ? 1 : cap >= NONE ? NONE - 1 : cap;
	m->free_list = m->oldest = m->newest = NONE;
	*out = m;
	return 0;
}

void dht_seqmem_free(dht_seqmem_t *m)
{
	if (!m)
		return;
	free(m->e);
	free(m->tab);
	free(m);
}

static size_t slot(const dht_seqmem_t *m, const uint8_t target[DHT_ID_LEN])
{
	return (size_t)sw_hash(target, DHT_ID_LEN, m->seed) & m->tabmask;
}

static seen_t *find(const dht_seqmem_t *m, const uint8_t target[DHT_ID_LEN])
{
	if (!m->tab)
		return NULL;
	for (uint32_t i = m->tab[slot(m, target)]; i != NONE; i = m->e[i].hnext) {
		if (memcmp(m->e[i].target, target, DHT_ID_LEN) == 0)
			return &m->e[i];
	}
	return NULL;
}

static void chain_add(dht_seqmem_t *m, uint32_t i)
{
	size_t s = slot(m, m->e[i].target);
	m->e[i].hnext = m->tab[s];
	m->tab[s] = i;
}

/* Takes entry i out of its hash chain and the age list onto the free list. */
static void delete (dht_seqmem_t *m, uint32_t i)
{
	seen_t *x = &m->e[i];
	uint32_t *pp = &m->tab[slot(m, x->target)];
	while (*pp != NONE && *pp != i)
		pp = &m->e[*pp].hnext;
	if (*pp == i)
		*pp = x->hnext;
	if (x->older != NONE)
		m->e[x->older].newer = x->newer;
	else
		m->oldest = x->newer;
	if (x->newer != NONE)
		m->e[x->newer].older = x->older;
	else
		m->newest = x->older;
	x->hnext = m->free_list;
	m->free_list = i;
	m->n--;
}

/* Doubles the entries (and the buckets with them) up to the bound. False at the bound or out
 * of memory. */
static bool grow(dht_seqmem_t *m)
{
	if (m->used >= m->cap)
		return false;
	size_t n = size_min(m->used ? m->used * 2 : FIRST_ALLOC, m->cap);
	size_t nb = 16;
	while (nb < n)
		nb <<= 1;
	seen_t *e = realloc(m->e, n * sizeof(*e));
	if (!e)
		return false;
	m->e = e;
	if (!m->tab || nb - 1 != m->tabmask) {
		uint32_t *t = malloc(nb * sizeof(*t));
		if (!t)
			return false;
		for (size_t i = 0; i < nb; i++)
			t[i] = NONE;
		free(m->tab);
		m->tab = t;
		m->tabmask = nb - 1;
		/* The entries in use are those on the age list. */
		for (uint32_t i = m->oldest; i != NONE; i = m->e[i].newer)
			chain_add(m, i);
	}
	for (size_t i = m->used; i < n; i++) {
		m->e[i].hnext = m->free_list;
		m->free_list = (uint32_t)i;
	}
	m->used = n;
	return true;
}

void dht_seqmem_remember(dht_seqmem_t *m, const item_t *item)
{
	seen_t *x = find(m, item->target);
	if (x) {
		if (x->seq > item->seq)
			return;
		delete (m, (uint32_t)(x - m->e));
	}
	if (m->free_list == NONE && !grow(m)) {
		if (m->oldest == NONE)
			return; /* out of memory with nothing to reuse */
		/* Full: the entry remembered longest ago goes. */
		m->dropped++;
		delete (m, m->oldest);
	}
	uint32_t i = m->free_list;
	x = &m->e[i];
	m->free_list = x->hnext;
	memcpy(x->target, item->target, DHT_ID_LEN);
	x->seq = item->seq;
	x->v_len = item->v_len;
	x->vhash = sw_hash(item->v, item->v_len, m->seed);
	memset(x->prefix, 0, sizeof(x->prefix));
	memcpy(x->prefix, item->v, size_min(item->v_len, DHT_SEQMEM_PREFIX));
	chain_add(m, i);
	x->newer = NONE;
	x->older = m->newest;
	if (m->newest != NONE)
		m->e[m->newest].newer = i;
	else
		m->oldest = i;
	m->newest = i;
	m->n++;
}

/* Refusing a tie that the first bytes cannot order costs the signer's put until its next seq;
 * accepting it could serve the smaller value again (docs/design.md §4 tie rule). */
int dht_seqmem_cmp(const dht_seqmem_t *m, const item_t *item)
{
	const seen_t *x = find(m, item->target);
	if (!x)
		return -1;
	if (x->seq != item->seq)
		return x->seq > item->seq ? 1 : -1;
	if (x->v_len == item->v_len && x->vhash == sw_hash(item->v, item->v_len, m->seed))
		return 0;
	size_t known = size_min(x->v_len, DHT_SEQMEM_PREFIX);
	size_t n = size_min(known, item->v_len);
	int r = n ? memcmp(x->prefix, item->v, n) : 0;
	if (r)
		return r;
	/* Equal as far as both are known: if one value ends there, the shorter is smaller. */
	if (size_min(x->v_len, item->v_len) <= DHT_SEQMEM_PREFIX && x->v_len != item->v_len)
		return x->v_len > item->v_len ? 1 : -1;
	return 1;
}

void dht_seqmem_forget(dht_seqmem_t *m, const uint8_t target[DHT_ID_LEN])
{
	seen_t *x = find(m, target);
	if (x)
		delete (m, (uint32_t)(x - m->e));
}

bool dht_seqmem_seq(const dht_seqmem_t *m, const uint8_t target[DHT_ID_LEN], int64_t *seq)
{
	const seen_t *x = find(m, target);
	if (x)
		*seq = x->seq;
	return x != NULL;
}

size_t dht_seqmem_count(const dht_seqmem_t *m, uint64_t *dropped)
{
	if (dropped)
		*dropped = m->dropped;
	return m->n;
}
