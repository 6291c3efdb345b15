/*
 * Internal to src/net: the DNS-over-HTTPS application layers (stream.h) that sit on the TLS
 * filter of a DoH listener. stacks.c puts them there; the TLS filter does not know them.
 */
#pragma once
#include <stdbool.h>

#include "net/stream.h"

/* HTTP/2 (RFC 9113), doh.c. */
extern const stream_app_t doh_app;
/* Did this connection speak HTTP/1 to the HTTP/2 layer (answered with 505)? */
bool doh_conn_http1(const stream_conn_t *c);
