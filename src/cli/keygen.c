/*
 * `swarmdns keygen` (a new key file) and `swarmdns key` (what a key file holds).
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
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
		   "prints the zone's key name, the 52-character z-base32 label its names end in.\n"
		   "Back the key file up: it is the only way to change the zone, and whoever has\n"
		   "it owns the zone.\n\n"
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
		case 'o':
			out = optarg;
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
		fprintf(stderr,
			"swarmdns keygen: %s already exists; refusing to overwrite a key "
			"(choose another file with -o)\n",
			out);
		return 1;
	}
	if (ret) {
		fprintf(stderr, "swarmdns keygen: cannot write %s: %s\n", out, sw_strerror(ret));
		return 1;
	}
	sw_z32_encode_key(pk, z32);
	printf("%s\n", z32);
	char abs[PATH_MAX];
	const char *where = realpath(out, abs) ? abs : out;
	fprintf(stderr,
		"swarmdns: key written to %s (mode 0600); its zone is %s.\n"
		"Back this file up now (e.g. to offline storage): without it the zone can never be "
		"changed again, and whoever has it owns the zone.\n",
		where, z32);
	return 0;
}

static void key_usage(FILE *f)
{
	fprintf(f, "Usage: swarmdns key SUBCOMMAND ...\n\n"
		   "About a key file made by 'swarmdns keygen'.\n\n"
		   "Subcommands:\n"
		   "  show KEYFILE   print the key name: the 52-character z-base32 label of the\n"
		   "                 zone's names (www.<key name>.)\n\n"
		   "'swarmdns key SUBCOMMAND --help' describes each.\n");
}

static void show_usage(FILE *f)
{
	fprintf(f, "Usage: swarmdns key show KEYFILE\n\n"
		   "Prints the key name of the key file: the 52-character z-base32 label the\n"
		   "zone's names end in. A key file that group or others can read is refused.\n\n"
		   "  -h, --help   show this help\n");
}

static int key_show(int argc, char **argv)
{
	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		show_usage(stdout);
		return 0;
	}
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "swarmdns key show: give one key file\n");
		show_usage(stderr);
		return 2;
	}
	uint8_t pk[32], sk[64];
	char z32[SW_Z32_KEY_LEN + 1];
	int ret = cli_key_read(argv[1], pk, sk); /* prints why it failed */
	sw_memzero(sk, sizeof(sk));
	if (ret)
		return 1;
	sw_z32_encode_key(pk, z32);
	printf("%s\n", z32);
	return 0;
}

int cli_key(int argc, char **argv)
{
	if (argc < 2) {
		key_usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		key_usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "show") == 0)
		return key_show(argc - 1, argv + 1);
	fprintf(stderr, "swarmdns key: unknown subcommand '%s'\n\n", argv[1]);
	key_usage(stderr);
	return 2;
}
