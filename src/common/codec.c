#include <string.h>

#include "common/codec.h"
#include "common/err.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int sw_hex_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
	static const char digits[] = "0123456789abcdef";
	if (cap < 2 * len + 1)
		return SW_ENOSPC;
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
	return 0;
}

int sw_hex_decode(const char *in, size_t inlen, uint8_t *out, size_t outlen)
{
	if (inlen != 2 * outlen)
		return SW_EMALF;
	for (size_t i = 0; i < outlen; i++) {
		int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return SW_EMALF;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static const char z32_alphabet[] = "ybndrfg8ejkmcpqxot1uwisza345h769";

void sw_z32_encode_key(const uint8_t key[32], char out[SW_Z32_KEY_LEN + 1])
{
	unsigned acc = 0, bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < 32; i++) {
		acc = (acc << 8) | key[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[o++] = z32_alphabet[(acc >> bits) & 31];
		}
	}
	/* 256 bits leave 1 bit over; it is the top of a final 5-bit group. */
	if (bits > 0)
		out[o++] = z32_alphabet[(acc << (5 - bits)) & 31];
	out[o] = '\0';
}

/* The value of each z-base32 character plus one (0: not one), either case: decoding runs for
 * every query for a key name, where a strchr() per character was 2 % of the CPU time. */
static const uint8_t z32_values[256] = {
    ['y'] = 1,	['Y'] = 1,  ['b'] = 2,	['B'] = 2,  ['n'] = 3,	['N'] = 3,  ['d'] = 4,	['D'] = 4,
    ['r'] = 5,	['R'] = 5,  ['f'] = 6,	['F'] = 6,  ['g'] = 7,	['G'] = 7,  ['8'] = 8,	['e'] = 9,
    ['E'] = 9,	['j'] = 10, ['J'] = 10, ['k'] = 11, ['K'] = 11, ['m'] = 12, ['M'] = 12, ['c'] = 13,
    ['C'] = 13, ['p'] = 14, ['P'] = 14, ['q'] = 15, ['Q'] = 15, ['x'] = 16, ['X'] = 16, ['o'] = 17,
    ['O'] = 17, ['t'] = 18, ['T'] = 18, ['1'] = 19, ['u'] = 20, ['U'] = 20, ['w'] = 21, ['W'] = 21,
    ['i'] = 22, ['I'] = 22, ['s'] = 23, ['S'] = 23, ['z'] = 24, ['Z'] = 24, ['a'] = 25, ['A'] = 25,
    ['3'] = 26, ['4'] = 27, ['5'] = 28, ['h'] = 29, ['H'] = 29, ['7'] = 30, ['6'] = 31, ['9'] = 32};

static int z32val(char c)
{
	return (int)z32_values[(unsigned char)c] - 1;
}

int sw_z32_decode_key(const char *in, size_t inlen, uint8_t out[32])
{
	if (inlen != SW_Z32_KEY_LEN)
		return SW_EMALF;
	unsigned acc = 0, bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < inlen; i++) {
		int v = z32val(in[i]);
		if (v < 0)
			return SW_EMALF;
		acc = (acc << 5) | (unsigned)v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* The 4 bits left over must be zero, so that each key has exactly one spelling. */
	if ((acc & ((1u << bits) - 1)) != 0)
		return SW_EMALF;
	return 0;
}

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int sw_b64url_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
	size_t need = (len * 8 + 5) / 6 + 1, o = 0;
	if (cap < need)
		return SW_ENOSPC;
	unsigned acc = 0, bits = 0;
	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = b64url_alphabet[(acc >> bits) & 63];
		}
	}
	if (bits > 0)
		out[o++] = b64url_alphabet[(acc << (6 - bits)) & 63];
	out[o] = '\0';
	return 0;
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int sw_b64url_decode(const char *in, size_t inlen, uint8_t *out, size_t cap, size_t *outlen)
{
	unsigned acc = 0, bits = 0;
	size_t o = 0;
	if (inlen % 4 == 1)
		return SW_EMALF;
	for (size_t i = 0; i < inlen; i++) {
		int v = b64val(in[i]);
		if (v < 0)
			return SW_EMALF;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= cap)
				return SW_ENOSPC;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	*outlen = o;
	return 0;
}
