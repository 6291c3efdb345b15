/*
 * swarmdns: a decentralized DNS. Names owned by Ed25519 keys, zones signed by their owners,
 * served over DNS. This file dispatches the subcommands.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/err.h"
#include "crypto/crypto.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
} commands[] = {
    {"keygen", cli_keygen, "make a key: the owner of a zone"},
    {"key", cli_key, "about a key file: 'key show KEYFILE' prints its key name"},
    {"sign", cli_sign, "sign a zone file into the pkarr relay form"},
    {"publish", cli_publish, "sign a zone file and send it to a running node"},
    {"serve", cli_serve, "run a node"},
    {"testnet", cli_testnet, "run many DHT nodes on 127.0.0.1: a private DHT to try things on"},
    {"resolve", cli_resolve, "resolve a name through a running node and say how"},
    {"dht", cli_dht, "look an item up in the DHT through a running node (dht get)"},
    {"cert", cli_cert, "make a self-signed certificate for trying DNS over TLS and HTTPS"},
    {"status", cli_status, "show a running node's state: zones, cache, DHT, query counts"},
    {"reload", cli_reload, "make a running node read its configuration again"},
    {"flush", cli_flush, "empty a running node's caches, or drop one name from them"},
    {"zone", cli_zone, "list, export (as a zone file) or remove a running node's own zones"},
    {"log-level", cli_log_level, "change what a running node logs"},
    {"register", cli_register, "claim a name in a registry: alice.<registry key>"},
    {"registry", cli_registry,
     "run a registry through its node: init, approve, transfer, renew, release, log"},
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: swarmdns COMMAND [OPTIONS]\n\n"
		   "A decentralized DNS: names owned by keys, records signed by their owners.\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\nCommands that talk to a node take --api URL (else $SWARMDNS_API, "
		   "else\n" CLI_DEFAULT_API
		   "), --token TOKEN (else $SWARMDNS_API_TOKEN) and --cacert\n"
		   "FILE (else $SWARMDNS_API_CACERT) for an https:// API.\n"
		   "\n'swarmdns COMMAND --help' describes each command.\n"
		   "Try it: swarmdns keygen -o my.key, write a zone file, swarmdns serve, then\n"
		   "swarmdns publish -k my.key my.zone and dig @127.0.0.1 -p 5300 www.<key>.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("swarmdns %s\n", SWARMDNS_VERSION);
		return 0;
	}
	if (sw_crypto_init() != 0) {
		fprintf(stderr, "swarmdns: cannot initialise libsodium\n");
		return 1;
	}
	/* --token and --cacert for every command that talks to a node; `serve` and `testnet`
	 * take their own options. */
	int sub_argc = argc - 1;
	if (strcmp(argv[1], "serve") != 0 && strcmp(argv[1], "testnet") != 0)
		sub_argc = cli_api_args(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(sub_argc, argv + 1);
	fprintf(stderr, "swarmdns: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
