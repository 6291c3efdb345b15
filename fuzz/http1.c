/*
 * Fuzz target for the HTTP/1.1 request-head parser of DNS over HTTPS on the DoH port
 * (src/net/http1.c, http1_parse(); RFC 9112). The input is what a client sends after TLS:
 * hostile bytes. The layer reparses its input from the start each time bytes arrive, so the
 * parser must agree with itself on every prefix. Checked (a broken rule aborts):
 * - the result is one of HTTP1_MORE, HTTP1_DONE, HTTP1_ERROR; an error has a known status
 *   (400, 431, 501, 505) and a one-line text;
 * - HTTP1_MORE only below HTTP1_HEAD_MAX bytes: a head cannot grow without bound;
 * - a complete head ends with a line feed within the input and within HTTP1_HEAD_MAX, its
 *   request target lies inside it with no space or control byte, the method is the first
 *   token's, HTTP/1.1 requests carry Host, a Content-Length has at most 9 digits;
 * - streaming: the head without its last byte is HTTP1_MORE; bytes after a complete head
 *   change nothing in it; a prefix that is already complete or already an error says the
 *   same as the whole input.
 * The layer itself (keep-alive, bodies, answers) is driven by fuzz/doh.c through the DoH
 * listener's layer, whose corpus has HTTP/1.1 inputs too.
 */
#include <string.h>

#include "fuzz.h"
#include "net/http1.h"

static void check_one(const uint8_t *buf, size_t len, int r, const http1_req_t *rq,
		      const doh_err_t *err)
{
	FUZZ_CHECK(r == HTTP1_MORE || r == HTTP1_DONE || r == HTTP1_ERROR, "result %d", r);
	if (r == HTTP1_ERROR) {
		unsigned s = err->status;
		FUZZ_CHECK(s == 400 || s == 431 || s == 501 || s == 505, "status %u", s);
		size_t tl = strlen(err->text);
		FUZZ_CHECK(tl > 1 && err->text[tl - 1] == '\n' && !memchr(err->text, '\n', tl - 1),
			   "the error text is not one line");
		return;
	}
	if (r == HTTP1_MORE) {
		FUZZ_CHECK(len < HTTP1_HEAD_MAX, "waiting for more after %zu bytes", len);
		return;
	}
	FUZZ_CHECK(rq->head_len > 0 && rq->head_len <= len && rq->head_len <= HTTP1_HEAD_MAX,
		   "head_len %zu of %zu", rq->head_len, len);
	FUZZ_CHECK(buf[rq->head_len - 1] == '\n', "the head does not end with a line feed");
	const uint8_t *t = (const uint8_t *)rq->target;
	FUZZ_CHECK(t > buf && t + rq->target_len < buf + rq->head_len && rq->target_len > 0,
		   "the target is outside the head");
	for (size_t i = 0; i < rq->target_len; i++)
		FUZZ_CHECK(t[i] > ' ' && t[i] != 0x7f, "a space or control byte in the target");
	size_t skip = 0;
	while (skip < len && (buf[skip] == '\r' || buf[skip] == '\n'))
		skip++;
	const uint8_t *sp = memchr(buf + skip, ' ', len - skip);
	FUZZ_CHECK(sp != NULL && rq->method == doh_method((const char *)buf + skip,
							  (size_t)(sp - buf - skip)),
		   "the method is not the first token's");
	FUZZ_CHECK(rq->minor <= 9, "HTTP/1.%u", rq->minor);
	FUZZ_CHECK(rq->minor == 0 || rq->has_host, "an HTTP/1.1 request without Host taken");
	FUZZ_CHECK(rq->has_clen ? rq->clen <= 999999999 : rq->clen == 0, "Content-Length %zu",
		   rq->clen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t more[HTTP1_HEAD_MAX + 64];
	http1_req_t rq, rq2;
	doh_err_t err, err2;
	int r = http1_parse(data, size, &rq, &err);
	check_one(data, size, r, &rq, &err);
	if (r == HTTP1_DONE) {
		/* Without its last byte the head is not complete. */
		int r2 = http1_parse(data, rq.head_len - 1, &rq2, &err2);
		FUZZ_CHECK(r2 == HTTP1_MORE || r2 == HTTP1_ERROR,
			   "a head without its last line feed was complete");
		/* What follows the head is not the head's business. */
		if (rq.head_len + 8 <= sizeof(more)) {
			memcpy(more, data, rq.head_len);
			memcpy(more + rq.head_len, "GET / HT", 8);
			r2 = http1_parse(more, rq.head_len + 8, &rq2, &err2);
			FUZZ_CHECK(r2 == HTTP1_DONE && rq2.head_len == rq.head_len &&
				       rq2.clen == rq.clen && rq2.keep_alive == rq.keep_alive &&
				       rq2.method == rq.method && rq2.target_len == rq.target_len,
				   "bytes after the head changed it");
		}
	}
	/* Streaming: a prefix that decided already decided the same. */
	for (size_t cut = 1; cut < size; cut += cut < 64 ? 1 : cut / 4) {
		int rp = http1_parse(data, cut, &rq2, &err2);
		check_one(data, cut, rp, &rq2, &err2);
		if (rp == HTTP1_DONE)
			FUZZ_CHECK(r == HTTP1_DONE && rq2.head_len == rq.head_len,
				   "a prefix of %zu bytes was a complete head, the input is not",
				   cut);
		if (rp == HTTP1_ERROR)
			FUZZ_CHECK(r == HTTP1_ERROR && err2.status == err.status,
				   "a prefix of %zu bytes was an error %u, the input gives %d", cut,
				   err2.status, r);
	}
	return 0;
}
