/*
 * Fuzz target for DNS over HTTPS (src/net/doh.c: RFC 8484 over HTTP/2, RFC 9113; and
 * src/net/http1.c for a client whose first bytes are not HTTP/2's preface). The input is what a
 * client sends on one connection, as it comes out of TLS: it goes to the HTTP/2 layer's recv in
 * records of at most TLS_RECORD_MAX bytes, after its open, as the TLS filter hands it over. The
 * connection is a stream_conn_t of a listener built here with the DoH listener's layer
 * (doh_any_app) and no filter (stream_send() then queues plaintext), adopted on one end of a
 * socketpair: what the server writes is read at the other end. When the input is spent the server
 * is left to write what it has, then ends the connection as its idle timer does (GOAWAY, then
 * close). The resolver holds one own zone, the pkarr test vector (vectors.json "pkarr_packet"), so
 * that queries get real answers. No upstream: other names are refused at once. Names under other
 * keys wait for a DHT that finds nothing, one loop turn later (fake_dht_get()), so that answers
 * also come late, through doh_reply(), to streams and connections that may be gone by then.
 *
 * A second nghttp2 server session (the "shadow") reads the same bytes and records each
 * request: its method, :path and body. Checked (a broken rule aborts):
 * - the connection is freed when it ends, once the answers it was owed came;
 * - an HTTP/1 client gets whole HTTP/1.1 responses, each with a known status and a
 *   Content-Length as long as its body, a 200 carrying a DNS response (QR=1) as
 *   application/dns-message with a max-age within its TTLs, and nothing else;
 * - otherwise the output is whole HTTP/2 frames, each at most 16384 bytes (RFC 9113 §4.2),
 *   starting with SETTINGS (RFC 9113 §3.4), of types a server sends, on the streams they
 *   belong to (§6), header blocks continued only by CONTINUATION (§6.10), decodable HPACK;
 * - each response is one HEADERS block with a known :status, then DATA as long as its
 *   content-length;
 * - a 200 carries application/dns-message, a well-formed DNS response (QR=1), and a
 *   cache-control max-age within the TTLs of its records (RFC 8484 §5.1);
 * - when the shadow knows the query of the stream (a POST body, or the only parameter of a
 *   GET, `dns`, strictly base64url), the answer passes fuzz_check_response() (ID and question
 *   echoed, ...), a well-formed query (dns_query_parse() neither drops it nor says FORMERR)
 *   is never refused with 400, and a message that is no query never gets a 200 (RFC 8484
 *   core, dns/doh.h: a malformed query is the HTTP client's error, 400, as on the API port).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "common/err.h"
#include "dns/query.h"
#include "fuzz.h"
#include "net/doh.h"
#include "net/http1.h"
#include "net/stream.h"
#include "resolver/resolver.h"
#include "item/item.h"
#include "zone/zone.h"

#define UDP_PAYLOAD 1232
#define MIN_TTL 300
#define MAX_TTL 86400
#define MAX_STREAMS 8	/* SETTINGS_MAX_CONCURRENT_STREAMS: small, so that inputs reach it */
#define FRAME_MAX 16384 /* RFC 9113 §4.2: nghttp2 sends no larger frame */
#define DNS_MAX 65535	/* RFC 8484 §6 */
#define PUMP_MAX 1000	/* loop turns allowed for the output to drain and the handles to close */
#define TLS_RECORD_MAX 16384 /* RFC 8446 §5.1: what the TLS filter hands over at once */

/* HTTP/2 frame types and flags (RFC 9113 §6). */
enum {
	F_DATA = 0,
	F_HEADERS,
	F_PRIORITY,
	F_RST_STREAM,
	F_SETTINGS,
	F_PUSH_PROMISE,
	F_PING,
	F_GOAWAY,
	F_WINDOW_UPDATE,
	F_CONTINUATION
};
#define FL_END_STREAM 0x1
#define FL_ACK 0x1
#define FL_END_HEADERS 0x4
#define FL_PADDED 0x8
#define FL_PRIORITY 0x20

/* A request as the shadow session read it. */
typedef struct shadow_req {
	struct shadow_req *next;
	int32_t id;
	char method[8];
	char *path;
	size_t path_len;
	uint8_t *body;
	size_t body_len;
	bool body_big; /* over DNS_MAX: not kept */
	bool done;     /* END_STREAM came */
} shadow_req_t;

/* A DHT lookup the resolver started; it ends, empty, on the next loop turn. */
typedef struct lookup {
	struct lookup *next;
	resolver_dht_cb cb;
	void *cbctx;
} lookup_t;

/* A response as read from the output. */
typedef struct resp {
	struct resp *next;
	int32_t id;
	unsigned blocks; /* header blocks */
	unsigned status;
	bool dns_type; /* content-type: application/dns-message */
	long clen;     /* content-length, -1: none */
	long max_age;  /* cache-control: max-age=, -1: none */
	uint8_t *body;
	size_t len, cap;
	bool ended;
} resp_t;

static struct {
	uv_loop_t loop;
	stream_srv_t *srv;
	nghttp2_session_callbacks *shadow_cbs;
	uv_timer_t dht_timer;
	lookup_t *lookups, *ending; /* waiting for the timer; being answered */
	int fd;			    /* the client's end of the socketpair */
	bool eof;		    /* the server's end is closed */
	uint8_t *out;		    /* what the server wrote */
	size_t out_len, out_cap;
	shadow_req_t *reqs;
	resp_t *resps;
} fz;

/* ---- the resolver's DHT: nobody has anything ---- */

static void on_dht_timer(uv_timer_t *t)
{
	/* Lookups started from the callbacks wait for the next turn; those cancelled from them
	 * leave fz.ending. */
	fz.ending = fz.lookups;
	fz.lookups = NULL;
	while (fz.ending) {
		lookup_t *l = fz.ending;
		resolver_dht_result_t res = {.done = true, .err = SW_ECONN};
		fz.ending = l->next;
		l->cb(l->cbctx, &res);
		free(l);
	}
}

static int fake_dht_get(void *ctx, const uint8_t pk[32], const uint8_t *salt, size_t salt_len,
			resolver_dht_cb cb, void *cbctx)
{
	(void)salt;
	(void)salt_len;
	lookup_t *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return SW_ENOMEM;
	l->cb = cb;
	l->cbctx = cbctx;
	l->next = fz.lookups;
	fz.lookups = l;
	uv_timer_start(&fz.dht_timer, on_dht_timer, 0, 0);
	return 0;
}

static void fake_dht_cancel(void *ctx, void *cbctx)
{
	lookup_t **lists[] = {&fz.lookups, &fz.ending};
	for (size_t i = 0; i < 2; i++) {
		for (lookup_t **p = lists[i]; *p;) {
			lookup_t *l = *p;
			if (l->cbctx == cbctx) {
				*p = l->next;
				free(l);
			} else {
				p = &l->next;
			}
		}
	}
}

static uint64_t fake_now_ms(void *ctx)
{
	return uv_now(&fz.loop);
}

/* ---- the shadow: what each request asked ---- */

static shadow_req_t *req_find(int32_t id)
{
	for (shadow_req_t *q = fz.reqs; q; q = q->next)
		if (q->id == id)
			return q;
	return NULL;
}

static int sh_begin_headers(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	shadow_req_t *q = calloc(1, sizeof(*q));
	FUZZ_CHECK(q != NULL, "out of memory");
	q->id = f->hd.stream_id;
	q->next = fz.reqs;
	fz.reqs = q;
	return 0;
}

static int sh_header(nghttp2_session *h2, const nghttp2_frame *f, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	shadow_req_t *q = req_find(f->hd.stream_id);
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST || q == NULL)
		return 0;
	if (namelen == 7 && memcmp(name, ":method", 7) == 0 && valuelen < sizeof(q->method)) {
		memcpy(q->method, value, valuelen);
		q->method[valuelen] = '\0';
	} else if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
		free(q->path);
		q->path = malloc(valuelen + 1);
		FUZZ_CHECK(q->path != NULL, "out of memory");
		memcpy(q->path, value, valuelen);
		q->path_len = valuelen;
	}
	return 0;
}

static int sh_data(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
		   void *ud)
{
	shadow_req_t *q = req_find(id);
	if (q == NULL || q->body_big)
		return 0;
	if (q->body_len + len > DNS_MAX) {
		q->body_big = true;
		return 0;
	}
	uint8_t *b = realloc(q->body, q->body_len + len + 1);
	FUZZ_CHECK(b != NULL, "out of memory");
	memcpy(b + q->body_len, data, len);
	q->body = b;
	q->body_len += len;
	return 0;
}

static int sh_frame_recv(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
	shadow_req_t *q = req_find(f->hd.stream_id);
	if (q && (f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		q->done = true;
	return 0;
}

/* The DNS message the request carried, when it is plain: a POST body, or a GET of
 * /dns-query whose only parameter is dns. */
static bool req_query(const shadow_req_t *q, uint8_t *out, size_t cap, size_t *len)
{
	static const char get_prefix[] = "/dns-query?dns=";
	size_t pl = sizeof(get_prefix) - 1;
	if (!q->done)
		return false;
	if (strcmp(q->method, "POST") == 0 && !q->body_big && q->body_len <= cap) {
		if (q->body_len)
			memcpy(out, q->body, q->body_len);
		*len = q->body_len;
		return true;
	}
	if (strcmp(q->method, "GET") != 0 || q->path == NULL || q->path_len < pl ||
	    memcmp(q->path, get_prefix, pl) != 0 || memchr(q->path, '&', q->path_len))
		return false;
	return fuzz_b64url_decode(q->path + pl, q->path_len - pl, out, cap, len);
}

/* ---- the output: HTTP/2 frames ---- */

static resp_t *resp_get(int32_t id)
{
	for (resp_t *r = fz.resps; r; r = r->next)
		if (r->id == id)
			return r;
	resp_t *r = calloc(1, sizeof(*r));
	FUZZ_CHECK(r != NULL, "out of memory");
	r->id = id;
	r->clen = r->max_age = -1;
	r->next = fz.resps;
	fz.resps = r;
	return r;
}

static long number(const uint8_t *v, size_t len)
{
	long n = 0;
	if (len == 0 || len > 9)
		return -2;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -2;
		n = n * 10 + (v[i] - '0');
	}
	return n;
}

static void resp_header(resp_t *r, const nghttp2_nv *nv)
{
	static const char ma[] = "max-age=";
	if (nv->namelen == 7 && memcmp(nv->name, ":status", 7) == 0) {
		long s = number(nv->value, nv->valuelen);
		FUZZ_CHECK(nv->valuelen == 3 && s >= 100, "bad :status");
		r->status = (unsigned)s;
	} else if (nv->namelen == 12 && memcmp(nv->name, "content-type", 12) == 0) {
		r->dns_type =
		    nv->valuelen == 23 && memcmp(nv->value, "application/dns-message", 23) == 0;
	} else if (nv->namelen == 14 && memcmp(nv->name, "content-length", 14) == 0) {
		r->clen = number(nv->value, nv->valuelen);
		FUZZ_CHECK(r->clen >= 0, "bad content-length");
	} else if (nv->namelen == 13 && memcmp(nv->name, "cache-control", 13) == 0) {
		FUZZ_CHECK(nv->valuelen > sizeof(ma) - 1 &&
			       memcmp(nv->value, ma, sizeof(ma) - 1) == 0,
			   "cache-control is not max-age=");
		r->max_age = number(nv->value + sizeof(ma) - 1, nv->valuelen - (sizeof(ma) - 1));
		FUZZ_CHECK(r->max_age >= 0, "bad max-age");
	}
}

/* One header block of the server, HPACK (RFC 7541). */
static void header_block(nghttp2_hd_inflater *infl, resp_t *r, const uint8_t *in, size_t len)
{
	FUZZ_CHECK(r->blocks == 0, "stream %d: a second header block", r->id);
	FUZZ_CHECK(r->len == 0, "stream %d: headers after DATA", r->id);
	r->blocks++;
	for (;;) {
		nghttp2_nv nv;
		int flags = 0;
		ssize_t n = nghttp2_hd_inflate_hd2(infl, &nv, &flags, in, len, 1);
		FUZZ_CHECK(n >= 0, "stream %d: HPACK that does not decode: %s", r->id,
			   nghttp2_strerror((int)n));
		in += n;
		len -= (size_t)n;
		if (flags & NGHTTP2_HD_INFLATE_EMIT)
			resp_header(r, &nv);
		if (flags & NGHTTP2_HD_INFLATE_FINAL) {
			nghttp2_hd_inflate_end_headers(infl);
			break;
		}
		FUZZ_CHECK(n > 0 || len > 0, "stream %d: header block ends early", r->id);
	}
	FUZZ_CHECK(r->status != 0, "stream %d: a response without :status", r->id);
}

/* The stream ended: the response is complete. */
static void resp_check(resp_t *r)
{
	static const unsigned known[] = {200, 400, 404, 405, 413, 415, 431, 500, 503};
	bool ok = false;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		ok |= r->status == known[i];
	FUZZ_CHECK(ok, "stream %d: status %u", r->id, r->status);
	FUZZ_CHECK(r->clen == (long)r->len, "stream %d: content-length %ld, %zu bytes of DATA",
		   r->id, r->clen, r->len);
	r->ended = true;

	static uint8_t q[DNS_MAX];
	size_t qlen = 0;
	const shadow_req_t *req = req_find(r->id);
	bool known_q = req && req_query(req, q, sizeof(q), &qlen);
	bool droppable = qlen < 12 || (q[2] & 0x80);
	dns_query_t dq;
	int pr = known_q ? dns_query_parse(q, qlen, &dq) : DNS_QUERY_DROP;
	bool malformed =
	    pr == DNS_QUERY_DROP || (pr == DNS_QUERY_ERROR && dq.rcode == DNS_RCODE_FORMERR);
	if (r->status != 200) {
		/* resolver.h: every message with a header and QR=0 gets an answer; the RFC 8484
		 * core turns a malformed one into 400 before it reaches the resolver. */
		FUZZ_CHECK(!known_q || malformed || r->status != 400,
			   "stream %d: a DNS query (%zu bytes) refused with 400", r->id, qlen);
		return;
	}
	FUZZ_CHECK(r->dns_type, "stream %d: 200 without content-type application/dns-message",
		   r->id);
	fuzz_msg_t m;
	const char *err = fuzz_msg_walk(r->body, r->len, &m);
	FUZZ_CHECK(err == NULL, "stream %d: the DNS response is malformed: %s", r->id, err);
	FUZZ_CHECK(r->body[2] & 0x80, "stream %d: the DNS response has QR=0", r->id);
	/* RFC 8484 §5.1: no fresher than the smallest TTL of the answer (here: within the TTLs
	 * of all the records); no records, nothing to keep. */
	FUZZ_CHECK(r->max_age >= 0, "stream %d: 200 without cache-control", r->id);
	FUZZ_CHECK(r->max_age == 0 || (m.nrr > 0 && (uint32_t)r->max_age >= m.ttl_min &&
				       (uint32_t)r->max_age <= m.ttl_max),
		   "stream %d: max-age=%ld, record TTLs %u..%u", r->id, r->max_age, m.ttl_min,
		   m.ttl_max);
	if (known_q) {
		FUZZ_CHECK(!droppable, "stream %d: a message that is no query got a 200", r->id);
		fuzz_resp_ctx_t ctx = {.cap = DNS_MAX,
				       .udp = 0,
				       .udp_payload = UDP_PAYLOAD,
				       .min_ttl = MIN_TTL,
				       .max_ttl = MAX_TTL};
		fuzz_check_response(q, qlen, r->body, r->len, &ctx);
	}
}

static uint32_t get24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* An HTTP/1 client: whole HTTP/1.1 responses, one after the other. */
static void check_http1(void)
{
	static const char start[] = "HTTP/1.1 ";
	static const char cl[] = "\r\nContent-Length: ";
	static const char ma[] = "\r\nCache-Control: max-age=";
	static const char ct[] = "\r\nContent-Type: application/dns-message\r\n";
	static const unsigned known[] = {200, 400, 404, 405, 413, 414, 415, 431, 501, 503, 505};
	size_t pos = 0;
	while (pos < fz.out_len) {
		const char *o = (const char *)fz.out + pos;
		size_t left = fz.out_len - pos;
		FUZZ_CHECK(left > sizeof(start) + 4 && memcmp(o, start, sizeof(start) - 1) == 0,
			   "an HTTP/1 response does not start with HTTP/1.1");
		unsigned status = (unsigned)strtoul(o + sizeof(start) - 1, NULL, 10);
		bool ok = false;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok |= status == known[i];
		FUZZ_CHECK(ok, "HTTP/1 status %u", status);
		const char *end = memmem(o, left, "\r\n\r\n", 4);
		FUZZ_CHECK(end != NULL, "an HTTP/1 response without the end of its headers");
		size_t hl = (size_t)(end + 4 - o);
		const char *len = memmem(o, hl, cl, sizeof(cl) - 1);
		FUZZ_CHECK(len != NULL, "an HTTP/1 response without Content-Length");
		size_t body = strtoul(len + sizeof(cl) - 1, NULL, 10);
		FUZZ_CHECK(hl + body <= left, "an HTTP/1 response shorter than its Content-Length");
		if (status == 200) {
			const uint8_t *b = (const uint8_t *)end + 4;
			fuzz_msg_t m;
			FUZZ_CHECK(memmem(o, hl, ct, sizeof(ct) - 1) != NULL,
				   "an HTTP/1 200 without application/dns-message");
			const char *err = fuzz_msg_walk(b, body, &m);
			FUZZ_CHECK(err == NULL, "an HTTP/1 DNS response is malformed: %s", err);
			FUZZ_CHECK(b[2] & 0x80, "an HTTP/1 DNS response has QR=0");
			const char *age = memmem(o, hl, ma, sizeof(ma) - 1);
			FUZZ_CHECK(age != NULL, "an HTTP/1 200 without Cache-Control max-age");
			unsigned long a = strtoul(age + sizeof(ma) - 1, NULL, 10);
			FUZZ_CHECK(a == 0 || (m.nrr > 0 && a >= m.ttl_min && a <= m.ttl_max),
				   "HTTP/1 max-age=%lu, record TTLs %u..%u", a, m.ttl_min,
				   m.ttl_max);
		}
		pos += hl + body;
	}
}

static void check_h2(void)
{
	nghttp2_hd_inflater *infl = NULL;
	static uint8_t block[1 << 20];
	size_t block_len = 0, pos = 0;
	int32_t block_stream = 0; /* a header block continues on this stream */
	resp_t *block_resp = NULL;
	bool block_ends_stream = false;

	FUZZ_CHECK(nghttp2_hd_inflate_new(&infl) == 0, "out of memory");
	while (pos < fz.out_len) {
		FUZZ_CHECK(fz.out_len - pos >= 9, "a partial frame header at the end");
		const uint8_t *h = fz.out + pos, *p = h + 9;
		uint32_t len = get24(h), sid = get32(h + 5);
		uint8_t type = h[3], flags = h[4];
		FUZZ_CHECK(len <= FRAME_MAX, "a frame of %u bytes", len);
		FUZZ_CHECK(fz.out_len - pos - 9 >= len, "a partial frame at the end");
		FUZZ_CHECK(!(sid & 0x80000000u), "the reserved bit of the stream id is set");
		/* RFC 9113 §3.4: the server's preface is a SETTINGS frame. */
		FUZZ_CHECK(pos > 0 || (type == F_SETTINGS && !(flags & FL_ACK)),
			   "the first frame is not SETTINGS");
		/* RFC 9113 §6.10: a header block is continued by CONTINUATION only. */
		FUZZ_CHECK(block_stream == 0 ||
			       (type == F_CONTINUATION && sid == (uint32_t)block_stream),
			   "a header block of stream %d interrupted", block_stream);
		pos += 9 + len;
		bool stream_frame = type == F_DATA || type == F_HEADERS || type == F_RST_STREAM ||
				    type == F_CONTINUATION;
		if (stream_frame)
			FUZZ_CHECK(sid % 2 == 1, "frame type %u on stream %u, not a client's", type,
				   sid);
		else if (type != F_WINDOW_UPDATE)
			FUZZ_CHECK(sid == 0, "frame type %u on stream %u", type, sid);
		switch (type) {
		case F_DATA: {
			resp_t *r = resp_get((int32_t)sid);
			FUZZ_CHECK(!(flags & FL_PADDED), "padded DATA");
			FUZZ_CHECK(r->blocks == 1 && !r->ended,
				   "stream %u: DATA outside a response", sid);
			if (r->cap - r->len < len) {
				size_t cap = r->len + len + 1024;
				uint8_t *b = realloc(r->body, cap);
				FUZZ_CHECK(b != NULL, "out of memory");
				r->body = b;
				r->cap = cap;
			}
			if (len)
				memcpy(r->body + r->len, p, len);
			r->len += len;
			if (flags & FL_END_STREAM)
				resp_check(r);
			break;
		}
		case F_HEADERS:
		case F_CONTINUATION:
			FUZZ_CHECK(type == F_HEADERS || block_stream != 0,
				   "CONTINUATION without HEADERS");
			if (type == F_HEADERS) {
				FUZZ_CHECK(!(flags & (FL_PADDED | FL_PRIORITY)),
					   "HEADERS with flags %x", flags);
				block_resp = resp_get((int32_t)sid);
				FUZZ_CHECK(!block_resp->ended, "stream %u: HEADERS after its end",
					   sid);
				block_ends_stream = flags & FL_END_STREAM;
				block_len = 0;
			}
			FUZZ_CHECK(block_len + len <= sizeof(block), "a header block over 1 MB");
			memcpy(block + block_len, p, len);
			block_len += len;
			block_stream = (int32_t)sid;
			if (flags & FL_END_HEADERS) {
				block_stream = 0;
				header_block(infl, block_resp, block, block_len);
				if (block_ends_stream)
					resp_check(block_resp);
			}
			break;
		case F_RST_STREAM:
			FUZZ_CHECK(len == 4, "RST_STREAM of %u bytes", len);
			break;
		case F_SETTINGS:
			FUZZ_CHECK((flags & FL_ACK) ? len == 0 : len % 6 == 0,
				   "SETTINGS of %u bytes", len);
			break;
		case F_PING:
			/* The server only answers pings (RFC 9113 §6.7). */
			FUZZ_CHECK(len == 8 && (flags & FL_ACK), "PING of %u bytes, flags %x", len,
				   flags);
			break;
		case F_GOAWAY:
			FUZZ_CHECK(len >= 8, "GOAWAY of %u bytes", len);
			break;
		case F_WINDOW_UPDATE:
			FUZZ_CHECK(len == 4 && (get32(p) & 0x7fffffffu) != 0, "bad WINDOW_UPDATE");
			break;
		default:
			/* PRIORITY, PUSH_PROMISE (never pushed), unknown types. */
			FUZZ_CHECK(0, "the server sent a frame of type %u", type);
		}
	}
	FUZZ_CHECK(block_stream == 0, "the output ends inside a header block");
	nghttp2_hd_inflate_del(infl);
}

/* ---- the connection ---- */

/* Reads what the server wrote so far. */
static void drain(void)
{
	for (;;) {
		if (fz.out_cap - fz.out_len < 65536) {
			size_t cap = fz.out_cap ? 2 * fz.out_cap : 1 << 20;
			uint8_t *b = realloc(fz.out, cap);
			FUZZ_CHECK(b != NULL, "out of memory");
			fz.out = b;
			fz.out_cap = cap;
		}
		ssize_t n = read(fz.fd, fz.out + fz.out_len, fz.out_cap - fz.out_len);
		if (n > 0) {
			fz.out_len += (size_t)n;
			continue;
		}
		if (n == 0)
			fz.eof = true;
		else
			FUZZ_CHECK(errno == EAGAIN || errno == EINTR, "read: %s", strerror(errno));
		return;
	}
}

static void pump(void)
{
	uv_run(&fz.loop, UV_RUN_NOWAIT);
	drain();
}

static void setup(void)
{
	resolver_opts_t opts = {
	    .udp_payload = UDP_PAYLOAD,
	    .zone = {.min_ttl = MIN_TTL, .max_ttl = MAX_TTL},
	    .cache_size = 64,
	    .io = {.now_ms = fake_now_ms, .dht_get = fake_dht_get, .dht_cancel = fake_dht_cancel},
	};
	resolver_t *r = NULL;
	static item_t item;
	zone_t *z = NULL;

	/* A server that went away must not end the run. */
	signal(SIGPIPE, SIG_IGN);
	FUZZ_CHECK(uv_loop_init(&fz.loop) == 0, "uv_loop_init");
	uv_timer_init(&fz.loop, &fz.dht_timer);
	FUZZ_CHECK(resolver_new(&opts, &r) == 0, "resolver_new");
	int ret = item_relay_parse(fuzz_pkarr_pk, fuzz_pkarr_relay, fuzz_pkarr_relay_len, &item);
	FUZZ_CHECK(ret == 0, "item_relay_parse: %s", sw_strerror(ret));
	ret = zone_build(fuzz_pkarr_pk, &item, &opts.zone, &z);
	FUZZ_CHECK(ret == 0, "zone_build of the pkarr vector: %s", sw_strerror(ret));
	FUZZ_CHECK(resolver_zone_put(r, z) == 0, "resolver_zone_put");

	stream_srv_t *s = calloc(1, sizeof(*s));
	FUZZ_CHECK(s != NULL, "out of memory");
	s->loop = &fz.loop;
	s->resolver = r;
	s->opts = (stream_opts_t){.idle_timeout_ms = 10000,
				  .handshake_timeout_ms = 10000,
				  .max_clients = 1,
				  .max_streams = MAX_STREAMS};
	s->app = &doh_any_app;
	s->tp = SW_TP_DOH;
	s->pad = true;
	FUZZ_CHECK(stream_listen(s, NULL) == 0, "stream_listen");
	fz.srv = s;

	nghttp2_session_callbacks *cb;
	FUZZ_CHECK(nghttp2_session_callbacks_new(&cb) == 0, "out of memory");
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, sh_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, sh_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, sh_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, sh_frame_recv);
	fz.shadow_cbs = cb;
}

/* The shadow session: the same SETTINGS as the DoH layer's, so that it reads as the server
 * does. */
static nghttp2_session *shadow_new(void)
{
	nghttp2_session *h2;
	nghttp2_settings_entry iv[] = {
	    {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS},
	    {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 16384},
	};
	FUZZ_CHECK(nghttp2_session_server_new(&h2, fz.shadow_cbs, NULL) == 0, "out of memory");
	FUZZ_CHECK(nghttp2_submit_settings(h2, NGHTTP2_FLAG_NONE, iv, 2) == 0, "out of memory");
	return h2;
}

static void shadow_recv(nghttp2_session *h2, const uint8_t *data, size_t len)
{
	const uint8_t *out;
	if (nghttp2_session_mem_recv(h2, data, len) < 0)
		return;
	while (nghttp2_session_mem_send(h2, &out) > 0)
		;
}

static void reset(void)
{
	while (fz.reqs) {
		shadow_req_t *q = fz.reqs;
		fz.reqs = q->next;
		free(q->path);
		free(q->body);
		free(q);
	}
	while (fz.resps) {
		resp_t *r = fz.resps;
		fz.resps = r->next;
		free(r->body);
		free(r);
	}
	fz.out_len = 0;
	fz.eof = false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fz.srv == NULL)
		setup();
	stream_srv_t *s = fz.srv;
	int sv[2];
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0,
		   "socketpair: %s", strerror(errno));
	fz.fd = sv[1];
	/* As accept and the TLS handshake leave it: the DoH layer open (stream_app_open()). */
	stream_conn_t *c = stream_conn_adopt(s, sv[0], false);
	FUZZ_CHECK(c != NULL, "stream_conn_adopt");
	nghttp2_session *shadow = shadow_new();
	bool http1 = false;

	/* As tls_recv() and recv_records() in tls.c: a record at a time, under cork. The
	 * connection is freed only in a loop turn after it closed (s->nconns says so). */
	for (size_t pos = 0; pos < size && s->nconns == 1 && !c->ending;) {
		size_t n = size - pos < TLS_RECORD_MAX ? size - pos : TLS_RECORD_MAX;
		stream_cork(c);
		int ret = c->app_ops->recv(c, data + pos, n);
		http1 = c->app_ops == &http1_app;
		if (!c->closing && !c->ending && ret != 0)
			stream_close(c);
		stream_flush(c);
		shadow_recv(shadow, data + pos, n);
		pos += n;
		pump();
	}
	/* The client is quiet: once the answers owed came and the output is written, the idle
	 * timer ends the connection (on_timer() in stream.c). */
	for (int i = 0; i < PUMP_MAX && s->nconns == 1 && (c->pending || c->writing || c->pbuf.len);
	     i++)
		pump();
	if (s->nconns == 1 && !c->ending) {
		stream_cork(c);
		if (c->app_ops->idle)
			c->app_ops->idle(c);
		stream_flush(c);
		stream_end(c);
	}
	for (int i = 0; i < PUMP_MAX && (uv_loop_alive(&fz.loop) || !fz.eof); i++)
		pump();
	FUZZ_CHECK(s->nconns == 0 && !uv_loop_alive(&fz.loop), "the connection did not close");
	FUZZ_CHECK(fz.lookups == NULL && resolver_stats(s->resolver)->pending == 0,
		   "%" PRIu64 " queries still wait", resolver_stats(s->resolver)->pending);
	FUZZ_CHECK(fz.eof, "the socket was not closed");
	close(fz.fd);
	nghttp2_session_del(shadow);

	if (http1)
		check_http1();
	else if (fz.out_len > 0)
		check_h2();
	reset();
	return 0;
}
