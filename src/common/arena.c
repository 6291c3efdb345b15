#include <stdlib.h>
#include <string.h>

#include "common/arena.h"

struct sw_arena_block {
	sw_arena_block_t *next;
	size_t used, cap;
	uint8_t data[];
};

void sw_arena_init(sw_arena_t *a, size_t block_size)
{
	a->head = NULL;
	a->block_size = block_size < 256 ? 256 : block_size;
}

void sw_arena_deinit(sw_arena_t *a)
{
	sw_arena_block_t *b = a->head;
	while (b) {
		sw_arena_block_t *next = b->next;
		free(b);
		b = next;
	}
	a->head = NULL;
}

void *sw_arena_alloc(sw_arena_t *a, size_t n)
{
	n = (n + 7) & ~(size_t)7;
	sw_arena_block_t *b = a->head;
	if (b == NULL || b->cap - b->used < n) {
		size_t cap = n > a->block_size ? n : a->block_size;
		b = malloc(sizeof(*b) + cap);
		if (b == NULL)
			return NULL;
		b->used = 0;
		b->cap = cap;
		b->next = a->head;
		a->head = b;
	}
	void *p = b->data + b->used;
	b->used += n;
	return p;
}

void *sw_arena_dup(sw_arena_t *a, const void *p, size_t n)
{
	void *q = sw_arena_alloc(a, n);
	if (q && n)
		memcpy(q, p, n);
	return q;
}

static inline uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

uint64_t sw_hash(const void *p, size_t len, uint64_t seed)
{
	const uint8_t *s = p;
	uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ULL);
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, s, 8);
		h = (h ^ v) * 0x100000001b3ULL;
		h ^= h >> 29;
		s += 8;
		len -= 8;
	}
	uint64_t v = 0;
	memcpy(&v, s, len);
	h = (h ^ v) * 0x100000001b3ULL;
	return mix(h);
}
