/*
 * Unit tests of src/common: hex, z-base32 (docs/design.md §1 key names; vectors from
 * tests/vectors/vectors.json "zbase32" and "pkarr_packet"), base64url (RFC 4648 §5,
 * test strings of RFC 4648 §10 without padding), the arena and sw_strerror.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/codec.h"
#include "common/err.h"
#include "util.h"

static const char z32_alphabet[] = "ybndrfg8ejkmcpqxot1uwisza345h769";

/* ---- hex ---- */

static void test_hex_round_trip(void **state)
{
	uint8_t in[256], back[256];
	char text[513];
	for (int i = 0; i < 256; i++)
		in[i] = (uint8_t)i;
	assert_int_equal(sw_hex_encode(in, sizeof(in), text, sizeof(text)), 0);
	assert_int_equal(strlen(text), 512);
	assert_memory_equal(text, "000102030405060708090a0b0c0d0e0f", 32);
	assert_memory_equal(text + 480, "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", 32);
	assert_int_equal(sw_hex_decode(text, 512, back, sizeof(back)), 0);
	assert_memory_equal(in, back, sizeof(in));
	/* Empty input is a valid empty string. */
	assert_int_equal(sw_hex_encode(in, 0, text, 1), 0);
	assert_string_equal(text, "");
}

static void test_hex_decode_upper_case(void **state)
{
	uint8_t out[4];
	assert_int_equal(sw_hex_decode("DEADbeef", 8, out, 4), 0);
	assert_memory_equal(out, "\xde\xad\xbe\xef", 4);
}

static void test_hex_bad_input(void **state)
{
	uint8_t out[4];
	char text[9];
	/* Wrong length for the requested byte count, in both directions. */
	assert_int_equal(sw_hex_decode("deadbee", 7, out, 4), SW_EMALF);
	assert_int_equal(sw_hex_decode("deadbeef00", 10, out, 4), SW_EMALF);
	/* Non-hex digits anywhere. */
	assert_int_equal(sw_hex_decode("deadbeeg", 8, out, 4), SW_EMALF);
	assert_int_equal(sw_hex_decode("x0000000", 8, out, 4), SW_EMALF);
	assert_int_equal(sw_hex_decode("00 00000", 8, out, 4), SW_EMALF);
	assert_int_equal(sw_hex_decode("0000000\0", 8, out, 4), SW_EMALF);
	/* Encoding needs room for the NUL. */
	assert_int_equal(sw_hex_encode((const uint8_t *)"\1\2\3\4", 4, text, 8), SW_ENOSPC);
	assert_int_equal(sw_hex_encode((const uint8_t *)"\1\2\3\4", 4, text, 9), 0);
	assert_string_equal(text, "01020304");
}

/* ---- z-base32 ---- */

static void check_z32_vector(const char *hex, const char *z32)
{
	uint8_t key[32], back[32];
	char text[SW_Z32_KEY_LEN + 1];
	tu_hex(hex, key, sizeof(key));
	memset(text, 'X', sizeof(text));
	sw_z32_encode_key(key, text);
	assert_int_equal(text[SW_Z32_KEY_LEN], '\0');
	assert_string_equal(text, z32);
	assert_int_equal(sw_z32_decode_key(z32, strlen(z32), back), 0);
	assert_memory_equal(back, key, 32);
}

static void test_z32_vectors(void **state)
{
	/* vectors.json "zbase32" */
	check_z32_vector(VEC_Z32_1_HEX, VEC_Z32_1);
	check_z32_vector(VEC_Z32_2_HEX, VEC_Z32_2);
	/* vectors.json "pkarr_packet": public_key <-> z32 */
	check_z32_vector(VEC_PKARR_PK, VEC_PKARR_Z32);
}

/* A reference encoder written from the spec, bit by bit, MSB first. */
static void z32_reference(const uint8_t key[32], char out[53])
{
	for (int c = 0; c < 52; c++) {
		unsigned v = 0;
		for (int b = 0; b < 5; b++) {
			int bit = c * 5 + b;
			unsigned x = bit < 256 ? (key[bit / 8] >> (7 - bit % 8)) & 1 : 0;
			v = v << 1 | x;
		}
		out[c] = z32_alphabet[v];
	}
	out[52] = '\0';
}

static void test_z32_round_trip(void **state)
{
	uint8_t key[32], back[32];
	char text[53], ref[53];
	uint32_t x = 0x12345678;
	for (int n = 0; n < 500; n++) {
		for (int i = 0; i < 32; i++) {
			x = x * 1103515245u + 12345u;
			key[i] = (uint8_t)(x >> 16);
		}
		if (n == 0)
			memset(key, 0, 32);
		if (n == 1)
			memset(key, 0xff, 32);
		sw_z32_encode_key(key, text);
		z32_reference(key, ref);
		assert_string_equal(text, ref);
		assert_int_equal(sw_z32_decode_key(text, 52, back), 0);
		assert_memory_equal(back, key, 32);
	}
}

static void test_z32_case_insensitive(void **state)
{
	char upper[53];
	uint8_t key[32], want[32];
	tu_hex(VEC_Z32_1_HEX, want, 32);
	for (int i = 0; i < 52; i++) {
		char c = VEC_Z32_1[i];
		upper[i] = (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
	}
	upper[52] = '\0';
	assert_int_equal(sw_z32_decode_key(upper, 52, key), 0);
	assert_memory_equal(key, want, 32);
}

static void test_z32_wrong_length(void **state)
{
	uint8_t key[32];
	char longer[60];
	snprintf(longer, sizeof(longer), "%sy", VEC_Z32_2);
	assert_int_equal(sw_z32_decode_key(VEC_Z32_2, 51, key), SW_EMALF);
	assert_int_equal(sw_z32_decode_key(longer, 53, key), SW_EMALF);
	assert_int_equal(sw_z32_decode_key("", 0, key), SW_EMALF);
	assert_int_equal(sw_z32_decode_key(VEC_Z32_2, 32, key), SW_EMALF);
}

static void test_z32_bad_characters(void **state)
{
	uint8_t key[32];
	char buf[53];
	/* 'l', 'v', '0' and '2' are left out of the alphabet on purpose; '.' and '-' are never
	 * in it; a NUL inside the given length is not a character of the name. */
	const char bad[] = {'l', 'v', '0', '2', '.', '-', ' ', '=', '\0', (char)0xc3};
	for (size_t b = 0; b < sizeof(bad); b++) {
		for (int pos = 0; pos < 52; pos += 17) {
			memcpy(buf, VEC_Z32_1, 53);
			buf[pos] = bad[b];
			assert_int_equal(sw_z32_decode_key(buf, 52, key), SW_EMALF);
		}
	}
	/* The last position too (it carries padding, but a bad character is bad anyway). */
	memcpy(buf, VEC_Z32_1, 53);
	buf[51] = 'l';
	assert_int_equal(sw_z32_decode_key(buf, 52, key), SW_EMALF);
}

static void test_z32_padding_bits(void **state)
{
	/* 52 characters carry 260 bits: the last character holds one key bit and four padding
	 * bits, which must be zero so that each key has exactly one spelling. */
	uint8_t key[32], want[32];
	char buf[53];
	tu_hex(VEC_Z32_2_HEX, want, 32);
	int accepted = 0;
	for (int v = 0; v < 32; v++) {
		memcpy(buf, VEC_Z32_2, 53);
		buf[51] = z32_alphabet[v];
		int ret = sw_z32_decode_key(buf, 52, key);
		if ((v & 15) == 0) {
			assert_int_equal(ret, 0);
			accepted++;
			/* The key bit is the lowest bit of the last byte. */
			assert_memory_equal(key, want, 31);
			assert_int_equal(key[31], (want[31] & 0xfe) | (v >> 4));
		} else {
			assert_int_equal(ret, SW_EMALF);
		}
	}
	assert_int_equal(accepted, 2);
}

/* ---- base64url ---- */

static void check_b64(const char *plain, const char *coded)
{
	char text[64];
	uint8_t back[64];
	size_t n = 12345;
	assert_int_equal(
	    sw_b64url_encode((const uint8_t *)plain, strlen(plain), text, sizeof(text)), 0);
	assert_string_equal(text, coded);
	assert_int_equal(sw_b64url_decode(coded, strlen(coded), back, sizeof(back), &n), 0);
	assert_int_equal(n, strlen(plain));
	assert_memory_equal(back, plain, n);
}

static void test_b64url_rfc4648_vectors(void **state)
{
	/* RFC 4648 §10, padding removed (RFC 4648 §3.2 allows it where the length is known). */
	check_b64("", "");
	check_b64("f", "Zg");
	check_b64("fo", "Zm8");
	check_b64("foo", "Zm9v");
	check_b64("foob", "Zm9vYg");
	check_b64("fooba", "Zm9vYmE");
	check_b64("foobar", "Zm9vYmFy");
}

static void test_b64url_alphabet(void **state)
{
	/* The two characters that differ from base64 (RFC 4648 §5): 62 is '-', 63 is '_'. */
	const uint8_t in[] = {0xfb, 0xff, 0xbf};
	char text[8];
	uint8_t back[8];
	size_t n;
	assert_int_equal(sw_b64url_encode(in, 3, text, sizeof(text)), 0);
	assert_string_equal(text, "-_-_");
	assert_int_equal(sw_b64url_decode("-_-_", 4, back, sizeof(back), &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(back, in, 3);
}

static void test_b64url_round_trip(void **state)
{
	uint8_t in[300], back[300];
	char text[420];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + 3);
	for (size_t len = 0; len <= sizeof(in); len += 1 + len / 8) {
		size_t n = 0;
		assert_int_equal(sw_b64url_encode(in, len, text, sizeof(text)), 0);
		assert_int_equal(strlen(text), (len * 4 + 2) / 3);
		assert_null(strchr(text, '='));
		assert_int_equal(sw_b64url_decode(text, strlen(text), back, sizeof(back), &n), 0);
		assert_int_equal(n, len);
		assert_memory_equal(back, in, len);
	}
}

static void test_b64url_bad_input(void **state)
{
	uint8_t out[16];
	size_t n;
	/* Padding is not accepted. */
	assert_int_equal(sw_b64url_decode("Zg==", 4, out, sizeof(out), &n), SW_EMALF);
	assert_int_equal(sw_b64url_decode("Zm8=", 4, out, sizeof(out), &n), SW_EMALF);
	/* The standard alphabet's '+' and '/' are not base64url. */
	assert_int_equal(sw_b64url_decode("Zm+v", 4, out, sizeof(out), &n), SW_EMALF);
	assert_int_equal(sw_b64url_decode("Zm/v", 4, out, sizeof(out), &n), SW_EMALF);
	/* Other junk. */
	assert_int_equal(sw_b64url_decode("Zm9v Yg", 7, out, sizeof(out), &n), SW_EMALF);
	assert_int_equal(sw_b64url_decode("Zm9\nv", 5, out, sizeof(out), &n), SW_EMALF);
	assert_int_equal(sw_b64url_decode("Zm9v\0g", 6, out, sizeof(out), &n), SW_EMALF);
	/* A length of 4k+1 characters cannot come from any byte string. */
	assert_int_equal(sw_b64url_decode("Z", 1, out, sizeof(out), &n), SW_EMALF);
	assert_int_equal(sw_b64url_decode("Zm9vY", 5, out, sizeof(out), &n), SW_EMALF);
	/* Output room. */
	assert_int_equal(sw_b64url_decode("Zm9vYmFy", 8, out, 5, &n), SW_ENOSPC);
	assert_int_equal(sw_b64url_decode("Zm9vYmFy", 8, out, 6, &n), 0);
	assert_int_equal(n, 6);
	char text[8];
	assert_int_equal(sw_b64url_encode((const uint8_t *)"foobar", 6, text, 8), SW_ENOSPC);
	char text9[9];
	assert_int_equal(sw_b64url_encode((const uint8_t *)"foobar", 6, text9, 9), 0);
	assert_string_equal(text9, "Zm9vYmFy");
}

/* ---- arena ---- */

static void test_arena_alignment(void **state)
{
	sw_arena_t a;
	sw_arena_init(&a, 1024);
	uint8_t *ptrs[400];
	size_t sizes[400];
	for (int i = 0; i < 400; i++) {
		sizes[i] =
		    (size_t)(i % 37) + 1 + (i == 200 ? 5000 : 0); /* one larger than a block */
		ptrs[i] = sw_arena_alloc(&a, sizes[i]);
		assert_non_null(ptrs[i]);
		assert_int_equal((uintptr_t)ptrs[i] % 8, 0);
		memset(ptrs[i], i & 0xff, sizes[i]);
	}
	/* No allocation overlaps another: every byte still holds its owner's pattern. */
	for (int i = 0; i < 400; i++)
		for (size_t j = 0; j < sizes[i]; j++)
			assert_int_equal(ptrs[i][j], i & 0xff);
	/* Zero-byte requests still give aligned, usable pointers. */
	void *z = sw_arena_alloc(&a, 0);
	assert_non_null(z);
	assert_int_equal((uintptr_t)z % 8, 0);

	const char text[] = "swarmdns arena";
	char *d = sw_arena_dup(&a, text, sizeof(text));
	assert_non_null(d);
	assert_ptr_not_equal(d, text);
	assert_int_equal((uintptr_t)d % 8, 0);
	assert_string_equal(d, text);
	sw_arena_deinit(&a);
	assert_null(a.head);

	/* Usable again after deinit. */
	uint64_t *u = sw_arena_alloc(&a, sizeof(*u));
	assert_non_null(u);
	*u = 42;
	assert_int_equal(*u, 42);
	sw_arena_deinit(&a);
}

static void test_hash(void **state)
{
	uint64_t h1 = sw_hash("www.example", 11, 1), h2 = sw_hash("www.example", 11, 1);
	assert_int_equal(h1, h2);
	assert_int_not_equal(h1, sw_hash("www.example", 11, 2));
	assert_int_not_equal(h1, sw_hash("www.exampld", 11, 1));
	assert_int_not_equal(h1, sw_hash("www.example", 10, 1));
}

/* ---- errors ---- */

static void test_strerror(void **state)
{
	const char *unknown = sw_strerror(-1999);
	assert_non_null(unknown);
	assert_string_equal(sw_strerror(0), "success");
	/* Each own code has its own sentence. */
	const int codes[] = {SW_EINVAL,	   SW_ENOSPC,	SW_EMALF,  SW_ETOOBIG, SW_EBADSIG,
			     SW_ENOTFOUND, SW_EOLDSEQ,	SW_EEXIST, SW_ECRYPTO, SW_ESTORE,
			     SW_EZONE,	   SW_EOUTZONE, SW_ECONF,  SW_ENOMEM,  SW_EKEY,
			     SW_ELIMIT,	   SW_ECONN,	SW_EHTTP};
	size_t n = sizeof(codes) / sizeof(codes[0]);
	for (size_t i = 0; i < n; i++) {
		assert_true(codes[i] < -1000);
		const char *m = sw_strerror(codes[i]);
		assert_non_null(m);
		assert_true(strlen(m) > 3);
		assert_string_not_equal(m, unknown);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(m, sw_strerror(codes[j]));
	}
	/* The size limit message names the limit (docs/design.md §2). */
	assert_non_null(strstr(sw_strerror(SW_ETOOBIG), "996"));
	/* System errors are -errno and read like strerror(). */
	assert_string_equal(sw_strerror(-ENOENT), strerror(ENOENT));
	assert_string_equal(sw_strerror(-EACCES), strerror(EACCES));
	assert_string_equal(sw_strerror(-EADDRINUSE), strerror(EADDRINUSE));
	assert_string_not_equal(sw_strerror(-ENOENT), unknown);
}

static void test_buf(void **state)
{
	sw_buf_t b = {0};
	/* The first allocation is `first`, then the capacity doubles until it fits. */
	assert_int_equal(sw_buf_reserve(&b, 10, 64), 0);
	assert_int_equal(b.cap, 64);
	assert_int_equal(b.len, 0);
	assert_int_equal(sw_buf_append(&b, "hello", 5, 64), 0);
	uint8_t big[200];
	memset(big, 'x', sizeof(big));
	assert_int_equal(sw_buf_append(&b, big, sizeof(big), 64), 0);
	assert_int_equal(b.len, 205);
	assert_int_equal(b.cap, 256);
	assert_memory_equal(b.data, "hello", 5);
	assert_memory_equal(b.data + 5, big, sizeof(big));
	assert_int_equal(sw_buf_append(&b, NULL, 0, 64), 0);
	assert_int_equal(b.len, 205);
	sw_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len + b.cap, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_buf),
	    cmocka_unit_test(test_hex_round_trip),
	    cmocka_unit_test(test_hex_decode_upper_case),
	    cmocka_unit_test(test_hex_bad_input),
	    cmocka_unit_test(test_z32_vectors),
	    cmocka_unit_test(test_z32_round_trip),
	    cmocka_unit_test(test_z32_case_insensitive),
	    cmocka_unit_test(test_z32_wrong_length),
	    cmocka_unit_test(test_z32_bad_characters),
	    cmocka_unit_test(test_z32_padding_bits),
	    cmocka_unit_test(test_b64url_rfc4648_vectors),
	    cmocka_unit_test(test_b64url_alphabet),
	    cmocka_unit_test(test_b64url_round_trip),
	    cmocka_unit_test(test_b64url_bad_input),
	    cmocka_unit_test(test_arena_alignment),
	    cmocka_unit_test(test_hash),
	    cmocka_unit_test(test_strerror),
	};
	return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
