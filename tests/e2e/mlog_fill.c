/*
 * Test helper of tests/e2e/test_registry_log.py: appends entries to a registry's log in a
 * node's data-dir (src/store/mlog.h) as a registrar would, and keeps a tree head item, so
 * that the test can check what `GET /v1/registry/<R>/log/...` serves against its own
 * RFC 9162 computation. Not installed; run while no node holds the data-dir.
 *
 *   mlog-fill DATA_DIR REGISTRY_Z32 COUNT [HEAD_SIZE HEAD_SEQ]
 *
 * Entry i is the text "entry <i>"; the head item is k = R, salt `_log`, seq HEAD_SEQ and v the
 * string "head <HEAD_SIZE>" (unsigned: the store keeps what the registrar checked). Prints the
 * log's size.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/err.h"
#include "store/mlog.h"
#include "store/store.h"

int main(int argc, char **argv)
{
	uint8_t r[32];
	store_t *s = NULL;
	store_mlog_t *m = NULL;
	int ret = 1;
	if ((argc != 4 && argc != 6) || sw_z32_decode_key(argv[2], strlen(argv[2]), r) != 0) {
		fprintf(stderr,
			"usage: mlog-fill DATA_DIR REGISTRY_Z32 COUNT [HEAD_SIZE HEAD_SEQ]\n");
		return 2;
	}
	uint64_t count = strtoull(argv[3], NULL, 10);
	if (store_open(argv[1], &s) || store_mlog_open(s, r, true, &m))
		goto out;
	static char text[STORE_MLOG_BATCH_MAX][32];
	const uint8_t *e[STORE_MLOG_BATCH_MAX];
	size_t lens[STORE_MLOG_BATCH_MAX];
	while (count > 0) {
		size_t n = count < STORE_MLOG_BATCH_MAX ? (size_t)count : STORE_MLOG_BATCH_MAX;
		for (size_t i = 0; i < n; i++) {
			lens[i] = (size_t)snprintf(text[i], sizeof(text[i]), "entry %" PRIu64,
						   store_mlog_size(m) + i);
			e[i] = (const uint8_t *)text[i];
		}
		if ((ret = store_mlog_append(m, e, lens, n, NULL))) {
			fprintf(stderr, "mlog-fill: append: %s\n", sw_strerror(ret));
			ret = 1;
			goto out;
		}
		count -= n;
	}
	if (argc == 6) {
		item_t head;
		char v[64];
		uint64_t size = strtoull(argv[4], NULL, 10);
		int vl = snprintf(v, sizeof(v), "head %" PRIu64, size);
		if (item_init(&head, r, (const uint8_t *)"_log", 4, strtoll(argv[5], NULL, 10)) ||
		    item_set_str(&head, (const uint8_t *)v, (size_t)vl) ||
		    (ret = store_mlog_head_put(m, size, &head))) {
			fprintf(stderr, "mlog-fill: tree head: %s\n", sw_strerror(ret));
			ret = 1;
			goto out;
		}
	}
	printf("%" PRIu64 "\n", store_mlog_size(m));
	ret = 0;
out:
	store_mlog_close(m);
	store_close(s);
	return ret;
}
