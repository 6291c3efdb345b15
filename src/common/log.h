/*
 * Logging to stderr with a level threshold. Called from the loop thread and CLI code.
 * Errors from the network are never logged per packet: use sw_log_limited(), which keeps
 * at most a few lines a minute per call site.
 *
 * Started by systemd with stderr connected to the journal (JOURNAL_STREAM, systemd.exec(5)),
 * each line starts with its syslog priority as "<N>" (sd-daemon(3): <3> error, <4> warning,
 * <6> info, <7> debug) and has no timestamp (the journal adds one); otherwise lines are
 * "TIME swarmdns[LEVEL]: text" with a UTC timestamp. docs/logging.md lists the lines.
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>

typedef enum { SW_LOG_ERROR = 0, SW_LOG_WARN, SW_LOG_INFO, SW_LOG_DEBUG } sw_log_level_t;

void sw_log_set_level(sw_log_level_t level);
sw_log_level_t sw_log_get_level(void);
/* Returns 0, or SW_EINVAL for a name other than error, warn, info, debug. */
int sw_log_level_from_str(const char *s, sw_log_level_t *out);
/* The name of a level ("error", ...). */
const char *sw_log_level_name(sw_log_level_t level);
bool sw_log_enabled(sw_log_level_t level);
void sw_log(sw_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The state of one rate-limited call site. */
typedef struct {
	uint64_t window_ms; /* start of the current minute; 0: none yet */
	uint32_t lines;	    /* lines written in it */
	uint32_t dropped;   /* lines left out in it */
} sw_log_limit_t;
#define SW_LOG_LIMIT_LINES 5 /* per call site and minute */
/* Writes the line unless SW_LOG_LIMIT_LINES lines of this call site were written in the
 * current minute; the first line of the next minute says how many were left out. */
void sw_log_rl(sw_log_limit_t *st, sw_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define sw_log_limited(level, ...)                                                                 \
	do {                                                                                       \
		static sw_log_limit_t sw_log_limit_;                                               \
		sw_log_rl(&sw_log_limit_, level, __VA_ARGS__);                                     \
	} while (0)

#define sw_err(...) sw_log(SW_LOG_ERROR, __VA_ARGS__)
#define sw_warn(...) sw_log(SW_LOG_WARN, __VA_ARGS__)
#define sw_info(...) sw_log(SW_LOG_INFO, __VA_ARGS__)
#define sw_debug(...)                                                                              \
	do {                                                                                       \
		if (sw_log_enabled(SW_LOG_DEBUG))                                                  \
			sw_log(SW_LOG_DEBUG, __VA_ARGS__);                                         \
	} while (0)
