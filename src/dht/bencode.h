/*
 * Strict bencode (BEP 3 "bencoding"): a decoder that accepts only the canonical encoding and
 * a writer into caller buffers.
 *
 * The decoder fills a caller-provided array of nodes (a flat preorder tree, no allocation):
 * each node keeps the raw byte span of its value in the input, which is what BEP 44 signs.
 * Canonical means: dictionary keys are byte strings sorted as raw strings with no duplicates,
 * integers and string lengths have no leading zeros, there is no "-0", and nothing follows the
 * top-level value. Nesting and node count are bounded, so a hostile datagram costs a bounded
 * amount of stack and time. Because only canonical input is accepted, re-encoding a decoded
 * value gives back exactly its input bytes.
 *
 * Pure code: no I/O, no allocation, no global state; any thread on its own data.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DHT_BENCODE_MAX_DEPTH 32  /* nesting bound of lists and dictionaries */
#define DHT_BENCODE_MAX_NODES 640 /* what the DHT decodes one datagram into */

typedef enum {
	DHT_BENCODE_INT = 1,
	DHT_BENCODE_STR,
	DHT_BENCODE_LIST,
	DHT_BENCODE_DICT,
} dht_bencode_type_t;

/* One decoded value. Children of a list or dictionary follow their parent in preorder; a
 * dictionary's children alternate key (a string) and value. */
typedef struct {
	uint32_t off;  /* first byte of the value's encoding in the input */
	uint32_t len;  /* length of the value's encoding (the raw span) */
	uint32_t next; /* index of the first node after this value's subtree */
	uint32_t n;    /* STR: string length; LIST: items; DICT: key/value pairs */
	int64_t i;     /* INT: the value */
	uint8_t type;  /* dht_bencode_type_t */
} dht_bencode_node_t;

/* A decoded document: the input it points into and its nodes (node 0 is the root). */
typedef struct {
	const uint8_t *buf;
	size_t len;
	dht_bencode_node_t *nodes;
	size_t count;
} dht_bencode_doc_t;

/* Decodes buf[0..len) into nodes[0..cap). doc points into buf and nodes afterwards.
 * Returns 0, SW_EMALF (not bencode, not canonical, an integer outside int64, trailing bytes)
 * or SW_ELIMIT (deeper than DHT_BENCODE_MAX_DEPTH or more than cap nodes). */
int dht_bencode_parse(dht_bencode_doc_t *doc, const uint8_t *buf, size_t len,
		      dht_bencode_node_t *nodes, size_t cap);

/* The raw encoding of node idx. */
static inline const uint8_t *dht_bencode_raw(const dht_bencode_doc_t *doc, uint32_t idx,
					     size_t *len)
{
	*len = doc->nodes[idx].len;
	return doc->buf + doc->nodes[idx].off;
}

/* The bytes of string node idx, or NULL when idx is not a string. */
const uint8_t *dht_bencode_str(const dht_bencode_doc_t *doc, uint32_t idx, size_t *len);

/* Index of the value stored under key in dictionary node dict, or -1 when dict is not a
 * dictionary or has no such key. */
int dht_bencode_dict_find(const dht_bencode_doc_t *doc, uint32_t dict, const char *key);

/* A writer into a caller buffer with a sticky error: after the output runs out, every write
 * is a no-op and dht_bencode_writer_finish() reports SW_ENOSPC. The caller writes dictionary
 * keys in sorted order (BEP 3 "bencoding": keys must appear in sorted order). */
typedef struct {
	uint8_t *out;
	size_t cap;
	size_t len;
	int err;
} dht_bencode_writer_t;

void dht_bencode_writer_init(dht_bencode_writer_t *w, uint8_t *out, size_t cap);
/* Returns 0 and the length written, or SW_ENOSPC. */
int dht_bencode_writer_finish(const dht_bencode_writer_t *w, size_t *len);

void dht_bencode_write_int(dht_bencode_writer_t *w, int64_t v);
void dht_bencode_write_str(dht_bencode_writer_t *w, const void *s, size_t n);
/* A NUL-terminated string, for dictionary keys. */
void dht_bencode_write_key(dht_bencode_writer_t *w, const char *key);
/* Copies an already encoded value as it is (a BEP 44 `v`). */
void dht_bencode_write_raw(dht_bencode_writer_t *w, const void *raw, size_t n);
void dht_bencode_write_dict(dht_bencode_writer_t *w);
void dht_bencode_write_list(dht_bencode_writer_t *w);
void dht_bencode_write_end(dht_bencode_writer_t *w);
/* Encodes node idx of doc again from its decoded values (not from the raw span). */
void dht_bencode_write_node(dht_bencode_writer_t *w, const dht_bencode_doc_t *doc, uint32_t idx);
