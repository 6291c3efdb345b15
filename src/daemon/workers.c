/*
 * Serving DNS on every core: see workers.h and docs/workers.md.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "daemon/daemon.h"
#include "daemon/querylog.h"
#include "daemon/reload.h"
#include "daemon/workers.h"
#include "daemon/zonefetch.h"
#include "dns/wire.h"
#include "net/net.h"
#include "item/item.h"
#include "zone/packet.h"

#define WORKERS_MAX 256
/* Lookups a worker may have asked the hub for and not yet seen started: more fail at once as
 * if the DHT's own pool were full (a bound on the queue, not on the DHT). */
#define HUB_QUEUE_MAX 4096

/* ---- messages between the threads ---- */

typedef enum {
	M_GET,	  /* worker -> hub: look pk (with salt) up for lookup id */
	M_CANCEL, /* worker -> hub: lookup id is no longer wanted */
	M_RESULT, /* hub -> worker: a report of lookup id */
	M_LEARN,  /* hub -> worker: the zone of pk a lookup for another worker gave */
	M_ZONE,	  /* main -> worker: own zone of pk put (data: relay form) or removed (len 0) */
	M_FLUSH,  /* main -> worker: resolver_cache_flush() (data: the name; len 0: all) */
	M_OFFER,  /* main -> worker: resolver_cache_offer() (data: relay form) */
	M_RELOAD, /* main -> worker: apply reload */
	M_STOP,	  /* main -> worker: stop serving */
} msg_type_t;

typedef struct {
	resolver_opts_t ropts;
	net_forward_opts_t fwd;
	net_tcp_opts_t tcp;
	net_tls_opts_t tls;
	net_tls_creds_t *creds;
	char query_log[CONF_PATH_LEN];
} reload_msg_t;

typedef struct msg {
	struct msg *next;
	msg_type_t type;
	unsigned worker;
	uint64_t id;
	uint8_t pk[32];
	uint8_t salt[64]; /* M_GET: a registry's item (docs/design.md §9); salt_len 0: a zone */
	uint8_t salt_len;
	resolver_dht_result_t res; /* M_RESULT; sig and packet point into this message */
	uint8_t sig[64];
	reload_msg_t *reload; /* M_RELOAD, freed with the message */
	uv_sem_t *done;	      /* posted once the worker has handled it; NULL: not waited for */
	size_t len;
	uint8_t data[ITEM_RELAY_MAX]; /* a packet, a relay-form item or a name */
} msg_t;

/* A thread's queue: filled by any thread under the mutex, drained by its owner's loop. */
typedef struct {
	uv_mutex_t mu;
	msg_t *head, *tail;
	size_t n;
	bool open; /* the async handle may be sent to */
	uv_async_t async;
} inbox_t;

static msg_t *msg_new(msg_type_t type)
{
	msg_t *m = malloc(sizeof(*m));
	if (m) {
		memset(m, 0, offsetof(msg_t, data));
		m->type = type;
	}
	return m;
}

/* Also releases whoever waits on m (post_all()): a message dropped unhandled (refused by a
 * closed inbox, or queued when it closed) must not leave the main loop waiting for ever. */
static void msg_free(msg_t *m)
{
	if (m == NULL)
		return;
	if (m->done)
		uv_sem_post(m->done);
	free(m->reload);
	free(m);
}

/* Appends m (taking it, also on failure). bounded: refused when HUB_QUEUE_MAX wait already.
 * Returns 0, or SW_ELIMIT (closed or full). */
static int inbox_post(inbox_t *ib, msg_t *m, bool bounded)
{
	int ret = 0;
	uv_mutex_lock(&ib->mu);
	if (!ib->open || (bounded && ib->n >= HUB_QUEUE_MAX)) {
		ret = SW_ELIMIT;
	} else {
		m->next = NULL;
		if (ib->tail)
			ib->tail->next = m;
		else
			ib->head = m;
		ib->tail = m;
		ib->n++;
		/* Under the mutex: the owner closes the handle only after taking the mutex. */
		uv_async_send(&ib->async);
	}
	uv_mutex_unlock(&ib->mu);
	if (ret)
		msg_free(m);
	return ret;
}

static msg_t *inbox_take(inbox_t *ib)
{
	uv_mutex_lock(&ib->mu);
	msg_t *m = ib->head;
	ib->head = ib->tail = NULL;
	ib->n = 0;
	uv_mutex_unlock(&ib->mu);
	return m;
}

/* Opens an inbox (its mutex was made with the set) on the loop of its owner. */
static void inbox_open(inbox_t *ib, uv_loop_t *loop, uv_async_cb cb, void *data)
{
	uv_async_init(loop, &ib->async, cb);
	ib->async.data = data;
	uv_mutex_lock(&ib->mu);
	ib->open = true;
	uv_mutex_unlock(&ib->mu);
}

/* No more messages; those queued are freed. */
static void inbox_close(inbox_t *ib)
{
	uv_mutex_lock(&ib->mu);
	bool was = ib->open;
	ib->open = false;
	uv_mutex_unlock(&ib->mu);
	if (was)
		uv_close((uv_handle_t *)&ib->async, NULL);
	for (msg_t *m = inbox_take(ib), *next; m; m = next) {
		next = m->next;
		msg_free(m);
	}
}

/* ---- the workers ---- */

typedef struct wlookup {
	struct wlookup *next;
	uint64_t id;
	resolver_dht_cb cb;
	void *cbctx;
} wlookup_t;

typedef struct hlookup hlookup_t;

typedef struct {
	daemon_workers_t *ws;
	unsigned idx;
	uv_loop_t own_loop, *loop; /* worker 0: the main loop */
	uv_thread_t thread;
	bool thread_started;
	inbox_t in;
	resolver_t *r; /* worker 0: the main loop's */
	net_forward_t *fwd;
	net_udp_t *udp[CONF_LISTEN_MAX];
	net_tcp_t *tcp[CONF_LISTEN_MAX];
	net_tls_t *dot[CONF_LISTEN_MAX], *doh[CONF_LISTEN_MAX];
	net_tls_creds_t *creds;
	daemon_qlog_t *qlog;
	wlookup_t *lookups; /* asked of the hub, not done */
	uint64_t next_id;
	/* Start-up: the main thread waits on started; err is the worker's start result. */
	uv_sem_t started;
	int err;
	const conf_t *conf;
	resolver_t *main_r;
} worker_t;

struct hlookup {
	hlookup_t *next;
	daemon_workers_t *ws;
	uint8_t pk[32];
	uint8_t salt[64]; /* one lookup per (key, salt), shared by the workers */
	uint8_t salt_len;
	daemon_zonefetch_t *fetch;
	struct {
		unsigned worker;
		uint64_t id;
	} * waiters;
	size_t nw, cap;
	/* The highest seq reported so far, for workers that join later and for the others at
	 * the end. */
	bool has_best, ready, converged;
	uint64_t seq;
	uint32_t nodes;
	uint8_t sig[64];
	uint8_t packet[ZONE_PACKET_MAX];
	size_t packet_len;
};

struct daemon_workers {
	unsigned n;
	uv_loop_t *main_loop;
	worker_t *w; /* n of them */
	inbox_t hub;
	hlookup_t *lookups;
	net_dht_t *dht;
	net_relay_t *relays;
	bool stopped;
	/* UDP on worker 1 alone until it is busy (docs/workers.md): the decision every
	 * STEER_TICK_MS, from worker 1's CPU clock and every worker's UDP query count. */
	unsigned spread_at; /* udp-spread-at; 0: the kernel spreads UDP always */
	unsigned n_udp;	    /* listen-dns addresses: one SO_REUSEPORT group each */
	daemon_steer_t steer;
	uv_timer_t steer_timer;
	bool steer_on;
	clockid_t clk;
	uint64_t last_ns, last_cpu, last_q;
};

/* ---- the workers' view of the DHT (resolver_io_t) ---- */

static uint64_t wio_now_ms(void *ctx)
{
	worker_t *w = ctx;
	return uv_now(w->loop);
}

static int wio_dht_get(void *ctx, const uint8_t pk[32], const uint8_t *salt, size_t salt_len,
		       resolver_dht_cb cb, void *cbctx)
{
	worker_t *w = ctx;
	if (salt_len > sizeof(((msg_t *)0)->salt))
		return SW_EINVAL;
	wlookup_t *l = malloc(sizeof(*l));
	msg_t *m = msg_new(M_GET);
	if (l == NULL || m == NULL) {
		free(l);
		free(m);
		return SW_ENOMEM;
	}
	l->id = m->id = ++w->next_id;
	l->cb = cb;
	l->cbctx = cbctx;
	m->worker = w->idx;
	memcpy(m->pk, pk, 32);
	if (salt_len)
		memcpy(m->salt, salt, salt_len); /* salt may be NULL */
	m->salt_len = (uint8_t)salt_len;
	if (inbox_post(&w->ws->hub, m, true) != 0) {
		free(l);
		return SW_ELIMIT;
	}
	l->next = w->lookups;
	w->lookups = l;
	return 0;
}

static void wio_dht_cancel(void *ctx, void *cbctx)
{
	worker_t *w = ctx;
	for (wlookup_t **p = &w->lookups, *l; (l = *p) != NULL;) {
		if (l->cbctx != cbctx) {
			p = &l->next;
			continue;
		}
		*p = l->next;
		msg_t *m = msg_new(M_CANCEL);
		if (m) {
			m->worker = w->idx;
			m->id = l->id;
			inbox_post(&w->ws->hub, m, false); /* a stopped hub needs none */
		}
		free(l);
	}
}

static size_t wio_fwd_cache(void *ctx, const uint8_t *q, size_t qlen, uint8_t *out, size_t cap)
{
	worker_t *w = ctx;
	return w->fwd ? net_forward_cache_answer(w->fwd, q, qlen, out, cap) : 0;
}

static int wio_fwd_query(void *ctx, const uint8_t *q, size_t qlen, resolver_fwd_cb cb, void *cbctx)
{
	worker_t *w = ctx;
	return w->fwd ? net_forward_query(w->fwd, q, qlen, cb, cbctx) : SW_ECONN;
}

static void wio_fwd_cancel(void *ctx, void *cbctx)
{
	worker_t *w = ctx;
	if (w->fwd)
		net_forward_cancel(w->fwd, cbctx);
}

typedef struct {
	uv_work_t req;
	void (*work)(void *arg);
	void (*done)(void *arg);
	void *arg;
} offload_t;

static void on_offload_work(uv_work_t *req)
{
	offload_t *o = req->data;
	o->work(o->arg);
}

static void on_offload_done(uv_work_t *req, int status)
{
	offload_t *o = req->data;
	(void)status; /* UV_ECANCELED: the work did not run, which o->arg knows itself */
	o->done(o->arg);
	free(o);
}

int daemon_offload(uv_loop_t *loop, void (*work)(void *arg), void (*done)(void *arg), void *arg)
{
	offload_t *o = malloc(sizeof(*o));
	if (o == NULL)
		return SW_ENOMEM;
	*o = (offload_t){.work = work, .done = done, .arg = arg};
	o->req.data = o;
	if (uv_queue_work(loop, &o->req, on_offload_work, on_offload_done) != 0) {
		free(o);
		return SW_ENOMEM;
	}
	return 0;
}

static int wio_offload(void *ctx, void (*work)(void *arg), void (*done)(void *arg), void *arg)
{
	worker_t *w = ctx;
	return daemon_offload(w->loop, work, done, arg);
}

/* io's label_verified hook is kept: every worker reports to the main loop's auditor. */
static void worker_io(worker_t *w, resolver_io_t *io)
{
	*io = (resolver_io_t){.ctx = w,
			      .now_ms = wio_now_ms,
			      .unix_s = daemon_unix_s,
			      .dht_get = wio_dht_get,
			      .dht_cancel = wio_dht_cancel,
			      .label_verified = io->label_verified,
			      .label_ctx = io->label_ctx,
			      .offload = wio_offload};
	if (w->fwd) {
		io->fwd_cache = wio_fwd_cache;
		io->fwd_query = wio_fwd_query;
		io->fwd_cancel = wio_fwd_cancel;
	}
}

/* ---- a worker's inbox ---- */

static void worker_stop_serving(worker_t *w)
{
	for (unsigned i = 0; i < CONF_LISTEN_MAX; i++) {
		net_udp_stop(w->udp[i]);
		net_tcp_stop(w->tcp[i]);
		net_tls_stop(w->dot[i]);
		net_tls_stop(w->doh[i]);
		w->udp[i] = NULL;
		w->tcp[i] = NULL;
		w->dot[i] = w->doh[i] = NULL;
	}
	/* Queries in flight upstream end without callbacks; the resolver answers their clients
	 * with nothing when it is freed. */
	net_forward_free(w->fwd);
	w->fwd = NULL;
	if (w->r)
		daemon_qlog_hook(w->r, NULL);
	daemon_qlog_close(w->qlog);
	w->qlog = NULL;
	inbox_close(&w->in);
}

static void on_result(worker_t *w, msg_t *m)
{
	wlookup_t **p = &w->lookups, *l;
	while ((l = *p) != NULL && l->id != m->id)
		p = &l->next;
	if (l == NULL)
		return; /* cancelled after the hub sent it */
	m->res.sig = m->sig;
	m->res.packet = m->data;
	if (m->res.done)
		*p = l->next;
	l->cb(l->cbctx, &m->res);
	if (m->res.done)
		free(l);
}

static void on_reload(worker_t *w, const reload_msg_t *rm)
{
	resolver_opts_t ro = rm->ropts;
	ro.io = resolver_opts(w->r)->io;
	int ret = resolver_reconfigure(w->r, &ro);
	if (ret)
		sw_err("reload: worker %u kept its previous resolver options: %s", w->idx,
		       sw_strerror(ret));
	if (w->fwd && (ret = net_forward_set_servers(w->fwd, &rm->fwd)) != 0)
		sw_err("reload: worker %u kept its upstream servers: %s", w->idx, sw_strerror(ret));
	for (unsigned i = 0; i < CONF_LISTEN_MAX; i++) {
		net_tcp_set_opts(w->tcp[i], &rm->tcp);
		net_tls_set_opts(w->dot[i], &rm->tls);
		net_tls_set_opts(w->doh[i], &rm->tls);
		if (rm->creds != w->creds) {
			net_tls_set_creds(w->dot[i], rm->creds);
			net_tls_set_creds(w->doh[i], rm->creds);
		}
	}
	w->creds = rm->creds;
	/* Opened again, changed or not: logrotate moves the file away. */
	daemon_qlog_t *q = NULL;
	if ((ret = daemon_qlog_open(w->loop, rm->query_log, &q)) != 0) {
		sw_err("reload: worker %u cannot open the query log %s: %s", w->idx, rm->query_log,
		       sw_strerror(ret));
		q = NULL;
	}
	daemon_qlog_hook(w->r, q);
	daemon_qlog_close(w->qlog);
	w->qlog = q;
}

static void worker_handle(worker_t *w, msg_t *m)
{
	item_t it;
	zone_t *z = NULL;
	switch (m->type) {
	case M_RESULT:
		on_result(w, m);
		break;
	case M_LEARN:
	case M_OFFER:
		if (item_relay_parse(m->pk, m->data, m->len, &it) == 0)
			resolver_cache_learn(w->r, m->pk, &it, m->res.converged, m->res.nodes);
		break;
	case M_ZONE:
		if (m->len == 0)
			resolver_zone_remove(w->r, m->pk);
		else if (item_relay_parse(m->pk, m->data, m->len, &it) == 0 &&
			 zone_build(m->pk, &it, &resolver_opts(w->r)->zone, &z) == 0)
			resolver_zone_put(w->r, z); /* verified on the main loop */
		break;
	case M_FLUSH:
		resolver_cache_flush(w->r, m->len ? m->data : NULL);
		break;
	case M_RELOAD:
		on_reload(w, m->reload);
		break;
	case M_STOP:
		worker_stop_serving(w);
		break;
	default:
		break;
	}
}

static void on_worker_inbox(uv_async_t *a)
{
	worker_t *w = a->data;
	for (msg_t *m = inbox_take(&w->in), *next; m; m = next) {
		next = m->next;
		worker_handle(w, m);
		msg_free(m);
	}
}

/* ---- the hub: DHT lookups for every worker, on the main loop ---- */

static void hub_post(daemon_workers_t *ws, unsigned worker, msg_t *m)
{
	inbox_post(&ws->w[worker].in, m, false);
}

static void hub_result(daemon_workers_t *ws, unsigned worker, uint64_t id,
		       const resolver_dht_result_t *rr)
{
	msg_t *m = msg_new(M_RESULT);
	if (m == NULL)
		return; /* the worker's lookup ends at its resolver's pending limit */
	m->id = id;
	m->res = *rr;
	m->res.sig = m->res.packet = NULL;
	if (rr->has_item && rr->packet_len <= ZONE_PACKET_MAX) {
		memcpy(m->sig, rr->sig, 64);
		memcpy(m->data, rr->packet, rr->packet_len);
	} else {
		m->res.has_item = false;
		m->res.packet_len = 0;
	}
	hub_post(ws, worker, m);
}

static void hlookup_free(hlookup_t *l)
{
	daemon_workers_t *ws = l->ws;
	for (hlookup_t **p = &ws->lookups; *p; p = &(*p)->next)
		if (*p == l) {
			*p = l->next;
			break;
		}
	free(l->waiters);
	free(l);
}

/* The best zone of l to every worker that did not ask (they asked nothing, or their own
 * lookup of it runs and reports to them). */
static void hub_learn(hlookup_t *l)
{
	daemon_workers_t *ws = l->ws;
	for (unsigned i = 0; i < ws->n; i++) {
		bool asked = false;
		for (size_t k = 0; k < l->nw && !asked; k++)
			asked = l->waiters[k].worker == i;
		msg_t *m;
		if (asked || (m = msg_new(M_LEARN)) == NULL)
			continue;
		memcpy(m->pk, l->pk, 32);
		m->res.converged = l->converged;
		m->res.nodes = l->nodes;
		if (item_relay_write_str(l->sig, l->seq, l->packet, l->packet_len, m->data,
					 sizeof(m->data), &m->len) == 0)
			hub_post(ws, i, m);
		else
			msg_free(m);
	}
}

static void on_hub_fetched(void *ctx, const resolver_dht_result_t *rr)
{
	hlookup_t *l = ctx;
	if (rr->has_item && rr->packet_len <= ZONE_PACKET_MAX &&
	    (!l->has_best || rr->seq > l->seq)) {
		l->has_best = true;
		l->seq = rr->seq;
		memcpy(l->sig, rr->sig, 64);
		memcpy(l->packet, rr->packet, rr->packet_len);
		l->packet_len = rr->packet_len;
		l->nodes = rr->nodes;
	}
	l->ready |= rr->ready || rr->done;
	l->converged = rr->converged;
	/* The other workers first, so that the zone is in every cache by the time the clients
	 * of this lookup have their answers (and may ask again, of any worker). A registry's
	 * item is not a zone: workers that did not ask look it up when they need it. */
	if ((rr->ready || rr->done) && l->has_best && l->salt_len == 0)
		hub_learn(l);
	for (size_t k = 0; k < l->nw; k++)
		hub_result(l->ws, l->waiters[k].worker, l->waiters[k].id, rr);
	if (rr->done)
		hlookup_free(l);
}

static void hub_get(daemon_workers_t *ws, const msg_t *m)
{
	resolver_dht_result_t fail = {.done = true, .err = SW_ECONN};
	hlookup_t *l = ws->lookups;
	while (l && (memcmp(l->pk, m->pk, 32) != 0 || l->salt_len != m->salt_len ||
		     memcmp(l->salt, m->salt, m->salt_len) != 0))
		l = l->next;
	if (l == NULL && !ws->stopped && (l = calloc(1, sizeof(*l))) != NULL) {
		l->ws = ws;
		memcpy(l->pk, m->pk, 32);
		memcpy(l->salt, m->salt, m->salt_len);
		l->salt_len = m->salt_len;
		int ret = daemon_zonefetch_start(ws->dht, ws->relays, m->pk, m->salt, m->salt_len,
						 on_hub_fetched, l, &l->fetch);
		if (ret) {
			fail.err = ret;
			free(l);
			l = NULL;
		} else {
			l->next = ws->lookups;
			ws->lookups = l;
		}
	}
	if (l && l->nw == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 4;
		void *p = realloc(l->waiters, cap * sizeof(*l->waiters));
		if (p) {
			l->waiters = p;
			l->cap = cap;
		}
	}
	if (l == NULL || l->nw == l->cap) {
		if (l && l->nw == 0) {
			daemon_zonefetch_cancel(l->fetch);
			hlookup_free(l);
		}
		hub_result(ws, m->worker, m->id, &fail);
		return;
	}
	l->waiters[l->nw].worker = m->worker;
	l->waiters[l->nw].id = m->id;
	l->nw++;
	if (l->has_best) { /* a lookup that runs already: what it found so far */
		resolver_dht_result_t rr = {.ready = l->ready,
					    .converged = l->converged,
					    .has_item = true,
					    .seq = l->seq,
					    .sig = l->sig,
					    .packet = l->packet,
					    .packet_len = l->packet_len,
					    .nodes = l->nodes};
		hub_result(ws, m->worker, m->id, &rr);
	}
}

static void hub_cancel(daemon_workers_t *ws, const msg_t *m)
{
	for (hlookup_t *l = ws->lookups; l; l = l->next)
		for (size_t k = 0; k < l->nw; k++) {
			if (l->waiters[k].worker != m->worker || l->waiters[k].id != m->id)
				continue;
			l->waiters[k] = l->waiters[--l->nw];
			if (l->nw == 0) { /* nobody waits: the lookup ends */
				daemon_zonefetch_cancel(l->fetch);
				hlookup_free(l);
			}
			return;
		}
}

static void on_hub_inbox(uv_async_t *a)
{
	daemon_workers_t *ws = a->data;
	for (msg_t *m = inbox_take(&ws->hub), *next; m; m = next) {
		next = m->next;
		if (m->type == M_GET)
			hub_get(ws, m);
		else if (m->type == M_CANCEL)
			hub_cancel(ws, m);
		msg_free(m);
	}
}

/* ---- worker 0's resolver, kept in step on every other worker ---- */

/* Sends a copy of tmpl to every other worker and waits until each has applied it, so that
 * when the API answers, every worker serves the change (docs/workers.md): the main loop waits
 * for microseconds, on changes that people make, never on queries. Workers never wait on the
 * main loop, so this cannot deadlock. */
static void post_all(daemon_workers_t *ws, const msg_t *tmpl)
{
	uv_sem_t done;
	unsigned posted = 0;
	uv_sem_init(&done, 0);
	for (unsigned i = 1; i < ws->n; i++) {
		msg_t *m = malloc(sizeof(*m));
		if (m == NULL) {
			sw_warn("worker %u missed an update of its zones: out of memory", i);
			continue;
		}
		memcpy(m, tmpl, sizeof(*m));
		m->done = &done;
		inbox_post(&ws->w[i].in, m, false); /* posts done once handled or refused */
		posted++;
	}
	while (posted--)
		uv_sem_wait(&done);
	uv_sem_destroy(&done);
}

static void on_zone_changed(void *ctx, const uint8_t pk[32], const zone_t *z)
{
	msg_t m;
	memset(&m, 0, sizeof(m));
	m.type = M_ZONE;
	memcpy(m.pk, pk, 32);
	if (z) {
		const uint8_t *body = zone_relay(z, &m.len);
		memcpy(m.data, body, m.len);
	}
	post_all(ctx, &m);
}

static void on_cache_flushed(void *ctx, const uint8_t *name)
{
	msg_t m;
	memset(&m, 0, sizeof(m));
	m.type = M_FLUSH;
	if (name) {
		m.len = dns_name_len(name);
		memcpy(m.data, name, m.len);
	}
	post_all(ctx, &m);
}

static void on_cache_offered(void *ctx, const uint8_t pk[32], const item_t *it)
{
	msg_t m;
	memset(&m, 0, sizeof(m));
	m.type = M_OFFER;
	memcpy(m.pk, pk, 32);
	if (item_relay_write(it, m.data, sizeof(m.data), &m.len) == 0)
		post_all(ctx, &m);
}

/* ---- UDP on one worker until it is busy (docs/workers.md) ---- */

/* The worker that takes UDP alone: 1, a serving thread with nothing else to do (worker 0's
 * loop also runs the DHT node and the API). It joined every SO_REUSEPORT group second. */
#define STEER_WORKER 1

bool daemon_steer_tick(daemon_steer_t *s, unsigned spread_at, double busy, double qps)
{
	bool was = s->spread;
	if (s->need == 0)
		s->need = STEER_CALM_TICKS;
	if (spread_at == 0) {
		s->spread = true;
	} else if (!s->spread) {
		/* A minute on one worker: the load that made it flap is gone. */
		if (++s->stable >= 60 * 1000 / STEER_TICK_MS)
			s->need = STEER_CALM_TICKS;
		if (qps >= 1000 && busy > 0) {
			double c = busy / qps;
			s->cost = s->cost > 0 ? 0.75 * s->cost + 0.25 * c : c;
		}
		/* Smoothed over about 3 ticks: a 100 ms burst is not a load. */
		s->busy = s->busy * 0.7 + busy * 0.3;
		if (s->busy * 100 > spread_at) {
			s->spread = true;
			s->calm = 0;
			/* Back to spreading within 10 s: wait twice as long before trying one
			 * worker again. */
			if (s->stable < 10 * 1000 / STEER_TICK_MS)
				s->need = s->need * 2 > STEER_CALM_TICKS_MAX ? STEER_CALM_TICKS_MAX
									     : s->need * 2;
		}
	} else {
		/* What one worker would be busy with: its cost per query as measured when it
		 * took them all (costs fall with load, so this errs towards spreading), or 20
		 * µs before any measurement. Back under 0.8 x spread_at, so that it does not
		 * flap at the edge. */
		double one = qps * (s->cost > 0 ? s->cost : 20e-6);
		s->calm = one * 100 < 0.8 * spread_at ? s->calm + 1 : 0;
		if (s->calm >= s->need) {
			s->spread = false;
			s->calm = 0;
			s->stable = 0;
			s->busy = one;
		}
	}
	s->changes += was != s->spread;
	return was != s->spread;
}

/* Points every UDP group at worker STEER_WORKER (spread false) or back to the kernel's hash.
 * On an error (a kernel without SO_ATTACH_REUSEPORT_CBPF) the node spreads from then on. */
static void steer_apply(daemon_workers_t *ws)
{
	int idx = ws->steer.spread ? -1 : STEER_WORKER;
	for (unsigned i = 0; i < ws->n_udp; i++) {
		int ret = net_udp_steer(ws->w[STEER_WORKER].udp[i], idx);
		if (ret == 0)
			continue;
		sw_warn("cannot steer UDP queries to one worker (%s); the kernel spreads them over "
			"every worker (set udp-spread-at 0 to silence this)",
			sw_strerror(ret));
		for (unsigned k = 0; k < ws->n_udp; k++)
			net_udp_steer(ws->w[STEER_WORKER].udp[k], -1);
		ws->steer.spread = true;
		ws->spread_at = 0;
		return;
	}
}

static uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;
	if (clock_gettime(clk, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_steer_tick(uv_timer_t *t)
{
	daemon_workers_t *ws = t->data;
	resolver_stats_t st;
	daemon_workers_stats(ws, ws->w[0].r, &st);
	uint64_t now = clock_ns(CLOCK_MONOTONIC), cpu = clock_ns(ws->clk),
		 q = st.queries[SW_TP_UDP];
	if (ws->last_ns && now > ws->last_ns && q >= ws->last_q) {
		double dt = (double)(now - ws->last_ns) / 1e9;
		double busy = (double)(cpu - ws->last_cpu) / 1e9 / dt;
		double qps = (double)(q - ws->last_q) / dt;
		if (daemon_steer_tick(&ws->steer, ws->spread_at, busy, qps)) {
			steer_apply(ws);
			if (ws->steer.spread)
				sw_info(
				    "UDP queries spread over %u workers: worker %u was %.0f%% busy "
				    "(udp-spread-at %u)",
				    ws->n, STEER_WORKER, ws->steer.busy * 100, ws->spread_at);
			else
				sw_info(
				    "UDP queries on worker %u alone again: %.0f a second, about "
				    "%.0f%% of a core there",
				    STEER_WORKER, qps, qps * ws->steer.cost * 100);
		}
	}
	ws->last_ns = now;
	ws->last_cpu = cpu;
	ws->last_q = q;
}

static void steer_start(daemon_workers_t *ws, const conf_t *c)
{
	ws->n_udp = c->n_listen_dns;
	ws->spread_at = c->udp_spread_at;
	ws->steer.spread = true;
	if (ws->n < 2 || ws->spread_at == 0 ||
	    pthread_getcpuclockid(ws->w[STEER_WORKER].thread, &ws->clk) != 0)
		return;
	ws->steer.spread = false;
	steer_apply(ws);
	if (ws->steer.spread)
		return;
	uv_timer_init(ws->main_loop, &ws->steer_timer);
	ws->steer_timer.data = ws;
	uv_timer_start(&ws->steer_timer, on_steer_tick, STEER_TICK_MS, STEER_TICK_MS);
	ws->steer_on = true;
}

bool daemon_workers_udp_spread(const daemon_workers_t *ws, uint64_t *changes)
{
	*changes = ws ? ws->steer.changes : 0;
	return ws && ws->steer.spread;
}

/* ---- starting and stopping ---- */

unsigned daemon_workers_count(const conf_t *c)
{
	if (c->workers)
		return c->workers;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > WORKERS_MAX ? WORKERS_MAX : (unsigned)n;
}

unsigned daemon_workers_pool_share(unsigned pool, unsigned n, unsigned i)
{
	if (pool == 0 || n <= 1)
		return pool;
	unsigned share = pool / n + (i < pool % n ? 1 : 0);
	return share ? share : 1; /* 0 would mean no pool at all */
}

int daemon_workers_new(uv_loop_t *loop, unsigned n, net_forward_t *fwd, daemon_workers_t **out)
{
	daemon_workers_t *ws = calloc(1, sizeof(*ws));
	if (ws == NULL || (ws->w = calloc(n, sizeof(*ws->w))) == NULL) {
		free(ws);
		return SW_ENOMEM;
	}
	ws->n = n;
	ws->main_loop = loop;
	for (unsigned i = 0; i < n; i++) {
		ws->w[i].ws = ws;
		ws->w[i].idx = i;
	}
	worker_t *w0 = &ws->w[0];
	w0->loop = loop;
	w0->fwd = fwd;
	uv_mutex_init(&ws->hub.mu);
	for (unsigned i = 0; i < n; i++)
		uv_mutex_init(&ws->w[i].in.mu);
	inbox_open(&ws->hub, loop, on_hub_inbox, ws);
	inbox_open(&w0->in, loop, on_worker_inbox, w0);
	*out = ws;
	return 0;
}

void daemon_workers_io(daemon_workers_t *ws, resolver_io_t *io)
{
	worker_io(&ws->w[0], io);
}

static void copy_zone(const zone_t *z, void *ctx)
{
	worker_t *w = ctx;
	item_t it;
	zone_t *copy = NULL;
	zone_item(z, &it);
	if (zone_build(zone_key(z), &it, &resolver_opts(w->r)->zone, &copy) == 0)
		resolver_zone_put(w->r, copy);
}

static int worker_listen(worker_t *w)
{
	const conf_t *c = w->conf;
	net_tcp_opts_t topts;
	daemon_tcp_opts(c, &topts);
	topts.reuseport = true;
	int ret = 0;
	for (unsigned i = 0; i < c->n_listen_dns && ret == 0; i++) {
		struct sockaddr_storage ss;
		ret = net_addr_parse(c->listen_dns[i], &ss);
		if (ret == 0)
			ret = net_udp_start(w->loop, (struct sockaddr *)&ss, w->r, c->udp_rcvbuf,
					    true, &w->udp[i]);
		if (ret == 0)
			ret = net_tcp_start(w->loop, (struct sockaddr *)&ss, w->r, &topts,
					    &w->tcp[i]);
		if (ret)
			sw_err("worker %u cannot listen for DNS on %s: %s (%s --listen-dns)",
			       w->idx, c->listen_dns[i], sw_strerror(ret), net_listen_hint(ret));
	}
	net_tls_opts_t o;
	daemon_tls_opts(c, &o);
	o.reuseport = true;
	for (int proto = NET_TLS_DOT; proto <= NET_TLS_DOH && ret == 0; proto++) {
		unsigned cnt = proto == NET_TLS_DOT ? c->n_listen_dot : c->n_listen_doh;
		for (unsigned i = 0; i < cnt && ret == 0; i++) {
			const char *a = proto == NET_TLS_DOT ? c->listen_dot[i] : c->listen_doh[i];
			struct sockaddr_storage ss;
			ret = net_addr_parse(a, &ss);
			if (ret == 0)
				ret = net_tls_start(w->loop, (struct sockaddr *)&ss, proto,
						    w->creds, w->r, &o,
						    proto == NET_TLS_DOT ? &w->dot[i] : &w->doh[i]);
			if (ret)
				sw_err("worker %u cannot listen for DNS over %s on %s: %s", w->idx,
				       proto == NET_TLS_DOT ? "TLS" : "HTTPS", a, sw_strerror(ret));
		}
	}
	return ret;
}

/* A worker's start on its own thread: the main thread waits on w->started meanwhile, so the
 * main resolver's own zones can be read here. */
static int worker_init(worker_t *w)
{
	const conf_t *c = w->conf;
	int ret;
	inbox_open(&w->in, w->loop, on_worker_inbox, w);
	if (w->ws->w[0].fwd) {
		net_forward_opts_t fo;
		if ((ret = daemon_forward_opts(c, &fo)) != 0 ||
		    (ret = net_forward_new(w->loop, &fo, &w->fwd)) != 0) {
			sw_err("worker %u cannot start its forwarder: %s", w->idx,
			       sw_strerror(ret));
			return ret;
		}
	}
	/* The main resolver's options, seeds and cookie secret included: a server cookie
	 * given by one worker is valid at every other (RFC 7873 §6). */
	resolver_opts_t ro = *resolver_opts(w->main_r);
	ro.lookup_pool = daemon_workers_pool_share(c->lookup_pool, w->ws->n, w->idx);
	worker_io(w, &ro.io);
	if ((ret = resolver_new(&ro, &w->r)) != 0)
		return ret;
	resolver_zone_foreach(w->main_r, copy_zone, w);
	if ((ret = daemon_qlog_open(w->loop, c->query_log, &w->qlog)) != 0) {
		sw_err("worker %u cannot open the query log %s: %s", w->idx, c->query_log,
		       sw_strerror(ret));
		return ret;
	}
	daemon_qlog_hook(w->r, w->qlog);
	return worker_listen(w);
}

static void worker_main(void *arg)
{
	worker_t *w = arg;
	/* Named in ps -L, top -H and /proc/<pid>/task/<tid>/comm (prctl(2) PR_SET_NAME). */
	char name[16];
	snprintf(name, sizeof(name), "swarmdns-w%u", w->idx);
	prctl(PR_SET_NAME, name, 0, 0, 0);
	int ret = uv_loop_init(&w->own_loop);
	if (ret) {
		w->err = ret;
		uv_sem_post(&w->started);
		return;
	}
	w->loop = &w->own_loop;
	if ((ret = worker_init(w)) != 0)
		worker_stop_serving(w); /* the loop below closes what was opened */
	w->err = ret;
	uv_sem_post(&w->started);
	uv_run(w->loop, UV_RUN_DEFAULT);
	uv_loop_close(w->loop);
	/* Its clients waiting on the DHT or upstream get nothing (their listeners are gone). */
	resolver_free(w->r);
	w->r = NULL;
	for (wlookup_t *l = w->lookups, *next; l; l = next) {
		next = l->next;
		free(l);
	}
	w->lookups = NULL;
	if (ret == 0)
		sw_info("worker %u stopped", w->idx);
}

int daemon_workers_start(daemon_workers_t *ws, const conf_t *c, resolver_t *r, net_dht_t *dht,
			 net_relay_t *relays, net_tls_creds_t *creds)
{
	ws->dht = dht;
	ws->relays = relays;
	ws->w[0].r = r;
	for (unsigned i = 1; i < ws->n; i++) {
		worker_t *w = &ws->w[i];
		w->conf = c;
		w->main_r = r;
		w->creds = creds;
		uv_sem_init(&w->started, 0);
		int ret = uv_thread_create(&w->thread, worker_main, w);
		if (ret == 0) {
			w->thread_started = true;
			uv_sem_wait(&w->started);
			ret = w->err;
		}
		uv_sem_destroy(&w->started);
		if (ret) {
			sw_err("cannot start serving worker %u: %s", i, sw_strerror(ret));
			return ret;
		}
	}
	resolver_hooks_t h = {.ctx = ws,
			      .zone_changed = on_zone_changed,
			      .cache_flushed = on_cache_flushed,
			      .cache_offered = on_cache_offered};
	resolver_set_hooks(r, &h);
	steer_start(ws, c);
	if (ws->steer.spread)
		sw_info(
		    "serving DNS on %u workers (threads with SO_REUSEPORT sockets of their own)",
		    ws->n);
	else
		sw_info(
		    "serving DNS on %u workers (threads with SO_REUSEPORT sockets of their own); "
		    "UDP on worker %u alone until it is %u%% busy (udp-spread-at)",
		    ws->n, STEER_WORKER, ws->spread_at);
	return 0;
}

void daemon_workers_reload(daemon_workers_t *ws, const conf_t *c, const resolver_t *r,
			   net_tls_creds_t *creds)
{
	if (ws->steer_on) {
		ws->spread_at = c->udp_spread_at; /* 0: spread at the next tick, and stay so */
	} else if (c->udp_spread_at && !ws->stopped) {
		steer_start(ws, c);
		if (!ws->steer.spread)
			sw_info("UDP on worker %u alone until it is %u%% busy (udp-spread-at)",
				STEER_WORKER, ws->spread_at);
	}
	/* Waited for as post_all() does: when the reload answers, every worker applied it. */
	uv_sem_t done;
	unsigned posted = 0;
	uv_sem_init(&done, 0);
	for (unsigned i = 1; i < ws->n; i++) {
		msg_t *m = msg_new(M_RELOAD);
		reload_msg_t *rm = m ? calloc(1, sizeof(*rm)) : NULL;
		if (rm == NULL) {
			free(m);
			sw_err("reload: worker %u not reloaded: out of memory", i);
			continue;
		}
		rm->ropts = *resolver_opts(r);
		if (daemon_forward_opts(c, &rm->fwd) != 0)
			net_forward_opts_init(&rm->fwd);
		daemon_tcp_opts(c, &rm->tcp);
		daemon_tls_opts(c, &rm->tls);
		rm->creds = creds;
		snprintf(rm->query_log, sizeof(rm->query_log), "%s", c->query_log);
		m->reload = rm;
		m->done = &done;
		inbox_post(&ws->w[i].in, m, false);
		posted++;
	}
	while (posted--)
		uv_sem_wait(&done);
	uv_sem_destroy(&done);
}

void daemon_workers_stop(daemon_workers_t *ws)
{
	if (ws == NULL || ws->stopped)
		return;
	ws->stopped = true;
	if (ws->steer_on) {
		uv_timer_stop(&ws->steer_timer);
		uv_close((uv_handle_t *)&ws->steer_timer, NULL);
		ws->steer_on = false;
	}
	if (ws->w[0].r)
		resolver_set_hooks(ws->w[0].r, NULL);
	for (unsigned i = 1; i < ws->n; i++) {
		worker_t *w = &ws->w[i];
		if (!w->thread_started)
			continue;
		msg_t *m = msg_new(M_STOP);
		if (m)
			hub_post(ws, i, m);
		uv_thread_join(&w->thread);
		w->thread_started = false;
	}
	/* The hub's lookups end without reports; worker 0's resolver answers its waiters when
	 * it is freed. */
	while (ws->lookups) {
		daemon_zonefetch_cancel(ws->lookups->fetch);
		hlookup_free(ws->lookups);
	}
	inbox_close(&ws->hub);
	inbox_close(&ws->w[0].in);
}

void daemon_workers_free(daemon_workers_t *ws)
{
	if (ws == NULL)
		return;
	for (unsigned i = 0; i < ws->n; i++) {
		worker_t *w = &ws->w[i];
		for (wlookup_t *l = w->lookups, *next; l; l = next) {
			next = l->next;
			free(l);
		}
		uv_mutex_destroy(&w->in.mu);
	}
	uv_mutex_destroy(&ws->hub.mu);
	free(ws->w);
	free(ws);
}

void daemon_workers_stats(const daemon_workers_t *ws, const resolver_t *r, resolver_stats_t *out)
{
	*out = *resolver_stats(r);
	_Static_assert(sizeof(resolver_stats_t) % sizeof(uint64_t) == 0, "64-bit counters only");
	uint64_t *sum = (uint64_t *)out;
	for (unsigned i = 1; ws && i < ws->n; i++) {
		const resolver_t *wr = ws->w[i].r;
		if (wr == NULL)
			continue;
		const uint64_t *c = (const uint64_t *)resolver_stats(wr);
		for (size_t k = 0; k < sizeof(*out) / sizeof(uint64_t); k++)
			sum[k] += __atomic_load_n(&c[k], __ATOMIC_RELAXED);
	}
}
