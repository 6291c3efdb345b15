/*
 * KRPC, the message layer of the Mainline DHT (BEP 5 "KRPC Protocol"): one struct for every
 * query, reply and error message, its decoder from a datagram and its encoder.
 *
 * Queries: ping, find_node, get_peers, announce_peer (BEP 5), get and put (BEP 44, mutable
 * with k, sig, seq, salt and cas, and immutable). Replies carry the requester's compact
 * address in `ip` (BEP 42), nodes in `nodes` (26-byte IPv4 entries) and `nodes6` (38-byte
 * IPv6 entries, BEP 32). The decoder ignores keys it does not know (libtorrent adds `ip`,
 * `p`, `v`) but rejects a known key of the wrong type or size. Semantic limits (BEP 44 value
 * and salt sizes) are left to the caller, which answers them with their own error codes.
 *
 * Also here: the compact address form shared by the whole DHT (BEP 5 "Contact Encoding").
 * Pure code: no I/O, no allocation, no global state; any thread on its own data.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "dht/bencode.h"

#define DHT_ID_LEN 20
#define DHT_KRPC_TID_MAX 32
#define DHT_KRPC_VALUES_MAX 32 /* peers decoded from a get_peers reply */
#define DHT_KRPC_TOKEN_MAX 64
#define DHT_NODE4_LEN 26 /* BEP 5 "Contact Encoding": id(20) ip(4) port(2) */
#define DHT_NODE6_LEN 38 /* BEP 32: id(20) ip(16) port(2) */

/* KRPC error codes: BEP 5 "Errors" and BEP 44 "Errors". */
enum {
	DHT_KRPC_E_GENERIC = 201,
	DHT_KRPC_E_SERVER = 202,
	DHT_KRPC_E_PROTOCOL = 203,
	DHT_KRPC_E_METHOD = 204,
	DHT_KRPC_E_TOOBIG = 205, /* message (v) too big */
	DHT_KRPC_E_SIG = 206,	 /* invalid signature */
	DHT_KRPC_E_SALT = 207,	 /* salt too big */
	DHT_KRPC_E_CAS = 301,	 /* CAS mismatch */
	DHT_KRPC_E_SEQ = 302,	 /* sequence number less than current */
};

typedef enum {
	DHT_KRPC_QUERY = 1,
	DHT_KRPC_REPLY,
	DHT_KRPC_ERROR,
} dht_krpc_kind_t;

typedef enum {
	DHT_KRPC_UNKNOWN = 0, /* a query method we do not know (answered with 204) */
	DHT_KRPC_PING,
	DHT_KRPC_FIND_NODE,
	DHT_KRPC_GET_PEERS,
	DHT_KRPC_ANNOUNCE_PEER,
	DHT_KRPC_GET,
	DHT_KRPC_PUT,
	DHT_KRPC_METHOD_COUNT,
} dht_krpc_method_t;

/* An IPv4 or IPv6 address and port in network byte order; len is 4, 16, or 0 for none. */
typedef struct {
	uint8_t ip[16];
	uint8_t len;
	uint16_t port; /* host order */
} dht_addr_t;

/* BEP 32 "want": which node lists a querier asks for. */
enum { DHT_WANT_N4 = 1, DHT_WANT_N6 = 2 };

/*
 * A message. Pointers point into the decoded datagram (or, when writing, into the caller's
 * memory). A field is present when its has_ flag is set or its pointer is non-NULL.
 */
typedef struct {
	uint8_t kind;	/* dht_krpc_kind_t */
	uint8_t method; /* dht_krpc_method_t, queries only */
	uint8_t tid_len;
	uint8_t tid[DHT_KRPC_TID_MAX];
	bool ro;	       /* BEP 43: the sender is a read-only node */
	dht_addr_t ip;	       /* BEP 42: the requester's address as the responder sees it */
	const uint8_t *client; /* top-level `v`, the client version */
	size_t client_len;

	bool has_id;
	uint8_t id[DHT_ID_LEN];
	bool has_target; /* find_node and get */
	uint8_t target[DHT_ID_LEN];
	bool has_info_hash;
	uint8_t info_hash[DHT_ID_LEN];
	bool has_port;
	uint16_t port;
	bool implied_port;
	uint8_t want; /* DHT_WANT_* */

	const uint8_t *token;
	size_t token_len;

	/* BEP 44 */
	const uint8_t *v; /* the raw bencoded value, exactly as signed */
	size_t v_len;
	bool has_k;
	uint8_t k[32];
	bool has_sig;
	uint8_t sig[64];
	bool has_seq;
	int64_t seq;
	bool has_cas;
	int64_t cas;
	const uint8_t *salt;
	size_t salt_len;

	/* replies */
	const uint8_t *nodes; /* whole 26-byte entries only */
	size_t nodes_len;
	const uint8_t *nodes6; /* whole 38-byte entries only */
	size_t nodes6_len;
	size_t values_n; /* get_peers peers */
	dht_addr_t values[DHT_KRPC_VALUES_MAX];

	/* errors */
	int64_t ecode;
	const uint8_t *emsg;
	size_t emsg_len;
} dht_krpc_msg_t;

/* Decodes a datagram into m, using nodes[0..cap) as scratch for the bencode tree; pointers in
 * m point into buf. Returns 0, SW_EMALF (not canonical bencode, not a KRPC message, or a
 * known key of the wrong type or size) or SW_ELIMIT (too deep, too many values). On an error
 * after the transaction ID was read, m->tid is still filled so the caller can answer 203. */
int dht_krpc_parse(dht_krpc_msg_t *m, const uint8_t *buf, size_t len, dht_bencode_node_t *nodes,
		   size_t cap);

/* Encodes m (kind, method and the present fields). Returns 0, SW_ENOSPC or SW_EINVAL (no such
 * kind or method). */
int dht_krpc_write(const dht_krpc_msg_t *m, uint8_t *out, size_t cap, size_t *len);

/* The KRPC name of a method ("find_node"), or "unknown". */
const char *dht_krpc_method_name(int method);

/* Compact address (BEP 5 "Contact Encoding"): ip then port, 6 or 18 bytes. Returns the bytes
 * written (0 when the address is empty or cap too small). */
size_t dht_addr_compact_write(const dht_addr_t *a, uint8_t *out, size_t cap);
/* Returns 0 or SW_EMALF (length other than 6 or 18). */
int dht_addr_compact_parse(dht_addr_t *a, const uint8_t *in, size_t len);
/* Conversions from and to sockaddr_in / sockaddr_in6. from: SW_EINVAL for other families. */
int dht_addr_from_sockaddr(dht_addr_t *a, const struct sockaddr *sa, socklen_t len);
socklen_t dht_addr_to_sockaddr(const dht_addr_t *a, struct sockaddr_storage *ss);
bool dht_addr_equal(const dht_addr_t *a, const dht_addr_t *b);
bool dht_addr_ip_equal(const dht_addr_t *a, const dht_addr_t *b);
/* Whether a and b are of one family and share their first `bits` bits of address (a /24 is
 * 24 for IPv4; pick the IPv6 length yourself). */
bool dht_addr_prefix_equal(const dht_addr_t *a, const dht_addr_t *b, unsigned bits);
/* "1.2.3.4:6881" or "[::1]:6881" into out (cap >= 48). */
void dht_addr_to_str(const dht_addr_t *a, char *out, size_t cap);
