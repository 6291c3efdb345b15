/*
 * The pkarr relay client (see relay.h): `GET <relay>/<z32>` and `PUT <relay>/<z32>` as pkarr's
 * design/relays.md says (200 with the item, 404 when the relay has none; PUT answers 204), on
 * the shared HTTP client (src/net/http.c).
 */
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/log.h"
#include "net/http.h"
#include "net/relay.h"

#define URL_MAX 320
#define DEFAULT_TIMEOUT_MS 2000
#define DEFAULT_MAX_REQUESTS 64
/* pkarr design/relays.md "PUT": the body's media type. */
#define PAYLOAD_TYPE "Content-Type: application/pkarr.org/relays#payload"

const char *const net_relay_op_names[NET_RELAY_OPS] = {"get", "put"};
const char *const net_relay_result_names[NET_RELAY_RESULTS] = {"ok", "not_found", "bad", "error",
							       "limited"};

struct net_relay {
	net_http_t *http;
	char (*urls)[URL_MAX];
	size_t n;
	net_relay_opts_t o;
	char *cafile; /* NULL: the system's CA store */
	unsigned inflight;
	net_relay_stats_t stats;
	net_relay_get_t *gets; /* GETs in flight, for net_relay_free() */
	struct put *puts;      /* PUTs in flight, likewise */
};

/* A PUT to every relay with a callback: what its requests (put_t) report to. Freed when the
 * last of them ends, also after net_relay_put_cancel() (then cb is NULL). */
struct net_relay_put {
	net_relay_put_cb cb;
	void *ctx;
	unsigned pending, stored, asked;
};

/* One PUT to one relay, in the background. */
typedef struct put {
	net_relay_t *rl;
	struct put *prev, *next;
	size_t relay;
	net_relay_put_t *all; /* NULL: fire and forget */
} put_t;

/* One request of a GET, to one relay. */
typedef struct {
	net_relay_get_t *g;
	net_http_req_t *req; /* NULL: finished or not sent */
	size_t relay;
} sub_t;

struct net_relay_get {
	net_relay_t *rl;
	net_relay_get_t *prev, *next;
	uint8_t pk[32];
	net_relay_get_cb cb;
	void *ctx;
	size_t pending;
	bool found, notfound, in_cb, cancelled;
	sub_t subs[];
};

static int relay_url(const net_relay_t *rl, size_t i, const uint8_t pk[32], char *out, size_t cap)
{
	char z32[SW_Z32_KEY_LEN + 1];
	sw_z32_encode_key(pk, z32);
	int n = snprintf(out, cap, "%s/%s", rl->urls[i], z32);
	return n > 0 && (size_t)n < cap ? 0 : SW_ENOSPC;
}

int net_relay_new(uv_loop_t *loop, const char *const *urls, size_t n, const net_relay_opts_t *opts,
		  net_relay_t **out)
{
	net_relay_t *rl = calloc(1, sizeof(*rl));
	int ret = SW_ENOMEM;
	if (rl == NULL || (rl->urls = calloc(n ? n : 1, sizeof(*rl->urls))) == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(urls[i]);
		while (l > 0 && urls[i][l - 1] == '/')
			l--;
		ret = SW_EINVAL;
		if ((strncmp(urls[i], "http://", 7) != 0 && strncmp(urls[i], "https://", 8) != 0) ||
		    l + 1 + SW_Z32_KEY_LEN >= URL_MAX)
			goto fail;
		memcpy(rl->urls[i], urls[i], l);
		rl->urls[i][l] = '\0';
	}
	rl->n = n;
	if (opts)
		rl->o = *opts;
	rl->o.cafile = NULL;
	if (opts && opts->cafile && opts->cafile[0] && (rl->cafile = strdup(opts->cafile)) == NULL)
		goto fail;
	if (rl->o.timeout_ms == 0)
		rl->o.timeout_ms = DEFAULT_TIMEOUT_MS;
	if (rl->o.max_requests == 0)
		rl->o.max_requests = DEFAULT_MAX_REQUESTS;
	/* Relays speak HTTP/2 where they can: every request to one relay on one connection. */
	net_http_opts_t ho = {.max_host_connections = 2};
	if ((ret = net_http_new(loop, &ho, &rl->http)) != 0)
		goto fail;
	*out = rl;
	return 0;
fail:
	if (rl) {
		free(rl->urls);
		free(rl->cafile);
	}
	free(rl);
	return ret;
}

static void get_free(net_relay_get_t *g)
{
	net_relay_t *rl = g->rl;
	for (size_t i = 0; i < rl->n; i++)
		if (g->subs[i].req) {
			net_http_cancel(g->subs[i].req);
			g->subs[i].req = NULL;
			rl->inflight--;
		}
	if (g->prev)
		g->prev->next = g->next;
	else
		rl->gets = g->next;
	if (g->next)
		g->next->prev = g->prev;
	free(g);
}

void net_relay_free(net_relay_t *rl)
{
	if (rl == NULL)
		return;
	while (rl->gets)
		get_free(rl->gets);
	net_http_free(rl->http); /* cancels the PUTs in flight: no callbacks */
	for (put_t *p = rl->puts, *next; p; p = next) {
		next = p->next;
		if (p->all && --p->all->pending == 0)
			free(p->all);
		free(p);
	}
	free(rl->urls);
	free(rl->cafile);
	free(rl);
}

size_t net_relay_count(const net_relay_t *rl)
{
	return rl ? rl->n : 0;
}

static void count(net_relay_t *rl, int op, int result)
{
	rl->stats.requests[op][result]++;
}

/* A request that got no answer. A certificate the node cannot check is the operator's to fix:
 * said at warning level (rate-limited); the rest (down, slow) at debug level. */
static void relay_failed(const net_relay_t *rl, size_t i, const net_http_resp_t *resp)
{
	if (resp->err == SW_ECRYPTO)
		sw_log_limited(SW_LOG_WARN,
			       "relay %s: no TLS connection: %s (a relay whose certificate is not "
			       "signed by a CA of this system needs relay-ca FILE)",
			       rl->urls[i], resp->error);
	else
		sw_debug("relay %s: %s", rl->urls[i], resp->error);
}

static void on_get_done(void *ctx, net_http_req_t *req, const net_http_resp_t *resp)
{
	sub_t *s = ctx;
	net_relay_get_t *g = s->g;
	net_relay_t *rl = g->rl;
	s->req = NULL;
	rl->inflight--;
	g->pending--;
	item_t it;
	bool have = false;
	if (resp->err == 0 && resp->status == 200) {
		/* Untrusted: the relay form, then the signature under the key we asked for
		 * (BEP 44 "Signature Verification"); the resolver checks the packet. */
		int ret = item_relay_parse(g->pk, resp->body, resp->body_len, &it);
		if (ret == 0)
			ret = item_verify(&it);
		if (ret == 0) {
			have = true;
			count(rl, NET_RELAY_GET, NET_RELAY_OK);
		} else {
			count(rl, NET_RELAY_GET, NET_RELAY_BAD);
			sw_debug("relay %s: an item that does not verify (%s); ignored",
				 rl->urls[s->relay], sw_strerror(ret));
		}
	} else if (resp->err == 0 && resp->status == 404) {
		g->notfound = true;
		count(rl, NET_RELAY_GET, NET_RELAY_NOTFOUND);
	} else {
		count(rl, NET_RELAY_GET, resp->err == SW_ELIMIT ? NET_RELAY_BAD : NET_RELAY_ERROR);
		if (resp->err)
			relay_failed(rl, s->relay, resp);
		else
			sw_debug("relay %s: HTTP %d", rl->urls[s->relay], resp->status);
	}
	g->in_cb = true;
	if (have) {
		g->found = true;
		g->cb(g->ctx, &it, false, 0);
	}
	if (g->pending == 0 && !g->cancelled)
		g->cb(g->ctx, NULL, true, g->found ? 0 : g->notfound ? SW_ENOTFOUND : SW_ECONN);
	g->in_cb = false;
	if (g->pending == 0 || g->cancelled)
		get_free(g);
}

int net_relay_get(net_relay_t *rl, const uint8_t pk[32], net_relay_get_cb cb, void *ctx,
		  net_relay_get_t **out)
{
	net_relay_get_t *g = calloc(1, sizeof(*g) + rl->n * sizeof(sub_t));
	if (g == NULL)
		return SW_ENOMEM;
	g->rl = rl;
	memcpy(g->pk, pk, 32);
	g->cb = cb;
	g->ctx = ctx;
	g->next = rl->gets;
	if (rl->gets)
		rl->gets->prev = g;
	rl->gets = g;
	for (size_t i = 0; i < rl->n; i++) {
		char url[URL_MAX + SW_Z32_KEY_LEN + 2];
		sub_t *s = &g->subs[i];
		s->g = g;
		s->relay = i;
		if (rl->inflight >= rl->o.max_requests) {
			count(rl, NET_RELAY_GET, NET_RELAY_LIMITED);
			continue;
		}
		if (relay_url(rl, i, pk, url, sizeof(url)) != 0)
			continue;
		net_http_req_opts_t o = {.url = url,
					 .timeout_ms = rl->o.timeout_ms,
					 .max_body = ITEM_RELAY_MAX,
					 .cafile = rl->cafile,
					 .http2 = true};
		if (net_http_request(rl->http, &o, on_get_done, s, &s->req) != 0) {
			s->req = NULL;
			count(rl, NET_RELAY_GET, NET_RELAY_ERROR);
			continue;
		}
		rl->inflight++;
		g->pending++;
	}
	if (g->pending == 0) {
		get_free(g);
		return rl->inflight >= rl->o.max_requests ? SW_ELIMIT : SW_ECONN;
	}
	if (out)
		*out = g;
	return 0;
}

void net_relay_get_cancel(net_relay_get_t *g)
{
	if (g == NULL)
		return;
	if (g->in_cb) {
		g->cancelled = true;
		return;
	}
	get_free(g);
}

static void put_unlink(put_t *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		p->rl->puts = p->next;
	if (p->next)
		p->next->prev = p->prev;
}

static void on_put_done(void *ctx, net_http_req_t *req, const net_http_resp_t *resp)
{
	put_t *p = ctx;
	net_relay_t *rl = p->rl;
	rl->inflight--;
	put_unlink(p);
	int result = NET_RELAY_ERROR;
	if (resp->err == 0 && resp->status >= 200 && resp->status < 300)
		result = NET_RELAY_OK;
	else if (resp->err == 0 && resp->status >= 400 && resp->status < 500)
		result = NET_RELAY_BAD;
	count(rl, NET_RELAY_PUT, result);
	if (resp->err)
		relay_failed(rl, p->relay, resp);
	else if (result != NET_RELAY_OK)
		sw_debug("relay %s: PUT refused: HTTP %d", rl->urls[p->relay], resp->status);
	net_relay_put_t *all = p->all;
	free(p);
	if (all == NULL)
		return;
	all->stored += result == NET_RELAY_OK;
	if (--all->pending > 0)
		return;
	if (all->cb)
		all->cb(all->ctx, all->stored, all->asked);
	free(all);
}

int net_relay_put(net_relay_t *rl, const uint8_t pk[32], const uint8_t *body, size_t len,
		  net_relay_put_cb cb, void *ctx, net_relay_put_t **out)
{
	int sent = 0;
	const char *hdrs[] = {PAYLOAD_TYPE};
	net_relay_put_t *all = NULL;
	if (out)
		*out = NULL;
	if (rl && cb) {
		if ((all = calloc(1, sizeof(*all))) == NULL)
			return 0;
		all->cb = cb;
		all->ctx = ctx;
		all->asked = (unsigned)rl->n;
	}
	for (size_t i = 0; rl && i < rl->n; i++) {
		char url[URL_MAX + SW_Z32_KEY_LEN + 2];
		if (rl->inflight >= rl->o.max_requests) {
			count(rl, NET_RELAY_PUT, NET_RELAY_LIMITED);
			continue;
		}
		put_t *p = malloc(sizeof(*p));
		if (p == NULL || relay_url(rl, i, pk, url, sizeof(url)) != 0) {
			free(p);
			continue;
		}
		p->rl = rl;
		p->relay = i;
		p->all = all;
		p->prev = NULL;
		net_http_req_opts_t o = {.method = "PUT",
					 .url = url,
					 .headers = hdrs,
					 .nheaders = 1,
					 .body = body,
					 .body_len = len,
					 .timeout_ms = rl->o.timeout_ms,
					 .max_body = 4096,
					 .cafile = rl->cafile,
					 .http2 = true};
		if (net_http_request(rl->http, &o, on_put_done, p, NULL) != 0) {
			free(p);
			count(rl, NET_RELAY_PUT, NET_RELAY_ERROR);
			continue;
		}
		rl->inflight++;
		sent++;
		if (all)
			all->pending++;
		p->next = rl->puts;
		if (rl->puts)
			rl->puts->prev = p;
		rl->puts = p;
	}
	if (all && sent == 0) {
		free(all);
		all = NULL;
	}
	if (out)
		*out = all;
	return sent;
}

void net_relay_put_cancel(net_relay_put_t *p)
{
	if (p)
		p->cb = NULL;
}

void net_relay_stats(const net_relay_t *rl, net_relay_stats_t *out)
{
	if (rl)
		*out = rl->stats;
	else
		memset(out, 0, sizeof(*out));
}
