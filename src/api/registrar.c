/*
 * The operations of a registry this node runs (option `registrar`, registrar/registrar.h) on
 * the API, next to its log (registry.c), JSON in and out (docs/api.md "Registrar"):
 *
 *   GET  /v1/registry/                the registries this node runs
 *   GET  /v1/registry/<R>/policy          the published policy
 *   GET  /v1/registry/<R>/name/<label>    a label's registration, or its waiting claim
 *   POST /v1/registry/<R>/init            publish a policy and the log (writers only)
 *   POST /v1/registry/<R>/commit          open: log a commitment
 *   POST /v1/registry/<R>/register        claim a label
 *   POST /v1/registry/<R>/approve, reject moderated: a moderator's signature
 *   POST /v1/registry/<R>/transfer, renew, release   by the owner
 *
 * Every operation but init is signed by whoever asks (the claimant, the owner, a moderator)
 * and is open to any client: that is how names are given out. A refusal is a one-line text
 * saying why (registry/check.h's sentences): 400 a bad request or label, 403 a signature or
 * the policy's evidence, 404 no such registry, name or claim, 409 the name is taken.
 *
 * An operation that ends in a label item of a dns-proof registry (register, approve, transfer,
 * renew: every resolver checks the TXT record of each label item) first looks up the TXT
 * records at the claim's dns-proof name through the node's forwarder, the same upstream the
 * resolver uses: the request is suspended meanwhile (MHD_suspend_connection) and answered when
 * the upstream replied or the forwarder gave up (its per-server timeouts bound the wait); 502
 * when no upstream answered, 503 when the node has none. Loop thread; the registrar's LMDB
 * writes are durable before the answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api/internal.h"
#include "common/codec.h"
#include "common/err.h"
#include "dns/wire.h"
#include "registrar/registrar.h"

static registrar_t *find(const api_t *a, const uint8_t pk[32])
{
	for (size_t i = 0; i < a->ctx.n_registrars; i++)
		if (memcmp(registrar_key(a->ctx.registrars[i]), pk, 32) == 0)
			return a->ctx.registrars[i];
	return NULL;
}

static json_t *hex(const uint8_t *p, size_t len)
{
	char buf[2 * 64 + 1];
	sw_hex_encode(p, len, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *z32(const uint8_t key[32])
{
	char buf[SW_Z32_KEY_LEN + 1];
	sw_z32_encode_key(key, buf);
	return json_string(buf);
}

static json_t *policy_json(const uint8_t registry[32], const reg_policy_t *pol)
{
	json_t *j = json_pack("{s:o, s:s, s:i, s:i, s:I, s:I}", "registry", z32(registry), "rules",
			      reg_policy_rules_str(pol->rules), "label_min", pol->label_min,
			      "label_max", pol->label_max, "expiry", (json_int_t)pol->expiry,
			      "renew", (json_int_t)pol->renew);
	if (j == NULL)
		return NULL;
	if (pol->api[0])
		json_object_set_new(j, "api", json_string(pol->api));
	if (pol->rules & REG_RULE_OPEN) {
		json_object_set_new(j, "pow_difficulty", json_integer(pol->pow.difficulty));
		json_object_set_new(j, "pow_ops", json_integer(pol->pow.opslimit));
		json_object_set_new(j, "pow_mem", json_integer(pol->pow.memlimit));
		json_object_set_new(j, "reveal_min", json_integer((json_int_t)pol->reveal_min));
		json_object_set_new(j, "reveal_max", json_integer((json_int_t)pol->reveal_max));
	}
	if (pol->rules & REG_RULE_MODERATED) {
		json_t *m = json_array();
		for (unsigned i = 0; i < pol->mod_n; i++)
			json_array_append_new(m, z32(pol->mod[i]));
		json_object_set_new(j, "mod_k", json_integer(pol->mod_k));
		json_object_set_new(j, "mods", m);
	}
	if (pol->rules & REG_RULE_DNS_PROOF) {
		json_t *d = json_array();
		for (unsigned i = 0; i < pol->ndns_suffix; i++)
			json_array_append_new(d, json_string(pol->dns_suffix[i]));
		json_object_set_new(j, "dns_prefix", json_string(pol->dns_prefix));
		json_object_set_new(j, "dns_suffixes", d);
	}
	return j;
}

/* An unsigned integer field of j: 1 when absent, -1 when it is not one (or above max). */
static int get_uint(const json_t *j, const char *name, uint64_t max, uint64_t *out)
{
	const json_t *v = json_object_get(j, name);
	if (v == NULL || json_is_null(v))
		return 1;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* A string field decoded as hex of exactly len bytes, or as a z-base32 key (len 0 means
 * a key). Returns 0, 1 (absent) or -1 (malformed). */
static int get_bytes(const json_t *j, const char *name, uint8_t *out, size_t len)
{
	const char *s = json_string_value(json_object_get(j, name));
	if (s == NULL)
		return json_object_get(j, name) ? -1 : 1;
	if (len == 0)
		return sw_z32_decode_key(s, strlen(s), out) ? -1 : 0;
	return strlen(s) == 2 * len && sw_hex_decode(s, 2 * len, out, len) == 0 ? 0 : -1;
}

static int get_label(const json_t *j, char out[REG_LABEL_MAX + 1])
{
	const char *s = json_string_value(json_object_get(j, "label"));
	if (s == NULL || strlen(s) == 0 || strlen(s) > REG_LABEL_MAX)
		return -1;
	strcpy(out, s);
	return 0;
}

/* The policy of an init request: defaults of reg_policy_init(), and for `open` a small proof
 * of work and a few seconds between commitment and reveal. */
static int policy_from_json(const json_t *j, reg_policy_t *pol, char *err, size_t cap)
{
	uint64_t v;
	const char *rules = json_string_value(json_object_get(j, "rules"));
	reg_policy_init(pol);
	if (rules == NULL || reg_policy_rules_from_str(rules, &pol->rules)) {
		snprintf(err, cap,
			 "give rules: closed, or open, moderated and dns-proof joined by '+'");
		return -1;
	}
	if (pol->rules & REG_RULE_OPEN) {
		pol->pow.difficulty = 8;
		pol->pow.memlimit = 65536;
		pol->reveal_min = 2;
		pol->reveal_max = 86400;
	}
	static const struct {
		const char *name;
		size_t off, size;
		uint64_t max;
	} f[] = {
#define U(n, field, m) {n, offsetof(reg_policy_t, field), sizeof(((reg_policy_t *)0)->field), m}
	    U("label_min", label_min, REG_LABEL_MAX),
	    U("label_max", label_max, REG_LABEL_MAX),
	    U("expiry", expiry, UINT32_MAX),
	    U("renew", renew, UINT32_MAX),
	    U("pow_difficulty", pow.difficulty, REG_POW_DIFFICULTY_MAX),
	    U("pow_ops", pow.opslimit, REG_POW_OPS_MAX),
	    U("pow_mem", pow.memlimit, REG_POW_MEM_MAX),
	    U("reveal_min", reveal_min, UINT32_MAX),
	    U("reveal_max", reveal_max, UINT32_MAX),
	    U("mod_k", mod_k, REG_MOD_MAX),
#undef U
	};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		int r = get_uint(j, f[i].name, f[i].max, &v);
		if (r < 0) {
			snprintf(err, cap, "%s: give an integer from 0 to %llu", f[i].name,
				 (unsigned long long)f[i].max);
			return -1;
		}
		if (r > 0)
			continue;
		char *p = (char *)pol + f[i].off;
		if (f[i].size == 1)
			*(uint8_t *)p = (uint8_t)v;
		else if (f[i].size == 4)
			*(uint32_t *)p = (uint32_t)v;
		else
			*(uint64_t *)p = v;
	}
	const char *api = json_string_value(json_object_get(j, "api"));
	if (api && strlen(api) <= REG_API_MAX)
		strcpy(pol->api, api);
	const json_t *mods = json_object_get(j, "mods");
	if (mods && (!json_is_array(mods) || json_array_size(mods) > REG_MOD_MAX)) {
		snprintf(err, cap, "mods: give at most %d moderator keys", REG_MOD_MAX);
		return -1;
	}
	for (size_t i = 0; mods && i < json_array_size(mods); i++) {
		const char *s = json_string_value(json_array_get(mods, i));
		if (s == NULL || sw_z32_decode_key(s, strlen(s), pol->mod[pol->mod_n++])) {
			snprintf(err, cap, "mods: '%s' is not a z-base32 key", s ? s : "?");
			return -1;
		}
	}
	if ((pol->rules & REG_RULE_MODERATED) && pol->mod_k == 0)
		pol->mod_k = 1;
	const char *prefix = json_string_value(json_object_get(j, "dns_prefix"));
	if (prefix && strlen(prefix) <= REG_DNS_PREFIX_MAX)
		strcpy(pol->dns_prefix, prefix);
	else if (prefix) {
		snprintf(err, cap, "dns_prefix: an underscore label of at most %d characters",
			 REG_DNS_PREFIX_MAX);
		return -1;
	}
	const json_t *sfx = json_object_get(j, "dns_suffixes");
	if (sfx && (!json_is_array(sfx) || json_array_size(sfx) > REG_DNS_SUFFIX_MAX)) {
		snprintf(err, cap, "dns_suffixes: give at most %d domains", REG_DNS_SUFFIX_MAX);
		return -1;
	}
	for (size_t i = 0; sfx && i < json_array_size(sfx); i++) {
		const char *d = json_string_value(json_array_get(sfx, i));
		if (d == NULL || strlen(d) > REG_DOMAIN_MAX) {
			snprintf(err, cap, "dns_suffixes: give domains of at most %d characters",
				 REG_DOMAIN_MAX);
			return -1;
		}
		strcpy(pol->dns_suffix[pol->ndns_suffix++], d);
	}
	return 0;
}

static uint64_t now_s(void)
{
	return (uint64_t)time(NULL);
}

/* The answer to an operation that failed, its status by what refused it. */
static enum MHD_Result refused(struct MHD_Connection *c, int ret, const registrar_res_t *res)
{
	unsigned status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	char msg[sizeof(res->msg)];
	switch (ret) {
	case SW_EPOLICY:
		status = res->why == REG_WHY_TAKEN ? MHD_HTTP_CONFLICT
			 : res->why == REG_WHY_LABEL || res->why == REG_WHY_RESERVED
			     ? MHD_HTTP_BAD_REQUEST
			     : MHD_HTTP_FORBIDDEN;
		break;
	case SW_EBADSIG:
		status = MHD_HTTP_FORBIDDEN;
		break;
	case SW_ENOTFOUND:
		status = MHD_HTTP_NOT_FOUND;
		break;
	case SW_EEXIST:
		status = MHD_HTTP_CONFLICT;
		break;
	case SW_EINVAL:
		status = MHD_HTTP_BAD_REQUEST;
		break;
	}
	snprintf(msg, sizeof(msg), "%s", res->msg[0] ? res->msg : sw_strerror(ret));
	return api_reply_text(c, status, msg);
}

static enum MHD_Result done(struct MHD_Connection *c, registrar_t *r, const char *label,
			    const registrar_res_t *res)
{
	json_t *j = json_pack("{s:o, s:I}", "registry", z32(registrar_key(r)), "time",
			      (json_int_t)res->time);
	if (j == NULL)
		return api_reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	if (label)
		json_object_set_new(j, "label", json_string(label));
	if (res->pending) {
		json_object_set_new(j, "state", json_string("pending"));
		json_object_set_new(j, "approvals", json_integer(res->approvals));
		json_object_set_new(j, "needed", json_integer(res->needed));
		return api_reply_json(c, MHD_HTTP_ACCEPTED, j);
	}
	json_object_set_new(j, "index", json_integer((json_int_t)res->index));
	return api_reply_json(c, MHD_HTTP_OK, j);
}

static enum MHD_Result bad_field(struct MHD_Connection *c, const char *what)
{
	char msg[200];
	snprintf(msg, sizeof(msg), "the request needs %s", what);
	return api_reply_text(c, MHD_HTTP_BAD_REQUEST, msg);
}

/* The forwarder's answer to a dns-proof TXT query: kept in rq, which is answered on MHD's
 * next run. */
static void on_proof(void *ctx, const uint8_t *resp, size_t len, int err)
{
	req_t *rq = ctx;
	rq->proof_err = err ? err : reg_dns_txt_parse(resp, len, rq->proof);
	api_wait_end(rq, REQ_DONE);
	api_wake(rq->api);
}

/* dns-proof: the TXT records an operation on label needs (the claim's domain dns, or the
 * label's current registration or waiting claim when dns is NULL). Returns 0 with *txt
 * (NULL: the registry is not dns-proof, or the record names no domain, which the registrar
 * refuses with its reason), or 1 with *reply: the request suspended while the upstream is
 * asked, or a refusal (no upstream, the upstream failed). */
static int proof_for(api_t *a, struct MHD_Connection *c, req_t *rq, registrar_t *r,
		     const char *label, const char *dns, const reg_dns_txt_t **txt,
		     enum MHD_Result *reply)
{
	reg_policy_t pol;
	reg_record_t rec;
	bool pending;
	char name[REG_DNS_PROOF_NAME_MAX], msg[REG_DNS_PROOF_NAME_MAX + 200];
	uint8_t q[DNS_NAME_MAX + 32];
	size_t qlen;
	*txt = NULL;
	if (registrar_policy(r, &pol) || !(pol.rules & REG_RULE_DNS_PROOF))
		return 0;
	memset(&rec, 0, sizeof(rec));
	reg_why_t why;
	/* A domain the registrar refuses anyway is not looked up: nobody makes it ask its
	 * upstream for names outside the policy's suffixes. */
	if (dns && dns[0] && reg_domain_check(dns, strlen(dns), 2) == 0 &&
	    reg_check_dns_name(&pol, label, strlen(label), dns, &why) == 0) {
		rec.has = REG_HAS_DNS;
		strcpy(rec.dns, dns);
	} else if (dns || registrar_label(r, label, &rec, NULL, &pending)) {
		return 0;
	}
	if (reg_dns_proof_name(&pol, &rec, name, sizeof(name)))
		return 0;
	if (rq->state == REQ_DONE && rq->proof && strcmp(rq->proof_name, name) == 0) {
		if (rq->proof_err == 0) {
			*txt = rq->proof;
			return 0;
		}
		snprintf(msg, sizeof(msg),
			 "dns-proof: the upstream did not answer the TXT query for %s (%s): the "
			 "claim cannot be checked now; try again later",
			 name, sw_strerror(rq->proof_err));
		*reply = api_reply_text(c, MHD_HTTP_BAD_GATEWAY, msg);
		return 1;
	}
	if (a->ctx.fwd == NULL) {
		*reply =
		    api_reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
				   "dns-proof: this registrar's node has no upstream DNS server "
				   "to look the claim's TXT record up through; its operator "
				   "must give it one (option upstream)");
		return 1;
	}
	if (rq->proof == NULL && (rq->proof = calloc(1, sizeof(*rq->proof))) == NULL) {
		*reply = api_reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		return 1;
	}
	int ret = reg_dns_proof_query(name, q, sizeof(q), &qlen);
	if (ret == 0)
		ret = net_forward_query(a->ctx.fwd, q, qlen, on_proof, rq);
	if (ret) {
		snprintf(msg, sizeof(msg), "dns-proof: cannot ask the upstream for %s: %s", name,
			 sw_strerror(ret));
		*reply = api_reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
		return 1;
	}
	snprintf(rq->proof_name, sizeof(rq->proof_name), "%s", name);
	api_wait_begin(a, rq);
	*reply = MHD_YES;
	return 1;
}

static enum MHD_Result op_init(api_t *a, struct MHD_Connection *c, registrar_t *r, json_t *j)
{
	reg_policy_t pol;
	registrar_res_t res;
	char err[160];
	if (!api_write_allowed(a, c))
		return api_reply_text(c, MHD_HTTP_FORBIDDEN,
				      "only the node's operator publishes a policy: ask from "
				      "loopback or with the api-token (--token)");
	if (policy_from_json(j, &pol, err, sizeof(err)))
		return api_reply_text(c, MHD_HTTP_BAD_REQUEST, err);
	if ((pol.rules & REG_RULE_DNS_PROOF) && a->ctx.fwd == NULL)
		return api_reply_text(c, MHD_HTTP_BAD_REQUEST,
				      "dns-proof needs an upstream: this node has no upstream DNS "
				      "server to look claimants' TXT records up through; start it "
				      "with one (swarmdns serve --upstream ADDR, option upstream) "
				      "and init again");
	int ret = registrar_init(r, &pol, now_s(), &res);
	if (ret)
		return refused(c, ret, &res);
	json_t *out = policy_json(registrar_key(r), &pol);
	json_object_set_new(out, "log_size", json_integer((json_int_t)res.index));
	return api_reply_json(c, MHD_HTTP_OK, out);
}

static enum MHD_Result op_commit(api_t *a, struct MHD_Connection *c, registrar_t *r, json_t *j)
{
	uint8_t commit[REG_HASH_LEN];
	registrar_res_t res;
	if (get_bytes(j, "commit", commit, sizeof(commit)))
		return bad_field(c, "commit: the commitment, 64 hex characters");
	int ret = registrar_commit(r, commit, now_s(), &res);
	return ret ? refused(c, ret, &res) : done(c, r, NULL, &res);
}

static enum MHD_Result op_register(api_t *a, struct MHD_Connection *c, registrar_t *r, json_t *j,
				   req_t *rq)
{
	registrar_claim_t cl;
	registrar_res_t res;
	enum MHD_Result reply;
	memset(&cl, 0, sizeof(cl));
	if (get_label(j, cl.label))
		return bad_field(c, "label: the label claimed, 1 to 63 characters");
	if (get_bytes(j, "owner", cl.owner, 0))
		return bad_field(c, "owner: the owner's z-base32 key");
	if (get_bytes(j, "sig", cl.owner_sig, REG_SIG_LEN))
		return bad_field(c, "sig: the owner's signature of the claim, 128 hex characters");
	int rs = get_bytes(j, "registry_sig", cl.registry_sig, REG_SIG_LEN);
	if (rs < 0)
		return bad_field(c, "registry_sig as 128 hex characters");
	cl.has_registry_sig = rs == 0;
	int sec = get_bytes(j, "secret", cl.secret, REG_HASH_LEN);
	if (sec < 0 || (sec == 0 && (get_uint(j, "commit_index", UINT64_MAX, &cl.commit_index) ||
				     get_uint(j, "pow", UINT64_MAX, &cl.pow_nonce) < 0)))
		return bad_field(c, "secret (64 hex characters), commit_index and pow together");
	cl.has_open = sec == 0;
	const json_t *dns = json_object_get(j, "dns");
	if (dns && (!json_is_string(dns) || json_string_length(dns) >= sizeof(cl.dns)))
		return bad_field(c, "dns as the domain that shows the claim (dns-proof)");
	if (dns)
		strcpy(cl.dns, json_string_value(dns));
	if (proof_for(a, c, rq, r, cl.label, cl.dns, &cl.txt, &reply))
		return reply;
	int ret = registrar_register(r, &cl, now_s(), &res);
	return ret ? refused(c, ret, &res) : done(c, r, cl.label, &res);
}

static enum MHD_Result op_moderate(api_t *a, struct MHD_Connection *c, registrar_t *r, json_t *j,
				   req_t *rq, bool approve)
{
	char label[REG_LABEL_MAX + 1];
	uint8_t sig[REG_SIG_LEN];
	uint64_t mod;
	registrar_res_t res;
	const reg_dns_txt_t *txt = NULL;
	enum MHD_Result reply;
	if (get_label(j, label) || get_uint(j, "mod", REG_MOD_MAX - 1, &mod) ||
	    get_bytes(j, "sig", sig, sizeof(sig)))
		return bad_field(c, "label, mod (the moderator's place in the policy) and sig");
	if (approve && proof_for(a, c, rq, r, label, NULL, &txt, &reply))
		return reply;
	int ret = registrar_moderate(r, label, approve, (unsigned)mod, sig, txt, now_s(), &res);
	return ret ? refused(c, ret, &res) : done(c, r, label, &res);
}

static enum MHD_Result op_owner(api_t *a, struct MHD_Connection *c, registrar_t *r, json_t *j,
				req_t *rq, const char *op)
{
	char label[REG_LABEL_MAX + 1];
	uint8_t sig[REG_SIG_LEN], to[32];
	registrar_res_t res;
	const reg_dns_txt_t *txt = NULL;
	enum MHD_Result reply;
	int ret;
	if (get_label(j, label) || get_bytes(j, "sig", sig, sizeof(sig)))
		return bad_field(c, "label and sig (the owner's signature, 128 hex characters)");
	bool xfer = strcmp(op, "transfer") == 0;
	if (xfer && get_bytes(j, "to", to, 0))
		return bad_field(c, "to: the new owner's z-base32 key");
	/* A release ends the registration: no evidence to show. */
	if (strcmp(op, "release") != 0 && proof_for(a, c, rq, r, label, NULL, &txt, &reply))
		return reply;
	if (xfer) {
		ret = registrar_transfer(r, label, to, sig, txt, now_s(), &res);
	} else if (strcmp(op, "renew") == 0) {
		ret = registrar_renew(r, label, sig, txt, now_s(), &res);
	} else {
		ret = registrar_release(r, label, sig, now_s(), &res);
	}
	return ret ? refused(c, ret, &res) : done(c, r, label, &res);
}

static enum MHD_Result get_name(struct MHD_Connection *c, registrar_t *r, const char *label)
{
	reg_record_t rec;
	item_t it;
	bool pending;
	int ret = registrar_label(r, label, &rec, &it, &pending);
	/* A released name keeps a label item whose registration ended at the release. */
	bool ended = ret == 0 && !pending && rec.expires && now_s() >= rec.expires;
	if (ret == SW_ENOTFOUND || ended) {
		char msg[160];
		snprintf(msg, sizeof(msg), "'%.63s' is not registered in this registry%s", label,
			 ended ? " (its registration expired or was released)" : "");
		return api_reply_text(c, MHD_HTTP_NOT_FOUND, msg);
	}
	if (ret) {
		registrar_res_t res = {0};
		return refused(c, ret, &res);
	}
	json_t *j = json_pack("{s:o, s:s, s:s, s:o, s:o, s:I}", "registry", z32(registrar_key(r)),
			      "label", label, "state", pending ? "pending" : "registered", "owner",
			      z32(rec.owner), "claimant", z32(reg_record_claimant(&rec)),
			      "registered", (json_int_t)rec.registered);
	if (j == NULL)
		return api_reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	if (pending) {
		json_object_set_new(j, "approvals", json_integer(rec.nmod));
	} else {
		json_object_set_new(j, "index", json_integer((json_int_t)rec.index));
		json_object_set_new(j, "expires", json_integer((json_int_t)rec.expires));
		json_object_set_new(j, "seq", json_integer(it.seq));
		char *v = malloc(2 * (size_t)it.v_len + 1);
		if (v) {
			sw_hex_encode(it.v, it.v_len, v, 2 * (size_t)it.v_len + 1);
			json_object_set_new(j, "v", json_string(v));
			free(v);
		}
		json_object_set_new(j, "sig", hex(it.sig, 64));
	}
	return api_reply_json(c, MHD_HTTP_OK, j);
}

enum MHD_Result api_registrar_list(api_t *a, struct MHD_Connection *c, const char *method)
{
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return api_reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
	json_t *list = json_array();
	for (size_t i = 0; list && i < a->ctx.n_registrars; i++)
		json_array_append_new(list, z32(registrar_key(a->ctx.registrars[i])));
	return api_reply_json(c, MHD_HTTP_OK, json_pack("{s:o}", "registries", list));
}

bool api_registrar_post(const char *url, const char *method)
{
	return strcmp(method, "POST") == 0 && strncmp(url, "/v1/registry/", 13) == 0;
}

enum MHD_Result api_registrar(api_t *a, struct MHD_Connection *c, const uint8_t pk[32],
			      const char *path, const char *method, req_t *rq)
{
	static const char *const posts[] = {"init",   "commit",	  "register", "approve",
					    "reject", "transfer", "renew",    "release"};
	registrar_t *r = find(a, pk);
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	size_t i = 0, np = sizeof(posts) / sizeof(posts[0]);
	while (i < np && strcmp(path, posts[i]) != 0)
		i++;
	if (i == np && strcmp(path, "policy") != 0 && strncmp(path, "name/", 5) != 0)
		return api_reply_text(c, MHD_HTTP_NOT_FOUND,
				      "unknown path; a registry has log/..., policy, name/<label> "
				      "and POST init, commit, register, approve, reject, transfer, "
				      "renew, release (docs/api.md)");
	if (r == NULL)
		return api_reply_text(c, MHD_HTTP_NOT_FOUND,
				      "this node does not run that registry (its registrar is the "
				      "node whose configuration names the key: option registrar)");
	if (i == np) {
		if (!get)
			return api_reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
		if (strncmp(path, "name/", 5) == 0)
			return get_name(c, r, path + 5);
		reg_policy_t pol;
		int ret = registrar_policy(r, &pol);
		if (ret == SW_ENOTFOUND)
			return api_reply_text(c, MHD_HTTP_NOT_FOUND,
					      "this registry has no policy yet: run 'swarmdns "
					      "registry init' against this node");
		if (ret) {
			registrar_res_t res = {0};
			return refused(c, ret, &res);
		}
		return api_reply_json(c, MHD_HTTP_OK, policy_json(pk, &pol));
	}
	if (strcmp(method, "POST") != 0)
		return api_reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST with a JSON body");
	if (rq->state == REQ_ABORTED)
		return api_reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the node is stopping");
	if (rq->too_big)
		return api_reply_text(c, MHD_HTTP_CONTENT_TOO_LARGE,
				      "the request body is too large");
	json_error_t jerr;
	json_t *j = json_loadb((const char *)rq->body, rq->len, 0, &jerr);
	if (j == NULL || !json_is_object(j)) {
		char msg[256];
		snprintf(msg, sizeof(msg), "the body is not a JSON object: %s", jerr.text);
		json_decref(j);
		return api_reply_text(c, MHD_HTTP_BAD_REQUEST, msg);
	}
	enum MHD_Result ret;
	if (i == 0)
		ret = op_init(a, c, r, j);
	else if (i == 1)
		ret = op_commit(a, c, r, j);
	else if (i == 2)
		ret = op_register(a, c, r, j, rq);
	else if (i <= 4)
		ret = op_moderate(a, c, r, j, rq, i == 3);
	else
		ret = op_owner(a, c, r, j, rq, posts[i]);
	json_decref(j);
	return ret;
}
