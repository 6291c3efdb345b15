#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/err.h"
#include "crypto/crypto.h"
#include "net/tls.h"

#define PEM_MAX 8192

static void usage(FILE *f)
{
	fprintf(f, "Usage: swarmdns cert -o DIR [--name NAME] [--days N]\n\n"
		   "Makes a self-signed certificate and key for trying DNS over TLS and DNS over\n"
		   "HTTPS on this machine: DIR/cert.pem and DIR/key.pem (mode 0600). ECDSA P-256,\n"
		   "valid for localhost, 127.0.0.1, ::1 and NAME. Existing files are never\n"
		   "overwritten. Clients must be told to trust cert.pem (it is its own CA).\n\n"
		   "  -o, --output DIR    directory to write into (made if missing)\n"
		   "  -n, --name NAME     one more host name or address [default: localhost]\n"
		   "  -d, --days N        days of validity [default: 365]\n"
		   "  -h, --help          show this help\n");
}

/* Writes a new file; an existing one is never replaced (O_EXCL). */
static int write_new(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return errno == EEXIST ? SW_EEXIST : -errno;
	int ret = 0;
	if (write(fd, data, len) != (ssize_t)len)
		ret = -EIO;
	if (ret == 0 && fchmod(fd, mode) != 0) /* whatever the umask */
		ret = -errno;
	if (ret == 0 && fsync(fd) != 0)
		ret = -errno;
	close(fd);
	if (ret)
		unlink(path);
	return ret;
}

int cli_cert(int argc, char **argv)
{
	static const struct option lopts[] = {{"output", required_argument, NULL, 'o'},
					      {"name", required_argument, NULL, 'n'},
					      {"days", required_argument, NULL, 'd'},
					      {"help", no_argument, NULL, 'h'},
					      {0}};
	const char *dir = NULL, *name = "localhost";
	unsigned long days = 365;
	int ch;
	while ((ch = getopt_long(argc, argv, "o:n:d:h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			dir = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'd': {
			char *end;
			errno = 0;
			days = strtoul(optarg, &end, 10);
			if (errno || *end || optarg[0] == '\0' || days == 0 || days > 36500) {
				fprintf(stderr,
					"swarmdns cert: --days needs a number from 1 to 36500\n");
				return 2;
			}
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "swarmdns cert: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (dir == NULL) {
		fprintf(stderr, "swarmdns cert: say where to write with -o DIR\n");
		usage(stderr);
		return 2;
	}
	if (strlen(name) == 0 || strlen(name) > 253) {
		fprintf(stderr, "swarmdns cert: --name must be a host name or an address\n");
		return 2;
	}
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "swarmdns cert: cannot make directory %s: %s\n", dir,
			strerror(errno));
		return 1;
	}
	char full[PATH_MAX], cert_path[PATH_MAX + 16], key_path[PATH_MAX + 16];
	if (realpath(dir, full) == NULL) {
		fprintf(stderr, "swarmdns cert: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", full);
	snprintf(key_path, sizeof(key_path), "%s/key.pem", full);
	/* Both or neither: check before writing anything. */
	const char *paths[2] = {cert_path, key_path};
	for (int i = 0; i < 2; i++) {
		if (access(paths[i], F_OK) == 0) {
			fprintf(stderr,
				"swarmdns cert: %s already exists; refusing to overwrite it "
				"(choose another directory with -o)\n",
				paths[i]);
			return 1;
		}
	}
	char cert[PEM_MAX], key[PEM_MAX];
	size_t cert_len, key_len;
	int ret = net_tls_selfsigned(name, (unsigned)days, cert, sizeof(cert), &cert_len, key,
				     sizeof(key), &key_len);
	if (ret) {
		fprintf(stderr, "swarmdns cert: cannot make the certificate: %s\n",
			sw_strerror(ret));
		return 1;
	}
	/* The key first, so that a certificate never exists without its key. */
	ret = write_new(key_path, key, key_len, 0600);
	sw_memzero(key, sizeof(key));
	if (ret) {
		fprintf(stderr, "swarmdns cert: cannot write %s: %s\n", key_path,
			ret == SW_EEXIST ? "it already exists" : sw_strerror(ret));
		return 1;
	}
	ret = write_new(cert_path, cert, cert_len, 0644);
	if (ret) {
		fprintf(stderr, "swarmdns cert: cannot write %s: %s\n", cert_path,
			ret == SW_EEXIST ? "it already exists" : sw_strerror(ret));
		unlink(key_path);
		return 1;
	}
	printf("certificate: %s\n"
	       "key:         %s\n"
	       "self-signed for localhost, 127.0.0.1, ::1%s%s; valid %lu days\n\n"
	       "Serve DNS over TLS and DNS over HTTPS with:\n"
	       "  swarmdns serve --tls-cert %s --tls-key %s \\\n"
	       "      --listen-dot 127.0.0.1:8853 --listen-doh 127.0.0.1:8443\n"
	       "Try them with:\n"
	       "  kdig @127.0.0.1 -p 8853 +tls-ca=%s +tls-hostname=localhost NAME\n"
	       "  kdig @127.0.0.1 -p 8443 +https +tls-ca=%s +tls-hostname=localhost NAME\n"
	       "  curl --cacert %s --doh-url https://localhost:8443/dns-query URL\n",
	       cert_path, key_path, strcmp(name, "localhost") ? " and " : "",
	       strcmp(name, "localhost") ? name : "", days, cert_path, key_path, cert_path,
	       cert_path, cert_path);
	return 0;
}
