#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libzscanner/scanner.h>

#include "common/err.h"
#include "zone/zonefile.h"

typedef struct {
	const char *filename;
	const uint8_t *apex;
	zone_rrlist_t *l;
	char *err;
	size_t errcap;
	int ret;
} ctx_t;

static void fail(zs_scanner_t *s, ctx_t *c, int ret, const char *msg)
{
	if (c->ret == 0) {
		snprintf(c->err, c->errcap, "%s:%llu: %s", c->filename,
			 (unsigned long long)s->line_counter, msg);
		c->ret = ret;
	}
	s->state = ZS_STATE_STOP;
}

static void on_record(zs_scanner_t *s, ctx_t *c)
{
	char apex[DNS_NAME_MAX * 4 + 1], owner[DNS_NAME_MAX * 4 + 1], msg[3 * sizeof(owner)];
	if (s->r_class != DNS_C_IN) {
		fail(s, c, SW_EZONE, "only class IN is supported");
		return;
	}
	if (!dns_name_in(s->r_owner, c->apex)) {
		dns_name_to_str(c->apex, apex, sizeof(apex));
		dns_name_to_str(s->r_owner, owner, sizeof(owner));
		snprintf(msg, sizeof(msg), "%s is outside the zone %s (names must end in the key name)",
			 owner, apex);
		fail(s, c, SW_EOUTZONE, msg);
		return;
	}
	if (zone_rdata_check(s->r_type, s->r_data, s->r_data_length) != 0) {
		fail(s, c, SW_EZONE, "record data is not valid for its type");
		return;
	}
	if (zone_rrlist_add(c->l, s->r_owner, s->r_type, s->r_class, s->r_ttl, s->r_data,
			    (uint16_t)s->r_data_length))
		fail(s, c, SW_ENOMEM, "out of memory");
}

int zone_file_parse(const char *text, size_t len, const char *filename, const uint8_t *apex,
		    zone_rrlist_t *l, char *err, size_t errcap)
{
	char origin[DNS_NAME_MAX * 4 + 1];
	ctx_t c = {filename, apex, l, err, errcap, 0};
	zs_scanner_t s;
	/* Files written on Windows end lines with CRLF, which libzscanner refuses: the CR is
	 * dropped so that such a file reads as its author meant. */
	char *copy = malloc(len + 1);
	if (copy == NULL) {
		snprintf(err, errcap, "%s: out of memory", filename);
		return SW_ENOMEM;
	}
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		if (!(text[i] == '\r' && i + 1 < len && text[i + 1] == '\n'))
			copy[n++] = text[i];
	dns_name_to_str(apex, origin, sizeof(origin));
	if (zs_init(&s, origin, DNS_C_IN, ZONE_FILE_DEFAULT_TTL) != 0 ||
	    zs_set_input_string(&s, copy, n) != 0) {
		snprintf(err, errcap, "%s: %s", filename, zs_strerror(s.error.code));
		zs_deinit(&s);
		free(copy);
		return SW_EZONE;
	}
	/* Record by record rather than zs_parse_all(), which would follow $INCLUDE and read
	 * other files: a zone is one file, and this module does no I/O. */
	while (c.ret == 0) {
		if (zs_parse_record(&s) != 0 || s.state == ZS_STATE_ERROR) {
			fail(&s, &c, SW_EZONE, zs_strerror(s.error.code));
			break;
		}
		if (s.state == ZS_STATE_DATA)
			on_record(&s, &c);
		else if (s.state == ZS_STATE_INCLUDE)
			fail(&s, &c, SW_EZONE, "$INCLUDE is not supported: put every record in one file");
		else if (s.state == ZS_STATE_EOF || s.state == ZS_STATE_STOP)
			break;
	}
	zs_deinit(&s);
	free(copy);
	return c.ret;
}
