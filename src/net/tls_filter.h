/*
 * Internal to src/net: the TLS filter (tls.c) for stacks.c, which puts it between the stream
 * layer and an application layer (stream.h). Nothing here knows which application.
 */
#pragma once
#include "net/stream.h"
#include "net/tls.h"

extern const stream_filter_t stream_tls_filter;
/* The filter's per-listener state (stream_srv_t.filter_ctx, freed with the listener): the
 * credentials and the ALPN protocols offered (comma-separated). Returns 0 or SW_ENOMEM. */
int tls_filter_ctx_new(net_tls_creds_t *creds, const char *alpn, void **out);
