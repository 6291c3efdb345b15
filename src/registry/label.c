/*
 * Label items of a registry: label syntax, the registration record and its codec, and the
 * byte strings its evidence signs or hashes (see label.h).
 */
#include <string.h>

#include "common/codec.h"
#include "common/err.h"
#include "crypto/crypto.h"
#include "registry/label.h"
#include "registry/txt.h"
#include "zone/packet.h"

/* Domain separation: each hash or signature of the registry is for one purpose only. */
static const char commit_domain[] = "swarmdns registry commit v1";
static const char approve_domain[] = "swarmdns registry approve v1";
static const char xfer_domain[] = "swarmdns registry transfer v1";
static const char evidence_domain[] = "swarmdns registry evidence v1";

static bool ldh(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

int reg_label_check(const char *label, size_t len)
{
	if (len == 0 || len > REG_LABEL_MAX)
		return SW_EINVAL;
	if (label[0] == '_')
		return SW_EOUTZONE;
	/* RFC 1123 §2.1: letters, digits and hyphens, neither first nor last a hyphen. */
	if (label[0] == '-' || label[len - 1] == '-')
		return SW_EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!ldh((uint8_t)label[i]))
			return SW_EINVAL;
	return 0;
}

int reg_name_split(const char *name, char label[REG_LABEL_MAX + 1], const char **rest,
		   size_t *rest_len)
{
	const char *dot = strchr(name, '.');
	size_t ll = dot ? (size_t)(dot - name) : 0, rl = dot ? strlen(dot + 1) : 0;
	if (rl > 0 && dot[rl] == '.')
		rl--;
	if (ll == 0 || rl == 0 || dot[1] == '.')
		return SW_EMALF;
	if (ll > REG_LABEL_MAX)
		return SW_EINVAL;
	for (size_t i = 0; i < ll; i++)
		label[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
	label[ll] = '\0';
	*rest = dot + 1;
	*rest_len = rl;
	return reg_label_check(label, ll);
}

int reg_domain_check(const char *d, size_t len, size_t min_labels)
{
	size_t start = 0, labels = 0;
	if (len == 0 || len > REG_DOMAIN_MAX)
		return SW_EINVAL;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && d[i] != '.')
			continue;
		if (reg_label_check(d + start, i - start) < 0)
			return SW_EINVAL;
		labels++;
		start = i + 1;
	}
	return labels >= min_labels ? 0 : SW_EINVAL;
}

const uint8_t *reg_record_claimant(const reg_record_t *rec)
{
	return rec->has & REG_HAS_CLAIMANT ? rec->claimant : rec->owner;
}

/* `[prefix.]L.<R>.` in wire form. */
static int label_name(const char *prefix, const uint8_t registry[REG_KEY_LEN], const char *label,
		      size_t len, uint8_t out[DNS_NAME_MAX], size_t *name_len)
{
	size_t pos = 0, plen = prefix ? strlen(prefix) : 0;
	char z[SW_Z32_KEY_LEN + 1];
	if (len == 0 || len > REG_LABEL_MAX)
		return SW_EINVAL;
	if (plen) {
		out[pos++] = (uint8_t)plen;
		memcpy(out + pos, prefix, plen);
		pos += plen;
	}
	out[pos++] = (uint8_t)len;
	memcpy(out + pos, label, len);
	pos += len;
	sw_z32_encode_key(registry, z);
	out[pos++] = SW_Z32_KEY_LEN;
	memcpy(out + pos, z, SW_Z32_KEY_LEN);
	pos += SW_Z32_KEY_LEN;
	out[pos++] = 0;
	*name_len = pos;
	return 0;
}

int reg_label_name(const uint8_t registry[REG_KEY_LEN], const char *label, size_t len,
		   uint8_t out[DNS_NAME_MAX], size_t *name_len)
{
	return label_name(NULL, registry, label, len, out, name_len);
}

int reg_label_add_ns(zone_rrlist_t *l, const uint8_t registry[REG_KEY_LEN], const char *label,
		     size_t len, const uint8_t owner[REG_KEY_LEN])
{
	uint8_t name[DNS_NAME_MAX], target[SW_Z32_KEY_LEN + 2];
	size_t nlen;
	int ret = label_name(NULL, registry, label, len, name, &nlen);
	if (ret < 0)
		return ret;
	target[0] = SW_Z32_KEY_LEN;
	sw_z32_encode_key(owner, (char *)target + 1);
	target[SW_Z32_KEY_LEN + 1] = 0; /* overwrites the encoder's NUL: the root label */
	return zone_rrlist_add(l, name, DNS_T_NS, DNS_C_IN, REG_TXT_TTL, target, sizeof(target));
}

/* The registration record as TXT rdata, in the order docs/registries.md gives. */
static int record_txt(const reg_record_t *rec, uint8_t *out, size_t cap, size_t *len)
{
	reg_txt_wr_t w;
	if (rec->nmod > REG_MOD_MAX)
		return SW_EINVAL;
	if ((rec->has & REG_HAS_DNS) &&
	    reg_domain_check(rec->dns, strnlen(rec->dns, sizeof(rec->dns)), 2))
		return SW_EINVAL;
	reg_txt_wr_init(&w, out, cap);
	reg_txt_add_key(&w, "owner", rec->owner);
	reg_txt_add_u64(&w, "index", rec->index);
	reg_txt_add_u64(&w, "expires", rec->expires);
	reg_txt_add_u64(&w, "registered", rec->registered);
	if (rec->has & REG_HAS_CLAIMANT)
		reg_txt_add_key(&w, "claimant", rec->claimant);
	if (rec->has & REG_HAS_OPEN) {
		reg_txt_add_hex(&w, "secret", rec->secret, REG_HASH_LEN);
		reg_txt_add_u64(&w, "commit-index", rec->commit_index);
		reg_txt_add_u64(&w, "committed", rec->committed);
		reg_txt_add_u64(&w, "pow", rec->pow_nonce);
	}
	for (unsigned i = 0; i < rec->nmod; i++) {
		char v[2 + 88];
		if (rec->mod[i].idx >= REG_MOD_MAX)
			return SW_EINVAL;
		v[0] = (char)('0' + rec->mod[i].idx);
		v[1] = ':';
		if (sw_b64url_encode(rec->mod[i].sig, REG_SIG_LEN, v + 2, sizeof(v) - 2) < 0)
			return SW_EINVAL;
		reg_txt_add(&w, "mod", v, strlen(v));
	}
	if (rec->has & REG_HAS_DNS)
		reg_txt_add(&w, "dns", rec->dns, strlen(rec->dns));
	if (rec->has & REG_HAS_FROM) {
		reg_txt_add_key(&w, "from", rec->from);
		reg_txt_add_u64(&w, "from-index", rec->from_index);
		reg_txt_add_b64(&w, "from-sig", rec->from_sig, REG_SIG_LEN);
	}
	*len = w.len;
	return w.err;
}

int reg_label_write(const uint8_t registry[REG_KEY_LEN], const char *label, size_t len,
		    const reg_record_t *rec, const zone_rrlist_t *extra, uint8_t *out, size_t cap,
		    size_t *pkt_len)
{
	uint8_t apex[DNS_NAME_MAX], reg[DNS_NAME_MAX], txt[ZONE_PACKET_MAX];
	size_t alen, rlen, tlen;
	zone_rrlist_t l;
	int ret;
	zone_rrlist_init(&l);
	if (reg_label_check(label, len) < 0) {
		ret = SW_EINVAL;
		goto out;
	}
	label_name(NULL, registry, label, len, apex, &alen);
	label_name("_reg", registry, label, len, reg, &rlen);
	ret = record_txt(rec, txt, sizeof(txt), &tlen);
	if (ret < 0) {
		ret = ret == SW_ENOSPC ? SW_ETOOBIG : ret;
		goto out;
	}
	for (size_t i = 0; extra && i < extra->count; i++) {
		const zone_rr_t *rr = &extra->rrs[i];
		if (!dns_name_in(rr->owner, apex) ||
		    (rr->type == DNS_T_TXT && dns_name_equal(rr->owner, reg))) {
			ret = SW_EOUTZONE;
			goto out;
		}
		ret = zone_rrlist_add(&l, rr->owner, rr->type, rr->cls, rr->ttl, rr->rdata,
				      rr->rdlen);
		if (ret < 0)
			goto out;
	}
	ret = zone_rrlist_add(&l, reg, DNS_T_TXT, DNS_C_IN, REG_TXT_TTL, txt, (uint16_t)tlen);
	if (ret < 0)
		goto out;
	ret = reg_packet_write(&l, out, cap, pkt_len);
out:
	zone_rrlist_deinit(&l);
	return ret;
}

/* Keys of the registration record that may appear once, as bits of a seen-mask. */
enum {
	K_OWNER = 1u << 0,
	K_INDEX = 1u << 1,
	K_EXPIRES = 1u << 2,
	K_REGISTERED = 1u << 3,
	K_CLAIMANT = 1u << 4,
	K_SECRET = 1u << 5,
	K_COMMIT_INDEX = 1u << 6,
	K_COMMITTED = 1u << 7,
	K_POW = 1u << 8,
	K_DNS = 1u << 9,
	K_FROM = 1u << 10,
	K_FROM_INDEX = 1u << 11,
	K_FROM_SIG = 1u << 12,
};
#define K_REQUIRED (K_OWNER | K_INDEX | K_EXPIRES | K_REGISTERED)
#define K_OPEN (K_SECRET | K_COMMIT_INDEX | K_COMMITTED | K_POW)
#define K_XFER (K_FROM | K_FROM_INDEX | K_FROM_SIG)

static int parse_mod(const reg_txt_kv_t *kv, reg_record_t *rec)
{
	reg_txt_kv_t sig = *kv;
	if (rec->nmod >= REG_MOD_MAX || kv->vlen < 2 || kv->val[0] < '0' ||
	    kv->val[0] >= '0' + REG_MOD_MAX || kv->val[1] != ':')
		return SW_EMALF;
	uint8_t idx = (uint8_t)(kv->val[0] - '0');
	for (unsigned i = 0; i < rec->nmod; i++)
		if (rec->mod[i].idx == idx)
			return SW_EMALF;
	sig.val += 2;
	sig.vlen -= 2;
	if (reg_txt_b64(&sig, rec->mod[rec->nmod].sig, REG_SIG_LEN) < 0)
		return SW_EMALF;
	rec->mod[rec->nmod++].idx = idx;
	return 0;
}

/* One key=value of the registration record into rec; *seen guards against repeats. */
static int parse_kv(const reg_txt_kv_t *kv, reg_record_t *rec, unsigned *seen)
{
	static const struct {
		const char *key;
		unsigned bit;
	} keys[] = {
	    {"owner", K_OWNER},
	    {"index", K_INDEX},
	    {"expires", K_EXPIRES},
	    {"registered", K_REGISTERED},
	    {"claimant", K_CLAIMANT},
	    {"secret", K_SECRET},
	    {"commit-index", K_COMMIT_INDEX},
	    {"committed", K_COMMITTED},
	    {"pow", K_POW},
	    {"dns", K_DNS},
	    {"from", K_FROM},
	    {"from-index", K_FROM_INDEX},
	    {"from-sig", K_FROM_SIG},
	};
	unsigned bit = 0;
	if (reg_txt_is(kv, "mod"))
		return parse_mod(kv, rec);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (reg_txt_is(kv, keys[i].key))
			bit = keys[i].bit;
	if (bit == 0)
		return 0; /* a field of a newer format: skipped */
	if (*seen & bit)
		return SW_EMALF;
	*seen |= bit;
	switch (bit) {
	case K_OWNER:
		return reg_txt_key(kv, rec->owner);
	case K_INDEX:
		return reg_txt_u64(kv, &rec->index);
	case K_EXPIRES:
		return reg_txt_u64(kv, &rec->expires);
	case K_REGISTERED:
		return reg_txt_u64(kv, &rec->registered);
	case K_CLAIMANT:
		return reg_txt_key(kv, rec->claimant);
	case K_SECRET:
		return reg_txt_hex(kv, rec->secret, REG_HASH_LEN);
	case K_COMMIT_INDEX:
		return reg_txt_u64(kv, &rec->commit_index);
	case K_COMMITTED:
		return reg_txt_u64(kv, &rec->committed);
	case K_POW:
		return reg_txt_u64(kv, &rec->pow_nonce);
	case K_DNS:
		if (reg_domain_check(kv->val, kv->vlen, 2) < 0)
			return SW_EMALF;
		memcpy(rec->dns, kv->val, kv->vlen);
		rec->dns[kv->vlen] = '\0';
		return 0;
	case K_FROM:
		return reg_txt_key(kv, rec->from);
	case K_FROM_INDEX:
		return reg_txt_u64(kv, &rec->from_index);
	default:
		return reg_txt_b64(kv, rec->from_sig, REG_SIG_LEN);
	}
}

static int parse_record(const uint8_t *rdata, size_t rdlen, reg_record_t *rec)
{
	unsigned seen = 0;
	size_t pos = 0;
	reg_txt_kv_t kv;
	int ret;
	while ((ret = reg_txt_next(rdata, rdlen, &pos, &kv)) == 1)
		if (parse_kv(&kv, rec, &seen) < 0)
			return SW_EMALF;
	if (ret < 0 || (seen & K_REQUIRED) != K_REQUIRED)
		return SW_EMALF;
	/* A group is all there or not at all: half a proof is no proof. */
	if ((seen & K_OPEN) && (seen & K_OPEN) != K_OPEN)
		return SW_EMALF;
	if ((seen & K_XFER) && (seen & K_XFER) != K_XFER)
		return SW_EMALF;
	rec->has = (seen & K_CLAIMANT ? REG_HAS_CLAIMANT : 0) | (seen & K_OPEN ? REG_HAS_OPEN : 0) |
		   (seen & K_DNS ? REG_HAS_DNS : 0) | (seen & K_XFER ? REG_HAS_FROM : 0);
	return 0;
}

int reg_label_parse(const uint8_t registry[REG_KEY_LEN], const char *label, size_t len,
		    const uint8_t *pkt, size_t pkt_len, reg_record_t *rec, zone_rrlist_t *rrs)
{
	uint8_t apex[DNS_NAME_MAX], reg[DNS_NAME_MAX];
	size_t alen, rlen;
	unsigned nreg = 0;
	zone_rrlist_t l;
	int ret;
	zone_rrlist_init(&l);
	memset(rec, 0, sizeof(*rec));
	if (reg_label_check(label, len) < 0) {
		ret = SW_EINVAL;
		goto out;
	}
	if (pkt_len > ZONE_PACKET_MAX) {
		ret = SW_ETOOBIG;
		goto out;
	}
	label_name(NULL, registry, label, len, apex, &alen);
	label_name("_reg", registry, label, len, reg, &rlen);
	ret = zone_packet_parse(pkt, pkt_len, &l);
	if (ret < 0)
		goto out;
	for (size_t i = 0; i < l.count; i++) {
		const zone_rr_t *rr = &l.rrs[i];
		if (!dns_name_in(rr->owner, apex)) {
			ret = SW_EMALF;
			goto out;
		}
		if (rr->type == DNS_T_TXT && dns_name_equal(rr->owner, reg)) {
			if (nreg++ > 0 || parse_record(rr->rdata, rr->rdlen, rec) < 0) {
				ret = SW_EMALF;
				goto out;
			}
		}
		if (rrs) {
			ret = zone_rrlist_add(rrs, rr->owner, rr->type, rr->cls, rr->ttl, rr->rdata,
					      rr->rdlen);
			if (ret < 0)
				goto out;
		}
	}
	ret = nreg == 1 ? 0 : SW_EMALF;
out:
	zone_rrlist_deinit(&l);
	return ret;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* domain || R || len(L) || L into out; returns the length, 0 for a bad label length. */
static size_t msg_head(const char *domain, const uint8_t registry[REG_KEY_LEN], const char *label,
		       size_t len, uint8_t *out)
{
	size_t dlen = strlen(domain), pos = 0;
	if (len == 0 || len > REG_LABEL_MAX)
		return 0;
	memcpy(out, domain, dlen);
	pos += dlen;
	memcpy(out + pos, registry, REG_KEY_LEN);
	pos += REG_KEY_LEN;
	out[pos++] = (uint8_t)len;
	memcpy(out + pos, label, len);
	return pos + len;
}

int reg_commit_hash(const uint8_t registry[REG_KEY_LEN], const char *label, size_t len,
		    const uint8_t claimant[REG_KEY_LEN], const uint8_t secret[REG_HASH_LEN],
		    uint8_t out[REG_HASH_LEN])
{
	uint8_t buf[REG_MSG_MAX];
	size_t n = msg_head(commit_domain, registry, label, len, buf);
	if (n == 0)
		return SW_EINVAL;
	memcpy(buf + n, claimant, REG_KEY_LEN);
	memcpy(buf + n + REG_KEY_LEN, secret, REG_HASH_LEN);
	sw_sha256(buf, n + REG_KEY_LEN + REG_HASH_LEN, NULL, 0, out);
	return 0;
}

int reg_mod_msg(const uint8_t registry[REG_KEY_LEN], const char *label, size_t len,
		const uint8_t claimant[REG_KEY_LEN], uint64_t registered, uint8_t out[REG_MSG_MAX],
		size_t *msg_len)
{
	size_t n = msg_head(approve_domain, registry, label, len, out);
	if (n == 0)
		return SW_EINVAL;
	memcpy(out + n, claimant, REG_KEY_LEN);
	put_u64(out + n + REG_KEY_LEN, registered);
	*msg_len = n + REG_KEY_LEN + 8;
	return 0;
}

int reg_xfer_msg(const uint8_t registry[REG_KEY_LEN], const char *label, size_t len,
		 const uint8_t from[REG_KEY_LEN], const uint8_t to[REG_KEY_LEN],
		 uint64_t from_index, uint8_t out[REG_MSG_MAX], size_t *msg_len)
{
	size_t n = msg_head(xfer_domain, registry, label, len, out);
	if (n == 0)
		return SW_EINVAL;
	memcpy(out + n, from, REG_KEY_LEN);
	memcpy(out + n + REG_KEY_LEN, to, REG_KEY_LEN);
	put_u64(out + n + 2 * REG_KEY_LEN, from_index);
	*msg_len = n + 2 * REG_KEY_LEN + 8;
	return 0;
}

int reg_record_evidence_hash(const uint8_t registry[REG_KEY_LEN], const char *label, size_t len,
			     const reg_record_t *rec, uint8_t out[REG_HASH_LEN])
{
	/* The layout of docs/registries.md "Log entries": every field fixed-size or
	 * length-prefixed, so that two different records never give the same bytes. */
	uint8_t buf[REG_MSG_MAX + REG_KEY_LEN + 8 + 1 + REG_HASH_LEN + 24 + 1 +
		    REG_MOD_MAX * (1 + REG_SIG_LEN) + 1 + REG_DOMAIN_MAX + REG_KEY_LEN + 8 +
		    REG_SIG_LEN];
	size_t n = msg_head(evidence_domain, registry, label, len, buf);
	if (n == 0 || rec->nmod > REG_MOD_MAX)
		return SW_EINVAL;
	memcpy(buf + n, reg_record_claimant(rec), REG_KEY_LEN);
	n += REG_KEY_LEN;
	put_u64(buf + n, rec->registered);
	n += 8;
	buf[n++] = (uint8_t)(rec->has & (REG_HAS_OPEN | REG_HAS_DNS | REG_HAS_FROM));
	if (rec->has & REG_HAS_OPEN) {
		memcpy(buf + n, rec->secret, REG_HASH_LEN);
		put_u64(buf + n + REG_HASH_LEN, rec->commit_index);
		put_u64(buf + n + REG_HASH_LEN + 8, rec->committed);
		put_u64(buf + n + REG_HASH_LEN + 16, rec->pow_nonce);
		n += REG_HASH_LEN + 24;
	}
	buf[n++] = (uint8_t)rec->nmod;
	for (unsigned i = 0; i < rec->nmod; i++) {
		buf[n++] = rec->mod[i].idx;
		memcpy(buf + n, rec->mod[i].sig, REG_SIG_LEN);
		n += REG_SIG_LEN;
	}
	if (rec->has & REG_HAS_DNS) {
		size_t dlen = strnlen(rec->dns, REG_DOMAIN_MAX);
		buf[n++] = (uint8_t)dlen;
		memcpy(buf + n, rec->dns, dlen);
		n += dlen;
	}
	if (rec->has & REG_HAS_FROM) {
		memcpy(buf + n, rec->from, REG_KEY_LEN);
		put_u64(buf + n + REG_KEY_LEN, rec->from_index);
		memcpy(buf + n + REG_KEY_LEN + 8, rec->from_sig, REG_SIG_LEN);
		n += REG_KEY_LEN + 8 + REG_SIG_LEN;
	}
	sw_sha256(buf, n, NULL, 0, out);
	return 0;
}
