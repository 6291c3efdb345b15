#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"

int sw_buf_reserve(sw_buf_t *b, size_t need, size_t first)
{
	if (b->cap - b->len >= need)
		return 0;
	size_t cap = b->cap ? b->cap : (first ? first : 1);
	while (cap - b->len < need)
		cap *= 2;
	uint8_t *d = realloc(b->data, cap);
	if (d == NULL)
		return SW_ENOMEM;
	b->data = d;
	b->cap = cap;
	return 0;
}

int sw_buf_append(sw_buf_t *b, const void *data, size_t len, size_t first)
{
	int ret = sw_buf_reserve(b, len, first);
	if (ret)
		return ret;
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

void sw_buf_free(sw_buf_t *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
