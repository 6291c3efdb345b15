/* A registry run by this node: see registrar/registrar.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/log.h"
#include "crypto/crypto.h"
#include "registrar/registrar.h"
#include "registry/entry.h"
#include "registry/sth.h"
#include "store/item.h"

#define KEY_MAX (REG_KEY_LEN + 1 + REG_LABEL_MAX)

struct registrar {
	store_t *s;
	uint8_t pk[REG_KEY_LEN], sk[64];
	store_mlog_t *log; /* NULL until init */
	registrar_put_cb put;
	void *put_ctx;
};

static void put_be(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static size_t make_key(const registrar_t *r, char tag, const char *label, uint8_t out[KEY_MAX])
{
	size_t n = label ? strlen(label) : 0;
	memcpy(out, r->pk, REG_KEY_LEN);
	out[REG_KEY_LEN] = (uint8_t)tag;
	if (n)
		memcpy(out + REG_KEY_LEN + 1, label, n); /* label may be NULL */
	return REG_KEY_LEN + 1 + n;
}

__attribute__((format(printf, 3, 4))) static int refuse(registrar_res_t *res, int code,
							const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->msg, sizeof(res->msg), fmt, ap);
	va_end(ap);
	return code;
}

static int refuse_why(registrar_res_t *res, reg_why_t why)
{
	res->why = why;
	return refuse(res, SW_EPOLICY, "%s", reg_why_str(why));
}

/* A refusal of rec's evidence: reg_why_str()'s sentence, or for a dns-proof TXT record not
 * found, where the claimant must publish what. */
static int refuse_record(const registrar_t *r, registrar_res_t *res, const reg_policy_t *pol,
			 const reg_record_t *rec, reg_why_t why)
{
	char name[REG_DNS_PROOF_NAME_MAX], txt[REG_DNS_PROOF_TXT_MAX];
	if (why != REG_WHY_DNS_TXT || reg_dns_proof_name(pol, rec, name, sizeof(name)) ||
	    reg_dns_proof_txt(r->pk, reg_record_claimant(rec), txt, sizeof(txt)))
		return refuse_why(res, why);
	res->why = why;
	return refuse(res, SW_EPOLICY,
		      "policy not met (dns-proof): no TXT record %s saying \"%s\" was found "
		      "through the registrar's upstream; publish it in your DNS zone and try again",
		      name, txt);
}

static int store_failed(registrar_res_t *res, int ret)
{
	return refuse(res, ret, "the registrar's storage failed: %s (see the node's log)",
		      sw_strerror(ret));
}

int registrar_op_msg(const char *what, const uint8_t registry[REG_KEY_LEN], const char *label,
		     size_t len, const uint8_t key[REG_KEY_LEN], uint64_t n,
		     uint8_t out[REG_MSG_MAX], size_t *msg_len)
{
	char prefix[48];
	int pl = snprintf(prefix, sizeof(prefix), "swarmdns registry %s v1", what);
	if (pl < 0 || (size_t)pl >= sizeof(prefix) || len == 0 || len > REG_LABEL_MAX)
		return SW_EINVAL;
	size_t o = 0;
	memcpy(out + o, prefix, (size_t)pl);
	o += (size_t)pl;
	memcpy(out + o, registry, REG_KEY_LEN);
	o += REG_KEY_LEN;
	out[o++] = (uint8_t)len;
	memcpy(out + o, label, len);
	o += len;
	memcpy(out + o, key, REG_KEY_LEN);
	o += REG_KEY_LEN;
	put_be(out + o, n);
	*msg_len = o + 8;
	return 0;
}

/* Whether sig is signer's signature over registrar_op_msg(what, ..., key, n). */
static int op_sig_verify(const registrar_t *r, const char *what, const char *label,
			 const uint8_t key[REG_KEY_LEN], uint64_t n,
			 const uint8_t signer[REG_KEY_LEN], const uint8_t sig[REG_SIG_LEN])
{
	uint8_t msg[REG_MSG_MAX];
	size_t len;
	int ret = registrar_op_msg(what, r->pk, label, strlen(label), key, n, msg, &len);
	return ret ? ret : sw_ed25519_verify(signer, msg, len, sig);
}

static int head_sign(registrar_t *r, uint64_t now);

int registrar_open(store_t *s, const uint8_t sk[64], uint64_t now, registrar_t **out)
{
	uint64_t hsize;
	item_t head;
	registrar_t *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return SW_ENOMEM;
	r->s = s;
	memcpy(r->sk, sk, 64);
	memcpy(r->pk, sk + 32, REG_KEY_LEN);
	int ret = store_mlog_open(s, r->pk, false, &r->log);
	if (ret == SW_ENOTFOUND)
		ret = 0; /* not initialised yet: registrar_init() makes the log */
	/* A crash between an append and its tree head leaves the head behind the log: sign one
	 * that covers it all. */
	if (ret == 0 && r->log &&
	    (store_mlog_head_latest(r->log, &hsize, &head) != 0 ||
	     hsize != store_mlog_size(r->log)))
		ret = head_sign(r, now);
	if (ret) {
		registrar_close(r);
		return ret;
	}
	*out = r;
	return 0;
}

void registrar_close(registrar_t *r)
{
	if (r == NULL)
		return;
	store_mlog_close(r->log);
	sw_memzero(r->sk, sizeof(r->sk));
	free(r);
}

void registrar_set_put(registrar_t *r, registrar_put_cb cb, void *ctx)
{
	r->put = cb;
	r->put_ctx = ctx;
}

const uint8_t *registrar_key(const registrar_t *r)
{
	return r->pk;
}

const store_mlog_t *registrar_log(const registrar_t *r)
{
	return r->log;
}

static void put(const registrar_t *r, const item_t *it)
{
	if (r->put)
		r->put(r->put_ctx, it);
}

/* An item of ours read back from the registrar database. */
static int item_load(const registrar_t *r, char tag, const char *label, item_t *it)
{
	uint8_t key[KEY_MAX];
	return store_item_get(r->s, STORE_REGISTRAR, key, make_key(r, tag, label, key), it);
}

int registrar_policy(const registrar_t *r, reg_policy_t *pol)
{
	item_t it;
	const uint8_t *pkt;
	size_t len;
	int ret = item_load(r, 'p', NULL, &it);
	if (ret == 0 && (item_str(&it, &pkt, &len) || reg_policy_parse(r->pk, pkt, len, pol)))
		ret = SW_ESTORE;
	return ret;
}

/* The signed tree head item of a log of size entries with this root, at time now; a copy in
 * signed (NULL: none), to be put once it is stored. */
typedef struct {
	registrar_t *r;
	uint64_t now;
	item_t *signed_head;
} head_ctx_t;

static int head_item(void *ctx, uint64_t size, const uint8_t root[32], item_t *it)
{
	const head_ctx_t *h = ctx;
	reg_sth_t sth = {.size = size, .time = h->now};
	uint8_t pkt[ZONE_PACKET_MAX];
	size_t len;
	uint64_t latest;
	item_t prev;
	int64_t seq = 1;
	memcpy(sth.root, root, sizeof(sth.root));
	int ret = store_mlog_head_latest(h->r->log, &latest, &prev);
	if (ret == 0)
		seq = prev.seq + 1; /* every head supersedes the last (BEP 44 seq) */
	else if (ret != SW_ENOTFOUND)
		return ret;
	if ((ret = reg_sth_write(h->r->pk, &sth, pkt, sizeof(pkt), &len)) ||
	    (ret = item_init(it, h->r->pk, (const uint8_t *)"_log", 4, seq)) ||
	    (ret = item_set_str(it, pkt, len)) || (ret = item_sign(it, h->r->sk)))
		return ret;
	if (h->signed_head)
		*h->signed_head = *it;
	return 0;
}

/* Signs a new tree head over the whole log, keeps it and puts it. */
static int head_sign(registrar_t *r, uint64_t now)
{
	head_ctx_t h = {r, now, NULL};
	uint64_t size = store_mlog_size(r->log);
	uint8_t root[32];
	item_t it;
	int ret = reg_mlog_root(store_mlog_log(r->log), size, root);
	if (ret || (ret = head_item(&h, size, root, &it)) ||
	    (ret = store_mlog_head_put(r->log, size, &it)))
		return ret;
	put(r, &it);
	return 0;
}

int registrar_init(registrar_t *r, const reg_policy_t *pol, uint64_t now, registrar_res_t *res)
{
	uint8_t pkt[ZONE_PACKET_MAX], key[KEY_MAX], rec[STORE_ITEM_REC_MAX];
	size_t len, rlen;
	item_t it, prev;
	int64_t seq = 1;
	memset(res, 0, sizeof(*res));
	if (reg_policy_check(pol) || reg_policy_write(r->pk, pol, pkt, sizeof(pkt), &len))
		return refuse(
		    res, SW_EINVAL,
		    "the policy is not consistent (label lengths, terms, proof-of-work "
		    "bounds, moderators, dns-proof prefix and suffixes: docs/registries.md "
		    "\"Policies\")");
	int ret = item_load(r, 'p', NULL, &prev);
	if (ret == 0)
		seq = prev.seq + 1;
	else if (ret != SW_ENOTFOUND)
		return store_failed(res, ret);
	if ((ret = item_init(&it, r->pk, (const uint8_t *)"_policy", 7, seq)) ||
	    (ret = item_set_str(&it, pkt, len)) || (ret = item_sign(&it, r->sk)) ||
	    (ret = store_item_rec_write(&it, 0, rec, sizeof(rec), &rlen)))
		return refuse(res, ret, "cannot sign the policy: %s", sw_strerror(ret));
	if ((ret = store_put(r->s, STORE_REGISTRAR, key, make_key(r, 'p', NULL, key), rec, rlen)))
		return store_failed(res, ret);
	if (r->log == NULL && (ret = store_mlog_open(r->s, r->pk, true, &r->log)))
		return store_failed(res, ret);
	put(r, &it);
	if ((ret = head_sign(r, now)))
		return store_failed(res, ret);
	res->index = store_mlog_size(r->log);
	res->time = now;
	return 0;
}

/* Appends entry e and, in the same transaction, the new tree head and, with label, its label
 * item `it` (a release's too: its registration ends at the release), dropping any waiting
 * claim of label. Then puts the head and the item. */
static int apply(registrar_t *r, const reg_entry_t *e, const char *label, const item_t *it,
		 uint64_t now, registrar_res_t *res)
{
	uint8_t buf[REG_ENTRY_MAX], lkey[KEY_MAX], qkey[KEY_MAX], rec[STORE_ITEM_REC_MAX];
	size_t len, rlen = 0, nextra = 0;
	store_op_t extra[2];
	int ret = reg_entry_write(e, buf, sizeof(buf), &len);
	if (ret)
		return refuse(res, ret, "cannot write the log entry: %s", sw_strerror(ret));
	if (label) {
		if (it && (ret = store_item_rec_write(it, 0, rec, sizeof(rec), &rlen)))
			return store_failed(res, ret);
		extra[nextra++] = (store_op_t){STORE_REGISTRAR, lkey, make_key(r, 'l', label, lkey),
					       it ? rec : NULL, rlen};
		extra[nextra++] =
		    (store_op_t){STORE_REGISTRAR, qkey, make_key(r, 'q', label, qkey), NULL, 0};
	}
	const uint8_t *entries[1] = {buf};
	item_t head;
	head_ctx_t h = {r, now, &head};
	/* The entry, its label item and the new tree head in one durable transaction: one
	 * synced write per operation (two halved the registration rate, bench/registry.py). */
	if ((ret = store_mlog_append_head(r->log, entries, &len, 1, extra, nextra, head_item, &h,
					  &res->index)))
		return store_failed(res, ret);
	res->time = e->time;
	put(r, &head);
	if (it)
		put(r, it);
	return 0;
}

/* The label item of rec: the delegation to the owner's zone and the registration record,
 * signed at seq = its log index + 1 (every state of a label comes from a later entry). */
static int label_item(const registrar_t *r, const char *label, const reg_record_t *rec, item_t *it)
{
	uint8_t pkt[ZONE_PACKET_MAX];
	size_t len, ll = strlen(label);
	zone_rrlist_t extra;
	zone_rrlist_init(&extra);
	int ret = reg_label_add_ns(&extra, r->pk, label, ll, rec->owner);
	if (ret == 0)
		ret = reg_label_write(r->pk, label, ll, rec, &extra, pkt, sizeof(pkt), &len);
	zone_rrlist_deinit(&extra);
	if (ret == 0 &&
	    (ret = item_init(it, r->pk, (const uint8_t *)label, ll, (int64_t)rec->index + 1)) ==
		0 &&
	    (ret = item_set_str(it, pkt, len)) == 0)
		ret = item_sign(it, r->sk);
	return ret;
}

/* Reads the current registration of label: 0 with rec (and it), SW_ENOTFOUND, SW_ESTORE. */
static int current(const registrar_t *r, const char *label, reg_record_t *rec, item_t *it)
{
	const uint8_t *pkt;
	size_t len;
	int ret = item_load(r, 'l', label, it);
	if (ret == 0 && (item_str(it, &pkt, &len) ||
			 reg_label_parse(r->pk, label, strlen(label), pkt, len, rec, NULL)))
		ret = SW_ESTORE;
	return ret;
}

/* The waiting claim of a moderated registry: its packet (index and expiry not set yet). */
static int pending_load(const registrar_t *r, const char *label, reg_record_t *rec)
{
	uint8_t key[KEY_MAX], pkt[ZONE_PACKET_MAX];
	size_t len;
	int ret = store_get(r->s, STORE_REGISTRAR, key, make_key(r, 'q', label, key), pkt,
			    sizeof(pkt), &len);
	if (ret == SW_ENOSPC)
		return SW_ESTORE;
	if (ret == 0 && reg_label_parse(r->pk, label, strlen(label), pkt, len, rec, NULL))
		ret = SW_ESTORE;
	return ret;
}

static int pending_store(const registrar_t *r, const char *label, const reg_record_t *rec)
{
	uint8_t key[KEY_MAX], pkt[ZONE_PACKET_MAX];
	size_t len;
	int ret = reg_label_write(r->pk, label, strlen(label), rec, NULL, pkt, sizeof(pkt), &len);
	return ret ? ret
		   : store_put(r->s, STORE_REGISTRAR, key, make_key(r, 'q', label, key), pkt, len);
}

int registrar_label(const registrar_t *r, const char *label, reg_record_t *rec, item_t *it,
		    bool *pending)
{
	item_t tmp;
	*pending = false;
	if (reg_label_check(label, strlen(label)))
		return SW_ENOTFOUND;
	int ret = current(r, label, rec, it ? it : &tmp);
	if (ret == SW_ENOTFOUND && (ret = pending_load(r, label, rec)) == 0)
		*pending = true;
	return ret;
}

/* Checks next's evidence against pol (the commitment read from our own log, the dns-proof
 * TXT records in txt), with its index and expiry set as the registration at now would have
 * them. */
static int check_evidence(const registrar_t *r, const reg_policy_t *pol, const char *label,
			  reg_record_t *next, const reg_dns_txt_t *txt, uint64_t now,
			  registrar_res_t *res)
{
	reg_check_in_t in = {.now = now};
	reg_dns_txt_t found = {0};
	uint8_t buf[STORE_MLOG_ENTRY_MAX];
	reg_entry_t commit;
	size_t len;
	reg_why_t why;
	if (next->has & REG_HAS_OPEN) {
		if (next->commit_index >= store_mlog_size(r->log) ||
		    store_mlog_entry(r->log, next->commit_index, buf, sizeof(buf), &len) ||
		    reg_entry_parse(buf, len, &commit) || commit.op != REG_OP_COMMIT)
			return refuse_why(res, REG_WHY_COMMIT);
		next->committed = commit.time;
		in.commit = &commit;
	}
	if (txt)
		found = *txt;
	reg_dns_txt_in(&found, &in);
	next->index = store_mlog_size(r->log);
	next->expires = pol->expiry ? now + pol->expiry : 0;
	int ret = reg_check_record(pol, r->pk, label, strlen(label), next, &in, &why);
	if (ret == SW_EPOLICY)
		return refuse_record(r, res, pol, next, why);
	if (ret)
		return refuse(res, ret, "cannot check the claim: %s", sw_strerror(ret));
	return 0;
}

/* Checks next against the policy and the label's current state, then logs its registration
 * and signs its label item. */
static int finish_register(registrar_t *r, const reg_policy_t *pol, const char *label,
			   reg_record_t *next, const reg_dns_txt_t *txt, uint64_t now,
			   registrar_res_t *res)
{
	reg_entry_t e;
	item_t cur_it, it;
	reg_record_t cur;
	reg_why_t why;
	int ret = current(r, label, &cur, &cur_it);
	if (ret && ret != SW_ENOTFOUND)
		return store_failed(res, ret);
	if (reg_check_op(REG_OP_REGISTER, pol, ret ? NULL : &cur, next, now, &why))
		return refuse_why(res, why);
	if ((ret = check_evidence(r, pol, label, next, txt, now, res)))
		return ret;
	if ((ret = label_item(r, label, next, &it)) ||
	    (ret = reg_entry_from_record(REG_OP_REGISTER, now, r->pk, label, strlen(label), next,
					 &e)))
		return refuse(res, ret, "cannot sign the label item: %s", sw_strerror(ret));
	return apply(r, &e, label, &it, now, res);
}

static int need_policy(const registrar_t *r, reg_policy_t *pol, registrar_res_t *res)
{
	int ret = r->log ? registrar_policy(r, pol) : SW_ENOTFOUND;
	if (ret == SW_ENOTFOUND)
		return refuse(res, ret,
			      "this registry has no policy yet: run 'swarmdns registry init' "
			      "against its registrar's node first");
	return ret ? store_failed(res, ret) : 0;
}

int registrar_commit(registrar_t *r, const uint8_t commit[REG_HASH_LEN], uint64_t now,
		     registrar_res_t *res)
{
	reg_policy_t pol;
	reg_entry_t e;
	memset(res, 0, sizeof(*res));
	int ret = need_policy(r, &pol, res);
	if (ret)
		return ret;
	if (!(pol.rules & REG_RULE_OPEN))
		return refuse(res, SW_EINVAL,
			      "this registry is not open: it takes no commitments (register "
			      "directly)");
	reg_entry_commit(now, commit, &e);
	return apply(r, &e, NULL, NULL, now, res);
}

int registrar_register(registrar_t *r, const registrar_claim_t *c, uint64_t now,
		       registrar_res_t *res)
{
	reg_policy_t pol;
	reg_record_t next, waiting;
	reg_why_t why;
	size_t ll = strlen(c->label);
	memset(res, 0, sizeof(*res));
	int ret = need_policy(r, &pol, res);
	if (ret)
		return ret;
	if (reg_check_label(&pol, c->label, ll, &why))
		return refuse_why(res, why);
	if (op_sig_verify(r, "claim", c->label, c->owner, 0, c->owner, c->owner_sig))
		return refuse(res, SW_EBADSIG,
			      "the claim is not signed by the owner key it names (sign with -k "
			      "OWNER_KEY)");
	/* closed: the registry alone gives out names (docs/registries.md "Policies"). */
	if (pol.rules == 0 && (!c->has_registry_sig || op_sig_verify(r, "claim", c->label, c->owner,
								     0, r->pk, c->registry_sig)))
		return refuse(res, SW_EBADSIG,
			      "this registry is closed: only the holder of its key registers "
			      "names (give --registry-key with the registry's key file)");
	if ((pol.rules & REG_RULE_OPEN) && !c->has_open)
		return refuse_why(res, REG_WHY_EVIDENCE);
	size_t dl = strnlen(c->dns, sizeof(c->dns));
	if ((pol.rules & REG_RULE_DNS_PROOF) && dl == 0)
		return refuse(res, SW_EPOLICY,
			      "policy not met (dns-proof): the claim names no domain in ordinary "
			      "DNS; give the one that shows it (swarmdns register --dns "
			      "%s.example.org)",
			      c->label);
	if (dl && reg_domain_check(c->dns, dl, 2))
		return refuse(res, SW_EINVAL,
			      "dns: '%.*s' is not a domain (lower-case labels joined by dots, "
			      "without the final dot)",
			      (int)dl, c->dns);
	memset(&next, 0, sizeof(next));
	memcpy(next.owner, c->owner, REG_KEY_LEN);
	next.registered = now;
	if (c->has_open) {
		next.has |= REG_HAS_OPEN;
		memcpy(next.secret, c->secret, REG_HASH_LEN);
		next.commit_index = c->commit_index;
		next.pow_nonce = c->pow_nonce;
	}
	if (dl && (pol.rules & REG_RULE_DNS_PROOF)) {
		next.has |= REG_HAS_DNS;
		memcpy(next.dns, c->dns, dl + 1);
	}
	if (pol.rules & REG_RULE_MODERATED) {
		item_t it;
		reg_record_t cur;
		ret = current(r, c->label, &cur, &it);
		if (ret == 0 && reg_check_op(REG_OP_REGISTER, &pol, &cur, &next, now, &why))
			return refuse_why(res, why);
		if (ret && ret != SW_ENOTFOUND)
			return store_failed(res, ret);
		ret = pending_load(r, c->label, &waiting);
		if (ret == 0)
			return refuse(
			    res, SW_EEXIST,
			    "a claim of this name already waits for moderators: ask them, "
			    "or try again once they rejected it");
		if (ret != SW_ENOTFOUND)
			return store_failed(res, ret);
		/* The claim's evidence but the moderators' is checked now; their signatures
		 * come with the approvals (which check the dns-proof TXT record again). */
		reg_policy_t open = pol;
		open.rules &= REG_RULE_OPEN | REG_RULE_DNS_PROOF;
		if (open.rules &&
		    (ret = check_evidence(r, &open, c->label, &next, c->txt, now, res)))
			return ret;
		if ((ret = pending_store(r, c->label, &next)))
			return store_failed(res, ret);
		res->pending = true;
		res->needed = pol.mod_k;
		res->time = now;
		return 0;
	}
	return finish_register(r, &pol, c->label, &next, c->txt, now, res);
}

int registrar_moderate(registrar_t *r, const char *label, bool approve, unsigned mod,
		       const uint8_t sig[REG_SIG_LEN], const reg_dns_txt_t *txt, uint64_t now,
		       registrar_res_t *res)
{
	reg_policy_t pol;
	reg_record_t rec;
	uint8_t msg[REG_MSG_MAX], key[KEY_MAX];
	size_t len, ll = strlen(label);
	memset(res, 0, sizeof(*res));
	int ret = need_policy(r, &pol, res);
	if (ret)
		return ret;
	if (!(pol.rules & REG_RULE_MODERATED))
		return refuse(res, SW_EINVAL, "this registry is not moderated");
	if (mod >= pol.mod_n)
		return refuse_why(res, REG_WHY_MOD_SIG);
	if (reg_label_check(label, ll) || (ret = pending_load(r, label, &rec)) == SW_ENOTFOUND)
		return refuse(res, SW_ENOTFOUND, "no claim of '%s' waits for moderators", label);
	if (ret)
		return store_failed(res, ret);
	if (approve)
		ret = reg_mod_msg(r->pk, label, ll, reg_record_claimant(&rec), rec.registered, msg,
				  &len);
	else
		ret = registrar_op_msg("reject", r->pk, label, ll, reg_record_claimant(&rec),
				       rec.registered, msg, &len);
	if (ret || sw_ed25519_verify(pol.mod[mod], msg, len, sig))
		return refuse_why(res, REG_WHY_MOD_SIG);
	if (!approve) {
		if ((ret = store_del(r->s, STORE_REGISTRAR, key, make_key(r, 'q', label, key))))
			return store_failed(res, ret);
		res->time = now;
		return 0;
	}
	bool have = false;
	for (unsigned i = 0; i < rec.nmod; i++)
		have |= rec.mod[i].idx == mod;
	if (!have && rec.nmod < REG_MOD_MAX) {
		rec.mod[rec.nmod].idx = (uint8_t)mod;
		memcpy(rec.mod[rec.nmod++].sig, sig, REG_SIG_LEN);
	}
	res->approvals = rec.nmod;
	res->needed = pol.mod_k;
	if (rec.nmod < pol.mod_k) {
		if ((ret = pending_store(r, label, &rec)))
			return store_failed(res, ret);
		res->pending = true;
		res->time = now;
		return 0;
	}
	/* k moderators signed: the claim is registered as any other (apply() drops the
	 * waiting claim in the same transaction). */
	return finish_register(r, &pol, label, &rec, txt, now, res);
}

/* The live registration of label, for an operation by its owner. */
static int need_current(const registrar_t *r, const char *label, reg_policy_t *pol,
			reg_record_t *cur, item_t *it, uint64_t now, registrar_res_t *res)
{
	memset(res, 0, sizeof(*res));
	int ret = need_policy(r, pol, res);
	if (ret)
		return ret;
	if (reg_label_check(label, strlen(label)) ||
	    (ret = current(r, label, cur, it)) == SW_ENOTFOUND)
		return refuse(res, SW_ENOTFOUND, "'%s' is not registered in this registry", label);
	if (ret)
		return store_failed(res, ret);
	if (cur->expires && now >= cur->expires)
		return refuse_why(res, REG_WHY_EXPIRED);
	return 0;
}

/* Logs op taking label from cur to next (checked by reg_check_op and the resolvers' checks)
 * and signs next's label item. */
static int change(registrar_t *r, unsigned op, const reg_policy_t *pol, const char *label,
		  const reg_record_t *cur, reg_record_t *next, const reg_dns_txt_t *txt,
		  uint64_t now, registrar_res_t *res)
{
	reg_check_in_t in = {.now = now};
	reg_dns_txt_t found = {0};
	uint8_t buf[STORE_MLOG_ENTRY_MAX];
	reg_entry_t e, commit;
	reg_why_t why;
	item_t it;
	size_t len, ll = strlen(label);
	int ret;
	next->index = store_mlog_size(r->log);
	if (reg_check_op(op, pol, cur, next, now, &why))
		return refuse_why(res, why);
	if ((next->has & REG_HAS_OPEN) &&
	    store_mlog_entry(r->log, next->commit_index, buf, sizeof(buf), &len) == 0 &&
	    reg_entry_parse(buf, len, &commit) == 0)
		in.commit = &commit;
	/* The claim's evidence is checked again: a name whose evidence no longer meets the
	 * policy (a stricter one published since, a dns-proof TXT record taken away) would not
	 * resolve anywhere. */
	if (txt)
		found = *txt;
	reg_dns_txt_in(&found, &in);
	ret = reg_check_record(pol, r->pk, label, ll, next, &in, &why);
	if (ret == SW_EPOLICY)
		return refuse_record(r, res, pol, next, why);
	if (ret)
		return refuse(res, ret, "cannot check the record: %s", sw_strerror(ret));
	if ((ret = label_item(r, label, next, &it)) ||
	    (ret = reg_entry_from_record(op, now, r->pk, label, ll, next, &e)))
		return refuse(res, ret, "cannot sign the label item: %s", sw_strerror(ret));
	return apply(r, &e, label, &it, now, res);
}

int registrar_transfer(registrar_t *r, const char *label, const uint8_t to[REG_KEY_LEN],
		       const uint8_t sig[REG_SIG_LEN], const reg_dns_txt_t *txt, uint64_t now,
		       registrar_res_t *res)
{
	reg_policy_t pol;
	reg_record_t cur, next;
	uint8_t msg[REG_MSG_MAX];
	item_t it;
	size_t len, ll = strlen(label);
	int ret = need_current(r, label, &pol, &cur, &it, now, res);
	if (ret)
		return ret;
	if ((ret = reg_xfer_msg(r->pk, label, ll, cur.owner, to, cur.index, msg, &len)) ||
	    sw_ed25519_verify(cur.owner, msg, len, sig))
		return refuse_why(res, REG_WHY_TRANSFER);
	next = cur;
	memcpy(next.claimant, reg_record_claimant(&cur), REG_KEY_LEN);
	memcpy(next.owner, to, REG_KEY_LEN);
	next.has |= REG_HAS_FROM;
	if (memcmp(next.claimant, to, REG_KEY_LEN) != 0)
		next.has |= REG_HAS_CLAIMANT;
	else
		next.has &= ~(unsigned)REG_HAS_CLAIMANT; /* back to its claimant */
	memcpy(next.from, cur.owner, REG_KEY_LEN);
	next.from_index = cur.index;
	memcpy(next.from_sig, sig, REG_SIG_LEN);
	return change(r, REG_OP_TRANSFER, &pol, label, &cur, &next, txt, now, res);
}

int registrar_renew(registrar_t *r, const char *label, const uint8_t sig[REG_SIG_LEN],
		    const reg_dns_txt_t *txt, uint64_t now, registrar_res_t *res)
{
	reg_policy_t pol;
	reg_record_t cur, next;
	item_t it;
	int ret = need_current(r, label, &pol, &cur, &it, now, res);
	if (ret)
		return ret;
	if (op_sig_verify(r, "renew", label, cur.owner, cur.index, cur.owner, sig))
		return refuse_why(res, REG_WHY_NOT_OWNER);
	if (pol.expiry == 0)
		return refuse(res, SW_EINVAL,
			      "names in this registry never expire: there is nothing to renew");
	next = cur;
	next.expires = cur.expires + pol.expiry;
	return change(r, REG_OP_RENEW, &pol, label, &cur, &next, txt, now, res);
}

int registrar_release(registrar_t *r, const char *label, const uint8_t sig[REG_SIG_LEN],
		      uint64_t now, registrar_res_t *res)
{
	reg_policy_t pol;
	reg_record_t cur;
	reg_entry_t e;
	item_t it;
	reg_why_t why;
	int ret = need_current(r, label, &pol, &cur, &it, now, res);
	if (ret)
		return ret;
	if (op_sig_verify(r, "release", label, cur.owner, cur.index, cur.owner, sig))
		return refuse_why(res, REG_WHY_NOT_OWNER);
	if (reg_check_op(REG_OP_RELEASE, &pol, &cur, &cur, now, &why))
		return refuse_why(res, why);
	if ((ret =
		 reg_entry_from_record(REG_OP_RELEASE, now, r->pk, label, strlen(label), &cur, &e)))
		return refuse(res, ret, "cannot write the log entry: %s", sw_strerror(ret));
	/* What the DHT holds must say so at once, or the last item would resolve to the old
	 * owner until it leaves the DHT: a label item of the release's log index (a higher seq)
	 * whose registration ends now. Resolvers answer it NXDOMAIN; it is kept and re-put like
	 * any label item until the name is registered again. */
	reg_record_t next = cur;
	next.index = store_mlog_size(r->log);
	next.expires = now;
	if ((ret = label_item(r, label, &next, &it)))
		return refuse(res, ret, "cannot sign the label item: %s", sw_strerror(ret));
	return apply(r, &e, label, &it, now, res);
}

typedef struct {
	const registrar_t *r;
	registrar_put_cb cb;
	void *ctx;
	char *cursor;
	size_t left;
	bool end;
} walk_t;

/* 1: the walk is over, for now (max given) or for good (past R's label items: w->end). */
static int walk_label(const void *key, size_t klen, const void *val, size_t vlen, void *ctx)
{
	walk_t *w = ctx;
	uint8_t target[ITEM_TARGET_LEN] = {0};
	uint64_t stored_ms;
	item_t it;
	const uint8_t *k = key;
	if (klen <= REG_KEY_LEN + 1 || memcmp(k, w->r->pk, REG_KEY_LEN) != 0 ||
	    k[REG_KEY_LEN] != 'l') {
		w->end = true;
		return 1;
	}
	size_t llen = klen - REG_KEY_LEN - 1;
	if (llen > REG_LABEL_MAX ||
	    (strlen(w->cursor) == llen && memcmp(w->cursor, k + REG_KEY_LEN + 1, llen) == 0))
		return 0; /* the cursor's own label: given last time */
	if (w->left == 0)
		return 1;
	memcpy(w->cursor, k + REG_KEY_LEN + 1, llen);
	w->cursor[llen] = 0;
	w->left--;
	if (store_item_rec_parse(target, sizeof(target), val, vlen, &it, &stored_ms) == 0) {
		item_target(&it, it.target);
		w->cb(w->ctx, &it);
	}
	return 0;
}

int registrar_next_items(const registrar_t *r, char cursor[REG_LABEL_MAX + 1], size_t max,
			 registrar_put_cb cb, void *ctx, bool *end)
{
	uint8_t from[REG_KEY_LEN + 1 + REG_LABEL_MAX];
	size_t clen = strnlen(cursor, REG_LABEL_MAX);
	memcpy(from, r->pk, REG_KEY_LEN);
	from[REG_KEY_LEN] = 'l';
	memcpy(from + REG_KEY_LEN + 1, cursor, clen);
	walk_t w = {r, cb, ctx, cursor, max, false};
	int ret =
	    store_foreach_from(r->s, STORE_REGISTRAR, from, REG_KEY_LEN + 1 + clen, walk_label, &w);
	*end = w.end || ret == 0; /* 0: the walk ran off the end of the database */
	return ret < 0 ? ret : 0;
}

int registrar_own_items(const registrar_t *r, registrar_put_cb cb, void *ctx)
{
	item_t it;
	uint64_t size;
	if (r->log == NULL)
		return 0;
	if (item_load(r, 'p', NULL, &it) == 0)
		cb(ctx, &it);
	if (store_mlog_head_latest(r->log, &size, &it) == 0)
		cb(ctx, &it);
	return 0;
}

int registrar_foreach_item(const registrar_t *r, registrar_put_cb cb, void *ctx)
{
	char cursor[REG_LABEL_MAX + 1] = "";
	bool end = false;
	int ret = registrar_own_items(r, cb, ctx);
	while (ret == 0 && !end && r->log)
		ret = registrar_next_items(r, cursor, 256, cb, ctx, &end);
	return ret;
}
