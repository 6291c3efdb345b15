/*
 * DNS over TLS to an upstream server: see upstream_tls.h.
 *
 * A server (net_up_tls_t) has at most one open connection (up_conn_t) and a table of the
 * queries in flight (up_req_t), indexed by the ID they carry on the wire: over an
 * authenticated, encrypted connection the ID only has to tell the answers apart (RFC 7858
 * §3.3), so the slot number is the ID and the query's own ID is written back into the
 * answer. Queries made while the connection is opening wait in the table and are sent when
 * the handshake completes. When the connection fails, every query sent or waiting on it ends
 * with the reason; the next query opens a new connection.
 *
 * A connection is closed (its memory freed in the handles' close callbacks, libuv's rule)
 * once it has been idle for IDLE_MS, when the server closes it, or when anything goes wrong.
 */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "net/upstream_tls.h"

#define SLOTS 4096	  /* queries in flight on one server; the wire ID is the slot */
#define IDLE_MS 10000	  /* RFC 7858 §3.4: keep the connection while it is used */
#define HANDSHAKE_MS 5000 /* a connection that is not up by then is given up */
#define REJECTED_MS 5000  /* after a failed handshake, no new one for this long */
#define BUF_INIT 4096
#define CIPHER_BUF 16384
#define MSG_MAX 65535
/* TLS 1.3 and 1.2 only (RFC 8996; RFC 7858 §3.2 asks for 1.2 at least), as tls.c. */
#define PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct net_up_tls_creds {
	gnutls_certificate_credentials_t x509;
	gnutls_priority_t prio;
};

typedef struct up_conn up_conn_t;

typedef struct {
	net_up_tls_cb cb;
	void *ctx;
	up_conn_t *conn; /* the connection it was sent on, or waits for */
	bool sent;
	uint16_t id; /* the query's own ID */
	size_t len;
	uint8_t msg[]; /* with the two-byte length prefix, the slot as ID */
} up_req_t;

struct up_conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_check_t check; /* after this loop turn's input: the queries it made go out */
	uv_connect_t connect;
	uv_write_t wreq;
	net_up_tls_t *u; /* NULL once closing */
	gnutls_session_t tls;
	int open_handles;
	bool handshaken, writing, used, broken, corked;
	size_t nreq; /* queries in the table that are on this connection */
	const uint8_t *in;
	size_t in_len;
	sw_buf_t pbuf, wbuf; /* ciphertext to write; being written */
	sw_buf_t rbuf;	     /* plaintext: the start of an incomplete answer */
	uint8_t cipher[CIPHER_BUF];
};

struct net_up_tls {
	uv_loop_t *loop;
	struct sockaddr_storage addr;
	char auth_name[256];
	char label[300];
	net_up_tls_creds_t *creds;
	up_conn_t *conn;
	net_up_tls_stats_t stats;
	gnutls_datum_t session;	 /* of the last connection, to resume it */
	uint64_t rejected_until; /* uv_now(): queries fail at once until then */
	char rejected[512];	 /* why the last handshake failed */
	size_t nreq, next_slot;
	up_req_t *slot[SLOTS];
	uint8_t plain[MSG_MAX + 2];
};

/* ---- credentials ---- */

int net_up_tls_creds_new(const char *ca_file, net_up_tls_creds_t **out, char *err, size_t errcap)
{
	int g;
	*out = NULL;
	net_up_tls_creds_t *c = calloc(1, sizeof(*c));
	if (c == NULL || gnutls_certificate_allocate_credentials(&c->x509) < 0) {
		free(c);
		snprintf(err, errcap, "out of memory");
		return SW_ENOMEM;
	}
	if (ca_file && ca_file[0]) {
		g = gnutls_certificate_set_x509_trust_file(c->x509, ca_file, GNUTLS_X509_FMT_PEM);
		if (g <= 0) {
			snprintf(err, errcap,
				 "upstream-ca %s: no CA certificate read (%s); give a PEM file of "
				 "the CA that signed the upstream's certificate",
				 ca_file, g < 0 ? gnutls_strerror(g) : "the file holds none");
			goto fail;
		}
	} else if ((g = gnutls_certificate_set_x509_system_trust(c->x509)) <= 0) {
		snprintf(err, errcap,
			 "no CA certificates in the system store (%s): install ca-certificates, "
			 "or set upstream-ca",
			 g < 0 ? gnutls_strerror(g) : "it is empty");
		goto fail;
	}
	if ((g = gnutls_priority_init(&c->prio, PRIORITIES, NULL)) < 0) {
		snprintf(err, errcap, "cannot set up TLS: %s", gnutls_strerror(g));
		goto fail;
	}
	*out = c;
	return 0;
fail:
	net_up_tls_creds_free(c);
	return SW_ECONF;
}

void net_up_tls_creds_free(net_up_tls_creds_t *c)
{
	if (c == NULL)
		return;
	if (c->prio)
		gnutls_priority_deinit(c->prio);
	gnutls_certificate_free_credentials(c->x509);
	free(c);
}

/* ---- connections ---- */

static void conn_free_cb(uv_handle_t *h)
{
	up_conn_t *c = h->data;
	if (--c->open_handles > 0)
		return;
	sw_buf_free(&c->pbuf);
	sw_buf_free(&c->wbuf);
	sw_buf_free(&c->rbuf);
	free(c);
}

/* Closes c without touching its queries. */
static void conn_close(up_conn_t *c)
{
	if (c->u == NULL)
		return;
	net_up_tls_t *u = c->u;
	if (u->conn == c)
		u->conn = NULL;
	c->u = NULL;
	/* RFC 7858 §3.4, RFC 8446 §2.2: the session (a TLS 1.3 ticket, when the server sent
	 * one) lets the next connection skip the certificate and the key exchange. */
	if (c->tls && c->handshaken &&
	    (gnutls_session_get_flags(c->tls) & GNUTLS_SFLAGS_SESSION_TICKET ||
	     gnutls_protocol_get_version(c->tls) != GNUTLS_TLS1_3)) {
		gnutls_datum_t d = {NULL, 0};
		if (gnutls_session_get_data2(c->tls, &d) == 0) {
			gnutls_free(u->session.data);
			u->session = d;
		}
	}
	if (c->tls) {
		gnutls_deinit(c->tls);
		c->tls = NULL;
	}
	uv_close((uv_handle_t *)&c->timer, conn_free_cb);
	uv_close((uv_handle_t *)&c->check, conn_free_cb);
	uv_close((uv_handle_t *)&c->tcp, conn_free_cb);
}

static void req_remove(net_up_tls_t *u, size_t i)
{
	up_req_t *r = u->slot[i];
	u->slot[i] = NULL;
	u->nreq--;
	if (r->conn && r->conn->u == u)
		r->conn->nreq--;
	free(r);
}

/* The connection failed: it closes, and every query on it ends with err and text. A
 * callback may send new queries (they go to a new connection) or cancel others. */
static void conn_fail(up_conn_t *c, int err, const char *text)
{
	net_up_tls_t *u = c->u;
	if (u == NULL)
		return;
	char copy[512];
	snprintf(copy, sizeof(copy), "%s", text);
	if (err != SW_ECRYPTO) /* that one was logged as a warning, with the label */
		sw_debug("upstream %s: %s", u->label, copy);
	conn_close(c);
	for (size_t i = 0; i < SLOTS && u->nreq > 0; i++) {
		up_req_t *r = u->slot[i];
		if (r == NULL || r->conn != c)
			continue;
		net_up_tls_cb cb = r->cb;
		void *ctx = r->ctx;
		req_remove(u, i);
		cb(ctx, NULL, 0, err, copy);
	}
}

static void flush_out(up_conn_t *c);
static void on_timer(uv_timer_t *t);

static void on_write(uv_write_t *req, int status)
{
	up_conn_t *c = req->data;
	c->writing = false;
	c->wbuf.len = 0;
	if (c->u == NULL)
		return;
	if (status < 0) {
		conn_fail(c, SW_ECONN, uv_strerror(status));
		return;
	}
	flush_out(c);
}

static void flush_out(up_conn_t *c)
{
	if (c->u == NULL || c->writing || c->pbuf.len == 0)
		return;
	sw_buf_t tmp = c->wbuf;
	c->wbuf = c->pbuf;
	c->pbuf = tmp;
	c->pbuf.len = 0;
	uv_buf_t b = uv_buf_init((char *)c->wbuf.data, (unsigned)c->wbuf.len);
	c->wreq.data = c;
	if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
		/* Not from here, which may be inside net_up_tls_query(): on the timer. */
		c->broken = true;
		uv_timer_start(&c->timer, on_timer, 0, 0);
		return;
	}
	c->writing = true;
}

static ssize_t tls_push(gnutls_transport_ptr_t p, const void *data, size_t len)
{
	up_conn_t *c = p;
	if (sw_buf_append(&c->pbuf, data, len, BUF_INIT) != 0) {
		gnutls_transport_set_errno(c->tls, ENOMEM);
		return -1;
	}
	return (ssize_t)len;
}

static ssize_t tls_pull(gnutls_transport_ptr_t p, void *data, size_t len)
{
	up_conn_t *c = p;
	if (c->in_len == 0) {
		gnutls_transport_set_errno(c->tls, EAGAIN);
		return -1;
	}
	size_t n = len < c->in_len ? len : c->in_len;
	memcpy(data, c->in, n);
	c->in += n;
	c->in_len -= n;
	return (ssize_t)n;
}

static int tls_pull_timeout(gnutls_transport_ptr_t p, unsigned int ms)
{
	up_conn_t *c = p;
	return c->in_len > 0 ? 1 : 0;
}

/* Encrypts one query. Returns 0 or a GnuTLS error. */
static int send_one(up_conn_t *c, up_req_t *r)
{
	ssize_t n;
	do
		n = gnutls_record_send(c->tls, r->msg, r->len);
	while (n == GNUTLS_E_INTERRUPTED);
	if (n < 0)
		return (int)n;
	r->sent = true;
	return 0;
}

/* Encrypts the queries that waited for c's handshake. Returns 0 or a GnuTLS error. */
static int send_waiting(up_conn_t *c)
{
	net_up_tls_t *u = c->u;
	int ret = 0;
	gnutls_record_cork(c->tls);
	for (size_t i = 0, seen = 0; i < SLOTS && seen < u->nreq; i++) {
		up_req_t *r = u->slot[i];
		if (r == NULL)
			continue;
		seen++;
		if (r->conn != c || r->sent)
			continue;
		if ((ret = send_one(c, r)) != 0)
			break;
	}
	/* Our push function never blocks: uncorking writes everything or fails. */
	int u2 = gnutls_record_uncork(c->tls, 0);
	return ret ? ret : (u2 < 0 ? u2 : 0);
}

/* Plaintext from the server: complete answers go to their queries. Returns false when c was
 * closed meanwhile. */
static bool on_plain(up_conn_t *c, const uint8_t *data, size_t len)
{
	net_up_tls_t *u = c->u;
	bool kept = c->rbuf.len > 0;
	if (kept) {
		if (sw_buf_append(&c->rbuf, data, len, BUF_INIT) != 0) {
			conn_fail(c, SW_ECONN, "out of memory");
			return false;
		}
		data = c->rbuf.data;
		len = c->rbuf.len;
	}
	size_t pos = 0;
	while (len - pos >= 2) {
		size_t mlen = (size_t)(data[pos] << 8 | data[pos + 1]);
		if (len - pos - 2 < mlen)
			break;
		const uint8_t *m = data + pos + 2;
		pos += 2 + mlen;
		if (mlen < 12)
			continue;
		size_t id = (size_t)(m[0] << 8 | m[1]);
		up_req_t *r = id < SLOTS ? u->slot[id] : NULL;
		if (r == NULL || r->conn != c || !r->sent)
			continue; /* an answer to a query we gave up on */
		uint8_t *resp = u->plain;
		memcpy(resp, m, mlen);
		resp[0] = (uint8_t)(r->id >> 8);
		resp[1] = (uint8_t)r->id;
		net_up_tls_cb cb = r->cb;
		void *ctx = r->ctx;
		req_remove(u, id);
		c->used = true;
		cb(ctx, resp, mlen, 0, NULL);
		if (c->u == NULL)
			return false;
	}
	size_t rest = len - pos;
	if (kept) {
		memmove(c->rbuf.data, c->rbuf.data + pos, rest);
		c->rbuf.len = rest;
	} else if (rest > 0 && sw_buf_append(&c->rbuf, data + pos, rest, BUF_INIT) != 0) {
		conn_fail(c, SW_ECONN, "out of memory");
		return false;
	}
	return true;
}

/* Runs the handshake as far as the input allows. Returns true once it is complete. */
static bool handshake(up_conn_t *c)
{
	net_up_tls_t *u = c->u;
	int ret;
	do
		ret = gnutls_handshake(c->tls);
	while (ret < 0 && !gnutls_error_is_fatal(ret) && ret != GNUTLS_E_AGAIN);
	flush_out(c);
	if (c->u == NULL)
		return false;
	if (ret == GNUTLS_E_AGAIN)
		return false;
	if (ret < 0) {
		char text[512];
		u->stats.handshake_failures++;
		if (ret == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
			gnutls_datum_t why = {NULL, 0};
			unsigned status = gnutls_session_get_verify_cert_status(c->tls);
			gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why,
								     0);
			u->stats.cert_failures++;
			snprintf(text, sizeof(text), "upstream %s: certificate rejected: %s",
				 u->label,
				 why.data ? (const char *)why.data : gnutls_strerror(ret));
			gnutls_free(why.data);
			/* GnuTLS ends its sentences with a space. */
			for (size_t n = strlen(text); n > 0 && text[n - 1] == ' '; n--)
				text[n - 1] = '\0';
		} else {
			snprintf(text, sizeof(text), "upstream %s: TLS handshake failed: %s",
				 u->label, gnutls_strerror(ret));
		}
		sw_log_limited(SW_LOG_WARN, "%s", text);
		/* The same certificate would be rejected again: do not shake hands for every
		 * query while it is so. */
		u->rejected_until = uv_now(u->loop) + REJECTED_MS;
		snprintf(u->rejected, sizeof(u->rejected), "%s", text);
		conn_fail(c, SW_ECRYPTO, text);
		return false;
	}
	c->handshaken = true;
	u->stats.handshakes++;
	if (gnutls_session_is_resumed(c->tls))
		u->stats.resumed++;
	sw_debug("upstream %s: TLS connection up (%s)", u->label,
		 gnutls_protocol_get_name(gnutls_protocol_get_version(c->tls)));
	return true;
}

static void on_timer(uv_timer_t *t);

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	up_conn_t *c = h->data;
	*b = uv_buf_init((char *)c->cipher, sizeof(c->cipher));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	up_conn_t *c = st->data;
	if (c->u == NULL || n == 0)
		return;
	if (n < 0) {
		conn_fail(c, SW_ECONN,
			  n == UV_EOF ? "the server closed the connection" : uv_strerror((int)n));
		return;
	}
	c->in = (const uint8_t *)b->base;
	c->in_len = (size_t)n;
	if (!c->handshaken) {
		if (!handshake(c))
			return;
		uv_timer_start(&c->timer, on_timer, IDLE_MS, IDLE_MS);
		int ret = send_waiting(c);
		flush_out(c);
		if (c->u == NULL)
			return;
		if (ret < 0) {
			conn_fail(c, SW_ECONN, gnutls_strerror(ret));
			return;
		}
	}
	uint8_t plain[16384];
	size_t before = SIZE_MAX;
	for (;;) {
		ssize_t r = gnutls_record_recv(c->tls, plain, sizeof(plain));
		if (r > 0) {
			if (!on_plain(c, plain, (size_t)r))
				return;
			continue;
		}
		/* A post-handshake message (TLS 1.3 session tickets) ends a call with AGAIN
		 * although more records may follow in this input: read on until it is used up,
		 * as the next read reuses the buffer. */
		if (r == GNUTLS_E_AGAIN) {
			if (c->in_len == 0 || c->in_len == before)
				break;
			before = c->in_len;
			continue;
		}
		if (r == GNUTLS_E_INTERRUPTED || (r < 0 && !gnutls_error_is_fatal((int)r)))
			continue;
		conn_fail(c, SW_ECONN,
			  r == 0 ? "the server closed the connection" : gnutls_strerror((int)r));
		return;
	}
	/* Whatever GnuTLS said meanwhile (a key update) goes out. */
	flush_out(c);
}

/* Idle connections close (RFC 7858 §3.4); a connection that does not come up is given up. */
static void on_timer(uv_timer_t *t)
{
	up_conn_t *c = t->data;
	if (c->u == NULL)
		return;
	if (c->broken) {
		conn_fail(c, SW_ECONN, "cannot send on the connection");
		return;
	}
	if (!c->handshaken) {
		c->u->stats.handshake_failures++;
		conn_fail(c, SW_ECONN, "connection or TLS handshake timed out");
		return;
	}
	if (c->nreq > 0 || c->used) {
		c->used = false;
		return;
	}
	gnutls_bye(c->tls, GNUTLS_SHUT_WR);
	flush_out(c);
	conn_close(c);
}

static void on_check(uv_check_t *h)
{
	up_conn_t *c = h->data;
	uv_check_stop(h);
	if (c->u == NULL || !c->corked)
		return;
	c->corked = false;
	/* Our push function never blocks: uncorking writes everything or fails. */
	if (gnutls_record_uncork(c->tls, 0) < 0) {
		conn_fail(c, SW_ECONN, "cannot send on the connection");
		return;
	}
	flush_out(c);
}

static void on_connect(uv_connect_t *req, int status)
{
	up_conn_t *c = req->handle->data;
	if (c->u == NULL)
		return;
	if (status < 0) {
		conn_fail(c, SW_ECONN, uv_strerror(status));
		return;
	}
	int err = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	if (err) {
		conn_fail(c, SW_ECONN, uv_strerror(err));
		return;
	}
	c->in_len = 0;
	handshake(c); /* sends the ClientHello */
}

static int conn_open(net_up_tls_t *u)
{
	up_conn_t *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return SW_ENOMEM;
	int g = gnutls_init(&c->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
	if (g < 0) {
		free(c);
		return SW_ECRYPTO;
	}
	if (gnutls_priority_set(c->tls, u->creds->prio) < 0 ||
	    gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, u->creds->x509) < 0 ||
	    (u->auth_name[0] && gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, u->auth_name,
						       strlen(u->auth_name)) < 0)) {
		gnutls_deinit(c->tls);
		free(c);
		return SW_ECRYPTO;
	}
	/* RFC 8310 §8.1: the name (or, without one, the address) must be in the certificate;
	 * GnuTLS checks it and the chain during the handshake. */
	char ip[64] = "";
	if (!u->auth_name[0]) {
		const struct sockaddr_storage *a = &u->addr;
		if (a->ss_family == AF_INET6)
			uv_ip6_name((const struct sockaddr_in6 *)a, ip, sizeof(ip));
		else
			uv_ip4_name((const struct sockaddr_in *)a, ip, sizeof(ip));
	}
	gnutls_session_set_verify_cert(c->tls, u->auth_name[0] ? u->auth_name : ip, 0);
	if (u->session.size > 0)
		gnutls_session_set_data(c->tls, u->session.data, u->session.size);
	gnutls_handshake_set_timeout(c->tls, 0);
	gnutls_transport_set_ptr(c->tls, c);
	gnutls_transport_set_push_function(c->tls, tls_push);
	gnutls_transport_set_pull_function(c->tls, tls_pull);
	gnutls_transport_set_pull_timeout_function(c->tls, tls_pull_timeout);
	uv_tcp_init(u->loop, &c->tcp);
	uv_timer_init(u->loop, &c->timer);
	uv_check_init(u->loop, &c->check);
	c->tcp.data = c;
	c->timer.data = c;
	c->check.data = c;
	c->open_handles = 3;
	c->u = u;
	u->conn = c;
	u->stats.connects++;
	uv_tcp_nodelay(&c->tcp, 1);
	uv_timer_start(&c->timer, on_timer, HANDSHAKE_MS, 0);
	int err =
	    uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&u->addr, on_connect);
	if (err) {
		conn_close(c);
		return SW_ECONN;
	}
	return 0;
}

/* ---- the public functions ---- */

int net_up_tls_new(uv_loop_t *loop, const struct sockaddr_storage *addr, const char *auth_name,
		   const char *label, net_up_tls_creds_t *creds, net_up_tls_t **out)
{
	*out = NULL;
	if (addr->ss_family != AF_INET && addr->ss_family != AF_INET6)
		return SW_EINVAL;
	if (auth_name && strlen(auth_name) >= sizeof(((net_up_tls_t *)0)->auth_name))
		return SW_EINVAL;
	net_up_tls_t *u = calloc(1, sizeof(*u));
	if (u == NULL)
		return SW_ENOMEM;
	u->loop = loop;
	u->addr = *addr;
	u->creds = creds;
	snprintf(u->auth_name, sizeof(u->auth_name), "%s", auth_name ? auth_name : "");
	snprintf(u->label, sizeof(u->label), "%s", label ? label : "");
	*out = u;
	return 0;
}

void net_up_tls_free(net_up_tls_t *u)
{
	if (u == NULL)
		return;
	if (u->conn)
		conn_close(u->conn);
	for (size_t i = 0; i < SLOTS && u->nreq > 0; i++)
		if (u->slot[i])
			req_remove(u, i);
	gnutls_free(u->session.data);
	free(u);
}

int net_up_tls_query(net_up_tls_t *u, const uint8_t *msg, size_t len, net_up_tls_cb cb, void *ctx)
{
	if (len < 12 || len > MSG_MAX || cb == NULL)
		return SW_EINVAL;
	if (u->nreq >= SLOTS)
		return SW_ELIMIT;
	if (u->conn == NULL && uv_now(u->loop) < u->rejected_until)
		return SW_ECRYPTO;
	size_t i = u->next_slot;
	while (u->slot[i])
		i = (i + 1) % SLOTS;
	u->next_slot = (i + 1) % SLOTS;
	up_req_t *r = malloc(sizeof(*r) + 2 + len);
	if (r == NULL)
		return SW_ENOMEM;
	r->cb = cb;
	r->ctx = ctx;
	r->sent = false;
	r->id = (uint16_t)(msg[0] << 8 | msg[1]);
	r->len = 2 + len;
	r->msg[0] = (uint8_t)(len >> 8); /* RFC 7858 §3.3: the length prefix of RFC 1035 §4.2.2 */
	r->msg[1] = (uint8_t)len;
	memcpy(r->msg + 2, msg, len);
	r->msg[2] = (uint8_t)(i >> 8);
	r->msg[3] = (uint8_t)i;
	if (u->conn == NULL) {
		int err = conn_open(u);
		if (err) {
			free(r);
			return err;
		}
	}
	up_conn_t *c = u->conn;
	r->conn = c;
	u->slot[i] = r;
	u->nreq++;
	c->nreq++;
	if (c->handshaken) {
		/* The queries of one loop turn (a batch of datagrams read) share TLS records
		 * and a write: less work for both ends than a record and a write each. */
		if (!c->corked) {
			gnutls_record_cork(c->tls);
			c->corked = true;
			uv_check_start(&c->check, on_check);
		}
		if (send_one(c, r) != 0) {
			/* Not from inside this call: the connection ends on its timer. */
			c->broken = true;
			uv_timer_start(&c->timer, on_timer, 0, 0);
		}
	}
	return 0;
}

void net_up_tls_cancel(net_up_tls_t *u, void *ctx)
{
	for (size_t i = 0, seen = 0; i < SLOTS && seen < u->nreq; i++) {
		up_req_t *r = u->slot[i];
		if (r == NULL)
			continue;
		if (r->ctx != ctx) {
			seen++;
			continue;
		}
		req_remove(u, i);
	}
}

const char *net_up_tls_rejected(const net_up_tls_t *u)
{
	return u->rejected;
}

void net_up_tls_stats_add(const net_up_tls_t *u, net_up_tls_stats_t *sum)
{
	sum->connects += u->stats.connects;
	sum->handshakes += u->stats.handshakes;
	sum->resumed += u->stats.resumed;
	sum->handshake_failures += u->stats.handshake_failures;
	sum->cert_failures += u->stats.cert_failures;
}
