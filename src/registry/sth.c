/*
 * The signed tree head item of a registry's log (see sth.h).
 */
#include <string.h>

#include "common/err.h"
#include "registry/sth.h"
#include "registry/txt.h"
#include "zone/packet.h"

int reg_sth_write(const uint8_t registry[32], const reg_sth_t *sth, uint8_t *out, size_t cap,
		  size_t *pkt_len)
{
	uint8_t txt[128];
	reg_txt_wr_t w;
	reg_txt_wr_init(&w, txt, sizeof(txt));
	reg_txt_add_u64(&w, "size", sth->size);
	reg_txt_add_hex(&w, "root", sth->root, REG_MLOG_HASH_LEN);
	reg_txt_add_u64(&w, "time", sth->time);
	if (w.err)
		return w.err;
	return reg_txt_item_write(registry, "_log", txt, w.len, out, cap, pkt_len);
}

int reg_sth_parse(const uint8_t registry[32], const uint8_t *pkt, size_t pkt_len, reg_sth_t *sth)
{
	uint8_t txt[ZONE_PACKET_MAX], empty[REG_MLOG_HASH_LEN];
	size_t tlen, pos = 0;
	unsigned seen = 0;
	reg_txt_kv_t kv;
	int ret = reg_txt_item_parse(registry, "_log", pkt, pkt_len, txt, sizeof(txt), &tlen);
	if (ret < 0)
		return ret;
	memset(sth, 0, sizeof(*sth));
	while ((ret = reg_txt_next(txt, tlen, &pos, &kv)) == 1) {
		unsigned bit = reg_txt_is(&kv, "size")	 ? 1
			       : reg_txt_is(&kv, "root") ? 2
			       : reg_txt_is(&kv, "time") ? 4
							 : 0;
		if (bit == 0)
			continue; /* a field of a newer format */
		if (seen & bit)
			return SW_EMALF;
		seen |= bit;
		if ((bit == 1 && reg_txt_u64(&kv, &sth->size) < 0) ||
		    (bit == 2 && reg_txt_hex(&kv, sth->root, REG_MLOG_HASH_LEN) < 0) ||
		    (bit == 4 && reg_txt_u64(&kv, &sth->time) < 0))
			return SW_EMALF;
	}
	if (ret < 0 || seen != 7)
		return SW_EMALF;
	/* RFC 9162 §2.1.1: the empty tree's hash is SHA-256 of the empty string, nothing else. */
	reg_mlog_empty_root(empty);
	if (sth->size == 0 && memcmp(sth->root, empty, REG_MLOG_HASH_LEN) != 0)
		return SW_EMALF;
	return 0;
}
