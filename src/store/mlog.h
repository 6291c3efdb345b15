/*
 * A registry's transparency log in LMDB (docs/design.md §9 "Transparency log",
 * docs/registries.md): the entries, the subtree hashes of the Merkle log (registry/mlog.h,
 * RFC 9162 §2.1) and the signed tree heads (the registry's `_log` items, src/item/item.h), in
 * the `mlog` database, every key prefixed with the registry's key R:
 *
 *   R | 's'                       -> size (8, BE): the number of entries; the log exists
 *   R | 'e' | index (8, BE)       -> entry (the bytes whose leaf hash is leaf `index`)
 *   R | 'n' | level (1) | i (8)   -> the hash of subtree (level, i), registry/mlog.h
 *   R | 'h' | size (8, BE)        -> a tree head item of that size (store/item.h's record)
 *   R | 'l'                       -> size (8, BE) of the latest tree head
 *   R | 'a'                       -> the last tree head an auditor verified (option `audit`:
 *                                    docs/registries.md "What an auditor checks"), a
 *                                    store/item.h record, kept without the entries
 *   R | 'c' | id (32)             -> the auditor's verdict on a label item it resolved (id: a
 *                                    hash of the item, store_mlog_audit_item_put): verdict
 *                                    (1, registry/audit.h reg_audit_t) | when (8, BE unix s),
 *                                    then for an inconsistent one the label item itself (a
 *                                    store/item.h record), the evidence
 *   R | 'k'                       -> the auditor's counts of label items (checked,
 *                                    inconsistent, the last problem), store_mlog_audit_counts_t
 *
 * An append writes its entries, the hashes they complete and the new size in one transaction,
 * durably: a log read back after kill -9 is one that was acknowledged, never half an append.
 * The registrar's log and a mirror's are the same thing here. Loop thread, like store.h; one
 * handle per log at a time for writing.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "item/item.h"
#include "registry/mlog.h"
#include "store/store.h"

#define STORE_MLOG_ENTRY_MAX 4096 /* a log entry is a few hundred bytes (registry/entry.h) */
#define STORE_MLOG_BATCH_MAX 256  /* entries per append transaction */

typedef struct store_mlog store_mlog_t;

/* Opens the log of registry R held in s; with create, an empty log is made (durably) when
 * there is none. Returns 0, SW_ENOTFOUND (no log of R here, create not set), SW_ENOMEM or
 * SW_ESTORE. */
int store_mlog_open(store_t *s, const uint8_t registry[32], bool create, store_mlog_t **out);
void store_mlog_close(store_mlog_t *m);

/* The Merkle log over the stored hashes, for reg_mlog_root() and the proofs (valid until the
 * handle is closed; read-only to the caller). */
const reg_mlog_t *store_mlog_log(const store_mlog_t *m);
/* The number of entries. */
uint64_t store_mlog_size(const store_mlog_t *m);

/* Appends n entries (1..STORE_MLOG_BATCH_MAX, each 1..STORE_MLOG_ENTRY_MAX bytes) in one
 * durable transaction; *first (may be NULL) gets the index of the first. All or nothing.
 * Returns 0, SW_EINVAL (n or a length out of bounds), SW_ELIMIT, SW_ENOMEM or SW_ESTORE. */
int store_mlog_append(store_mlog_t *m, const uint8_t *const *entries, const size_t *lens, size_t n,
		      uint64_t *first);
/* The same, with up to STORE_MLOG_EXTRA_MAX more writes of the caller's (another database's
 * records that the entries describe, such as the registrar's label items) in the same
 * transaction: the log and what it describes never disagree after a crash. */
#define STORE_MLOG_EXTRA_MAX 4
int store_mlog_append_with(store_mlog_t *m, const uint8_t *const *entries, const size_t *lens,
			   size_t n, const store_op_t *extra, size_t nextra, uint64_t *first);
/* The same, and the tree head over the grown log in the same transaction: head() is called
 * with the new size and root (RFC 9162 §2.1.1) before the commit and fills *out (the caller
 * signs it); it becomes the latest head. One synced write per registration instead of two.
 * head() returning non-zero aborts the append with that code. */
typedef int (*store_mlog_head_fn)(void *ctx, uint64_t size, const uint8_t root[32], item_t *out);
int store_mlog_append_head(store_mlog_t *m, const uint8_t *const *entries, const size_t *lens,
			   size_t n, const store_op_t *extra, size_t nextra,
			   store_mlog_head_fn head, void *ctx, uint64_t *first);
/* Copies entry `index` into out. Returns 0, SW_EINVAL (index beyond the log), SW_ENOSPC,
 * SW_ENOTFOUND (a store that lost it) or SW_ESTORE. */
int store_mlog_entry(const store_mlog_t *m, uint64_t index, uint8_t *out, size_t cap, size_t *len);

/* Keeps a tree head item of `size` entries (its signature and packet are the caller's to
 * check, registry/sth.h); it becomes the latest when its size is larger than the latest's, or
 * equal with a higher seq. Returns 0, SW_EINVAL (size beyond the log) or SW_ESTORE. */
int store_mlog_head_put(store_mlog_t *m, uint64_t size, const item_t *head);
/* The tree head kept for `size`. Returns 0, SW_ENOTFOUND or SW_ESTORE. */
int store_mlog_head_get(const store_mlog_t *m, uint64_t size, item_t *head);
/* The latest tree head and its size. Returns 0, SW_ENOTFOUND (none yet) or SW_ESTORE. */
int store_mlog_head_latest(const store_mlog_t *m, uint64_t *size, item_t *head);

/* The auditor's last verified tree head of registry R (the `_log` item as found in the DHT;
 * its signature and consistency are the caller's to check, registry/audit.h). It needs no
 * log held here. Returns 0, SW_ENOTFOUND (none yet) or SW_ESTORE. */
int store_mlog_audit_get(store_t *s, const uint8_t registry[32], item_t *head);
/* Keeps head as the last verified one, durably. Returns 0 or SW_ESTORE. */
int store_mlog_audit_put(store_t *s, const uint8_t registry[32], const item_t *head);

/* What the auditor has found of the label items of registry R it checked, since the first. */
typedef struct {
	uint64_t checked;      /* label items checked against the log */
	uint64_t inconsistent; /* of which not what the log says */
	uint64_t failed;       /* unix time of the last inconsistent one; 0: none */
	char last_error[240];  /* what it was */
} store_mlog_audit_counts_t;

/* The verdict kept on the label item of id (a hash of the item, the caller's) of registry R.
 * Returns 0 with *verdict, SW_ENOTFOUND (not checked yet) or SW_ESTORE. */
int store_mlog_audit_item_find(store_t *s, const uint8_t registry[32], const uint8_t id[32],
			       uint8_t *verdict);
/* Keeps the verdict on the label item of id, checked at `when`, with the item itself when
 * evidence is not NULL (an inconsistency), and the counts after it, in one durable
 * transaction. Returns 0, SW_ENOSPC or SW_ESTORE. */
int store_mlog_audit_item_put(store_t *s, const uint8_t registry[32], const uint8_t id[32],
			      uint8_t verdict, uint64_t when, const item_t *evidence,
			      const store_mlog_audit_counts_t *counts);
/* The counts kept for R (all zero when none yet). Returns 0 or SW_ESTORE. */
int store_mlog_audit_counts_get(store_t *s, const uint8_t registry[32],
				store_mlog_audit_counts_t *out);
