#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "common/err.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: swarmdns resolve [--api URL] [--json] NAME [TYPE]\n\n"
		   "Asks a running node to resolve NAME (default type A) and prints the answer and\n"
		   "how it was obtained: from an own zone, the cache, the DHT, served stale, or from\n"
		   "ordinary DNS; the zone's key and seq, the signature check, the DHT nodes that\n"
		   "returned it, and the time taken.\n\n"
		   "  -a, --api URL       the node's API [default: " CLI_DEFAULT_API "]\n"
		   "      --json          print the node's JSON answer as it is\n"
		   "  -h, --help          show this help\n");
}

/* Percent-encodes a query parameter. */
static void urlenc(const char *in, char *out, size_t cap)
{
	size_t o = 0;
	for (; *in && o + 4 < cap; in++) {
		unsigned char ch = (unsigned char)*in;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '.' || ch == '-' || ch == '_')
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, cap - o, "%%%02X", ch);
	}
	out[o] = '\0';
}

int cli_resolve(int argc, char **argv)
{
	static const struct option lopts[] = {{"api", required_argument, NULL, 'a'},
					      {"json", no_argument, NULL, 'j'},
					      {"help", no_argument, NULL, 'h'},
					      {0}};
	const char *api = CLI_DEFAULT_API;
	bool raw = false;
	int ch;
	while ((ch = getopt_long(argc, argv, "a:h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'a': api = optarg; break;
		case 'j': raw = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1 && optind != argc - 2) {
		fprintf(stderr, "swarmdns resolve: give a name and optionally a type\n");
		usage(stderr);
		return 2;
	}
	char name[1024], type[64], path[1200];
	urlenc(argv[optind], name, sizeof(name));
	urlenc(optind + 1 < argc ? argv[optind + 1] : "A", type, sizeof(type));
	snprintf(path, sizeof(path), "/v1/resolve?name=%s&type=%s", name, type);
	static uint8_t resp[262144];
	size_t rlen = 0;
	int status = 0;
	if (cli_http(api, "GET", path, NULL, 0, &status, resp, sizeof(resp) - 1, &rlen) != 0) {
		fprintf(stderr, "swarmdns resolve: no swarmdns node is running at %s; start one with "
				"'swarmdns serve'\n", api);
		return 1;
	}
	resp[rlen] = '\0';
	if (raw || status != 200) {
		fprintf(status == 200 ? stdout : stderr, "%s", (char *)resp);
		return status == 200 ? 0 : 1;
	}
	json_error_t jerr;
	json_t *j = json_loads((const char *)resp, 0, &jerr);
	if (j == NULL) {
		fprintf(stderr, "swarmdns resolve: unreadable answer from the node\n");
		return 1;
	}
	size_t i;
	json_t *e;
	const char *rcode = json_string_value(json_object_get(j, "rcode"));
	printf(";; %s %s: %s\n", json_string_value(json_object_get(j, "name")),
	       json_string_value(json_object_get(j, "type")), rcode);
	json_array_foreach(json_object_get(j, "answer"), i, e)
		printf("%s\n", json_string_value(e));
	printf(";; source     %s\n", json_string_value(json_object_get(j, "source")));
	if (json_object_get(j, "zone")) {
		printf(";; zone       %s\n", json_string_value(json_object_get(j, "zone")));
		printf(";; seq        %lld\n", (long long)json_integer_value(json_object_get(j, "seq")));
		printf(";; signature  %s\n", json_string_value(json_object_get(j, "signature")));
	}
	if (json_object_get(j, "dht_nodes"))
		printf(";; dht nodes  %lld returned it\n",
		       (long long)json_integer_value(json_object_get(j, "dht_nodes")));
	json_t *ede = json_object_get(j, "ede");
	if (ede)
		printf(";; error      EDE %lld: %s\n",
		       (long long)json_integer_value(json_object_get(ede, "code")),
		       json_string_value(json_object_get(ede, "text")));
	printf(";; elapsed    %lld ms\n",
	       (long long)json_integer_value(json_object_get(j, "elapsed_ms")));
	bool ok = rcode && (strcmp(rcode, "NOERROR") == 0 || strcmp(rcode, "NXDOMAIN") == 0);
	json_decref(j);
	return ok ? 0 : 1;
}
