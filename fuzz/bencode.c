/*
 * Fuzz target for the strict bencode decoder and writer of the DHT (src/dht/bencode.h,
 * BEP 3 "bencoding"). The input is any byte string, as a datagram would arrive.
 *
 * 1. An independent recogniser written here (not src/dht) decides whether the input is one
 *    canonical bencoded value within the nesting bound; dht_bencode_parse() must accept it
 *    exactly then, both with room for every node and with the DHT's own node budget
 *    (DHT_BENCODE_MAX_NODES), where only the node count may make the difference.
 * 2. When it parses, the tree is walked: every raw span lies inside the input and inside its
 *    parent, children tile their parent's span, `next` skips exactly the subtree, integers
 *    and string headers read back as their raw text, dictionary keys are strictly sorted
 *    strings, dht_bencode_str() and dht_bencode_dict_find() agree with the walk.
 * 3. Re-encoding the root with dht_bencode_write_node() gives back the input byte for byte
 *    (canonical input round-trips exactly), so does every subtree against its raw span, and
 *    a writer one byte short reports SW_ENOSPC without writing past its buffer.
 * A broken rule aborts.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "common/err.h"
#include "dht/bencode.h"
#include "fuzz.h"

/* ---- the reference recogniser ---- */

typedef struct {
	const uint8_t *p;
	size_t len, pos;
	size_t nodes;	  /* values seen, keys included: what the decoder makes nodes of */
	unsigned deepest; /* containers open at once */
	bool bad;	  /* not canonical bencode (or deeper than we follow) */
} ref_t;

/* Deeper than this is rejected either way; the recogniser stops following there. */
#define REF_DEPTH_STOP (DHT_BENCODE_MAX_DEPTH + 1)

static int ref_peek(const ref_t *r)
{
	return !r->bad && r->pos < r->len ? r->p[r->pos] : -1;
}

/* A decimal without leading zeros, at most `limit`. */
static uint64_t ref_number(ref_t *r, uint64_t limit)
{
	size_t start = r->pos;
	uint64_t v = 0;
	int ch;
	while ((ch = ref_peek(r)) >= '0' && ch <= '9') {
		uint64_t d = (uint64_t)(ch - '0');
		if (v > (limit - d) / 10) {
			r->bad = true;
			return 0;
		}
		v = v * 10 + d;
		r->pos++;
	}
	size_t digits = r->pos - start;
	if (digits == 0 || (digits > 1 && r->p[start] == '0'))
		r->bad = true;
	return v;
}

/* The bytes of a string value; returns where they start (the length in *n). */
static size_t ref_string(ref_t *r, size_t *n)
{
	*n = (size_t)ref_number(r, UINT32_MAX);
	if (ref_peek(r) != ':' || *n > r->len - r->pos - 1) {
		r->bad = true;
		return 0;
	}
	r->pos++;
	size_t at = r->pos;
	r->pos += *n;
	return at;
}

static void ref_value(ref_t *r, unsigned depth)
{
	int ch = ref_peek(r);
	size_t n;

	r->nodes++;
	if (ch == 'i') {
		r->pos++;
		bool neg = ref_peek(r) == '-';
		if (neg)
			r->pos++;
		uint64_t mag = ref_number(r, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX);
		if ((neg && mag == 0) || ref_peek(r) != 'e')
			r->bad = true; /* "-0" is not canonical */
		r->pos++;
	} else if (ch >= '0' && ch <= '9') {
		ref_string(r, &n);
	} else if (ch == 'l' || ch == 'd') {
		if (depth + 1 > r->deepest)
			r->deepest = depth + 1;
		if (depth + 1 >= REF_DEPTH_STOP) {
			r->bad = true;
			return;
		}
		r->pos++;
		size_t last_at = 0, last_n = 0;
		bool first = true;
		while (!r->bad && ref_peek(r) != 'e') {
			if (ch == 'd') {
				/* Keys: strings in strictly increasing raw order. */
				int kc = ref_peek(r);
				if (kc < '0' || kc > '9') {
					r->bad = true;
					return;
				}
				r->nodes++;
				size_t at = ref_string(r, &n);
				if (r->bad)
					return;
				if (!first) {
					size_t m = n < last_n ? n : last_n;
					int c = m ? memcmp(r->p + last_at, r->p + at, m) : 0;
					if (c > 0 || (c == 0 && last_n >= n)) {
						r->bad = true;
						return;
					}
				}
				first = false;
				last_at = at;
				last_n = n;
				if (ref_peek(r) == 'e') {
					r->bad = true; /* a key without a value */
					return;
				}
			}
			ref_value(r, depth + 1);
		}
		if (ref_peek(r) != 'e')
			r->bad = true;
		r->pos++;
	} else {
		r->bad = true;
	}
}

/* ---- the walk over a decoded tree ---- */

static void check_spans(const dht_bencode_doc_t *doc, const uint8_t *data, size_t size)
{
	const dht_bencode_node_t *nd = doc->nodes;
	char tmp[40];

	FUZZ_CHECK(doc->buf == data && doc->len == size, "doc does not point at the input");
	FUZZ_CHECK(doc->count > 0, "a parsed document without nodes");
	FUZZ_CHECK(nd[0].off == 0 && nd[0].len == size && nd[0].next == doc->count,
		   "the root spans %" PRIu32 "+%" PRIu32 " (next %" PRIu32
		   ") of %zu bytes, %zu nodes",
		   nd[0].off, nd[0].len, nd[0].next, size, doc->count);
	for (uint32_t idx = 0; idx < doc->count; idx++) {
		const dht_bencode_node_t *x = &nd[idx];
		size_t rawlen, slen;
		const uint8_t *raw = dht_bencode_raw(doc, idx, &rawlen);
		const uint8_t *s = dht_bencode_str(doc, idx, &slen);

		FUZZ_CHECK((uint64_t)x->off + x->len <= size && x->len > 0,
			   "node %" PRIu32 " spans %" PRIu32 "+%" PRIu32
			   ", outside the %zu input bytes",
			   idx, x->off, x->len, size);
		FUZZ_CHECK(raw == data + x->off && rawlen == x->len,
			   "dht_bencode_raw of node %" PRIu32, idx);
		FUZZ_CHECK(x->next > idx && x->next <= doc->count, "node %" PRIu32 " next %" PRIu32,
			   idx, x->next);
		FUZZ_CHECK((x->type == DHT_BENCODE_STR) == (s != NULL),
			   "dht_bencode_str of node %" PRIu32 " (type %u)", idx, x->type);
		switch (x->type) {
		case DHT_BENCODE_INT: {
			int n = snprintf(tmp, sizeof(tmp), "i%" PRId64 "e", x->i);
			FUZZ_CHECK(x->next == idx + 1 && (size_t)n == x->len &&
				       memcmp(tmp, raw, (size_t)n) == 0,
				   "integer node %" PRIu32 " (%" PRId64 ") is not its raw text",
				   idx, x->i);
			break;
		}
		case DHT_BENCODE_STR: {
			int n = snprintf(tmp, sizeof(tmp), "%" PRIu32 ":", x->n);
			FUZZ_CHECK(
			    x->next == idx + 1 && slen == x->n && (size_t)n + x->n == x->len &&
				memcmp(tmp, raw, (size_t)n) == 0 && s == raw + n,
			    "string node %" PRIu32 " (%" PRIu32 " bytes) is not its raw text", idx,
			    x->n);
			break;
		}
		case DHT_BENCODE_LIST:
		case DHT_BENCODE_DICT: {
			bool dict = x->type == DHT_BENCODE_DICT;
			FUZZ_CHECK(x->len >= 2 && raw[0] == (dict ? 'd' : 'l') &&
				       raw[x->len - 1] == 'e',
				   "container node %" PRIu32 " is not delimited", idx);
			/* The children tile the span between the delimiters, in order. */
			uint64_t pos = (uint64_t)x->off + 1;
			uint32_t c = idx + 1;
			uint32_t prev_key = 0;
			for (uint64_t k = 0; k < (uint64_t)x->n * (dict ? 2 : 1); k++) {
				FUZZ_CHECK(c < x->next,
					   "node %" PRIu32 ": child %" PRIu64 " past next", idx, k);
				FUZZ_CHECK(nd[c].off == pos,
					   "node %" PRIu32 ": child %" PRIu32 " at %" PRIu32
					   ", expected %" PRIu64,
					   idx, c, nd[c].off, pos);
				pos += nd[c].len;
				if (dict && k % 2 == 0) {
					FUZZ_CHECK(nd[c].type == DHT_BENCODE_STR,
						   "key node %" PRIu32 " is not a string", c);
					if (k > 0) {
						size_t an, bn;
						const uint8_t *a =
						    dht_bencode_str(doc, prev_key, &an);
						const uint8_t *b = dht_bencode_str(doc, c, &bn);
						size_t m = an < bn ? an : bn;
						int r = m ? memcmp(a, b, m) : 0;
						FUZZ_CHECK(r < 0 || (r == 0 && an < bn),
							   "keys %" PRIu32 " and %" PRIu32
							   " not strictly sorted",
							   prev_key, c);
					}
					prev_key = c;
				}
				if (dict && k % 2 == 1) {
					/* dict_find finds each key (asked as a C string when it
					 * has no NUL byte) at its own value. */
					size_t kn;
					const uint8_t *key = dht_bencode_str(doc, c - 1, &kn);
					char ks[65];
					if (kn < sizeof(ks) && memchr(key, 0, kn) == NULL) {
						memcpy(ks, key, kn);
						ks[kn] = 0;
						int found = dht_bencode_dict_find(doc, idx, ks);
						FUZZ_CHECK(found == (int)c,
							   "dict_find(%" PRIu32
							   ", \"%s\") = %d, not %" PRIu32,
							   idx, ks, found, c);
					}
				}
				c = nd[c].next;
			}
			FUZZ_CHECK(c == x->next && pos + 1 == (uint64_t)x->off + x->len,
				   "container node %" PRIu32 ": children end at node %" PRIu32
				   " byte %" PRIu64 ", not node %" PRIu32 " byte %" PRIu64,
				   idx, c, pos, x->next, (uint64_t)x->off + x->len - 1);
			break;
		}
		default:
			FUZZ_CHECK(0, "node %" PRIu32 " has type %u", idx, x->type);
		}
		if (x->type != DHT_BENCODE_DICT)
			FUZZ_CHECK(dht_bencode_dict_find(doc, idx, "") == -1,
				   "dict_find on non-dictionary node %" PRIu32, idx);
	}
}

/* The keys a KRPC reader asks for: found only as a key of the root, at its value. */
static void check_find(const dht_bencode_doc_t *doc)
{
	static const char *const keys[] = {"a", "e", "ip", "q", "r", "ro", "t", "v", "y", "id", ""};
	for (size_t k = 0; k < sizeof(keys) / sizeof(*keys); k++) {
		int found = dht_bencode_dict_find(doc, 0, keys[k]);
		if (found < 0) {
			if (doc->nodes[0].type != DHT_BENCODE_DICT)
				continue;
			/* Then no key of the root is this one. */
			uint32_t c = 1;
			for (uint32_t p = 0; p < doc->nodes[0].n; p++) {
				size_t n;
				const uint8_t *s = dht_bencode_str(doc, c, &n);
				FUZZ_CHECK(!(n == strlen(keys[k]) && memcmp(s, keys[k], n) == 0),
					   "dict_find missed root key \"%s\"", keys[k]);
				c = doc->nodes[c + 1].next;
			}
			continue;
		}
		FUZZ_CHECK(doc->nodes[0].type == DHT_BENCODE_DICT && found >= 2 &&
			       (uint32_t)found < doc->count,
			   "dict_find(root, \"%s\") = %d", keys[k], found);
		size_t n;
		const uint8_t *s = dht_bencode_str(doc, (uint32_t)found - 1, &n);
		FUZZ_CHECK(s && n == strlen(keys[k]) && memcmp(s, keys[k], n) == 0,
			   "dict_find(root, \"%s\") = %d, not after that key", keys[k], found);
	}
}

/* write_node of every subtree gives back its raw span; of the root, the whole input. */
static void check_rewrite(const dht_bencode_doc_t *doc, const uint8_t *data, size_t size)
{
	/* Exactly size bytes, so that AddressSanitizer sees any write past the room given. */
	uint8_t *out = malloc(size);
	dht_bencode_writer_t w;
	size_t len = 0;
	FUZZ_CHECK(out != NULL, "out of memory");

	dht_bencode_writer_init(&w, out, size);
	dht_bencode_write_node(&w, doc, 0);
	int ret = dht_bencode_writer_finish(&w, &len);
	FUZZ_CHECK(ret == 0 && len == size, "re-encoding gives %d, %zu of %zu bytes", ret, len,
		   size);
	for (size_t i = 0; i < size; i++)
		FUZZ_CHECK(out[i] == data[i],
			   "re-encoding differs from the input at byte %zu (0x%02x, not 0x%02x)", i,
			   out[i], data[i]);

	for (uint32_t idx = 1; idx < doc->count; idx++) {
		size_t rawlen;
		const uint8_t *raw = dht_bencode_raw(doc, idx, &rawlen);
		dht_bencode_writer_init(&w, out, rawlen);
		dht_bencode_write_node(&w, doc, idx);
		ret = dht_bencode_writer_finish(&w, &len);
		FUZZ_CHECK(ret == 0 && len == rawlen && memcmp(out, raw, rawlen) == 0,
			   "node %" PRIu32 " re-encodes to other bytes than its raw span", idx);
	}

	/* One byte short: the sticky error, and nothing written past the room. */
	dht_bencode_writer_init(&w, out, size - 1);
	dht_bencode_write_node(&w, doc, 0);
	ret = dht_bencode_writer_finish(&w, &len);
	FUZZ_CHECK(ret == SW_ENOSPC && w.len <= size - 1,
		   "a writer one byte short gives %d after %zu bytes", ret, w.len);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Every node takes at least two bytes of input ("0:", "le"), so this cap never binds. */
	size_t cap = size / 2 + 1;
	dht_bencode_node_t *nodes = malloc(cap * sizeof(*nodes));
	static dht_bencode_node_t small[DHT_BENCODE_MAX_NODES];
	dht_bencode_doc_t doc, doc2;
	FUZZ_CHECK(nodes != NULL, "out of memory");

	ref_t ref = {.p = data, .len = size};
	ref_value(&ref, 0);
	bool canonical = !ref.bad && ref.pos == size && ref.deepest <= DHT_BENCODE_MAX_DEPTH;

	int ret = dht_bencode_parse(&doc, data, size, nodes, cap);
	FUZZ_CHECK(ret == 0 || ret == SW_EMALF || ret == SW_ELIMIT, "parse returned %d", ret);
	FUZZ_CHECK((ret == 0) == canonical,
		   "parse returned %d where the reference finds %s bencode (%zu nodes, depth %u)",
		   ret, canonical ? "canonical" : "no canonical", ref.nodes, ref.deepest);

	/* The DHT's budget: the same tree when it fits, SW_ELIMIT when it does not. */
	int ret2 = dht_bencode_parse(&doc2, data, size, small, DHT_BENCODE_MAX_NODES);
	if (ret == 0 && doc.count <= DHT_BENCODE_MAX_NODES) {
		FUZZ_CHECK(ret2 == 0 && doc2.count == doc.count, "parse with %d nodes: %d",
			   DHT_BENCODE_MAX_NODES, ret2);
		for (size_t i = 0; i < doc.count; i++)
			FUZZ_CHECK(small[i].off == nodes[i].off && small[i].len == nodes[i].len &&
				       small[i].next == nodes[i].next && small[i].n == nodes[i].n &&
				       small[i].i == nodes[i].i && small[i].type == nodes[i].type,
				   "node %zu differs between the two parses", i);
	} else if (ret == 0) {
		FUZZ_CHECK(ret2 == SW_ELIMIT, "%zu nodes with room for %d: %d", doc.count,
			   DHT_BENCODE_MAX_NODES, ret2);
	} else {
		FUZZ_CHECK(ret2 != 0, "accepted with %d nodes of room only", DHT_BENCODE_MAX_NODES);
	}

	if (ret == 0) {
		FUZZ_CHECK(doc.count == ref.nodes, "%zu nodes where the reference counts %zu",
			   doc.count, ref.nodes);
		check_spans(&doc, data, size);
		check_find(&doc);
		check_rewrite(&doc, data, size);
	}
	free(nodes);
	return 0;
}
