/*
 * The query log (option `query-log`, off by default; docs/logging.md): one line per response,
 * to a file (appended) or to stderr. Written through a 64 KiB stdio buffer flushed every
 * second, so that logging costs no system call per query. Loop thread only.
 */
#pragma once
#include <uv.h>

#include "resolver/resolver.h"

typedef struct daemon_qlog daemon_qlog_t;

/* Opens the log at path ("stderr" for stderr; "" or NULL: off, *out NULL). Returns 0, or
 * -errno when the file cannot be opened (the caller logs it). */
int daemon_qlog_open(uv_loop_t *loop, const char *path, daemon_qlog_t **out);
/* Makes r write to q (NULL: no query log). */
void daemon_qlog_hook(resolver_t *r, daemon_qlog_t *q);
/* Flushes and closes (unhook it first). NULL is a no-op. */
void daemon_qlog_close(daemon_qlog_t *q);
