/*
 * Limits acting: see limitlog.h. A limit is "quiet" when its counter did not move for
 * QUIET_MS; its first hit after that (or ever) gives one warning with the hits of the last
 * minute, so a limit that acts all day is logged once, and again only after a quiet spell.
 */
#include <stdlib.h>
#include <string.h>

#include "api/metrics.h"
#include "common/err.h"
#include "common/log.h"
#include "daemon/limitlog.h"

#define TICK_MS 2000
#define WINDOW (60000 / TICK_MS) /* samples of the last minute */
#define QUIET_MS (10 * 60 * 1000)

/* Limits that act in normal operation: not an operator's event. */
static const char *const g_ordinary[] = {"minimal-any", "tcp-idle-timeout", "tls-idle-timeout",
					 "relay-put-rate"};

struct daemon_limitlog {
	uv_timer_t timer;
	const api_ctx_t *ctx;
	api_t *const *api;
	uint64_t hist[WINDOW][API_LIMIT_ROWS]; /* ring of samples, one per tick */
	size_t pos, nsamples;
	uint64_t last_hit_ms[API_LIMIT_ROWS]; /* 0: never */
};

static bool ordinary(const char *name)
{
	for (size_t i = 0; i < sizeof(g_ordinary) / sizeof(g_ordinary[0]); i++)
		if (strcmp(name, g_ordinary[i]) == 0)
			return true;
	return false;
}

static void on_tick(uv_timer_t *t)
{
	daemon_limitlog_t *l = t->data;
	net_limit_stats_t api = {0};
	api_limit_row_t rows[API_LIMIT_ROWS];
	if (*l->api)
		api_limits(*l->api, &api);
	api_limit_rows(l->ctx, &api, *l->api ? api_relay_limited(*l->api) : 0,
		       *l->api ? api_registrar_limited(*l->api) : 0, rows);
	uint64_t now = uv_now(t->loop) + 1;
	size_t prev = (l->pos + WINDOW - 1) % WINDOW;
	/* The oldest sample of the ring, a minute ago once it is full. */
	size_t oldest = l->nsamples < WINDOW ? 0 : l->pos;
	for (size_t i = 0; l->nsamples > 0 && i < API_LIMIT_ROWS; i++) {
		if (rows[i].hits <= l->hist[prev][i])
			continue;
		if ((l->last_hit_ms[i] == 0 || now - l->last_hit_ms[i] >= QUIET_MS) &&
		    !ordinary(rows[i].limit))
			sw_warn("limit %s is acting (%llu hits in the last minute); see "
				"docs/limits.md",
				rows[i].limit,
				(unsigned long long)(rows[i].hits - l->hist[oldest][i]));
		l->last_hit_ms[i] = now;
	}
	for (size_t i = 0; i < API_LIMIT_ROWS; i++)
		l->hist[l->pos][i] = rows[i].hits;
	l->pos = (l->pos + 1) % WINDOW;
	if (l->nsamples < WINDOW)
		l->nsamples++;
}

int daemon_limitlog_start(uv_loop_t *loop, const api_ctx_t *ctx, api_t *const *api,
			  daemon_limitlog_t **out)
{
	daemon_limitlog_t *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return SW_ENOMEM;
	l->ctx = ctx;
	l->api = api;
	uv_timer_init(loop, &l->timer);
	l->timer.data = l;
	on_tick(&l->timer); /* the counts at start: what came before is not news */
	uv_timer_start(&l->timer, on_tick, TICK_MS, TICK_MS);
	*out = l;
	return 0;
}

static void on_closed(uv_handle_t *h)
{
	free(h->data);
}

void daemon_limitlog_stop(daemon_limitlog_t *l)
{
	if (l == NULL)
		return;
	uv_timer_stop(&l->timer);
	uv_close((uv_handle_t *)&l->timer, on_closed);
}
