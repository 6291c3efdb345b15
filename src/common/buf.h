/*
 * A growable byte buffer, for the transports' per-connection input and output: grown by
 * doubling and kept for the life of its owner, so that a busy connection stops allocating.
 * Not thread-safe; one owner. A zeroed sw_buf_t is empty and valid.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
	uint8_t *data;
	size_t len, cap;
} sw_buf_t;

/* Makes room for `need` more bytes after len: the first allocation is `first` bytes, then
 * the capacity doubles until it fits. Returns 0 or SW_ENOMEM (the buffer is unchanged). */
int sw_buf_reserve(sw_buf_t *b, size_t need, size_t first);
/* Appends len bytes, growing as sw_buf_reserve() does. Returns 0 or SW_ENOMEM. */
int sw_buf_append(sw_buf_t *b, const void *data, size_t len, size_t first);
/* Frees the memory; the buffer is empty again. */
void sw_buf_free(sw_buf_t *b);
