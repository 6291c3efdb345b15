/*
 * Fuzz target for the HTTP API (src/api/api.c over libmicrohttpd, with src/api/dnsmsg.c and
 * src/api/metrics.c behind it): the input is what one client sends on one connection, one
 * HTTP/1.1 request or several pipelined. The API runs on its own libuv loop with no listening
 * socket; the connection is one end of a socketpair handed over with api_add_connection(),
 * from 192.0.2.7 (not loopback: writes need the api-token, API_TOKEN here). The input is
 * written at the other end, the loop runs until nothing more happens, then the client
 * half-closes and reads until the API closes the connection.
 *
 * Built once and kept across inputs, as a running node keeps them: a resolver serving the
 * pkarr test vector (vectors.json "pkarr_packet") as an own zone, an LMDB store in a
 * temporary directory (its files unlinked at once, so that nothing is left behind), and a
 * DHT node on 127.0.0.1 with no peers, wired to the resolver as src/daemon does: every DHT
 * lookup and put ends at its next tick ("no node answered"), so requests that wait for the
 * DHT are answered within a few loop turns. The node stores two items as if others had put
 * them: the pkarr vector's, and the same packet signed by the key of 32 bytes 0x5a (no own
 * zone), so that gets find them and names under that key are answered from the DHT. No
 * upstream: other names are refused.
 *
 * A placeholder lets mutated zones through the signature check, as in fuzz/krpc_node.c: where
 * the input holds SIG_PH (64 bytes), the 8 bytes after it become the next of an increasing
 * seq and SIG_PH the Ed25519 signature (BEP 44) of that seq and of the rest of the input as
 * the packet, under the key of 32 bytes 0x5b (the "signer"). So a PUT of a relay body to
 * /<signer's key>, last in the input, stores whatever zone packet it carries, and the
 * requests of later inputs (/v1/resolve, /dns-query in JSON) render its records.
 *
 * Checked (a broken rule aborts):
 * - the API closes the connection after the client half-closed, within CLOSE_MS
 *   (no request left waiting);
 * - the output is a sequence of whole HTTP/1.1 responses: a status line "HTTP/1.1 NNN ",
 *   headers, and a body as long as Content-Length (none for 1xx, 204, 304 and HEAD);
 * - an application/json body parses as a JSON object or array; a 200
 *   application/dns-message body is a well-formed DNS response (QR=1); a /metrics body is
 *   Prometheus text (exposition format 0.0.4: # HELP, # TYPE, name{labels} value lines);
 * - when the first request is a plain RFC 8484 query (GET /dns-query?dns= with only that
 *   parameter, strictly base64url, or a POST with a Content-Length), a 200 DNS answer to it
 *   passes fuzz_check_response() (ID and question echoed, ...).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "api/api.h"
#include "common/err.h"
#include "crypto/crypto.h"
#include "fuzz.h"
#include "net/dht_host.h"
#include "resolver/own.h"
#include "resolver/resolver.h"
#include "store/store.h"
#include "item/item.h"

#define API_TOKEN "fuzz-token" /* make-corpus-http.py sends the same */
#define UDP_PAYLOAD 1232
#define MIN_TTL 300
#define MAX_TTL 86400
#define DNS_MAX 65535
#define PUMP_MAX 2000 /* loop turns for one phase of an input */
#define CLOSE_MS 2000 /* time for the API to answer what it owes and close (a DHT tick: 1 ms) */
#define IDLE_TURNS 3  /* turns without output or work due that make the API settled */
#define SIG_PH "SIGN-ME:SIGN-ME:SIGN-ME:SIGN-ME:SIGN-ME:SIGN-ME:SIGN-ME:SIGN-ME:"
#define SIGNER_SEED 0x5b

/* A DHT lookup the resolver asked for (as `lookup` in src/daemon/daemon.c). */
typedef struct lookup {
	struct lookup *prev, *next;
	resolver_dht_cb cb;
	void *cbctx;
} lookup_t;

static struct {
	uv_loop_t loop;
	api_t *api;
	api_ctx_t ctx;
	resolver_t *resolver;
	store_t *store;
	net_dht_t *dht;
	lookup_t *lookups;
	int fd;	      /* the client's end of the socketpair */
	bool eof;     /* the API closed its end */
	uint8_t *out; /* what the API wrote */
	size_t out_len, out_cap;
	uint8_t signer_sk[64];
	uint64_t signer_seq; /* the last seq SIG_PH was signed with */
} fz;

/* ---- the resolver's view of the DHT (resolver_io_t) ---- */

static uint64_t io_now_ms(void *ctx)
{
	return uv_now(&fz.loop);
}

static void lookup_unlink(lookup_t *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else
		fz.lookups = l->next;
	if (l->next)
		l->next->prev = l->prev;
}

static void on_zone_get(void *ctx, const dht_get_result_t *res)
{
	lookup_t *l = ctx;
	resolver_dht_result_t rr;
	own_dht_zone_result(res, &rr);
	if (res->done)
		lookup_unlink(l);
	l->cb(l->cbctx, &rr);
	if (res->done)
		free(l);
}

static int io_dht_get(void *ctx, const uint8_t pk[32], const uint8_t *salt, size_t salt_len,
		      resolver_dht_cb cb, void *cbctx)
{
	(void)salt;
	(void)salt_len;
	uint8_t target[DHT_ID_LEN];
	lookup_t *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return SW_ENOMEM;
	l->cb = cb;
	l->cbctx = cbctx;
	item_key_target(pk, NULL, 0, target);
	int ret = dht_get(net_dht_node(fz.dht), target, NULL, 0, true, on_zone_get, l);
	if (ret) {
		free(l);
		return ret;
	}
	l->next = fz.lookups;
	if (fz.lookups)
		fz.lookups->prev = l;
	fz.lookups = l;
	net_dht_kick_soon(fz.dht);
	return 0;
}

static void io_dht_cancel(void *ctx, void *cbctx)
{
	for (lookup_t *l = fz.lookups, *next; l; l = next) {
		next = l->next;
		if (l->cbctx != cbctx)
			continue;
		dht_cancel(net_dht_node(fz.dht), l);
		lookup_unlink(l);
		free(l);
	}
}

/* ---- the client ---- */

/* Reads what the API wrote so far. */
static size_t drain(void)
{
	size_t got = 0;
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
			got += (size_t)n;
			continue;
		}
		if (n == 0 || errno == ECONNRESET)
			fz.eof = true;
		else
			FUZZ_CHECK(errno == EAGAIN || errno == EINTR, "read: %s", strerror(errno));
		return got;
	}
}

/* One loop turn; returns whether anything happened or is due at once. */
static bool pump(void)
{
	uv_run(&fz.loop, UV_RUN_NOWAIT);
	size_t got = drain();
	return got > 0 || uv_backend_timeout(&fz.loop) == 0;
}

/* Runs the loop until it has settled: IDLE_TURNS turns in a row without output or work due
 * at once (MHD asks for an immediate run while it holds unread requests; a request waiting
 * for the DHT has a 0 ms timer due). */
static void settle(void)
{
	for (int i = 0, idle = 0; i < PUMP_MAX && idle < IDLE_TURNS && !fz.eof; i++)
		idle = pump() ? 0 : idle + 1;
}

/* ---- checking the output ---- */

static const uint8_t *find(const uint8_t *p, size_t len, const char *s)
{
	return memmem(p, len, s, strlen(s));
}

/* The value of header `name` in the header block [p, p + len), or NULL; *vlen its length. */
static const char *header(const uint8_t *p, size_t len, const char *name, size_t *vlen)
{
	size_t nl = strlen(name);
	const uint8_t *end = p + len;
	for (const uint8_t *line = p; line < end;) {
		const uint8_t *eol = find(line, (size_t)(end - line), "\r\n");
		if (eol == NULL)
			eol = end;
		if ((size_t)(eol - line) > nl && line[nl] == ':' &&
		    strncasecmp((const char *)line, name, nl) == 0) {
			const uint8_t *v = line + nl + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			*vlen = (size_t)(eol - v);
			return (const char *)v;
		}
		line = eol + 2;
	}
	return NULL;
}

static bool is_name_char(char ch, bool first)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == ':' ||
	       (!first && ch >= '0' && ch <= '9');
}

/* A metric name at *p; moves past it. */
static bool metric_name(const char **p, const char *end)
{
	const char *s = *p;
	if (s == end || !is_name_char(*s, true))
		return false;
	while (s < end && is_name_char(*s, false))
		s++;
	*p = s;
	return true;
}

/* Prometheus "Exposition formats", text format 0.0.4, line by line. */
static void check_metrics(const char *body, size_t len)
{
	const char *p = body, *end = body + len;
	FUZZ_CHECK(len > 0 && body[len - 1] == '\n', "metrics do not end with a newline");
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *s = p;
		if (eol - p >= 7 &&
		    (memcmp(p, "# HELP ", 7) == 0 || memcmp(p, "# TYPE ", 7) == 0)) {
			s += 7;
			FUZZ_CHECK(metric_name(&s, eol) && s < eol && *s == ' ',
				   "metrics: bad comment line: %.*s", (int)(eol - p), p);
			if (p[2] == 'T') {
				static const char *const types[] = {"counter", "gauge", "histogram",
								    "summary", "untyped"};
				bool ok = false;
				s++;
				for (size_t i = 0; i < 5; i++)
					ok |= (size_t)(eol - s) == strlen(types[i]) &&
					      memcmp(s, types[i], (size_t)(eol - s)) == 0;
				FUZZ_CHECK(ok, "metrics: bad type: %.*s", (int)(eol - p), p);
			}
			p = eol + 1;
			continue;
		}
		FUZZ_CHECK(metric_name(&s, eol), "metrics: bad sample line: %.*s", (int)(eol - p),
			   p);
		if (s < eol && *s == '{') {
			/* label="value", ..., with \\, \" and \n escaped in values */
			s++;
			while (s < eol && *s != '}') {
				FUZZ_CHECK(metric_name(&s, eol) && s + 1 < eol && s[0] == '=' &&
					       s[1] == '"',
					   "metrics: bad label: %.*s", (int)(eol - p), p);
				for (s += 2; s < eol && *s != '"'; s++)
					if (*s == '\\')
						s++;
				FUZZ_CHECK(s < eol, "metrics: unterminated label: %.*s",
					   (int)(eol - p), p);
				s++;
				if (s < eol && *s == ',')
					s++;
			}
			FUZZ_CHECK(s < eol, "metrics: unterminated labels: %.*s", (int)(eol - p),
				   p);
			s++;
		}
		FUZZ_CHECK(s < eol && *s == ' ', "metrics: no value: %.*s", (int)(eol - p), p);
		char num[64], *nend;
		size_t nl = (size_t)(eol - s - 1);
		FUZZ_CHECK(nl > 0 && nl < sizeof(num), "metrics: bad value: %.*s", (int)(eol - p),
			   p);
		memcpy(num, s + 1, nl);
		num[nl] = '\0';
		strtod(num, &nend);
		FUZZ_CHECK(*nend == '\0' || *nend == ' ', "metrics: bad value: %.*s",
			   (int)(eol - p), p);
		p = eol + 1;
	}
}

/* The DNS query of the input's first request, when it is plain (see the top). */
static bool first_query(const uint8_t *in, size_t len, uint8_t *q, size_t cap, size_t *qlen)
{
	static const char get[] = "GET /dns-query?dns=", post[] = "POST /dns-query HTTP/1.1\r\n";
	const uint8_t *eoh = find(in, len, "\r\n\r\n");
	if (eoh == NULL)
		return false;
	if (len > sizeof(get) && memcmp(in, get, sizeof(get) - 1) == 0) {
		const char *b = (const char *)in + sizeof(get) - 1;
		const char *sp = memchr(b, ' ', (size_t)((const char *)eoh - b));
		if (sp == NULL || strncmp(sp, " HTTP/1.1\r\n", 11) != 0)
			return false;
		return fuzz_b64url_decode(b, (size_t)(sp - b), q, cap, qlen);
	}
	if (len < sizeof(post) || memcmp(in, post, sizeof(post) - 1) != 0)
		return false;
	const uint8_t *h = in + sizeof(post) - 1;
	size_t hl = (size_t)(eoh + 2 - h), vl;
	const char *cl = header(h, hl, "Content-Length", &vl);
	if (cl == NULL || vl == 0 || vl > 5 || header(h, hl, "Transfer-Encoding", &vl) ||
	    find(h, hl, "\r\nContent-Length") != find(h, hl, "\r\ncontent-length") ||
	    strspn(cl, "0123456789") < vl)
		return false;
	size_t n = strtoul(cl, NULL, 10), off = (size_t)(eoh + 4 - in);
	if (n > cap || len - off < n)
		return false;
	if (n)
		memcpy(q, eoh + 4, n);
	*qlen = n;
	return true;
}

/* Checks one response's body by its type. query: the first request's, or NULL. */
static void check_body(unsigned status, const uint8_t *h, size_t hl, const uint8_t *body,
		       size_t len, const uint8_t *query, size_t qlen)
{
	size_t tl;
	const char *type = header(h, hl, "Content-Type", &tl);
	if (type == NULL)
		return;
	if ((tl >= 16 && strncmp(type, "application/json", 16) == 0) ||
	    (tl >= 20 && strncmp(type, "application/dns-json", 20) == 0)) {
		json_error_t e;
		json_t *j = json_loadb((const char *)body, len, 0, &e);
		FUZZ_CHECK(j && (json_is_object(j) || json_is_array(j)), "status %u: bad JSON: %s",
			   status, e.text);
		json_decref(j);
	} else if (tl == 23 && strncmp(type, "application/dns-message", 23) == 0 && status == 200) {
		fuzz_msg_t m;
		const char *err = fuzz_msg_walk(body, len, &m);
		FUZZ_CHECK(err == NULL, "the DNS response is malformed: %s", err);
		FUZZ_CHECK(body[2] & 0x80, "the DNS response has QR=0");
		if (query) {
			fuzz_resp_ctx_t ctx = {.cap = DNS_MAX,
					       .udp = 0,
					       .udp_payload = UDP_PAYLOAD,
					       .min_ttl = MIN_TTL,
					       .max_ttl = MAX_TTL};
			fuzz_check_response(query, qlen, body, len, &ctx);
		}
	} else if (tl >= 25 && strncmp(type, "text/plain; version=0.0.4", 25) == 0 &&
		   status == 200) {
		check_metrics((const char *)body, len);
	}
}

static bool is_response_start(const uint8_t *p, size_t len)
{
	return len >= 13 && memcmp(p, "HTTP/1.1 ", 9) == 0 && p[9] >= '1' && p[9] <= '5' &&
	       p[10] >= '0' && p[10] <= '9' && p[11] >= '0' && p[11] <= '9' && p[12] == ' ';
}

static void check_output(const uint8_t *in, size_t in_len)
{
	static uint8_t q[DNS_MAX];
	size_t qlen = 0, pos = 0;
	bool first = true, known = first_query(in, in_len, q, sizeof(q), &qlen);
	while (pos < fz.out_len) {
		const uint8_t *p = fz.out + pos;
		size_t left = fz.out_len - pos;
		FUZZ_CHECK(is_response_start(p, left), "no status line at byte %zu: %.*s", pos,
			   (int)(left < 40 ? left : 40), (const char *)p);
		const uint8_t *eoh = find(p, left, "\r\n\r\n");
		FUZZ_CHECK(eoh != NULL, "a response without an end of headers");
		unsigned status =
		    (unsigned)((p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0'));
		const uint8_t *h = find(p, left, "\r\n") + 2;
		size_t hl = (size_t)(eoh + 2 - h), vl, body = 0, hdr = (size_t)(eoh + 4 - p);
		FUZZ_CHECK(header(h, hl, "Transfer-Encoding", &vl) == NULL, "a chunked response");
		const char *cl = header(h, hl, "Content-Length", &vl);
		if (status >= 200 && status != 204 && status != 304) {
			FUZZ_CHECK(cl && vl > 0 && strspn(cl, "0123456789") >= vl,
				   "status %u without Content-Length", status);
			body = strtoul(cl, NULL, 10);
		}
		/* A response to HEAD has the length of what GET would give, and no body. */
		bool head = false;
		if (body > 0 && (left - hdr < body ||
				 (left - hdr > body &&
				  !is_response_start(p + hdr + body, left - hdr - body)))) {
			FUZZ_CHECK(left == hdr || is_response_start(p + hdr, left - hdr),
				   "status %u: %zu bytes of body, %zu announced", status,
				   left - hdr, body);
			body = 0;
			head = true;
		}
		if (status >= 200 && !head) {
			check_body(status, h, hl, p + hdr, body, first && known ? q : NULL, qlen);
			first = false;
		}
		pos += hdr + body;
	}
}

/* Replaces SIG_PH and the seq after it (see the top of the file). */
static void sign_placeholder(uint8_t *buf, size_t len)
{
	uint8_t *p = memmem(buf, len, SIG_PH, 64);
	if (p == NULL || (size_t)(buf + len - p) < ITEM_RELAY_HDR)
		return;
	static item_t zi;
	if (item_init(&zi, fz.signer_sk + 32, NULL, 0, (int64_t)fz.signer_seq + 1) != 0 ||
	    item_set_str(&zi, p + ITEM_RELAY_HDR, (size_t)(buf + len - p) - ITEM_RELAY_HDR) != 0 ||
	    item_sign(&zi, fz.signer_sk) != 0)
		return; /* a packet too big stays unsigned */
	fz.signer_seq = zi.seq;
	memcpy(p, zi.sig, 64);
	for (int i = 0; i < 8; i++)
		p[64 + i] = (uint8_t)((uint64_t)zi.seq >> (56 - 8 * i));
}

/* ---- setup ---- */

/* Stores the items of the top of the file in the DHT node; makes the signer's key. */
static void dht_items(void)
{
	dht_t *node = net_dht_node(fz.dht);
	uint8_t seed[32], pk[32], sk[64];
	static item_t it;
	int ret;

	zone_item(resolver_zone_find(fz.resolver, fuzz_pkarr_pk), &it);
	ret = dht_item_load(node, &it, uv_now(&fz.loop));
	FUZZ_CHECK(ret == 0, "dht_item_load: %s", sw_strerror(ret));
	memset(seed, 0x5a, sizeof(seed));
	sw_ed25519_from_seed(seed, pk, sk);
	FUZZ_CHECK(item_init(&it, pk, NULL, 0, 1) == 0 &&
		       item_set_str(&it, fuzz_pkarr_relay + ITEM_RELAY_HDR,
				    fuzz_pkarr_relay_len - ITEM_RELAY_HDR) == 0 &&
		       item_sign(&it, sk) == 0,
		   "item_sign");
	ret = dht_item_load(node, &it, uv_now(&fz.loop));
	FUZZ_CHECK(ret == 0, "dht_item_load: %s", sw_strerror(ret));
	memset(seed, SIGNER_SEED, sizeof(seed));
	sw_ed25519_from_seed(seed, pk, fz.signer_sk);
}

static void setup(void)
{
	resolver_opts_t opts = {
	    .udp_payload = UDP_PAYLOAD,
	    .zone = {.min_ttl = MIN_TTL, .max_ttl = MAX_TTL},
	    .cache_size = 64,
	    .io = {.now_ms = io_now_ms, .dht_get = io_dht_get, .dht_cancel = io_dht_cancel},
	};
	/* data_dir of the API context: it must live on. */
	static char dir[] = "/dev/shm/swarmdns-fuzz-api-XXXXXX",
		    tmp[] = "/tmp/swarmdns-fuzz-api-XXXXXX";
	const char *d;
	int ret;

	/* A client that went away must not end the run. */
	signal(SIGPIPE, SIG_IGN);
	FUZZ_CHECK(sw_crypto_init() == 0, "sw_crypto_init");
	FUZZ_CHECK(uv_loop_init(&fz.loop) == 0, "uv_loop_init");
	FUZZ_CHECK((d = mkdtemp(dir)) || (d = mkdtemp(tmp)), "mkdtemp: %s", strerror(errno));
	ret = store_open(d, &fz.store);
	FUZZ_CHECK(ret == 0, "store_open %s: %s", d, sw_strerror(ret));
	/* The environment stays open (LMDB keeps its descriptors); its names can go now. */
	DIR *dh = opendir(d);
	FUZZ_CHECK(dh != NULL, "opendir %s", d);
	for (struct dirent *e; (e = readdir(dh)) != NULL;) {
		char path[sizeof(dir) + sizeof(e->d_name)];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", d, e->d_name);
		unlink(path);
	}
	closedir(dh);
	rmdir(d);

	FUZZ_CHECK(resolver_new(&opts, &fz.resolver) == 0, "resolver_new");
	ret = own_zone_accept(fz.resolver, fz.store, fuzz_pkarr_pk, fuzz_pkarr_relay,
			      fuzz_pkarr_relay_len);
	FUZZ_CHECK(ret == 0, "own_zone_accept of the pkarr vector: %s", sw_strerror(ret));

	struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	ret = net_dht_start(&fz.loop, (struct sockaddr *)&lo, NULL, NULL, &fz.dht);
	FUZZ_CHECK(ret == 0, "net_dht_start: %s", sw_strerror(ret));
	dht_items();

	fz.ctx = (api_ctx_t){.resolver = fz.resolver,
			     .store = fz.store,
			     .dht = fz.dht,
			     .token = API_TOKEN,
			     .data_dir = d,
			     .started_ms = uv_now(&fz.loop)};
	ret = api_start(&fz.loop, NULL, &fz.ctx, &fz.api);
	FUZZ_CHECK(ret == 0, "api_start: %s", sw_strerror(ret));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fz.api == NULL)
		setup();
	int sv[2];
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0,
		   "socketpair: %s", strerror(errno));
	struct sockaddr_in peer = {.sin_family = AF_INET,
				   .sin_port = htons(44321),
				   .sin_addr.s_addr = htonl(0xc0000207)}; /* 192.0.2.7 */
	fz.fd = sv[1];
	fz.out_len = 0;
	fz.eof = false;
	int ret = api_add_connection(fz.api, sv[0], (struct sockaddr *)&peer, sizeof(peer));
	FUZZ_CHECK(ret == 0, "api_add_connection: %s", sw_strerror(ret));
	/* A heap copy of exactly the input's size: the placeholder is replaced in it, and
	 * AddressSanitizer sees any read past its end. */
	uint8_t *buf = malloc(size ? size : 1);
	FUZZ_CHECK(buf != NULL, "out of memory");
	memcpy(buf, data, size);
	sign_placeholder(buf, size);

	/* The request, as fast as the API takes it; it may close the connection first. */
	size_t pos = 0;
	for (int i = 0; i < PUMP_MAX && pos < size && !fz.eof; i++) {
		ssize_t n = write(fz.fd, buf + pos, size - pos);
		if (n > 0)
			pos += (size_t)n;
		else if (errno == EPIPE || errno == ECONNRESET)
			break;
		else
			FUZZ_CHECK(errno == EAGAIN || errno == EINTR, "write: %s", strerror(errno));
		pump();
	}
	settle();
	/* Done: the client half-closes, the API answers what it owes and closes. */
	shutdown(fz.fd, SHUT_WR);
	for (uint64_t start = uv_hrtime(); !fz.eof && uv_hrtime() - start < CLOSE_MS * 1000000ull;)
		pump();
	FUZZ_CHECK(fz.eof, "the API did not close the connection in %d ms", CLOSE_MS);
	close(fz.fd);
	check_output(buf, size);
	free(buf);
	return 0;
}
