/*
 * Logging: see log.h. One write(2) per line, so that lines of the node and of its children
 * or of a second thread never interleave.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"

static sw_log_level_t g_level = SW_LOG_INFO;
static const char *const g_names[] = {"error", "warn", "info", "debug"};
/* sd-daemon(3) SD_ERR, SD_WARNING, SD_INFO, SD_DEBUG. */
static const char g_prio[] = {'3', '4', '6', '7'};
static int g_journal = -1; /* -1: not looked at yet */

void sw_log_set_level(sw_log_level_t level)
{
	g_level = level;
}

sw_log_level_t sw_log_get_level(void)
{
	return g_level;
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

const char *sw_log_level_name(sw_log_level_t level)
{
	return level <= SW_LOG_DEBUG ? g_names[level] : "?";
}

bool sw_log_enabled(sw_log_level_t level)
{
	return level <= g_level;
}

/* systemd.exec(5): JOURNAL_STREAM is "DEVICE:INODE" of the stream systemd connected stderr
 * to; it counts only while stderr is still that stream (not redirected by a child's shell). */
static bool journal_stderr(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (e == NULL || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

__attribute__((format(printf, 2, 0))) static void vlog(sw_log_level_t level, const char *fmt,
						       va_list ap)
{
	char line[2048];
	int n;
	if (g_journal < 0)
		g_journal = journal_stderr();
	if (g_journal) {
		n = snprintf(line, sizeof(line), "<%c>", g_prio[level]);
	} else {
		char ts[32];
		time_t now = time(NULL);
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		n = snprintf(line, sizeof(line), "%s swarmdns[%s]: ", ts, g_names[level]);
	}
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2; /* cut: the line still ends */
	line[len++] = '\n';
	/* stderr is unbuffered: flush what stdio holds, then one write. */
	fflush(stderr);
	for (size_t off = 0; off < len;) {
		ssize_t w = write(STDERR_FILENO, line + off, len - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

void sw_log(sw_log_level_t level, const char *fmt, ...)
{
	if (level > g_level)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void sw_log_rl(sw_log_limit_t *st, sw_log_level_t level, const char *fmt, ...)
{
	if (level > g_level)
		return;
	uint64_t now = mono_ms() + 1; /* never 0, which means "no window yet" */
	if (st->window_ms == 0 || now - st->window_ms >= 60000) {
		if (st->dropped)
			sw_log(level, "(%u similar lines left out in the last minute)",
			       st->dropped);
		st->window_ms = now;
		st->lines = 0;
		st->dropped = 0;
	}
	if (st->lines >= SW_LOG_LIMIT_LINES) {
		st->dropped++;
		return;
	}
	st->lines++;
	va_list ap;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}
