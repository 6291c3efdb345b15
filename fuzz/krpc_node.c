/*
 * Fuzz target for a DHT node handling one arbitrary datagram, its state included (src/dht/
 * dht.h: BEP 5 KRPC, BEP 42, BEP 43, BEP 44). One node lives across inputs, as a long-running
 * node does: its routing table, stored items, tokens, transactions and lookups accumulate.
 * It sends through a recorder, reads a fake clock and takes deterministic random bytes, so a
 * run over the corpus (the replay test) repeats exactly. A failure may need the inputs before
 * it: when a saved input alone does not reproduce it, replay it after the corpus it was found
 * with (fuzz-krpc-node-replay CORPUS_DIR INPUT).
 *
 * Input: byte 0 chooses the source address (bits 0-2, an index into `sources`) and how far
 * the clock moves before the datagram arrives (bits 3-7, an index into `clock_steps`); the
 * rest is the datagram, given to dht_handle(), after which dht_tick() runs.
 *
 * Before the first input the node gets some state: the six IPv4 sources and four more nodes
 * in its table (answered pings, queries), a mutable, a salted mutable and an immutable item
 * stored through signed puts with tokens, an announced peer, and four lookups in progress
 * (a get of the mutable item, a get_peers, a put, an announce) whose queries go to the
 * sources. Each lookup starts again when it ends (at most once a second of the fake clock),
 * so that replies have transactions to match.
 *
 * Placeholders let seeds and mutations reach what needs secrets, as a checksum fix-up does in
 * other fuzzers. A transaction ID of txid_ph becomes the ID of the last query the node sent
 * to the source ("TXID"), of its last ping, announce_peer or put ("TXpg", "TXap", "TXpt"),
 * or of the last query to it of the get, get_peers or find_node lookup started here ("TXgt",
 * "TXgp", "TXfn"); when that one was answered already the node is first made to query the
 * source again (see query_source()), so that the reply matches a live transaction. A 20-byte
 * token TOKEN_PH
 * becomes the last token the node gave the source, and a 64-byte SIG_PH next to k = fuzz_pk
 * becomes the real Ed25519 signature of the message's salt, seq and v under the key of seed
 * 0x5a * 32. fuzz/make-corpus.py writes seeds with the same constants.
 *
 * Checked (a broken rule aborts):
 * - every datagram the node sends is canonical bencode (dht_bencode_parse, and it writes
 *   back to the same bytes), a KRPC message (dht_krpc_parse), at most DGRAM_LIMIT bytes, and
 *   goes to an IPv4 address with a port;
 * - replies and errors are sent only inside dht_handle(), only for a datagram that is a
 *   query (y = "q"), at most one, to its source, with its transaction ID (BEP 5 "KRPC
 *   Protocol") and the source's address in `ip` (BEP 42); a reply carries our ID;
 * - a datagram that is not bencode, or comes from an IPv6 address, makes the node send nothing;
 * - every item stored verifies (BEP 44), every item a get reports verifies for its target,
 *   get_peers reports at most 64 peers, a put says no more stored than asked;
 * - memory stays bounded: stored items and bytes within the configured storage limits, the
 *   routing table within K nodes per bucket and 160 buckets, lookups within the node's cap.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <string.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "dht/bencode.h"
#include "dht/dht.h"
#include "dht/rt.h"
#include "fuzz.h"
#include "item/item.h"

/* An Ethernet MTU. The largest message an IPv4 node writes is a get reply with a 1000-byte v,
 * a 19-digit seq, eight nodes and a 32-byte transaction ID: 1487 bytes. (An IPv6 node's, with
 * 38-byte nodes6 entries and an 18-byte ip, reaches about 1600; this node is IPv4.) */
#define DGRAM_LIMIT 1500
/* Small stores, so that puts often make the node evict (docs/design.md §4: the store is
 * bounded). */
#define MAX_ITEMS 4
#define MAX_BYTES 2048 /* of v and salt: two items of the BEP 44 maximum do not fit */
#define MAX_TORRENTS 4
#define LOOKUPS_MAX 128 /* DHT_LOOKUP_MAX in src/dht/dht.c */
#define TX_LIVE_MS 500	/* DHT_HARD_MIN in src/dht/dht.c: no transaction times out sooner */
#define RESTART_MS 1000 /* a lookup that ended starts again after this long */
#define PEERS_MAX 64	/* dht.h: get_peers reports at most 64 peers */
#define NSRC 8
#define NSLOT 6	    /* distinct IPv4 sources; the others map onto them or are dropped */
#define NOTHERS 4   /* nodes that only ever query us */
#define TICKS_MAX 4 /* dht_tick() calls per input while it asks to run again at once */

/* sw_ed25519_from_seed() of 32 bytes 0x5a: the key of every signed item here. */
static const uint8_t fuzz_pk[32] = {
    0x0d, 0x75, 0x50, 0x75, 0x4e, 0x08, 0x00, 0xa5, 0xd2, 0x37, 0xee, 0xf5, 0x82, 0x60, 0x35, 0x76,
    0x6b, 0x9b, 0x3e, 0x5a, 0x15, 0x86, 0x8a, 0x94, 0x0a, 0xb2, 0x89, 0x95, 0x87, 0x88, 0xe3, 0xb0,
};
/* Indexed by dht_krpc_method_t; DHT_KRPC_UNKNOWN's stands for any method. */
static const char txid_ph[DHT_KRPC_METHOD_COUNT][5] = {"TXID", "TXpg", "TXfn", "TXgp",
						       "TXap", "TXgt", "TXpt"};
#define TOKEN_PH "TOKEN-PLACEHOLDER-20"
#define SIG_PH "SIG-PLACEHOLDER-SIG-PLACEHOLDER-SIG-PLACEHOLDER-SIG-PLACEHOLDER-"
static const uint8_t self_id[DHT_ID_LEN] = "swarmdns-fuzz-node!!";
static const uint8_t info_hash[DHT_ID_LEN] = "info-hash-of-fuzzing";
static const uint8_t salt[] = "fuzz";

/* Milliseconds the clock moves before a datagram: mostly within the retransmissions and
 * timeouts of a lookup (< 5 s) and maintenance (1 s), sometimes past token rotation (5 min),
 * bucket refresh (15 min), peer expiry (30 min) and item expiry (24 h), which empties the
 * store; make-corpus.py names some indices. */
static const uint32_t clock_steps[32] = {
    0,	    0,	    1,	    5,	    10,	     20,      50,      100,	 100,	   200,	     300,
    500,    700,    1000,   1000,   1500,    2000,    3000,    5000,	 10000,	   30000,    60000,
    120000, 300000, 600000, 900000, 1200000, 1800000, 3600000, 21600000, 86400000, 90000000,
};

enum { LK_GET, LK_PEERS, LK_PUT, LK_ANNOUNCE, LK_FIND, LK_COUNT };

typedef struct {
	const char *ip;
	uint16_t port;
	int slot; /* index of the IPv4 node it is, or -1 (IPv6: not our family) */
	struct sockaddr_storage ss;
	socklen_t sl;
	dht_addr_t addr; /* as the node sees it */
} source_t;

/* Public addresses (BEP 42 applies), a local and a loopback one (exempt from BEP 42, rate
 * limited per address and port), source 0 again as an IPv4-mapped IPv6 address, and an IPv6
 * address, which an IPv4 node drops. */
static source_t sources[NSRC] = {
    {.ip = "203.0.113.10", .port = 6881, .slot = 0},
    {.ip = "198.51.100.20", .port = 6881, .slot = 1},
    {.ip = "192.0.2.30", .port = 51413, .slot = 2},
    {.ip = "203.0.113.40", .port = 1, .slot = 3},
    {.ip = "10.0.0.50", .port = 6881, .slot = 4},
    {.ip = "127.0.0.1", .port = 65535, .slot = 5},
    {.ip = "::ffff:203.0.113.10", .port = 6881, .slot = 0},
    {.ip = "2001:db8::1", .port = 6881, .slot = -1},
};

static struct {
	dht_t *dht;
	uint64_t now;
	uint64_t rng;
	uint8_t sk[64];
	uint8_t target[DHT_ID_LEN];	   /* SHA-1(pk): the mutable item */
	uint8_t src_id[NSLOT][DHT_ID_LEN]; /* IDs of the sources: next to target */

	/* What the node told each source last: the transaction IDs of its last query and of
	 * its last query of each method (by dht_krpc_method_t, [0] for any), when it was sent,
	 * whether no placeholder used it yet, and the last token. */
	uint8_t qtid[NSLOT][DHT_KRPC_METHOD_COUNT][DHT_KRPC_TID_MAX];
	uint8_t qtid_len[NSLOT][DHT_KRPC_METHOD_COUNT];
	uint64_t qtid_at[NSLOT][DHT_KRPC_METHOD_COUNT];
	bool qtid_fresh[NSLOT][DHT_KRPC_METHOD_COUNT];
	uint8_t token[NSLOT][DHT_KRPC_TOKEN_MAX];
	size_t token_len[NSLOT];

	/* The datagram dht_handle() is handling. */
	bool in_handle;
	const dht_addr_t *from;
	bool is_query;
	bool has_tid;
	uint8_t tid[DHT_KRPC_TID_MAX];
	size_t tid_len;
	unsigned sends, answers;
	uint8_t last_kind;

	/* The lookups kept running; each one's flag is its callback context. */
	bool running[LK_COUNT];
	int starting; /* the lookup being started now, or -1 */
	uint64_t started[LK_COUNT];
	item_t put_item; /* what the put lookup writes */
} fz;

/* ---- the host: clock, random, sending ---- */

static uint64_t fz_now(void *ctx)
{
	(void)ctx;
	return fz.now;
}

static void fz_random(void *ctx, void *buf, size_t len)
{
	(void)ctx;
	for (size_t i = 0; i < len; i++) {
		fz.rng = fz.rng * 6364136223846793005ULL + 1442695040888963407ULL;
		((uint8_t *)buf)[i] = (uint8_t)(fz.rng >> 56);
	}
}

static int slot_of(const dht_addr_t *a)
{
	for (int i = 0; i < NSLOT; i++) {
		if (dht_addr_equal(&sources[i].addr, a))
			return i;
	}
	return -1;
}

static int fz_send(void *ctx, const struct sockaddr *sa, socklen_t salen, const uint8_t *buf,
		   size_t len)
{
	static dht_bencode_node_t nodes[DHT_BENCODE_MAX_NODES];
	static uint8_t again[DGRAM_LIMIT];
	dht_bencode_doc_t doc;
	dht_bencode_writer_t w;
	dht_krpc_msg_t m;
	dht_addr_t to;
	size_t n;
	static const uint8_t zero[4];
	(void)ctx;

	FUZZ_CHECK(len <= DGRAM_LIMIT, "a %zu-byte datagram", len);
	int ret = dht_bencode_parse(&doc, buf, len, nodes, DHT_BENCODE_MAX_NODES);
	FUZZ_CHECK(ret == 0, "the node sent no canonical bencode (%s): %.*s", sw_strerror(ret),
		   (int)len, (const char *)buf);
	dht_bencode_writer_init(&w, again, sizeof(again));
	dht_bencode_write_node(&w, &doc, 0);
	FUZZ_CHECK(dht_bencode_writer_finish(&w, &n) == 0 && n == len &&
		       memcmp(again, buf, len) == 0,
		   "a datagram sent does not write back to its bytes");
	ret = dht_krpc_parse(&m, buf, len, nodes, DHT_BENCODE_MAX_NODES);
	FUZZ_CHECK(ret == 0, "the node sent no KRPC message (%s): %.*s", sw_strerror(ret), (int)len,
		   (const char *)buf);
	FUZZ_CHECK(dht_addr_from_sockaddr(&to, sa, salen) == 0 && sa->sa_family == AF_INET &&
		       to.len == 4 && to.port != 0 && memcmp(to.ip, zero, 4) != 0,
		   "a datagram to family %d, port %u", sa->sa_family, (unsigned)to.port);

	int slot = slot_of(&to);
	if (fz.in_handle)
		fz.sends++;
	fz.last_kind = m.kind;
	if (m.kind == DHT_KRPC_QUERY) {
		/* A get, get_peers or find_node counts for its placeholder when the lookup
		 * started here sends it, not a put's, an announce's or a refresh's. */
		int lk = m.method == DHT_KRPC_GET	  ? LK_GET
			 : m.method == DHT_KRPC_GET_PEERS ? LK_PEERS
			 : m.method == DHT_KRPC_FIND_NODE ? LK_FIND
							  : -1;
		for (int k = 0; slot >= 0 && k < (lk < 0 || lk == fz.starting ? 2 : 1); k++) {
			int method = k ? m.method : DHT_KRPC_UNKNOWN;
			memcpy(fz.qtid[slot][method], m.tid, m.tid_len);
			fz.qtid_len[slot][method] = m.tid_len;
			fz.qtid_at[slot][method] = fz.now;
			fz.qtid_fresh[slot][method] = true;
		}
		return 0;
	}
	/* BEP 5 "KRPC Protocol": a reply or an error answers a query, to its sender, with its
	 * transaction ID; BEP 42: `ip` is where the query came from. */
	FUZZ_CHECK(fz.in_handle, "a reply or error sent outside dht_handle()");
	FUZZ_CHECK(fz.is_query, "a reply or error sent for a datagram that is no query");
	FUZZ_CHECK(++fz.answers == 1, "%u answers to one datagram", fz.answers);
	FUZZ_CHECK(dht_addr_equal(&to, fz.from), "an answer sent to another address");
	FUZZ_CHECK(fz.has_tid && m.tid_len == fz.tid_len && memcmp(m.tid, fz.tid, m.tid_len) == 0,
		   "an answer with another transaction ID");
	FUZZ_CHECK(dht_addr_equal(&m.ip, fz.from), "an answer whose `ip` is not the requester");
	if (m.kind == DHT_KRPC_REPLY) {
		uint8_t id[DHT_ID_LEN];
		dht_id(fz.dht, id);
		FUZZ_CHECK(m.has_id && memcmp(m.id, id, DHT_ID_LEN) == 0, "a reply without our ID");
		if (slot >= 0 && m.token) {
			memcpy(fz.token[slot], m.token, m.token_len);
			fz.token_len[slot] = m.token_len;
		}
	}
	return 0;
}

static void fz_stored(void *ctx, const item_t *item)
{
	(void)ctx;
	int ret = dht_item_verify(item);
	FUZZ_CHECK(ret == 0, "an item stored that does not verify: %s", sw_strerror(ret));
}

/* ---- lookups and their callbacks ---- */

static void on_get(void *ctx, const dht_get_result_t *res)
{
	if (res->item) {
		FUZZ_CHECK(memcmp(res->item->target, fz.target, DHT_ID_LEN) == 0,
			   "a get reported an item of another target");
		int ret = dht_item_verify(res->item);
		FUZZ_CHECK(ret == 0, "a get reported an item that does not verify: %s",
			   sw_strerror(ret));
	}
	if (res->done)
		*(bool *)ctx = false;
}

static void on_peers(void *ctx, const dht_addr_t *peers, size_t n, const dht_lookup_stats_t *stats)
{
	(void)peers;
	(void)stats;
	FUZZ_CHECK(n <= PEERS_MAX, "get_peers reported %zu peers", n);
	*(bool *)ctx = false;
}

static void on_find(void *ctx, const dht_node_t *nodes, size_t n, const dht_lookup_stats_t *stats)
{
	(void)nodes;
	(void)stats;
	FUZZ_CHECK(n <= DHT_K, "find_node reported %zu nodes", n);
	*(bool *)ctx = false;
}

/* Also announce's. */
static void on_put(void *ctx, const dht_put_result_t *res)
{
	FUZZ_CHECK(res->stored >= 0 && res->stored <= res->asked && res->asked <= DHT_K &&
		       (res->err == 0) == (res->asked > 0),
		   "a put stored %d of %d asked, err %d", res->stored, res->asked, res->err);
	*(bool *)ctx = false;
}

/* Signs [4:salt<n>:<salt>]3:seqi<seq>e1:v<v> (BEP 44 "Signature Verification"). */
static bool sign(int64_t seq, const uint8_t *s, size_t slen, const uint8_t *v, size_t vlen,
		 uint8_t sig[64])
{
	uint8_t buf[ITEM_SIGNED_BUF_MAX];
	size_t len;
	if (seq < 0 ||
	    item_signed_buf((uint64_t)seq, s, slen, v, vlen, buf, sizeof(buf), &len) != 0)
		return false;
	sw_ed25519_sign(fz.sk, buf, len, sig);
	return true;
}

static void item_make(item_t *it, bool mutable_, int64_t seq, const uint8_t *s, size_t slen,
		      const char *v)
{
	memset(it, 0, sizeof(*it));
	it->is_mutable = mutable_;
	it->v_len = (uint16_t)strlen(v);
	memcpy(it->v, v, it->v_len);
	if (mutable_) {
		memcpy(it->k, fuzz_pk, 32);
		it->seq = seq;
		it->salt_len = (uint8_t)slen;
		if (slen)
			memcpy(it->salt, s, slen);
		FUZZ_CHECK(sign(seq, s, slen, it->v, it->v_len, it->sig), "cannot sign");
	}
	item_target(it, it->target);
}

/* Starts lookup kind lk unless it runs (LK_FIND: of target). */
static void lookup_start(int lk, const uint8_t *target)
{
	bool *ctx = &fz.running[lk];
	int ret = SW_EINVAL;
	if (*ctx)
		return;
	fz.starting = lk;
	switch (lk) {
	case LK_GET:
		ret = dht_get(fz.dht, fz.target, NULL, 0, true, on_get, ctx);
		break;
	case LK_PEERS:
		ret = dht_get_peers(fz.dht, info_hash, on_peers, ctx);
		break;
	case LK_PUT:
		ret = dht_put(fz.dht, &fz.put_item, on_put, ctx);
		break;
	case LK_ANNOUNCE:
		ret = dht_announce(fz.dht, info_hash, 6881, on_put, ctx);
		break;
	case LK_FIND:
		ret = dht_find_node(fz.dht, target, on_find, ctx);
		break;
	}
	fz.starting = -1;
	*ctx = ret == 0;
	if (ret == 0)
		fz.started[lk] = fz.now;
}

/* Keeps a get, a get_peers, a put and an announce running, so that replies find
 * transactions. One that ended at once (no live node to ask) waits a little before it starts
 * again, so that a node without neighbours does not spend each input starting lookups. */
static void lookups_keep(void)
{
	for (int lk = LK_GET; lk <= LK_ANNOUNCE; lk++) {
		if (fz.now - fz.started[lk] >= RESTART_MS || fz.started[lk] == 0)
			lookup_start(lk, NULL);
	}
}

static void lookup_restart(int lk, const uint8_t *target)
{
	dht_cancel(fz.dht, &fz.running[lk]);
	fz.running[lk] = false;
	lookup_start(lk, target);
}

/* Makes the node query source slot again, with method (DHT_KRPC_UNKNOWN: any), so that a
 * reply with a transaction-ID placeholder answers a live transaction. Our get or get_peers
 * starts over: its first queries go to the nodes closest to its target (sources 0-2 are the
 * closest to the get's); a find_node of the source's own ID asks it first. Lookups skip a
 * source that went bad by not answering, and puts and announces are sent only after their
 * lookup's first phase, so when the method could not be had a ping asks the source (its
 * answer makes it good again). */
static void query_source(int slot, int method)
{
	bool *fresh = &fz.qtid_fresh[slot][method];
	*fresh = false;
	if (method == DHT_KRPC_UNKNOWN || method == DHT_KRPC_GET)
		lookup_restart(LK_GET, NULL);
	if (!*fresh && (method == DHT_KRPC_UNKNOWN || method == DHT_KRPC_GET_PEERS))
		lookup_restart(LK_PEERS, NULL);
	if (!*fresh && method == DHT_KRPC_FIND_NODE)
		lookup_restart(LK_FIND, fz.src_id[slot]);
	if (!*fresh && dht_ping(fz.dht, &sources[slot].addr) == 0 && method != DHT_KRPC_PING) {
		/* The placeholder of method takes the ping's transaction. */
		memcpy(fz.qtid[slot][method], fz.qtid[slot][DHT_KRPC_PING], DHT_KRPC_TID_MAX);
		fz.qtid_len[slot][method] = fz.qtid_len[slot][DHT_KRPC_PING];
		fz.qtid_at[slot][method] = fz.now;
		*fresh = true;
	}
}

/* ---- delivering a datagram ---- */

/* The string value of key in dictionary dict, or NULL. */
static const uint8_t *str_of(const dht_bencode_doc_t *doc, int dict, const char *key, size_t *n)
{
	int i = dict < 0 ? -1 : dht_bencode_dict_find(doc, (uint32_t)dict, key);
	return i < 0 ? NULL : dht_bencode_str(doc, (uint32_t)i, n);
}

/* Replaces the placeholders (see the top of the file) in buf, and notes the transaction ID
 * and type of the datagram for fz_send()'s checks. Returns whether buf is bencode. */
static bool examine(uint8_t *buf, size_t len, int slot)
{
	static dht_bencode_node_t nodes[DHT_BENCODE_MAX_NODES];
	dht_bencode_doc_t doc;
	const uint8_t *s;
	size_t n;

	fz.is_query = fz.has_tid = false;
	if (dht_bencode_parse(&doc, buf, len, nodes, DHT_BENCODE_MAX_NODES) != 0)
		return false;
	if (nodes[0].type != DHT_BENCODE_DICT)
		return true;
	s = str_of(&doc, 0, "t", &n);
	for (int method = 0; s && slot >= 0 && n == 4 && method < DHT_KRPC_METHOD_COUNT; method++) {
		if (memcmp(s, txid_ph[method], 4) != 0)
			continue;
		/* A query unanswered and recent enough that its transaction surely lives. */
		if (!fz.qtid_fresh[slot][method] || fz.now - fz.qtid_at[slot][method] >= TX_LIVE_MS)
			query_source(slot, method);
		if (fz.qtid_len[slot][method] != 4)
			break;
		memcpy(buf + (s - buf), fz.qtid[slot][method], 4);
		/* That query is answered now, under whichever placeholder. */
		for (int k = 0; k < DHT_KRPC_METHOD_COUNT; k++) {
			if (fz.qtid_len[slot][k] == 4 && memcmp(fz.qtid[slot][k], s, 4) == 0)
				fz.qtid_fresh[slot][k] = false;
		}
		break;
	}
	if (s && n <= sizeof(fz.tid)) {
		fz.has_tid = true;
		fz.tid_len = n;
		memcpy(fz.tid, s, n);
	}
	s = str_of(&doc, 0, "y", &n);
	fz.is_query = s && n == 1 && s[0] == 'q';

	int d = dht_bencode_dict_find(&doc, 0, fz.is_query ? "a" : "r");
	if (d < 0 || nodes[d].type != DHT_BENCODE_DICT || slot < 0)
		return true;
	s = str_of(&doc, d, "token", &n);
	if (s && n == strlen(TOKEN_PH) && memcmp(s, TOKEN_PH, n) == 0 && fz.token_len[slot] == n)
		memcpy(buf + (s - buf), fz.token[slot], n);

	const uint8_t *k = str_of(&doc, d, "k", &n);
	if (!k || n != 32 || memcmp(k, fuzz_pk, 32) != 0)
		return true;
	s = str_of(&doc, d, "sig", &n);
	int seq = dht_bencode_dict_find(&doc, (uint32_t)d, "seq");
	int v = dht_bencode_dict_find(&doc, (uint32_t)d, "v");
	if (!s || n != 64 || memcmp(s, SIG_PH, 64) != 0 || seq < 0 ||
	    nodes[seq].type != DHT_BENCODE_INT || v < 0)
		return true;
	size_t slen = 0, vlen;
	const uint8_t *sl = str_of(&doc, d, "salt", &slen);
	const uint8_t *vraw = dht_bencode_raw(&doc, (uint32_t)v, &vlen);
	uint8_t sig[64];
	if (sign(nodes[seq].i, sl, sl ? slen : 0, vraw, vlen, sig))
		memcpy(buf + (s - buf), sig, 64);
	return true;
}

static void deliver(const source_t *src, uint8_t *buf, size_t len)
{
	bool bencode = examine(buf, len, src->slot);

	fz.in_handle = true;
	fz.from = &src->addr;
	fz.sends = fz.answers = 0;
	dht_handle(fz.dht, (const struct sockaddr *)&src->ss, src->sl, buf, len);
	fz.in_handle = false;
	FUZZ_CHECK(bencode || fz.sends == 0, "%u datagrams sent for one that is not bencode",
		   fz.sends);
	FUZZ_CHECK(src->addr.len == 4 || fz.sends == 0, "%u datagrams sent for an IPv6 one",
		   fz.sends);
}

/* Writes m from src and delivers it; returns the kind of what the node sent last. */
static uint8_t inject(const source_t *src, dht_krpc_msg_t *m)
{
	uint8_t buf[2048];
	size_t len;
	int ret = dht_krpc_write(m, buf, sizeof(buf), &len);
	FUZZ_CHECK(ret == 0, "dht_krpc_write: %s", sw_strerror(ret));
	fz.last_kind = 0;
	deliver(src, buf, len);
	return fz.last_kind;
}

static void query_init(dht_krpc_msg_t *m, uint8_t method, const uint8_t id[DHT_ID_LEN])
{
	memset(m, 0, sizeof(*m));
	m->kind = DHT_KRPC_QUERY;
	m->method = method;
	memcpy(m->tid, "su", 2);
	m->tid_len = 2;
	m->has_id = true;
	memcpy(m->id, id, DHT_ID_LEN);
}

/* A put of item from source slot, with the token the node gave it. */
static void put_item(int slot, const item_t *it)
{
	dht_krpc_msg_t m;
	query_init(&m, DHT_KRPC_PUT, fz.src_id[slot]);
	m.token = fz.token[slot];
	m.token_len = fz.token_len[slot];
	m.v = it->v;
	m.v_len = it->v_len;
	if (it->is_mutable) {
		m.has_k = m.has_sig = m.has_seq = true;
		memcpy(m.k, it->k, 32);
		memcpy(m.sig, it->sig, 64);
		m.seq = it->seq;
		m.salt = it->salt;
		m.salt_len = it->salt_len;
	}
	FUZZ_CHECK(inject(&sources[slot], &m) == DHT_KRPC_REPLY, "a put at setup was refused");
}

static void setup(void)
{
	dht_krpc_msg_t m;
	uint8_t seed[32], pk[32];
	item_t it;

	FUZZ_CHECK(sw_crypto_init() == 0, "sw_crypto_init");
	memset(seed, 0x5a, sizeof(seed));
	sw_ed25519_from_seed(seed, pk, fz.sk);
	FUZZ_CHECK(memcmp(pk, fuzz_pk, 32) == 0, "fuzz_pk is not the key of seed 0x5a");
	item_key_target(fuzz_pk, NULL, 0, fz.target);
	for (int i = 0; i < NSRC; i++) {
		source_t *s = &sources[i];
		if (strchr(s->ip, ':')) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&s->ss;
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons(s->port);
			FUZZ_CHECK(inet_pton(AF_INET6, s->ip, &s6->sin6_addr) == 1, "%s", s->ip);
			s->sl = sizeof(*s6);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&s->ss;
			s4->sin_family = AF_INET;
			s4->sin_port = htons(s->port);
			FUZZ_CHECK(inet_pton(AF_INET, s->ip, &s4->sin_addr) == 1, "%s", s->ip);
			s->sl = sizeof(*s4);
		}
		FUZZ_CHECK(dht_addr_from_sockaddr(&s->addr, (struct sockaddr *)&s->ss, s->sl) == 0,
			   "%s", s->ip);
	}
	for (int i = 0; i < NSLOT; i++) {
		memcpy(fz.src_id[i], fz.target, DHT_ID_LEN);
		fz.src_id[i][DHT_ID_LEN - 1] ^= (uint8_t)(i + 1);
	}

	fz.now = 1000000;
	fz.rng = 0x5eed;
	fz.starting = -1;
	dht_io_t io = {
	    .send = fz_send, .now_ms = fz_now, .random = fz_random, .item_stored = fz_stored};
	dht_opts_t o = {
	    .fixed_id = true,
	    /* Small bursts, so that a run of inputs without time between them from one source
	     * meets the limiters; the seeds, 100 ms apart, stay under them. */
	    .rate_qps = 20,
	    .rate_burst = 16,
	    .puts_per_min = 30,
	    /* The sources share a /24 and have IDs next to the target: the Sybil bounds
	     * (tests/unit/dht/test_lookup.c covers them) are relaxed so that they stay usable. */
	    .ip_slots = 8,
	    .net_slots = 8,
	    .node_id_unchecked = true,
	    .storage = {.max_items = MAX_ITEMS,
			.max_bytes = MAX_BYTES,
			.max_torrents = MAX_TORRENTS},
	};
	memcpy(o.id, self_id, DHT_ID_LEN);
	int ret = dht_new(&o, &io, &fz.dht);
	FUZZ_CHECK(ret == 0, "dht_new: %s", sw_strerror(ret));

	/* The sources answer a ping: good nodes, next to the item's target. Each tells us
	 * the address it sees (BEP 42), which makes a majority. */
	for (int i = 0; i < NSLOT; i++) {
		FUZZ_CHECK(dht_ping(fz.dht, &sources[i].addr) == 0, "dht_ping");
		memset(&m, 0, sizeof(m));
		m.kind = DHT_KRPC_REPLY;
		memcpy(m.tid, fz.qtid[i][DHT_KRPC_PING], fz.qtid_len[i][DHT_KRPC_PING]);
		m.tid_len = fz.qtid_len[i][DHT_KRPC_PING];
		m.has_id = true;
		memcpy(m.id, fz.src_id[i], DHT_ID_LEN);
		m.ip = (dht_addr_t){.ip = {198, 18, 0, 1}, .len = 4, .port = 6881};
		inject(&sources[i], &m);
	}
	/* Nodes that only query us: questionable ones, pinged later and never answering. */
	for (int i = 0; i < NOTHERS; i++) {
		source_t other = {.slot = -2};
		struct sockaddr_in *s4 = (struct sockaddr_in *)&other.ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(6881);
		s4->sin_addr.s_addr = htonl(0x64400001u + (uint32_t)i); /* 100.64.0.1 + i */
		other.sl = sizeof(*s4);
		dht_addr_from_sockaddr(&other.addr, (struct sockaddr *)s4, other.sl);
		uint8_t id[DHT_ID_LEN];
		memset(id, 0x40 * i + 0x21, sizeof(id));
		query_init(&m, DHT_KRPC_PING, id);
		FUZZ_CHECK(inject(&other, &m) == DHT_KRPC_REPLY, "ping at setup not answered");
	}
	dht_counters_t c;
	dht_counters(fz.dht, &c);
	FUZZ_CHECK(c.rt_nodes == NSLOT + NOTHERS, "%zu nodes in the table after setup", c.rt_nodes);

	/* Tokens for sources 0 and 1, then three items and a peer stored with them. */
	query_init(&m, DHT_KRPC_GET, fz.src_id[0]);
	m.has_target = true;
	memcpy(m.target, fz.target, DHT_ID_LEN);
	inject(&sources[0], &m);
	query_init(&m, DHT_KRPC_GET_PEERS, fz.src_id[1]);
	m.has_info_hash = true;
	memcpy(m.info_hash, info_hash, DHT_ID_LEN);
	inject(&sources[1], &m);
	FUZZ_CHECK(fz.token_len[0] && fz.token_len[1], "no tokens at setup");
	item_make(&it, true, 5, NULL, 0, "12:mutable item");
	put_item(0, &it);
	item_make(&it, true, 1, salt, sizeof(salt) - 1, "11:salted item");
	put_item(0, &it);
	item_make(&it, false, 0, NULL, 0, "l4:spami42ee");
	put_item(0, &it);
	query_init(&m, DHT_KRPC_ANNOUNCE_PEER, fz.src_id[1]);
	m.has_info_hash = true;
	memcpy(m.info_hash, info_hash, DHT_ID_LEN);
	m.has_port = true;
	m.port = 6882;
	m.token = fz.token[1];
	m.token_len = fz.token_len[1];
	FUZZ_CHECK(inject(&sources[1], &m) == DHT_KRPC_REPLY, "announce_peer at setup refused");
	dht_counters(fz.dht, &c);
	FUZZ_CHECK(c.items == 3, "%zu items stored at setup", c.items);

	item_make(&fz.put_item, true, 2, salt, sizeof(salt) - 1, "9:put by us");
	lookups_keep();
	dht_tick(fz.dht);
}

/* Memory stays within the configured bounds however the datagrams came. */
static void check_bounds(void)
{
	dht_counters_t c;
	dht_counters(fz.dht, &c);
	FUZZ_CHECK(c.items <= MAX_ITEMS && c.item_bytes <= MAX_BYTES,
		   "%zu items of %zu bytes stored (bounds %d, %d)", c.items, c.item_bytes,
		   MAX_ITEMS, MAX_BYTES);
	FUZZ_CHECK(c.rt_buckets >= 1 && c.rt_buckets <= DHT_ID_LEN * 8 &&
		       c.rt_nodes <= c.rt_buckets * DHT_K && c.rt_good <= c.rt_nodes,
		   "routing table: %zu nodes (%zu good) in %zu buckets", c.rt_nodes, c.rt_good,
		   c.rt_buckets);
	FUZZ_CHECK(c.lookups_active <= LOOKUPS_MAX, "%" PRIu64 " lookups", c.lookups_active);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fz.dht == NULL)
		setup();
	if (size == 0)
		return 0;
	const source_t *src = &sources[data[0] & (NSRC - 1)];
	fz.now += clock_steps[data[0] >> 3];

	/* A heap copy of exactly the datagram's size: the placeholders are replaced in it, and
	 * AddressSanitizer sees any read past its end. */
	size_t len = size - 1;
	uint8_t *buf = malloc(len ? len : 1);
	FUZZ_CHECK(buf != NULL, "out of memory");
	memcpy(buf, data + 1, len);
	deliver(src, buf, len);
	free(buf);

	for (int i = 0; i < TICKS_MAX && dht_tick(fz.dht) == 0; i++)
		;
	lookups_keep();
	check_bounds();
	return 0;
}
