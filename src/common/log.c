#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/log.h"

static sw_log_level_t g_level = SW_LOG_INFO;
static const char *const g_names[] = {"error", "warn", "info", "debug"};

void sw_log_set_level(sw_log_level_t level)
{
	g_level = level;
}

int sw_log_level_from_str(const char *s, sw_log_level_t *out)
{
	for (int i = 0; i <= SW_LOG_DEBUG; i++) {
		if (strcmp(s, g_names[i]) == 0) {
			*out = (sw_log_level_t)i;
			return 0;
		}
	}
	return SW_EINVAL;
}

bool sw_log_enabled(sw_log_level_t level)
{
	return level <= g_level;
}

void sw_log(sw_log_level_t level, const char *fmt, ...)
{
	if (level > g_level)
		return;
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s swarmdns[%s]: ", ts, g_names[level]);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
