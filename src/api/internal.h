/*
 * What the parts of the HTTP API share (src/api/api.c, relay.c, status.c, control.c,
 * query.c): the API object, the per-request state, the reply helpers and the suspend/resume
 * of requests waiting for the DHT or the resolver. Private to src/api/. Loop thread only.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api/api.h"
#include "common/buf.h"
#include "dns/query.h"
#include "item/item.h"

#define BODY_MAX ITEM_RELAY_MAX
#define RELAY_TYPE "application/pkarr.org/relays#payload"
#define DNS_MESSAGE_TYPE "application/dns-message" /* RFC 8484 §6 */
#define DNS_JSON_TYPE "application/dns-json"	   /* Google's and Cloudflare's JSON form */
#define DNS_MESSAGE_MAX 65535			   /* RFC 1035 §4.2.2: the largest message */

typedef struct req req_t;

#define API_RATE_SLOTS 1024

/* A rate limit per client (relay-put-rate, registrar-rate), by the generic cell rate algorithm:
 * each client has a theoretical arrival time that every request moves on by `step`; a request is
 * over the limit when that time is more than `burst` ahead of now. A fixed table keyed by a hash
 * with a secret seed (clients cannot plan collisions); zeroed memory is an empty table. */
typedef struct {
	struct api_rate_slot {
		uint64_t key; /* the client's hash; 0: free */
		uint64_t tat; /* us (uv_now): when the client's allowance is full again */
	} slot[API_RATE_SLOTS];
	uint64_t seed; /* 0: not drawn yet */
} api_rate_t;

/* Counts one request of the client `key` (its address or network, len bytes) at now_us. True
 * when it is over the limit (and then not counted), with *retry_s the whole seconds until one
 * more is allowed. */
bool api_rate_over(api_rate_t *t, const void *key, size_t len, uint64_t now_us, uint64_t step_us,
		   uint64_t burst_us, unsigned *retry_s);

struct api {
	struct MHD_Daemon *mhd;
	req_t *waiting; /* suspended requests, waiting for the DHT */
	uv_poll_t poll;
	uv_timer_t timer;
	uv_timer_t waker; /* runs MHD soon after a DHT operation ended */
	uv_loop_t *loop;
	api_ctx_t ctx;
	char token[128]; /* ctx.token points here: api_set_token() changes it */
	int open_handles;
	net_limit_stats_t lim; /* api-max-clients refusals, bodies over their limit (413) */
	/* relay-put-rate (relay.c): the PUTs of the client addresses that may not write. */
	api_rate_t relay_rate;
	uint64_t relay_limited;
	/* registrar-rate (registry.c): the requests to the registrar, per client network. */
	api_rate_t registrar_rate;
	uint64_t registrar_limited;
};

/* Per-request state: the body of a PUT, read in pieces, and what a request suspended for a
 * DHT operation waits for. */
typedef enum { REQ_NEW = 0, REQ_WAITING, REQ_DONE, REQ_ABORTED } req_state_t;

struct req {
	api_t *api;
	struct MHD_Connection *conn;
	req_t *prev, *next; /* in api->waiting while REQ_WAITING */
	req_state_t state;
	uint8_t body[BODY_MAX];
	size_t len;
	bool too_big;
	bool rate_counted; /* counted by registrar-rate (a request resumed is not counted again) */
	bool relay_own;	   /* PUT /<z32>: stored as an own zone (else only cached and put) */
	uint8_t relay_rcode; /* GET /<z32>: the rcode of the lookup's answer (0xFF: none) */
	/* PUT /<z32>: what it still waits for, and the relays' count (net_relay_put()). */
	bool put_dht_wait, put_relays_wait;
	net_relay_put_t *relay_put; /* NULL: not waiting for the relays */
	unsigned relays_stored, relays_asked;
	/* Results of the DHT operation. */
	dht_put_result_t put;
	bool got_item;
	item_t item;
	dht_addr_t from[32];
	size_t from_n;
	int get_err;
	dht_lookup_stats_t stats;
	uint8_t target[DHT_ID_LEN];
	/* /v1/resolve */
	uint8_t *answer;
	size_t answer_len;
	resolver_trace_t trace;
	char qname[DNS_NAME_MAX * 4 + 2];
	uint16_t qtype;
	bool resolving; /* the resolver still owes an answer to this request */
	/* /dns-query */
	bool doh;      /* a /dns-query request */
	bool doh_post; /* a POST to /dns-query: the body is a DNS message */
	bool doh_json; /* answer in the JSON form */
	sw_buf_t msg;  /* the query: the POST body, or decoded from ?dns= */
	/* A registrar's operation on a dns-proof registry (registrar.c): the TXT records at
	 * proof_name, looked up through the forwarder; proof_err its failure (0: found) */
	reg_dns_txt_t *proof;
	int proof_err;
	char proof_name[REG_DNS_PROOF_NAME_MAX];
};

void api_req_free(req_t *rq);

/* Queues a response; `extra` is one more header ("Name: value") or NULL. */
enum MHD_Result api_reply_ext(struct MHD_Connection *c, unsigned status, const char *type,
			      const void *data, size_t len, const char *extra);
enum MHD_Result api_reply(struct MHD_Connection *c, unsigned status, const char *type,
			  const void *data, size_t len);
/* A one-line text/plain reply. */
enum MHD_Result api_reply_text(struct MHD_Connection *c, unsigned status, const char *msg);
/* Replies with j, indented, and takes j's reference. */
enum MHD_Result api_reply_json(struct MHD_Connection *c, unsigned status, json_t *j);
/* Is c allowed to write: from loopback, or with the api-token as a bearer token? */
bool api_write_allowed(const api_t *a, struct MHD_Connection *c);
/* Open HTTP connections of the API. */
unsigned api_connections(const api_t *a);

/* Runs MHD on the loop's next turn (see api.c). */
void api_wake(api_t *a);
/* Suspends rq's connection until api_wait_end(). */
void api_wait_begin(api_t *a, req_t *rq);
/* A resolver client for a query asked over the API on connection c: transport api, replies
 * to `reply` with rq as its connection, the client's address for per-network limits. */
void api_resolver_client(resolver_client_t *cl, struct MHD_Connection *c, req_t *rq,
			 resolver_reply_cb reply);
/* The first step of such a reply: false when it has nothing to do (the request went away,
 * and is freed here, or no longer waits); else the trace is kept in rq. */
bool api_resolved(req_t *rq, const resolver_trace_t *trace);
/* The DHT operation ended (or was aborted): answer the request on MHD's next run. */
void api_wait_end(req_t *rq, req_state_t state);

/* The answer records of a zone packet or a response as text (query.c). */
json_t *api_records_json(const uint8_t *packet, size_t len);

/* relay.c: PUT, GET (and HEAD) and OPTIONS of /<z32> (the pkarr relay interface) and GET
 * /v1/dht/<key>. */
enum MHD_Result api_relay_put(api_t *a, struct MHD_Connection *c, const uint8_t pk[32], req_t *rq);
enum MHD_Result api_relay_get(api_t *a, struct MHD_Connection *c, const uint8_t pk[32], req_t *rq);
/* The CORS preflight (Fetch standard, "CORS protocol"), and the answer to other methods. */
enum MHD_Result api_relay_options(struct MHD_Connection *c);
enum MHD_Result api_relay_bad_method(struct MHD_Connection *c);
/* A 400 for a path that has a key's length but is no z-base32 key. */
enum MHD_Result api_relay_bad_key(struct MHD_Connection *c);
enum MHD_Result api_dht_get_reply(api_t *a, struct MHD_Connection *c, req_t *rq);
enum MHD_Result api_dht_get_start(api_t *a, struct MHD_Connection *c, req_t *rq, const char *what);

/* status.c: GET /v1/status and GET /metrics. */
enum MHD_Result api_status_get(api_t *a, struct MHD_Connection *c);
enum MHD_Result api_metrics_get(api_t *a, struct MHD_Connection *c);

/* control.c: /healthz, /v1/reload, /v1/flush, /v1/zones[/<z32>], /v1/log-level. */
bool api_control_path(const char *url);
enum MHD_Result api_control(api_t *a, struct MHD_Connection *c, const char *url, const char *method,
			    req_t *rq);
/* The DHT health from the daemon (isolated since start when it does not say), and as the
 * JSON of /v1/status's "dht" and /healthz. */
void api_dht_health(const api_t *a, api_dht_health_t *h);
json_t *api_dht_health_json(const api_t *a);

/* registry.c: GET /v1/registry/<R>/log/... (path is what follows /v1/registry/). */
enum MHD_Result api_registry(api_t *a, struct MHD_Connection *c, const char *path,
			     const char *method, req_t *rq);
/* registrar.c: the operations of a registry this node runs, /v1/registry/<R>/<path> for any
 * path but log/...; whether a request is a POST there (its JSON body is read into rq). */
enum MHD_Result api_registrar(api_t *a, struct MHD_Connection *c, const uint8_t pk[32],
			      const char *path, const char *method, req_t *rq);
bool api_registrar_post(const char *url, const char *method);
/* GET /v1/registry/: the registries this node runs. */
enum MHD_Result api_registrar_list(api_t *a, struct MHD_Connection *c, const char *method);

/* query.c: GET /v1/resolve and /dns-query (RFC 8484 and the JSON form). */
enum MHD_Result api_resolve_reply(struct MHD_Connection *c, req_t *rq);
enum MHD_Result api_resolve_start(api_t *a, struct MHD_Connection *c, req_t *rq);
enum MHD_Result api_doh_reply(struct MHD_Connection *c, req_t *rq);
enum MHD_Result api_doh_post_begin(struct MHD_Connection *c, req_t *rq, bool *answered);
enum MHD_Result api_doh_start(api_t *a, struct MHD_Connection *c, req_t *rq);
