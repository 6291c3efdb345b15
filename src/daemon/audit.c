/*
 * The auditor of registries: DHT gets of tree heads, consistency proofs over HTTP, the
 * verdicts of registry/audit.h (see daemon/audit.h).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/log.h"
#include "crypto/crypto.h"
#include "daemon/audit.h"
#include "net/http.h"
#include "registry/audit.h"
#include "registry/label.h"
#include "registry/policy.h"
#include "registry/sth.h"
#include "store/mlog.h"

/* A consistency proof is at most 65 hashes of 64 hex digits: a few KiB of JSON. */
#define PROOF_BODY_MAX 16384
#define PROOF_TIMEOUT_MS 10000

typedef struct audited {
	struct daemon_audit *a;
	uint8_t registry[32];
	char z32[SW_Z32_KEY_LEN + 1];
	char url[CONF_URL_LEN]; /* the option's, or "" */
	char policy_url[REG_API_MAX + 1];
	bool busy;	   /* a check is under way */
	bool has_last;	   /* the last verified head */
	item_t last, next; /* next: the head being checked */
	reg_sth_t last_sth, next_sth;
	uint64_t checked, failures, failed;
	char last_error[240];
	net_http_req_t *req;
	/* audit-mirror: the copy of the log in LMDB (NULL: not mirrored) and the entries of
	 * the step under way, [base, base + nent) */
	bool mirror;
	store_mlog_t *mlog;
	uint64_t base, target;
	uint8_t (*ent)[STORE_MLOG_ENTRY_MAX];
	size_t *ent_len, nent;
	uint8_t target_root[REG_MLOG_HASH_LEN];
	/* The label items this node resolved, checked against the log (see "label items"):
	 * rounds counts the tree heads found, the kept counts, the items dropped (dropped_q
	 * under a->mu: the offer queue was full) and whether the policy is being asked for a
	 * source. */
	uint64_t rounds;
	store_mlog_audit_counts_t items;
	uint64_t dropped, dropped_q;
	bool asking_policy;
	/* What follows the policy's DHT get of a round (ask_policy()). */
	void (*policy_then)(struct audited *r);
	const char *policy_what;
} audited_t;

/* A label item the resolver verified, offered to the auditor and waiting to be checked. */
typedef struct {
	size_t reg; /* in regs */
	uint8_t label_len;
	char label[REG_LABEL_MAX + 1];
	item_t item;
	uint8_t id[32]; /* SHA-256(label || v): the verdict's key in LMDB */
	uint64_t index; /* the log index its record claims */
	uint64_t since; /* the registry's rounds when it came */
	uint64_t retry; /* not tried again before this round (a source that did not answer) */
} pending_t;

struct daemon_audit {
	uv_timer_t timer;
	net_dht_t *dht;
	store_t *store;
	net_http_t *http;
	uint64_t interval_ms;
	audited_t regs[CONF_AUDIT_MAX];
	size_t n;
	/* Label items offered by the resolvers (any thread, under mu; async wakes the loop), then
	 * waiting on the loop thread; cur: the one being checked (SIZE_MAX: none). */
	uv_mutex_t mu;
	uv_async_t async;
	pending_t *q;
	size_t qhead, qlen;
	pending_t *wait;
	size_t nwait, cur;
	net_http_req_t *ireq;
	reg_sth_t cur_head;
	uint8_t ient[STORE_MLOG_ENTRY_MAX];
	size_t ient_len;
	int closing; /* handles still to close */
};

/* A base URL without its final slashes: paths are appended to it. */
static void trim_slash(char *url)
{
	size_t n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		url[--n] = '\0';
}

static const char *source(const audited_t *r)
{
	return r->url[0] ? r->url : r->policy_url;
}

static void pump(daemon_audit_t *a);

static void done(audited_t *r)
{
	r->busy = false;
	r->req = NULL;
	pump(r->a); /* label items may wait for this round's head */
}

static void mirror_step(audited_t *r);

/* The new head extends the last: it becomes the last, durably. */
static void take(audited_t *r)
{
	int ret = store_mlog_audit_put(r->a->store, r->registry, &r->next);
	if (ret)
		sw_warn("audit %s: cannot keep the verified tree head: %s", r->z32,
			sw_strerror(ret));
	if (!r->has_last || r->next_sth.size != r->last_sth.size)
		sw_info("audit %s: tree head of %" PRIu64 " entries (seq %" PRId64 ") verified",
			r->z32, r->next_sth.size, r->next.seq);
	r->last = r->next;
	r->last_sth = r->next_sth;
	r->has_last = true;
	if (r->mlog)
		mirror_step(r);
	else
		done(r);
}

/* An inconsistency: evidence that the registry signed two views. The last verified head
 * stays; the new one is not taken. */
__attribute__((format(printf, 2, 3))) static void fail(audited_t *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->last_error, sizeof(r->last_error), fmt, ap);
	va_end(ap);
	r->failures++;
	r->failed = (uint64_t)time(NULL);
	sw_err("audit %s: INCONSISTENT: %s (last verified tree head: %" PRIu64
	       " entries, seq %" PRId64 "; new: %" PRIu64 " entries, seq %" PRId64 ")",
	       r->z32, r->last_error, r->last_sth.size, r->last.seq, r->next_sth.size, r->next.seq);
	done(r);
}

static void judge(audited_t *r, const uint8_t *proof, size_t count)
{
	reg_audit_t v = reg_audit_heads(&r->last_sth, &r->next_sth, proof, count);
	if (v == REG_AUDIT_OK)
		take(r);
	else
		fail(r, "%s", reg_audit_str(v));
}

/* The "proof" of a /log/proof/... answer (docs/api.md "Registry logs"): 1 when there is none
 * (no answer, not JSON: the source may be down or behind), -1 when it is malformed (not hex
 * hashes, too long), 0 with *count hashes in proof. */
static int proof_parse(const net_http_resp_t *resp,
		       uint8_t proof[REG_MLOG_PROOF_MAX * REG_MLOG_HASH_LEN], size_t *count)
{
	json_t *j = net_http_json(resp);
	json_t *list = json_object_get(j, "proof");
	if (j == NULL || !json_is_array(list)) {
		json_decref(j);
		return 1;
	}
	bool ok = json_array_size(list) <= REG_MLOG_PROOF_MAX;
	for (*count = 0; ok && *count < json_array_size(list); (*count)++) {
		const char *h = json_string_value(json_array_get(list, *count));
		ok = h && strlen(h) == 2 * REG_MLOG_HASH_LEN &&
		     sw_hex_decode(h, strlen(h), proof + *count * REG_MLOG_HASH_LEN,
				   REG_MLOG_HASH_LEN) == 0;
	}
	json_decref(j);
	return ok ? 0 : -1;
}

static void on_proof(void *ctx, net_http_req_t *req, const net_http_resp_t *resp)
{
	audited_t *r = ctx;
	uint8_t proof[REG_MLOG_PROOF_MAX * REG_MLOG_HASH_LEN];
	size_t count = 0;
	(void)req;
	r->req = NULL;
	int got = proof_parse(resp, proof, &count);
	if (got > 0) {
		/* Not a verdict: the source may be down or behind; the next round asks again. */
		sw_warn("audit %s: no consistency proof from %s (%s%d): checked again in %" PRIu64
			" s",
			r->z32, source(r), resp->err ? resp->error : "HTTP ", resp->status,
			r->a->interval_ms / 1000);
		done(r);
		return;
	}
	if (got < 0) {
		fail(r, "%s", reg_audit_str(REG_AUDIT_PROOF));
		return;
	}
	judge(r, proof, count);
}

static void fetch_proof(audited_t *r)
{
	char url[CONF_URL_LEN + 256];
	const char *base = source(r);
	snprintf(url, sizeof(url),
		 "%s/v1/registry/%s/log/proof/consistency?first=%" PRIu64 "&second=%" PRIu64, base,
		 r->z32, r->last_sth.size, r->next_sth.size);
	net_http_req_opts_t o = {
	    .url = url, .timeout_ms = PROOF_TIMEOUT_MS, .max_body = PROOF_BODY_MAX};
	if (net_http_request(r->a->http, &o, on_proof, r, &r->req) != 0) {
		sw_warn("audit %s: cannot ask %s for a consistency proof", r->z32, base);
		done(r);
	}
}

/* ---- audit-mirror: copying the verified log ---- */

/* Entries copied per step: their hashes are computed in memory and checked against the signed
 * head before one of them is written. */
#define MIRROR_STEP 512
#define MIRROR_BODY_MAX (1 << 20) /* a page of 256 entries in hex JSON is ~130 KiB */

/* The Merkle log of the mirror with the step's new nodes in memory over the stored ones, so
 * that the root of the longer log is known before anything is committed. */
typedef struct {
	const reg_mlog_store_t *under;
	struct {
		unsigned level;
		uint64_t index;
		uint8_t hash[REG_MLOG_HASH_LEN];
	} * nodes;
	size_t n, cap;
} overlay_t;

static int overlay_get(void *ctx, unsigned level, uint64_t index, uint8_t hash[REG_MLOG_HASH_LEN])
{
	overlay_t *o = ctx;
	for (size_t i = o->n; i-- > 0;)
		if (o->nodes[i].level == level && o->nodes[i].index == index) {
			memcpy(hash, o->nodes[i].hash, REG_MLOG_HASH_LEN);
			return 0;
		}
	return o->under->get(o->under->ctx, level, index, hash);
}

static int overlay_put(void *ctx, unsigned level, uint64_t index,
		       const uint8_t hash[REG_MLOG_HASH_LEN])
{
	overlay_t *o = ctx;
	if (o->n == o->cap)
		return SW_ELIMIT;
	o->nodes[o->n].level = level;
	o->nodes[o->n].index = index;
	memcpy(o->nodes[o->n].hash, hash, REG_MLOG_HASH_LEN);
	o->n++;
	return 0;
}

/* The root of the mirror's log with the step's entries appended, computed in memory. */
static int step_root(audited_t *r, uint8_t root[REG_MLOG_HASH_LEN])
{
	const reg_mlog_t *log = store_mlog_log(r->mlog);
	overlay_t o = {.under = &log->store, .cap = 2 * MIRROR_STEP + REG_MLOG_LEVELS};
	reg_mlog_t tmp;
	int ret = 0;
	o.nodes = calloc(o.cap, sizeof(*o.nodes));
	if (o.nodes == NULL)
		return SW_ENOMEM;
	reg_mlog_store_t st = {.get = overlay_get, .put = overlay_put, .ctx = &o};
	reg_mlog_init(&tmp, &st, log->size);
	for (size_t i = 0; i < r->nent && ret == 0; i++)
		ret = reg_mlog_append(&tmp, r->ent[i], r->ent_len[i], NULL);
	if (ret == 0)
		ret = reg_mlog_root(&tmp, tmp.size, root);
	free(o.nodes);
	return ret;
}

/* The step's entries are the signed log's: write them (and the head once complete). */
static void step_commit(audited_t *r)
{
	int ret = 0;
	for (size_t i = 0; i < r->nent && ret == 0; i += STORE_MLOG_BATCH_MAX) {
		const uint8_t *ents[STORE_MLOG_BATCH_MAX];
		size_t n = r->nent - i < STORE_MLOG_BATCH_MAX ? r->nent - i : STORE_MLOG_BATCH_MAX;
		for (size_t k = 0; k < n; k++)
			ents[k] = r->ent[i + k];
		ret = store_mlog_append(r->mlog, ents, r->ent_len + i, n, NULL);
	}
	if (ret == 0 && store_mlog_size(r->mlog) == r->last_sth.size)
		ret = store_mlog_head_put(r->mlog, r->last_sth.size, &r->last);
	if (ret) {
		sw_warn("audit %s: cannot write the mirrored log: %s", r->z32, sw_strerror(ret));
		done(r);
		return;
	}
	sw_debug("audit %s: mirrored %" PRIu64 " of %" PRIu64 " entries", r->z32,
		 store_mlog_size(r->mlog), r->last_sth.size);
	mirror_step(r);
}

static void on_step_proof(void *ctx, net_http_req_t *req, const net_http_resp_t *resp)
{
	audited_t *r = ctx;
	uint8_t proof[REG_MLOG_PROOF_MAX * REG_MLOG_HASH_LEN];
	size_t count = 0;
	(void)req;
	r->req = NULL;
	if (proof_parse(resp, proof, &count) != 0) {
		sw_warn("audit %s: no consistency proof from %s for the mirror; again next round",
			r->z32, source(r));
		done(r);
		return;
	}
	if (reg_mlog_consistency_verify(r->target, r->last_sth.size, r->target_root,
					r->last_sth.root, proof, count) != 0) {
		r->next = r->last; /* for the message: the head is the verified one */
		r->next_sth = r->last_sth;
		fail(r, "the entries %s serves are not the log the registry signed", source(r));
		return;
	}
	step_commit(r);
}

static void step_check(audited_t *r)
{
	int ret = step_root(r, r->target_root);
	if (ret) {
		sw_warn("audit %s: cannot hash the mirrored entries: %s", r->z32, sw_strerror(ret));
		done(r);
		return;
	}
	if (r->target == r->last_sth.size) {
		if (memcmp(r->target_root, r->last_sth.root, REG_MLOG_HASH_LEN) != 0) {
			r->next = r->last;
			r->next_sth = r->last_sth;
			fail(r, "the entries %s serves are not the log the registry signed",
			     source(r));
			return;
		}
		step_commit(r);
		return;
	}
	/* Part of the way: the part must be a prefix of the signed log (RFC 9162 §2.1.4). */
	char url[CONF_URL_LEN + 256];
	snprintf(url, sizeof(url),
		 "%s/v1/registry/%s/log/proof/consistency?first=%" PRIu64 "&second=%" PRIu64,
		 source(r), r->z32, r->target, r->last_sth.size);
	net_http_req_opts_t o = {
	    .url = url, .timeout_ms = PROOF_TIMEOUT_MS, .max_body = PROOF_BODY_MAX};
	if (net_http_request(r->a->http, &o, on_step_proof, r, &r->req) != 0)
		done(r);
}

static void fetch_entries(audited_t *r);

static void on_entries(void *ctx, net_http_req_t *req, const net_http_resp_t *resp)
{
	audited_t *r = ctx;
	(void)req;
	r->req = NULL;
	json_t *j = net_http_json(resp);
	json_t *list = json_object_get(j, "entries"), *e;
	size_t i, got = 0;
	json_array_foreach(list, i, e)
	{
		const char *hx = json_string_value(json_object_get(e, "entry"));
		size_t hl = hx ? strlen(hx) : 0;
		if (r->base + r->nent >= r->target ||
		    (uint64_t)json_integer_value(json_object_get(e, "index")) !=
			r->base + r->nent ||
		    hl == 0 || hl % 2 || hl / 2 > STORE_MLOG_ENTRY_MAX ||
		    sw_hex_decode(hx, hl, r->ent[r->nent], hl / 2))
			break;
		r->ent_len[r->nent++] = hl / 2;
		got++;
	}
	json_decref(j);
	if (got == 0) {
		sw_warn("audit %s: no log entries from %s for the mirror; again next round", r->z32,
			source(r));
		done(r);
		return;
	}
	if (r->base + r->nent < r->target)
		fetch_entries(r);
	else
		step_check(r);
}

static void fetch_entries(audited_t *r)
{
	char url[CONF_URL_LEN + 256];
	snprintf(url, sizeof(url), "%s/v1/registry/%s/log/entries?start=%" PRIu64 "&end=%" PRIu64,
		 source(r), r->z32, r->base + r->nent, r->target - 1);
	net_http_req_opts_t o = {
	    .url = url, .timeout_ms = PROOF_TIMEOUT_MS, .max_body = MIRROR_BODY_MAX};
	if (net_http_request(r->a->http, &o, on_entries, r, &r->req) != 0)
		done(r);
}

static void ask_policy(audited_t *r, void (*then)(audited_t *), const char *what);

/* Copies the next MIRROR_STEP entries up to the verified head, or ends the round. */
static void mirror_step(audited_t *r)
{
	uint64_t have = store_mlog_size(r->mlog);
	if (have >= r->last_sth.size) {
		done(r);
		return;
	}
	if (source(r)[0] == '\0') {
		/* `audit <R>` without a URL: the policy names the source. Asked here too, not only
		 * when a head grows, or a mirror started on a registry that signs nothing new
		 * would never copy anything. */
		ask_policy(r, mirror_step, "for the entries to mirror");
		return;
	}
	if (r->ent == NULL) {
		r->ent = malloc(MIRROR_STEP * sizeof(*r->ent));
		r->ent_len = malloc(MIRROR_STEP * sizeof(*r->ent_len));
		if (r->ent == NULL || r->ent_len == NULL) {
			done(r);
			return;
		}
	}
	r->base = have;
	r->nent = 0;
	r->target = r->last_sth.size - have > MIRROR_STEP ? have + MIRROR_STEP : r->last_sth.size;
	fetch_entries(r);
}

/* The registrar URL of R's policy item found, if it names one. */
static void policy_take(audited_t *r, const dht_get_result_t *res)
{
	const uint8_t *pkt;
	size_t len;
	reg_policy_t pol;
	if (res->item && item_str(res->item, &pkt, &len) == 0 &&
	    reg_policy_parse(r->registry, pkt, len, &pol) == 0 && pol.api[0]) {
		snprintf(r->policy_url, sizeof(r->policy_url), "%s", pol.api);
		trim_slash(r->policy_url);
	}
}

static void on_policy(void *ctx, const dht_get_result_t *res)
{
	audited_t *r = ctx;
	policy_take(r, res);
	if (!res->done)
		return;
	if (r->policy_url[0] == '\0') {
		sw_warn("audit %s: no node serving the log to ask %s: give one as 'audit %s=URL' "
			"(the registry's policy names none)",
			r->z32, r->policy_what, r->z32);
		done(r);
		return;
	}
	r->policy_then(r);
}

/* R's policy item from the DHT for the registrar URL it names (`api=`), then `then`; the
 * round ends when it names none (what: what the source is asked, for the warning). */
static void ask_policy(audited_t *r, void (*then)(audited_t *), const char *what)
{
	uint8_t target[DHT_ID_LEN];
	r->policy_then = then;
	r->policy_what = what;
	item_key_target(r->registry, (const uint8_t *)"_policy", 7, target);
	if (dht_get(net_dht_node(r->a->dht), target, (const uint8_t *)"_policy", 7, true, on_policy,
		    r) != 0)
		done(r); /* lookups busy: the next round */
}

/* The head found in the DHT against the last: the cheap verdicts at once, else a proof. */
static void check_next(audited_t *r)
{
	const uint8_t *pkt;
	size_t len;
	if (item_str(&r->next, &pkt, &len) || reg_sth_parse(r->registry, pkt, len, &r->next_sth)) {
		fail(r, "the registry signed a tree head that does not parse");
		return;
	}
	r->checked = (uint64_t)time(NULL);
	r->rounds++;
	if (!r->has_last) {
		take(r); /* the first head seen is trusted, as a log's first view always is */
		return;
	}
	if (r->next.seq == r->last.seq && r->next.v_len == r->last.v_len &&
	    memcmp(r->next.v, r->last.v, r->next.v_len) == 0) {
		if (r->mlog)
			mirror_step(r); /* a copy left behind last round */
		else
			done(r);
		return;
	}
	/* An older head than the last: BEP 44 keeps the highest seq; a node answered late. */
	if (r->next.seq < r->last.seq && r->next_sth.size <= r->last_sth.size) {
		done(r);
		return;
	}
	if (r->next_sth.size <= r->last_sth.size || r->last_sth.size == 0) {
		judge(r, NULL, 0);
		return;
	}
	if (source(r)[0])
		fetch_proof(r);
	else
		ask_policy(r, fetch_proof, "for a consistency proof");
}

static void on_head(void *ctx, const dht_get_result_t *res)
{
	audited_t *r = ctx;
	/* The DHT reports only items whose signature verified; keep the highest seq. */
	if (res->item && (r->next.v_len == 0 || res->item->seq > r->next.seq))
		r->next = *res->item;
	if (!res->done)
		return;
	if (r->next.v_len == 0) {
		sw_debug("audit %s: no tree head found in the DHT this round", r->z32);
		done(r);
		return;
	}
	check_next(r);
}

/* ---- label items: what this node resolved, against the log ---- */

/* Offered label items not yet taken by the loop, and items waiting there (a tree head that
 * covers them, a source that answers); more are dropped, counted. */
#define ITEM_QUEUE_MAX 64
#define ITEM_WAIT_MAX 256
/* Rounds with a tree head found that an item whose index is beyond the verified head may wait:
 * the registrar signs the head of an append in its transaction (docs/registries.md), so a
 * label item whose entry no head covers after these is not in the log. */
#define ITEM_ROUNDS_MAX 3
#define ITEM_BODY_MAX 16384 /* one entry in hex JSON, or an inclusion proof of 64 hashes */

static void item_next(daemon_audit_t *a);

/* The verdict on the item being checked, kept with the counts in LMDB. */
__attribute__((format(printf, 3, 4))) static void item_verdict(daemon_audit_t *a, reg_audit_t v,
							       const char *fmt, ...)
{
	pending_t *p = &a->wait[a->cur];
	audited_t *r = &a->regs[p->reg];
	uint64_t now = (uint64_t)time(NULL);
	char msg[sizeof(r->items.last_error)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->items.checked++;
	if (v != REG_AUDIT_OK) {
		memcpy(r->items.last_error, msg, sizeof(msg));
		r->items.inconsistent++;
		r->items.failed = now;
		sw_err("audit %s: INCONSISTENT: %s", r->z32, msg);
	} else {
		sw_info("audit %s: %s", r->z32, msg);
	}
	/* The item itself is the evidence: signed by R, and not what R's log says. */
	item_t *it = v != REG_AUDIT_OK ? &p->item : NULL;
	int ret =
	    store_mlog_audit_item_put(a->store, r->registry, p->id, (uint8_t)v, now, it, &r->items);
	if (ret)
		sw_warn("audit %s: cannot keep the verdict on the label item of %s: %s", r->z32,
			p->label, sw_strerror(ret));
	a->wait[a->cur] = a->wait[--a->nwait];
	a->cur = SIZE_MAX;
}

/* The item being checked gets no answer from the source this round: tried again next round. */
static void item_later(daemon_audit_t *a, const char *what, const net_http_resp_t *resp)
{
	pending_t *p = &a->wait[a->cur];
	audited_t *r = &a->regs[p->reg];
	sw_warn("audit %s: no %s for the label item of %s (log index %" PRIu64 ") from %s (%s%d): "
		"checked again next round",
		r->z32, what, p->label, p->index, source(r), resp->err ? resp->error : "HTTP ",
		resp->status);
	p->retry = r->rounds + 1;
	a->cur = SIZE_MAX;
}

/* The entry the source served, with its inclusion proof, against the head and the item. */
static void item_judge(daemon_audit_t *a, const uint8_t *proof, size_t count, const char *from)
{
	pending_t *p = &a->wait[a->cur];
	const uint8_t *pkt;
	size_t plen;
	reg_record_t rec;
	reg_entry_t e;
	if (item_str(&p->item, &pkt, &plen) ||
	    reg_label_parse(a->regs[p->reg].registry, p->label, p->label_len, pkt, plen, &rec,
			    NULL)) {
		a->wait[a->cur] = a->wait[--a->nwait]; /* parsed when it came: not reached */
		a->cur = SIZE_MAX;
		return;
	}
	reg_audit_t v = reg_audit_label(&a->cur_head, a->regs[p->reg].registry, p->label,
					p->label_len, &rec, a->ient, a->ient_len, proof, count, &e);
	if (v == REG_AUDIT_OK)
		item_verdict(a, v,
			     "the label item of %s (log index %" PRIu64
			     ") is in the log: its %s, in the tree head of %" PRIu64
			     " entries (from %s)",
			     p->label, p->index, reg_op_str(e.op), a->cur_head.size, from);
	else if (v == REG_AUDIT_ENTRY_DIFFERS)
		item_verdict(a, v,
			     "the label item of %s (log index %" PRIu64 ", seq %" PRId64
			     ") is signed by the registry, but its log's entry %" PRIu64
			     " is a %s of %s: %s",
			     p->label, p->index, p->item.seq, p->index, reg_op_str(e.op),
			     e.op == REG_OP_COMMIT ? "a commitment" : e.label, reg_audit_str(v));
	else
		item_verdict(a, v,
			     "the label item of %s (log index %" PRIu64 ", seq %" PRId64
			     ") against the tree head of %" PRIu64 " entries from %s: %s",
			     p->label, p->index, p->item.seq, a->cur_head.size, from,
			     reg_audit_str(v));
}

static void on_item_proof(void *ctx, net_http_req_t *req, const net_http_resp_t *resp)
{
	daemon_audit_t *a = ctx;
	uint8_t proof[REG_MLOG_PROOF_MAX * REG_MLOG_HASH_LEN];
	size_t count = 0;
	(void)req;
	a->ireq = NULL;
	int got = proof_parse(resp, proof, &count);
	if (got > 0)
		item_later(a, "inclusion proof", resp);
	else /* a malformed proof proves nothing: reg_audit_label() finds it does not verify */
		item_judge(a, proof, got < 0 ? 0 : count, source(&a->regs[a->wait[a->cur].reg]));
	item_next(a);
}

static void on_item_entry(void *ctx, net_http_req_t *req, const net_http_resp_t *resp)
{
	daemon_audit_t *a = ctx;
	pending_t *p = &a->wait[a->cur];
	audited_t *r = &a->regs[p->reg];
	(void)req;
	a->ireq = NULL;
	json_t *j = net_http_json(resp);
	json_t *e = json_array_get(json_object_get(j, "entries"), 0);
	const char *hx = json_string_value(json_object_get(e, "entry"));
	size_t hl = hx ? strlen(hx) : 0;
	bool ok = (uint64_t)json_integer_value(json_object_get(e, "index")) == p->index && hl > 0 &&
		  hl % 2 == 0 && hl / 2 <= sizeof(a->ient) &&
		  sw_hex_decode(hx, hl, a->ient, hl / 2) == 0;
	json_decref(j);
	if (!ok) {
		item_later(a, "log entry", resp);
		item_next(a);
		return;
	}
	a->ient_len = hl / 2;
	char url[CONF_URL_LEN + 256];
	snprintf(url, sizeof(url),
		 "%s/v1/registry/%s/log/proof/inclusion?index=%" PRIu64 "&size=%" PRIu64, source(r),
		 r->z32, p->index, a->cur_head.size);
	net_http_req_opts_t o = {
	    .url = url, .timeout_ms = PROOF_TIMEOUT_MS, .max_body = ITEM_BODY_MAX};
	if (net_http_request(a->http, &o, on_item_proof, a, &a->ireq) != 0)
		item_later(a, "inclusion proof",
			   &(net_http_resp_t){.err = SW_ENOMEM, .error = "cannot ask"});
	item_next(a);
}

/* Checks wait[i] against the last verified head: from the mirror when it holds the log up to
 * that head (verified as it was copied), else from the source over HTTP. */
static void item_start(daemon_audit_t *a, size_t i)
{
	pending_t *p = &a->wait[i];
	audited_t *r = &a->regs[p->reg];
	a->cur = i;
	a->cur_head = r->last_sth;
	if (p->index >= r->last_sth.size) {
		item_verdict(a, REG_AUDIT_BEYOND,
			     "the label item of %s (log index %" PRIu64 ", seq %" PRId64
			     ") is signed by the registry, but no tree head verified in %d "
			     "checks since covers that index (the last has %" PRIu64
			     " entries): the label item is not in the log",
			     p->label, p->index, p->item.seq, ITEM_ROUNDS_MAX, r->last_sth.size);
		return;
	}
	if (r->mlog && store_mlog_size(r->mlog) >= r->last_sth.size) {
		uint8_t proof[REG_MLOG_PROOF_MAX * REG_MLOG_HASH_LEN];
		size_t count = 0;
		int ret =
		    store_mlog_entry(r->mlog, p->index, a->ient, sizeof(a->ient), &a->ient_len);
		if (ret == 0)
			ret = reg_mlog_inclusion_proof(store_mlog_log(r->mlog), p->index,
						       r->last_sth.size, proof, REG_MLOG_PROOF_MAX,
						       &count);
		if (ret == 0) {
			item_judge(a, proof, count, "this node's mirror");
			return;
		}
		sw_warn("audit %s: cannot read entry %" PRIu64 " of the mirrored log: %s", r->z32,
			p->index, sw_strerror(ret));
	}
	char url[CONF_URL_LEN + 256];
	snprintf(url, sizeof(url), "%s/v1/registry/%s/log/entries?start=%" PRIu64 "&end=%" PRIu64,
		 source(r), r->z32, p->index, p->index);
	net_http_req_opts_t o = {
	    .url = url, .timeout_ms = PROOF_TIMEOUT_MS, .max_body = ITEM_BODY_MAX};
	if (net_http_request(a->http, &o, on_item_entry, a, &a->ireq) != 0)
		item_later(a, "log entry",
			   &(net_http_resp_t){.err = SW_ENOMEM, .error = "cannot ask"});
}

static void on_item_policy(void *ctx, const dht_get_result_t *res)
{
	audited_t *r = ctx;
	policy_take(r, res);
	if (!res->done)
		return;
	r->asking_policy = false;
	pump(r->a);
}

/* Whether wait[i] can be checked now: a verified head covers its index (or has not in
 * ITEM_ROUNDS_MAX rounds), and the log can be read (the mirror, or a source; without one,
 * R's policy is asked for its registrar's URL). */
static bool item_ready(daemon_audit_t *a, size_t i)
{
	pending_t *p = &a->wait[i];
	audited_t *r = &a->regs[p->reg];
	if (!r->has_last || r->rounds < p->retry)
		return false;
	if (p->index >= r->last_sth.size)
		return r->rounds - p->since >= ITEM_ROUNDS_MAX;
	if ((r->mlog && store_mlog_size(r->mlog) >= r->last_sth.size) || source(r)[0])
		return true;
	uint8_t target[DHT_ID_LEN];
	if (!r->asking_policy) {
		item_key_target(r->registry, (const uint8_t *)"_policy", 7, target);
		r->asking_policy = dht_get(net_dht_node(a->dht), target, (const uint8_t *)"_policy",
					   7, true, on_item_policy, r) == 0;
	}
	return false;
}

/* Takes an offered item into the wait list, unless it was checked before (its verdict is in
 * LMDB) or is waiting already. */
static void item_take(daemon_audit_t *a, pending_t *p)
{
	audited_t *r = &a->regs[p->reg];
	const uint8_t *pkt;
	size_t plen;
	reg_record_t rec;
	uint8_t verdict;
	sw_sha256((const uint8_t *)p->label, p->label_len, p->item.v, p->item.v_len, p->id);
	for (size_t i = 0; i < a->nwait; i++)
		if (memcmp(a->wait[i].id, p->id, 32) == 0)
			return;
	if (store_mlog_audit_item_find(a->store, r->registry, p->id, &verdict) == 0)
		return;
	if (item_str(&p->item, &pkt, &plen) ||
	    reg_label_parse(r->registry, p->label, p->label_len, pkt, plen, &rec, NULL))
		return; /* the resolver verified it: not reached */
	if (a->nwait == ITEM_WAIT_MAX) {
		r->dropped++;
		return;
	}
	/* The salt is the label (BEP 44): the item as evidence verifies by itself. */
	memcpy(p->item.salt, p->label, p->label_len);
	p->item.salt_len = p->label_len;
	item_key_target(p->item.k, p->item.salt, p->item.salt_len, p->item.target);
	p->index = rec.index;
	p->since = r->rounds;
	p->retry = 0;
	a->wait[a->nwait++] = *p;
}

/* The next item that can be checked, if none is under way. */
static void item_next(daemon_audit_t *a)
{
	while (a->cur == SIZE_MAX && a->closing == 0) {
		size_t i = 0;
		while (i < a->nwait && !item_ready(a, i))
			i++;
		if (i == a->nwait)
			return;
		item_start(a, i);
	}
}

/* Offered items into the wait list, then the next check. Loop thread. */
static void pump(daemon_audit_t *a)
{
	static pending_t p; /* loop thread only; an item is large for the stack */
	for (;;) {
		uv_mutex_lock(&a->mu);
		bool got = a->qlen > 0;
		if (got) {
			p = a->q[a->qhead];
			a->qhead = (a->qhead + 1) % ITEM_QUEUE_MAX;
			a->qlen--;
		}
		uv_mutex_unlock(&a->mu);
		if (!got)
			break;
		item_take(a, &p);
	}
	item_next(a);
}

static void on_offered(uv_async_t *h)
{
	pump(h->data);
}

void daemon_audit_offer(daemon_audit_t *a, const uint8_t registry[32], const char *label,
			size_t len, const item_t *item)
{
	size_t i = 0;
	if (a == NULL || len == 0 || len > REG_LABEL_MAX)
		return;
	while (i < a->n && memcmp(a->regs[i].registry, registry, 32) != 0)
		i++;
	if (i == a->n)
		return; /* not audited */
	uv_mutex_lock(&a->mu);
	if (a->qlen == ITEM_QUEUE_MAX) {
		a->regs[i].dropped_q++;
		uv_mutex_unlock(&a->mu);
		return;
	}
	pending_t *p = &a->q[(a->qhead + a->qlen++) % ITEM_QUEUE_MAX];
	p->reg = i;
	p->label_len = (uint8_t)len;
	memcpy(p->label, label, len);
	p->label[len] = '\0';
	p->item = *item;
	uv_mutex_unlock(&a->mu);
	uv_async_send(&a->async);
}

static void on_tick(uv_timer_t *t)
{
	daemon_audit_t *a = t->data;
	for (size_t i = 0; i < a->n; i++) {
		audited_t *r = &a->regs[i];
		uint8_t target[DHT_ID_LEN];
		if (r->busy)
			continue;
		r->busy = true;
		r->next.v_len = 0;
		item_key_target(r->registry, (const uint8_t *)"_log", 4, target);
		if (dht_get(net_dht_node(a->dht), target, (const uint8_t *)"_log", 4, true, on_head,
			    r) != 0)
			r->busy = false; /* lookups busy: the next round */
	}
	net_dht_kick_soon(a->dht);
}

int daemon_audit_start(uv_loop_t *loop, net_dht_t *dht, store_t *store, const conf_t *c,
		       const uint8_t (*own)[32], size_t nown, daemon_audit_t **out)
{
	*out = NULL;
	if (c->n_audit == 0)
		return 0;
	daemon_audit_t *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return SW_ENOMEM;
	int ret = net_http_new(loop, &(net_http_opts_t){0}, &a->http);
	if (ret) {
		free(a);
		return ret;
	}
	a->dht = dht;
	a->store = store;
	a->interval_ms = (uint64_t)c->audit_interval * 1000;
	a->cur = SIZE_MAX;
	a->q = calloc(ITEM_QUEUE_MAX, sizeof(*a->q));
	a->wait = calloc(ITEM_WAIT_MAX, sizeof(*a->wait));
	if (a->q == NULL || a->wait == NULL) {
		net_http_free(a->http);
		free(a->q);
		free(a->wait);
		free(a);
		return SW_ENOMEM;
	}
	for (unsigned i = 0; i < c->n_audit; i++) {
		audited_t *r = &a->regs[a->n];
		const char *eq = strchr(c->audit[i], '=');
		size_t klen = eq ? (size_t)(eq - c->audit[i]) : strlen(c->audit[i]);
		if (sw_z32_decode_key(c->audit[i], klen, r->registry)) {
			net_http_free(a->http);
			free(a->q);
			free(a->wait);
			free(a);
			return SW_EINVAL;
		}
		r->a = a;
		sw_z32_encode_key(r->registry, r->z32);
		if (eq) {
			snprintf(r->url, sizeof(r->url), "%s", eq + 1);
			trim_slash(r->url);
		}
		r->has_last = store_mlog_audit_get(store, r->registry, &r->last) == 0;
		if ((ret = store_mlog_audit_counts_get(store, r->registry, &r->items)) != 0)
			sw_warn("audit %s: cannot read its counts of label items: %s", r->z32,
				sw_strerror(ret));
		const uint8_t *pkt;
		size_t len;
		if (r->has_last && (item_str(&r->last, &pkt, &len) ||
				    reg_sth_parse(r->registry, pkt, len, &r->last_sth)))
			r->has_last = false;
		/* A registry this node runs has its log here already: it is not mirrored onto
		 * itself. */
		bool runs = false;
		for (size_t k = 0; k < nown; k++)
			runs = runs || memcmp(own[k], r->registry, 32) == 0;
		if (c->audit_mirror && !runs &&
		    (ret = store_mlog_open(store, r->registry, true, &r->mlog)) != 0)
			sw_warn("audit %s: cannot open the mirror of its log: %s", r->z32,
				sw_strerror(ret));
		a->n++;
	}
	uv_timer_init(loop, &a->timer);
	a->timer.data = a;
	uv_mutex_init(&a->mu);
	uv_async_init(loop, &a->async, on_offered);
	a->async.data = a;
	/* The first round once the DHT has had a moment to join. */
	uint64_t first = a->interval_ms < 2000 ? a->interval_ms : 2000;
	uv_timer_start(&a->timer, on_tick, first, a->interval_ms);
	sw_info("auditing %zu registr%s every %u s", a->n, a->n == 1 ? "y" : "ies",
		c->audit_interval);
	*out = a;
	return 0;
}

static void on_closed(uv_handle_t *h)
{
	daemon_audit_t *a = h->data;
	if (--a->closing > 0)
		return;
	uv_mutex_destroy(&a->mu);
	free(a->q);
	free(a->wait);
	free(a);
}

void daemon_audit_stop(daemon_audit_t *a)
{
	if (a == NULL)
		return;
	net_http_free(a->http); /* requests cancelled: on_proof does not run */
	for (size_t i = 0; i < a->n; i++) {
		store_mlog_close(a->regs[i].mlog);
		free(a->regs[i].ent);
		free(a->regs[i].ent_len);
	}
	a->closing = 2;
	uv_close((uv_handle_t *)&a->timer, on_closed);
	uv_close((uv_handle_t *)&a->async, on_closed);
}

size_t daemon_audit_rows(const daemon_audit_t *a, api_audit_row_t *out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; a && i < a->n && n < cap; i++, n++) {
		const audited_t *r = &a->regs[i];
		api_audit_row_t *o = &out[n];
		memset(o, 0, sizeof(*o));
		memcpy(o->registry, r->registry, 32);
		if (r->has_last) {
			o->verified_size = r->last_sth.size;
			o->verified_seq = r->last.seq;
		}
		o->checked = r->checked;
		o->failures = r->failures;
		o->failed = r->failed;
		snprintf(o->last_error, sizeof(o->last_error), "%s", r->last_error);
		snprintf(o->source, sizeof(o->source), "%s", source(r));
		o->items_checked = r->items.checked;
		o->items_inconsistent = r->items.inconsistent;
		o->items_failed = r->items.failed;
		snprintf(o->item_error, sizeof(o->item_error), "%s", r->items.last_error);
		for (size_t k = 0; k < a->nwait; k++)
			o->items_waiting += a->wait[k].reg == i;
		uv_mutex_lock((uv_mutex_t *)&a->mu);
		o->items_dropped = r->dropped + r->dropped_q;
		uv_mutex_unlock((uv_mutex_t *)&a->mu);
	}
	return n;
}
