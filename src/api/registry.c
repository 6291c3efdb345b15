/*
 * A registry's transparency log over the API (docs/design.md §9 "Transparency log",
 * docs/api.md "Registry logs"): what a registrar or a mirror holds in LMDB (store/mlog.h),
 * served as RFC 9162's log API serves it, in JSON:
 *
 *   GET /v1/registry/<R>/log/sth                              the size, root and tree head
 *   GET /v1/registry/<R>/log/entries?start=&end=              entries start..end, inclusive
 *   GET /v1/registry/<R>/log/proof/inclusion?index=&size=     RFC 9162 §2.1.3.1
 *   GET /v1/registry/<R>/log/proof/consistency?first=&second= RFC 9162 §2.1.4.1
 *
 * Hashes and entries are hex, as elsewhere in this API. Ranges are bounded (at most
 * API_LOG_ENTRIES_MAX entries per request; fewer is not an error, as RFC 6962 §4.6 allows: the
 * client asks again from where the answer ended). Reads only; loop thread. Every other path
 * under /v1/registry/<R>/ goes to the registrar (registrar.c), past the option registrar-rate.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api/internal.h"
#include "common/codec.h"
#include "common/err.h"
#include "dns/rrl.h"
#include "store/mlog.h"

#define API_LOG_ENTRIES_MAX 256
#define LOG_PATHS                                                                                  \
	"/v1/registry/<key>/log/sth, /log/entries?start=&end=, "                                   \
	"/log/proof/inclusion?index=&size=, /log/proof/consistency?first=&second="

static json_t *hex_json(const uint8_t *p, size_t len)
{
	char buf[2 * STORE_MLOG_ENTRY_MAX + 1];
	if (sw_hex_encode(p, len, buf, sizeof(buf)))
		return NULL;
	return json_string(buf);
}

/* A query argument as an unsigned decimal: 1 when absent, -1 when it is not one. */
static int arg_u64(struct MHD_Connection *c, const char *name, uint64_t *out)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
	if (v == NULL || *v == '\0')
		return 1;
	size_t n = strspn(v, "0123456789");
	if (n == 0 || n > 20 || v[n] != '\0')
		return -1;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(v[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*out = x;
	return 0;
}

__attribute__((format(printf, 2, 3))) static enum MHD_Result bad(struct MHD_Connection *c,
								 const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return api_reply_text(c, MHD_HTTP_BAD_REQUEST, msg);
}

static enum MHD_Result store_failed(struct MHD_Connection *c, int ret)
{
	char msg[160];
	snprintf(msg, sizeof(msg), "reading the log failed: %s (see the node's log)",
		 sw_strerror(ret));
	return api_reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
}

static json_t *proof_json(const uint8_t *proof, size_t count)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < count; i++)
		json_array_append_new(a,
				      hex_json(proof + i * REG_MLOG_HASH_LEN, REG_MLOG_HASH_LEN));
	return a;
}

static enum MHD_Result log_sth(struct MHD_Connection *c, const store_mlog_t *m, const char *z32)
{
	uint8_t root[REG_MLOG_HASH_LEN];
	uint64_t size = store_mlog_size(m), hsize;
	item_t head;
	int ret = reg_mlog_root(store_mlog_log(m), size, root);
	if (ret)
		return store_failed(c, ret);
	json_t *j = json_pack("{s:s, s:I, s:o}", "registry", z32, "size", (json_int_t)size, "root",
			      hex_json(root, sizeof(root)));
	if (j == NULL)
		return api_reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	/* The latest signed tree head (the `_log` item) this node keeps; it may be of a smaller
	 * size than the entries held, until the registrar signs again. */
	ret = store_mlog_head_latest(m, &hsize, &head);
	if (ret == 0)
		json_object_set_new(j, "head",
				    json_pack("{s:I, s:I, s:o, s:o}", "size", (json_int_t)hsize,
					      "seq", (json_int_t)head.seq, "sig",
					      hex_json(head.sig, 64), "v",
					      hex_json(head.v, head.v_len)));
	else if (ret == SW_ENOTFOUND)
		json_object_set_new(j, "head", json_null());
	else {
		json_decref(j);
		return store_failed(c, ret);
	}
	return api_reply_json(c, MHD_HTTP_OK, j);
}

static enum MHD_Result log_entries(struct MHD_Connection *c, const store_mlog_t *m, const char *z32)
{
	static uint8_t entry[STORE_MLOG_ENTRY_MAX];
	uint8_t leaf[REG_MLOG_HASH_LEN];
	uint64_t size = store_mlog_size(m), start = 0, end = 0;
	int rs = arg_u64(c, "start", &start), re = arg_u64(c, "end", &end);
	if (rs || re)
		return api_reply_text(c, MHD_HTTP_BAD_REQUEST,
				      "give start and end, decimal entry indexes (inclusive, as "
				      "RFC 6962 §4.6 get-entries)");
	if (start > end)
		return bad(c, "start %llu is after end %llu", (unsigned long long)start,
			   (unsigned long long)end);
	if (start >= size)
		return bad(c, "start %llu is beyond the log, which holds %llu entries",
			   (unsigned long long)start, (unsigned long long)size);
	/* At most API_LOG_ENTRIES_MAX and what the log holds; the client continues from the
	 * last one returned. */
	if (end - start >= API_LOG_ENTRIES_MAX)
		end = start + API_LOG_ENTRIES_MAX - 1;
	if (end >= size)
		end = size - 1;
	json_t *list = json_array();
	json_t *j = json_pack("{s:I, s:I, s:I, s:o}", "start", (json_int_t)start, "end",
			      (json_int_t)end, "size", (json_int_t)size, "entries", list);
	if (j == NULL)
		return api_reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	for (uint64_t i = start; i <= end; i++) {
		size_t len;
		int ret = store_mlog_entry(m, i, entry, sizeof(entry), &len);
		if (ret) {
			json_decref(j);
			return store_failed(c, ret);
		}
		reg_mlog_leaf_hash(entry, len, leaf);
		json_array_append_new(list, json_pack("{s:I, s:o, s:o}", "index", (json_int_t)i,
						      "entry", hex_json(entry, len), "leaf_hash",
						      hex_json(leaf, sizeof(leaf))));
	}
	return api_reply_json(c, MHD_HTTP_OK, j);
}

static enum MHD_Result log_inclusion(struct MHD_Connection *c, const store_mlog_t *m,
				     const char *z32)
{
	static uint8_t entry[STORE_MLOG_ENTRY_MAX];
	uint8_t proof[REG_MLOG_PROOF_MAX * REG_MLOG_HASH_LEN], root[REG_MLOG_HASH_LEN],
	    leaf[REG_MLOG_HASH_LEN];
	uint64_t have = store_mlog_size(m), index = 0, size = have;
	size_t count, len;
	int ri = arg_u64(c, "index", &index), rz = arg_u64(c, "size", &size);
	if (ri || rz < 0)
		return api_reply_text(c, MHD_HTTP_BAD_REQUEST,
				      "give index (the entry) and optionally size (the tree, "
				      "default the whole log), decimal");
	if (size > have)
		return bad(c, "size %llu is beyond the log, which holds %llu entries",
			   (unsigned long long)size, (unsigned long long)have);
	if (index >= size)
		return bad(c, "index %llu is not in a tree of %llu entries",
			   (unsigned long long)index, (unsigned long long)size);
	const reg_mlog_t *log = store_mlog_log(m);
	int ret = reg_mlog_inclusion_proof(log, index, size, proof, REG_MLOG_PROOF_MAX, &count);
	if (ret == 0)
		ret = reg_mlog_root(log, size, root);
	if (ret == 0)
		ret = store_mlog_entry(m, index, entry, sizeof(entry), &len);
	if (ret)
		return store_failed(c, ret);
	reg_mlog_leaf_hash(entry, len, leaf);
	return api_reply_json(
	    c, MHD_HTTP_OK,
	    json_pack("{s:I, s:I, s:o, s:o, s:o}", "index", (json_int_t)index, "size",
		      (json_int_t)size, "leaf_hash", hex_json(leaf, sizeof(leaf)), "root",
		      hex_json(root, sizeof(root)), "proof", proof_json(proof, count)));
}

static enum MHD_Result log_consistency(struct MHD_Connection *c, const store_mlog_t *m,
				       const char *z32)
{
	uint8_t proof[REG_MLOG_PROOF_MAX * REG_MLOG_HASH_LEN], r1[REG_MLOG_HASH_LEN],
	    r2[REG_MLOG_HASH_LEN];
	uint64_t have = store_mlog_size(m), first = 0, second = have;
	size_t count;
	int rf = arg_u64(c, "first", &first), rs = arg_u64(c, "second", &second);
	if (rf || rs < 0)
		return api_reply_text(c, MHD_HTTP_BAD_REQUEST,
				      "give first (the older tree's size) and optionally second "
				      "(the newer one's, default the whole log), decimal");
	if (second > have)
		return bad(c, "second %llu is beyond the log, which holds %llu entries",
			   (unsigned long long)second, (unsigned long long)have);
	if (first > second)
		return bad(c, "first %llu is larger than second %llu", (unsigned long long)first,
			   (unsigned long long)second);
	const reg_mlog_t *log = store_mlog_log(m);
	int ret = reg_mlog_consistency_proof(log, first, second, proof, REG_MLOG_PROOF_MAX, &count);
	if (ret == 0)
		ret = reg_mlog_root(log, first, r1);
	if (ret == 0)
		ret = reg_mlog_root(log, second, r2);
	if (ret)
		return store_failed(c, ret);
	return api_reply_json(
	    c, MHD_HTTP_OK,
	    json_pack("{s:I, s:I, s:o, s:o, s:o}", "first", (json_int_t)first, "second",
		      (json_int_t)second, "first_root", hex_json(r1, sizeof(r1)), "second_root",
		      hex_json(r2, sizeof(r2)), "proof", proof_json(proof, count)));
}

/* The paths under /v1/registry/<R>/, each with its handler. */
static const struct {
	const char *path;
	enum MHD_Result (*fn)(struct MHD_Connection *c, const store_mlog_t *m, const char *z32);
} handlers[] = {
    {"log/sth", log_sth},
    {"log/entries", log_entries},
    {"log/proof/inclusion", log_inclusion},
    {"log/proof/consistency", log_consistency},
};

/* registrar-rate: a request to the registrar counts against its client's network (/24, /56,
 * as the DNS limits count: dns/rrl.h), loopback too (a reverse proxy's clients all come from
 * there, and then share one budget rather than none), refused ones too. True when rq is over
 * the limit and answered 429 with Retry-After (RFC 6585 §4) into *ret. */
static bool registrar_limited(api_t *a, struct MHD_Connection *c, req_t *rq, enum MHD_Result *ret)
{
	unsigned rate = a->ctx.registrar_rate, retry;
	uint8_t net[DNS_RRL_NET_KEY_MAX];
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (rate == 0 || rq->rate_counted || ci == NULL)
		return false;
	rq->rate_counted = true;
	size_t len = dns_rrl_net_key(ci->client_addr, net);
	/* A burst of `rate` requests, then one every second / rate. */
	uint64_t step = 1000000 / rate;
	if (len == 0 || !api_rate_over(&a->registrar_rate, net, len, uv_now(a->loop) * 1000, step,
				       1000000 - step, &retry))
		return false;
	a->registrar_limited++;
	char msg[256], hdr[32];
	snprintf(msg, sizeof(msg),
		 "too many requests to this registrar from your network (more than %u a second); "
		 "wait %u s and send the request again\n",
		 rate, retry);
	snprintf(hdr, sizeof(hdr), "Retry-After: %u", retry);
	*ret = api_reply_ext(c, MHD_HTTP_TOO_MANY_REQUESTS, "text/plain; charset=utf-8", msg,
			     strlen(msg), hdr);
	return true;
}

uint64_t api_registrar_limited(const api_t *a)
{
	return a->registrar_limited;
}

enum MHD_Result api_registry(api_t *a, struct MHD_Connection *c, const char *path,
			     const char *method, req_t *rq)
{
	uint8_t pk[32];
	char z32[SW_Z32_KEY_LEN + 1], msg[256];
	if (path[0] == '\0')
		return api_registrar_list(a, c, method);
	const char *slash = strchr(path, '/');
	if (slash == NULL || sw_z32_decode_key(path, (size_t)(slash - path), pk) != 0)
		return api_reply_text(c, MHD_HTTP_BAD_REQUEST,
				      "give the registry's 52-character z-base32 key: " LOG_PATHS);
	/* The operations of a registry this node runs (src/api/registrar.c). */
	enum MHD_Result limited;
	if (strncmp(slash + 1, "log/", 4) != 0)
		return registrar_limited(a, c, rq, &limited)
			   ? limited
			   : api_registrar(a, c, pk, slash + 1, method, rq);
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return api_reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
	size_t h = 0, nh = sizeof(handlers) / sizeof(handlers[0]);
	while (h < nh && strcmp(slash + 1, handlers[h].path) != 0)
		h++;
	if (h == nh)
		return api_reply_text(c, MHD_HTTP_NOT_FOUND,
				      "unknown path; a registry's log has " LOG_PATHS);
	sw_z32_encode_key(pk, z32);
	store_mlog_t *m = NULL;
	int ret = a->ctx.store ? store_mlog_open(a->ctx.store, pk, false, &m) : SW_ENOTFOUND;
	if (ret == SW_ENOTFOUND) {
		snprintf(msg, sizeof(msg),
			 "this node holds no log of registry %s: ask its registrar's node or a "
			 "mirror",
			 z32);
		return api_reply_text(c, MHD_HTTP_NOT_FOUND, msg);
	}
	if (ret)
		return store_failed(c, ret);
	enum MHD_Result r = handlers[h].fn(c, m, z32);
	store_mlog_close(m);
	return r;
}
