#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "common/err.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: swarmdns dht get [--api URL] [--immutable] <z32-key | 40-hex-target>\n\n"
		   "Asks a running node to look an item up in the DHT (BEP 44) and prints it: its\n"
		   "seq, the signature check, the records of a zone, and the nodes that returned it.\n\n"
		   "  -a, --api URL       the node's API [default: " CLI_DEFAULT_API "]\n"
		   "      --immutable     the target names an immutable item\n"
		   "      --json          print the node's JSON answer as it is\n"
		   "  -h, --help          show this help\n");
}

int cli_dht(int argc, char **argv)
{
	static const struct option lopts[] = {{"api", required_argument, NULL, 'a'},
					      {"immutable", no_argument, NULL, 'i'},
					      {"json", no_argument, NULL, 'j'},
					      {"help", no_argument, NULL, 'h'},
					      {0}};
	const char *api = CLI_DEFAULT_API;
	bool immutable = false, raw = false;
	int ch;
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "get") != 0) {
		fprintf(stderr, "swarmdns dht: the subcommand is 'get'\n");
		usage(stderr);
		return 2;
	}
	argc--;
	argv++;
	while ((ch = getopt_long(argc, argv, "a:h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'a': api = optarg; break;
		case 'i': immutable = true; break;
		case 'j': raw = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "swarmdns dht get: give one key or target\n");
		usage(stderr);
		return 2;
	}
	char path[256];
	static uint8_t resp[65536];
	size_t rlen = 0;
	int status = 0;
	snprintf(path, sizeof(path), "/v1/dht/%.120s%s", argv[optind],
		 immutable ? "?immutable=1" : "");
	int ret = cli_http(api, "GET", path, NULL, 0, &status, resp, sizeof(resp) - 1, &rlen);
	if (ret) {
		fprintf(stderr, "swarmdns dht get: no swarmdns node is running at %s; start one with "
				"'swarmdns serve'\n", api);
		return 1;
	}
	resp[rlen] = '\0';
	if (raw) {
		fwrite(resp, 1, rlen, stdout);
		return status == 200 ? 0 : 1;
	}
	json_error_t jerr;
	json_t *j = json_loads((const char *)resp, 0, &jerr);
	if (j == NULL) {
		fprintf(stderr, "swarmdns dht get: the node answered HTTP %d: %s", status, resp);
		return 1;
	}
	const char *error = json_string_value(json_object_get(j, "error"));
	printf("target   %s\n", json_string_value(json_object_get(j, "target")));
	if (status != 200 || error) {
		printf("found    no: %s\n", error ? error : "unknown error");
		printf("lookup   %lld ms, %lld queries, %lld replies\n",
		       (long long)json_integer_value(json_object_get(j, "elapsed_ms")),
		       (long long)json_integer_value(json_object_get(j, "queries")),
		       (long long)json_integer_value(json_object_get(j, "replies")));
		json_decref(j);
		return 1;
	}
	if (json_is_true(json_object_get(j, "mutable"))) {
		printf("key      %s\n", json_string_value(json_object_get(j, "key")));
		printf("seq      %lld\n", (long long)json_integer_value(json_object_get(j, "seq")));
		printf("sig      %s (%s)\n", json_string_value(json_object_get(j, "sig")),
		       json_string_value(json_object_get(j, "signature")));
	}
	printf("v        %s\n", json_string_value(json_object_get(j, "v")));
	json_t *recs = json_object_get(j, "records");
	size_t i;
	json_t *e;
	json_array_foreach(recs, i, e)
		printf("record   %s\n", json_string_value(e));
	json_array_foreach(json_object_get(j, "nodes"), i, e)
		printf("from     %s\n", json_string_value(e));
	printf("lookup   %lld ms, %lld queries, %lld replies\n",
	       (long long)json_integer_value(json_object_get(j, "elapsed_ms")),
	       (long long)json_integer_value(json_object_get(j, "queries")),
	       (long long)json_integer_value(json_object_get(j, "replies")));
	json_decref(j);
	return 0;
}
