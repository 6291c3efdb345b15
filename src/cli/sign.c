#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/codec.h"
#include "common/err.h"
#include "crypto/crypto.h"
#include "item/item.h"
#include "zone/packet.h"
#include "zone/zonefile.h"

#define ZONE_FILE_MAX (16 * 1024 * 1024)

uint64_t cli_now_us(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

int cli_zone_sign(const char *keyfile, const char *zonefile, uint64_t seq, uint8_t pk[32],
		  uint8_t *out, size_t *len, size_t *packet_len)
{
	uint8_t sk[64];
	char *text = NULL, err[1024];
	size_t tlen;
	uint8_t *pkt = NULL;
	zone_rrlist_t l;
	zone_rrlist_init(&l);
	int ret = cli_key_read(keyfile, pk, sk); /* prints why it failed */
	if (ret)
		goto out;
	ret = cli_file_read(zonefile, ZONE_FILE_MAX, &text, &tlen);
	if (ret) {
		fprintf(stderr, "swarmdns: cannot read zone file %s: %s\n", zonefile,
			ret == -EFBIG ? "larger than 16 MiB" : sw_strerror(ret));
		goto out;
	}
	uint8_t apex[2 + SW_Z32_KEY_LEN];
	apex[0] = SW_Z32_KEY_LEN;
	sw_z32_encode_key(pk, (char *)apex + 1);
	apex[1 + SW_Z32_KEY_LEN] = 0;
	ret = zone_file_parse(text, tlen, zonefile, apex, &l, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "%s\n", err);
		goto out;
	}
	if (l.count == 0) {
		fprintf(stderr, "%s: the zone holds no records\n", zonefile);
		ret = SW_EZONE;
		goto out;
	}
	pkt = malloc(65535);
	size_t plen = 0;
	ret = pkt ? zone_packet_write(&l, pkt, 65535, &plen) : SW_ENOMEM;
	if (ret == 0 && plen > ZONE_PACKET_MAX)
		ret = SW_ETOOBIG;
	if (ret) {
		if (ret == SW_ETOOBIG || ret == SW_ENOSPC)
			fprintf(
			    stderr,
			    "%s: the zone packet is %zu bytes; the limit is %d bytes (BEP 44: the "
			    "bencoded value is at most 1000 bytes). Remove records or shorten "
			    "them.\n",
			    zonefile, ret == SW_ENOSPC ? (size_t)65535 : plen, ZONE_PACKET_MAX);
		else
			fprintf(stderr, "%s: %s\n", zonefile, sw_strerror(ret));
		ret = SW_ETOOBIG;
		goto out;
	}
	item_t item;
	if (seq > INT64_MAX) {
		/* BEP 44's seq is a bencoded integer that DHT nodes hold in 64 signed bits. */
		fprintf(stderr, "swarmdns: seq %" PRIu64 " is above 2^63-1, the largest seq\n",
			seq);
		ret = SW_EINVAL;
		goto out;
	}
	if ((ret = item_init(&item, pk, NULL, 0, (int64_t)seq)) ||
	    (ret = item_set_str(&item, pkt, plen)) || (ret = item_sign(&item, sk)) ||
	    (ret = item_relay_write(&item, out, ITEM_RELAY_MAX, len)))
		goto out;
	*packet_len = plen;
out:
	sw_memzero(sk, sizeof(sk));
	free(pkt);
	free(text);
	zone_rrlist_deinit(&l);
	return ret;
}

static void usage(FILE *f)
{
	fprintf(
	    f, "Usage: swarmdns sign -k KEYFILE [-o OUT] [--seq N] ZONEFILE\n\n"
	       "Reads an RFC 1035 zone file ($ORIGIN, $TTL, relative names; the origin and @\n"
	       "are the key's name <z32>.), builds the pkarr-compatible DNS packet, signs it as\n"
	       "a BEP 44 mutable item and writes the relay form: sig(64) || seq(8) || packet.\n\n"
	       "  -k, --key KEYFILE   key file made by 'swarmdns keygen'\n"
	       "  -o, --output OUT    file to write [default: standard output, if not a terminal]\n"
	       "      --seq N         sequence number [default: now, in microseconds]\n"
	       "  -h, --help          show this help\n");
}

int cli_sign(int argc, char **argv)
{
	static const struct option lopts[] = {{"key", required_argument, NULL, 'k'},
					      {"output", required_argument, NULL, 'o'},
					      {"seq", required_argument, NULL, 's'},
					      {"help", no_argument, NULL, 'h'},
					      {0}};
	const char *key = NULL, *out = NULL;
	uint64_t seq = cli_now_us();
	int ch;
	char *end;
	while ((ch = getopt_long(argc, argv, "k:o:h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'k':
			key = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 's':
			errno = 0;
			seq = strtoull(optarg, &end, 10);
			if (errno || *end || optarg[0] == '-' || optarg[0] == '\0') {
				fprintf(stderr,
					"swarmdns sign: --seq needs a whole number, got '%s'\n",
					optarg);
				return 2;
			}
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
		fprintf(stderr, "swarmdns sign: %s\n",
			key == NULL ? "a key file is needed (-k KEYFILE)"
				    : "give exactly one zone file");
		usage(stderr);
		return 2;
	}
	if (out == NULL && isatty(STDOUT_FILENO)) {
		fprintf(stderr,
			"swarmdns sign: the output is binary; write it to a file with -o OUT "
			"or redirect standard output\n");
		return 2;
	}
	uint8_t body[ITEM_RELAY_MAX], pk[32];
	size_t len, plen;
	if (cli_zone_sign(key, argv[optind], seq, pk, body, &len, &plen))
		return 1;
	FILE *f = out ? fopen(out, "wb") : stdout;
	if (f == NULL) {
		fprintf(stderr, "swarmdns sign: cannot write %s: %s\n", out, strerror(errno));
		return 1;
	}
	bool ok = fwrite(body, 1, len, f) == len;
	ok = (out ? fclose(f) : fflush(f)) == 0 && ok;
	if (!ok) {
		fprintf(stderr, "swarmdns sign: cannot write %s\n", out ? out : "standard output");
		return 1;
	}
	char z32[SW_Z32_KEY_LEN + 1];
	sw_z32_encode_key(pk, z32);
	fprintf(stderr, "swarmdns: signed %s: seq %" PRIu64 ", packet %zu bytes of %d\n", z32, seq,
		plen, ZONE_PACKET_MAX);
	return 0;
}
