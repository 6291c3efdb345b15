#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "common/err.h"
#include "common/log.h"
#include "store/store.h"

#define SCHEMA_VERSION 1
#define MAP_SIZE ((size_t)1 << 30) /* 1 GiB of address space; the file grows as used */

static const char *const db_names[STORE_DB_COUNT] = {"meta", "zones", "dht_items"};

struct store {
	MDB_env *env;
	MDB_dbi dbi[STORE_DB_COUNT];
};

/* Translates LMDB's error space at the border (STYLE.md "Errors"). */
static int map_err(const char *what, int rc)
{
	if (rc == 0)
		return 0;
	sw_err("storage: %s: %s", what, mdb_strerror(rc));
	return rc > 0 && rc < 1000 ? -rc : SW_ESTORE;
}

int store_open(const char *dir, store_t **out)
{
	int ret;
	MDB_txn *txn = NULL;
	store_t *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return SW_ENOMEM;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		ret = -errno;
		sw_err("storage: cannot create data directory %s: %s", dir, strerror(errno));
		goto fail;
	}
	if ((ret = map_err("create environment", mdb_env_create(&s->env))))
		goto fail;
	mdb_env_set_maxdbs(s->env, 8);
	mdb_env_set_mapsize(s->env, MAP_SIZE);
	/* Default flags: every commit is synced, which is what "acknowledged" promises. */
	if ((ret = mdb_env_open(s->env, dir, 0, 0600)) != 0) {
		sw_err("storage: cannot open %s: %s", dir, mdb_strerror(ret));
		ret = ret > 0 && ret < 1000 ? -ret : SW_ESTORE;
		goto fail;
	}
	if ((ret = map_err("begin", mdb_txn_begin(s->env, NULL, 0, &txn))))
		goto fail;
	for (int i = 0; i < STORE_DB_COUNT; i++)
		if ((ret = map_err(db_names[i], mdb_dbi_open(txn, db_names[i], MDB_CREATE,
							     &s->dbi[i]))))
			goto fail;
	MDB_val k = {6, "schema"}, v;
	if (mdb_get(txn, s->dbi[STORE_META], &k, &v) == 0) {
		uint32_t ver = 0;
		if (v.mv_size == 4)
			memcpy(&ver, v.mv_data, 4);
		if (ver != SCHEMA_VERSION) {
			sw_err("storage: %s has schema version %u; this swarmdns reads version %u",
			       dir, ver, SCHEMA_VERSION);
			ret = SW_ESTORE;
			goto fail;
		}
	} else {
		uint32_t ver = SCHEMA_VERSION;
		v.mv_size = 4;
		v.mv_data = &ver;
		if ((ret = map_err("write schema", mdb_put(txn, s->dbi[STORE_META], &k, &v, 0))))
			goto fail;
	}
	ret = map_err("commit", mdb_txn_commit(txn));
	txn = NULL;
	if (ret)
		goto fail;
	*out = s;
	return 0;
fail:
	if (txn)
		mdb_txn_abort(txn);
	store_close(s);
	return ret;
}

void store_close(store_t *s)
{
	if (s == NULL)
		return;
	if (s->env)
		mdb_env_close(s->env);
	free(s);
}

int store_write(store_t *s, const store_op_t *ops, size_t n)
{
	MDB_txn *txn;
	int ret = map_err("begin", mdb_txn_begin(s->env, NULL, 0, &txn));
	if (ret)
		return ret;
	for (size_t i = 0; i < n && !ret; i++) {
		MDB_val k = {ops[i].klen, (void *)ops[i].key}, v = {ops[i].vlen, (void *)ops[i].val};
		if (ops[i].val) {
			ret = map_err("put", mdb_put(txn, s->dbi[ops[i].db], &k, &v, 0));
		} else {
			int rc = mdb_del(txn, s->dbi[ops[i].db], &k, NULL);
			ret = rc == MDB_NOTFOUND ? 0 : map_err("delete", rc);
		}
	}
	if (ret) {
		mdb_txn_abort(txn);
		return ret;
	}
	return map_err("commit", mdb_txn_commit(txn));
}

int store_put(store_t *s, store_db_t db, const void *key, size_t klen, const void *val,
	      size_t vlen)
{
	/* An empty value is still a value: val must not be NULL here. */
	store_op_t op = {db, key, klen, val ? val : (const void *)"", vlen};
	return store_write(s, &op, 1);
}

int store_del(store_t *s, store_db_t db, const void *key, size_t klen)
{
	store_op_t op = {db, key, klen, NULL, 0};
	return store_write(s, &op, 1);
}

int store_get(store_t *s, store_db_t db, const void *key, size_t klen, void *out, size_t cap,
	      size_t *len)
{
	MDB_txn *txn;
	int ret = map_err("begin", mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn));
	if (ret)
		return ret;
	MDB_val k = {klen, (void *)key}, v;
	int rc = mdb_get(txn, s->dbi[db], &k, &v);
	if (rc == MDB_NOTFOUND)
		ret = SW_ENOTFOUND;
	else if (rc != 0)
		ret = map_err("get", rc);
	else if (v.mv_size > cap)
		ret = SW_ENOSPC;
	else {
		/* LMDB's memory is valid only inside the transaction: copy out. */
		memcpy(out, v.mv_data, v.mv_size);
		*len = v.mv_size;
	}
	mdb_txn_abort(txn);
	return ret;
}

int store_foreach(store_t *s, store_db_t db,
		  int (*cb)(const void *key, size_t klen, const void *val, size_t vlen, void *ctx),
		  void *ctx)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	int ret = map_err("begin", mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn));
	if (ret)
		return ret;
	if ((ret = map_err("cursor", mdb_cursor_open(txn, s->dbi[db], &cur)))) {
		mdb_txn_abort(txn);
		return ret;
	}
	MDB_val k, v;
	int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0) {
		ret = cb(k.mv_data, k.mv_size, v.mv_data, v.mv_size, ctx);
		if (ret)
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		ret = map_err("read", rc);
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return ret;
}

int store_zone_put(store_t *s, const uint8_t pk[32], const uint8_t *relay, size_t len)
{
	return store_put(s, STORE_ZONES, pk, 32, relay, len);
}

int store_zone_del(store_t *s, const uint8_t pk[32])
{
	return store_del(s, STORE_ZONES, pk, 32);
}

typedef struct {
	int (*cb)(const uint8_t pk[32], const uint8_t *relay, size_t len, void *ctx);
	void *ctx;
} zone_walk_t;

static int zone_walk(const void *key, size_t klen, const void *val, size_t vlen, void *ctx)
{
	zone_walk_t *w = ctx;
	return klen == 32 ? w->cb(key, val, vlen, w->ctx) : 0;
}

int store_zone_foreach(store_t *s,
		       int (*cb)(const uint8_t pk[32], const uint8_t *relay, size_t len, void *ctx),
		       void *ctx)
{
	zone_walk_t w = {cb, ctx};
	return store_foreach(s, STORE_ZONES, zone_walk, &w);
}
