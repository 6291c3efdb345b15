/*
 * Unit tests of src/store: own zones, DHT item records (store/item.h) and registries' logs
 * (store/mlog.h) survive close and reopen of the LMDB environment (docs/design.md §8),
 * overwrite by key, the walk and its early stop, and the errors of opening.
 * Each test works in its own mkdtemp() directory under $SW_TEST_TMPDIR (set by meson) or
 * /tmp, removed afterwards.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "common/err.h"
#include "registry/mlog.h"
#include "store/item.h"
#include "store/mlog.h"
#include "store/store.h"
#include "util.h"

typedef struct {
	char base[512]; /* the mkdtemp directory */
	char data[600]; /* base/data: the data-dir, created by store_open */
} dirs_t;

static int setup(void **state)
{
	dirs_t *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -1;
	const char *tmp = getenv("SW_TEST_TMPDIR");
	snprintf(d->base, sizeof(d->base), "%s/store-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(d->base) == NULL)
		return -1;
	snprintf(d->data, sizeof(d->data), "%s/data", d->base);
	*state = d;
	return 0;
}

static void rm_dir(const char *dir)
{
	char p[700];
	const char *files[] = {"data.mdb", "lock.mdb", "swarmdns.lock"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		unlink(p);
	}
	rmdir(dir);
}

static int teardown(void **state)
{
	dirs_t *d = *state;
	rm_dir(d->data);
	rm_dir(d->base);
	free(d);
	return 0;
}

/* What a walk saw. */
typedef struct {
	int calls;
	uint8_t pk[8][32];
	uint8_t relay[8][1100];
	size_t len[8];
	int stop_after; /* return 7 after this many calls; 0: never */
} seen_t;

static int collect(const uint8_t pk[32], const uint8_t *relay, size_t len, void *ctx)
{
	seen_t *s = ctx;
	assert_true(s->calls < 8);
	assert_true(len <= sizeof(s->relay[0]));
	memcpy(s->pk[s->calls], pk, 32);
	memcpy(s->relay[s->calls], relay, len);
	s->len[s->calls] = len;
	s->calls++;
	return s->stop_after && s->calls >= s->stop_after ? 7 : 0;
}

/* Index of pk in what the walk saw, or -1. */
static int find_seen(const seen_t *s, const uint8_t pk[32])
{
	for (int i = 0; i < s->calls; i++)
		if (memcmp(s->pk[i], pk, 32) == 0)
			return i;
	return -1;
}

static void test_put_close_reopen(void **state)
{
	dirs_t *d = *state;
	uint8_t pk1[32], pk2[32], relay1[512], relay2[1068];
	tu_hex(VEC_PKARR_PK, pk1, 32);
	size_t len1 = tu_hex(VEC_PKARR_RELAY, relay1, sizeof(relay1));
	memset(pk2, 0xa5, 32);
	for (size_t i = 0; i < sizeof(relay2); i++)
		relay2[i] = (uint8_t)(i * 31);

	store_t *s = NULL;
	assert_int_equal(store_open(d->data, &s), 0);
	assert_non_null(s);
	/* The data directory was created, private to the user. */
	struct stat st;
	assert_int_equal(stat(d->data, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 077, 0);

	seen_t seen = {0};
	assert_int_equal(store_zone_foreach(s, collect, &seen), 0);
	assert_int_equal(seen.calls, 0);

	assert_int_equal(store_zone_put(s, pk1, relay1, len1), 0);
	assert_int_equal(store_zone_put(s, pk2, relay2, sizeof(relay2)), 0);
	store_close(s);
	s = NULL;

	assert_int_equal(store_open(d->data, &s), 0);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(store_zone_foreach(s, collect, &seen), 0);
	assert_int_equal(seen.calls, 2);
	int i1 = find_seen(&seen, pk1), i2 = find_seen(&seen, pk2);
	assert_true(i1 >= 0 && i2 >= 0);
	assert_int_equal(seen.len[i1], len1);
	assert_memory_equal(seen.relay[i1], relay1, len1);
	assert_int_equal(seen.len[i2], sizeof(relay2));
	assert_memory_equal(seen.relay[i2], relay2, sizeof(relay2));
	store_close(s);
	store_close(NULL);
}

static void test_overwrite(void **state)
{
	dirs_t *d = *state;
	uint8_t pk[32], a[100], b[80];
	memset(pk, 1, 32);
	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	store_t *s = NULL;
	assert_int_equal(store_open(d->data, &s), 0);
	assert_int_equal(store_zone_put(s, pk, a, sizeof(a)), 0);
	assert_int_equal(store_zone_put(s, pk, b, sizeof(b)), 0);
	store_close(s);
	assert_int_equal(store_open(d->data, &s), 0);
	seen_t seen = {0};
	assert_int_equal(store_zone_foreach(s, collect, &seen), 0);
	assert_int_equal(seen.calls, 1);
	assert_memory_equal(seen.pk[0], pk, 32);
	assert_int_equal(seen.len[0], sizeof(b));
	assert_memory_equal(seen.relay[0], b, sizeof(b));
	store_close(s);
}

/* A batch is applied in order, in one transaction: a put then a delete of the same key
 * leaves nothing; a delete of a missing key is not an error. */
static void test_write_batch(void **state)
{
	dirs_t *d = *state;
	store_t *s = NULL;
	assert_int_equal(store_open(d->data, &s), 0);
	const store_op_t ops[] = {
	    {STORE_DHT_ITEMS, "k1", 2, "one", 3}, {STORE_DHT_ITEMS, "k2", 2, "two", 3},
	    {STORE_DHT_ITEMS, "k1", 2, NULL, 0},  {STORE_DHT_ITEMS, "k3", 2, NULL, 0},
	    {STORE_DHT_ITEMS, "k2", 2, "TWO", 3},
	};
	assert_int_equal(store_write(s, ops, sizeof(ops) / sizeof(ops[0])), 0);
	store_close(s);
	assert_int_equal(store_open(d->data, &s), 0);
	char out[8];
	size_t len = 0;
	assert_int_equal(store_get(s, STORE_DHT_ITEMS, "k1", 2, out, sizeof(out), &len),
			 SW_ENOTFOUND);
	assert_int_equal(store_get(s, STORE_DHT_ITEMS, "k2", 2, out, sizeof(out), &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(out, "TWO", 3);
	assert_int_equal(store_write(s, NULL, 0), 0);
	store_close(s);
}

static void test_foreach_stops(void **state)
{
	dirs_t *d = *state;
	store_t *s = NULL;
	assert_int_equal(store_open(d->data, &s), 0);
	for (int i = 0; i < 5; i++) {
		uint8_t pk[32], v[10];
		memset(pk, i + 10, 32);
		memset(v, i, sizeof(v));
		assert_int_equal(store_zone_put(s, pk, v, sizeof(v)), 0);
	}
	seen_t seen = {.stop_after = 2};
	assert_int_equal(store_zone_foreach(s, collect, &seen), 7);
	assert_int_equal(seen.calls, 2);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(store_zone_foreach(s, collect, &seen), 0);
	assert_int_equal(seen.calls, 5);
	store_close(s);
}

static void test_open_errors(void **state)
{
	dirs_t *d = *state;
	store_t *s = NULL;
	char path[700];
	/* The parent does not exist: -ENOENT passes through as -errno. */
	snprintf(path, sizeof(path), "%s/missing/data", d->base);
	assert_int_equal(store_open(path, &s), -ENOENT);
	/* A regular file where the directory should be. */
	snprintf(path, sizeof(path), "%s/file", d->base);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	int ret = store_open(path, &s);
	assert_true(ret < 0);
	unlink(path);
}

/* One node per data-dir: a second open while the first is open is refused, and works again
 * once the first is closed. */
static void test_lock(void **state)
{
	dirs_t *d = *state;
	store_t *s = NULL, *s2 = NULL;
	char path[700], pid[32] = "";
	assert_int_equal(store_open(d->data, &s), 0);
	assert_int_equal(store_open(d->data, &s2), -EBUSY);
	assert_null(s2);
	snprintf(path, sizeof(path), "%s/swarmdns.lock", d->data);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(pid, sizeof(pid), f));
	fclose(f);
	assert_int_equal(strtol(pid, NULL, 10), (long)getpid());
	store_close(s);
	assert_int_equal(store_open(d->data, &s2), 0);
	store_close(s2);
}

static void test_schema_version(void **state)
{
	/* A data directory written by a future swarmdns (schema 2) is refused, not misread. */
	dirs_t *d = *state;
	store_t *s = NULL;
	assert_int_equal(store_open(d->data, &s), 0);
	store_close(s);
	s = NULL;

	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta;
	assert_int_equal(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 8);
	assert_int_equal(mdb_env_open(env, d->data, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	uint32_t ver = 2;
	MDB_val k = {6, "schema"}, v = {4, &ver};
	assert_int_equal(mdb_put(txn, meta, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	assert_int_equal(store_open(d->data, &s), SW_ESTORE);
	assert_null(s);
}

/* What store_item_foreach() gave back. */
typedef struct {
	int calls;
	item_t it[4];
	uint64_t stored[4];
} items_seen_t;

static int collect_item(const item_t *it, uint64_t stored_ms, void *ctx)
{
	items_seen_t *s = ctx;
	assert_true(s->calls < 4);
	s->it[s->calls] = *it;
	s->stored[s->calls++] = stored_ms;
	return 0;
}

/* A DHT item's record (store/item.h) round-trips through LMDB across a reopen, salt, the
 * 64-bit seq and the stored time included; a record that does not parse is skipped. */
static void test_item_records(void **state)
{
	dirs_t *d = *state;
	static item_t a, b;
	uint8_t k[32], rec[STORE_ITEM_REC_MAX];
	size_t len;
	memset(k, 7, 32);
	assert_int_equal(item_init(&a, k, (const uint8_t *)"alice", 5, INT64_C(1) << 40), 0);
	assert_int_equal(item_set_str(&a, (const uint8_t *)"hello", 5), 0);
	memset(a.sig, 0x5a, 64);
	memset(&b, 0, sizeof(b));
	b.v_len = ITEM_V_MAX;
	memset(b.v, 'x', ITEM_V_MAX);
	item_target(&b, b.target); /* immutable: SHA-1(v) */

	store_t *s = NULL;
	assert_int_equal(store_open(d->data, &s), 0);
	assert_int_equal(store_item_rec_write(&a, 1234, rec, sizeof(rec), &len), 0);
	assert_int_equal(len, STORE_ITEM_REC_HDR + 5 + 7);
	assert_int_equal(store_item_rec_write(&a, 1234, rec, len - 1, &len), SW_ENOSPC);
	assert_int_equal(store_item_rec_write(&a, 1234, rec, sizeof(rec), &len), 0);
	assert_int_equal(store_put(s, STORE_DHT_ITEMS, a.target, 20, rec, len), 0);
	assert_int_equal(store_item_rec_write(&b, UINT64_MAX, rec, sizeof(rec), &len), 0);
	assert_int_equal(len, STORE_ITEM_REC_MAX - ITEM_SALT_MAX);
	assert_int_equal(store_put(s, STORE_DHT_ITEMS, b.target, 20, rec, len), 0);
	/* Garbage: a short record, and a record whose lengths disagree with its size. */
	uint8_t t1[20] = {1}, t2[20] = {2};
	assert_int_equal(store_put(s, STORE_DHT_ITEMS, t1, 20, rec, 10), 0);
	assert_int_equal(store_put(s, STORE_DHT_ITEMS, t2, 20, rec, len - 1), 0);
	store_close(s);

	s = NULL;
	assert_int_equal(store_open(d->data, &s), 0);
	items_seen_t seen = {0};
	assert_int_equal(store_item_foreach(s, collect_item, &seen), 0);
	assert_int_equal(seen.calls, 2);
	for (int i = 0; i < 2; i++) {
		const item_t *want = seen.it[i].is_mutable ? &a : &b;
		const item_t *got = &seen.it[i];
		assert_int_equal(seen.stored[i], want == &a ? 1234 : UINT64_MAX);
		assert_memory_equal(got->target, want->target, 20);
		assert_int_equal(got->is_mutable, want->is_mutable);
		assert_memory_equal(got->k, want->k, 32);
		assert_memory_equal(got->sig, want->sig, 64);
		assert_true(got->seq == want->seq);
		assert_int_equal(got->salt_len, want->salt_len);
		assert_memory_equal(got->salt, want->salt, want->salt_len);
		assert_int_equal(got->v_len, want->v_len);
		assert_memory_equal(got->v, want->v, want->v_len);
	}
	store_close(s);
}

/* Entry i of the test logs: its index in text, of a length that varies with i. */
static size_t mlog_entry(uint64_t i, uint8_t *out)
{
	int n = snprintf((char *)out, 64, "entry %llu ", (unsigned long long)i);
	for (uint64_t k = 0; k < i % 7; k++)
		out[n++] = (uint8_t)('a' + k);
	return (size_t)n;
}

/* Appends entries [from, to) to the stored log and to the in-memory one, in batches of
 * `batch`. */
static void mlog_fill(store_mlog_t *m, reg_mlog_t *mem, uint64_t from, uint64_t to, size_t batch)
{
	static uint8_t buf[STORE_MLOG_BATCH_MAX][64];
	const uint8_t *e[STORE_MLOG_BATCH_MAX];
	size_t lens[STORE_MLOG_BATCH_MAX];
	while (from < to) {
		size_t n = 0;
		for (; n < batch && from + n < to; n++) {
			lens[n] = mlog_entry(from + n, buf[n]);
			e[n] = buf[n];
			assert_int_equal(reg_mlog_append(mem, e[n], lens[n], NULL), 0);
		}
		uint64_t first = 99999;
		assert_int_equal(store_mlog_append(m, e, lens, n, &first), 0);
		assert_true(first == from);
		from += n;
		assert_true(store_mlog_size(m) == from);
	}
}

/* A registry's log (store/mlog.h) survives close and reopen: its size, every entry, the root
 * of every size and proofs that verify against the in-memory log's roots (registry/mlog.h,
 * RFC 9162 §2.1); appends out of bounds change nothing; two registries do not mix. */
static void test_mlog_reopen(void **state)
{
	dirs_t *d = *state;
	uint8_t r1[32], r2[32];
	memset(r1, 0x11, 32);
	memset(r2, 0x22, 32);
	reg_mlog_mem_t *mm = reg_mlog_mem_new();
	assert_non_null(mm);
	reg_mlog_store_t mst = reg_mlog_mem_store(mm);
	reg_mlog_t mem;
	reg_mlog_init(&mem, &mst, 0);

	store_t *s = NULL;
	store_mlog_t *m = NULL, *m2 = NULL;
	assert_int_equal(store_open(d->data, &s), 0);
	assert_int_equal(store_mlog_open(s, r1, false, &m), SW_ENOTFOUND);
	assert_int_equal(store_mlog_open(s, r1, true, &m), 0);
	assert_true(store_mlog_size(m) == 0);
	/* Batches of 1, 3 and the largest, crossing many subtree boundaries. */
	mlog_fill(m, &mem, 0, 37, 1);
	mlog_fill(m, &mem, 37, 100, 3);
	mlog_fill(m, &mem, 100, 700, STORE_MLOG_BATCH_MAX);

	/* Out of bounds: nothing is written. */
	uint8_t big[STORE_MLOG_ENTRY_MAX + 1] = {0};
	const uint8_t *e[STORE_MLOG_BATCH_MAX + 1] = {big};
	size_t lens[STORE_MLOG_BATCH_MAX + 1] = {sizeof(big)};
	assert_int_equal(store_mlog_append(m, e, lens, 1, NULL), SW_EINVAL);
	lens[0] = 0;
	assert_int_equal(store_mlog_append(m, e, lens, 1, NULL), SW_EINVAL);
	assert_int_equal(store_mlog_append(m, e, lens, 0, NULL), SW_EINVAL);
	for (size_t i = 0; i <= STORE_MLOG_BATCH_MAX; i++) {
		e[i] = big;
		lens[i] = 1;
	}
	assert_int_equal(store_mlog_append(m, e, lens, STORE_MLOG_BATCH_MAX + 1, NULL), SW_EINVAL);
	assert_true(store_mlog_size(m) == 700);

	/* Another registry's log is its own. */
	assert_int_equal(store_mlog_open(s, r2, true, &m2), 0);
	assert_true(store_mlog_size(m2) == 0);
	lens[0] = 3;
	assert_int_equal(store_mlog_append(m2, e, lens, 1, NULL), 0);
	store_mlog_close(m2);
	store_mlog_close(m);
	store_close(s);

	s = NULL;
	m = NULL;
	assert_int_equal(store_open(d->data, &s), 0);
	assert_int_equal(store_mlog_open(s, r1, false, &m), 0);
	assert_true(store_mlog_size(m) == 700);
	const reg_mlog_t *log = store_mlog_log(m);
	uint8_t want[64], got[STORE_MLOG_ENTRY_MAX], root[32], mroot[32], leaf[32];
	uint8_t proof[REG_MLOG_PROOF_MAX * REG_MLOG_HASH_LEN];
	size_t len, count;
	for (uint64_t i = 0; i < 700; i++) {
		size_t wl = mlog_entry(i, want);
		assert_int_equal(store_mlog_entry(m, i, got, sizeof(got), &len), 0);
		assert_int_equal(len, wl);
		assert_memory_equal(got, want, wl);
	}
	assert_int_equal(store_mlog_entry(m, 700, got, sizeof(got), &len), SW_EINVAL);
	for (uint64_t n = 0; n <= 700; n++) {
		assert_int_equal(reg_mlog_root(log, n, root), 0);
		assert_int_equal(reg_mlog_root(&mem, n, mroot), 0);
		assert_memory_equal(root, mroot, 32);
	}
	for (uint64_t i = 0; i < 700; i += 37) {
		size_t wl = mlog_entry(i, want);
		reg_mlog_leaf_hash(want, wl, leaf);
		assert_int_equal(
		    reg_mlog_inclusion_proof(log, i, 700, proof, REG_MLOG_PROOF_MAX, &count), 0);
		assert_int_equal(reg_mlog_inclusion_verify(i, 700, leaf, proof, count, mroot), 0);
		assert_int_equal(reg_mlog_root(&mem, i + 1, root), 0);
		assert_int_equal(
		    reg_mlog_consistency_proof(log, i + 1, 700, proof, REG_MLOG_PROOF_MAX, &count),
		    0);
		assert_int_equal(reg_mlog_consistency_verify(i + 1, 700, root, mroot, proof, count),
				 0);
	}
	/* Appending after the reopen continues the same tree. */
	mlog_fill(m, &mem, 700, 701, 1);
	assert_int_equal(reg_mlog_root(log, 701, root), 0);
	assert_int_equal(reg_mlog_root(&mem, 701, mroot), 0);
	assert_memory_equal(root, mroot, 32);
	assert_int_equal(store_mlog_open(s, r2, false, &m2), 0);
	assert_true(store_mlog_size(m2) == 1);
	store_mlog_close(m2);
	store_mlog_close(m);
	store_mlog_close(NULL);
	store_close(s);
	reg_mlog_mem_free(mm);
}

/* Tree heads (the registry's `_log` items) are kept by size; the latest is the largest size,
 * or at the same size the higher seq, and it survives a reopen. */
static void test_mlog_heads(void **state)
{
	dirs_t *d = *state;
	uint8_t r[32], k[32];
	memset(r, 0x33, 32);
	memset(k, 0x44, 32);
	static item_t h5, h10, h10b, got;
	assert_int_equal(item_init(&h5, k, (const uint8_t *)"_log", 4, 1), 0);
	assert_int_equal(item_set_str(&h5, (const uint8_t *)"five", 4), 0);
	h10 = h5;
	h10.seq = 2;
	assert_int_equal(item_set_str(&h10, (const uint8_t *)"ten", 3), 0);
	h10b = h10;
	h10b.seq = 3;

	store_t *s = NULL;
	store_mlog_t *m = NULL;
	uint64_t size = 0;
	assert_int_equal(store_open(d->data, &s), 0);
	assert_int_equal(store_mlog_open(s, r, true, &m), 0);
	assert_int_equal(store_mlog_head_latest(m, &size, &got), SW_ENOTFOUND);
	uint8_t x = 'x';
	const uint8_t *e[10];
	size_t lens[10];
	for (int i = 0; i < 10; i++) {
		e[i] = &x;
		lens[i] = 1;
	}
	assert_int_equal(store_mlog_head_put(m, 1, &h5), SW_EINVAL); /* beyond the log */
	assert_int_equal(store_mlog_append(m, e, lens, 10, NULL), 0);
	assert_int_equal(store_mlog_head_put(m, 10, &h10), 0);
	assert_int_equal(store_mlog_head_put(m, 5, &h5), 0); /* older: not the latest */
	assert_int_equal(store_mlog_head_latest(m, &size, &got), 0);
	assert_true(size == 10 && got.seq == 2);
	assert_int_equal(store_mlog_head_put(m, 10, &h10b), 0); /* same size, higher seq */
	store_mlog_close(m);
	store_close(s);

	s = NULL;
	m = NULL;
	assert_int_equal(store_open(d->data, &s), 0);
	assert_int_equal(store_mlog_open(s, r, false, &m), 0);
	assert_int_equal(store_mlog_head_latest(m, &size, &got), 0);
	assert_true(size == 10 && got.seq == 3);
	assert_int_equal(item_cmp(&got, &h10b), 0);
	assert_memory_equal(got.k, k, 32);
	assert_int_equal(got.salt_len, 4);
	assert_memory_equal(got.target, h10b.target, 20);
	assert_int_equal(store_mlog_head_get(m, 5, &got), 0);
	assert_int_equal(item_cmp(&got, &h5), 0);
	assert_int_equal(store_mlog_head_get(m, 7, &got), SW_ENOTFOUND);
	store_mlog_close(m);
	store_close(s);
}

/* What store_mlog_append_head()'s callback saw: the grown log's size and root. */
typedef struct {
	uint64_t size;
	uint8_t root[32];
	int fail;
} head_seen_t;

static int head_cb(void *ctx, uint64_t size, const uint8_t root[32], item_t *out)
{
	head_seen_t *h = ctx;
	uint8_t k[32];
	memset(k, 0x77, 32);
	h->size = size;
	memcpy(h->root, root, 32);
	if (h->fail)
		return h->fail;
	assert_int_equal(item_init(out, k, (const uint8_t *)"_log", 4, (int64_t)size), 0);
	return item_set_str(out, root, 32);
}

/* An append with its tree head in the same transaction: the callback gets the root of the
 * grown log (the same as reg_mlog_root() after it), the head is the latest and survives a
 * reopen; a callback that fails leaves neither the entries nor a head. */
static void test_mlog_append_head(void **state)
{
	dirs_t *d = *state;
	uint8_t r[32], root[32];
	memset(r, 0x99, 32);
	static item_t got;
	store_t *s = NULL;
	store_mlog_t *m = NULL;
	uint64_t size = 0, first = 0;
	uint8_t x = 'x';
	const uint8_t *e[3] = {&x, &x, &x};
	size_t lens[3] = {1, 1, 1};
	head_seen_t h = {0};
	assert_int_equal(store_open(d->data, &s), 0);
	assert_int_equal(store_mlog_open(s, r, true, &m), 0);
	assert_int_equal(store_mlog_append_head(m, e, lens, 3, NULL, 0, head_cb, &h, &first), 0);
	assert_true(first == 0 && h.size == 3);
	assert_int_equal(reg_mlog_root(store_mlog_log(m), 3, root), 0);
	assert_memory_equal(h.root, root, 32);
	h.fail = SW_EINVAL;
	assert_int_equal(store_mlog_append_head(m, e, lens, 1, NULL, 0, head_cb, &h, NULL),
			 SW_EINVAL);
	assert_int_equal(store_mlog_size(m), 3);
	store_mlog_close(m);
	store_close(s);

	s = NULL;
	m = NULL;
	assert_int_equal(store_open(d->data, &s), 0);
	assert_int_equal(store_mlog_open(s, r, false, &m), 0);
	assert_int_equal(store_mlog_size(m), 3);
	assert_int_equal(store_mlog_head_latest(m, &size, &got), 0);
	assert_true(size == 3 && got.seq == 3);
	const uint8_t *str;
	size_t slen;
	assert_int_equal(item_str(&got, &str, &slen), 0);
	assert_true(slen == 32 && memcmp(str, root, 32) == 0);
	store_mlog_close(m);
	store_close(s);
}

/* The auditor's last verified tree head (store_mlog_audit_*): kept without any log of the
 * registry held here, replaced by the next, and read back after a reopen. */
static void test_mlog_audit_head(void **state)
{
	dirs_t *d = *state;
	uint8_t r[32], k[32];
	memset(r, 0x55, 32);
	memset(k, 0x66, 32);
	static item_t h1, h2, got;
	store_t *s = NULL;
	store_mlog_t *m = NULL;
	assert_int_equal(item_init(&h1, k, (const uint8_t *)"_log", 4, 3), 0);
	assert_int_equal(item_set_str(&h1, (const uint8_t *)"head one", 8), 0);
	h2 = h1;
	h2.seq = 4;
	assert_int_equal(item_set_str(&h2, (const uint8_t *)"head two", 8), 0);
	assert_int_equal(store_open(d->data, &s), 0);
	assert_int_equal(store_mlog_audit_get(s, r, &got), SW_ENOTFOUND);
	assert_int_equal(store_mlog_audit_put(s, r, &h1), 0);
	assert_int_equal(store_mlog_audit_put(s, r, &h2), 0);
	/* It is not a log: the registry still has none here. */
	assert_int_equal(store_mlog_open(s, r, false, &m), SW_ENOTFOUND);
	store_close(s);
	assert_int_equal(store_open(d->data, &s), 0);
	assert_int_equal(store_mlog_audit_get(s, r, &got), 0);
	assert_true(got.seq == 4 && got.v_len == h2.v_len);
	assert_memory_equal(got.v, h2.v, h2.v_len);
	assert_memory_equal(got.target, h2.target, sizeof(got.target));
	store_close(s);
}

/* The auditor's verdicts on label items and its counts (store_mlog_audit_item_*): an
 * inconsistent item is kept with its evidence, and both survive a reopen. */
static void test_mlog_audit_items(void **state)
{
	dirs_t *d = *state;
	uint8_t r[32], id1[32], id2[32], v = 0xff;
	memset(r, 0x55, 32);
	memset(id1, 1, 32);
	memset(id2, 2, 32);
	static item_t it;
	store_t *s = NULL;
	store_mlog_audit_counts_t c = {0}, got;
	assert_int_equal(item_init(&it, r, (const uint8_t *)"alice", 5, 7), 0);
	assert_int_equal(item_set_str(&it, (const uint8_t *)"label item", 10), 0);
	assert_int_equal(store_open(d->data, &s), 0);
	assert_int_equal(store_mlog_audit_counts_get(s, r, &got), 0);
	assert_true(got.checked == 0 && got.inconsistent == 0 && got.last_error[0] == '\0');
	assert_int_equal(store_mlog_audit_item_find(s, r, id1, &v), SW_ENOTFOUND);
	c.checked = 1;
	assert_int_equal(store_mlog_audit_item_put(s, r, id1, 0, 1000, NULL, &c), 0);
	c.checked = 2;
	c.inconsistent = 1;
	c.failed = 1001;
	snprintf(c.last_error, sizeof(c.last_error), "the label item of alice is not in the log");
	assert_int_equal(store_mlog_audit_item_put(s, r, id2, 6, 1001, &it, &c), 0);
	store_close(s);
	assert_int_equal(store_open(d->data, &s), 0);
	assert_int_equal(store_mlog_audit_item_find(s, r, id1, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(store_mlog_audit_item_find(s, r, id2, &v), 0);
	assert_int_equal(v, 6);
	assert_int_equal(store_mlog_audit_counts_get(s, r, &got), 0);
	assert_true(got.checked == 2 && got.inconsistent == 1 && got.failed == 1001);
	assert_string_equal(got.last_error, c.last_error);
	/* Another registry's are its own. */
	r[0] ^= 1;
	assert_int_equal(store_mlog_audit_item_find(s, r, id1, &v), SW_ENOTFOUND);
	assert_int_equal(store_mlog_audit_counts_get(s, r, &got), 0);
	assert_int_equal(got.checked, 0);
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_put_close_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_overwrite, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_foreach_stops, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_schema_version, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_item_records, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mlog_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mlog_heads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mlog_append_head, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mlog_audit_head, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mlog_audit_items, setup, teardown),
	};
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
