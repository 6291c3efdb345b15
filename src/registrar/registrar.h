/*
 * A registry run by this node (docs/design.md §9, docs/registries.md "Running a registry"):
 * the node holds the registry's key (option `registrar KEYFILE`), its policy, its log and the
 * label items it accepted, and carries out each operation: it checks the request's signature
 * and the claim against the policy with the same checks every resolver makes (registry/
 * check.h), appends the log entry, stores the new label item in the same LMDB transaction
 * (store/mlog.h store_mlog_append_with), signs a new tree head, and hands each item it signed
 * to the caller's put callback (the daemon puts them into the DHT and re-puts them with its
 * own zones).
 *
 * LMDB layout, database `registrar`, every key prefixed with the registry key R:
 *
 *   R | 'p'            -> the policy item (store/item.h's record)
 *   R | 'l' | label    -> the label item of a live registration (store/item.h's record)
 *   R | 'q' | label    -> a moderated claim waiting for approvals: its label item's packet
 *
 * A dns-proof registry's claims are checked against the TXT records the caller looked up at
 * the claim's reg_dns_proof_name() through its upstream (the node's forwarder, src/api/
 * registrar.c): this module does no I/O of its own and gets them as reg_dns_txt_t.
 *
 * Requests are signed by whoever asks (registrar_op_msg): the claimant over its claim (and,
 * for a `closed` registry, the registry key too: only its holder gives out names), the owner
 * over a renewal or a release, a moderator over a rejection; approvals and transfers carry
 * the signatures of registry/label.h. The clock is passed in. Loop thread; not thread-safe.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "item/item.h"
#include "registry/check.h"
#include "store/mlog.h"
#include "store/store.h"

typedef struct registrar registrar_t;

/* Called with each item the registrar signed (policy, tree head, label item), to be put
 * into the DHT; the item is valid during the call. */
typedef void (*registrar_put_cb)(void *ctx, const item_t *it);

/* What an operation did, or why it was refused. */
typedef struct {
	uint64_t index;	    /* the log entry it appended */
	uint64_t time;	    /* when (unix seconds) */
	bool pending;	    /* a moderated claim stored, waiting for approvals */
	unsigned approvals; /* moderated: signatures so far, and how many are needed */
	unsigned needed;
	reg_why_t why; /* SW_EPOLICY: which rule refused it */
	char msg[512]; /* any refusal: what is wrong and what to do */
} registrar_res_t;

/* A claim of a label (registrar_register). */
typedef struct {
	char label[REG_LABEL_MAX + 1];
	uint8_t owner[REG_KEY_LEN];
	uint8_t owner_sig[REG_SIG_LEN]; /* over registrar_op_msg("claim", label, owner, 0) */
	bool has_registry_sig;		/* closed: the registry key's signature, same message */
	uint8_t registry_sig[REG_SIG_LEN];
	bool has_open; /* open: the reveal of commit-then-reveal and the proof of work */
	uint8_t secret[REG_HASH_LEN];
	uint64_t commit_index, pow_nonce;
	/* dns-proof: the domain in ordinary DNS that shows the claim (`alice.example.org`, text
	 * without the final dot; "" none), and the TXT records found at its dns-proof name
	 * (NULL: not looked up) */
	char dns[REG_DOMAIN_MAX + 1];
	const reg_dns_txt_t *txt;
} registrar_claim_t;

/* Opens the registry of key sk (libsodium form, seed || public key) held in s; a tree head
 * that does not cover the whole log (a crash after an append) is signed again at now.
 * Returns 0, SW_ENOMEM or SW_ESTORE. */
int registrar_open(store_t *s, const uint8_t sk[64], uint64_t now, registrar_t **out);
void registrar_close(registrar_t *r);
void registrar_set_put(registrar_t *r, registrar_put_cb cb, void *ctx);
const uint8_t *registrar_key(const registrar_t *r);

/* The policy published by registrar_init(). Returns 0, SW_ENOTFOUND or SW_ESTORE. */
int registrar_policy(const registrar_t *r, reg_policy_t *pol);
/* The log (entries, proofs), NULL before registrar_init(). */
const store_mlog_t *registrar_log(const registrar_t *r);

/* Publishes pol (a new version when there is one) and the log (empty the first time) with a
 * tree head. Returns 0, SW_EINVAL (pol inconsistent) or a store error. A dns-proof policy
 * needs a caller that can look TXT records up (the API refuses it on a node without an
 * upstream). */
int registrar_init(registrar_t *r, const reg_policy_t *pol, uint64_t now, registrar_res_t *res);

/* open: logs a commitment (label.h reg_commit_hash); res->index and res->time are what the
 * reveal gives as commit-index and what the record will hold as committed. */
int registrar_commit(registrar_t *r, const uint8_t commit[REG_HASH_LEN], uint64_t now,
		     registrar_res_t *res);

/* A claim: checked (signatures, the policy's evidence, the name free) and logged, or for a
 * moderated registry kept until approved (res->pending). Returns 0; SW_EPOLICY (res->why);
 * SW_EBADSIG (a request signature); SW_ENOTFOUND (no policy yet); SW_EEXIST (another claim
 * of the name waits for moderators); SW_EINVAL; or a store error. res->msg says why. */
int registrar_register(registrar_t *r, const registrar_claim_t *c, uint64_t now,
		       registrar_res_t *res);

/* A moderator's approval (sig over label.h reg_mod_msg) or rejection (sig over
 * registrar_op_msg("reject", label, claimant, registered)) of a waiting claim, mod its place
 * in the policy's list. k approvals register the name. Returns as registrar_register();
 * SW_ENOTFOUND when no claim waits. txt: as for transfer. */
int registrar_moderate(registrar_t *r, const char *label, bool approve, unsigned mod,
		       const uint8_t sig[REG_SIG_LEN], const reg_dns_txt_t *txt, uint64_t now,
		       registrar_res_t *res);

/* Transfer to `to`, signed by the current owner over label.h reg_xfer_msg. txt: a dns-proof
 * registry's TXT records at the label's dns-proof name, checked again as every resolver
 * checks the new label item (NULL: not looked up, refused in a dns-proof registry). */
int registrar_transfer(registrar_t *r, const char *label, const uint8_t to[REG_KEY_LEN],
		       const uint8_t sig[REG_SIG_LEN], const reg_dns_txt_t *txt, uint64_t now,
		       registrar_res_t *res);
/* Renewal or release, signed by the owner over registrar_op_msg("renew"/"release", label,
 * owner, the index of the current registration). txt: renewal as transfer. */
int registrar_renew(registrar_t *r, const char *label, const uint8_t sig[REG_SIG_LEN],
		    const reg_dns_txt_t *txt, uint64_t now, registrar_res_t *res);
int registrar_release(registrar_t *r, const char *label, const uint8_t sig[REG_SIG_LEN],
		      uint64_t now, registrar_res_t *res);

/* The label's current record (and its item when it is not NULL), or with *pending set the
 * waiting claim. Returns 0, SW_ENOTFOUND or SW_ESTORE. */
int registrar_label(const registrar_t *r, const char *label, reg_record_t *rec, item_t *it,
		    bool *pending);

/* Calls cb with every item to keep alive: the policy, the latest tree head, each label item. */
int registrar_foreach_item(const registrar_t *r, registrar_put_cb cb, void *ctx);
/* Calls cb with the policy and the latest tree head (those it has). Returns 0. */
int registrar_own_items(const registrar_t *r, registrar_put_cb cb, void *ctx);
/* A walk over the label items in pieces, for a registry too large to copy at once: calls cb
 * with at most max label items, in label order, after the label in cursor ("" at the start;
 * updated to the last one given). *end is set when no label item follows. Returns 0 or
 * SW_ESTORE. */
int registrar_next_items(const registrar_t *r, char cursor[REG_LABEL_MAX + 1], size_t max,
			 registrar_put_cb cb, void *ctx, bool *end);

/* The message a request signs: "swarmdns registry <what> v1" || R || len(L) || L || key ||
 * n (8 bytes, big-endian), what one of "claim" (key the owner, n 0), "renew" and "release"
 * (key the owner, n the current registration's index) and "reject" (key the claimant, n the
 * claim's time). Returns 0 or SW_EINVAL. */
int registrar_op_msg(const char *what, const uint8_t registry[REG_KEY_LEN], const char *label,
		     size_t len, const uint8_t key[REG_KEY_LEN], uint64_t n,
		     uint8_t out[REG_MSG_MAX], size_t *msg_len);
