/*
 * Reading DNS responses for the HTTP API's /dns-query (RFC 8484): the lowest TTL that bounds
 * an HTTP cache's freshness (RFC 8484 §5.1), and the JSON form that Google's and Cloudflare's
 * resolvers serve as `application/dns-json`. The responses come from our resolver and, when
 * forwarded, from upstream servers, so they are read as hostile input: every read is bounded
 * and compressed names, also those inside rdata, are decompressed before they are printed.
 * Pure; any thread.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* The JSON form of a response: {"Status", "TC", "RD", "RA", "AD", "CD", "Question",
 * "Answer", "Authority"} with each record as {"name", "type", "TTL", "data"}, data in
 * presentation form. Empty sections are left out, as those resolvers do. comment, if not
 * NULL, becomes "Comment". Returns a new object, or NULL when the message does not parse or
 * memory runs out. */
json_t *api_dnsmsg_to_json(const uint8_t *msg, size_t len, const char *comment);

/* The answer records of a message (a response, or a zone packet: docs/design.md §2) as zone-file
 * lines, "owner TTL TYPE rdata", for people reading `swarmdns resolve` and `dht get`. Records
 * of classes other than IN are left out. Returns a new array, empty when the message does
 * not parse, or NULL when memory runs out. */
json_t *api_dnsmsg_answer_lines(const uint8_t *msg, size_t len);
