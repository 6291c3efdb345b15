/* The `dht_items` record of a BEP 44 item: see store/item.h. */
#include <string.h>

#include "common/err.h"
#include "store/item.h"

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

int store_item_rec_write(const item_t *it, uint64_t stored_ms, uint8_t *out, size_t cap,
			 size_t *len)
{
	size_t need = STORE_ITEM_REC_HDR + it->salt_len + it->v_len;
	if (cap < need)
		return SW_ENOSPC;
	put_be(out, stored_ms, 8);
	out[8] = it->is_mutable;
	memcpy(out + 9, it->k, 32);
	memcpy(out + 41, it->sig, 64);
	put_be(out + 105, (uint64_t)it->seq, 8);
	out[113] = it->salt_len;
	put_be(out + 114, it->v_len, 2);
	memcpy(out + STORE_ITEM_REC_HDR, it->salt, it->salt_len);
	memcpy(out + STORE_ITEM_REC_HDR + it->salt_len, it->v, it->v_len);
	*len = need;
	return 0;
}

int store_item_rec_parse(const void *key, size_t klen, const void *rec, size_t len, item_t *it,
			 uint64_t *stored_ms)
{
	const uint8_t *p = rec;
	if (klen != ITEM_TARGET_LEN || len < STORE_ITEM_REC_HDR)
		return SW_EMALF;
	memset(it, 0, sizeof(*it));
	memcpy(it->target, key, ITEM_TARGET_LEN);
	*stored_ms = get_be(p, 8);
	it->is_mutable = p[8] != 0;
	memcpy(it->k, p + 9, 32);
	memcpy(it->sig, p + 41, 64);
	it->seq = (int64_t)get_be(p + 105, 8);
	it->salt_len = p[113];
	it->v_len = (uint16_t)get_be(p + 114, 2);
	if (it->salt_len > ITEM_SALT_MAX || it->v_len > ITEM_V_MAX ||
	    len != (size_t)STORE_ITEM_REC_HDR + it->salt_len + it->v_len)
		return SW_EMALF;
	memcpy(it->salt, p + STORE_ITEM_REC_HDR, it->salt_len);
	memcpy(it->v, p + STORE_ITEM_REC_HDR + it->salt_len, it->v_len);
	return 0;
}

typedef struct {
	int (*cb)(const item_t *it, uint64_t stored_ms, void *ctx);
	void *ctx;
	item_t it;
} item_walk_t;

static int item_walk(const void *key, size_t klen, const void *val, size_t vlen, void *ctx)
{
	item_walk_t *w = ctx;
	uint64_t stored_ms;
	if (store_item_rec_parse(key, klen, val, vlen, &w->it, &stored_ms))
		return 0;
	return w->cb(&w->it, stored_ms, w->ctx);
}

int store_item_foreach(store_t *s, int (*cb)(const item_t *it, uint64_t stored_ms, void *ctx),
		       void *ctx)
{
	item_walk_t w = {.cb = cb, .ctx = ctx};
	return store_foreach(s, STORE_DHT_ITEMS, item_walk, &w);
}

int store_item_get(store_t *s, store_db_t db, const void *key, size_t klen, item_t *it)
{
	uint8_t rec[STORE_ITEM_REC_MAX], target[ITEM_TARGET_LEN] = {0};
	size_t len;
	uint64_t stored_ms;
	int ret = store_get(s, db, key, klen, rec, sizeof(rec), &len);
	if (ret == SW_ENOSPC)
		return SW_ESTORE;
	if (ret)
		return ret;
	/* Keyed otherwise than by target: a zero target passes the parse, the real one is
	 * computed from the item. */
	if (store_item_rec_parse(target, sizeof(target), rec, len, it, &stored_ms))
		return SW_ESTORE;
	item_target(it, it->target);
	return 0;
}
