#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/log.h"
#include "resolver/own.h"
#include "zone/packet.h"

/* Decodes, verifies and builds a snapshot; nothing is changed. */
static int make_zone(resolver_t *r, const uint8_t pk[32], const uint8_t *body, size_t len,
		     item_t *item, zone_t **out)
{
	int ret = item_relay_parse(pk, body, len, item);
	if (ret)
		return ret;
	if ((ret = item_verify(item)))
		return ret;
	return zone_build(pk, item, &resolver_opts(r)->zone, out);
}

int own_zone_accept(resolver_t *r, store_t *st, const uint8_t pk[32], const uint8_t *body,
		    size_t len)
{
	item_t item;
	zone_t *z = NULL;
	int ret = make_zone(r, pk, body, len, &item, &z);
	if (ret)
		return ret;
	const uint8_t *packet;
	size_t packet_len;
	item_str(&item, &packet, &packet_len); /* it parsed from the relay form */
	const zone_t *cur = resolver_zone_find(r, pk);
	if (cur) {
		size_t clen;
		const uint8_t *cbody = zone_relay(cur, &clen);
		uint64_t cseq = zone_seq(cur);
		/* docs/design.md §3 step 2: never replace with a lower seq. */
		if ((uint64_t)item.seq < cseq)
			ret = SW_EOLDSEQ;
		else if ((uint64_t)item.seq == cseq && clen == len && memcmp(cbody, body, len) == 0)
			ret = 0; /* the same item again: nothing to change */
		else if ((uint64_t)item.seq == cseq) {
			/* Same seq, different packet: the bytewise larger value wins. */
			size_t pl = clen - ITEM_RELAY_HDR, n = pl < packet_len ? pl : packet_len;
			int cmp = memcmp(packet, cbody + ITEM_RELAY_HDR, n);
			if (cmp < 0 || (cmp == 0 && packet_len <= pl))
				ret = SW_EOLDSEQ;
		}
		if (ret ||
		    ((uint64_t)item.seq == cseq && clen == len && memcmp(cbody, body, len) == 0)) {
			zone_free(z);
			return ret;
		}
	}
	/* Durable first, then served: what is served was acknowledged and survives a crash. */
	if ((ret = store_zone_put(st, pk, body, len))) {
		zone_free(z);
		return ret;
	}
	bool replaced = cur != NULL; /* cur is freed by the put */
	if ((ret = resolver_zone_put(r, z)))
		return ret;
	/* An operator's event (docs/logging.md); limited, as a client may publish in a loop. */
	char z32[SW_Z32_KEY_LEN + 1];
	sw_z32_encode_key(pk, z32);
	sw_log_limited(SW_LOG_INFO, "zone %s published: seq %llu, %zu bytes%s", z32,
		       (unsigned long long)item.seq, packet_len,
		       replaced ? " (replaces the previous version)" : "");
	return 0;
}

int own_zone_remove(resolver_t *r, store_t *st, const uint8_t pk[32])
{
	if (resolver_zone_find(r, pk) == NULL)
		return SW_ENOTFOUND;
	int ret = store_zone_del(st, pk);
	if (ret)
		return ret;
	return resolver_zone_remove(r, pk);
}

static int load_one(const uint8_t pk[32], const uint8_t *body, size_t len, void *ctx)
{
	resolver_t *r = ctx;
	item_t item;
	zone_t *z = NULL;
	int ret = make_zone(r, pk, body, len, &item, &z);
	if (ret) {
		char z32[SW_Z32_KEY_LEN + 1];
		sw_z32_encode_key(pk, z32);
		sw_warn("stored zone %s is not loaded: %s", z32, sw_strerror(ret));
		return 0;
	}
	return resolver_zone_put(r, z);
}

int own_zones_load(resolver_t *r, store_t *st)
{
	int ret = store_zone_foreach(st, load_one, r);
	return ret ? ret : (int)resolver_zone_count(r);
}

void own_dht_zone_result(const dht_get_result_t *res, resolver_dht_result_t *out)
{
	memset(out, 0, sizeof(*out));
	out->done = res->done;
	out->ready = res->ready || res->done;
	out->converged = res->converged;
	out->err = res->err;
	if (res->item == NULL || !res->item->is_mutable)
		return;
	const item_t *it = res->item;
	if (item_str(it, &out->packet, &out->packet_len) == 0) {
		out->has_item = true;
		out->seq = (uint64_t)it->seq;
		out->sig = it->sig;
		out->nodes = (uint32_t)res->from_n;
	}
}
