/*
 * Parsing of incoming DNS queries (RFC 1035 §4.1, EDNS(0) RFC 6891) and writing of the
 * header, question and OPT of the response. Hostile input: every field is bounded; the
 * parser never reads past `len`. No allocation. Any thread.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/wire.h"

#define DNS_OPT_COOKIE 10   /* EDNS option code, RFC 7873 §4 */
#define DNS_COOKIE_CLIENT 8 /* client cookie length */
#define DNS_COOKIE_MAX 40   /* client cookie and the longest server cookie (32) */

/* Result of dns_query_parse(): either answer with `rcode` or drop the datagram. */
enum { DNS_QUERY_OK = 0, DNS_QUERY_DROP = 1, DNS_QUERY_ERROR = 2 };

typedef struct {
	uint16_t id;
	uint16_t flags; /* header flags of the query as received */
	uint8_t opcode;
	uint8_t rcode; /* with DNS_QUERY_ERROR: the rcode to answer (may be extended) */
	bool has_question;
	uint8_t qname[DNS_NAME_MAX];	   /* as received, case preserved */
	uint8_t qname_lower[DNS_NAME_MAX]; /* lower-cased, for lookups */
	size_t qname_len;
	uint16_t qtype;
	uint16_t qclass;
	bool has_edns;
	uint8_t edns_version;
	bool edns_do;
	uint16_t edns_payload; /* as the client advertised it */
	/* RFC 7873 §4: the first COOKIE option, client cookie (8 bytes) then the server cookie
	 * the client holds (0, or 8 to 32 bytes). cookie_len 0: none. */
	uint8_t cookie_len;
	uint8_t cookie[DNS_COOKIE_MAX];
} dns_query_t;

/* Parses a query. Returns DNS_QUERY_OK, DNS_QUERY_DROP (too short for a header, or QR=1:
 * never answer a response), or DNS_QUERY_ERROR with q->rcode set (FORMERR, NOTIMP, BADVERS)
 * and as much of the question as could be read. A COOKIE option of a length RFC 7873 §5.2.2
 * does not allow is a FORMERR. */
int dns_query_parse(const uint8_t *wire, size_t len, dns_query_t *q);

/* Writes the response header and, if the query had one, its question (name in the case the
 * client sent). Flags: QR=1, opcode and RD copied, RA=0; `aa` sets AA. Registers the qname
 * for compression. Leaves the counts of the other sections at zero. */
void dns_resp_begin(dns_wr_t *w, const dns_query_t *q, uint8_t rcode, bool aa);
#define DNS_EDE_NONE 0xFFFF
/* Extended DNS Error codes used here (RFC 8914 §4). */
enum {
	DNS_EDE_OTHER = 0,
	DNS_EDE_DNSSEC_BOGUS = 6,
	DNS_EDE_STALE = 3,
	DNS_EDE_FILTERED = 17,
	DNS_EDE_NO_REACHABLE_AUTHORITY = 22,
	DNS_EDE_NETWORK_ERROR = 23,
};

/* Appends the OPT record (RFC 6891 §6.1.2) if the query had EDNS; increments ARCOUNT.
 * `payload` is our UDP payload size. The extended rcode bits come from `rcode` >> 4. With
 * ede other than DNS_EDE_NONE, an Extended DNS Error option (RFC 8914 §2) with `text` as its
 * EXTRA-TEXT is included. With cookie (cookie_len bytes: the client cookie and our server
 * cookie), a COOKIE option (RFC 7873 §5.2) is included. */
void dns_resp_opt(dns_wr_t *w, const dns_query_t *q, uint8_t rcode, uint16_t payload, uint16_t ede,
		  const char *text, const uint8_t *cookie, size_t cookie_len);
/* Appends a Padding option (RFC 7830) to the OPT record that ends the message in w, so that
 * the message length becomes a multiple of `block` (RFC 8467 §4.1: 468 for responses), as far
 * as w->cap allows. The message must end with the OPT (dns_resp_opt() last). */
void dns_resp_pad(dns_wr_t *w, size_t opt_pos, size_t block);
/* Sets the section counts in the header. */
void dns_resp_counts(dns_wr_t *w, uint16_t an, uint16_t ns, uint16_t ar);
