#include <stdio.h>
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

static void on_record(zs_scanner_t *s)
{
	ctx_t *c = s->process.data;
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

static void on_error(zs_scanner_t *s)
{
	fail(s, s->process.data, SW_EZONE, zs_strerror(s->error.code));
}

int zone_file_parse(const char *text, size_t len, const char *filename, const uint8_t *apex,
		    zone_rrlist_t *l, char *err, size_t errcap)
{
	char origin[DNS_NAME_MAX * 4 + 1];
	ctx_t c = {filename, apex, l, err, errcap, 0};
	zs_scanner_t s;
	dns_name_to_str(apex, origin, sizeof(origin));
	if (zs_init(&s, origin, DNS_C_IN, ZONE_FILE_DEFAULT_TTL) != 0 ||
	    zs_set_input_string(&s, text, len) != 0 ||
	    zs_set_processing(&s, on_record, on_error, &c) != 0) {
		snprintf(err, errcap, "%s: %s", filename, zs_strerror(s.error.code));
		zs_deinit(&s);
		return SW_EZONE;
	}
	if (zs_parse_all(&s) != 0 && c.ret == 0)
		fail(&s, &c, SW_EZONE, zs_strerror(s.error.code));
	zs_deinit(&s);
	return c.ret;
}
