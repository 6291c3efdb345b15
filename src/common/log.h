/*
 * Logging to stderr with a level threshold. Called from the loop thread and CLI code.
 * Errors from the network are never logged per packet: use sw_log_limited(), which keeps
 * at most a few lines per second per call site.
 */
#pragma once
#include <stdbool.h>

typedef enum { SW_LOG_ERROR = 0, SW_LOG_WARN, SW_LOG_INFO, SW_LOG_DEBUG } sw_log_level_t;

void sw_log_set_level(sw_log_level_t level);
/* Returns 0, or SW_EINVAL for a name other than error, warn, info, debug. */
int sw_log_level_from_str(const char *s, sw_log_level_t *out);
bool sw_log_enabled(sw_log_level_t level);
void sw_log(sw_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define sw_err(...) sw_log(SW_LOG_ERROR, __VA_ARGS__)
#define sw_warn(...) sw_log(SW_LOG_WARN, __VA_ARGS__)
#define sw_info(...) sw_log(SW_LOG_INFO, __VA_ARGS__)
#define sw_debug(...)                                                                              \
	do {                                                                                       \
		if (sw_log_enabled(SW_LOG_DEBUG))                                                  \
			sw_log(SW_LOG_DEBUG, __VA_ARGS__);                                         \
	} while (0)
