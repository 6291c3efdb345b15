#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/codec.h"
#include "common/err.h"
#include "crypto/crypto.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: swarmdns keygen [-o FILE]\n\n"
		   "Makes a new Ed25519 key: the owner of one zone. Writes the key file (the seed\n"
		   "as 64 hex characters, mode 0600; an existing file is never overwritten) and\n"
		   "prints the zone's key name, the 52-character z-base32 label its names end in.\n\n"
		   "  -o, --output FILE   key file to write [default: swarmdns.key]\n"
		   "  -h, --help          show this help\n");
}

int cli_keygen(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"output", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'}, {0}};
	const char *out = "swarmdns.key";
	int ch;
	while ((ch = getopt_long(argc, argv, "o:h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'o': out = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "swarmdns keygen: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	uint8_t seed[32], pk[32];
	char z32[SW_Z32_KEY_LEN + 1];
	sw_random_bytes(seed, sizeof(seed));
	sw_ed25519_from_seed(seed, pk, NULL);
	int ret = cli_key_write(out, seed);
	sw_memzero(seed, sizeof(seed));
	if (ret == SW_EEXIST) {
		fprintf(stderr, "swarmdns keygen: %s already exists; refusing to overwrite a key "
				"(choose another file with -o)\n", out);
		return 1;
	}
	if (ret) {
		fprintf(stderr, "swarmdns keygen: cannot write %s: %s\n", out, sw_strerror(ret));
		return 1;
	}
	sw_z32_encode_key(pk, z32);
	printf("%s\n", z32);
	fprintf(stderr, "swarmdns: key written to %s; its zone is %s.\n", out, z32);
	return 0;
}
