#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/err.h"
#include "crypto/crypto.h"
#include "dht/bencode.h"
#include "dht/bep42.h"
#include "dht/seqmem.h"
#include "dht/storage.h"

#define DEFAULT_MAX_ITEMS 4096
#define DEFAULT_MAX_BYTES (4u << 20)
#define DEFAULT_MAX_TORRENTS 256
#define DEFAULT_NET_SHARE 10 /* percent */
#define SEQ_MEMORY_PER_ITEM 4
#define PEERS_PER_HASH 32
/* A network's key: IPv4 /24 (3 bytes), IPv6 /64 (8), an exempt address with its port (6 or
 * 18), or nothing (0) for items with no known putter. */
#define NET_KEY_MAX 18

struct net;

/* An entry is in two age lists, by last put: the whole store's and its network's. */
enum { L_ALL, L_NET };

typedef struct entry entry_t;

typedef struct {
	entry_t *older, *newer;
} link_t;

typedef struct {
	entry_t *oldest, *newest;
} list_t;

struct entry {
	entry_t *hnext; /* hash chain */
	link_t link[2];
	struct net *net; /* charged to */
	uint64_t stored_ms;
	item_t item;
};

typedef struct net {
	struct net *hnext;		 /* hash chain */
	struct net *prev_all, *next_all; /* every network holding items */
	uint8_t key[NET_KEY_MAX];
	uint8_t key_len;
	size_t count, bytes;
	list_t items;
} net_t;

typedef struct {
	dht_addr_t addr;
	uint64_t seen;
} peer_t;

typedef struct {
	uint8_t info_hash[DHT_ID_LEN];
	uint64_t last;
	size_t n;
	peer_t peers[PEERS_PER_HASH];
} torrent_t;

struct dht_storage {
	dht_storage_opts_t opts;
	dht_storage_hooks_t hooks;
	uint64_t seed;
	entry_t **tab;
	size_t tabmask;
	list_t all;
	size_t count, bytes;
	uint64_t evicted_items, evicted_bytes; /* made room for others under each limit */
	/* networks */
	net_t **ntab; /* as many buckets as tab */
	net_t *nets;  /* list of all */
	size_t nnets;
	size_t share_items, share_bytes;
	uint64_t evicted_share;
	dht_seqmem_t *seqmem;
	uint64_t seq_refused;
	uint8_t secret[DHT_TOKEN_LEN];
	uint8_t prev_secret[DHT_TOKEN_LEN];
	bool has_prev;
	torrent_t *torrents; /* allocated at the first announce */
	size_t ntorrents;
};

/* ---- items ---- */

int dht_item_verify(const item_t *item)
{
	dht_bencode_node_t nodes[ITEM_V_MAX / 2 + 1];
	dht_bencode_doc_t doc;
	/* The cheap checks before the signature: sizes, then v as one bencode value. */
	int ret = item_check_sizes(item);
	if (ret)
		return ret;
	if (dht_bencode_parse(&doc, item->v, item->v_len, nodes, sizeof(nodes) / sizeof(*nodes)))
		return SW_EMALF;
	return item_verify(item);
}

/* ---- the store ---- */

static size_t size_min(size_t a, size_t b)
{
	return a < b ? a : b;
}

static size_t size_max(size_t a, size_t b)
{
	return a > b ? a : b;
}

int dht_storage_new(const dht_storage_opts_t *opts, const dht_storage_hooks_t *hooks,
		    uint64_t hash_seed, const uint8_t secret[DHT_TOKEN_LEN], dht_storage_t **out)
{
	dht_storage_t *st = calloc(1, sizeof(*st));
	if (!st)
		goto fail;
	if (opts)
		st->opts = *opts;
	if (!st->opts.max_items)
		st->opts.max_items = DEFAULT_MAX_ITEMS;
	if (!st->opts.max_bytes)
		st->opts.max_bytes = DEFAULT_MAX_BYTES;
	if (!st->opts.max_torrents)
		st->opts.max_torrents = DEFAULT_MAX_TORRENTS;
	if (!st->opts.net_share || st->opts.net_share > 100)
		st->opts.net_share = DEFAULT_NET_SHARE;
	if (!st->opts.seq_memory)
		st->opts.seq_memory = st->opts.max_items * SEQ_MEMORY_PER_ITEM;
	/* The share, never below DHT_NET_SHARE_MIN_ITEMS maximal items, never above the store. */
	st->share_items = size_min(st->opts.max_items,
				   size_max(st->opts.max_items / 100 * st->opts.net_share +
						st->opts.max_items % 100 * st->opts.net_share / 100,
					    DHT_NET_SHARE_MIN_ITEMS));
	st->share_bytes = size_min(
	    st->opts.max_bytes, size_max(st->opts.max_bytes / 100 * st->opts.net_share +
					     st->opts.max_bytes % 100 * st->opts.net_share / 100,
					 DHT_NET_SHARE_MIN_ITEMS * (ITEM_V_MAX + ITEM_SALT_MAX)));
	if (hooks)
		st->hooks = *hooks;
	st->seed = hash_seed;
	/* A second key for the seq memory, derived from the secret seed. */
	if (dht_seqmem_new(st->opts.seq_memory,
			   sw_hash(&hash_seed, sizeof(hash_seed), hash_seed ^ 0x5eedfeedULL),
			   &st->seqmem))
		goto fail;
	size_t n = 16;
	while (n < st->opts.max_items && n < (1u << 20))
		n <<= 1;
	st->tab = calloc(n, sizeof(*st->tab));
	st->ntab = calloc(n, sizeof(*st->ntab));
	if (!st->tab || !st->ntab)
		goto fail;
	st->tabmask = n - 1;
	memcpy(st->secret, secret, DHT_TOKEN_LEN);
	*out = st;
	return 0;
fail:
	dht_storage_free(st);
	return SW_ENOMEM;
}

void dht_storage_free(dht_storage_t *st)
{
	if (!st)
		return;
	entry_t *e = st->all.oldest;
	while (e) {
		entry_t *next = e->link[L_ALL].newer;
		free(e);
		e = next;
	}
	net_t *n = st->nets;
	while (n) {
		net_t *next = n->next_all;
		free(n);
		n = next;
	}
	free(st->tab);
	free(st->ntab);
	dht_seqmem_free(st->seqmem);
	free(st->torrents);
	sw_memzero(st->secret, sizeof(st->secret));
	sw_memzero(st->prev_secret, sizeof(st->prev_secret));
	free(st);
}

static size_t slot_of(const dht_storage_t *st, const uint8_t target[DHT_ID_LEN])
{
	return (size_t)sw_hash(target, DHT_ID_LEN, st->seed) & st->tabmask;
}

static entry_t *entry_find(const dht_storage_t *st, const uint8_t target[DHT_ID_LEN])
{
	for (entry_t *e = st->tab[slot_of(st, target)]; e; e = e->hnext) {
		if (memcmp(e->item.target, target, DHT_ID_LEN) == 0)
			return e;
	}
	return NULL;
}

static size_t entry_bytes(const entry_t *e)
{
	return (size_t)e->item.v_len + e->item.salt_len;
}

static void list_unlink(list_t *l, entry_t *e, int w)
{
	link_t *k = &e->link[w];
	if (k->older)
		k->older->link[w].newer = k->newer;
	else
		l->oldest = k->newer;
	if (k->newer)
		k->newer->link[w].older = k->older;
	else
		l->newest = k->older;
	k->older = k->newer = NULL;
}

static void list_append(list_t *l, entry_t *e, int w)
{
	e->link[w].older = l->newest;
	e->link[w].newer = NULL;
	if (l->newest)
		l->newest->link[w].newer = e;
	else
		l->oldest = e;
	l->newest = e;
}

/* Inserts e (not in the list) after the newest entry stored no later than it. */
static void list_insert_sorted(list_t *l, entry_t *e, int w)
{
	entry_t *pos = l->newest;
	while (pos && pos->stored_ms > e->stored_ms)
		pos = pos->link[w].older;
	e->link[w].older = pos;
	e->link[w].newer = pos ? pos->link[w].newer : l->oldest;
	if (e->link[w].newer)
		e->link[w].newer->link[w].older = e;
	else
		l->newest = e;
	if (pos)
		pos->link[w].newer = e;
	else
		l->oldest = e;
}

/* ---- networks (docs/design.md §4 "a share of the store per /24") ---- */

typedef struct {
	uint8_t b[NET_KEY_MAX];
	uint8_t len;
} net_key_t;

/* The network a putter belongs to: its /24 or /64; a BEP 42 exempt address (loopback,
 * private, link-local) with its port, so that a testnet or a mesh on one LAN is not one
 * network; nothing for an unknown putter. */
static void net_key(const dht_addr_t *from, net_key_t *k)
{
	memset(k, 0, sizeof(*k));
	if (!from || (from->len != 4 && from->len != 16))
		return;
	if (dht_bep42_ip_exempt(from->ip, from->len)) {
		k->len = (uint8_t)dht_addr_compact_write(from, k->b, sizeof(k->b));
		return;
	}
	k->len = from->len == 4 ? 3 : 8;
	memcpy(k->b, from->ip, k->len);
}

static size_t net_slot(const dht_storage_t *st, const net_key_t *k)
{
	return (size_t)sw_hash(k->b, k->len, st->seed ^ k->len) & st->tabmask;
}

static net_t *net_find(const dht_storage_t *st, const net_key_t *k)
{
	for (net_t *n = st->ntab[net_slot(st, k)]; n; n = n->hnext) {
		if (n->key_len == k->len && memcmp(n->key, k->b, k->len) == 0)
			return n;
	}
	return NULL;
}

static net_t *net_get(dht_storage_t *st, const net_key_t *k)
{
	net_t *n = net_find(st, k);
	if (n)
		return n;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	memcpy(n->key, k->b, k->len);
	n->key_len = k->len;
	size_t s = net_slot(st, k);
	n->hnext = st->ntab[s];
	st->ntab[s] = n;
	n->next_all = st->nets;
	if (st->nets)
		st->nets->prev_all = n;
	st->nets = n;
	st->nnets++;
	return n;
}

/* A network holds items as long as it exists. */
static void net_release(dht_storage_t *st, net_t *n)
{
	if (n->count)
		return;
	net_key_t k = {.len = n->key_len};
	memcpy(k.b, n->key, n->key_len);
	net_t **pp = &st->ntab[net_slot(st, &k)];
	while (*pp && *pp != n)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = n->hnext;
	if (n->prev_all)
		n->prev_all->next_all = n->next_all;
	else
		st->nets = n->next_all;
	if (n->next_all)
		n->next_all->prev_all = n->prev_all;
	st->nnets--;
	free(n);
}

/* The network holding the most items (by_items) or bytes; a tie goes to the one whose oldest
 * item is older. */
static net_t *net_largest(const dht_storage_t *st, bool by_items)
{
	net_t *best = NULL;
	for (net_t *n = st->nets; n; n = n->next_all) {
		if (!n->count)
			continue;
		size_t a = by_items ? n->count : n->bytes;
		size_t b = best ? (by_items ? best->count : best->bytes) : 0;
		if (!best || a > b ||
		    (a == b && n->items.oldest->stored_ms < best->items.oldest->stored_ms))
			best = n;
	}
	return best;
}

/* ---- entries ---- */

enum { RM_REPLACED, RM_EVICTED, RM_EXPIRED };

static void entry_remove(dht_storage_t *st, entry_t *e, int why)
{
	entry_t **pp = &st->tab[slot_of(st, e->item.target)];
	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	list_unlink(&st->all, e, L_ALL);
	list_unlink(&e->net->items, e, L_NET);
	st->count--;
	st->bytes -= entry_bytes(e);
	e->net->count--;
	e->net->bytes -= entry_bytes(e);
	net_release(st, e->net);
	if (why != RM_REPLACED) {
		/* docs/design.md §4: "eviction never opens a rollback". */
		if (e->item.is_mutable)
			dht_seqmem_remember(st->seqmem, &e->item);
		if (st->hooks.item_removed)
			st->hooks.item_removed(st->hooks.ctx, &e->item);
	}
	free(e);
}

/* Makes room for one more item of `bytes` bytes from network k (docs/design.md §4). First the
 * share: a network at its share evicts its own oldest, never another network's. Then the
 * store bounds: the network holding the most gives up its oldest. Items loaded from disk
 * (share false) only meet the store bounds. */
static void make_room(dht_storage_t *st, const net_key_t *k, size_t bytes, bool share)
{
	net_t *n;
	while (share && (n = net_find(st, k)) != NULL &&
	       (n->count + 1 > st->share_items || n->bytes + bytes > st->share_bytes)) {
		st->evicted_share++;
		entry_remove(st, n->items.oldest, RM_EVICTED);
	}
	while (st->count &&
	       (st->count + 1 > st->opts.max_items || st->bytes + bytes > st->opts.max_bytes)) {
		bool by_items = st->count + 1 > st->opts.max_items;
		if (by_items)
			st->evicted_items++;
		else
			st->evicted_bytes++;
		entry_remove(st, net_largest(st, by_items)->items.oldest, RM_EVICTED);
	}
}

static int entry_insert(dht_storage_t *st, const item_t *item, uint64_t stored_ms,
			const net_key_t *k, bool share, entry_t **out)
{
	size_t bytes = (size_t)item->v_len + item->salt_len;
	if (bytes > st->opts.max_bytes || st->opts.max_items == 0)
		return SW_ELIMIT;
	make_room(st, k, bytes, share);
	entry_t *e = malloc(sizeof(*e));
	net_t *n = net_get(st, k);
	if (!e || !n) {
		free(e);
		if (n)
			net_release(st, n);
		return SW_ENOMEM;
	}
	e->item = *item;
	e->stored_ms = stored_ms;
	e->net = n;
	size_t s = slot_of(st, item->target);
	e->hnext = st->tab[s];
	st->tab[s] = e;
	list_append(&st->all, e, L_ALL);
	list_append(&n->items, e, L_NET);
	st->count++;
	st->bytes += bytes;
	n->count++;
	n->bytes += bytes;
	*out = e;
	return 0;
}

/* An item put again: its time starts over and it becomes the newest. */
static void entry_refresh(dht_storage_t *st, entry_t *e, uint64_t now)
{
	e->stored_ms = now;
	list_unlink(&st->all, e, L_ALL);
	list_append(&st->all, e, L_ALL);
	list_unlink(&e->net->items, e, L_NET);
	list_append(&e->net->items, e, L_NET);
}

static void notify_stored(dht_storage_t *st, const entry_t *e)
{
	if (st->hooks.item_stored)
		st->hooks.item_stored(st->hooks.ctx, &e->item);
}

int dht_storage_put(dht_storage_t *st, const dht_put_args_t *a, uint64_t now, int *ecode)
{
	item_t item;
	entry_t *e;
	net_key_t k;
	int ret;

	*ecode = 0;
	/* BEP 44 "Errors": the limits are checked before any crypto (docs/design.md §4). */
	if (a->v_len > ITEM_V_MAX) {
		*ecode = DHT_KRPC_E_TOOBIG;
		return SW_ETOOBIG;
	}
	if (a->salt_len > ITEM_SALT_MAX) {
		*ecode = DHT_KRPC_E_SALT;
		return SW_EINVAL;
	}
	if (!a->v || a->v_len == 0 || (a->k && (!a->sig || a->seq < 0)) || (!a->k && a->salt_len)) {
		*ecode = DHT_KRPC_E_PROTOCOL;
		return SW_EINVAL;
	}
	memset(&item, 0, offsetof(item_t, v));
	item.is_mutable = a->k != NULL;
	item.v_len = (uint16_t)a->v_len;
	memcpy(item.v, a->v, a->v_len);
	if (item.is_mutable) {
		memcpy(item.k, a->k, 32);
		memcpy(item.sig, a->sig, 64);
		item.seq = a->seq;
		item.salt_len = (uint8_t)a->salt_len;
		if (a->salt_len)
			memcpy(item.salt, a->salt, a->salt_len);
	}
	item_target(&item, item.target);
	net_key(a->from, &k);
	e = entry_find(st, item.target);
	if (e && e->item.is_mutable != item.is_mutable)
		e = NULL; /* a hash collision between the two kinds; cannot happen honestly */

	if (!item.is_mutable) {
		/* BEP 44 "Immutable items": the key is the hash of v, nothing else to check. */
		if (e) {
			entry_refresh(st, e, now);
			notify_stored(st, e);
			return 0;
		}
		goto insert;
	}

	/* The same bytes as the item already stored were verified then; only the time moves.
	 * Not with a cas other than the stored seq: that put fails with 301 below, as BEP 44
	 * "Mutable items" says, whatever its value. */
	if (e && e->item.seq == item.seq && e->item.v_len == item.v_len &&
	    memcmp(e->item.sig, item.sig, 64) == 0 && memcmp(e->item.v, item.v, item.v_len) == 0 &&
	    !(a->has_cas && a->cas != e->item.seq)) {
		entry_refresh(st, e, now);
		notify_stored(st, e);
		return 0;
	}
	/* BEP 44 "Signature Verification". */
	ret = item_sig_verify(&item);
	if (ret) {
		*ecode = DHT_KRPC_E_SIG;
		return SW_EBADSIG;
	}
	if (e) {
		/* BEP 44 "Mutable items": cas must match the stored seq. */
		if (a->has_cas && a->cas != e->item.seq) {
			*ecode = DHT_KRPC_E_CAS;
			return SW_EEXIST;
		}
		if (item.seq < e->item.seq) {
			*ecode = DHT_KRPC_E_SEQ;
			return SW_EOLDSEQ;
		}
		if (item.seq == e->item.seq) {
			int c = item_cmp(&item, &e->item); /* the seqs are equal: v decides */
			/* BEP 44: the same value again resets its timeout. */
			if (c == 0) {
				entry_refresh(st, e, now);
				notify_stored(st, e);
				return 0;
			}
			/* docs/design.md §4: equal seq, different value: the larger value stays. */
			if (c < 0) {
				*ecode = DHT_KRPC_E_SEQ;
				return SW_EOLDSEQ;
			}
		}
		/* The new value may be larger: it goes in as a new entry, so that the byte limit
		 * evicts others as for any insert (docs/design.md §4 "Bound the store"). A value
		 * larger than the whole store (dht-max-bytes may be as low as 1024, under the
		 * 1064 bytes of v and salt BEP 44 allows) is refused first: entry_insert() would
		 * refuse it after the stored value had been removed without item_removed. */
		if ((size_t)item.v_len + item.salt_len > st->opts.max_bytes) {
			*ecode = DHT_KRPC_E_SERVER;
			return SW_ELIMIT;
		}
		entry_remove(st, e, RM_REPLACED);
	} else if (dht_seqmem_cmp(st->seqmem, &item) > 0) {
		/* The item was evicted or expired: what it was still stands (docs/design.md §4
		 * "eviction never opens a rollback"). */
		st->seq_refused++;
		*ecode = DHT_KRPC_E_SEQ;
		return SW_EOLDSEQ;
	}
insert:
	ret = entry_insert(st, &item, now, &k, true, &e);
	if (ret) {
		*ecode = DHT_KRPC_E_SERVER;
		return ret;
	}
	/* The store holds the target again; its memory is made anew when it leaves. */
	if (item.is_mutable)
		dht_seqmem_forget(st->seqmem, item.target);
	notify_stored(st, e);
	return 0;
}

const item_t *dht_storage_find(const dht_storage_t *st, const uint8_t target[DHT_ID_LEN])
{
	const entry_t *e = entry_find(st, target);
	return e ? &e->item : NULL;
}

int dht_storage_load(dht_storage_t *st, const item_t *item, uint64_t stored_ms, uint64_t now)
{
	entry_t *e;
	int ret = dht_item_verify(item);
	if (ret)
		return ret;
	if (stored_ms > now)
		stored_ms = now;
	if (now - stored_ms >= DHT_ITEM_EXPIRE_MS)
		return SW_ELIMIT;
	e = entry_find(st, item->target);
	if (e) {
		if (e->item.is_mutable && item_cmp(item, &e->item) <= 0)
			return 0;
		entry_remove(st, e, RM_REPLACED);
	}
	if (item->is_mutable && dht_seqmem_cmp(st->seqmem, item) > 0)
		return 0;
	/* Nobody known put it: charged to the "unknown" network, which never puts, so the share
	 * rule cannot act on it; only the store bounds (and later puts' evictions) do. */
	net_key_t k = {.len = 0};
	ret = entry_insert(st, item, stored_ms, &k, false, &e);
	if (ret)
		return ret;
	if (item->is_mutable)
		dht_seqmem_forget(st->seqmem, item->target);
	/* Loaded items may come in any order; keep the age lists ordered by stored time. */
	list_unlink(&st->all, e, L_ALL);
	list_insert_sorted(&st->all, e, L_ALL);
	list_unlink(&e->net->items, e, L_NET);
	list_insert_sorted(&e->net->items, e, L_NET);
	return 0;
}

void dht_storage_expire(dht_storage_t *st, uint64_t now)
{
	while (st->all.oldest && now - st->all.oldest->stored_ms >= DHT_ITEM_EXPIRE_MS)
		entry_remove(st, st->all.oldest, RM_EXPIRED);
	for (size_t i = 0; i < st->ntorrents;) {
		torrent_t *t = &st->torrents[i];
		for (size_t k = 0; k < t->n;) {
			if (now - t->peers[k].seen >= DHT_PEER_EXPIRE_MS)
				t->peers[k] = t->peers[--t->n];
			else
				k++;
		}
		if (t->n == 0)
			*t = st->torrents[--st->ntorrents];
		else
			i++;
	}
}

size_t dht_storage_count(const dht_storage_t *st, size_t *bytes)
{
	if (bytes)
		*bytes = st->bytes;
	return st->count;
}

void dht_storage_evicted(const dht_storage_t *st, uint64_t *by_items, uint64_t *by_bytes)
{
	*by_items = st->evicted_items;
	*by_bytes = st->evicted_bytes;
}

void dht_storage_stats(const dht_storage_t *st, dht_storage_stats_t *out)
{
	out->evicted_share = st->evicted_share;
	out->seq_refused = st->seq_refused;
	out->seq_remembered = dht_seqmem_count(st->seqmem, &out->seq_dropped);
	out->nets = st->nnets;
}

bool dht_storage_seq_remembered(const dht_storage_t *st, const uint8_t target[DHT_ID_LEN],
				int64_t *seq)
{
	return dht_seqmem_seq(st->seqmem, target, seq);
}

/* ---- tokens ---- */

static void token_make(const uint8_t secret[DHT_TOKEN_LEN], const dht_addr_t *ip,
		       uint8_t out[DHT_TOKEN_LEN])
{
	sw_sha1(secret, DHT_TOKEN_LEN, ip->ip, ip->len, out);
}

void dht_storage_token(const dht_storage_t *st, const dht_addr_t *ip, uint8_t out[DHT_TOKEN_LEN])
{
	token_make(st->secret, ip, out);
}

bool dht_storage_token_check(const dht_storage_t *st, const dht_addr_t *ip, const uint8_t *token,
			     size_t len)
{
	uint8_t t[DHT_TOKEN_LEN];
	if (!token || len != DHT_TOKEN_LEN)
		return false;
	token_make(st->secret, ip, t);
	if (memcmp(t, token, DHT_TOKEN_LEN) == 0)
		return true;
	if (!st->has_prev)
		return false;
	token_make(st->prev_secret, ip, t);
	return memcmp(t, token, DHT_TOKEN_LEN) == 0;
}

void dht_storage_rotate(dht_storage_t *st, const uint8_t secret[DHT_TOKEN_LEN])
{
	memcpy(st->prev_secret, st->secret, DHT_TOKEN_LEN);
	memcpy(st->secret, secret, DHT_TOKEN_LEN);
	st->has_prev = true;
}

/* ---- peers ---- */

static torrent_t *torrent_find(const dht_storage_t *st, const uint8_t info_hash[DHT_ID_LEN])
{
	for (size_t i = 0; i < st->ntorrents; i++) {
		if (memcmp(st->torrents[i].info_hash, info_hash, DHT_ID_LEN) == 0)
			return &st->torrents[i];
	}
	return NULL;
}

int dht_storage_peer_add(dht_storage_t *st, const uint8_t info_hash[DHT_ID_LEN],
			 const dht_addr_t *peer, uint64_t now)
{
	torrent_t *t = torrent_find(st, info_hash);
	if (!t) {
		if (!st->torrents) {
			st->torrents = calloc(st->opts.max_torrents, sizeof(*st->torrents));
			if (!st->torrents)
				return SW_ENOMEM;
		}
		if (st->ntorrents == st->opts.max_torrents) {
			/* Full: the torrent announced least recently makes room. */
			size_t old = 0;
			for (size_t i = 1; i < st->ntorrents; i++) {
				if (st->torrents[i].last < st->torrents[old].last)
					old = i;
			}
			t = &st->torrents[old];
		} else {
			t = &st->torrents[st->ntorrents++];
		}
		memset(t, 0, sizeof(*t));
		memcpy(t->info_hash, info_hash, DHT_ID_LEN);
	}
	t->last = now;
	size_t slot = t->n;
	for (size_t i = 0; i < t->n; i++) {
		if (dht_addr_equal(&t->peers[i].addr, peer)) {
			slot = i;
			break;
		}
	}
	if (slot == PEERS_PER_HASH) {
		slot = 0;
		for (size_t i = 1; i < t->n; i++) {
			if (t->peers[i].seen < t->peers[slot].seen)
				slot = i;
		}
	} else if (slot == t->n) {
		t->n++;
	}
	t->peers[slot].addr = *peer;
	t->peers[slot].seen = now;
	return 0;
}

size_t dht_storage_peers(const dht_storage_t *st, const uint8_t info_hash[DHT_ID_LEN], uint64_t now,
			 dht_addr_t *out, size_t max)
{
	const torrent_t *t = torrent_find(st, info_hash);
	size_t n = 0;
	if (!t)
		return 0;
	for (size_t i = 0; i < t->n && n < max; i++) {
		if (now - t->peers[i].seen < DHT_PEER_EXPIRE_MS)
			out[n++] = t->peers[i].addr;
	}
	return n;
}
