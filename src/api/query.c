/*
 * Questions through the API, run by the one query handler as every transport does (tp
 * SW_TP_API): `GET /v1/resolve?name=&type=` (JSON with the answer and where it came from) and
 * `/dns-query`, DNS over HTTP/1.1 (RFC 8484) and the JSON form of Google's and Cloudflare's
 * resolvers. Loop thread only.
 */
#include <strings.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api/internal.h"
#include "api/dnsmsg.h"
#include "api/metrics.h"
#include "common/buf.h"
#include "common/codec.h"
#include "common/err.h"
#include "dns/doh.h"

/* The answer records of a zone packet or a response as text, for people reading `swarmdns
 * dht get` and `swarmdns resolve`. Both may come from anyone: rdata that is not well formed
 * for its type is shown in the generic form, never given to libknot's printer. */
json_t *api_records_json(const uint8_t *packet, size_t len)
{
	json_t *arr = api_dnsmsg_answer_lines(packet, len);
	return arr ? arr : json_array();
}

bool api_resolved(req_t *rq, const resolver_trace_t *trace)
{
	rq->resolving = false;
	if (rq->api == NULL) { /* the HTTP request went away meanwhile */
		api_req_free(rq);
		return false;
	}
	if (rq->state != REQ_WAITING)
		return false;
	rq->trace = *trace;
	return true;
}

static void on_resolved(const resolver_client_t *cl, const uint8_t *resp, size_t len,
			const resolver_trace_t *trace)
{
	req_t *rq = cl->conn;
	if (!api_resolved(rq, trace))
		return;
	rq->answer = len ? malloc(len) : NULL;
	if (rq->answer) {
		memcpy(rq->answer, resp, len);
		rq->answer_len = len;
	}
	api_wait_end(rq, REQ_DONE);
	api_wake(rq->api);
}

enum MHD_Result api_resolve_reply(struct MHD_Connection *c, req_t *rq)
{
	if (rq->answer == NULL || rq->answer_len < DNS_HDR_LEN)
		return api_reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the node gave no answer");
	const resolver_trace_t *t = &rq->trace;
	char type[32], rcode_txt[16];
	static const char *const rcodes[] = {"NOERROR",	 "FORMERR", "SERVFAIL",
					     "NXDOMAIN", "NOTIMP",  "REFUSED"};
	uint8_t rcode = rq->answer[3] & 0xF;
	snprintf(rcode_txt, sizeof(rcode_txt), "%s", rcode < 6 ? rcodes[rcode] : "RCODE");
	dns_type_to_str(rq->qtype, type, sizeof(type));
	json_t *j = json_object();
	json_object_set_new(j, "name", json_string(rq->qname));
	json_object_set_new(j, "type", json_string(type));
	json_object_set_new(j, "rcode", json_string(rcode_txt));
	json_object_set_new(j, "answer", api_records_json(rq->answer, rq->answer_len));
	json_object_set_new(j, "source", json_string(api_source_name(t->source)));
	if (t->has_key) {
		char z32[SW_Z32_KEY_LEN + 1];
		sw_z32_encode_key(t->key, z32);
		json_object_set_new(j, "zone", json_string(z32));
		json_object_set_new(j, "seq", json_integer((json_int_t)t->seq));
		/* Every zone served was verified when it was stored or fetched. */
		json_object_set_new(j, "signature", json_string("valid"));
		if (t->source == RES_SRC_DHT || t->source == RES_SRC_CACHE ||
		    t->source == RES_SRC_STALE)
			json_object_set_new(j, "dht_nodes", json_integer(t->dht_nodes));
	}
	json_object_set_new(j, "hops", json_integer(t->hops));
	json_object_set_new(j, "elapsed_ms", json_integer((json_int_t)t->elapsed_ms));
	if (t->ede != DNS_EDE_NONE)
		json_object_set_new(j, "ede",
				    json_pack("{s:i, s:s}", "code", t->ede, "text",
					      t->ede_text ? t->ede_text : ""));
	return api_reply_json(c, MHD_HTTP_OK, j);
}

/* A query for name and type with RD=1, and with flags (CD) and an OPT with DO when asked.
 * Also sets rq->qname and rq->qtype. Returns 0 or SW_EMALF. */
static int query_build(req_t *rq, const char *name, uint16_t qtype, bool cd, bool dnssec_ok,
		       uint8_t *query, size_t cap, size_t *len)
{
	uint8_t wire[DNS_NAME_MAX];
	size_t nl;
	if (name[0] == '\0' || strlen(name) > DNS_NAME_MAX * 4)
		return SW_EMALF;
	snprintf(rq->qname, sizeof(rq->qname), "%s%s", name,
		 name[strlen(name) - 1] == '.' ? "" : ".");
	rq->qtype = qtype;
	if (dns_name_from_str(rq->qname, wire, &nl) != 0)
		return SW_EMALF;
	dns_wr_t w;
	dns_wr_init(&w, query, cap, 0);
	dns_wr_u16(&w, 0);
	dns_wr_u16(&w, (uint16_t)(0x0100 | (cd ? 0x0010 : 0))); /* RD, CD */
	dns_wr_u16(&w, 1);
	dns_wr_u16(&w, 0);
	dns_wr_u16(&w, 0);
	dns_wr_u16(&w, dnssec_ok ? 1 : 0);
	dns_wr_bytes(&w, wire, nl);
	dns_wr_u16(&w, qtype);
	dns_wr_u16(&w, DNS_C_IN);
	if (dnssec_ok) {
		/* RFC 6891 §6.1.2: root owner, type OPT, class = payload size, TTL = extended
		 * rcode, version and flags (DO, RFC 3225 §3), no options. */
		dns_wr_u8(&w, 0);
		dns_wr_u16(&w, DNS_T_OPT);
		dns_wr_u16(&w, 1232);
		dns_wr_u32(&w, 0x8000);
		dns_wr_u16(&w, 0);
	}
	*len = w.len;
	return w.err ? SW_EMALF : 0;
}

void api_resolver_client(resolver_client_t *cl, struct MHD_Connection *c, req_t *rq,
			 resolver_reply_cb reply)
{
	memset(cl, 0, sizeof(*cl));
	cl->tp = SW_TP_API;
	cl->reply = reply;
	cl->conn = rq;
	cl->trace = &rq->trace;
	/* The client's address, for per-network limits (lookup-rate). */
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr &&
	    (ci->client_addr->sa_family == AF_INET || ci->client_addr->sa_family == AF_INET6)) {
		cl->peer = ci->client_addr;
		cl->peer_len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
								      : sizeof(struct sockaddr_in);
	}
}

/* Runs a query through the one query handler, as every transport does (tp SW_TP_API). An
 * answer that must wait for the DHT or an upstream server arrives in on_resolved() while
 * the request is suspended; MHD then calls on_request() again, which answers. */
static enum MHD_Result query_run(api_t *a, struct MHD_Connection *c, req_t *rq,
				 const uint8_t *query, size_t qlen)
{
	static uint8_t out[DNS_MESSAGE_MAX];
	resolver_client_t cl;
	api_resolver_client(&cl, c, rq, on_resolved);
	size_t n = resolver_handle_client(a->ctx.resolver, query, qlen, &cl, out, sizeof(out));
	if (n == RESOLVER_ASYNC) {
		rq->resolving = true;
		api_wait_begin(a, rq);
		return MHD_YES;
	}
	rq->answer = malloc(n ? n : 1);
	if (rq->answer)
		memcpy(rq->answer, out, n);
	rq->answer_len = rq->answer ? n : 0;
	return rq->doh ? api_doh_reply(c, rq) : api_resolve_reply(c, rq);
}

enum MHD_Result api_resolve_start(api_t *a, struct MHD_Connection *c, req_t *rq)
{
	const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
	const char *type = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "type");
	uint8_t query[DNS_NAME_MAX + 32];
	size_t qlen;
	uint16_t qtype = DNS_T_A;
	if (name == NULL || name[0] == '\0')
		return api_reply_text(c, MHD_HTTP_BAD_REQUEST, "give ?name=NAME[&type=TYPE]");
	if (type && dns_type_from_str(type, &qtype) != 0)
		return api_reply_text(c, MHD_HTTP_BAD_REQUEST, "unknown record type");
	if (query_build(rq, name, qtype, false, false, query, sizeof(query), &qlen) != 0)
		return api_reply_text(c, MHD_HTTP_BAD_REQUEST, "not a valid domain name");
	return query_run(a, c, rq, query, qlen);
}

/* ---- /dns-query: DNS over HTTP/1.1 (RFC 8484, through the core dns/doh.h) and the JSON
 * form ---- */

/* Is the header value application/dns-message (RFC 9110 §8.3.1)? */
static bool ctype_is_dns(const char *v)
{
	return v && doh_ctype_ok(v, strlen(v));
}

/* An error of the RFC 8484 core: its status and its one line. */
static enum MHD_Result doh_error(struct MHD_Connection *c, const doh_err_t *err)
{
	return api_reply(c, err->status, "text/plain; charset=utf-8", err->text, strlen(err->text));
}

static bool arg_true(struct MHD_Connection *c, const char *key)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
	return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0);
}

/* A record type as Google's and Cloudflare's JSON APIs take it: a number or a mnemonic. */
static int json_qtype(const char *s, uint16_t *type)
{
	if (s == NULL || s[0] == '\0') {
		*type = DNS_T_A;
		return 0;
	}
	if (strspn(s, "0123456789") == strlen(s)) {
		unsigned long v = strlen(s) <= 5 ? strtoul(s, NULL, 10) : 70000;
		if (v > UINT16_MAX)
			return SW_EINVAL;
		*type = (uint16_t)v;
		return 0;
	}
	return dns_type_from_str(s, type);
}

enum MHD_Result api_doh_reply(struct MHD_Connection *c, req_t *rq)
{
	if (rq->answer == NULL || rq->answer_len < DNS_HDR_LEN)
		return api_reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the node gave no answer");
	/* RFC 8484 §5.1, the rule of the core, as on the DoH port. */
	char cache[48] = "Cache-Control: ";
	size_t cl = strlen(cache);
	doh_cache_control(rq->answer, rq->answer_len, cache + cl, sizeof(cache) - cl);
	if (!rq->doh_json)
		return api_reply_ext(c, MHD_HTTP_OK, DNS_MESSAGE_TYPE, rq->answer, rq->answer_len,
				     cache);
	const char *comment = rq->trace.ede != DNS_EDE_NONE ? rq->trace.ede_text : NULL;
	json_t *j = api_dnsmsg_to_json(rq->answer, rq->answer_len, comment);
	if (j == NULL)
		return api_reply_text(c, MHD_HTTP_BAD_GATEWAY, "the answer could not be read");
	char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (text == NULL)
		return api_reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	enum MHD_Result ret =
	    api_reply_ext(c, MHD_HTTP_OK, DNS_JSON_TYPE, text, strlen(text), cache);
	free(text);
	return ret;
}

/* The first call for a POST to /dns-query, before the body: a wrong content type or a
 * declared length over the limit is answered at once, without reading the body. Returns
 * MHD_YES to go on reading, or the result of queueing the error. */
enum MHD_Result api_doh_post_begin(struct MHD_Connection *c, req_t *rq, bool *answered)
{
	rq->doh_post = true;
	*answered = true;
	const char *ct =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	const char *cl =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	size_t declared = 0;
	if (cl)
		declared = strlen(cl) > 9 ? SIZE_MAX : strtoul(cl, NULL, 10);
	doh_err_t err;
	if (doh_check_post(ctype_is_dns(ct), declared, &err) != 0)
		return doh_error(c, &err);
	*answered = false;
	return MHD_YES;
}

enum MHD_Result api_doh_start(api_t *a, struct MHD_Connection *c, req_t *rq)
{
	const char *accept =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	rq->doh = true;
	rq->doh_json = accept && strcasestr(accept, DNS_JSON_TYPE) != NULL;
	doh_err_t err;
	if (rq->doh_post) {
		if (rq->too_big) {
			rq->api->lim.too_large++;
			doh_check_post(true, SIZE_MAX, &err);
			return doh_error(c, &err);
		}
	} else {
		const char *dns = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "dns");
		const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
		if (dns) {
			/* RFC 8484 §4.1, decoded by the core into a buffer sized for it. */
			size_t dl = strlen(dns), cap = dl / 4 * 3 + 3;
			if (dl / 4 * 3 > DOH_MSG_MAX)
				cap = 1; /* the core says 414 before it writes */
			if (sw_buf_reserve(&rq->msg, cap, cap) != 0)
				return api_reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
						      "out of memory");
			if (doh_get_query(dns, dl, rq->msg.data, cap, &rq->msg.len, &err) != 0)
				return doh_error(c, &err);
		} else if (name) {
			/* The JSON API of Google and Cloudflare: ?name=&type=[&cd=][&do=]; ct
			 * asks for the wire form instead. */
			uint8_t query[DNS_NAME_MAX + 64];
			size_t qlen;
			uint16_t qtype;
			const char *ct =
			    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "ct");
			rq->doh_json = !ctype_is_dns(ct);
			if (json_qtype(
				MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "type"),
				&qtype) != 0)
				return api_reply_text(c, MHD_HTTP_BAD_REQUEST,
						      "unknown record type");
			if (query_build(rq, name, qtype, arg_true(c, "cd"), arg_true(c, "do"),
					query, sizeof(query), &qlen) != 0)
				return api_reply_text(c, MHD_HTTP_BAD_REQUEST,
						      "not a valid domain name");
			return query_run(a, c, rq, query, qlen);
		} else {
			return api_reply_text(c, MHD_HTTP_BAD_REQUEST,
					      "give ?dns=<base64url DNS message> (RFC 8484) or "
					      "?name=NAME[&type=TYPE] (JSON)");
		}
	}
	/* A message that is no query is the client's error, not a DNS answer's (the resolver
	 * would drop it or say FORMERR); other DNS errors are answered in DNS. */
	static const uint8_t none[1];
	if (doh_check_query(rq->msg.data ? rq->msg.data : none, rq->msg.len, &err) != 0)
		return doh_error(c, &err);
	return query_run(a, c, rq, rq->msg.data, rq->msg.len);
}
