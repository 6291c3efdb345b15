/*
 * Text codecs: hex, z-base32 (the key-name alphabet of docs/design.md §1, as pkarr and
 * zbase32 spec "human-oriented base-32 encoding" define it: alphabet
 * ybndrfg8ejkmcpqxot1uwisza345h769, most significant bit first, no padding) and
 * base64url without padding (RFC 4648 §5). Pure functions; any thread.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define SW_Z32_KEY_LEN 52 /* characters of a 32-byte key in z-base32 */

/* Writes 2*len hex digits and a NUL into out (cap >= 2*len+1). Returns 0 or SW_ENOSPC. */
int sw_hex_encode(const uint8_t *in, size_t len, char *out, size_t cap);
/* Decodes exactly `outlen` bytes from 2*outlen hex digits (either case).
 * Returns 0 or SW_EMALF (wrong length or non-hex digit). */
int sw_hex_decode(const char *in, size_t inlen, uint8_t *out, size_t outlen);

/* Encodes a 32-byte key into 52 z-base32 characters plus NUL. */
void sw_z32_encode_key(const uint8_t key[32], char out[SW_Z32_KEY_LEN + 1]);
/* Decodes a 52-character z-base32 key name (case-insensitive). Returns 0 or SW_EMALF
 * (wrong length, a character outside the alphabet, or non-zero padding bits). */
int sw_z32_decode_key(const char *in, size_t inlen, uint8_t out[32]);

/* base64url (RFC 4648 §5) without padding. encode: returns 0 or SW_ENOSPC.
 * decode: accepts no padding; returns 0 or SW_EMALF / SW_ENOSPC. */
int sw_b64url_encode(const uint8_t *in, size_t len, char *out, size_t cap);
int sw_b64url_decode(const char *in, size_t inlen, uint8_t *out, size_t cap, size_t *outlen);
