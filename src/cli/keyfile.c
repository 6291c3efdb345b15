/*
 * Key files (docs/design.md §2) and whole-file reads for the CLI. cli_key_read() reads a key
 * file as the node does (sw_keyfile_read(), crypto/keyfile.c) and says on stderr why not.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/codec.h"
#include "common/err.h"
#include "crypto/crypto.h"

#define CLI_KEY_WHY_MAX (3 * 1024 + 200)

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
	char why[CLI_KEY_WHY_MAX];
	int ret = sw_keyfile_read(path, pk, sk, why, sizeof(why));
	if (ret)
		fprintf(stderr, "swarmdns: %s\n", why);
	return ret;
}
