/*
 * Names under a registry, as the resolver splits them (docs/design.md §9 "Label items",
 * docs/registries.md): `x.L.<R>.` is the name x under label L of the registry whose key is R,
 * written in z-base32 as key names are (docs/design.md §1). A root (`root p2p=<R>`) or a
 * key-suffix has already been mapped onto the key by then, so `x.alice.p2p.` arrives here as
 * `x.alice.<R>.`. The split says which BEP 44 item holds the name: R's apex zone (no salt) for
 * R itself and the registry's own names (labels starting with `_`), the label item (salt = L)
 * for everything at or below `L.<R>.`. Whether L is a label the registry may give out is the
 * registry's to say (registry/label.h reg_label_check, registry/check.h).
 *
 * Pure; any thread; the name may come from the network (bounded, no read past its end).
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define RESOLVER_REG_LABEL_MAX 63 /* RFC 1035 §2.3.4: a label is at most 63 bytes */

typedef struct {
	uint8_t registry[32];			/* R */
	char label[RESOLVER_REG_LABEL_MAX + 1]; /* L in lower case, NUL-terminated; "" for R */
	size_t label_len;			/* 0: the name is R's apex itself */
	/* Where `L.<R>.` starts in the wire name (its length byte): the bytes before are x's
	 * labels; equal to the offset of R's label when label_len is 0. */
	size_t label_off;
} resolver_regname_t;

/* Splits the uncompressed wire name (at most DNS_NAME_MAX bytes) into registry, label and the
 * rest. Letters of the label are lowered (RFC 4343: DNS names compare without case), so that
 * `WWW.Alice.<R>.` and `www.alice.<R>.` ask for the same label item. Returns 0, or SW_EINVAL
 * when the name's last label is not a key (52 z-base32 characters that decode) or the name is
 * not well formed. */
int resolver_regname_parse(const uint8_t *name, resolver_regname_t *out);

/* Whether the split name is held by the label item (a label that does not start with `_`)
 * rather than by R's apex zone. */
static inline int resolver_regname_in_label(const resolver_regname_t *n)
{
	return n->label_len > 0 && n->label[0] != '_';
}
