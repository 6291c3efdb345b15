/*
 * Key files (docs/design.md §2) and whole-file reads for the CLI. cli_key_read() is the one way a
 * key file is read: it refuses a file that group or others can read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/codec.h"
#include "common/err.h"
#include "crypto/crypto.h"

int cli_file_read(const char *path, size_t max, char **data, size_t *len)
{
	int ret = 0;
	char *buf = NULL;
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return -errno;
	buf = malloc(max + 1);
	if (buf == NULL) {
		ret = SW_ENOMEM;
		goto out;
	}
	errno = 0;
	size_t n = fread(buf, 1, max + 1, f);
	if (ferror(f)) {
		ret = errno ? -errno : -EIO; /* e.g. EISDIR: the user is told which */
		goto out;
	}
	if (n > max) {
		ret = -EFBIG;
		goto out;
	}
	buf[n] = '\0';
	*data = buf;
	*len = n;
	buf = NULL;
out:
	free(buf);
	fclose(f);
	return ret;
}

int cli_key_write(const char *path, const uint8_t seed[32])
{
	char hex[65];
	sw_hex_encode(seed, 32, hex, sizeof(hex));
	hex[64] = '\n';
	/* O_EXCL: an existing key is never overwritten, whatever it holds. */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		sw_memzero(hex, sizeof(hex));
		return errno == EEXIST ? SW_EEXIST : -errno;
	}
	ssize_t n = write(fd, hex, sizeof(hex));
	int ret = n == (ssize_t)sizeof(hex) ? 0 : -EIO;
	if (ret == 0 && fsync(fd) != 0)
		ret = -errno;
	close(fd);
	sw_memzero(hex, sizeof(hex));
	if (ret)
		unlink(path);
	return ret;
}

int cli_key_read(const char *path, uint8_t pk[32], uint8_t sk[64])
{
	char *data = NULL;
	size_t len;
	uint8_t seed[32];
	struct stat st;
	/* Like ssh(1) with an identity file: a private key others can read is not used, so
	 * that the mistake is found before the key leaks further. */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		fprintf(stderr, "swarmdns: key file %s is not a regular file\n", path);
		return SW_EKEY;
	}
	if (stat(path, &st) == 0 && (st.st_mode & 077)) {
		fprintf(
		    stderr,
		    "swarmdns: key file %s has mode %04o: group or others can read the private "
		    "key; run 'chmod 600 %s' (and if others may have read it, make a new key)\n",
		    path, (unsigned)(st.st_mode & 07777), path);
		return SW_EKEY;
	}
	int ret = cli_file_read(path, 4096, &data, &len);
	if (ret) {
		fprintf(stderr, "swarmdns: cannot read key file %s: %s\n", path, sw_strerror(ret));
		return ret;
	}
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' '))
		len--;
	ret = sw_hex_decode(data, len, seed, 32) == 0 ? 0 : SW_EKEY;
	if (ret)
		fprintf(stderr,
			"swarmdns: %s is not a key file (64 hex characters, as 'swarmdns keygen' "
			"writes)\n",
			path);
	if (ret == 0)
		sw_ed25519_from_seed(seed, pk, sk);
	sw_memzero(seed, sizeof(seed));
	sw_memzero(data, len);
	free(data);
	return ret;
}
