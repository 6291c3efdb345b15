/*
 * Reading a key file (docs/design.md §2: the Ed25519 seed as 64 hex characters and a newline,
 * mode 0600), the one way for the CLI (cli_key_read) and the node (a registry's key, option
 * `registrar`). A file that group or others can read is refused, as ssh(1) refuses such an
 * identity file, so that the mistake is found before the key leaks further.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/codec.h"
#include "common/err.h"
#include "crypto/crypto.h"

int sw_keyfile_read(const char *path, uint8_t pk[32], uint8_t sk[64], char *why, size_t cap)
{
	char data[130];
	uint8_t seed[32];
	struct stat st;
	int ret = 0;
	FILE *f = NULL;
	size_t len;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		snprintf(why, cap, "key file %s is not a regular file", path);
		return SW_EKEY;
	}
	if (stat(path, &st) == 0 && (st.st_mode & 077)) {
		snprintf(why, cap,
			 "key file %s has mode %04o: group or others can read the private key; "
			 "run 'chmod 600 %s' (and if others may have read it, make a new key)",
			 path, (unsigned)(st.st_mode & 07777), path);
		return SW_EKEY;
	}
	if ((f = fopen(path, "rb")) == NULL) {
		ret = -errno;
		snprintf(why, cap, "cannot read key file %s: %s", path, sw_strerror(ret));
		return ret;
	}
	len = fread(data, 1, sizeof(data), f);
	fclose(f);
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' '))
		len--;
	if (len != 64 || sw_hex_decode(data, len, seed, 32) != 0) {
		snprintf(why, cap,
			 "%s is not a key file (64 hex characters, as 'swarmdns keygen' writes)",
			 path);
		ret = SW_EKEY;
	} else {
		sw_ed25519_from_seed(seed, pk, sk);
	}
	sw_memzero(seed, sizeof(seed));
	sw_memzero(data, sizeof(data));
	return ret;
}
