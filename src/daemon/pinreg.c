/*
 * Pinned registries and names: their items re-put from the DHT (see daemon/pinreg.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/log.h"
#include "conf/conf.h"
#include "crypto/crypto.h"
#include "daemon/pinreg.h"
#include "registry/audit.h"
#include "registry/policy.h"
#include "registry/sth.h"
#include "store/mlog.h"

/* Lookups of one round at once: a pinned registry of a million names must not take the
 * node's 128 lookups from its own zones and clients. */
#define PINREG_INFLIGHT 8
/* Entries per request: the API's most (API_LOG_ENTRIES_MAX, RFC 6962 §4.6 allows fewer). */
#define PAGE 256
#define PAGE_BODY_MAX (1 << 20) /* 256 entries in hex JSON are ~130 KiB */
#define HTTP_TIMEOUT_MS 10000
/* A progress line while a long log is read. */
#define PROGRESS_EVERY 65536

enum { PH_FIRST, PH_READING, PH_LABELS };

/* The context of one DHT get: the salt it is for. */
typedef struct {
	struct daemon_pinreg *p;
	size_t idx;
} pin_get_t;

struct daemon_pinreg {
	uv_timer_t retry; /* a get refused for want of lookups (PIN_RETRY_MS) */
	net_dht_t *dht;
	daemon_regput_t *regput;
	store_t *store;
	net_http_t *http;
	uint8_t registry[32];
	char label[REG_LABEL_MAX + 1]; /* a pinned name's label; "": a registry */
	char z32[SW_Z32_KEY_LEN + 1];
	char shown[CONF_ADDR_LEN + SW_Z32_KEY_LEN + 8];
	/* The round: the salts to get (a registry's: `_policy`, `_log`, then the live labels) */
	bool running;
	int phase;
	char (*salts)[REG_LABEL_MAX + 1];
	size_t n, cap, next, inflight, ended, put;
	pin_get_t gets[PINREG_INFLIGHT];
	int64_t seq; /* a name: the seq of the copy put */
	bool from_mirror;
	char log_url[CONF_URL_LEN];	  /* the option's, or "" */
	char policy_url[REG_API_MAX + 1]; /* the policy item's `api=` found this round */
	const char *src;		  /* where the log is read this round */
	/* R's log read over HTTP, replayed, kept across rounds: read entries so far of size */
	reg_replay_t *rp;
	uint64_t read, size, round_from;
	uint64_t signed_size; /* of the tree head got this round (UINT64_MAX: none found) */
	net_http_req_t *req;
};

/* Adds a salt to the round. Returns 0 or SW_ENOMEM. */
static int salt_add(daemon_pinreg_t *p, const char *salt)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 64;
		void *s = realloc(p->salts, cap * sizeof(*p->salts));
		if (s == NULL)
			return SW_ENOMEM;
		p->salts = s;
		p->cap = cap;
	}
	snprintf(p->salts[p->n++], sizeof(p->salts[0]), "%s", salt);
	return 0;
}

static int collect(void *ctx, const char *label, const reg_replay_label_t *st)
{
	return st->registered ? salt_add(ctx, label) : 0;
}

static void step(daemon_pinreg_t *p);

static void round_end(daemon_pinreg_t *p)
{
	p->running = false;
	uv_timer_stop(&p->retry);
	if (p->label[0] && p->put)
		sw_info("pinned name %s: its label item (seq %" PRId64 ") re-put", p->shown,
			p->seq);
	else if (p->label[0])
		sw_warn("pinned name %s: no label item of it found in the DHT (not registered, or "
			"gone from the DHT: nothing to re-put this round)",
			p->shown);
	else if (p->put == 0 && !p->from_mirror && p->src == NULL)
		/* Neither a policy nor a log: a zone pinned as such, or a registry gone. */
		sw_debug("pinned %s: no registry items found", p->z32);
	else
		sw_info("pinned registry %s: %zu of its %zu items re-put (policy, tree head and "
			"%zu live labels)",
			p->z32, p->put, p->n, p->n - 2);
}

static void on_get(void *ctx, const dht_get_result_t *res)
{
	pin_get_t *g = ctx;
	daemon_pinreg_t *p = g->p;
	if (!res->done)
		return;
	/* The highest seq of the verified copies found: the newest one goes back. */
	if (res->item && daemon_regput_add(p->regput, res->item) == 0) {
		p->put++;
		p->seq = res->item->seq;
	}
	const uint8_t *pkt;
	size_t len;
	reg_policy_t pol;
	reg_sth_t sth;
	bool first =
	    p->label[0] == '\0' && g->idx < 2 && res->item && item_str(res->item, &pkt, &len) == 0;
	if (first && g->idx == 0 && reg_policy_parse(p->registry, pkt, len, &pol) == 0)
		snprintf(p->policy_url, sizeof(p->policy_url), "%s", pol.api);
	if (first && g->idx == 1 && reg_sth_parse(p->registry, pkt, len, &sth) == 0)
		p->signed_size = sth.size;
	g->p = NULL;
	p->inflight--;
	p->ended++;
	step(p);
}

static void on_retry(uv_timer_t *t)
{
	daemon_pinreg_t *p = t->data;
	if (p->running)
		step(p);
}

static void next_gets(daemon_pinreg_t *p)
{
	for (size_t k = 0; k < PINREG_INFLIGHT && p->next < p->n; k++) {
		if (p->gets[k].p)
			continue;
		uint8_t target[20];
		const char *salt = p->salts[p->next];
		p->gets[k] = (pin_get_t){p, p->next++};
		item_key_target(p->registry, (const uint8_t *)salt, strlen(salt), target);
		p->inflight++;
		int ret = dht_get(net_dht_node(p->dht), target, (const uint8_t *)salt, strlen(salt),
				  true, on_get, &p->gets[k]);
		if (ret == 0)
			continue;
		p->gets[k].p = NULL;
		p->inflight--;
		if (ret != SW_ELIMIT) {
			p->ended++; /* cannot be looked up: left out of this round */
			continue;
		}
		/* Every DHT lookup busy (clients' names, the put queue): the item is tried again
		 * in PIN_RETRY_MS, not at the next round an hour later; libtorrent nodes keep an
		 * item 2 hours, so two missed rounds would lose it. */
		p->next--;
		if (!uv_is_active((uv_handle_t *)&p->retry))
			uv_timer_start(&p->retry, on_retry, PIN_RETRY_MS, 0);
		break;
	}
	net_dht_kick_soon(p->dht);
}

/* The log read: its live labels into the round, then their gets. */
static void read_end(daemon_pinreg_t *p)
{
	p->req = NULL;
	p->phase = PH_LABELS;
	if (p->rp && reg_replay_foreach(p->rp, collect, p) != 0)
		sw_warn("pinned registry %s: out of memory for its labels", p->z32);
	step(p);
}

static void read_fail(daemon_pinreg_t *p, const char *what, const net_http_resp_t *resp)
{
	sw_warn("pinned registry %s: cannot read its log from %s (%s: %s%d): the %" PRIu64
		" entries read before give its live labels this round",
		p->z32, p->src, what, resp->err ? resp->error : "HTTP ", resp->status, p->read);
	read_end(p);
}

static void fetch(daemon_pinreg_t *p, const char *what, net_http_done_cb cb);

static void on_page(void *ctx, net_http_req_t *req, const net_http_resp_t *resp)
{
	static uint8_t entry[STORE_MLOG_ENTRY_MAX];
	daemon_pinreg_t *p = ctx;
	(void)req;
	p->req = NULL;
	json_t *j = net_http_json(resp);
	json_t *list = json_object_get(j, "entries"), *e;
	size_t i, got = 0;
	bool bad = false;
	json_array_foreach(list, i, e)
	{
		const char *hx = json_string_value(json_object_get(e, "entry"));
		size_t hl = hx ? strlen(hx) : 0;
		reg_entry_t ent;
		if ((uint64_t)json_integer_value(json_object_get(e, "index")) != p->read ||
		    hl == 0 || hl % 2 || hl / 2 > sizeof(entry) ||
		    sw_hex_decode(hx, hl, entry, hl / 2) ||
		    reg_entry_parse(entry, hl / 2, &ent) != 0) {
			bad = true;
			break;
		}
		if (reg_replay_add(p->rp, p->read, &ent, NULL, 0) == SW_ENOMEM) {
			bad = true;
			break;
		}
		p->read++;
		got++;
		if (p->read % PROGRESS_EVERY == 0)
			sw_info("pinned registry %s: %" PRIu64 " of the %" PRIu64
				" entries of its log read from %s",
				p->z32, p->read, p->size, p->src);
	}
	json_decref(j);
	if (got == 0 || bad) {
		read_fail(p, bad ? "an entry that does not parse" : "no entries", resp);
		return;
	}
	fetch(p, "entries", on_page);
}

static void on_sth(void *ctx, net_http_req_t *req, const net_http_resp_t *resp)
{
	daemon_pinreg_t *p = ctx;
	(void)req;
	p->req = NULL;
	json_t *j = net_http_json(resp);
	json_t *size = json_object_get(j, "size");
	bool ok = json_is_integer(size) && json_integer_value(size) >= 0;
	uint64_t served = ok ? (uint64_t)json_integer_value(size) : 0;
	json_decref(j);
	if (!ok) {
		read_fail(p, "its size", resp);
		return;
	}
	if (served < p->read) {
		/* A shorter log than the one read: another source, or a registry that rewrote
		 * its log (an auditor's matter): read it from the start. */
		reg_replay_free(p->rp);
		p->rp = NULL;
		p->read = 0;
	}
	/* No further than R signed: a source cannot make the node read (and hold the labels
	 * of) entries that R's tree head does not cover. */
	p->size = served < p->signed_size ? served : p->signed_size;
	if (p->size < p->read)
		p->size = p->read;
	uint8_t seed[16];
	if (p->rp == NULL)
		sw_random_bytes(seed, sizeof(seed));
	if (p->rp == NULL && (p->rp = reg_replay_new(seed)) == NULL) {
		read_fail(p, "out of memory", &(net_http_resp_t){.err = SW_ENOMEM, .error = ""});
		return;
	}
	p->round_from = p->read;
	fetch(p, "entries", on_page);
}

/* The next request of the log read (the size first), or its end: all read, or this round's
 * share. */
static void fetch(daemon_pinreg_t *p, const char *what, net_http_done_cb cb)
{
	char url[CONF_URL_LEN + 256];
	size_t blen = strlen(p->src);
	while (blen > 0 && p->src[blen - 1] == '/')
		blen--;
	if (cb == on_sth) {
		snprintf(url, sizeof(url), "%.*s/v1/registry/%s/log/sth", (int)blen, p->src,
			 p->z32);
	} else {
		uint64_t cap = p->round_from + PINREG_ENTRIES_ROUND;
		uint64_t end = p->size < cap ? p->size : cap;
		if (p->read >= end) {
			if (p->read > p->round_from || p->read < p->size)
				sw_info("pinned registry %s: %" PRIu64
					" new entries of its log read from %s (%" PRIu64
					" of %" PRIu64 ")%s",
					p->z32, p->read - p->round_from, p->src, p->read, p->size,
					p->read < p->size ? "; the rest at the next rounds" : "");
			read_end(p);
			return;
		}
		if (end > p->read + PAGE)
			end = p->read + PAGE;
		snprintf(url, sizeof(url),
			 "%.*s/v1/registry/%s/log/entries?start=%" PRIu64 "&end=%" PRIu64,
			 (int)blen, p->src, p->z32, p->read, end - 1);
	}
	net_http_req_opts_t o = {
	    .url = url, .timeout_ms = HTTP_TIMEOUT_MS, .max_body = PAGE_BODY_MAX};
	if (net_http_request(p->http, &o, cb, p, &p->req) != 0)
		read_fail(p, what, &(net_http_resp_t){.err = SW_EINVAL, .error = "cannot ask"});
}

/* The round goes on: more gets, the log read once the policy is known, or the end. */
static void step(daemon_pinreg_t *p)
{
	for (;;) {
		if (p->phase == PH_FIRST && p->ended == p->n) {
			/* The policy and tree head got: the live labels from the log over HTTP. */
			p->src = p->log_url[0]	    ? p->log_url
				 : p->policy_url[0] ? p->policy_url
						    : NULL;
			if (p->src && p->http) {
				p->phase = PH_READING;
				fetch(p, "its size", on_sth);
				return;
			}
			if (p->put)
				sw_warn(
				    "pinned registry %s: no node serving its log to read the live "
				    "labels from (its policy names none): give 'audit %s=URL', or "
				    "mirror it ('audit %s' with 'audit-mirror yes')",
				    p->z32, p->z32, p->z32);
			p->phase = PH_LABELS;
		}
		if (p->phase == PH_LABELS && p->ended == p->n) {
			round_end(p);
			return;
		}
		if (p->phase == PH_READING)
			return;
		size_t ended = p->ended;
		next_gets(p);
		if (p->ended == ended)
			return; /* gets running: their ends come back here */
	}
}

/* The live labels of R's log held in this node's LMDB (a mirror, or the registrar's own),
 * into the round. Returns 0, SW_ENOTFOUND (no copy here, or an empty one) or an error. */
static int labels_from_store(daemon_pinreg_t *p)
{
	static uint8_t entry[STORE_MLOG_ENTRY_MAX];
	uint8_t seed[16];
	store_mlog_t *m = NULL;
	reg_replay_t *rp = NULL;
	int ret = store_mlog_open(p->store, p->registry, false, &m);
	if (ret)
		return ret;
	if (store_mlog_size(m) == 0) {
		store_mlog_close(m);
		return SW_ENOTFOUND;
	}
	sw_random_bytes(seed, sizeof(seed));
	if ((rp = reg_replay_new(seed)) == NULL) {
		store_mlog_close(m);
		return SW_ENOMEM;
	}
	/* The live labels as the log says (a mirror holds only what it verified). */
	for (uint64_t i = 0; i < store_mlog_size(m); i++) {
		size_t len;
		reg_entry_t e;
		if ((ret = store_mlog_entry(m, i, entry, sizeof(entry), &len)))
			break;
		if (reg_entry_parse(entry, len, &e) != 0)
			break; /* what follows cannot be replayed: the labels so far */
		if ((ret = reg_replay_add(rp, i, &e, NULL, 0)) == SW_ENOMEM)
			break;
		ret = 0;
	}
	if (ret == 0)
		ret = reg_replay_foreach(rp, collect, p);
	reg_replay_free(rp);
	store_mlog_close(m);
	return ret;
}

void daemon_pinreg_round(daemon_pinreg_t *p, const char *log_url)
{
	if (p->running)
		return;
	p->n = p->next = p->inflight = p->ended = p->put = 0;
	p->policy_url[0] = '\0';
	p->signed_size = UINT64_MAX;
	p->src = NULL;
	p->from_mirror = false;
	snprintf(p->log_url, sizeof(p->log_url), "%s", log_url ? log_url : "");
	int ret;
	if (p->label[0]) {
		ret = salt_add(p, p->label);
		p->phase = PH_LABELS;
	} else {
		ret = salt_add(p, "_policy");
		if (ret == 0)
			ret = salt_add(p, "_log");
		int got = ret ? ret : labels_from_store(p);
		p->from_mirror = got == 0;
		p->phase = p->from_mirror ? PH_LABELS : PH_FIRST;
		if (got == SW_ENOMEM)
			ret = got;
		else if (got && got != SW_ENOTFOUND)
			sw_warn("pinned registry %s: cannot read its log here: %s", p->z32,
				sw_strerror(got));
	}
	if (ret) {
		sw_warn("pinned %s: no round this time: %s", p->shown, sw_strerror(ret));
		return;
	}
	p->running = true;
	step(p);
}

int daemon_pinreg_new(uv_loop_t *loop, net_dht_t *dht, daemon_regput_t *regput, store_t *store,
		      net_http_t *http, const uint8_t pk[32], const char *label, const char *shown,
		      daemon_pinreg_t **out)
{
	daemon_pinreg_t *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return SW_ENOMEM;
	uv_timer_init(loop, &p->retry);
	p->retry.data = p;
	p->dht = dht;
	p->regput = regput;
	p->store = store;
	p->http = http;
	memcpy(p->registry, pk, 32);
	sw_z32_encode_key(pk, p->z32);
	snprintf(p->label, sizeof(p->label), "%s", label);
	size_t sl = strlen(shown);
	if (label[0] && !(sl > SW_Z32_KEY_LEN && strstr(shown, p->z32)))
		snprintf(p->shown, sizeof(p->shown), "%s (%s.%s)", shown, label, p->z32);
	else
		snprintf(p->shown, sizeof(p->shown), "%s", shown);
	*out = p;
	return 0;
}

bool daemon_pinreg_is(const daemon_pinreg_t *p, const uint8_t pk[32], const char *label)
{
	return memcmp(p->registry, pk, 32) == 0 && strcmp(p->label, label) == 0;
}

bool daemon_pinreg_running(const daemon_pinreg_t *p)
{
	return p->running;
}

static void on_closed(uv_handle_t *h)
{
	free(h->data);
}

void daemon_pinreg_free(daemon_pinreg_t *p)
{
	if (p == NULL)
		return;
	reg_replay_free(p->rp);
	free(p->salts);
	uv_close((uv_handle_t *)&p->retry, on_closed); /* p itself is freed by on_closed */
}
