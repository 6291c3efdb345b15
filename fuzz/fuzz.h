/*
 * Shared by the fuzz targets: the libFuzzer entry point, a failure macro that aborts (so
 * libFuzzer and the corpus replay both see a crash), and an independent checker of DNS
 * responses. The checker does not use src/dns: a response is walked here with its own
 * reader, so a bug in the shared wire code cannot hide itself. Single-threaded.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer's entry point (https://llvm.org/docs/LibFuzzer.html "Fuzz Target"). Each
 * target defines it; replay.c or libFuzzer calls it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the code under test is broken: say which, then abort. Not assert(): it
 * must also fire in builds with NDEBUG. */
#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);   \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* What a response was produced under, for fuzz_check_response(). */
typedef struct {
	size_t cap;	      /* room given to resolver_handle() */
	int udp;	      /* 1 for SW_TP_UDP */
	uint16_t udp_payload; /* the resolver's EDNS payload size */
	uint32_t min_ttl, max_ttl;
	int may_drop; /* response-rate limiting may drop this one (nothing sent) */
} fuzz_resp_ctx_t;

/* Checks the response `resp` (resp_len bytes, 0 meaning "nothing sent") to `query` against
 * the rules of RFC 1035 §4.1 and swarmdns's own promises (resolver.h, query.h, zone.h).
 * Aborts with a message on the first broken rule. */
void fuzz_check_response(const uint8_t *query, size_t qlen, const uint8_t *resp, size_t resp_len,
			 const fuzz_resp_ctx_t *ctx);

/* What fuzz_msg_walk() learnt about a well-formed message. */
typedef struct {
	uint16_t counts[4];	   /* QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT */
	size_t question_len;	   /* bytes of the first question (name, type, class); 0 if none */
	unsigned opts;		   /* OPT records in the additional section */
	size_t nrr;		   /* records other than OPT */
	uint32_t ttl_min, ttl_max; /* over the records other than OPT */
} fuzz_msg_t;

/* Walks one DNS message; returns NULL when it is well formed (every name and record inside
 * the message, compression pointers strictly backwards, rdata of A, AAAA and the RFC 1035
 * types with names consistent with RDLENGTH, counts matching, no trailing bytes), else a
 * static description of the first problem. */
const char *fuzz_msg_walk(const uint8_t *msg, size_t len, fuzz_msg_t *out);

/* The pkarr test vector (docs/design.md §2, tests/vectors/vectors.json "pkarr_packet"):
 * its relay body (sig || seq || packet) and public key, shared by the targets. */
extern const uint8_t fuzz_pkarr_relay[];
extern const size_t fuzz_pkarr_relay_len;
extern const uint8_t fuzz_pkarr_pk[32];

/* Base64url (RFC 4648 §5) strictly: the URL alphabet, no padding, no bits left over; the
 * targets' own decoder, independent of src/common/codec.c. Returns false on any breach or
 * when the result does not fit cap. */
bool fuzz_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *outlen);

/* The targets' reader of their input as a stream of choices: past the end it reads zeros, so
 * that every input is a complete program. */
typedef struct {
	const uint8_t *p;
	size_t len, pos;
} fuzz_in_t;

static inline uint8_t fuzz_in_u8(fuzz_in_t *r)
{
	return r->pos < r->len ? r->p[r->pos++] : 0;
}

/* bytes bytes, big-endian. */
static inline uint64_t fuzz_in_be(fuzz_in_t *r, int bytes)
{
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++)
		v = v << 8 | fuzz_in_u8(r);
	return v;
}

/* n bytes into out, zeros past the end of the input. */
static inline void fuzz_in_fixed(fuzz_in_t *r, uint8_t *out, size_t n)
{
	size_t have = r->len - r->pos < n ? r->len - r->pos : n;
	memcpy(out, r->p + r->pos, have);
	memset(out + have, 0, n - have);
	r->pos += have;
}

/* Up to n bytes, as many as are left; *got receives how many. */
static inline const uint8_t *fuzz_in_take(fuzz_in_t *r, size_t n, size_t *got)
{
	const uint8_t *p = r->p + r->pos;
	*got = r->len - r->pos < n ? r->len - r->pos : n;
	r->pos += *got;
	return p;
}
