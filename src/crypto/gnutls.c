#include <string.h>

#include <gnutls/crypto.h>

#include "crypto/crypto.h"

void sw_sha1(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, uint8_t out[20])
{
	gnutls_hash_hd_t h;
	/* GnuTLS only fails here when SHA-1 is disabled by policy, which breaks BEP 44 outright. */
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA1) < 0) {
		memset(out, 0, 20);
		return;
	}
	gnutls_hash(h, a, alen);
	if (b)
		gnutls_hash(h, b, blen);
	gnutls_hash_deinit(h, out);
}
