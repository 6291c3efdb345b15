/*
 * A bump allocator: memory is taken from large blocks and released all at once
 * (Knot's mempool, NSD's region). Used for zone snapshots, which are built once and then
 * only read. Not thread-safe; one owner.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct sw_arena_block sw_arena_block_t;
typedef struct {
	sw_arena_block_t *head;
	size_t block_size;
} sw_arena_t;

void sw_arena_init(sw_arena_t *a, size_t block_size);
/* Frees every block. The arena can be used again afterwards. */
void sw_arena_deinit(sw_arena_t *a);
/* Returns n bytes aligned to 8, or NULL when out of memory. */
void *sw_arena_alloc(sw_arena_t *a, size_t n);
/* Copies n bytes into the arena; NULL when out of memory. */
void *sw_arena_dup(sw_arena_t *a, const void *p, size_t n);

/* A fast non-cryptographic hash for lookup tables (names, keys). Seeded so that tables built
 * from outside data can be randomised. */
uint64_t sw_hash(const void *p, size_t len, uint64_t seed);
