/*
 * The log line of a limit that starts to act (docs/logging.md, docs/limits.md): the node
 * looks at swarmdns_limit_hits_total every few seconds and says so when a limit that was
 * quiet for a while acts again. Loop thread only.
 */
#pragma once
#include <uv.h>

#include "api/api.h"

typedef struct daemon_limitlog daemon_limitlog_t;

/* Watches the limits of ctx (and of the API api, which may be set later through *api).
 * Returns 0 or SW_ENOMEM. */
int daemon_limitlog_start(uv_loop_t *loop, const api_ctx_t *ctx, api_t *const *api,
			  daemon_limitlog_t **out);
/* NULL is a no-op. The memory goes when the loop has closed the timer. */
void daemon_limitlog_stop(daemon_limitlog_t *l);
