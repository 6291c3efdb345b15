#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "daemon/testnet.h"
#include "net/net.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: swarmdns testnet [-n N] [--base-port P] [--seconds S]\n\n"
		   "Runs N Mainline DHT nodes in this process on 127.0.0.1, ports P to P+N-1,\n"
		   "bootstrapped from each other, until interrupted (Ctrl-C). A private DHT for\n"
		   "trying swarmdns without the internet: point nodes at it with\n"
		   "'swarmdns serve --bootstrap 127.0.0.1:P'.\n\n"
		   "  -n, --nodes N        how many nodes [default: 20]\n"
		   "  -p, --base-port P    first UDP port [default: 16881]\n"
		   "      --rate-limit Q   queries per second each node accepts from 127.0.0.1\n"
		   "                       [default: 100000]\n"
		   "      --seconds S      stop after S seconds [default: run until interrupted]\n"
		   "  -b, --bootstrap IP:PORT\n"
		   "                       also join another swarm through this node, so that\n"
		   "                       several testnet processes make one DHT\n"
		   "  -h, --help           show this help\n");
}

static int number(const char *opt, const char *s, unsigned long min, unsigned long max,
		  unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || s[0] == '\0' || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "swarmdns testnet: %s needs a whole number from %lu to %lu\n", opt,
			min, max);
		return -1;
	}
	*out = v;
	return 0;
}

int cli_testnet(int argc, char **argv)
{
	static const struct option lopts[] = {{"nodes", required_argument, NULL, 'n'},
					      {"base-port", required_argument, NULL, 'p'},
					      {"rate-limit", required_argument, NULL, 'r'},
					      {"seconds", required_argument, NULL, 's'},
					      {"bootstrap", required_argument, NULL, 'b'},
					      {"help", no_argument, NULL, 'h'},
					      {0}};
	unsigned long n = 20, port = 16881, rate = 100000, secs = 0;
	const char *boot = NULL;
	int ch;
	while ((ch = getopt_long(argc, argv, "n:p:b:h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'b': {
			struct sockaddr_storage ss;
			if (net_addr_parse(optarg, &ss) != 0) {
				fprintf(stderr, "swarmdns testnet: --bootstrap needs IP:PORT, got '%s'\n",
					optarg);
				return 2;
			}
			boot = optarg;
			break;
		}
		case 'n':
			if (number("--nodes", optarg, 1, 5000, &n))
				return 2;
			break;
		case 'p':
			if (number("--base-port", optarg, 1024, 65535, &port))
				return 2;
			break;
		case 'r':
			if (number("--rate-limit", optarg, 1, 10000000, &rate))
				return 2;
			break;
		case 's':
			if (number("--seconds", optarg, 1, 86400 * 365, &secs))
				return 2;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "swarmdns testnet: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (port + n - 1 > 65535) {
		fprintf(stderr, "swarmdns testnet: ports %lu to %lu do not exist; lower --base-port\n",
			port, port + n - 1);
		return 2;
	}
	testnet_opts_t o = {(unsigned)n, (uint16_t)port, (uint32_t)rate, (unsigned)secs, boot};
	return daemon_testnet(&o) == 0 ? 0 : 1;
}
