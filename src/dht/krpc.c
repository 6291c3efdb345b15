#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "dht/krpc.h"

static const char *const method_names[DHT_KRPC_METHOD_COUNT] = {
    [DHT_KRPC_UNKNOWN] = "unknown",
    [DHT_KRPC_PING] = "ping",
    [DHT_KRPC_FIND_NODE] = "find_node",
    [DHT_KRPC_GET_PEERS] = "get_peers",
    [DHT_KRPC_ANNOUNCE_PEER] = "announce_peer",
    [DHT_KRPC_GET] = "get",
    [DHT_KRPC_PUT] = "put",
};

const char *dht_krpc_method_name(int method)
{
	if (method <= DHT_KRPC_UNKNOWN || method >= DHT_KRPC_METHOD_COUNT)
		return "unknown";
	return method_names[method];
}

/* ---- compact addresses ---- */

size_t dht_addr_compact_write(const dht_addr_t *a, uint8_t *out, size_t cap)
{
	if ((a->len != 4 && a->len != 16) || cap < (size_t)a->len + 2)
		return 0;
	memcpy(out, a->ip, a->len);
	out[a->len] = (uint8_t)(a->port >> 8);
	out[a->len + 1] = (uint8_t)a->port;
	return (size_t)a->len + 2;
}

int dht_addr_compact_parse(dht_addr_t *a, const uint8_t *in, size_t len)
{
	memset(a, 0, sizeof(*a));
	if (len != 6 && len != 18)
		return SW_EMALF;
	a->len = (uint8_t)(len - 2);
	memcpy(a->ip, in, a->len);
	a->port = (uint16_t)(in[a->len] << 8 | in[a->len + 1]);
	return 0;
}

int dht_addr_from_sockaddr(dht_addr_t *a, const struct sockaddr *sa, socklen_t len)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		memcpy(a->ip, &s4->sin_addr, 4);
		a->len = 4;
		a->port = ntohs(s4->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		/* An IPv4-mapped address is the IPv4 node it stands for. */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			memcpy(a->ip, s6->sin6_addr.s6_addr + 12, 4);
			a->len = 4;
		} else {
			memcpy(a->ip, &s6->sin6_addr, 16);
			a->len = 16;
		}
		a->port = ntohs(s6->sin6_port);
		return 0;
	}
	return SW_EINVAL;
}

socklen_t dht_addr_to_sockaddr(const dht_addr_t *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->len == 4) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, a->ip, 4);
		s4->sin_port = htons(a->port);
		return sizeof(*s4);
	}
	if (a->len == 16) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, a->ip, 16);
		s6->sin6_port = htons(a->port);
		return sizeof(*s6);
	}
	return 0;
}

bool dht_addr_ip_equal(const dht_addr_t *a, const dht_addr_t *b)
{
	return a->len == b->len && memcmp(a->ip, b->ip, a->len) == 0;
}

bool dht_addr_prefix_equal(const dht_addr_t *a, const dht_addr_t *b, unsigned bits)
{
	if (a->len != b->len || bits > 8u * a->len)
		return false;
	size_t whole = bits / 8;
	if (memcmp(a->ip, b->ip, whole) != 0)
		return false;
	unsigned rest = bits % 8;
	uint8_t mask = (uint8_t)(0xff00u >> rest);
	return rest == 0 || ((a->ip[whole] ^ b->ip[whole]) & mask) == 0;
}

bool dht_addr_equal(const dht_addr_t *a, const dht_addr_t *b)
{
	return dht_addr_ip_equal(a, b) && a->port == b->port;
}

void dht_addr_to_str(const dht_addr_t *a, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (a->len == 4 || a->len == 16)
		inet_ntop(a->len == 4 ? AF_INET : AF_INET6, a->ip, ip, sizeof(ip));
	snprintf(out, cap, a->len == 16 ? "[%s]:%u" : "%s:%u", ip, (unsigned)a->port);
}

/* ---- decoding ---- */

/* A reader over a decoded tree with a sticky error (STYLE.md "Errors"): lookups after the
 * first error find nothing, and dht_krpc_parse() checks err once at the end. */
typedef struct {
	const dht_bencode_doc_t *doc;
	int err;
} krd_t;

static void krd_fail(krd_t *r)
{
	if (!r->err)
		r->err = SW_EMALF;
}

/* Index of key in dict when it has the given type; -1 when absent. A present key of another
 * type is an error. */
static int krd_find(krd_t *r, int dict, const char *key, int type)
{
	if (r->err || dict < 0)
		return -1;
	int i = dht_bencode_dict_find(r->doc, (uint32_t)dict, key);
	if (i < 0)
		return -1;
	if (r->doc->nodes[i].type != type) {
		krd_fail(r);
		return -1;
	}
	return i;
}

static const uint8_t *krd_str(krd_t *r, int dict, const char *key, size_t max, size_t *len)
{
	int i = krd_find(r, dict, key, DHT_BENCODE_STR);
	if (i < 0)
		return NULL;
	const uint8_t *s = dht_bencode_str(r->doc, (uint32_t)i, len);
	if (*len > max) {
		krd_fail(r);
		return NULL;
	}
	return s;
}

/* A string of exactly n bytes copied into out; returns whether it was present. */
static bool krd_fixed(krd_t *r, int dict, const char *key, uint8_t *out, size_t n)
{
	size_t len;
	const uint8_t *s = krd_str(r, dict, key, n, &len);
	if (!s)
		return false;
	if (len != n) {
		krd_fail(r);
		return false;
	}
	memcpy(out, s, n);
	return true;
}

static bool krd_int(krd_t *r, int dict, const char *key, int64_t min, int64_t max, int64_t *out)
{
	int i = krd_find(r, dict, key, DHT_BENCODE_INT);
	if (i < 0)
		return false;
	int64_t v = r->doc->nodes[i].i;
	if (v < min || v > max) {
		krd_fail(r);
		return false;
	}
	*out = v;
	return true;
}

/* The arguments of a query or the fields of a reply: the same keys in both. */
static void krd_body(krd_t *r, int d, dht_krpc_msg_t *m)
{
	const dht_bencode_doc_t *doc = r->doc;
	int64_t v;
	size_t len;
	int i;

	m->has_id = krd_fixed(r, d, "id", m->id, DHT_ID_LEN);
	m->has_target = krd_fixed(r, d, "target", m->target, DHT_ID_LEN);
	m->has_info_hash = krd_fixed(r, d, "info_hash", m->info_hash, DHT_ID_LEN);
	if (krd_int(r, d, "port", 0, 65535, &v)) {
		m->has_port = true;
		m->port = (uint16_t)v;
	}
	if (krd_int(r, d, "implied_port", INT64_MIN, INT64_MAX, &v))
		m->implied_port = v != 0;
	m->token = krd_str(r, d, "token", DHT_KRPC_TOKEN_MAX, &m->token_len);

	/* BEP 44: v is any bencoded value; what is signed is its raw encoding. */
	i = r->err ? -1 : dht_bencode_dict_find(doc, (uint32_t)d, "v");
	if (i >= 0)
		m->v = dht_bencode_raw(doc, (uint32_t)i, &m->v_len);
	m->has_k = krd_fixed(r, d, "k", m->k, 32);
	m->has_sig = krd_fixed(r, d, "sig", m->sig, 64);
	/* BEP 44 "Mutable items": seq and cas are non-negative 64-bit integers. */
	m->has_seq = krd_int(r, d, "seq", 0, INT64_MAX, &m->seq);
	m->has_cas = krd_int(r, d, "cas", 0, INT64_MAX, &m->cas);
	/* The salt is taken at any length so that the node can answer 207 (BEP 44). */
	m->salt = krd_str(r, d, "salt", SIZE_MAX, &m->salt_len);

	m->nodes = krd_str(r, d, "nodes", SIZE_MAX, &len);
	m->nodes_len = m->nodes ? len - len % DHT_NODE4_LEN : 0;
	m->nodes6 = krd_str(r, d, "nodes6", SIZE_MAX, &len);
	m->nodes6_len = m->nodes6 ? len - len % DHT_NODE6_LEN : 0;

	i = krd_find(r, d, "values", DHT_BENCODE_LIST);
	if (i >= 0) {
		uint32_t e = (uint32_t)i + 1;
		for (uint32_t k = 0; k < doc->nodes[i].n; k++, e = doc->nodes[e].next) {
			const uint8_t *s = dht_bencode_str(doc, e, &len);
			/* Entries of another form are skipped, as other clients do. */
			if (!s || m->values_n >= DHT_KRPC_VALUES_MAX)
				continue;
			if (dht_addr_compact_parse(&m->values[m->values_n], s, len) == 0)
				m->values_n++;
		}
	}
	i = krd_find(r, d, "want", DHT_BENCODE_LIST);
	if (i >= 0) {
		uint32_t e = (uint32_t)i + 1;
		for (uint32_t k = 0; k < doc->nodes[i].n; k++, e = doc->nodes[e].next) {
			const uint8_t *s = dht_bencode_str(doc, e, &len);
			if (s && len == 2 && memcmp(s, "n4", 2) == 0)
				m->want |= DHT_WANT_N4;
			if (s && len == 2 && memcmp(s, "n6", 2) == 0)
				m->want |= DHT_WANT_N6;
		}
	}
}

int dht_krpc_parse(dht_krpc_msg_t *m, const uint8_t *buf, size_t len, dht_bencode_node_t *nodes,
		   size_t cap)
{
	dht_bencode_doc_t doc;
	krd_t r = {.doc = &doc};
	const uint8_t *s;
	size_t n;
	int ret;

	memset(m, 0, sizeof(*m));
	ret = dht_bencode_parse(&doc, buf, len, nodes, cap);
	if (ret)
		goto fail;
	if (nodes[0].type != DHT_BENCODE_DICT) {
		ret = SW_EMALF;
		goto fail;
	}
	/* BEP 5 "KRPC Protocol": every message has t (transaction ID) and y (type). */
	s = krd_str(&r, 0, "t", DHT_KRPC_TID_MAX, &n);
	if (!s) {
		ret = r.err ? r.err : SW_EMALF;
		goto fail;
	}
	memcpy(m->tid, s, n);
	m->tid_len = (uint8_t)n;

	s = krd_str(&r, 0, "y", 1, &n);
	if (s && n == 1 && s[0] == 'q')
		m->kind = DHT_KRPC_QUERY;
	else if (s && n == 1 && s[0] == 'r')
		m->kind = DHT_KRPC_REPLY;
	else if (s && n == 1 && s[0] == 'e')
		m->kind = DHT_KRPC_ERROR;
	else
		krd_fail(&r);

	/* Top-level extras (BEP 42 ip, BEP 43 ro, client version v) are advisory: a malformed
	 * one is ignored rather than failing the message. */
	int i = dht_bencode_dict_find(&doc, 0, "ip");
	if (i >= 0 && (s = dht_bencode_str(&doc, (uint32_t)i, &n)) != NULL)
		dht_addr_compact_parse(&m->ip, s, n);
	i = dht_bencode_dict_find(&doc, 0, "v");
	if (i >= 0 && (s = dht_bencode_str(&doc, (uint32_t)i, &n)) != NULL) {
		m->client = s;
		m->client_len = n;
	}
	i = dht_bencode_dict_find(&doc, 0, "ro");
	m->ro = i >= 0 && nodes[i].type == DHT_BENCODE_INT && nodes[i].i == 1;

	if (m->kind == DHT_KRPC_QUERY) {
		s = krd_str(&r, 0, "q", 64, &n);
		if (!s)
			krd_fail(&r);
		for (int k = DHT_KRPC_PING; s && k < DHT_KRPC_METHOD_COUNT; k++) {
			if (strlen(method_names[k]) == n && memcmp(method_names[k], s, n) == 0)
				m->method = (uint8_t)k;
		}
		int a = krd_find(&r, 0, "a", DHT_BENCODE_DICT);
		if (a < 0)
			krd_fail(&r);
		krd_body(&r, a, m);
	} else if (m->kind == DHT_KRPC_REPLY) {
		int rd = krd_find(&r, 0, "r", DHT_BENCODE_DICT);
		if (rd < 0)
			krd_fail(&r);
		krd_body(&r, rd, m);
	} else if (m->kind == DHT_KRPC_ERROR) {
		/* BEP 5 "Errors": e is a list of an integer code and a string message. */
		int e = krd_find(&r, 0, "e", DHT_BENCODE_LIST);
		if (e < 0 || nodes[e].n < 1 || nodes[e + 1].type != DHT_BENCODE_INT) {
			krd_fail(&r);
		} else {
			m->ecode = nodes[e + 1].i;
			if (nodes[e].n >= 2)
				m->emsg = dht_bencode_str(&doc, nodes[e + 1].next, &m->emsg_len);
		}
	}
	ret = r.err;
	if (ret)
		goto fail;
	return 0;
fail:
	/* Keep the transaction ID so that the caller can answer "203 protocol error". */
	{
		uint8_t tid[DHT_KRPC_TID_MAX];
		uint8_t tid_len = m->tid_len;
		uint8_t kind = m->kind;
		memcpy(tid, m->tid, tid_len);
		memset(m, 0, sizeof(*m));
		memcpy(m->tid, tid, tid_len);
		m->tid_len = tid_len;
		m->kind = kind;
	}
	return ret;
}

/* ---- encoding ---- */

static void write_body(dht_bencode_writer_t *w, const dht_krpc_msg_t *m)
{
	uint8_t buf[18];
	size_t n;

	/* BEP 3 "bencoding": keys in sorted order. */
	dht_bencode_write_dict(w);
	if (m->has_cas) {
		dht_bencode_write_key(w, "cas");
		dht_bencode_write_int(w, m->cas);
	}
	if (m->has_id) {
		dht_bencode_write_key(w, "id");
		dht_bencode_write_str(w, m->id, DHT_ID_LEN);
	}
	if (m->implied_port) {
		dht_bencode_write_key(w, "implied_port");
		dht_bencode_write_int(w, 1);
	}
	if (m->has_info_hash) {
		dht_bencode_write_key(w, "info_hash");
		dht_bencode_write_str(w, m->info_hash, DHT_ID_LEN);
	}
	if (m->has_k) {
		dht_bencode_write_key(w, "k");
		dht_bencode_write_str(w, m->k, 32);
	}
	if (m->nodes) {
		dht_bencode_write_key(w, "nodes");
		dht_bencode_write_str(w, m->nodes, m->nodes_len);
	}
	if (m->nodes6) {
		dht_bencode_write_key(w, "nodes6");
		dht_bencode_write_str(w, m->nodes6, m->nodes6_len);
	}
	if (m->has_port) {
		dht_bencode_write_key(w, "port");
		dht_bencode_write_int(w, m->port);
	}
	if (m->salt && m->salt_len) {
		dht_bencode_write_key(w, "salt");
		dht_bencode_write_str(w, m->salt, m->salt_len);
	}
	if (m->has_seq) {
		dht_bencode_write_key(w, "seq");
		dht_bencode_write_int(w, m->seq);
	}
	if (m->has_sig) {
		dht_bencode_write_key(w, "sig");
		dht_bencode_write_str(w, m->sig, 64);
	}
	if (m->has_target) {
		dht_bencode_write_key(w, "target");
		dht_bencode_write_str(w, m->target, DHT_ID_LEN);
	}
	if (m->token) {
		dht_bencode_write_key(w, "token");
		dht_bencode_write_str(w, m->token, m->token_len);
	}
	if (m->v) {
		dht_bencode_write_key(w, "v");
		dht_bencode_write_raw(w, m->v, m->v_len);
	}
	if (m->values_n) {
		dht_bencode_write_key(w, "values");
		dht_bencode_write_list(w);
		for (size_t i = 0; i < m->values_n; i++) {
			n = dht_addr_compact_write(&m->values[i], buf, sizeof(buf));
			dht_bencode_write_str(w, buf, n);
		}
		dht_bencode_write_end(w);
	}
	if (m->want) {
		dht_bencode_write_key(w, "want");
		dht_bencode_write_list(w);
		if (m->want & DHT_WANT_N4)
			dht_bencode_write_str(w, "n4", 2);
		if (m->want & DHT_WANT_N6)
			dht_bencode_write_str(w, "n6", 2);
		dht_bencode_write_end(w);
	}
	dht_bencode_write_end(w);
}

int dht_krpc_write(const dht_krpc_msg_t *m, uint8_t *out, size_t cap, size_t *len)
{
	dht_bencode_writer_t w;
	uint8_t ip[18];
	size_t n;

	if (m->kind < DHT_KRPC_QUERY || m->kind > DHT_KRPC_ERROR)
		return SW_EINVAL;
	if (m->kind == DHT_KRPC_QUERY &&
	    (m->method <= DHT_KRPC_UNKNOWN || m->method >= DHT_KRPC_METHOD_COUNT))
		return SW_EINVAL;

	/* Top-level keys in sorted order: a e ip q r ro t v y. */
	dht_bencode_writer_init(&w, out, cap);
	dht_bencode_write_dict(&w);
	if (m->kind == DHT_KRPC_QUERY) {
		dht_bencode_write_key(&w, "a");
		write_body(&w, m);
	}
	if (m->kind == DHT_KRPC_ERROR) {
		dht_bencode_write_key(&w, "e");
		dht_bencode_write_list(&w);
		dht_bencode_write_int(&w, m->ecode);
		dht_bencode_write_str(&w, m->emsg ? m->emsg : (const uint8_t *)"", m->emsg_len);
		dht_bencode_write_end(&w);
	}
	/* BEP 42: replies tell the requester the address they came from. */
	n = dht_addr_compact_write(&m->ip, ip, sizeof(ip));
	if (n) {
		dht_bencode_write_key(&w, "ip");
		dht_bencode_write_str(&w, ip, n);
	}
	if (m->kind == DHT_KRPC_QUERY) {
		dht_bencode_write_key(&w, "q");
		dht_bencode_write_key(&w, method_names[m->method]);
	}
	if (m->kind == DHT_KRPC_REPLY) {
		dht_bencode_write_key(&w, "r");
		write_body(&w, m);
	}
	/* BEP 43: a read-only node marks its queries. */
	if (m->ro) {
		dht_bencode_write_key(&w, "ro");
		dht_bencode_write_int(&w, 1);
	}
	dht_bencode_write_key(&w, "t");
	dht_bencode_write_str(&w, m->tid, m->tid_len);
	if (m->client) {
		dht_bencode_write_key(&w, "v");
		dht_bencode_write_str(&w, m->client, m->client_len);
	}
	dht_bencode_write_key(&w, "y");
	dht_bencode_write_str(&w,
			      m->kind == DHT_KRPC_QUERY	  ? "q"
			      : m->kind == DHT_KRPC_REPLY ? "r"
							  : "e",
			      1);
	dht_bencode_write_end(&w);
	return dht_bencode_writer_finish(&w, len);
}
