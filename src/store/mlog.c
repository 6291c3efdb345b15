/* A registry's transparency log in LMDB: see store/mlog.h for the layout. */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "store/item.h"
#include "store/mlog.h"

#define KEY_MAX (32 + 1 + 1 + 8)
/* The subtree hashes one append transaction can write: one leaf per entry and at most one
 * interior node per entry (a complete subtree of 2^k leaves has 2^k - 1 of them), plus the
 * right edge that the first entries complete above what was there. */
#define PENDING_MAX (2 * STORE_MLOG_BATCH_MAX + REG_MLOG_LEVELS)

typedef struct {
	uint8_t key[KEY_MAX];
	size_t klen;
	uint8_t hash[REG_MLOG_HASH_LEN];
} pending_t;

struct store_mlog {
	store_t *s;
	uint8_t registry[32];
	reg_mlog_t log;
	/* The hashes of the append in progress, committed with its entries. */
	pending_t *pending;
	size_t npending;
	uint8_t (*entry_keys)[KEY_MAX];
	store_op_t *ops;
};

static void put_be(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get_be(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* R | tag, then 0, 8 or 9 more bytes. */
static size_t make_key(const store_mlog_t *m, uint8_t tag, int level, bool has_index,
		       uint64_t index, uint8_t out[KEY_MAX])
{
	size_t n = 0;
	memcpy(out, m->registry, 32);
	n = 32;
	out[n++] = tag;
	if (level >= 0)
		out[n++] = (uint8_t)level;
	if (has_index) {
		put_be(out + n, index);
		n += 8;
	}
	return n;
}

static int read_u64(const store_mlog_t *m, uint8_t tag, uint64_t *v)
{
	uint8_t key[KEY_MAX], buf[8];
	size_t klen = make_key(m, tag, -1, false, 0, key), len;
	int ret = store_get(m->s, STORE_MLOG, key, klen, buf, sizeof(buf), &len);
	if (ret == SW_ENOSPC || (ret == 0 && len != 8))
		return SW_ESTORE;
	if (ret == 0)
		*v = get_be(buf);
	return ret;
}

static int node_get(void *ctx, unsigned level, uint64_t index, uint8_t hash[REG_MLOG_HASH_LEN])
{
	store_mlog_t *m = ctx;
	uint8_t key[KEY_MAX];
	size_t klen = make_key(m, 'n', (int)level, true, index, key), len;
	/* What the append in progress wrote is not committed yet. */
	for (size_t i = m->npending; i-- > 0;)
		if (m->pending[i].klen == klen && memcmp(m->pending[i].key, key, klen) == 0) {
			memcpy(hash, m->pending[i].hash, REG_MLOG_HASH_LEN);
			return 0;
		}
	int ret = store_get(m->s, STORE_MLOG, key, klen, hash, REG_MLOG_HASH_LEN, &len);
	if (ret == SW_ENOSPC || (ret == 0 && len != REG_MLOG_HASH_LEN))
		return SW_ESTORE;
	return ret;
}

static int node_put(void *ctx, unsigned level, uint64_t index,
		    const uint8_t hash[REG_MLOG_HASH_LEN])
{
	store_mlog_t *m = ctx;
	if (m->npending == PENDING_MAX)
		return SW_ELIMIT; /* cannot happen within STORE_MLOG_BATCH_MAX entries */
	pending_t *p = &m->pending[m->npending++];
	p->klen = make_key(m, 'n', (int)level, true, index, p->key);
	memcpy(p->hash, hash, REG_MLOG_HASH_LEN);
	return 0;
}

int store_mlog_open(store_t *s, const uint8_t registry[32], bool create, store_mlog_t **out)
{
	uint64_t size = 0;
	int ret = SW_ENOMEM;
	store_mlog_t *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return SW_ENOMEM;
	m->s = s;
	memcpy(m->registry, registry, 32);
	ret = read_u64(m, 's', &size);
	if (ret == SW_ENOTFOUND && create) {
		uint8_t key[KEY_MAX], zero[8] = {0};
		size_t klen = make_key(m, 's', -1, false, 0, key);
		ret = store_put(s, STORE_MLOG, key, klen, zero, sizeof(zero));
	}
	if (ret)
		goto fail;
	reg_mlog_store_t st = {.get = node_get, .put = node_put, .ctx = m};
	reg_mlog_init(&m->log, &st, size);
	*out = m;
	return 0;
fail:
	store_mlog_close(m);
	return ret;
}

void store_mlog_close(store_mlog_t *m)
{
	if (m == NULL)
		return;
	free(m->ops);
	free(m->entry_keys);
	free(m->pending);
	free(m);
}

const reg_mlog_t *store_mlog_log(const store_mlog_t *m)
{
	return &m->log;
}

uint64_t store_mlog_size(const store_mlog_t *m)
{
	return m->log.size;
}

int store_mlog_append(store_mlog_t *m, const uint8_t *const *entries, const size_t *lens, size_t n,
		      uint64_t *first)
{
	return store_mlog_append_with(m, entries, lens, n, NULL, 0, first);
}

int store_mlog_append_with(store_mlog_t *m, const uint8_t *const *entries, const size_t *lens,
			   size_t n, const store_op_t *extra, size_t nextra, uint64_t *first)
{
	return store_mlog_append_head(m, entries, lens, n, extra, nextra, NULL, NULL, first);
}

int store_mlog_append_head(store_mlog_t *m, const uint8_t *const *entries, const size_t *lens,
			   size_t n, const store_op_t *extra, size_t nextra,
			   store_mlog_head_fn head, void *ctx, uint64_t *first)
{
	uint64_t old = m->log.size;
	uint8_t size_key[KEY_MAX], size_val[8], hkey[KEY_MAX], lkey[KEY_MAX], lval[8];
	uint8_t hrec[STORE_ITEM_REC_MAX], root[REG_MLOG_HASH_LEN];
	size_t nops = 0, hlen;
	item_t it;
	int ret = 0;

	if (n == 0 || n > STORE_MLOG_BATCH_MAX || nextra > STORE_MLOG_EXTRA_MAX)
		return SW_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (lens[i] == 0 || lens[i] > STORE_MLOG_ENTRY_MAX)
			return SW_EINVAL;
	/* A handle that only reads (the API's) never needs these. */
	if (m->ops == NULL) {
		m->pending = calloc(PENDING_MAX, sizeof(*m->pending));
		m->entry_keys = calloc(STORE_MLOG_BATCH_MAX, sizeof(*m->entry_keys));
		m->ops = calloc(STORE_MLOG_BATCH_MAX + PENDING_MAX + 3 + STORE_MLOG_EXTRA_MAX,
				sizeof(*m->ops));
		if (m->pending == NULL || m->entry_keys == NULL || m->ops == NULL) {
			free(m->ops);
			free(m->entry_keys);
			free(m->pending);
			m->ops = NULL;
			m->entry_keys = NULL;
			m->pending = NULL;
			return SW_ENOMEM;
		}
	}
	m->npending = 0;
	for (size_t i = 0; i < n && ret == 0; i++) {
		size_t klen = make_key(m, 'e', -1, true, m->log.size, m->entry_keys[i]);
		m->ops[nops++] =
		    (store_op_t){STORE_MLOG, m->entry_keys[i], klen, entries[i], lens[i]};
		ret = reg_mlog_append(&m->log, entries[i], lens[i], NULL);
	}
	if (ret == 0) {
		for (size_t i = 0; i < m->npending; i++)
			m->ops[nops++] =
			    (store_op_t){STORE_MLOG, m->pending[i].key, m->pending[i].klen,
					 m->pending[i].hash, REG_MLOG_HASH_LEN};
		put_be(size_val, m->log.size);
		m->ops[nops++] =
		    (store_op_t){STORE_MLOG, size_key, make_key(m, 's', -1, false, 0, size_key),
				 size_val, sizeof(size_val)};
		for (size_t i = 0; i < nextra; i++)
			m->ops[nops++] = extra[i];
		/* The root reads the hashes of this append from pending (node_get). */
		if (head && (ret = reg_mlog_root(&m->log, m->log.size, root)) == 0 &&
		    (ret = head(ctx, m->log.size, root, &it)) == 0 &&
		    (ret = store_item_rec_write(&it, 0, hrec, sizeof(hrec), &hlen)) == 0) {
			m->ops[nops++] =
			    (store_op_t){STORE_MLOG, hkey,
					 make_key(m, 'h', -1, true, m->log.size, hkey), hrec, hlen};
			put_be(lval, m->log.size);
			m->ops[nops++] =
			    (store_op_t){STORE_MLOG, lkey, make_key(m, 'l', -1, false, 0, lkey),
					 lval, sizeof(lval)};
		}
		if (ret == 0)
			ret = store_write(m->s, m->ops, nops);
	}
	m->npending = 0;
	if (ret) {
		m->log.size = old; /* nothing of it was committed */
		return ret;
	}
	if (first)
		*first = old;
	return 0;
}

int store_mlog_entry(const store_mlog_t *m, uint64_t index, uint8_t *out, size_t cap, size_t *len)
{
	uint8_t key[KEY_MAX];
	if (index >= m->log.size)
		return SW_EINVAL;
	size_t klen = make_key(m, 'e', -1, true, index, key);
	return store_get(m->s, STORE_MLOG, key, klen, out, cap, len);
}

int store_mlog_head_get(const store_mlog_t *m, uint64_t size, item_t *head)
{
	uint8_t key[KEY_MAX];
	return store_item_get(m->s, STORE_MLOG, key, make_key(m, 'h', -1, true, size, key), head);
}

int store_mlog_head_latest(const store_mlog_t *m, uint64_t *size, item_t *head)
{
	int ret = read_u64(m, 'l', size);
	return ret ? ret : store_mlog_head_get(m, *size, head);
}

int store_mlog_head_put(store_mlog_t *m, uint64_t size, const item_t *head)
{
	uint8_t key[KEY_MAX], lkey[KEY_MAX], rec[STORE_ITEM_REC_MAX], lval[8];
	item_t cur;
	uint64_t cur_size;
	size_t len, n = 1;
	if (size > m->log.size)
		return SW_EINVAL;
	int ret = store_item_rec_write(head, 0, rec, sizeof(rec), &len);
	if (ret)
		return ret;
	store_op_t ops[2] = {{STORE_MLOG, key, make_key(m, 'h', -1, true, size, key), rec, len}};
	ret = store_mlog_head_latest(m, &cur_size, &cur);
	if (ret && ret != SW_ENOTFOUND)
		return ret;
	if (ret == SW_ENOTFOUND || size > cur_size || (size == cur_size && head->seq > cur.seq)) {
		put_be(lval, size);
		ops[n++] = (store_op_t){STORE_MLOG, lkey, make_key(m, 'l', -1, false, 0, lkey),
					lval, sizeof(lval)};
	}
	return store_write(m->s, ops, n);
}

int store_mlog_audit_get(store_t *s, const uint8_t registry[32], item_t *head)
{
	uint8_t key[33];
	memcpy(key, registry, 32);
	key[32] = 'a';
	return store_item_get(s, STORE_MLOG, key, sizeof(key), head);
}

int store_mlog_audit_put(store_t *s, const uint8_t registry[32], const item_t *head)
{
	uint8_t key[33], rec[STORE_ITEM_REC_MAX];
	size_t len;
	memcpy(key, registry, 32);
	key[32] = 'a';
	int ret = store_item_rec_write(head, 0, rec, sizeof(rec), &len);
	return ret ? ret : store_put(s, STORE_MLOG, key, sizeof(key), rec, len);
}

/* R | tag | id: the auditor's records of R's label items (no log of R needed here). */
static size_t audit_key(const uint8_t registry[32], uint8_t tag, const uint8_t *id, uint8_t out[65])
{
	memcpy(out, registry, 32);
	out[32] = tag;
	if (id == NULL)
		return 33;
	memcpy(out + 33, id, 32);
	return 65;
}

int store_mlog_audit_item_find(store_t *s, const uint8_t registry[32], const uint8_t id[32],
			       uint8_t *verdict)
{
	uint8_t key[65], val[9 + STORE_ITEM_REC_MAX];
	size_t len, klen = audit_key(registry, 'c', id, key);
	int ret = store_get(s, STORE_MLOG, key, klen, val, sizeof(val), &len);
	if (ret == 0 && len < 9)
		ret = SW_ESTORE;
	if (ret == SW_ENOSPC)
		ret = SW_ESTORE;
	if (ret == 0)
		*verdict = val[0];
	return ret;
}

/* Counts: checked (8) | inconsistent (8) | failed (8) | the last problem's text. */
#define COUNTS_HDR 24

int store_mlog_audit_item_put(store_t *s, const uint8_t registry[32], const uint8_t id[32],
			      uint8_t verdict, uint64_t when, const item_t *evidence,
			      const store_mlog_audit_counts_t *counts)
{
	uint8_t key[65], ckey[65], val[9 + STORE_ITEM_REC_MAX],
	    cval[COUNTS_HDR + sizeof(counts->last_error)];
	size_t len = 0, klen = audit_key(registry, 'c', id, key);
	val[0] = verdict;
	put_be(val + 1, when);
	if (evidence) {
		int ret =
		    store_item_rec_write(evidence, when * 1000, val + 9, sizeof(val) - 9, &len);
		if (ret)
			return ret;
	}
	size_t tlen = strnlen(counts->last_error, sizeof(counts->last_error) - 1);
	put_be(cval, counts->checked);
	put_be(cval + 8, counts->inconsistent);
	put_be(cval + 16, counts->failed);
	memcpy(cval + COUNTS_HDR, counts->last_error, tlen);
	store_op_t ops[2] = {
	    {STORE_MLOG, key, klen, val, 9 + len},
	    {STORE_MLOG, ckey, audit_key(registry, 'k', NULL, ckey), cval, COUNTS_HDR + tlen}};
	return store_write(s, ops, 2);
}

int store_mlog_audit_counts_get(store_t *s, const uint8_t registry[32],
				store_mlog_audit_counts_t *out)
{
	uint8_t key[65], val[COUNTS_HDR + sizeof(out->last_error)];
	size_t len, klen = audit_key(registry, 'k', NULL, key);
	memset(out, 0, sizeof(*out));
	int ret = store_get(s, STORE_MLOG, key, klen, val, sizeof(val), &len);
	if (ret == SW_ENOTFOUND)
		return 0;
	if (ret || len < COUNTS_HDR || len - COUNTS_HDR >= sizeof(out->last_error))
		return SW_ESTORE;
	out->checked = get_be(val);
	out->inconsistent = get_be(val + 8);
	out->failed = get_be(val + 16);
	memcpy(out->last_error, val + COUNTS_HDR, len - COUNTS_HDR);
	return 0;
}
