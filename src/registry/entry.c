/*
 * Entries of a registry's transparency log: the leaves of the Merkle log (see entry.h).
 */
#include <string.h>

#include "common/err.h"
#include "registry/entry.h"

static const uint8_t zero_key[REG_KEY_LEN];

const char *reg_op_str(unsigned op)
{
	switch (op) {
	case REG_OP_REGISTER:
		return "register";
	case REG_OP_TRANSFER:
		return "transfer";
	case REG_OP_RENEW:
		return "renew";
	case REG_OP_RELEASE:
		return "release";
	case REG_OP_COMMIT:
		return "commit";
	}
	return "?";
}

/* The rules reg_entry_write() and reg_entry_parse() share. */
static int entry_check(const reg_entry_t *e)
{
	if (e->op < REG_OP_REGISTER || e->op > REG_OP_COMMIT)
		return SW_EINVAL;
	if (e->op == REG_OP_COMMIT)
		return e->label_len == 0 && e->expires == 0 &&
			       memcmp(e->owner, zero_key, REG_KEY_LEN) == 0
			   ? 0
			   : SW_EINVAL;
	return reg_label_check(e->label, e->label_len) < 0 ? SW_EINVAL : 0;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int reg_entry_write(const reg_entry_t *e, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = 19 + (size_t)e->label_len + REG_KEY_LEN + REG_HASH_LEN;
	if (e->label_len > REG_LABEL_MAX || entry_check(e) < 0)
		return SW_EINVAL;
	if (cap < n)
		return SW_ENOSPC;
	out[0] = REG_ENTRY_VERSION;
	out[1] = e->op;
	put_u64(out + 2, e->time);
	put_u64(out + 10, e->expires);
	out[18] = e->label_len;
	memcpy(out + 19, e->label, e->label_len);
	memcpy(out + 19 + e->label_len, e->owner, REG_KEY_LEN);
	memcpy(out + 19 + e->label_len + REG_KEY_LEN, e->evidence, REG_HASH_LEN);
	*len = n;
	return 0;
}

int reg_entry_parse(const uint8_t *in, size_t len, reg_entry_t *e)
{
	memset(e, 0, sizeof(*e));
	if (len < 19 || in[0] != REG_ENTRY_VERSION || in[18] > REG_LABEL_MAX ||
	    len != 19 + (size_t)in[18] + REG_KEY_LEN + REG_HASH_LEN)
		return SW_EMALF;
	e->op = in[1];
	e->time = get_u64(in + 2);
	e->expires = get_u64(in + 10);
	e->label_len = in[18];
	memcpy(e->label, in + 19, e->label_len);
	memcpy(e->owner, in + 19 + e->label_len, REG_KEY_LEN);
	memcpy(e->evidence, in + 19 + e->label_len + REG_KEY_LEN, REG_HASH_LEN);
	return entry_check(e) < 0 ? SW_EMALF : 0;
}

int reg_entry_from_record(unsigned op, uint64_t time, const uint8_t registry[REG_KEY_LEN],
			  const char *label, size_t len, const reg_record_t *rec, reg_entry_t *e)
{
	memset(e, 0, sizeof(*e));
	if (op < REG_OP_REGISTER || op > REG_OP_RELEASE || reg_label_check(label, len) < 0)
		return SW_EINVAL;
	e->op = (uint8_t)op;
	e->time = time;
	e->expires = rec->expires;
	e->label_len = (uint8_t)len;
	memcpy(e->label, label, len);
	memcpy(e->owner, rec->owner, REG_KEY_LEN);
	return reg_record_evidence_hash(registry, label, len, rec, e->evidence);
}

void reg_entry_commit(uint64_t time, const uint8_t commit[REG_HASH_LEN], reg_entry_t *e)
{
	memset(e, 0, sizeof(*e));
	e->op = REG_OP_COMMIT;
	e->time = time;
	memcpy(e->evidence, commit, REG_HASH_LEN);
}

int reg_entry_matches(const reg_entry_t *e, const uint8_t registry[REG_KEY_LEN], const char *label,
		      size_t len, const reg_record_t *rec)
{
	uint8_t ev[REG_HASH_LEN];
	/* A release's label item ends the registration at the release's time. */
	uint64_t expires = e->op == REG_OP_RELEASE ? e->time : e->expires;
	if (e->op != REG_OP_REGISTER && e->op != REG_OP_TRANSFER && e->op != REG_OP_RENEW &&
	    e->op != REG_OP_RELEASE)
		return SW_EBADSIG;
	if (e->label_len != len || memcmp(e->label, label, len) != 0 ||
	    memcmp(e->owner, rec->owner, REG_KEY_LEN) != 0 || expires != rec->expires)
		return SW_EBADSIG;
	if (reg_record_evidence_hash(registry, label, len, rec, ev) < 0 ||
	    memcmp(ev, e->evidence, REG_HASH_LEN) != 0)
		return SW_EBADSIG;
	return 0;
}
