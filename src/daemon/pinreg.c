/*
 * A pinned registry's items re-put from the DHT (see daemon/pinreg.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/log.h"
#include "crypto/crypto.h"
#include "daemon/pinreg.h"
#include "registry/audit.h"
#include "store/mlog.h"

/* Lookups of one round at once: a pinned registry of a million names must not take the
 * node's 128 lookups from its own zones and clients. */
#define PINREG_INFLIGHT 8

struct daemon_pinreg {
	net_dht_t *dht;
	uint8_t registry[32];
	char z32[SW_Z32_KEY_LEN + 1];
	char (*salts)[REG_LABEL_MAX + 1]; /* `_policy`, `_log`, then the live labels */
	size_t n, next, inflight, ended, put;
};

typedef struct {
	char (*salts)[REG_LABEL_MAX + 1];
	size_t n, cap;
} collect_t;

static int collect(void *ctx, const char *label, const reg_replay_label_t *st)
{
	collect_t *c = ctx;
	if (!st->registered)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		void *p = realloc(c->salts, cap * sizeof(*c->salts));
		if (p == NULL)
			return SW_ENOMEM;
		c->salts = p;
		c->cap = cap;
	}
	snprintf(c->salts[c->n++], sizeof(c->salts[0]), "%s", label);
	return 0;
}

static void on_put(void *ctx, const dht_put_result_t *res)
{
	(void)ctx;
	(void)res;
}

static void next_gets(daemon_pinreg_t *p);

static void on_get(void *ctx, const dht_get_result_t *res)
{
	daemon_pinreg_t *p = ctx;
	if (!res->done)
		return;
	if (res->item && dht_put(net_dht_node(p->dht), res->item, on_put, NULL) == 0)
		p->put++;
	p->inflight--;
	p->ended++;
	if (p->ended == p->n)
		sw_info("pinned registry %s: %zu of its %zu items re-put (policy, tree head and "
			"%zu live labels)",
			p->z32, p->put, p->n, p->n - 2);
	else
		next_gets(p);
}

static void next_gets(daemon_pinreg_t *p)
{
	while (p->inflight < PINREG_INFLIGHT && p->next < p->n) {
		uint8_t target[20];
		const char *salt = p->salts[p->next++];
		item_key_target(p->registry, (const uint8_t *)salt, strlen(salt), target);
		p->inflight++;
		if (dht_get(net_dht_node(p->dht), target, (const uint8_t *)salt, strlen(salt), true,
			    on_get, p) != 0) {
			/* Lookups busy: this item waits for the next round. */
			p->inflight--;
			p->ended++;
			if (p->ended == p->n)
				sw_info("pinned registry %s: %zu of its %zu items re-put", p->z32,
					p->put, p->n);
		}
	}
	net_dht_kick_soon(p->dht);
}

int daemon_pinreg_start(net_dht_t *dht, store_t *store, const uint8_t pk[32], daemon_pinreg_t **out)
{
	static uint8_t entry[STORE_MLOG_ENTRY_MAX];
	uint8_t seed[16];
	store_mlog_t *m = NULL;
	reg_replay_t *rp = NULL;
	collect_t c = {0};
	daemon_pinreg_t *p = NULL;
	int ret = store_mlog_open(store, pk, false, &m);
	if (ret)
		return ret;
	sw_random_bytes(seed, sizeof(seed));
	ret = SW_ENOMEM;
	if ((rp = reg_replay_new(seed)) == NULL || (p = calloc(1, sizeof(*p))) == NULL ||
	    collect(&c, "_policy", &(reg_replay_label_t){.registered = true}) ||
	    collect(&c, "_log", &(reg_replay_label_t){.registered = true}))
		goto fail;
	/* The live labels as the log says (a mirror holds only what it verified). */
	for (uint64_t i = 0; i < store_mlog_size(m); i++) {
		size_t len;
		reg_entry_t e;
		if ((ret = store_mlog_entry(m, i, entry, sizeof(entry), &len)))
			goto fail;
		if (reg_entry_parse(entry, len, &e) != 0)
			break; /* what follows cannot be replayed: the labels so far */
		if ((ret = reg_replay_add(rp, i, &e, NULL, 0)) == SW_ENOMEM)
			goto fail;
	}
	if ((ret = reg_replay_foreach(rp, collect, &c)))
		goto fail;
	p->dht = dht;
	memcpy(p->registry, pk, 32);
	sw_z32_encode_key(pk, p->z32);
	p->salts = c.salts;
	p->n = c.n;
	reg_replay_free(rp);
	store_mlog_close(m);
	next_gets(p);
	*out = p;
	return 0;
fail:
	free(c.salts);
	free(p);
	reg_replay_free(rp);
	store_mlog_close(m);
	return ret;
}

bool daemon_pinreg_done(const daemon_pinreg_t *p)
{
	return p->ended == p->n;
}

void daemon_pinreg_free(daemon_pinreg_t *p)
{
	if (p == NULL)
		return;
	free(p->salts);
	free(p);
}
