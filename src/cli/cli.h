/*
 * The `swarmdns` command: subcommands, their help, and the helpers they share (key files,
 * zone signing, talking to a node's API). Main thread only; these may print and exit codes
 * are returned to main(): 0 success, 1 failure, 2 usage error.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define CLI_DEFAULT_API "http://127.0.0.1:8053"

int cli_keygen(int argc, char **argv);
int cli_key(int argc, char **argv);
int cli_sign(int argc, char **argv);
int cli_publish(int argc, char **argv);
int cli_serve(int argc, char **argv);

/* Key files (DESIGN.md §2): 64 hex characters of the Ed25519 seed and a newline, 0600. */
/* Returns 0, -errno, SW_EEXIST (file exists: never overwritten) */
int cli_key_write(const char *path, const uint8_t seed[32]);
/* The one way a key file is read: derives pk and sk (seed||pk). A file group or others can
 * read is refused (with the chmod to run). Prints why it failed on stderr. Returns 0, -errno
 * or SW_EKEY. */
int cli_key_read(const char *path, uint8_t pk[32], uint8_t sk[64]);

/* Reads a whole file (at most max bytes) into a new buffer the caller frees. */
int cli_file_read(const char *path, size_t max, char **data, size_t *len);

/* Signs the zone file with the key at `seq`; writes the relay form into out (at least
 * ZONE_RELAY_MAX). Prints errors itself ("FILE:LINE: problem"). Returns 0 or an error. */
int cli_zone_sign(const char *keyfile, const char *zonefile, uint64_t seq, uint8_t pk[32],
		  uint8_t *out, size_t *len, size_t *packet_len);

/* Microseconds since the epoch: BEP 44 seq as pkarr uses it (DESIGN.md §2). */
uint64_t cli_now_us(void);

/* One HTTP/1.1 request to base_url (http://host:port) + path. Returns 0 with *status set,
 * or SW_ECONN (nothing listening / unreachable) or SW_EHTTP (bad answer). resp gets the
 * body, NUL-terminated if there is room. */
int cli_http(const char *base_url, const char *method, const char *path, const uint8_t *body,
	     size_t body_len, int *status, uint8_t *resp, size_t cap, size_t *resp_len);
/* A header of the last response of cli_http(). Returns 0, SW_ENOTFOUND or SW_ENOSPC. */
int cli_http_header(const char *name, char *out, size_t cap);

int cli_testnet(int argc, char **argv);
int cli_dht(int argc, char **argv);
int cli_resolve(int argc, char **argv);
int cli_cert(int argc, char **argv);
int cli_status(int argc, char **argv);
