/*
 * Unit tests of src/store: own zones survive close and reopen of the LMDB environment
 * (docs/design.md §8), overwrite by key, the walk and its early stop, and the errors of opening.
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
#include "store/item.h"
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
	};
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
