#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "dht/bencode.h"

/* A read cursor with a sticky error: after the first error every read returns 0 and moves
 * nothing, and the parser checks err once per value. */
typedef struct {
	const uint8_t *buf;
	size_t len;
	size_t pos;
	int err;
} bcur_t;

static int bcur_peek(const bcur_t *c)
{
	if (c->err || c->pos >= c->len)
		return -1;
	return c->buf[c->pos];
}

static void bcur_fail(bcur_t *c, int err)
{
	if (!c->err)
		c->err = err;
}

static void bcur_expect(bcur_t *c, uint8_t ch)
{
	if (bcur_peek(c) != ch) {
		bcur_fail(c, SW_EMALF);
		return;
	}
	c->pos++;
}

/* Reads the digits of a non-negative decimal number up to `limit`. BEP 3 "bencoding": no
 * leading zeros ("0" itself is the only number starting with 0). */
static uint64_t bcur_digits(bcur_t *c, uint64_t limit)
{
	int ch = bcur_peek(c);
	if (ch < '0' || ch > '9') {
		bcur_fail(c, SW_EMALF);
		return 0;
	}
	if (ch == '0') {
		c->pos++;
		ch = bcur_peek(c);
		if (ch >= '0' && ch <= '9')
			bcur_fail(c, SW_EMALF);
		return 0;
	}
	uint64_t v = 0;
	while ((ch = bcur_peek(c)) >= '0' && ch <= '9') {
		uint64_t d = (uint64_t)(ch - '0');
		if (v > (limit - d) / 10) {
			bcur_fail(c, SW_EMALF);
			return 0;
		}
		v = v * 10 + d;
		c->pos++;
	}
	return v;
}

/* i<digits>e with an optional minus; "-0" is not canonical (BEP 3 "bencoding"). */
static int64_t bcur_int(bcur_t *c)
{
	bcur_expect(c, 'i');
	bool neg = false;
	if (bcur_peek(c) == '-') {
		neg = true;
		c->pos++;
	}
	uint64_t mag = bcur_digits(c, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX);
	if (neg && mag == 0)
		bcur_fail(c, SW_EMALF);
	bcur_expect(c, 'e');
	if (c->err)
		return 0;
	if (neg)
		return mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	return (int64_t)mag;
}

/* <len>:<bytes>; returns the length and leaves pos after the bytes. */
static uint32_t bcur_str(bcur_t *c)
{
	uint64_t n = bcur_digits(c, UINT32_MAX);
	bcur_expect(c, ':');
	if (c->err)
		return 0;
	if (n > c->len - c->pos) {
		bcur_fail(c, SW_EMALF);
		return 0;
	}
	c->pos += (size_t)n;
	return (uint32_t)n;
}

/* Raw string comparison of two decoded strings (shorter first on a common prefix). */
static int key_cmp(const dht_bencode_doc_t *doc, const dht_bencode_node_t *a,
		   const dht_bencode_node_t *b)
{
	const uint8_t *pa = doc->buf + a->off + a->len - a->n;
	const uint8_t *pb = doc->buf + b->off + b->len - b->n;
	size_t n = a->n < b->n ? a->n : b->n;
	int r = n ? memcmp(pa, pb, n) : 0;
	if (r)
		return r;
	return a->n < b->n ? -1 : a->n > b->n ? 1 : 0;
}

typedef struct {
	uint32_t idx;	  /* the container's node */
	int64_t last_key; /* dictionaries: node of the previous key, -1 before the first */
	bool want_value;  /* dictionaries: a key was read, its value comes next */
} frame_t;

int dht_bencode_parse(dht_bencode_doc_t *doc, const uint8_t *buf, size_t len,
		      dht_bencode_node_t *nodes, size_t cap)
{
	frame_t st[DHT_BENCODE_MAX_DEPTH];
	size_t depth = 0;
	size_t count = 0;
	bcur_t c = {.buf = buf, .len = len};
	int ret = 0;

	doc->buf = buf;
	doc->len = len;
	doc->nodes = nodes;
	doc->count = 0;
	if (len > UINT32_MAX || !buf) {
		ret = SW_EMALF;
		goto fail;
	}
	do {
		frame_t *parent = depth ? &st[depth - 1] : NULL;
		bool is_key = false;
		int ch = bcur_peek(&c);

		if (parent && ch == 'e') {
			dht_bencode_node_t *pn = &nodes[parent->idx];
			/* A key without a value. */
			if (pn->type == DHT_BENCODE_DICT && parent->want_value) {
				ret = SW_EMALF;
				goto fail;
			}
			c.pos++;
			pn->len = (uint32_t)(c.pos - pn->off);
			pn->next = (uint32_t)count;
			depth--;
			parent = depth ? &st[depth - 1] : NULL;
			goto value_done;
		}
		if (count >= cap) {
			ret = SW_ELIMIT;
			goto fail;
		}
		uint32_t idx = (uint32_t)count++;
		dht_bencode_node_t *node = &nodes[idx];
		memset(node, 0, sizeof(*node));
		node->off = (uint32_t)c.pos;
		is_key =
		    parent && nodes[parent->idx].type == DHT_BENCODE_DICT && !parent->want_value;
		/* BEP 3 "bencoding": dictionary keys must be strings. */
		if (is_key && !(ch >= '0' && ch <= '9')) {
			ret = SW_EMALF;
			goto fail;
		}
		if (ch == 'i') {
			node->type = DHT_BENCODE_INT;
			node->i = bcur_int(&c);
		} else if (ch >= '0' && ch <= '9') {
			node->type = DHT_BENCODE_STR;
			node->n = bcur_str(&c);
		} else if (ch == 'l' || ch == 'd') {
			if (depth >= DHT_BENCODE_MAX_DEPTH) {
				ret = SW_ELIMIT;
				goto fail;
			}
			node->type = ch == 'l' ? DHT_BENCODE_LIST : DHT_BENCODE_DICT;
			c.pos++;
			st[depth++] = (frame_t){.idx = idx, .last_key = -1};
			continue;
		} else {
			ret = SW_EMALF;
			goto fail;
		}
		if (c.err) {
			ret = c.err;
			goto fail;
		}
		node->len = (uint32_t)(c.pos - node->off);
		node->next = (uint32_t)count;
		if (is_key) {
			/* BEP 3 "bencoding": keys sorted as raw strings; equal means duplicate. */
			if (parent->last_key >= 0 &&
			    key_cmp(doc, &nodes[parent->last_key], node) >= 0) {
				ret = SW_EMALF;
				goto fail;
			}
			parent->last_key = idx;
		}
	value_done:
		if (parent) {
			dht_bencode_node_t *pn = &nodes[parent->idx];
			if (pn->type == DHT_BENCODE_LIST) {
				pn->n++;
			} else if (is_key) {
				parent->want_value = true;
			} else {
				parent->want_value = false;
				pn->n++;
			}
		}
	} while (depth > 0);

	/* Nothing may follow the top-level value. */
	if (c.pos != len) {
		ret = SW_EMALF;
		goto fail;
	}
	doc->count = count;
	return 0;
fail:
	doc->count = 0;
	return ret;
}

const uint8_t *dht_bencode_str(const dht_bencode_doc_t *doc, uint32_t idx, size_t *len)
{
	const dht_bencode_node_t *n = &doc->nodes[idx];
	if (n->type != DHT_BENCODE_STR)
		return NULL;
	*len = n->n;
	return doc->buf + n->off + n->len - n->n;
}

int dht_bencode_dict_find(const dht_bencode_doc_t *doc, uint32_t dict, const char *key)
{
	if (dict >= doc->count || doc->nodes[dict].type != DHT_BENCODE_DICT)
		return -1;
	size_t klen = strlen(key);
	uint32_t i = dict + 1;
	for (uint32_t p = 0; p < doc->nodes[dict].n; p++) {
		size_t n;
		const uint8_t *s = dht_bencode_str(doc, i, &n);
		if (s && n == klen && memcmp(s, key, n) == 0)
			return (int)(i + 1);
		i = doc->nodes[i + 1].next;
	}
	return -1;
}

void dht_bencode_writer_init(dht_bencode_writer_t *w, uint8_t *out, size_t cap)
{
	w->out = out;
	w->cap = cap;
	w->len = 0;
	w->err = 0;
}

int dht_bencode_writer_finish(const dht_bencode_writer_t *w, size_t *len)
{
	if (w->err)
		return w->err;
	*len = w->len;
	return 0;
}

static void bw_put(dht_bencode_writer_t *w, const void *p, size_t n)
{
	if (w->err)
		return;
	if (n > w->cap - w->len) {
		w->err = SW_ENOSPC;
		return;
	}
	if (n)
		memcpy(w->out + w->len, p, n);
	w->len += n;
}

void dht_bencode_write_int(dht_bencode_writer_t *w, int64_t v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "i%" PRId64 "e", v);
	bw_put(w, tmp, (size_t)n);
}

void dht_bencode_write_str(dht_bencode_writer_t *w, const void *s, size_t n)
{
	char tmp[32];
	int k = snprintf(tmp, sizeof(tmp), "%zu:", n);
	bw_put(w, tmp, (size_t)k);
	bw_put(w, s, n);
}

void dht_bencode_write_key(dht_bencode_writer_t *w, const char *key)
{
	dht_bencode_write_str(w, key, strlen(key));
}

void dht_bencode_write_raw(dht_bencode_writer_t *w, const void *raw, size_t n)
{
	bw_put(w, raw, n);
}

void dht_bencode_write_dict(dht_bencode_writer_t *w)
{
	bw_put(w, "d", 1);
}

void dht_bencode_write_list(dht_bencode_writer_t *w)
{
	bw_put(w, "l", 1);
}

void dht_bencode_write_end(dht_bencode_writer_t *w)
{
	bw_put(w, "e", 1);
}

void dht_bencode_write_node(dht_bencode_writer_t *w, const dht_bencode_doc_t *doc, uint32_t idx)
{
	const dht_bencode_node_t *node = &doc->nodes[idx];
	size_t n;
	const uint8_t *s;
	uint32_t i = idx + 1;

	switch (node->type) {
	case DHT_BENCODE_INT:
		dht_bencode_write_int(w, node->i);
		break;
	case DHT_BENCODE_STR:
		s = dht_bencode_str(doc, idx, &n);
		dht_bencode_write_str(w, s, n);
		break;
	case DHT_BENCODE_LIST:
	case DHT_BENCODE_DICT:
		/* The depth is bounded by the parser, so the recursion is too. */
		bw_put(w, node->type == DHT_BENCODE_LIST ? "l" : "d", 1);
		for (uint32_t k = 0; k < node->n * (node->type == DHT_BENCODE_DICT ? 2u : 1u);
		     k++) {
			dht_bencode_write_node(w, doc, i);
			i = doc->nodes[i].next;
		}
		dht_bencode_write_end(w);
		break;
	default:
		w->err = SW_EINVAL;
		break;
	}
}
