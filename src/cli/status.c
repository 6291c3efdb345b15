#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/cli.h"
#include "common/err.h"

static void usage(FILE *f)
{
	fprintf(
	    f, "Usage: swarmdns status [--api URL] [--json]\n\n"
	       "Shows the state of a running node: version and uptime, its own zones, the\n"
	       "zone cache, the DHT node (joined, joining or isolated and since when, good\n"
	       "nodes, the last successful lookup; ID, address, routing table, stored items),\n"
	       "and the\n"
	       "queries it answered by transport, by where the answers came from and by\n"
	       "response code. For monitoring, the node serves the same counters in the\n"
	       "Prometheus format at GET /metrics.\n\n"
	       "  -a, --api URL       the node's API [default: $SWARMDNS_API, else " CLI_DEFAULT_API
	       "]\n"
	       "      --json          print the node's JSON status as it is\n"
	       "      --token TOKEN   the node's api-token [default: $SWARMDNS_API_TOKEN]\n"
	       "      --cacert FILE   CA certificate of an https:// API [default: "
	       "$SWARMDNS_API_CACERT]\n"
	       "  -h, --help          show this help\n");
}

static long long num(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "?";
}

static void print_duration(long long s)
{
	if (s >= 86400)
		printf("%lldd %lldh %02lldm", s / 86400, s % 86400 / 3600, s % 3600 / 60);
	else if (s >= 3600)
		printf("%lldh %02lldm %02llds", s / 3600, s % 3600 / 60, s % 60);
	else if (s >= 60)
		printf("%lldm %02llds", s / 60, s % 60);
	else
		printf("%llds", s);
}

/* "key n, key n, ..." for a section of counters, in the node's order, so that counters the
 * node adds later (a new transport) show up without a change here. */
static void print_counts(const char *label, json_t *o)
{
	const char *k;
	json_t *v;
	bool first = true;
	if (!json_is_object(o))
		return;
	printf("%-12s ", label);
	json_object_foreach(o, k, v)
	{
		if (!json_is_integer(v))
			continue;
		printf("%s%s %lld", first ? "" : ", ", k, (long long)json_integer_value(v));
		first = false;
	}
	printf("\n");
}

static void print_status(json_t *j, const char *api)
{
	size_t i;
	json_t *e, *o;
	printf("swarmdns %s, up ", str(j, "version"));
	print_duration(num(j, "uptime_s"));
	printf(" (API at %s)\n", api);
	printf("%-12s %s\n", "data dir", str(j, "data_dir"));
	printf("%-12s %lld own\n", "zones", num(j, "zones"));
	json_array_foreach(json_object_get(j, "own_zones"), i, e)
	    printf("%-12s %s  seq %lld, %lld record%s\n", "", str(e, "key"), num(e, "seq"),
		   num(e, "records"), num(e, "records") == 1 ? "" : "s");
	o = json_object_get(j, "cache");
	printf("%-12s %lld zones; %lld hits, %lld misses, %lld prefetches, %lld DHT lookups, "
	       "%lld waiting\n",
	       "cache", num(o, "zones"), num(o, "hits"), num(o, "misses"), num(o, "prefetches"),
	       num(o, "dht_lookups"), num(o, "pending"));
	if (num(o, "rollbacks_refused") || num(o, "bad_items"))
		printf("%-12s %lld older zones refused, %lld bad items\n", "",
		       num(o, "rollbacks_refused"), num(o, "bad_items"));
	o = json_object_get(j, "dht");
	if (o && json_object_get(o, "state")) {
		/* docs/design.md §11: where the node stands, first. */
		time_t since = (time_t)num(o, "since");
		char when[32];
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&since));
		printf("%-12s %s since %s, %lld good nodes, last successful lookup ", "DHT health",
		       str(o, "state"), when, num(o, "good_nodes"));
		json_t *ok = json_object_get(o, "last_lookup_ok");
		if (json_is_integer(ok)) {
			time_t t = (time_t)json_integer_value(ok);
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&t));
			printf("%s\n", when);
		} else {
			printf("never\n");
		}
	}
	if (o && json_object_get(o, "node_id")) {
		printf("%-12s node %s on %s (UDP)\n", "DHT", str(o, "node_id"), str(o, "listen"));
		printf(
		    "%-12s routing table %lld nodes (%lld good), %lld stored items (%lld bytes)\n",
		    "", num(o, "routing_table"), num(o, "good_nodes"), num(o, "stored_items"),
		    num(o, "stored_bytes"));
		printf("%-12s %lld messages in, %lld out, %lld lookups (%lld running), "
		       "%lld timeouts, round trip %lld ms\n",
		       "", num(o, "messages_in"), num(o, "messages_out"), num(o, "lookups"),
		       num(o, "lookups_active"), num(o, "timeouts"), num(o, "srtt_ms"));
	} else {
		printf("%-12s not running\n", "DHT");
	}
	print_counts("queries", json_object_get(j, "queries"));
	print_counts("answers", json_object_get(j, "answers_by_source"));
	print_counts("rcodes", json_object_get(j, "responses_by_rcode"));
	o = json_object_get(j, "upstream");
	if (o)
		printf("%-12s %lld forwarded, %lld cache hits, %lld in cache, %lld timeouts, "
		       "%lld failures\n",
		       "upstream", num(o, "queries"), num(o, "cache_hits"), num(o, "cache_entries"),
		       num(o, "timeouts"), num(o, "failures"));
	else
		printf("%-12s none (names outside the swarm are refused)\n", "upstream");
	print_counts("connections", json_object_get(j, "connections"));
}

int cli_status(int argc, char **argv)
{
	static const struct option lopts[] = {{"api", required_argument, NULL, 'a'},
					      {"json", no_argument, NULL, 'j'},
					      {"help", no_argument, NULL, 'h'},
					      {0}};
	const char *api = NULL;
	bool raw = false;
	int ch;
	while ((ch = getopt_long(argc, argv, "a:h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			api = optarg;
			break;
		case 'j':
			raw = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "swarmdns status: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	static uint8_t resp[262144];
	size_t rlen = 0;
	int status = 0;
	int ret = cli_api_call("status", api, "GET", "/v1/status", NULL, 0, &status, resp,
			       sizeof(resp), &rlen);
	if (ret)
		return ret;
	api = cli_api_url(api);
	if (status != 200) {
		fprintf(stderr, "swarmdns status: the node at %s answered HTTP %d: %s", api, status,
			(char *)resp);
		return 1;
	}
	if (raw) {
		printf("%s\n", (char *)resp);
		return 0;
	}
	json_error_t jerr;
	json_t *j = json_loads((const char *)resp, 0, &jerr);
	if (!json_is_object(j)) {
		fprintf(stderr,
			"swarmdns status: the answer from %s is not a swarmdns status (%s)\n", api,
			jerr.text);
		json_decref(j);
		return 1;
	}
	print_status(j, api);
	json_decref(j);
	return 0;
}
