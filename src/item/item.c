#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "item/item.h"

void item_key_target(const uint8_t k[32], const uint8_t *salt, size_t salt_len,
		     uint8_t out[ITEM_TARGET_LEN])
{
	sw_sha1(k, 32, salt_len ? salt : NULL, salt_len, out);
}

void item_target(const item_t *it, uint8_t out[ITEM_TARGET_LEN])
{
	if (it->is_mutable)
		item_key_target(it->k, it->salt, it->salt_len, out);
	else
		sw_sha1(it->v, it->v_len, NULL, 0, out); /* BEP 44 "Immutable items" */
}

int item_signed_buf(uint64_t seq, const uint8_t *salt, size_t salt_len, const uint8_t *v,
		    size_t v_len, uint8_t *out, size_t cap, size_t *len)
{
	if (salt_len > ITEM_SALT_MAX)
		return SW_EINVAL;
	char head[128];
	size_t pos = 0;
	if (salt_len > 0) {
		int n = snprintf((char *)out, cap, "4:salt%zu:", salt_len);
		if (n < 0 || (size_t)n + salt_len > cap)
			return SW_ENOSPC;
		memcpy(out + n, salt, salt_len);
		pos = (size_t)n + salt_len;
	}
	/* seq is a 64-bit integer in the signed buffer (docs/design.md §2: never 32 bits). */
	int n = snprintf(head, sizeof(head), "3:seqi%" PRIu64 "e1:v", seq);
	if (n < 0 || pos + (size_t)n + v_len > cap)
		return SW_ENOSPC;
	memcpy(out + pos, head, (size_t)n);
	memcpy(out + pos + (size_t)n, v, v_len);
	*len = pos + (size_t)n + v_len;
	return 0;
}

int item_init(item_t *it, const uint8_t k[32], const uint8_t *salt, size_t salt_len, int64_t seq)
{
	if (salt_len > ITEM_SALT_MAX || seq < 0)
		return SW_EINVAL;
	memset(it, 0, offsetof(item_t, v));
	it->is_mutable = true;
	memcpy(it->k, k, 32);
	it->seq = seq;
	it->salt_len = (uint8_t)salt_len;
	if (salt_len)
		memcpy(it->salt, salt, salt_len);
	item_key_target(it->k, it->salt, it->salt_len, it->target);
	return 0;
}

int item_str_write(const uint8_t *s, size_t len, uint8_t *out, size_t cap, size_t *olen)
{
	char head[24];
	int n = snprintf(head, sizeof(head), "%zu:", len);
	if (n < 0 || (size_t)n + len > cap)
		return SW_ENOSPC;
	memcpy(out, head, (size_t)n);
	if (len)
		memmove(out + n, s, len);
	*olen = (size_t)n + len;
	return 0;
}

int item_str_parse(const uint8_t *v, size_t v_len, const uint8_t **s, size_t *len)
{
	size_t i = 0, n = 0;
	/* BEP 3: a string is its length in base ten, a colon, then the bytes; the length has no
	 * leading zeros, as the DHT's strict bencode requires (docs/design.md §4). A v is at most
	 * ITEM_V_MAX bytes, so four digits are enough. */
	while (i < v_len && i < 4 && v[i] >= '0' && v[i] <= '9')
		n = n * 10 + (size_t)(v[i++] - '0');
	if (i == 0 || i >= v_len || v[i] != ':' || (v[0] == '0' && i > 1) || i + 1 + n != v_len)
		return SW_EMALF;
	*s = v + i + 1;
	*len = n;
	return 0;
}

int item_set_str(item_t *it, const uint8_t *s, size_t len)
{
	size_t vl;
	if (len > ITEM_STR_MAX)
		return SW_ETOOBIG;
	if (item_str_write(s, len, it->v, sizeof(it->v), &vl))
		return SW_ETOOBIG;
	it->v_len = (uint16_t)vl;
	return 0;
}

int item_str(const item_t *it, const uint8_t **s, size_t *len)
{
	return item_str_parse(it->v, it->v_len, s, len);
}

int item_sign(item_t *it, const uint8_t sk[64])
{
	uint8_t buf[ITEM_SIGNED_BUF_MAX];
	size_t len;
	int ret;

	if (it->v_len > ITEM_V_MAX)
		return SW_ETOOBIG;
	if (it->salt_len > ITEM_SALT_MAX || it->seq < 0)
		return SW_EINVAL;
	it->is_mutable = true;
	ret = item_signed_buf((uint64_t)it->seq, it->salt, it->salt_len, it->v, it->v_len, buf,
			      sizeof(buf), &len);
	if (ret)
		return ret;
	sw_ed25519_sign(sk, buf, len, it->sig);
	item_target(it, it->target);
	return 0;
}

int item_sig_verify(const item_t *it)
{
	uint8_t buf[ITEM_SIGNED_BUF_MAX];
	size_t len;
	if (it->seq < 0)
		return SW_EINVAL;
	int ret = item_signed_buf((uint64_t)it->seq, it->salt, it->salt_len, it->v, it->v_len, buf,
				  sizeof(buf), &len);
	if (ret)
		return ret;
	return sw_ed25519_verify(it->k, buf, len, it->sig);
}

int item_check_sizes(const item_t *it)
{
	/* BEP 44 "Errors": the limits before any crypto (docs/design.md §4). */
	if (it->v_len > ITEM_V_MAX)
		return SW_ETOOBIG;
	if (it->salt_len > ITEM_SALT_MAX || it->v_len == 0 || (!it->is_mutable && it->salt_len))
		return SW_EINVAL;
	return 0;
}

int item_verify(const item_t *it)
{
	uint8_t target[ITEM_TARGET_LEN];
	int ret = item_check_sizes(it);
	if (ret)
		return ret;
	item_target(it, target);
	if (memcmp(target, it->target, ITEM_TARGET_LEN) != 0)
		return SW_EINVAL;
	if (!it->is_mutable)
		return 0;
	return item_sig_verify(it);
}

static int bytes_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int r = n ? memcmp(a, b, n) : 0;
	if (r)
		return r;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

int item_cmp(const item_t *a, const item_t *b)
{
	if (a->seq != b->seq)
		return a->seq > b->seq ? 1 : -1;
	return bytes_cmp(a->v, a->v_len, b->v, b->v_len);
}

int item_relay_parse(const uint8_t k[32], const uint8_t *body, size_t len, item_t *out)
{
	if (len < ITEM_RELAY_HDR)
		return SW_EMALF;
	if (len - ITEM_RELAY_HDR > ITEM_STR_MAX)
		return SW_ETOOBIG;
	uint64_t seq = 0;
	for (int i = 0; i < 8; i++)
		seq = seq << 8 | body[64 + i];
	if (seq > INT64_MAX)
		return SW_EMALF;
	item_init(out, k, NULL, 0, (int64_t)seq); /* no salt, seq >= 0: cannot fail */
	memcpy(out->sig, body, 64);
	return item_set_str(out, body + ITEM_RELAY_HDR, len - ITEM_RELAY_HDR);
}

int item_relay_write(const item_t *it, uint8_t *out, size_t cap, size_t *len)
{
	const uint8_t *s;
	size_t slen;
	/* pkarr's relay form has no salt: a salted item has no relay form. */
	if (!it->is_mutable || it->salt_len || it->seq < 0)
		return SW_EINVAL;
	if (item_str(it, &s, &slen))
		return SW_EMALF;
	return item_relay_write_str(it->sig, (uint64_t)it->seq, s, slen, out, cap, len);
}

int item_relay_write_str(const uint8_t sig[64], uint64_t seq, const uint8_t *s, size_t slen,
			 uint8_t *out, size_t cap, size_t *len)
{
	if (cap < ITEM_RELAY_HDR + slen)
		return SW_ENOSPC;
	memcpy(out, sig, 64);
	for (int i = 0; i < 8; i++)
		out[64 + i] = (uint8_t)(seq >> (56 - 8 * i));
	memcpy(out + ITEM_RELAY_HDR, s, slen);
	*len = ITEM_RELAY_HDR + slen;
	return 0;
}
