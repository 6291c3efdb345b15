/*
 * Fuzz target for zone file loading (src/zone/zonefile.h): the input is the text of a zone
 * file, read by zone_file_parse() as `swarmdns sign` reads one (src/cli/sign.c), under the
 * apex of the pkarr test vector's key (tests/vectors/vectors.json "pkarr_packet":
 * seed 00..1f, `<z32>.` = yqooxx9u...igghy.). Nothing here touches the file system: the
 * loader takes text, and $INCLUDE must be refused rather than followed.
 *
 * Checked (a broken rule aborts):
 * - zone_file_parse() returns 0, SW_EZONE, SW_EOUTZONE or SW_ENOMEM; on failure the message
 *   is not empty and starts with the file name and a colon ("FILE:LINE: problem");
 * - on success every record is of class IN, has a valid owner at or below the apex (RFC 1035
 *   §5: names are relative to $ORIGIN, which starts as the key name) and rdata valid for its
 *   type (zone_rdata_check());
 * - then the records are written as the zone packet, as sign does: it is a well-formed DNS
 *   message (fuzz_msg_walk(), independent of src/dns), ID 0, QR=1 and AA=1, all in the
 *   answer section, and zone_packet_parse() gives back the same records;
 * - a packet within ZONE_PACKET_MAX (BEP 44: v at most 1000 bytes) signs (item_set_str, item_sign),
 *   goes through the relay form and back, verifies under the key, and zone_build() serves
 *   it; a larger one is refused by item_set_str() with SW_ETOOBIG.
 */
#include <string.h>

#include "common/codec.h"
#include "common/err.h"
#include "crypto/crypto.h"
#include "fuzz.h"
#include "item/item.h"
#include "zone/packet.h"
#include "zone/zone.h"
#include "zone/zonefile.h"

#define WRITE_CAP 65535 /* what sign.c writes into */
#define FILENAME "fuzz.zone"

static struct {
	uint8_t pk[32], sk[64];
	uint8_t apex[2 + SW_Z32_KEY_LEN]; /* <z32>. in wire form */
} fz;

static void setup(void)
{
	uint8_t seed[32];
	FUZZ_CHECK(sw_crypto_init() == 0, "sw_crypto_init");
	for (int i = 0; i < 32; i++)
		seed[i] = (uint8_t)i;
	sw_ed25519_from_seed(seed, fz.pk, fz.sk);
	fz.apex[0] = SW_Z32_KEY_LEN;
	sw_z32_encode_key(fz.pk, (char *)fz.apex + 1);
	fz.apex[1 + SW_Z32_KEY_LEN] = 0;
	FUZZ_CHECK(memcmp(fz.apex + 1, "yqooxx9u3aemh8mo5wcqq16yufu6jitouq1o4za751dger1igghy",
			  SW_Z32_KEY_LEN) == 0,
		   "the key of seed 00..1f is not the pkarr vector's");
}

/* Is `name` (uncompressed, valid) equal to or below the apex? Compared here label by label
 * from the right, case-insensitively, without dns_name_in(). */
static int under_apex(const uint8_t *name)
{
	const uint8_t *labels[128];
	int n = 0;
	for (const uint8_t *p = name; *p && n < 128; p += 1 + *p)
		labels[n++] = p;
	if (n < 1 || labels[n - 1][0] != SW_Z32_KEY_LEN)
		return 0;
	for (int i = 1; i <= SW_Z32_KEY_LEN; i++) {
		uint8_t c = labels[n - 1][i];
		if (c >= 'A' && c <= 'Z')
			c = (uint8_t)(c + 32);
		if (c != fz.apex[i])
			return 0;
	}
	return 1;
}

static void check_records(const zone_rrlist_t *l)
{
	for (size_t i = 0; i < l->count; i++) {
		const zone_rr_t *rr = &l->rrs[i];
		size_t n = dns_name_check(rr->owner, DNS_NAME_MAX);
		FUZZ_CHECK(n > 0, "record %zu: owner is not a valid name", i);
		FUZZ_CHECK(under_apex(rr->owner), "record %zu: owner outside the apex", i);
		FUZZ_CHECK(rr->cls == DNS_C_IN, "record %zu: class %u", i, rr->cls);
		FUZZ_CHECK(rr->type != DNS_T_OPT, "record %zu: an OPT record in a zone", i);
		FUZZ_CHECK(zone_rdata_check(rr->type, rr->rdata, rr->rdlen) == 0,
			   "record %zu: type %u, rdata of %u bytes is not valid", i, rr->type,
			   rr->rdlen);
	}
}

/* The zone as `swarmdns sign` publishes it, and back. */
static void check_packet(const zone_rrlist_t *l)
{
	uint8_t *pkt = malloc(WRITE_CAP);
	zone_rrlist_t back;
	zone_rrlist_init(&back);
	FUZZ_CHECK(pkt != NULL, "out of memory");

	size_t bound = DNS_HDR_LEN, len = 0;
	for (size_t i = 0; i < l->count; i++)
		bound += dns_name_len(l->rrs[i].owner) + 10 + l->rrs[i].rdlen;
	int ret = zone_packet_write(l, pkt, WRITE_CAP, &len);
	/* Compression only shrinks: what fits uncompressed is written. More than 65535
	 * records cannot be counted in ANCOUNT either. */
	FUZZ_CHECK(ret == 0 || (ret == SW_ENOSPC && (bound > WRITE_CAP || l->count > 65535)),
		   "zone_packet_write of %zu records (%zu bytes uncompressed): %s", l->count, bound,
		   sw_strerror(ret));
	if (ret)
		goto done;
	FUZZ_CHECK(len <= bound, "%zu bytes written, at most %zu expected", len, bound);

	fuzz_msg_t m;
	const char *err = fuzz_msg_walk(pkt, len, &m);
	FUZZ_CHECK(err == NULL, "the zone packet is not a well-formed message: %s", err);
	FUZZ_CHECK(m.counts[0] == 0 && m.counts[1] == l->count && m.counts[2] == 0 &&
		       m.counts[3] == 0,
		   "zone packet counts %u/%u/%u/%u for %zu records", m.counts[0], m.counts[1],
		   m.counts[2], m.counts[3], l->count);
	/* docs/design.md §2: ID 0, QR=1, AA=1. */
	FUZZ_CHECK(dns_get_u16(pkt) == 0 && dns_get_u16(pkt + 2) == 0x8400,
		   "zone packet header %04x %04x", dns_get_u16(pkt), dns_get_u16(pkt + 2));

	ret = zone_packet_parse(pkt, len, &back);
	FUZZ_CHECK(ret == 0, "the zone packet does not parse back: %s", sw_strerror(ret));
	FUZZ_CHECK(back.count == l->count, "%zu records parsed back as %zu", l->count, back.count);
	for (size_t i = 0; i < l->count; i++) {
		const zone_rr_t *x = &l->rrs[i], *y = &back.rrs[i];
		FUZZ_CHECK(dns_name_equal(x->owner, y->owner) && x->type == y->type &&
			       x->cls == y->cls && x->ttl == y->ttl && x->rdlen == y->rdlen,
			   "record %zu (type %u) changed in the packet", i, x->type);
		/* Rdata names compressed against earlier names may change case; the lengths
		 * and everything that is not a name are compared by zone_packet's target. */
		if (!dns_type_compressible(x->type))
			FUZZ_CHECK(x->rdlen == 0 || memcmp(x->rdata, y->rdata, x->rdlen) == 0,
				   "record %zu (type %u): rdata changed", i, x->type);
	}

	/* Signing: BEP 44 bounds v, so the packet is at most ZONE_PACKET_MAX bytes. */
	static item_t item, got;
	const uint8_t *packet;
	size_t packet_len;
	FUZZ_CHECK(item_init(&item, fz.pk, NULL, 0, 1700000000000000LL) == 0, "item_init");
	ret = item_set_str(&item, pkt, len);
	if (ret == 0)
		ret = item_sign(&item, fz.sk);
	if (len > ZONE_PACKET_MAX) {
		FUZZ_CHECK(ret == SW_ETOOBIG, "a %zu-byte packet signed: %s", len,
			   sw_strerror(ret));
		goto done;
	}
	FUZZ_CHECK(ret == 0, "a %zu-byte packet does not sign: %s", len, sw_strerror(ret));
	uint8_t relay[ITEM_RELAY_MAX];
	size_t rlen = 0;
	ret = item_relay_write(&item, relay, sizeof(relay), &rlen);
	FUZZ_CHECK(ret == 0 && rlen == ITEM_RELAY_HDR + len, "item_relay_write: %s",
		   sw_strerror(ret));
	ret = item_relay_parse(fz.pk, relay, rlen, &got);
	FUZZ_CHECK(ret == 0 && got.seq == item.seq && item_str(&got, &packet, &packet_len) == 0 &&
		       packet_len == len && memcmp(packet, pkt, len) == 0 &&
		       memcmp(got.sig, item.sig, 64) == 0,
		   "the relay form does not give the item back: %s", sw_strerror(ret));
	ret = item_verify(&got);
	FUZZ_CHECK(ret == 0, "a zone signed here does not verify: %s", sw_strerror(ret));

	zone_opts_t zopts = {.min_ttl = 300, .max_ttl = 86400};
	zone_t *z = NULL;
	ret = zone_build(fz.pk, &got, &zopts, &z);
	FUZZ_CHECK(ret == 0 || ret == SW_ENOMEM, "zone_build of a signed zone file: %s",
		   sw_strerror(ret));
	if (z) {
		FUZZ_CHECK(zone_rr_count(z) <= l->count, "the zone serves %zu of %zu records",
			   zone_rr_count(z), l->count);
		FUZZ_CHECK(zone_rr_count(z) > 0 || l->count == 0, "none of %zu records is served",
			   l->count);
		zone_free(z);
	}
done:
	zone_rrlist_deinit(&back);
	free(pkt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		setup();
		ready = 1;
	}
	zone_rrlist_t l;
	zone_rrlist_init(&l);
	char err[1024];
	err[0] = '\0';
	int ret =
	    zone_file_parse((const char *)data, size, FILENAME, fz.apex, &l, err, sizeof(err));
	FUZZ_CHECK(ret == 0 || ret == SW_EZONE || ret == SW_EOUTZONE || ret == SW_ENOMEM,
		   "zone_file_parse: %d", ret);
	if (ret == 0) {
		check_records(&l);
		check_packet(&l);
	} else {
		FUZZ_CHECK(strnlen(err, sizeof(err)) < sizeof(err),
			   "the message is not terminated");
		FUZZ_CHECK(strncmp(err, FILENAME ":", strlen(FILENAME ":")) == 0 &&
			       err[strlen(FILENAME ":")] != '\0',
			   "failure %s without a \"" FILENAME ":...\" message: '%s'",
			   sw_strerror(ret), err);
	}
	zone_rrlist_deinit(&l);
	return 0;
}
