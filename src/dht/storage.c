#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/err.h"
#include "crypto/crypto.h"
#include "dht/bencode.h"
#include "dht/storage.h"
#include "zone/item.h"

#define DEFAULT_MAX_ITEMS 4096
#define DEFAULT_MAX_BYTES (4u << 20)
#define DEFAULT_MAX_TORRENTS 256
#define PEERS_PER_HASH 32

typedef struct entry {
	struct entry *hnext;	     /* hash chain */
	struct entry *older, *newer; /* age list, by last put */
	uint64_t stored_ms;
	dht_item_t item;
} entry_t;

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
	entry_t *oldest, *newest;
	size_t count, bytes;
	uint64_t evicted_items, evicted_bytes; /* made room for others under each limit */
	uint8_t secret[DHT_TOKEN_LEN];
	uint8_t prev_secret[DHT_TOKEN_LEN];
	bool has_prev;
	torrent_t *torrents; /* allocated at the first announce */
	size_t ntorrents;
};

/* ---- items ---- */

void dht_item_target(const dht_item_t *item, uint8_t out[DHT_ID_LEN])
{
	if (item->is_mutable)
		zone_item_target(item->k, item->salt, item->salt_len, out);
	else
		sw_sha1(item->v, item->v_len, NULL, 0, out);
}

/* BEP 44 "Signature Verification": the signature covers [4:salt<n>:<salt>]3:seqi<seq>e1:v<v>
 * with v exactly as bencoded. */
static int item_signed_buf(const uint8_t *salt, size_t salt_len, int64_t seq, const uint8_t *v,
			   size_t v_len, uint8_t *out, size_t cap, size_t *len)
{
	return zone_item_signed_buf((uint64_t)seq, salt, salt_len, v, v_len, out, cap, len);
}

static int item_sig_check(const uint8_t k[32], const uint8_t *salt, size_t salt_len, int64_t seq,
			  const uint8_t *v, size_t v_len, const uint8_t sig[64])
{
	uint8_t buf[ZONE_SIGNED_BUF_MAX];
	size_t len;
	int ret = item_signed_buf(salt, salt_len, seq, v, v_len, buf, sizeof(buf), &len);
	if (ret)
		return ret;
	return sw_ed25519_verify(k, buf, len, sig);
}

int dht_item_verify(const dht_item_t *item)
{
	dht_bencode_node_t nodes[DHT_ITEM_V_MAX / 2 + 1];
	dht_bencode_doc_t doc;
	uint8_t target[DHT_ID_LEN];
	int ret;

	if (item->v_len > DHT_ITEM_V_MAX)
		return SW_ETOOBIG;
	if (item->salt_len > DHT_ITEM_SALT_MAX || item->v_len == 0 ||
	    (!item->is_mutable && item->salt_len))
		return SW_EINVAL;
	ret = dht_bencode_parse(&doc, item->v, item->v_len, nodes, sizeof(nodes) / sizeof(*nodes));
	if (ret)
		return SW_EMALF;
	dht_item_target(item, target);
	if (memcmp(target, item->target, DHT_ID_LEN) != 0)
		return SW_EINVAL;
	if (!item->is_mutable)
		return 0;
	if (item->seq < 0)
		return SW_EINVAL;
	return item_sig_check(item->k, item->salt, item->salt_len, item->seq, item->v, item->v_len,
			      item->sig);
}

int dht_item_sign(dht_item_t *item, const uint8_t sk[64])
{
	uint8_t buf[ZONE_SIGNED_BUF_MAX];
	size_t len;
	int ret;

	if (item->v_len > DHT_ITEM_V_MAX)
		return SW_ETOOBIG;
	if (item->salt_len > DHT_ITEM_SALT_MAX || item->seq < 0)
		return SW_EINVAL;
	item->is_mutable = true;
	ret = item_signed_buf(item->salt, item->salt_len, item->seq, item->v, item->v_len, buf,
			      sizeof(buf), &len);
	if (ret)
		return ret;
	sw_ed25519_sign(sk, buf, len, item->sig);
	dht_item_target(item, item->target);
	return 0;
}

static int bytes_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int r = n ? memcmp(a, b, n) : 0;
	if (r)
		return r;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

int dht_item_cmp(const dht_item_t *a, const dht_item_t *b)
{
	if (a->seq != b->seq)
		return a->seq > b->seq ? 1 : -1;
	return bytes_cmp(a->v, a->v_len, b->v, b->v_len);
}

/* ---- the store ---- */

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
	if (hooks)
		st->hooks = *hooks;
	st->seed = hash_seed;
	size_t n = 16;
	while (n < st->opts.max_items && n < (1u << 20))
		n <<= 1;
	st->tab = calloc(n, sizeof(*st->tab));
	if (!st->tab)
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
	entry_t *e = st->oldest;
	while (e) {
		entry_t *next = e->newer;
		free(e);
		e = next;
	}
	free(st->tab);
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

static void age_unlink(dht_storage_t *st, entry_t *e)
{
	if (e->older)
		e->older->newer = e->newer;
	else
		st->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		st->newest = e->older;
	e->older = e->newer = NULL;
}

static void age_append(dht_storage_t *st, entry_t *e)
{
	e->older = st->newest;
	e->newer = NULL;
	if (st->newest)
		st->newest->newer = e;
	else
		st->oldest = e;
	st->newest = e;
}

static void entry_remove(dht_storage_t *st, entry_t *e, bool notify)
{
	entry_t **pp = &st->tab[slot_of(st, e->item.target)];
	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	age_unlink(st, e);
	st->count--;
	st->bytes -= entry_bytes(e);
	if (notify && st->hooks.item_removed)
		st->hooks.item_removed(st->hooks.ctx, &e->item);
	free(e);
}

/* Makes room for one more item of `bytes` bytes by evicting the oldest (DESIGN.md §4). */
static void make_room(dht_storage_t *st, size_t bytes)
{
	while (st->oldest &&
	       (st->count + 1 > st->opts.max_items || st->bytes + bytes > st->opts.max_bytes)) {
		if (st->count + 1 > st->opts.max_items)
			st->evicted_items++;
		else
			st->evicted_bytes++;
		entry_remove(st, st->oldest, true);
	}
}

static int entry_insert(dht_storage_t *st, const dht_item_t *item, uint64_t stored_ms,
			entry_t **out)
{
	size_t bytes = (size_t)item->v_len + item->salt_len;
	if (bytes > st->opts.max_bytes || st->opts.max_items == 0)
		return SW_ELIMIT;
	make_room(st, bytes);
	entry_t *e = malloc(sizeof(*e));
	if (!e)
		return SW_ENOMEM;
	e->item = *item;
	e->stored_ms = stored_ms;
	size_t s = slot_of(st, item->target);
	e->hnext = st->tab[s];
	st->tab[s] = e;
	age_append(st, e);
	st->count++;
	st->bytes += bytes;
	*out = e;
	return 0;
}

/* An item put again: its time starts over and it becomes the newest. */
static void entry_refresh(dht_storage_t *st, entry_t *e, uint64_t now)
{
	e->stored_ms = now;
	age_unlink(st, e);
	age_append(st, e);
}

static void notify_stored(dht_storage_t *st, const entry_t *e)
{
	if (st->hooks.item_stored)
		st->hooks.item_stored(st->hooks.ctx, &e->item);
}

int dht_storage_put(dht_storage_t *st, const dht_put_args_t *a, uint64_t now, int *ecode)
{
	dht_item_t item;
	entry_t *e;
	int ret;

	*ecode = 0;
	/* BEP 44 "Errors": the limits are checked before any crypto (DESIGN.md §4). */
	if (a->v_len > DHT_ITEM_V_MAX) {
		*ecode = DHT_KRPC_E_TOOBIG;
		return SW_ETOOBIG;
	}
	if (a->salt_len > DHT_ITEM_SALT_MAX) {
		*ecode = DHT_KRPC_E_SALT;
		return SW_EINVAL;
	}
	if (!a->v || a->v_len == 0 || (a->k && (!a->sig || a->seq < 0)) || (!a->k && a->salt_len)) {
		*ecode = DHT_KRPC_E_PROTOCOL;
		return SW_EINVAL;
	}
	memset(&item, 0, offsetof(dht_item_t, v));
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
	dht_item_target(&item, item.target);
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
	ret = item_sig_check(item.k, item.salt, item.salt_len, item.seq, item.v, item.v_len,
			     item.sig);
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
			int c = bytes_cmp(item.v, item.v_len, e->item.v, e->item.v_len);
			/* BEP 44: the same value again resets its timeout. */
			if (c == 0) {
				entry_refresh(st, e, now);
				notify_stored(st, e);
				return 0;
			}
			/* DESIGN.md §4: equal seq, different value: the larger value stays. */
			if (c < 0) {
				*ecode = DHT_KRPC_E_SEQ;
				return SW_EOLDSEQ;
			}
		}
		/* The new value may be larger: it goes in as a new entry, so that the byte limit
		 * evicts others as for any insert (DESIGN.md §4 "Bound the store"). A value
		 * larger than the whole store (dht-max-bytes may be as low as 1024, under the
		 * 1064 bytes of v and salt BEP 44 allows) is refused first: entry_insert() would
		 * refuse it after the stored value had been removed without item_removed. */
		if ((size_t)item.v_len + item.salt_len > st->opts.max_bytes) {
			*ecode = DHT_KRPC_E_SERVER;
			return SW_ELIMIT;
		}
		entry_remove(st, e, false);
	}
insert:
	ret = entry_insert(st, &item, now, &e);
	if (ret) {
		*ecode = DHT_KRPC_E_SERVER;
		return ret;
	}
	notify_stored(st, e);
	return 0;
}

const dht_item_t *dht_storage_find(const dht_storage_t *st, const uint8_t target[DHT_ID_LEN])
{
	const entry_t *e = entry_find(st, target);
	return e ? &e->item : NULL;
}

int dht_storage_load(dht_storage_t *st, const dht_item_t *item, uint64_t stored_ms, uint64_t now)
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
		if (e->item.is_mutable && dht_item_cmp(item, &e->item) <= 0)
			return 0;
		entry_remove(st, e, false);
	}
	ret = entry_insert(st, item, stored_ms, &e);
	if (ret)
		return ret;
	/* Loaded items may come in any order; keep the age list ordered by stored time. */
	age_unlink(st, e);
	entry_t *pos = st->newest;
	while (pos && pos->stored_ms > stored_ms)
		pos = pos->older;
	e->older = pos;
	e->newer = pos ? pos->newer : st->oldest;
	if (e->newer)
		e->newer->older = e;
	else
		st->newest = e;
	if (pos)
		pos->newer = e;
	else
		st->oldest = e;
	return 0;
}

void dht_storage_expire(dht_storage_t *st, uint64_t now)
{
	while (st->oldest && now - st->oldest->stored_ms >= DHT_ITEM_EXPIRE_MS)
		entry_remove(st, st->oldest, true);
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
