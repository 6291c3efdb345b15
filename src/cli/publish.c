/*
 * `swarmdns publish`: signs a zone file and sends it to a running node (or, with
 * --bootstrap, puts it into the DHT directly). Exit 3 when no DHT node and none of the node's
 * relays stored it.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "common/codec.h"
#include "common/err.h"
#include "crypto/crypto.h"
#include "daemon/oneshot.h"
#include "zone/packet.h"
#include "item/item.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: swarmdns publish -k KEYFILE [--api URL] ZONEFILE\n\n"
		"Signs the zone file with the key and sends it to a running node, which stores\n"
		"it and serves it over DNS. The seq is the current time in microseconds, or one\n"
		"more than the node's, if that is newer. The node puts it into the DHT and\n"
		"through its pkarr relays (its 'relay' option), and says how many took it.\n\n"
		"  -k, --key KEYFILE   key file made by 'swarmdns keygen'\n"
		"  -a, --api URL       the node's API [default: " CLI_DEFAULT_API "]\n"
		"  -b, --bootstrap HOST:PORT\n"
		"                      no node: join the DHT through HOST:PORT and put the zone\n"
		"                      there directly\n"
		"      --local-ok      exit 0 even when no DHT node and no relay stored the\n"
		"                      zone (a node on a private network, or not joined yet)\n"
		"  -h, --help          show this help\n\n"
		"Exit status: 0 stored by the node and by DHT nodes or relays; 1 an error;\n"
		"2 a usage error; 3 stored and served by the node, but by no DHT node and no\n"
		"relay (the node puts it again when it joins the DHT), unless --local-ok is\n"
		"given.\n");
}

#define EXIT_LOCAL_ONLY 3

/* The size of the node's routing table (GET /v1/status "dht.routing_table"), or -1 when it
 * cannot be learnt (-2: the node runs no DHT node). */
static long long routing_table(const char *api)
{
	static uint8_t resp[65536];
	int status = 0;
	size_t len = 0;
	if (cli_http(api, "GET", "/v1/status", NULL, 0, &status, resp, sizeof(resp) - 1, &len) ||
	    status != 200)
		return -1;
	resp[len] = '\0';
	json_t *j = json_loads((const char *)resp, 0, NULL);
	json_t *d = json_object_get(j, "dht");
	json_t *rt = json_object_get(d, "routing_table");
	long long n = j == NULL		    ? -1
		      : d == NULL	    ? -2
		      : json_is_integer(rt) ? json_integer_value(rt)
					    : -1;
	json_decref(j);
	return n;
}

/* docs/design.md §7: a zone only the node holds is gone from the DHT while the node is down; the
 * publisher must hear that plainly, not find it out from names that do not resolve. */
static int local_only(const char *api, const char *asked, const char *rasked, bool local_ok)
{
	long long rt = routing_table(api);
	fprintf(stderr, "swarmdns publish: published to the node, but no DHT node stored it: ");
	if (rt == -2)
		fprintf(stderr, "the node runs no DHT node.\n");
	else if (rt == 0)
		fprintf(stderr,
			"the node has not joined the DHT (0 nodes in its routing table).\n");
	else if (rt > 0)
		fprintf(stderr,
			"%s DHT node%s asked, none stored it (%lld node%s in its routing table).\n",
			asked, strcmp(asked, "1") == 0 ? "" : "s", rt, rt == 1 ? "" : "s");
	else
		fprintf(stderr, "%s DHT nodes asked.\n", asked);
	if (strcmp(rasked, "0") != 0)
		fprintf(stderr,
			"None of the node's %s relay%s stored it either ('swarmdns status' and the "
			"node's log say why).\n",
			rasked, strcmp(rasked, "1") == 0 ? "" : "s");
	fprintf(stderr,
		"The node serves the zone and puts it into the DHT again when it can; 'swarmdns "
		"status' shows its DHT, 'bootstrap' in 'swarmdns serve --help' how it joins.%s\n",
		local_ok ? "" : " (--local-ok: exit 0 in this case)");
	return local_ok ? 0 : EXIT_LOCAL_ONLY;
}

static void no_node(const char *api)
{
	fprintf(
	    stderr,
	    "swarmdns publish: no swarmdns node is running at %s.\n"
	    "Start one with 'swarmdns serve' (or 'make run'), or point --api at a running node.\n",
	    api);
}

/* `--bootstrap`: no node; a short-lived DHT node of our own puts the zone. */
static int publish_direct(const char *key, const char *zonefile, const char *boot,
			  const uint8_t pk[32], const char *z32)
{
	oneshot_t *o = NULL;
	uint8_t body[ITEM_RELAY_MAX], target[20], pkk[32];
	size_t len, plen;
	uint64_t last = 0, seq = cli_now_us();
	fprintf(stderr, "swarmdns: joining the DHT through %s...\n", boot);
	int ret = oneshot_join(boot, 10000, &o);
	if (ret) {
		fprintf(stderr, "swarmdns publish: no DHT node answered through %s: %s\n", boot,
			sw_strerror(ret));
		return 1;
	}
	/* docs/design.md §2: seq = max(now_us, last_seen_seq + 1). */
	fprintf(stderr, "swarmdns: looking up the current seq of %s...\n", z32);
	item_key_target(pk, NULL, 0, target);
	if (oneshot_get_seq(o, target, &last) == 0 && last >= seq)
		seq = last + 1;
	if (cli_zone_sign(key, zonefile, seq, pkk, body, &len, &plen)) {
		oneshot_close(o);
		return 1;
	}
	item_t item;
	item_relay_parse(pk, body, len, &item); /* cli_zone_sign() wrote it */
	fprintf(stderr, "swarmdns: putting seq %" PRIu64 " to the closest DHT nodes...\n", seq);
	int stored = 0, asked = 0;
	ret = oneshot_put(o, &item, &stored, &asked);
	oneshot_close(o);
	if (ret && stored == 0) {
		fprintf(stderr, "swarmdns publish: the put failed: %s\n", sw_strerror(ret));
		return 1;
	}
	printf("published %s: seq %" PRIu64 ", packet %zu of %d bytes, stored by %d of %d DHT "
	       "nodes asked (through %s)\n",
	       z32, seq, plen, ZONE_PACKET_MAX, stored, asked, boot);
	return stored > 0 ? 0 : 1;
}

int cli_publish(int argc, char **argv)
{
	static const struct option lopts[] = {{"key", required_argument, NULL, 'k'},
					      {"api", required_argument, NULL, 'a'},
					      {"bootstrap", required_argument, NULL, 'b'},
					      {"local-ok", no_argument, NULL, 'L'},
					      {"help", no_argument, NULL, 'h'},
					      {0}};
	const char *key = NULL, *api = CLI_DEFAULT_API, *boot = NULL;
	bool local_ok = false;
	int ch;
	while ((ch = getopt_long(argc, argv, "k:a:b:h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'k':
			key = optarg;
			break;
		case 'a':
			api = optarg;
			break;
		case 'b':
			boot = optarg;
			break;
		case 'L':
			local_ok = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (key == NULL || optind != argc - 1) {
		fprintf(stderr, "swarmdns publish: %s\n",
			key == NULL ? "a key file is needed (-k KEYFILE)"
				    : "give exactly one zone file");
		usage(stderr);
		return 2;
	}
	uint8_t pk[32], sk[64], body[ITEM_RELAY_MAX], resp[4096];
	char z32[SW_Z32_KEY_LEN + 1], path[64];
	int ret = cli_key_read(key, pk, sk); /* prints why it failed */
	sw_memzero(sk, sizeof(sk));
	if (ret)
		return 1;
	sw_z32_encode_key(pk, z32);
	snprintf(path, sizeof(path), "/%s", z32);
	if (boot)
		return publish_direct(key, argv[optind], boot, pk, z32);

	/* docs/design.md §2: seq = max(now_us, last_seen_seq + 1). */
	uint64_t seq = cli_now_us();
	int status = 0;
	size_t rlen = 0;
	ret = cli_http(api, "GET", path, NULL, 0, &status, resp, sizeof(resp), &rlen);
	if (ret == SW_EINVAL) {
		fprintf(stderr, "swarmdns publish: '%s' is not an http://host:port URL\n", api);
		return 2;
	}
	if (ret) {
		no_node(api);
		return 1;
	}
	item_t cur;
	if (status == 200 && item_relay_parse(pk, resp, rlen, &cur) == 0 &&
	    (uint64_t)cur.seq >= seq)
		seq = (uint64_t)cur.seq + 1;

	size_t len, plen;
	if (cli_zone_sign(key, argv[optind], seq, pk, body, &len, &plen))
		return 1;
	fprintf(stderr, "swarmdns: sending %s (seq %" PRIu64 ") to %s and waiting for the DHT...\n",
		z32, seq, api);
	ret = cli_http(api, "PUT", path, body, len, &status, resp, sizeof(resp) - 1, &rlen);
	if (ret) {
		no_node(api);
		return 1;
	}
	if (status != 204 && status != 200) {
		fprintf(stderr, "swarmdns publish: the node refused the zone (HTTP %d): %s", status,
			rlen ? (char *)resp : "no reason given\n");
		return 1;
	}
	char stored[16] = "0", asked[16] = "0", rstored[16] = "0", rasked[16] = "0";
	cli_http_header("X-DHT-Stored", stored, sizeof(stored));
	cli_http_header("X-DHT-Asked", asked, sizeof(asked));
	cli_http_header("X-Relays-Stored", rstored, sizeof(rstored));
	cli_http_header("X-Relays-Asked", rasked, sizeof(rasked));
	if (strcmp(rasked, "0") == 0)
		printf("published %s: seq %" PRIu64
		       ", packet %zu of %d bytes, stored by the node at "
		       "%s and by %s of %s DHT nodes asked\n",
		       z32, seq, plen, ZONE_PACKET_MAX, api, stored, asked);
	else
		printf("published %s: seq %" PRIu64
		       ", packet %zu of %d bytes, stored by the node at "
		       "%s, by %s of %s DHT nodes asked and by %s of %s relays\n",
		       z32, seq, plen, ZONE_PACKET_MAX, api, stored, asked, rstored, rasked);
	/* A relay keeps the zone and puts it into its DHT (pkarr's design/relays.md): as good
	 * as a DHT node for the publisher (docs/design.md §7). */
	if (strcmp(stored, "0") == 0 && strcmp(rstored, "0") == 0)
		return local_only(api, asked, rasked, local_ok);
	return 0;
}
