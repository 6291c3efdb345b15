/*
 * key=value TXT strings of the registry items (see txt.h).
 */
#include <stdio.h>
#include <string.h>

#include "common/codec.h"
#include "common/err.h"
#include "dns/wire.h"
#include "registry/txt.h"
#include "zone/packet.h"

void reg_txt_wr_init(reg_txt_wr_t *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->err = 0;
}

void reg_txt_add(reg_txt_wr_t *w, const char *key, const char *value, size_t vlen)
{
	size_t klen = strlen(key);
	if (w->err)
		return;
	if (klen + 1 + vlen > REG_TXT_STR_MAX) {
		w->err = SW_EINVAL;
		return;
	}
	if (w->len + 1 + klen + 1 + vlen > w->cap) {
		w->err = SW_ENOSPC;
		return;
	}
	uint8_t *p = w->buf + w->len;
	p[0] = (uint8_t)(klen + 1 + vlen);
	memcpy(p + 1, key, klen);
	p[1 + klen] = '=';
	memcpy(p + 2 + klen, value, vlen);
	w->len += 1 + klen + 1 + vlen;
}

void reg_txt_add_u64(reg_txt_wr_t *w, const char *key, uint64_t v)
{
	char s[24];
	int n = snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
	reg_txt_add(w, key, s, (size_t)n);
}

void reg_txt_add_key(reg_txt_wr_t *w, const char *key, const uint8_t k[32])
{
	char s[SW_Z32_KEY_LEN + 1];
	sw_z32_encode_key(k, s);
	reg_txt_add(w, key, s, SW_Z32_KEY_LEN);
}

void reg_txt_add_hex(reg_txt_wr_t *w, const char *key, const uint8_t *b, size_t len)
{
	char s[REG_TXT_STR_MAX + 1];
	if (!w->err && sw_hex_encode(b, len, s, sizeof(s)) < 0)
		w->err = SW_EINVAL;
	reg_txt_add(w, key, s, 2 * len);
}

void reg_txt_add_b64(reg_txt_wr_t *w, const char *key, const uint8_t *b, size_t len)
{
	char s[REG_TXT_STR_MAX + 1];
	if (!w->err && sw_b64url_encode(b, len, s, sizeof(s)) < 0)
		w->err = SW_EINVAL;
	reg_txt_add(w, key, s, w->err ? 0 : strlen(s));
}

static bool key_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

int reg_txt_next(const uint8_t *rdata, size_t rdlen, size_t *pos, reg_txt_kv_t *kv)
{
	if (*pos >= rdlen)
		return 0;
	size_t n = rdata[*pos];
	if (n > rdlen - *pos - 1)
		return SW_EMALF;
	const uint8_t *s = rdata + *pos + 1;
	const uint8_t *eq = memchr(s, '=', n);
	if (eq == NULL || eq == s || (size_t)(eq - s) > REG_TXT_KEY_MAX)
		return SW_EMALF;
	for (const uint8_t *p = s; p < eq; p++)
		if (!key_char(*p))
			return SW_EMALF;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return SW_EMALF;
	kv->key = (const char *)s;
	kv->klen = (size_t)(eq - s);
	kv->val = (const char *)eq + 1;
	kv->vlen = n - kv->klen - 1;
	*pos += 1 + n;
	return 1;
}

bool reg_txt_is(const reg_txt_kv_t *kv, const char *key)
{
	size_t n = strlen(key);
	return kv->klen == n && memcmp(kv->key, key, n) == 0;
}

int reg_txt_u64(const reg_txt_kv_t *kv, uint64_t *v)
{
	uint64_t r = 0;
	if (kv->vlen == 0 || kv->vlen > 20 || (kv->vlen > 1 && kv->val[0] == '0'))
		return SW_EMALF;
	for (size_t i = 0; i < kv->vlen; i++) {
		char c = kv->val[i];
		if (c < '0' || c > '9')
			return SW_EMALF;
		uint64_t d = (uint64_t)(c - '0');
		if (r > (UINT64_MAX - d) / 10)
			return SW_EMALF;
		r = r * 10 + d;
	}
	*v = r;
	return 0;
}

int reg_txt_key(const reg_txt_kv_t *kv, uint8_t k[32])
{
	/* Keys are written in lower case; the decoder accepts either, so refuse upper case here
	 * to keep one spelling per key (a round trip gives the signed bytes back). */
	for (size_t i = 0; i < kv->vlen; i++)
		if (kv->val[i] >= 'A' && kv->val[i] <= 'Z')
			return SW_EMALF;
	return sw_z32_decode_key(kv->val, kv->vlen, k) < 0 ? SW_EMALF : 0;
}

int reg_txt_hex(const reg_txt_kv_t *kv, uint8_t *b, size_t len)
{
	for (size_t i = 0; i < kv->vlen; i++)
		if (kv->val[i] >= 'A' && kv->val[i] <= 'F')
			return SW_EMALF;
	return sw_hex_decode(kv->val, kv->vlen, b, len) < 0 ? SW_EMALF : 0;
}

int reg_txt_b64(const reg_txt_kv_t *kv, uint8_t *b, size_t len)
{
	uint8_t tmp[REG_TXT_STR_MAX];
	size_t n;
	if (len > sizeof(tmp) || sw_b64url_decode(kv->val, kv->vlen, tmp, sizeof(tmp), &n) < 0 ||
	    n != len)
		return SW_EMALF;
	/* The decoder ignores bits left over in the last character: encode again and compare,
	 * so that one signature has one spelling. */
	char again[REG_TXT_STR_MAX + 1];
	if (sw_b64url_encode(tmp, n, again, sizeof(again)) < 0 || strlen(again) != kv->vlen ||
	    memcmp(again, kv->val, kv->vlen) != 0)
		return SW_EMALF;
	memcpy(b, tmp, len);
	return 0;
}

/* `<prefix>.<R>.` in wire form. */
static size_t item_name(const uint8_t registry[32], const char *prefix, uint8_t out[DNS_NAME_MAX])
{
	size_t plen = strlen(prefix);
	out[0] = (uint8_t)plen;
	memcpy(out + 1, prefix, plen);
	out[1 + plen] = SW_Z32_KEY_LEN;
	sw_z32_encode_key(registry, (char *)out + 2 + plen);
	out[2 + plen + SW_Z32_KEY_LEN] = 0; /* the root label, over the encoder's NUL */
	return 3 + plen + SW_Z32_KEY_LEN;
}

int reg_packet_write(const zone_rrlist_t *l, uint8_t *out, size_t cap, size_t *pkt_len)
{
	int ret = zone_packet_write(l, out, cap < ZONE_PACKET_MAX ? cap : ZONE_PACKET_MAX, pkt_len);
	return ret == SW_ENOSPC && cap >= ZONE_PACKET_MAX ? SW_ETOOBIG : ret;
}

int reg_txt_item_write(const uint8_t registry[32], const char *prefix, const uint8_t *rdata,
		       size_t rdlen, uint8_t *out, size_t cap, size_t *pkt_len)
{
	uint8_t name[DNS_NAME_MAX];
	zone_rrlist_t l;
	int ret;
	if (rdlen > ZONE_PACKET_MAX)
		return SW_ETOOBIG;
	item_name(registry, prefix, name);
	zone_rrlist_init(&l);
	ret = zone_rrlist_add(&l, name, DNS_T_TXT, DNS_C_IN, REG_TXT_TTL, rdata, (uint16_t)rdlen);
	if (ret < 0)
		goto out;
	ret = reg_packet_write(&l, out, cap, pkt_len);
out:
	zone_rrlist_deinit(&l);
	return ret;
}

int reg_txt_item_parse(const uint8_t registry[32], const char *prefix, const uint8_t *pkt,
		       size_t pkt_len, uint8_t *rdata, size_t cap, size_t *rdlen)
{
	uint8_t name[DNS_NAME_MAX];
	unsigned found = 0;
	zone_rrlist_t l;
	int ret;
	if (pkt_len > ZONE_PACKET_MAX)
		return SW_ETOOBIG;
	item_name(registry, prefix, name);
	zone_rrlist_init(&l);
	ret = zone_packet_parse(pkt, pkt_len, &l);
	if (ret < 0)
		goto out;
	for (size_t i = 0; i < l.count; i++) {
		const zone_rr_t *rr = &l.rrs[i];
		if (!dns_name_in(rr->owner, name)) {
			ret = SW_EMALF;
			goto out;
		}
		if (rr->type != DNS_T_TXT || !dns_name_equal(rr->owner, name))
			continue;
		if (found++) {
			ret = SW_EMALF;
			goto out;
		}
		if (rr->rdlen > cap) {
			ret = SW_ENOSPC;
			goto out;
		}
		memcpy(rdata, rr->rdata, rr->rdlen);
		*rdlen = rr->rdlen;
	}
	ret = found == 1 ? 0 : SW_EMALF;
out:
	zone_rrlist_deinit(&l);
	return ret;
}
