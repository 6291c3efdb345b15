/*
 * Splitting names under a registry into registry, label and the rest (see regname.h).
 */
#include <string.h>

#include "common/codec.h"
#include "common/err.h"
#include "dns/wire.h"
#include "resolver/regname.h"

int resolver_regname_parse(const uint8_t *name, resolver_regname_t *out)
{
	size_t pos = 0, last = 0, prev = 0;
	int labels = 0;
	memset(out, 0, sizeof(*out));
	/* Walk to the last label, remembering the one before it; at most DNS_NAME_MAX bytes. */
	while (name[pos] != 0) {
		if (name[pos] > 63 || pos + 1 + name[pos] >= DNS_NAME_MAX)
			return SW_EINVAL;
		prev = last;
		last = pos;
		labels++;
		pos += 1 + (size_t)name[pos];
	}
	if (labels == 0 || name[last] != SW_Z32_KEY_LEN ||
	    sw_z32_decode_key((const char *)name + last + 1, SW_Z32_KEY_LEN, out->registry) != 0)
		return SW_EINVAL;
	out->label_off = last;
	if (labels == 1)
		return 0;
	out->label_off = prev;
	out->label_len = name[prev];
	for (size_t i = 0; i < out->label_len; i++) {
		char ch = (char)name[prev + 1 + i];
		out->label[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
	}
	out->label[out->label_len] = '\0';
	return 0;
}
