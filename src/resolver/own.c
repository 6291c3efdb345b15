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
		     zone_item_t *item, zone_t **out)
{
	int ret = zone_relay_parse(body, len, item);
	if (ret)
		return ret;
	if ((ret = zone_item_verify(item, pk)))
		return ret;
	return zone_build(pk, item, &resolver_opts(r)->zone, out);
}

int own_zone_accept(resolver_t *r, store_t *st, const uint8_t pk[32], const uint8_t *body,
		    size_t len)
{
	zone_item_t item;
	zone_t *z = NULL;
	int ret = make_zone(r, pk, body, len, &item, &z);
	if (ret)
		return ret;
	const zone_t *cur = resolver_zone_find(r, pk);
	if (cur) {
		size_t clen;
		const uint8_t *cbody = zone_relay(cur, &clen);
		uint64_t cseq = zone_seq(cur);
		/* docs/design.md §3 step 2: never replace with a lower seq. */
		if (item.seq < cseq)
			ret = SW_EOLDSEQ;
		else if (item.seq == cseq && clen == len && memcmp(cbody, body, len) == 0)
			ret = 0; /* the same item again: nothing to change */
		else if (item.seq == cseq) {
			/* Same seq, different packet: the bytewise larger value wins. */
			size_t pl = clen - ZONE_RELAY_HDR,
			       n = pl < item.packet_len ? pl : item.packet_len;
			int cmp = memcmp(item.packet, cbody + ZONE_RELAY_HDR, n);
			if (cmp < 0 || (cmp == 0 && item.packet_len <= pl))
				ret = SW_EOLDSEQ;
		}
		if (ret || (item.seq == cseq && clen == len && memcmp(cbody, body, len) == 0)) {
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
		       (unsigned long long)item.seq, item.packet_len,
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
	zone_item_t item;
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

void own_item_to_dht(const zone_item_t *zi, const uint8_t pk[32], dht_item_t *item)
{
	memset(item, 0, sizeof(*item));
	item->is_mutable = true;
	memcpy(item->k, pk, 32);
	memcpy(item->sig, zi->sig, 64);
	item->seq = (int64_t)zi->seq;
	int n = snprintf((char *)item->v, sizeof(item->v), "%zu:", zi->packet_len);
	memcpy(item->v + n, zi->packet, zi->packet_len);
	item->v_len = (uint16_t)((size_t)n + zi->packet_len);
	zone_item_target(item->k, NULL, 0, item->target);
}

void own_zone_dht_item(const zone_t *z, dht_item_t *item)
{
	size_t len;
	const uint8_t *body = zone_relay(z, &len);
	zone_item_t zi;
	zone_relay_parse(body, len, &zi); /* it parsed when the zone was built */
	own_item_to_dht(&zi, zone_key(z), item);
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
	const dht_item_t *it = res->item;
	size_t i = 0, len = 0;
	while (i < it->v_len && it->v[i] >= '0' && it->v[i] <= '9' && i < 5)
		len = len * 10 + (size_t)(it->v[i++] - '0');
	if (i > 0 && i < it->v_len && it->v[i] == ':' && i + 1 + len == it->v_len) {
		out->has_item = true;
		out->seq = (uint64_t)it->seq;
		out->sig = it->sig;
		out->packet = it->v + i + 1;
		out->packet_len = len;
		out->nodes = (uint32_t)res->from_n;
	}
}
