/*
 * The query log: see querylog.h. A line is
 *   TIME CLIENT TRANSPORT NAME TYPE RCODE SOURCE ELAPSEDms
 * e.g. "2026-12-07T04:42:38.123Z 127.0.0.1:40000 udp www.example. A NOERROR upstream 12ms";
 * "-" for a field the query does not have (no question, no client address).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "api/metrics.h"
#include "common/err.h"
#include "common/log.h"
#include "daemon/querylog.h"
#include "dns/wire.h"
#include "net/net.h"

#define FLUSH_MS 1000
#define BUF_LEN 65536

struct daemon_qlog {
	uv_timer_t timer;
	FILE *f;
	bool own; /* a file we opened (not stderr) */
	char buf[BUF_LEN];
};

static void on_query(void *ctx, const resolver_client_t *client, const uint8_t *qname,
		     uint16_t qtype, const uint8_t *resp, size_t len, const resolver_trace_t *trace)
{
	daemon_qlog_t *q = ctx;
	char peer[80] = "-", name[DNS_NAME_MAX * 4 + 1] = "-", type[16] = "-", ts[40], rc[16],
	     tp[16];
	if (client->peer)
		net_addr_to_str(client->peer, peer, sizeof(peer));
	if (qname) {
		if (dns_name_to_str(qname, name, sizeof(name)) != 0)
			strcpy(name, "?");
		dns_type_to_str(qtype, type, sizeof(type));
	}
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	int rcode = len >= 4 ? resp[3] & 0xF : 2;
	fprintf(q->f, "%s.%03dZ %s %s %s %s %s %s %llums\n", ts, (int)(tv.tv_usec / 1000), peer,
		api_transport_name(client->tp, tp), name, type, api_rcode_name(rcode, rc),
		api_source_name(trace->source), (unsigned long long)trace->elapsed_ms);
}

static void on_flush(uv_timer_t *t)
{
	daemon_qlog_t *q = t->data;
	fflush(q->f);
}

void daemon_qlog_hook(resolver_t *r, daemon_qlog_t *q)
{
	resolver_set_query_log(r, q ? on_query : NULL, q);
}

int daemon_qlog_open(uv_loop_t *loop, const char *path, daemon_qlog_t **out)
{
	*out = NULL;
	if (path == NULL || *path == '\0')
		return 0;
	daemon_qlog_t *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return SW_ENOMEM;
	if (strcmp(path, "stderr") == 0) {
		q->f = stderr;
	} else if ((q->f = fopen(path, "a")) == NULL) {
		int err = -errno;
		free(q);
		return err;
	} else {
		q->own = true;
	}
	setvbuf(q->f, q->buf, _IOFBF, sizeof(q->buf));
	uv_timer_init(loop, &q->timer);
	q->timer.data = q;
	uv_timer_start(&q->timer, on_flush, FLUSH_MS, FLUSH_MS);
	*out = q;
	return 0;
}

static void on_closed(uv_handle_t *h)
{
	free(h->data);
}

void daemon_qlog_close(daemon_qlog_t *q)
{
	if (q == NULL)
		return;
	fflush(q->f);
	if (q->own)
		fclose(q->f);
	else
		setvbuf(stderr, NULL, _IONBF, 0); /* stderr unbuffered again, as at start */
	uv_timer_stop(&q->timer);
	uv_close((uv_handle_t *)&q->timer, on_closed);
}
