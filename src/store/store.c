#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include "common/err.h"
#include "common/log.h"
#include "store/store.h"

#define SCHEMA_VERSION 1
#define MAP_SIZE ((size_t)1 << 30) /* 1 GiB of address space; the file grows as used */

static const char *const db_names[STORE_DB_COUNT] = {"meta", "zones", "dht_items", "mlog",
						     "registrar"};

struct store {
	int lock_fd; /* LOCK_FILE, flock()ed while the store is open */
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

#define LOCK_FILE "swarmdns.lock"

/* Who holds the lock, from the PID it wrote and /proc/PID/cmdline (proc(5)), for the
 * message; what cannot be read is left out. */
static void lock_holder(int fd, char *out, size_t cap)
{
	char pid[32] = "", path[64], cmd[512];
	ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
	pid[n > 0 ? n : 0] = '\0';
	pid[strcspn(pid, "\n")] = '\0';
	long p = strtol(pid, NULL, 10);
	if (p <= 0) {
		snprintf(out, cap, "another process");
		return;
	}
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", p);
	FILE *f = fopen(path, "re");
	size_t len = f ? fread(cmd, 1, sizeof(cmd) - 1, f) : 0;
	if (f)
		fclose(f);
	while (len > 0 && cmd[len - 1] == '\0')
		len--;
	for (size_t i = 0; i < len; i++)
		if (cmd[i] == '\0')
			cmd[i] = ' ';
	cmd[len] = '\0';
	if (len)
		snprintf(out, cap, "PID %ld (%s)", p, cmd);
	else
		snprintf(out, cap, "PID %ld", p);
}

/* One node per data-dir: two would both write the DHT items and routing table and each serve
 * a view the other does not know of. The lock is flock(2)ed, so it goes with the process,
 * even after kill -9; the file keeps the PID of its holder for the message. */
static int lock_dir(store_t *s, const char *dir)
{
	char path[4200], holder[700], pid[32];
	snprintf(path, sizeof(path), "%s/" LOCK_FILE, dir);
	s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0) {
		int e = errno;
		sw_err("storage: cannot open the lock file %s: %s", path, strerror(e));
		return -e;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		if (e != EWOULDBLOCK) {
			sw_err("storage: cannot lock %s: %s", path, strerror(e));
			return -e;
		}
		lock_holder(s->lock_fd, holder, sizeof(holder));
		sw_err("storage: data-dir %s is in use by %s: one node per data-dir; stop that "
		       "node or give this one another data-dir",
		       dir, holder);
		return -EBUSY;
	}
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(s->lock_fd, 0) != 0 || pwrite(s->lock_fd, pid, (size_t)n, 0) != n)
		sw_warn("storage: cannot write the PID into %s: %s", path, strerror(errno));
	return 0;
}

int store_open(const char *dir, store_t **out)
{
	int ret;
	MDB_txn *txn = NULL;
	store_t *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return SW_ENOMEM;
	s->lock_fd = -1;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		ret = -errno;
		sw_err("storage: cannot create data directory %s: %s", dir, strerror(errno));
		goto fail;
	}
	if ((ret = lock_dir(s, dir)))
		goto fail;
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
		if ((ret = map_err(db_names[i],
				   mdb_dbi_open(txn, db_names[i], MDB_CREATE, &s->dbi[i]))))
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
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* releases the lock */
	free(s);
}

int store_write(store_t *s, const store_op_t *ops, size_t n)
{
	MDB_txn *txn;
	int ret = map_err("begin", mdb_txn_begin(s->env, NULL, 0, &txn));
	if (ret)
		return ret;
	for (size_t i = 0; i < n && !ret; i++) {
		MDB_val k = {ops[i].klen, (void *)ops[i].key},
			v = {ops[i].vlen, (void *)ops[i].val};
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

int store_put(store_t *s, store_db_t db, const void *key, size_t klen, const void *val, size_t vlen)
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
	return store_foreach_from(s, db, NULL, 0, cb, ctx);
}

int store_foreach_from(store_t *s, store_db_t db, const void *from, size_t from_len,
		       int (*cb)(const void *key, size_t klen, const void *val, size_t vlen,
				 void *ctx),
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
	MDB_val k = {.mv_size = from_len, .mv_data = (void *)from}, v;
	int rc = mdb_cursor_get(cur, &k, &v, from_len ? MDB_SET_RANGE : MDB_FIRST);
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
