/*
 * Fuzz target for BEP 44 items as a storing node checks them: dht_storage_put() of
 * src/dht/storage.h (immutable and mutable puts: v, k, sig, seq, salt, cas), the item
 * functions of src/item/item.h (item_sign, dht_item_verify, dht_storage_load; the signed
 * buffer, the target, the relay form). Each input is a sequence of puts into a fresh store with
 * small limits (MAX_ITEMS, MAX_BYTES), so that eviction, replacement and expiry happen within one
 * input.
 *
 * Input: a sequence of puts, each:
 *   flags   1 byte: bits 0-1 the kind (0 immutable; 1, 2 mutable, signed here with test key
 *           A or B, from the seeds 32 * 0xa1 and 32 * 0xb2; 3 mutable with k and sig
 *           taken from the input), bit 2 a salt follows, bit 3 a cas follows, bit 4 v is
 *           taken raw (else it is wrapped as the bencoded string "<len>:<bytes>"), bit 5
 *           tamper (kinds 1, 2: the signature is made over something else, see `tamper`;
 *           kind 3: no sig), bits 6-7 how far the clock moves first (1 s, 1 h, 25 h: every
 *           item expires, or not at all);
 *   seq     1 byte, mutable kinds: the seq itself below 0xf0, else an edge (seq_edges);
 *   cas     1 byte, the same code, if bit 3;
 *   salt    1 byte length, then the salt, if bit 2 (up to 255 bytes: 65 and more is too big);
 *   v       2 bytes big-endian length (low 11 bits), then the bytes;
 *   k, sig  32 and 64 bytes, kind 3 (sig only without tamper);
 *   tamper  2 bytes, kinds 1, 2 with bit 5: what (low 2 bits: flip bit where / 8 % 8 of sig
 *           byte where % 64, sign seq ^ 1, sign the salt with the byte where appended, sign
 *           v with its last byte xored with where | 1) and where.
 * A field cut off by the end of the input reads as zeros.
 *
 * Checked (a broken rule aborts), against a model written here from BEP 44 and docs/design.md §4:
 * - each put returns exactly what the rules say, in their order: 205 (v over 1000 bytes),
 *   207 (salt over 64), 203 (no v, sig or seq; an immutable salt), 206 (the signature does
 *   not verify with crypto_sign_verify_detached over the BEP 44 "Signature Verification"
 *   buffer, built here: [4:salt<n>:<salt>]3:seqi<seq>e1:v<v>), 301 (cas is not the stored
 *   seq), 302 (lower seq, or equal seq and a value not larger), 202 (a new value larger than
 *   the whole store), else stored; so a forged or altered signature is never accepted and a
 *   lower seq never replaces a higher one;
 * - a mutable item evicted or expired is remembered (docs/design.md §4 "eviction never opens a
 *   rollback", docs/dht.md): a later put of its target gets 302 when its seq is lower, or
 *   equal with a value that is smaller or that the first REMEMBERED_PREFIX bytes cannot show
 *   larger; the memory is larger than any input here, so nothing is forgotten;
 * - a refused put changes nothing in the store;
 * - an accepted put is found under its target, SHA-1(k || salt) or SHA-1(v) (computed with
 *   GnuTLS here), with the values put, and every item the store reports to the daemon
 *   (item_stored) verifies independently;
 * - the store never holds more than MAX_ITEMS items or MAX_BYTES bytes, its counts add up,
 *   and what the item_stored / item_removed hooks reported is exactly what it holds (the
 *   daemon persists items through them); after 25 hours it is empty;
 * - what the hooks left reloads into a new store with dht_storage_load();
 * - item_signed_buf() builds the same buffer, item_key_target() the same target,
 *   item_sign() the same signature as here; a zone-shaped item (no salt, v a string of
 *   at most ZONE_PACKET_MAX bytes) verifies with item_verify() after a trip through the
 *   relay form exactly when the put's signature verifies.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Independent checks: the signature with libsodium itself, SHA-1 with GnuTLS itself, not
 * through src/crypto. */
#include <gnutls/crypto.h>
#include <sodium.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "dht/bencode.h"
#include "dht/krpc.h"
#include "dht/storage.h"
#include "fuzz.h"
#include "item/item.h"
#include "zone/packet.h"

#define MAX_ITEMS 4
#define MAX_BYTES 1024 /* of v and salt: the largest item (1000 + 64) does not fit */
#define OPS_MAX 32
#define V_RAW_MAX 2047
#define SALT_RAW_MAX 255
#define BUF_MAX (32 + SALT_RAW_MAX + 40 + V_RAW_MAX + 8)
#define HOUR_MS (3600 * 1000ULL)
#define REMEMBERED_PREFIX 32 /* docs/dht.md: bytes of an evicted value kept to order ties */

static const int64_t seq_edges[16] = {
    -1,
    INT64_MIN,
    INT64_MAX,
    INT64_MAX - 1,
    0xffffffffLL,
    0x100000000LL,
    0x7fffffffLL,
    0x80000000LL,
    1700000000000000LL, /* the pkarr vector's: microseconds */
    1000,
    255,
    256,
    65535,
    1000000000000000000LL,
    -2,
    12345678901234LL,
};

/* The independent picture of the store. */
static struct {
	uint8_t pk[2][32], sk[2][64];
	dht_storage_t *st;
	uint64_t now;
	/* What item_stored and item_removed said: what the daemon would hold on disk. */
	item_t disk[OPS_MAX + MAX_ITEMS];
	size_t ndisk;
	/* Every target put with success in this input. */
	uint8_t targets[OPS_MAX][DHT_ID_LEN];
	size_t ntargets;
	/* Mutable items item_removed reported (evicted or expired) and not stored again since. */
	item_t gone[OPS_MAX + MAX_ITEMS];
	size_t ngone;
} fz;

static int64_t seq_of(uint8_t code)
{
	return code < 0xf0 ? code : seq_edges[code - 0xf0];
}

static void sha1(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
		 uint8_t out[DHT_ID_LEN])
{
	uint8_t buf[32 + SALT_RAW_MAX + V_RAW_MAX + 8];
	FUZZ_CHECK(alen + blen <= sizeof(buf), "sha1 of %zu bytes", alen + blen);
	memcpy(buf, a, alen);
	if (blen)
		memcpy(buf + alen, b, blen);
	FUZZ_CHECK(gnutls_hash_fast(GNUTLS_DIG_SHA1, buf, alen + blen, out) == 0, "SHA-1");
}

/* BEP 44 "Signature Verification": [4:salt<n>:<salt>]3:seqi<seq>e1:v<v>, the salt part only
 * when the salt is not empty, v as bencoded. */
static size_t signed_buf(const uint8_t *salt, size_t salt_len, int64_t seq, const uint8_t *v,
			 size_t v_len, uint8_t out[BUF_MAX])
{
	size_t n = 0;
	if (salt_len) {
		n += (size_t)sprintf((char *)out, "4:salt%zu:", salt_len);
		memcpy(out + n, salt, salt_len);
		n += salt_len;
	}
	n += (size_t)sprintf((char *)out + n, "3:seqi%" PRId64 "e1:v", seq);
	memcpy(out + n, v, v_len);
	return n + v_len;
}

static int sig_valid(const uint8_t k[32], const uint8_t *salt, size_t salt_len, int64_t seq,
		     const uint8_t *v, size_t v_len, const uint8_t sig[64])
{
	uint8_t buf[BUF_MAX];
	size_t n = signed_buf(salt, salt_len, seq, v, v_len, buf);
	return crypto_sign_verify_detached(sig, buf, n, k) == 0;
}

static void model_target(const item_t *it, uint8_t out[DHT_ID_LEN])
{
	if (it->is_mutable)
		sha1(it->k, 32, it->salt, it->salt_len, out);
	else
		sha1(it->v, it->v_len, NULL, 0, out);
}

static int is_bencode(const uint8_t *v, size_t len)
{
	static dht_bencode_node_t nodes[ITEM_V_MAX / 2 + 1];
	dht_bencode_doc_t doc;
	return dht_bencode_parse(&doc, v, len, nodes, sizeof(nodes) / sizeof(nodes[0])) == 0;
}

static int item_eq(const item_t *a, const item_t *b)
{
	return memcmp(a->target, b->target, DHT_ID_LEN) == 0 && a->is_mutable == b->is_mutable &&
	       a->v_len == b->v_len && memcmp(a->v, b->v, a->v_len) == 0 &&
	       (!a->is_mutable || (memcmp(a->k, b->k, 32) == 0 && memcmp(a->sig, b->sig, 64) == 0 &&
				   a->seq == b->seq && a->salt_len == b->salt_len &&
				   memcmp(a->salt, b->salt, a->salt_len) == 0));
}

/* Any item the store holds or reports: within the BEP 44 sizes, under its own target, and
 * when mutable, signed. */
static void check_item(const item_t *it, const char *what)
{
	uint8_t t[DHT_ID_LEN];
	FUZZ_CHECK(it->v_len > 0 && it->v_len <= ITEM_V_MAX && it->salt_len <= ITEM_SALT_MAX &&
		       (it->is_mutable || !it->salt_len),
		   "%s: v %u bytes, salt %u bytes", what, it->v_len, it->salt_len);
	model_target(it, t);
	FUZZ_CHECK(memcmp(t, it->target, DHT_ID_LEN) == 0, "%s: not under its BEP 44 target", what);
	if (it->is_mutable)
		FUZZ_CHECK(it->seq >= 0 && sig_valid(it->k, it->salt, it->salt_len, it->seq, it->v,
						     it->v_len, it->sig),
			   "%s: a mutable item (seq %" PRId64 ") whose signature does not verify",
			   what, it->seq);
}

static item_t *disk_find(const uint8_t target[DHT_ID_LEN])
{
	for (size_t i = 0; i < fz.ndisk; i++)
		if (memcmp(fz.disk[i].target, target, DHT_ID_LEN) == 0)
			return &fz.disk[i];
	return NULL;
}

static void on_stored(void *ctx, const item_t *item)
{
	(void)ctx;
	check_item(item, "item_stored");
	item_t *d = disk_find(item->target);
	if (d == NULL) {
		FUZZ_CHECK(fz.ndisk < sizeof(fz.disk) / sizeof(fz.disk[0]), "disk full");
		d = &fz.disk[fz.ndisk++];
	}
	*d = *item;
}

static item_t *gone_find(const uint8_t target[DHT_ID_LEN])
{
	for (size_t i = 0; i < fz.ngone; i++)
		if (memcmp(fz.gone[i].target, target, DHT_ID_LEN) == 0)
			return &fz.gone[i];
	return NULL;
}

static void gone_forget(const uint8_t target[DHT_ID_LEN])
{
	item_t *g = gone_find(target);
	if (g)
		*g = fz.gone[--fz.ngone];
}

static void on_removed(void *ctx, const item_t *item)
{
	(void)ctx;
	item_t *d = disk_find(item->target);
	FUZZ_CHECK(d != NULL && item_eq(d, item), "item_removed of an item never stored as such");
	*d = fz.disk[--fz.ndisk];
	if (item->is_mutable) {
		item_t *g = gone_find(item->target);
		if (g == NULL) {
			FUZZ_CHECK(fz.ngone < sizeof(fz.gone) / sizeof(fz.gone[0]), "gone full");
			g = &fz.gone[fz.ngone++];
		}
		*g = *item;
	}
}

static void target_note(const uint8_t t[DHT_ID_LEN])
{
	for (size_t i = 0; i < fz.ntargets; i++)
		if (memcmp(fz.targets[i], t, DHT_ID_LEN) == 0)
			return;
	FUZZ_CHECK(fz.ntargets < OPS_MAX, "targets full");
	memcpy(fz.targets[fz.ntargets++], t, DHT_ID_LEN);
}

/* The store against the hooks' picture: every item put is found or gone, the counts add up,
 * the limits hold, and the hooks reported exactly what is held. */
static void check_store(void)
{
	size_t bytes, count = dht_storage_count(fz.st, &bytes), found = 0, sum = 0;
	FUZZ_CHECK(count <= MAX_ITEMS && bytes <= MAX_BYTES,
		   "the store holds %zu items, %zu "
		   "bytes; the limits are %d and %d",
		   count, bytes, MAX_ITEMS, MAX_BYTES);
	for (size_t i = 0; i < fz.ntargets; i++) {
		const item_t *it = dht_storage_find(fz.st, fz.targets[i]);
		const item_t *d = disk_find(fz.targets[i]);
		if (it == NULL) {
			FUZZ_CHECK(d == NULL, "an item is gone without item_removed");
			continue;
		}
		FUZZ_CHECK(d != NULL && item_eq(d, it), "an item held is not as item_stored said");
		found++;
		sum += (size_t)it->v_len + it->salt_len;
	}
	FUZZ_CHECK(found == count && sum == bytes,
		   "the store counts %zu items, %zu bytes; "
		   "%zu, %zu found",
		   count, bytes, found, sum);
	FUZZ_CHECK(fz.ndisk == count, "the hooks report %zu items, the store holds %zu", fz.ndisk,
		   count);
}

typedef struct {
	bool is_mutable;
	uint8_t k[32], sig[64];
	bool has_sig;
	int64_t seq;
	const uint8_t *salt;
	size_t salt_len;
	bool has_cas;
	int64_t cas;
	const uint8_t *packet; /* wrapped v: the string's bytes */
	size_t packet_len;
	bool signed_here, tampered;
	int key;
	size_t v_len;
	uint8_t v[V_RAW_MAX + 8]; /* last: read_put() clears what is before it */
} put_t;

/* What BEP 44 and docs/design.md §4 say a put must give: the return code and KRPC error. */
static int expect(const put_t *p, const item_t *prior, const item_t *gone, int valid, int *ecode)
{
	bool refresh = false;
	*ecode = DHT_KRPC_E_TOOBIG;
	if (p->v_len > ITEM_V_MAX)
		return SW_ETOOBIG;
	*ecode = DHT_KRPC_E_SALT;
	if (p->salt_len > ITEM_SALT_MAX)
		return SW_EINVAL;
	*ecode = DHT_KRPC_E_PROTOCOL;
	if (p->v_len == 0 || (p->is_mutable && (!p->has_sig || p->seq < 0)) ||
	    (!p->is_mutable && p->salt_len))
		return SW_EINVAL;
	*ecode = DHT_KRPC_E_SIG;
	if (p->is_mutable && !valid)
		return SW_EBADSIG;
	if (p->is_mutable && prior) {
		*ecode = DHT_KRPC_E_CAS;
		if (p->has_cas && p->cas != prior->seq)
			return SW_EEXIST;
		*ecode = DHT_KRPC_E_SEQ;
		if (p->seq < prior->seq)
			return SW_EOLDSEQ;
		if (p->seq == prior->seq) {
			size_t n = p->v_len < prior->v_len ? p->v_len : prior->v_len;
			int c = memcmp(p->v, prior->v, n);
			if (c == 0)
				c = p->v_len < prior->v_len ? -1 : p->v_len > prior->v_len;
			if (c < 0)
				return SW_EOLDSEQ;
			if (c == 0)
				refresh = true; /* the same value: its time starts over */
		}
	}
	if (p->is_mutable && !prior && gone) {
		/* Judged against the evicted item as against a stored one, with only the first
		 * REMEMBERED_PREFIX bytes of its value to order an equal seq. */
		*ecode = DHT_KRPC_E_SEQ;
		if (p->seq < gone->seq)
			return SW_EOLDSEQ;
		if (p->seq == gone->seq) {
			size_t n = p->v_len < gone->v_len ? p->v_len : gone->v_len, i = 0;
			while (i < n && p->v[i] == gone->v[i])
				i++;
			int c = i < n ? (p->v[i] < gone->v[i] ? -1 : 1)
				      : (p->v_len < gone->v_len ? -1 : p->v_len > gone->v_len);
			size_t need = i < n ? i + 1 : n; /* leading bytes that decide */
			if (c < 0 || (c > 0 && need > REMEMBERED_PREFIX))
				return SW_EOLDSEQ;
		}
	}
	*ecode = 0;
	if (refresh || (prior && !p->is_mutable))
		return 0;
	/* A new item, or a newer value: one larger than the whole store cannot be kept. */
	*ecode = DHT_KRPC_E_SERVER;
	if (p->v_len + p->salt_len > MAX_BYTES)
		return SW_ELIMIT;
	*ecode = 0;
	return 0;
}

/* The zone item functions on the same fields. */
static void check_zone_item(const put_t *p, int valid)
{
	uint8_t mine[BUF_MAX], theirs[ITEM_SIGNED_BUF_MAX], t1[DHT_ID_LEN], t2[DHT_ID_LEN];
	size_t n = 0, len;
	int ret;
	if (p->seq < 0)
		return; /* zone items have an unsigned seq; the store refuses these anyway */
	len = signed_buf(p->salt, p->salt_len, p->seq, p->v, p->v_len, mine);
	ret = item_signed_buf((uint64_t)p->seq, p->salt, p->salt_len, p->v, p->v_len, theirs,
			      sizeof(theirs), &n);
	if (p->salt_len > ITEM_SALT_MAX)
		FUZZ_CHECK(ret == SW_EINVAL, "item_signed_buf took a %zu-byte salt", p->salt_len);
	else if (len > sizeof(theirs))
		FUZZ_CHECK(ret == SW_ENOSPC, "item_signed_buf wrote %zu bytes into %zu", len,
			   sizeof(theirs));
	else
		FUZZ_CHECK(ret == 0 && n == len && memcmp(mine, theirs, len) == 0,
			   "item_signed_buf differs from BEP 44's buffer (%s)", sw_strerror(ret));
	if (p->salt_len <= SALT_RAW_MAX) {
		item_key_target(p->k, p->salt, p->salt_len, t1);
		sha1(p->k, 32, p->salt, p->salt_len, t2);
		FUZZ_CHECK(memcmp(t1, t2, DHT_ID_LEN) == 0,
			   "item_key_target is not SHA-1(k || salt)");
	}
	/* A zone: no salt, v the packet as a bencoded string (docs/design.md §2). */
	if (p->packet == NULL || p->salt_len || p->packet_len > ZONE_PACKET_MAX || !p->has_sig)
		return;
	static item_t item, got;
	const uint8_t *packet;
	size_t packet_len;
	FUZZ_CHECK(item_init(&item, p->k, NULL, 0, p->seq) == 0 &&
		       item_set_str(&item, p->packet, p->packet_len) == 0,
		   "a zone's item cannot be made");
	memcpy(item.sig, p->sig, 64);
	uint8_t relay[ITEM_RELAY_MAX];
	ret = item_relay_write(&item, relay, sizeof(relay), &n);
	FUZZ_CHECK(ret == 0 && n == ITEM_RELAY_HDR + p->packet_len, "item_relay_write: %s",
		   sw_strerror(ret));
	ret = item_relay_parse(p->k, relay, n, &got);
	FUZZ_CHECK(ret == 0 && got.seq == item.seq && item_str(&got, &packet, &packet_len) == 0 &&
		       packet_len == p->packet_len &&
		       memcmp(packet, p->packet, p->packet_len) == 0 &&
		       memcmp(got.sig, p->sig, 64) == 0,
		   "the relay form does not give the item back: %s", sw_strerror(ret));
	ret = item_verify(&got);
	FUZZ_CHECK((ret == 0) == (valid && p->seq >= 0),
		   "item_verify says %s of a "
		   "signature that %s",
		   sw_strerror(ret), valid ? "verifies" : "does not verify");
	if (p->signed_here && !p->tampered && p->seq >= 0) {
		ret = item_sign(&item, fz.sk[p->key]);
		FUZZ_CHECK(ret == 0 && memcmp(item.sig, p->sig, 64) == 0,
			   "item_sign gives another signature: %s", sw_strerror(ret));
	}
}

/* item_sign() and dht_item_verify() against the signature made here. */
static void check_item_sign(const put_t *p)
{
	static item_t it;
	if (!p->signed_here || p->tampered || p->seq < 0 || p->v_len > ITEM_V_MAX ||
	    p->salt_len > ITEM_SALT_MAX)
		return;
	memset(&it, 0, sizeof(it));
	memcpy(it.k, p->k, 32);
	it.seq = p->seq;
	it.salt_len = (uint8_t)p->salt_len;
	if (p->salt_len)
		memcpy(it.salt, p->salt, p->salt_len);
	it.v_len = (uint16_t)p->v_len;
	memcpy(it.v, p->v, p->v_len);
	int ret = item_sign(&it, fz.sk[p->key]);
	FUZZ_CHECK(ret == 0 && memcmp(it.sig, p->sig, 64) == 0,
		   "item_sign gives another signature: %s", sw_strerror(ret));
	uint8_t t[DHT_ID_LEN];
	model_target(&it, t);
	FUZZ_CHECK(memcmp(it.target, t, DHT_ID_LEN) == 0, "item_sign: wrong target");
	ret = dht_item_verify(&it);
	if (p->v_len > 0 && is_bencode(p->v, p->v_len))
		FUZZ_CHECK(ret == 0, "dht_item_verify refuses an item signed here: %s",
			   sw_strerror(ret));
	else
		FUZZ_CHECK(ret != 0, "dht_item_verify takes a v that is no bencoded value");
}

/* Reads one put; returns false at the end of the input. */
static bool read_put(fuzz_in_t *r, put_t *p, int *step)
{
	if (r->pos >= r->len)
		return false;
	memset(p, 0, offsetof(put_t, v));
	uint8_t f = fuzz_in_u8(r);
	int kind = f & 3;
	bool has_salt = f & 4, raw_v = f & 16, tamper = f & 32;
	*step = f >> 6;
	p->is_mutable = kind != 0;
	p->has_cas = f & 8;
	if (p->is_mutable)
		p->seq = seq_of(fuzz_in_u8(r));
	if (p->has_cas)
		p->cas = seq_of(fuzz_in_u8(r));
	if (has_salt) {
		p->salt_len = fuzz_in_u8(r);
		p->salt = fuzz_in_take(r, p->salt_len, &p->salt_len);
	}
	size_t vlen = (size_t)fuzz_in_u8(r) << 8;
	vlen = (vlen | fuzz_in_u8(r)) & V_RAW_MAX;
	const uint8_t *v = fuzz_in_take(r, vlen, &vlen);
	if (raw_v) {
		memcpy(p->v, v, vlen);
		p->v_len = vlen;
	} else {
		int n = sprintf((char *)p->v, "%zu:", vlen);
		memcpy(p->v + n, v, vlen);
		p->v_len = (size_t)n + vlen;
		p->packet = p->v + n;
		p->packet_len = vlen;
	}
	if (kind == 3) {
		fuzz_in_fixed(r, p->k, 32);
		p->has_sig = !tamper;
		if (p->has_sig)
			fuzz_in_fixed(r, p->sig, 64);
	} else if (kind != 0) {
		/* Signed here over what BEP 44 signs, or, tampered, over something else. */
		uint8_t buf[BUF_MAX], salt2[SALT_RAW_MAX + 1], v2[V_RAW_MAX + 8];
		const uint8_t *s = p->salt, *vv = p->v;
		size_t slen = p->salt_len;
		int64_t seq = p->seq;
		uint8_t what = 0, where = 0;
		if (tamper) {
			what = fuzz_in_u8(r) & 3;
			where = fuzz_in_u8(r);
		}
		if (what == 1) {
			seq ^= 1;
		} else if (what == 2) {
			if (slen)
				memcpy(salt2, p->salt, slen);
			salt2[slen++] = where;
			s = salt2;
		} else if (what == 3 && p->v_len > 0) {
			memcpy(v2, p->v, p->v_len);
			v2[p->v_len - 1] ^= (uint8_t)(where | 1);
			vv = v2;
		}
		p->key = kind - 1;
		memcpy(p->k, fz.pk[p->key], 32);
		size_t n = signed_buf(s, slen, seq, vv, p->v_len, buf);
		sw_ed25519_sign(fz.sk[p->key], buf, n, p->sig);
		if (tamper && (what == 0 || (what == 3 && p->v_len == 0)))
			p->sig[where % 64] ^= (uint8_t)(1u << (where / 8 % 8));
		p->has_sig = true;
		p->signed_here = true;
		p->tampered = tamper;
	}
	return true;
}

static void apply(const put_t *p, int step)
{
	static const uint64_t steps[4] = {1000, HOUR_MS, 25 * HOUR_MS, 0};
	static item_t prior_copy, want;
	uint8_t target[DHT_ID_LEN];
	int ecode = -1, want_ecode;

	fz.now += steps[step];
	dht_storage_expire(fz.st, fz.now);
	check_store();
	if (step == 2)
		FUZZ_CHECK(dht_storage_count(fz.st, NULL) == 0, "items older than 24 h are kept");

	memset(&want, 0, sizeof(want));
	want.is_mutable = p->is_mutable;
	if (p->v_len <= ITEM_V_MAX) {
		want.v_len = (uint16_t)p->v_len;
		memcpy(want.v, p->v, p->v_len);
	}
	if (p->is_mutable) {
		memcpy(want.k, p->k, 32);
		memcpy(want.sig, p->sig, 64);
		want.seq = p->seq;
		if (p->salt_len <= ITEM_SALT_MAX) {
			want.salt_len = (uint8_t)p->salt_len;
			if (p->salt_len)
				memcpy(want.salt, p->salt, p->salt_len);
		}
	}
	if (p->is_mutable)
		sha1(p->k, 32, p->salt, p->salt_len, target);
	else
		sha1(p->v, p->v_len, NULL, 0, target);
	memcpy(want.target, target, DHT_ID_LEN);

	const item_t *prior = dht_storage_find(fz.st, target);
	if (prior) {
		FUZZ_CHECK(prior->is_mutable == p->is_mutable, "a SHA-1 collision");
		prior_copy = *prior;
		prior = &prior_copy;
	}
	size_t bytes_before, count_before = dht_storage_count(fz.st, &bytes_before);
	int valid = p->is_mutable && p->has_sig && p->seq >= 0 &&
		    sig_valid(p->k, p->salt, p->salt_len, p->seq, p->v, p->v_len, p->sig);

	dht_put_args_t a = {
	    .v = p->v_len ? p->v : NULL,
	    .v_len = p->v_len,
	    .k = p->is_mutable ? p->k : NULL,
	    .sig = p->has_sig ? p->sig : NULL,
	    .seq = p->seq,
	    .salt = p->salt_len ? p->salt : NULL,
	    .salt_len = p->salt_len,
	    .has_cas = p->has_cas,
	    .cas = p->cas,
	};
	static item_t gone_copy;
	const item_t *gone = p->is_mutable ? gone_find(target) : NULL;
	if (gone) {
		gone_copy = *gone;
		gone = &gone_copy;
	}
	int ret = dht_storage_put(fz.st, &a, fz.now, &ecode);
	int want_ret = expect(p, prior, gone, valid, &want_ecode);
	FUZZ_CHECK(!(p->tampered && ret == 0), "a put with an altered signature was accepted");
	FUZZ_CHECK(!(p->is_mutable && !valid && ret == 0), "a put whose signature does not "
							   "verify was accepted");
	FUZZ_CHECK(ret == want_ret && ecode == want_ecode,
		   "put (%s, seq %" PRId64 ", v %zu bytes, salt %zu bytes, cas %s%" PRId64
		   ", sig %s, stored seq %s%" PRId64 ") gave %s (%d), expected %s (%d)",
		   p->is_mutable ? "mutable" : "immutable", p->seq, p->v_len, p->salt_len,
		   p->has_cas ? "" : "none/", p->cas, valid ? "valid" : "invalid",
		   prior ? "" : "none/", prior ? prior->seq : 0, sw_strerror(ret), ecode,
		   sw_strerror(want_ret), want_ecode);

	const item_t *now_held = dht_storage_find(fz.st, target);
	size_t bytes_after, count_after = dht_storage_count(fz.st, &bytes_after);
	if (ret != 0) {
		FUZZ_CHECK(count_after == count_before && bytes_after == bytes_before,
			   "a refused put changed the store from %zu items, %zu bytes to %zu, %zu",
			   count_before, bytes_before, count_after, bytes_after);
		FUZZ_CHECK(prior ? now_held && item_eq(now_held, prior) : now_held == NULL,
			   "a refused put changed the item under its target");
	} else {
		target_note(target);
		gone_forget(target); /* stored again: it guards its own seq */
		FUZZ_CHECK(now_held != NULL, "an accepted put is not found under its target");
		check_item(now_held, "after a put");
		if (!item_eq(now_held, &want)) {
			/* Only the same value again may keep the signature it was stored with. */
			FUZZ_CHECK(p->is_mutable && prior && item_eq(now_held, prior) &&
				       prior->seq == p->seq && prior->v_len == p->v_len &&
				       memcmp(prior->v, p->v, p->v_len) == 0,
				   "an accepted put holds other values than were put");
		}
		FUZZ_CHECK(count_after <= count_before + 1, "one put added %zu items",
			   count_after - count_before);
	}
	check_store();
	if (p->is_mutable) {
		check_zone_item(p, valid);
		check_item_sign(p);
	}
}

/* What the hooks left reloads, as the daemon gives it back at start. */
static void check_reload(void)
{
	static const uint8_t secret[DHT_TOKEN_LEN] = "another-fuzz-secret!";
	dht_storage_opts_t o = {.max_items = MAX_ITEMS, .max_bytes = MAX_BYTES};
	dht_storage_t *st = NULL;
	FUZZ_CHECK(dht_storage_new(&o, NULL, 7, secret, &st) == 0, "dht_storage_new");
	size_t loaded = 0;
	for (size_t i = 0; i < fz.ndisk; i++) {
		const item_t *it = &fz.disk[i];
		int ret = dht_storage_load(st, it, fz.now, fz.now);
		/* dht.c stores only v that parsed as one bencoded value. */
		if (is_bencode(it->v, it->v_len)) {
			FUZZ_CHECK(ret == 0, "an item stored does not reload: %s",
				   sw_strerror(ret));
			loaded++;
		} else {
			FUZZ_CHECK(ret == SW_EMALF, "a v that is no bencode reloads: %s",
				   sw_strerror(ret));
		}
	}
	size_t bytes, count = dht_storage_count(st, &bytes);
	FUZZ_CHECK(count == loaded && bytes <= MAX_BYTES, "%zu items reloaded, %zu held", loaded,
		   count);
	dht_storage_free(st);
}

static void setup(void)
{
	uint8_t seed[32];
	FUZZ_CHECK(sw_crypto_init() == 0, "sw_crypto_init");
	for (int i = 0; i < 2; i++) {
		memset(seed, i ? 0xb2 : 0xa1, sizeof(seed));
		FUZZ_CHECK(crypto_sign_seed_keypair(fz.pk[i], fz.sk[i], seed) == 0, "keypair");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t secret[DHT_TOKEN_LEN] = "bep44-fuzz-secret-20";
	static put_t p;
	static int ready;
	if (!ready) {
		setup();
		ready = 1;
	}
	dht_storage_opts_t o = {
	    .max_items = MAX_ITEMS, .max_bytes = MAX_BYTES, .seq_memory = OPS_MAX + MAX_ITEMS};
	dht_storage_hooks_t hooks = {.item_stored = on_stored, .item_removed = on_removed};
	fz.now = 1000000;
	fz.ndisk = fz.ntargets = fz.ngone = 0;
	FUZZ_CHECK(dht_storage_new(&o, &hooks, size, secret, &fz.st) == 0, "dht_storage_new");

	fuzz_in_t r = {data, size, 0};
	int step;
	for (int n = 0; n < OPS_MAX && read_put(&r, &p, &step); n++)
		apply(&p, step);
	check_reload();
	dht_storage_free(fz.st);
	fz.st = NULL;
	return 0;
}
