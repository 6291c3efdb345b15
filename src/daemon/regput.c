/*
 * The queued DHT puts: the registries', the own zones' and the pins' (regput.h).
 */
#include "daemon/regput.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/log.h"
#include "conf/conf.h"

/* When the DHT refused a put for want of lookups and none of ours is running to call back. */
#define RETRY_MS 100
/* A put that reached no DHT node although the routing table has some (every node it asked
 * timed out: a loaded or restarting neighbourhood) says nothing about its item. The item goes
 * back to the head of the queue without using an attempt, up to STALLS times, and the queue
 * waits RETRY_MS, doubling while no put reaches a node (about 25 s in all): without it, the 3
 * quick attempts of an item went by while its nodes were stopped (tests/e2e/test_registry.py)
 * and the name stayed out of the DHT until the next republish round. (The 327 puts within one
 * second "stored by 0 of 0" that a registrar's log showed were writes dropped for a full
 * transaction table, fixed in the DHT: put_phase_send().) With no node at all (`bootstrap
 * none`) puts fail as before, so that the queue does not grow with every registration. */
#define STALLS 8
#define STALL_MAX_MS (RETRY_MS << (STALLS - 1))
/* A put that fewer than STORED_MIN nodes stored (half of BEP 5's K = 8: replies that came
 * too late, as on a loaded machine, and a lookup that ended with few tokens) goes to the end
 * of the queue again, this many times in all. On a DHT of fewer nodes every put is tried
 * ATTEMPTS times. */
#define ATTEMPTS 3
#define STORED_MIN 4

typedef struct entry {
	struct entry *next, **pprev; /* pprev: in the running list */
	struct daemon_regput *q;
	unsigned attempts, stalls;
	item_t it;
} entry_t;

struct daemon_regput {
	uv_timer_t retry;
	net_dht_t *dht;
	entry_t *head, *tail; /* label items and the policy, in order */
	entry_t *puts;	      /* running, each the context of its put */
	/* The newest tree head of each registry, put before the label items. */
	item_t heads[CONF_REGISTRAR_MAX];
	bool head_waiting[CONF_REGISTRAR_MAX];
	size_t waiting, running;
	uint64_t stall_ms; /* the wait after a put reached no node; 0: not stalled */
	/* The walks of the registries' label items (daemon_regput_walk()). */
	struct {
		const registrar_t *r; /* NULL: none */
		char cursor[REG_LABEL_MAX + 1];
		size_t n;
	} walks[CONF_REGISTRAR_MAX];
};

static void drain(daemon_regput_t *q);

static void enqueue(daemon_regput_t *q, entry_t *e)
{
	e->next = NULL;
	if (q->tail)
		q->tail->next = e;
	else
		q->head = e;
	q->tail = e;
	q->waiting++;
}

/* The retry timer: after a refusal for want of lookups, or the wait of a stall (the puts it
 * sends end it when one reaches a node, or double the wait). */
static void on_retry(uv_timer_t *t)
{
	drain(t->data);
}

static void enqueue_front(daemon_regput_t *q, entry_t *e)
{
	e->next = q->head;
	q->head = e;
	if (q->tail == NULL)
		q->tail = e;
	q->waiting++;
}

static bool dht_has_nodes(const daemon_regput_t *q)
{
	dht_counters_t c;
	dht_counters(net_dht_node(q->dht), &c);
	return c.rt_nodes > 0;
}

static void on_put(void *ctx, const dht_put_result_t *res)
{
	entry_t *e = ctx;
	daemon_regput_t *q = e->q;
	sw_debug("queued item put: stored by %d of %d DHT nodes", res->stored, res->asked);
	*e->pprev = e->next;
	if (e->next)
		e->next->pprev = e->pprev;
	q->running--;
	if (res->asked == 0 && e->stalls < STALLS && dht_has_nodes(q)) {
		e->attempts--;
		e->stalls++;
		enqueue_front(q, e);
		if (q->stall_ms == 0 || !uv_is_active((uv_handle_t *)&q->retry)) {
			q->stall_ms = q->stall_ms == 0		       ? RETRY_MS
				      : q->stall_ms * 2 > STALL_MAX_MS ? STALL_MAX_MS
								       : q->stall_ms * 2;
			uv_timer_start(&q->retry, on_retry, q->stall_ms, 0);
		}
		return;
	}
	if (q->stall_ms) { /* the DHT answers again */
		q->stall_ms = 0;
		uv_timer_stop(&q->retry);
	}
	if (res->stored < STORED_MIN && e->attempts < ATTEMPTS)
		enqueue(q, e);
	else
		free(e);
	drain(q);
}

/* Starts the put of e (taking it), or 0 with e freed when the item cannot be put; SW_ELIMIT
 * when the DHT has no lookup free (e is still the caller's). */
static int put_one(daemon_regput_t *q, entry_t *e)
{
	int ret = dht_put(net_dht_node(q->dht), &e->it, on_put, e);
	if (ret == SW_ELIMIT)
		return ret;
	if (ret) {
		sw_warn("registry item not put: %s", sw_strerror(ret));
		free(e);
		return 0;
	}
	e->attempts++;
	e->next = q->puts;
	if (q->puts)
		q->puts->pprev = &e->next;
	e->pprev = &q->puts;
	q->puts = e;
	q->running++;
	return 0;
}

static entry_t *entry_new(daemon_regput_t *q, const item_t *it)
{
	entry_t *e = malloc(sizeof(*e));
	if (e) {
		e->q = q;
		e->attempts = 0;
		e->stalls = 0;
		e->it = *it;
	}
	return e;
}

static void walk_item(void *ctx, const item_t *it)
{
	daemon_regput_t *q = ctx;
	entry_t *e = entry_new(q, it);
	if (e)
		enqueue(q, e);
}

/* An empty queue takes the next label items of the registries' walks, as many as may run. */
static void refill(daemon_regput_t *q)
{
	for (size_t i = 0; i < CONF_REGISTRAR_MAX && q->head == NULL; i++) {
		if (q->walks[i].r == NULL)
			continue;
		bool end = false;
		size_t before = q->waiting;
		int ret = registrar_next_items(q->walks[i].r, q->walks[i].cursor,
					       DAEMON_REGPUT_INFLIGHT, walk_item, q, &end);
		q->walks[i].n += q->waiting - before;
		if (ret || end) {
			char z32[SW_Z32_KEY_LEN + 1];
			sw_z32_encode_key(registrar_key(q->walks[i].r), z32);
			if (ret)
				sw_warn("registry %s: label items not re-put: %s", z32,
					sw_strerror(ret));
			sw_info("registry %s: %zu label items re-put this round", z32,
				q->walks[i].n);
			q->walks[i].r = NULL;
		}
	}
}

static void drain(daemon_regput_t *q)
{
	bool sent = false;
	/* Stalled: the retry timer drains when it fires. */
	if (q->stall_ms && uv_is_active((uv_handle_t *)&q->retry))
		return;
	for (size_t i = 0; i < CONF_REGISTRAR_MAX && q->running < DAEMON_REGPUT_INFLIGHT; i++) {
		if (!q->head_waiting[i])
			continue;
		entry_t *e = entry_new(q, &q->heads[i]);
		if (e == NULL)
			break; /* the head waits for the next turn */
		if (put_one(q, e)) {
			free(e);
			goto busy;
		}
		q->head_waiting[i] = false;
		q->waiting--;
		sent = true;
	}
	while (q->running < DAEMON_REGPUT_INFLIGHT) {
		if (q->head == NULL)
			refill(q);
		if (q->head == NULL)
			break;
		entry_t *e = q->head, *next = e->next;
		if (put_one(q, e))
			goto busy;
		q->head = next;
		if (q->head == NULL)
			q->tail = NULL;
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

int daemon_regput_walk(daemon_regput_t *q, const registrar_t *r)
{
	size_t free_slot = CONF_REGISTRAR_MAX;
	for (size_t i = 0; i < CONF_REGISTRAR_MAX; i++) {
		if (q->walks[i].r == r)
			return 0; /* still walking from the last round: it goes on */
		if (q->walks[i].r == NULL && free_slot == CONF_REGISTRAR_MAX)
			free_slot = i;
	}
	if (free_slot == CONF_REGISTRAR_MAX)
		return SW_ENOMEM;
	q->walks[free_slot].r = r;
	q->walks[free_slot].cursor[0] = 0;
	q->walks[free_slot].n = 0;
	drain(q);
	return 0;
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
	entry_t *e = entry_new(q, it);
	if (e == NULL)
		return SW_ENOMEM;
	enqueue(q, e);
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
	while (q->puts) {
		entry_t *e = q->puts;
		q->puts = e->next;
		dht_cancel(net_dht_node(q->dht), e);
		free(e);
	}
	while (q->head) {
		entry_t *e = q->head;
		q->head = e->next;
		free(e);
	}
	uv_close((uv_handle_t *)&q->retry, on_closed);
}
