/*
 * The auditor's checks of tree heads and of the log's entries (see audit.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "registry/audit.h"

const char *reg_audit_str(reg_audit_t a)
{
	switch (a) {
	case REG_AUDIT_OK:
		return "the new tree head extends the last one";
	case REG_AUDIT_SHRUNK:
		return "the registry signed a tree head of fewer entries than one it signed "
		       "before: "
		       "its log was rewritten";
	case REG_AUDIT_FORKED:
		return "the registry signed two tree heads that are not one log (a fork: different "
		       "roots at one size, or no consistency proof between them)";
	case REG_AUDIT_PROOF:
		return "the consistency proof between the two tree heads is malformed";
	case REG_AUDIT_BEYOND:
		return "its log index is beyond the last tree head verified";
	case REG_AUDIT_NOT_INCLUDED:
		return "the entry served at its log index is not in the log the registry signed "
		       "(the inclusion proof fails)";
	case REG_AUDIT_ENTRY_MALFORMED:
		return "the registry's signed log holds an entry at its log index that does not "
		       "parse";
	case REG_AUDIT_ENTRY_DIFFERS:
		return "the registry's signed log says something else at its log index: the label "
		       "item is not in the log";
	}
	return "unknown audit result";
}

reg_audit_t reg_audit_heads(const reg_sth_t *last, const reg_sth_t *next, const uint8_t *proof,
			    size_t count)
{
	if (next->size < last->size)
		return REG_AUDIT_SHRUNK;
	/* RFC 9162 §2.1.4.2 covers these too (an empty proof, equal roots; or nothing to prove
	 * from the empty tree), but without a proof to fetch. */
	if (next->size == last->size)
		return memcmp(next->root, last->root, REG_MLOG_HASH_LEN) == 0 ? REG_AUDIT_OK
									      : REG_AUDIT_FORKED;
	if (last->size == 0)
		return REG_AUDIT_OK;
	int ret = reg_mlog_consistency_verify(last->size, next->size, last->root, next->root, proof,
					      count);
	return ret == 0 ? REG_AUDIT_OK : ret == SW_EMALF ? REG_AUDIT_PROOF : REG_AUDIT_FORKED;
}

reg_audit_t reg_audit_label(const reg_sth_t *head, const uint8_t registry[REG_KEY_LEN],
			    const char *label, size_t len, const reg_record_t *rec,
			    const uint8_t *entry, size_t entry_len, const uint8_t *proof,
			    size_t count, reg_entry_t *e)
{
	reg_entry_t local;
	uint8_t leaf[REG_MLOG_HASH_LEN];
	if (e == NULL)
		e = &local;
	memset(e, 0, sizeof(*e));
	if (rec->index >= head->size)
		return REG_AUDIT_BEYOND;
	/* RFC 9162 §2.1.3.2: the served bytes are leaf `index` of the tree the registry signed. */
	reg_mlog_leaf_hash(entry, entry_len, leaf);
	if (reg_mlog_inclusion_verify(rec->index, head->size, leaf, proof, count, head->root) != 0)
		return REG_AUDIT_NOT_INCLUDED;
	if (reg_entry_parse(entry, entry_len, e) != 0)
		return REG_AUDIT_ENTRY_MALFORMED;
	if (reg_entry_matches(e, registry, label, len, rec) != 0)
		return REG_AUDIT_ENTRY_DIFFERS;
	return REG_AUDIT_OK;
}

/* ---- replay ---- */

typedef struct {
	char label[REG_LABEL_MAX + 1]; /* "" : a free slot */
	reg_replay_label_t st;
} slot_t;

struct reg_replay {
	uint8_t seed[16];
	slot_t *slots;
	size_t cap, count; /* cap a power of two, count at most cap / 2 */
	uint64_t next;	   /* the index the next entry must have */
};

reg_replay_t *reg_replay_new(const uint8_t seed[16])
{
	reg_replay_t *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	memcpy(r->seed, seed, 16);
	r->cap = 64;
	r->slots = calloc(r->cap, sizeof(*r->slots));
	if (r->slots == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

void reg_replay_free(reg_replay_t *r)
{
	if (r == NULL)
		return;
	free(r->slots);
	free(r);
}

static size_t slot_of(const reg_replay_t *r, const slot_t *slots, size_t cap, const char *label,
		      size_t len)
{
	uint8_t h[8];
	uint64_t v = 0;
	sw_siphash24(r->seed, (const uint8_t *)label, len, h);
	memcpy(&v, h, sizeof(v));
	size_t i = (size_t)v & (cap - 1);
	/* Linear probing: the table is at most half full, so a free slot is always found. */
	while (slots[i].label[0] &&
	       (strlen(slots[i].label) != len || memcmp(slots[i].label, label, len) != 0))
		i = (i + 1) & (cap - 1);
	return i;
}

static int grow(reg_replay_t *r)
{
	size_t cap = r->cap * 2;
	slot_t *slots = calloc(cap, sizeof(*slots));
	if (slots == NULL)
		return SW_ENOMEM;
	for (size_t i = 0; i < r->cap; i++)
		if (r->slots[i].label[0])
			slots[slot_of(r, slots, cap, r->slots[i].label,
				      strlen(r->slots[i].label))] = r->slots[i];
	free(r->slots);
	r->slots = slots;
	r->cap = cap;
	return 0;
}

__attribute__((format(printf, 3, 4))) static int say(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (cap)
		vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	return SW_EPOLICY;
}

int reg_replay_add(reg_replay_t *r, uint64_t index, const reg_entry_t *e, char *why, size_t cap)
{
	int ret = 0;
	if (index != r->next)
		return SW_EINVAL;
	r->next++;
	if (e->op == REG_OP_COMMIT)
		return 0;
	if (2 * (r->count + 1) > r->cap && (ret = grow(r)) < 0)
		return ret;
	size_t i = slot_of(r, r->slots, r->cap, e->label, e->label_len);
	slot_t *s = &r->slots[i];
	bool known = s->label[0] != '\0';
	reg_replay_label_t *st = &s->st;
	/* Live at the entry's time: registered, and not expired then. */
	bool live = known && st->registered && (st->expires == 0 || e->time < st->expires);
	const char *op = reg_op_str(e->op);

	switch (e->op) {
	case REG_OP_REGISTER:
		if (live)
			ret =
			    say(why, cap,
				"%s registered again at entry %llu while registered since entry "
				"%llu, without a release or an expiry between",
				e->label, (unsigned long long)index, (unsigned long long)st->index);
		break;
	case REG_OP_TRANSFER:
	case REG_OP_RENEW:
	case REG_OP_RELEASE:
		if (!known || !st->registered)
			ret = say(why, cap, "%s of %s at entry %llu, which is not registered", op,
				  e->label, (unsigned long long)index);
		else if (!live && e->op != REG_OP_RELEASE)
			ret = say(why, cap, "%s of %s at entry %llu after it expired", op, e->label,
				  (unsigned long long)index);
		else if (e->op != REG_OP_TRANSFER && memcmp(e->owner, st->owner, REG_KEY_LEN) != 0)
			ret = say(why, cap,
				  "%s of %s at entry %llu changes its owner (only a transfer may)",
				  op, e->label, (unsigned long long)index);
		else if (e->op == REG_OP_TRANSFER && e->expires != st->expires)
			ret = say(why, cap, "transfer of %s at entry %llu changes its expiry",
				  e->label, (unsigned long long)index);
		else if (e->op == REG_OP_RENEW && (st->expires == 0 || e->expires <= st->expires))
			ret = say(why, cap,
				  "renewal of %s at entry %llu does not move its expiry forward",
				  e->label, (unsigned long long)index);
		break;
	default:
		return say(why, cap, "entry %llu has an unknown operation",
			   (unsigned long long)index);
	}
	/* An operation on a name that is not registered changes nothing the next entries are
	 * judged against. */
	if (e->op != REG_OP_REGISTER && (!known || !st->registered))
		return ret;
	if (!known) {
		memcpy(s->label, e->label, e->label_len);
		s->label[e->label_len] = '\0';
		r->count++;
		st->prev_index = UINT64_MAX;
	} else {
		st->prev_index = st->index;
		memcpy(st->prev_owner, st->owner, REG_KEY_LEN);
	}
	st->registered = e->op != REG_OP_RELEASE;
	memcpy(st->owner, e->owner, REG_KEY_LEN);
	st->expires = e->expires;
	st->index = index;
	st->last_op = e->op;
	return ret;
}

int reg_replay_find(const reg_replay_t *r, const char *label, size_t len, reg_replay_label_t *out)
{
	if (len == 0 || len > REG_LABEL_MAX)
		return SW_ENOTFOUND;
	const slot_t *s = &r->slots[slot_of(r, r->slots, r->cap, label, len)];
	if (s->label[0] == '\0')
		return SW_ENOTFOUND;
	*out = s->st;
	return 0;
}

int reg_replay_foreach(const reg_replay_t *r,
		       int (*cb)(void *ctx, const char *label, const reg_replay_label_t *st),
		       void *ctx)
{
	for (size_t i = 0; i < r->cap; i++) {
		int ret;
		if (r->slots[i].label[0] && (ret = cb(ctx, r->slots[i].label, &r->slots[i].st)))
			return ret;
	}
	return 0;
}

size_t reg_replay_count(const reg_replay_t *r)
{
	return r->count;
}
