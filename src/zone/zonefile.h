/*
 * Reading an RFC 1035 §5 zone file (via Knot's libzscanner): $ORIGIN, $TTL, relative names,
 * `@`, every RR type Knot knows. The default origin is the zone's key name `<z32>.`. Takes
 * the text from the caller (no I/O here). Any thread.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "zone/packet.h"

#define ZONE_FILE_DEFAULT_TTL 3600

/* Parses `text` (the contents of `filename`, which is only used in messages) and appends
 * its records to l. Every record must be of class IN and lie at or below `apex`.
 * On failure writes "FILE:LINE: problem" into err and returns SW_EZONE or SW_EOUTZONE. */
int zone_file_parse(const char *text, size_t len, const char *filename, const uint8_t *apex,
		    zone_rrlist_t *l, char *err, size_t errcap);
