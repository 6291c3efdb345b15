/*
 * The registries' DHT puts, queued (regput.h).
 */
#include "daemon/regput.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "conf/conf.h"

/* When the DHT refused a put for want of lookups and none of ours is running to call back. */
#define RETRY_MS 100

typedef struct entry {
	struct entry *next;
	item_t it;
} entry_t;

struct daemon_regput {
	uv_timer_t retry;
	net_dht_t *dht;
	entry_t *head, *tail; /* label items and the policy, in order */
	/* The newest tree head of each registry, put before the label items. */
	item_t heads[CONF_REGISTRAR_MAX];
	bool head_waiting[CONF_REGISTRAR_MAX];
	size_t waiting, running;
};

static void drain(daemon_regput_t *q);

static void on_put(void *ctx, const dht_put_result_t *res)
{
	daemon_regput_t *q = ctx;
	sw_debug("registry item put: stored by %d of %d DHT nodes", res->stored, res->asked);
	q->running--;
	drain(q);
}

static void on_retry(uv_timer_t *t)
{
	drain(t->data);
}

/* 0, or SW_ELIMIT when the DHT has no lookup free (the item stays queued). */
static int put_one(daemon_regput_t *q, const item_t *it)
{
	int ret = dht_put(net_dht_node(q->dht), it, on_put, q);
	if (ret == SW_ELIMIT)
		return ret;
	if (ret)
		sw_warn("registry item not put: %s", sw_strerror(ret));
	else
		q->running++;
	return 0;
}

static void drain(daemon_regput_t *q)
{
	bool sent = false;
	for (size_t i = 0; i < CONF_REGISTRAR_MAX && q->running < DAEMON_REGPUT_INFLIGHT; i++) {
		if (!q->head_waiting[i])
			continue;
		if (put_one(q, &q->heads[i]))
			goto busy;
		q->head_waiting[i] = false;
		q->waiting--;
		sent = true;
	}
	while (q->head && q->running < DAEMON_REGPUT_INFLIGHT) {
		entry_t *e = q->head;
		if (put_one(q, &e->it))
			goto busy;
		q->head = e->next;
		if (q->head == NULL)
			q->tail = NULL;
		free(e);
		q->waiting--;
		sent = true;
	}
	goto out;
busy:
	/* The DHT is full of other lookups: ours that end call drain() again, else a timer. */
	if (q->running == 0)
		uv_timer_start(&q->retry, on_retry, RETRY_MS, 0);
out:
	if (sent)
		net_dht_kick_soon(q->dht);
}

static bool is_head(const item_t *it)
{
	return it->salt_len == 4 && memcmp(it->salt, "_log", 4) == 0;
}

int daemon_regput_add(daemon_regput_t *q, const item_t *it)
{
	if (is_head(it)) {
		size_t free_slot = CONF_REGISTRAR_MAX;
		for (size_t i = 0; i < CONF_REGISTRAR_MAX; i++) {
			if (q->head_waiting[i] &&
			    memcmp(q->heads[i].k, it->k, sizeof(it->k)) == 0) {
				q->heads[i] = *it; /* a newer head covers the older one's entries */
				return 0;
			}
			if (!q->head_waiting[i] && free_slot == CONF_REGISTRAR_MAX)
				free_slot = i;
		}
		if (free_slot < CONF_REGISTRAR_MAX) {
			q->heads[free_slot] = *it;
			q->head_waiting[free_slot] = true;
			q->waiting++;
			drain(q);
			return 0;
		}
	}
	entry_t *e = malloc(sizeof(*e));
	if (e == NULL)
		return SW_ENOMEM;
	e->next = NULL;
	e->it = *it;
	if (q->tail)
		q->tail->next = e;
	else
		q->head = e;
	q->tail = e;
	q->waiting++;
	drain(q);
	return 0;
}

size_t daemon_regput_waiting(const daemon_regput_t *q)
{
	return q->waiting;
}

size_t daemon_regput_running(const daemon_regput_t *q)
{
	return q->running;
}

int daemon_regput_new(uv_loop_t *loop, net_dht_t *dht, daemon_regput_t **out)
{
	daemon_regput_t *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return SW_ENOMEM;
	q->dht = dht;
	uv_timer_init(loop, &q->retry);
	q->retry.data = q;
	*out = q;
	return 0;
}

static void on_closed(uv_handle_t *h)
{
	free(h->data);
}

void daemon_regput_free(daemon_regput_t *q)
{
	if (q == NULL)
		return;
	dht_cancel(net_dht_node(q->dht), q);
	while (q->head) {
		entry_t *e = q->head;
		q->head = e->next;
		free(e);
	}
	uv_close((uv_handle_t *)&q->retry, on_closed);
}
