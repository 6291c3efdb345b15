/*
 * The TLS filter of the encrypted transports (tls.h, stream.h): a GnuTLS session per stream
 * connection, in memory-buffer mode. Ciphertext read by the stream layer is handed to GnuTLS
 * through its pull function; what GnuTLS writes goes through its push function into the
 * stream's write queue. Decrypted bytes go up to the application layer of the listener (DNS
 * framing for DoT, HTTP for DoH), which this file does not know.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "common/err.h"
#include "common/log.h"
#include "net/net.h"
#include "net/stream.h"
#include "net/tls.h"
#include "net/tls_filter.h"

#define TLS_RECORD_MAX 16384 /* RFC 8446 §5.1: plaintext of one record */
#define ALPN_MAX 4

/* TLS 1.3 and 1.2 only (RFC 8996 deprecates 1.0 and 1.1; RFC 7858 §3.2 asks for TLS 1.2 at
 * least); the server's order of preference decides. */
#define PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE"

struct net_tls_creds {
	gnutls_certificate_credentials_t x509;
	gnutls_priority_t prio;
	gnutls_datum_t ticket_key; /* secret: wiped when freed */
};

/* ---- credentials ---- */

static int check_readable(const char *what, const char *path, char *err, size_t errcap)
{
	if (path == NULL || path[0] == '\0') {
		snprintf(err, errcap, "%s is not set", what);
		return SW_ECONF;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errcap, "cannot read %s %s: %s", what, path, strerror(e));
		return -e;
	}
	close(fd);
	return 0;
}

int net_tls_creds_new(const char *cert_file, const char *key_file, net_tls_creds_t **out, char *err,
		      size_t errcap)
{
	int ret, g;
	net_tls_creds_t *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(err, errcap, "out of memory");
		return SW_ENOMEM;
	}
	if ((ret = check_readable("tls-cert", cert_file, err, errcap)) ||
	    (ret = check_readable("tls-key", key_file, err, errcap)))
		goto fail;
	if (gnutls_certificate_allocate_credentials(&c->x509) < 0) {
		snprintf(err, errcap, "out of memory");
		ret = SW_ENOMEM;
		goto fail;
	}
	g = gnutls_certificate_set_x509_key_file2(c->x509, cert_file, key_file, GNUTLS_X509_FMT_PEM,
						  NULL, 0);
	if (g < 0) {
		snprintf(err, errcap,
			 "cannot use tls-cert %s with tls-key %s: %s (both must be PEM files: the "
			 "certificate chain and its unencrypted private key)",
			 cert_file, key_file, gnutls_strerror(g));
		ret = SW_ECRYPTO;
		goto fail;
	}
	/* Only for the finite-field DHE suites of TLS 1.2; ECDHE is preferred. */
	gnutls_certificate_set_known_dh_params(c->x509, GNUTLS_SEC_PARAM_MEDIUM);
	if ((g = gnutls_priority_init(&c->prio, PRIORITIES, NULL)) < 0 ||
	    (g = gnutls_session_ticket_key_generate(&c->ticket_key)) < 0) {
		snprintf(err, errcap, "cannot set up TLS: %s", gnutls_strerror(g));
		ret = SW_ECRYPTO;
		goto fail;
	}
	*out = c;
	return 0;
fail:
	net_tls_creds_free(c);
	return ret;
}

void net_tls_creds_free(net_tls_creds_t *c)
{
	if (c == NULL)
		return;
	if (c->ticket_key.data) {
		gnutls_memset(c->ticket_key.data, 0, c->ticket_key.size);
		gnutls_free(c->ticket_key.data);
	}
	if (c->prio)
		gnutls_priority_deinit(c->prio);
	if (c->x509)
		gnutls_certificate_free_credentials(c->x509);
	free(c);
}

/* ---- the filter ---- */

/* Per listener (stream_srv_t.filter_ctx). */
typedef struct {
	net_tls_creds_t *creds; /* new connections use these (a reload replaces them) */
	gnutls_datum_t alpn[ALPN_MAX];
	unsigned nalpn;
	char alpn_text[64];
	uint8_t plain[TLS_RECORD_MAX]; /* one decrypted record */
} tls_srv_t;

/* Per connection (stream_conn_t.filter). */
typedef struct {
	gnutls_session_t tls;
	const uint8_t *in; /* ciphertext not yet pulled by GnuTLS */
	size_t in_len;
	bool handshaken;
} tls_layer_t;

static tls_layer_t *layer(stream_conn_t *c)
{
	return c->filter;
}

/* GnuTLS transport: ciphertext out into the stream's queue, in from what the stream read. */
static ssize_t tls_push(gnutls_transport_ptr_t p, const void *data, size_t len)
{
	stream_conn_t *c = p;
	if (stream_queue(c, data, len) != 0) {
		gnutls_transport_set_errno(layer(c)->tls, ENOMEM);
		return -1;
	}
	return (ssize_t)len;
}

static ssize_t tls_pull(gnutls_transport_ptr_t p, void *data, size_t len)
{
	stream_conn_t *c = p;
	tls_layer_t *t = layer(c);
	if (t->in_len == 0) {
		gnutls_transport_set_errno(t->tls, EAGAIN);
		return -1;
	}
	size_t n = len < t->in_len ? len : t->in_len;
	memcpy(data, t->in, n);
	t->in += n;
	t->in_len -= n;
	return (ssize_t)n;
}

/* Not used with GNUTLS_NONBLOCK, but GnuTLS asks for it beside a custom pull function. */
static int tls_pull_timeout(gnutls_transport_ptr_t p, unsigned int ms)
{
	stream_conn_t *c = p;
	return layer(c)->in_len > 0 ? 1 : 0;
}

static void tls_close(stream_conn_t *c)
{
	tls_layer_t *t = layer(c);
	if (t == NULL)
		return;
	if (t->tls)
		gnutls_deinit(t->tls);
	free(t);
	c->filter = NULL;
}

static int tls_open(stream_conn_t *c)
{
	tls_srv_t *ts = c->srv->filter_ctx;
	tls_layer_t *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return SW_ENOMEM;
	c->filter = t;
	int ret = gnutls_init(&t->tls, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
	if (ret < 0) {
		t->tls = NULL;
		return ret;
	}
	if ((ret = gnutls_priority_set(t->tls, ts->creds->prio)) < 0 ||
	    (ret = gnutls_credentials_set(t->tls, GNUTLS_CRD_CERTIFICATE, ts->creds->x509)) < 0 ||
	    /* Resumption (RFC 5077, RFC 8446 §4.6.1): tickets sealed with the listener's key. */
	    (ret = gnutls_session_ticket_enable_server(t->tls, &ts->creds->ticket_key)) < 0 ||
	    (ret = gnutls_alpn_set_protocols(t->tls, ts->alpn, ts->nalpn,
					     GNUTLS_ALPN_SERVER_PRECEDENCE)) < 0)
		return ret;
	gnutls_certificate_server_set_request(t->tls, GNUTLS_CERT_IGNORE);
	/* The handshake deadline is the stream's timer, not GnuTLS's. */
	gnutls_handshake_set_timeout(t->tls, 0);
	gnutls_transport_set_ptr(t->tls, c);
	gnutls_transport_set_push_function(t->tls, tls_push);
	gnutls_transport_set_pull_function(t->tls, tls_pull);
	gnutls_transport_set_pull_timeout_function(t->tls, tls_pull_timeout);
	return 0;
}

static int tls_send(stream_conn_t *c, const uint8_t *data, size_t len)
{
	tls_layer_t *t = layer(c);
	while (len > 0) {
		ssize_t n = gnutls_record_send(t->tls, data, len);
		if (n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n < 0)
			return (int)n;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static void tls_cork(stream_conn_t *c)
{
	tls_layer_t *t = layer(c);
	if (t->handshaken)
		gnutls_record_cork(t->tls);
}

static int tls_uncork(stream_conn_t *c)
{
	/* Our push function never blocks: uncorking either writes everything or fails. */
	return gnutls_record_uncork(layer(c)->tls, 0) < 0 ? -1 : 0;
}

static void tls_end(stream_conn_t *c)
{
	tls_layer_t *t = layer(c);
	if (t->handshaken) {
		/* What was corked goes first, then the alert (RFC 8446 §6.1). */
		gnutls_record_uncork(t->tls, 0);
		gnutls_bye(t->tls, GNUTLS_SHUT_WR);
	}
}

static bool tls_timeout(stream_conn_t *c)
{
	tls_layer_t *t = layer(c);
	if (t && t->handshaken && !c->ending)
		return false;
	/* A client that stalls in its handshake, or does not take our last words. */
	bool hs = t && t->handshaken;
	sw_debug("TLS connection dropped: %s", hs ? "close not read" : "handshake timed out");
	if (!hs)
		c->srv->lim.idle_closed++;
	stream_close(c);
	return true;
}

static bool tls_alpn(stream_conn_t *c, const char **proto, size_t *len)
{
	gnutls_datum_t p;
	if (gnutls_alpn_get_selected_protocol(layer(c)->tls, &p) != 0)
		return false;
	*proto = (const char *)p.data;
	*len = p.size;
	return true;
}

/* Runs the handshake as far as the input allows. Returns true once it is complete. */
static bool handshake(stream_conn_t *c)
{
	tls_layer_t *t = layer(c);
	int ret = GNUTLS_E_AGAIN;
	/* Non-fatal results (a warning alert) go on; each consumes input, so this ends. */
	for (int i = 0; i < 64 && ret != GNUTLS_E_SUCCESS; i++) {
		ret = gnutls_handshake(t->tls);
		if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED)
			return false;
		if (ret != GNUTLS_E_SUCCESS && gnutls_error_is_fatal(ret)) {
			/* Garbage instead of a ClientHello, no common version or cipher... */
			sw_debug("TLS handshake failed: %s", gnutls_strerror(ret));
			gnutls_alert_send_appropriate(t->tls, ret);
			c->ending = true;
			stream_write_out(c);
			if (!c->writing)
				stream_close(c);
			return false;
		}
	}
	if (ret != GNUTLS_E_SUCCESS)
		return false; /* the deadline will end it */
	t->handshaken = true;
	return stream_app_open(c);
}

/* Decrypts every record the input holds and hands the plaintext to the application. */
static void recv_records(stream_conn_t *c)
{
	tls_srv_t *ts = c->srv->filter_ctx;
	tls_layer_t *t = layer(c);
	for (;;) {
		ssize_t n = gnutls_record_recv(t->tls, ts->plain, sizeof(ts->plain));
		if (n > 0) {
			int ret = c->app_ops->recv(c, ts->plain, (size_t)n);
			if (c->closing || c->ending)
				return;
			if (ret != 0) {
				stream_close(c);
				return;
			}
			continue;
		}
		if (n == GNUTLS_E_AGAIN)
			return;
		if (n == 0) {
			/* close_notify: the client has finished; answers still owed are dropped. */
			stream_end(c);
			return;
		}
		if (n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n == GNUTLS_E_REHANDSHAKE) {
			/* TLS 1.2 renegotiation is not offered. */
			gnutls_alert_send(t->tls, GNUTLS_AL_WARNING, GNUTLS_A_NO_RENEGOTIATION);
			continue;
		}
		if (!gnutls_error_is_fatal((int)n))
			continue;
		sw_debug("TLS connection closed: %s", gnutls_strerror((int)n));
		stream_close(c);
		return;
	}
}

static void tls_recv(stream_conn_t *c, const uint8_t *data, size_t len)
{
	tls_layer_t *t = layer(c);
	t->in = data;
	t->in_len = len;
	if (!t->handshaken) {
		if (!handshake(c))
			goto out;
	} else {
		uv_timer_again(&c->timer);
	}
	stream_cork(c);
	recv_records(c);
	stream_flush(c);
out:
	/* The connection may be closed (t freed) by now. */
	if (!c->closing) {
		t->in = NULL;
		t->in_len = 0;
	}
}

const stream_filter_t stream_tls_filter = {
    .open = tls_open,
    .recv = tls_recv,
    .send = tls_send,
    .cork = tls_cork,
    .uncork = tls_uncork,
    .end = tls_end,
    .timeout = tls_timeout,
    .alpn = tls_alpn,
    .close = tls_close,
};

int tls_filter_ctx_new(net_tls_creds_t *creds, const char *alpn, void **out)
{
	tls_srv_t *ts = calloc(1, sizeof(*ts));
	if (ts == NULL)
		return SW_ENOMEM;
	ts->creds = creds;
	/* ALPN (RFC 7301): the application layer's protocols, e.g. "dot" (DNS over TLS) or
	 * "h2,http/1.1" (DoH, RFC 8484 §5.2, RFC 9113 §3.2). A client offering none is still
	 * served. */
	snprintf(ts->alpn_text, sizeof(ts->alpn_text), "%s", alpn ? alpn : "");
	for (char *p = ts->alpn_text; *p && ts->nalpn < ALPN_MAX;) {
		char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		ts->alpn[ts->nalpn].data = (unsigned char *)p;
		ts->alpn[ts->nalpn].size = (unsigned)n;
		ts->nalpn++;
		if (e == NULL)
			break;
		*e = '\0';
		p = e + 1;
	}
	*out = ts;
	return 0;
}

void net_tls_set_creds(net_tls_t *t, net_tls_creds_t *creds)
{
	if (t)
		((tls_srv_t *)((stream_srv_t *)t)->filter_ctx)->creds = creds;
}
