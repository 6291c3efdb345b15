/*
 * Controlling a running node, as `unbound-control` and `knotc` do (docs/design.md §11):
 * `swarmdns reload`, `swarmdns flush [NAME]`, `swarmdns zone list|export|remove` and
 * `swarmdns log-level LEVEL`, each one call of the node's API (docs/api.md "Control") with
 * the token (--token, SWARMDNS_API_TOKEN) and the address (--api, SWARMDNS_API) of
 * src/cli/http.c.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/cli.h"
#include "common/codec.h"
#include "common/err.h"

#define API_OPTS                                                                                   \
	"  -a, --api URL       the node's API [default: $SWARMDNS_API, else " CLI_DEFAULT_API      \
	"]\n"                                                                                      \
	"      --token TOKEN   the node's api-token [default: $SWARMDNS_API_TOKEN]\n"              \
	"      --cacert FILE   CA certificate of an https:// API [default: "                       \
	"$SWARMDNS_API_CACERT, else the system's]\n"                                               \
	"  -h, --help          show this help\n"

static uint8_t resp[1 << 20];

/* Options every control command takes: --api and --help, plus -o for `zone export`.
 * Returns -1 to go on, or the exit code (help shown, usage error). */
static int parse(int argc, char **argv, void (*usage)(FILE *), const char **api, const char **out)
{
	static const struct option lopts[] = {{"api", required_argument, NULL, 'a'},
					      {"output", required_argument, NULL, 'o'},
					      {"help", no_argument, NULL, 'h'},
					      {0}};
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, out ? "a:o:h" : "a:h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			*api = optarg;
			break;
		case 'o':
			if (out == NULL) {
				usage(stderr);
				return 2;
			}
			*out = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	return -1;
}

/* A zone named as its key, with or without the final dot. */
static int zone_key(const char *cmd, const char *name, char z32[SW_Z32_KEY_LEN + 1])
{
	uint8_t pk[32];
	size_t nl = strlen(name);
	if (nl > 0 && name[nl - 1] == '.')
		nl--;
	if (nl != SW_Z32_KEY_LEN || sw_z32_decode_key(name, nl, pk) != 0) {
		fprintf(stderr,
			"swarmdns %s: '%s' is not a zone's key name (52 z-base32 characters, as "
			"'swarmdns zone list' shows them)\n",
			cmd, name);
		return 2;
	}
	memcpy(z32, name, nl);
	z32[nl] = '\0';
	return 0;
}

/* ---- swarmdns reload ---- */

static void reload_usage(FILE *f)
{
	fprintf(f, "Usage: swarmdns reload [--api URL] [--token TOKEN]\n\n"
		   "Makes a running node read its configuration again, as SIGHUP does, without\n"
		   "losing its cache or its place in the DHT, and prints what changed and what\n"
		   "needs a restart.\n\n" API_OPTS);
}

int cli_reload(int argc, char **argv)
{
	const char *api = NULL;
	int ret = parse(argc, argv, reload_usage, &api, NULL);
	if (ret >= 0)
		return ret;
	if (optind != argc) {
		reload_usage(stderr);
		return 2;
	}
	int status;
	size_t n;
	ret = cli_api_call("reload", api, "POST", "/v1/reload", NULL, 0, &status, resp,
			   sizeof(resp), &n);
	if (ret)
		return ret;
	printf("%s", (char *)resp);
	return status == 404 ? 1 : 0;
}

/* ---- swarmdns flush ---- */

static void flush_usage(FILE *f)
{
	fprintf(f, "Usage: swarmdns flush [--api URL] [--token TOKEN] [NAME]\n\n"
		   "Empties a running node's caches: the zones it fetched from the DHT and the\n"
		   "answers of its upstream servers. With NAME, only the zone that holds NAME\n"
		   "(a name of the swarm) or the cached answers for NAME and the names below it.\n"
		   "The next question is then answered from the DHT or the upstream again.\n"
		   "Own zones are not touched (see 'swarmdns zone remove').\n\n" API_OPTS);
}

int cli_flush(int argc, char **argv)
{
	const char *api = NULL;
	int ret = parse(argc, argv, flush_usage, &api, NULL);
	if (ret >= 0)
		return ret;
	if (argc - optind > 1) {
		flush_usage(stderr);
		return 2;
	}
	char path[1200] = "/v1/flush";
	if (optind < argc) {
		const char *name = argv[optind];
		size_t o = strlen(path);
		if (strlen(name) > 1000) {
			fprintf(stderr, "swarmdns flush: '%s' is too long for a domain name\n",
				name);
			return 2;
		}
		o += (size_t)snprintf(path + o, sizeof(path) - o, "?name=");
		for (const char *p = name; *p; p++) {
			unsigned char ch = (unsigned char)*p;
			if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9') || strchr("-._~", ch))
				path[o++] = (char)ch;
			else
				o += (size_t)snprintf(path + o, sizeof(path) - o, "%%%02X", ch);
		}
		path[o] = '\0';
	}
	int status;
	size_t n;
	ret = cli_api_call("flush", api, "POST", path, NULL, 0, &status, resp, sizeof(resp), &n);
	if (ret)
		return ret;
	json_t *j = json_loads((const char *)resp, 0, NULL);
	if (status != 200 || !json_is_object(j)) {
		fprintf(stderr, "swarmdns flush: unexpected answer (HTTP %d): %s\n", status,
			(char *)resp);
		json_decref(j);
		return 1;
	}
	long long zones = (long long)json_integer_value(json_object_get(j, "zones"));
	long long ans = (long long)json_integer_value(json_object_get(j, "upstream_answers"));
	printf("flushed %s: %lld cached zone%s, %lld upstream answer%s\n",
	       optind < argc ? argv[optind] : "the whole cache", zones, zones == 1 ? "" : "s", ans,
	       ans == 1 ? "" : "s");
	json_decref(j);
	return 0;
}

/* ---- swarmdns zone ---- */

static void zone_usage(FILE *f)
{
	fprintf(f, "Usage: swarmdns zone list [--api URL]\n"
		   "       swarmdns zone export [--api URL] [-o FILE] NAME\n"
		   "       swarmdns zone remove [--api URL] [--token TOKEN] NAME\n\n"
		   "The zones a running node serves as its own (published to it) and the ones it\n"
		   "keeps alive for others (pin):\n"
		   "  list     each zone's key, seq, records and size, and its republishing\n"
		   "  export   the zone as a zone file (RFC 1035), to standard output or FILE;\n"
		   "           'swarmdns sign' of it gives the same records\n"
		   "  remove   stop serving and republishing it, and delete it from the node's\n"
		   "           data dir (DHT nodes drop their copies when these expire)\n"
		   "NAME is the zone's key name, <z32> or <z32>.\n\n"
		   "  -o, --output FILE   (export) write the zone file to FILE\n" API_OPTS);
}

static void print_time(const char *label, json_t *v)
{
	if (!json_is_integer(v)) {
		printf(", %s never", label);
		return;
	}
	time_t t = (time_t)json_integer_value(v);
	char buf[32];
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", localtime(&t));
	printf(", %s %s", label, buf);
}

static int zone_list(const char *api)
{
	int status;
	size_t n;
	int ret = cli_api_call("zone list", api, "GET", "/v1/zones", NULL, 0, &status, resp,
			       sizeof(resp), &n);
	if (ret)
		return ret;
	json_t *j = json_loads((const char *)resp, 0, NULL), *zones = json_object_get(j, "zones"),
	       *z;
	if (status != 200 || !json_is_array(zones)) {
		fprintf(stderr, "swarmdns zone list: unexpected answer (HTTP %d): %s\n", status,
			(char *)resp);
		json_decref(j);
		return 1;
	}
	size_t i;
	if (json_array_size(zones) == 0)
		printf("no zones (publish one with 'swarmdns publish')\n");
	json_array_foreach(zones, i, z)
	{
		const char *key = json_string_value(json_object_get(z, "key"));
		if (json_is_true(json_object_get(z, "pinned")))
			printf("%s  pinned", key ? key : "?");
		else
			printf("%s  seq %lld, %lld records, %lld bytes", key ? key : "?",
			       (long long)json_integer_value(json_object_get(z, "seq")),
			       (long long)json_integer_value(json_object_get(z, "records")),
			       (long long)json_integer_value(json_object_get(z, "size")));
		print_time("republished", json_object_get(z, "republished"));
		print_time("next", json_object_get(z, "next_republish"));
		printf("\n");
	}
	json_decref(j);
	return 0;
}

static int zone_one(const char *sub, const char *api, const char *name, const char *out)
{
	char z32[SW_Z32_KEY_LEN + 1], path[80], cmd[32];
	bool remove = strcmp(sub, "remove") == 0;
	snprintf(cmd, sizeof(cmd), "zone %s", sub);
	int ret = zone_key(cmd, name, z32);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "/v1/zones/%s", z32);
	int status;
	size_t n;
	ret = cli_api_call(cmd, api, remove ? "DELETE" : "GET", path, NULL, 0, &status, resp,
			   sizeof(resp), &n);
	if (ret)
		return ret;
	if (status == 404) {
		fprintf(
		    stderr,
		    "swarmdns %s: %s is not an own zone of the node at %s ('swarmdns zone list' "
		    "shows them)\n",
		    cmd, z32, cli_api_url(api));
		return 1;
	}
	if (remove) {
		printf("%s", (char *)resp);
		return 0;
	}
	FILE *f = out ? fopen(out, "w") : stdout;
	if (f == NULL) {
		perror(out);
		return 1;
	}
	bool ok = fwrite(resp, 1, n, f) == n;
	if (out)
		ok = fclose(f) == 0 && ok;
	if (!ok) {
		fprintf(stderr, "swarmdns zone export: cannot write %s\n",
			out ? out : "the output");
		return 1;
	}
	if (out)
		fprintf(stderr, "swarmdns: zone %s written to %s\n", z32, out);
	return 0;
}

int cli_zone(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		zone_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *sub = argv[1], *api = NULL, *out = NULL;
	bool list = strcmp(sub, "list") == 0, export = strcmp(sub, "export") == 0;
	if (!list && !export && strcmp(sub, "remove") != 0) {
		fprintf(stderr, "swarmdns zone: unknown subcommand '%s'\n", sub);
		zone_usage(stderr);
		return 2;
	}
	int ret = parse(argc - 1, argv + 1, zone_usage, &api, export ? &out : NULL);
	if (ret >= 0)
		return ret;
	int args = argc - 1 - optind;
	if (list ? args != 0 : args != 1) {
		fprintf(stderr, "swarmdns zone %s: %s\n", sub,
			list ? "takes no arguments" : "give the zone's key name");
		zone_usage(stderr);
		return 2;
	}
	if (list)
		return zone_list(api);
	return zone_one(sub, api, argv[1 + optind], out);
}

/* ---- swarmdns log-level ---- */

static void log_level_usage(FILE *f)
{
	fprintf(f, "Usage: swarmdns log-level [--api URL] [--token TOKEN] LEVEL\n\n"
		   "Changes what a running node logs, until it restarts or reloads: error, warn,\n"
		   "info or debug (the 'log-level' option sets it at start).\n\n" API_OPTS);
}

int cli_log_level(int argc, char **argv)
{
	const char *api = NULL;
	int ret = parse(argc, argv, log_level_usage, &api, NULL);
	if (ret >= 0)
		return ret;
	if (argc - optind != 1) {
		log_level_usage(stderr);
		return 2;
	}
	const char *lv = argv[optind];
	if (strcmp(lv, "error") != 0 && strcmp(lv, "warn") != 0 && strcmp(lv, "info") != 0 &&
	    strcmp(lv, "debug") != 0) {
		fprintf(stderr,
			"swarmdns log-level: '%s' is not a level: error, warn, info or "
			"debug\n",
			lv);
		return 2;
	}
	int status;
	size_t n;
	ret = cli_api_call("log-level", api, "PUT", "/v1/log-level", (const uint8_t *)lv,
			   strlen(lv), &status, resp, sizeof(resp), &n);
	if (ret)
		return ret;
	printf("%s", (char *)resp);
	return status == 404 ? 1 : 0;
}
