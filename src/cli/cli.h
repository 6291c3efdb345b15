/*
 * The `swarmdns` command: subcommands, their help, and the helpers they share (key files,
 * zone signing, talking to a node's API). Main thread only; these may print and exit codes
 * are returned to main(): 0 success, 1 failure, 2 usage error.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLI_DEFAULT_API "http://127.0.0.1:8053"

int cli_keygen(int argc, char **argv);
int cli_key(int argc, char **argv);
int cli_sign(int argc, char **argv);
int cli_publish(int argc, char **argv);
int cli_serve(int argc, char **argv);

/* Key files (docs/design.md §2): 64 hex characters of the Ed25519 seed and a newline, 0600. */
/* Returns 0, -errno, SW_EEXIST (file exists: never overwritten) */
int cli_key_write(const char *path, const uint8_t seed[32]);
/* The one way a key file is read: derives pk and sk (seed||pk). A file group or others can
 * read is refused (with the chmod to run). Prints why it failed on stderr. Returns 0, -errno
 * or SW_EKEY. */
int cli_key_read(const char *path, uint8_t pk[32], uint8_t sk[64]);

/* Reads a whole file (at most max bytes) into a new buffer the caller frees. */
int cli_file_read(const char *path, size_t max, char **data, size_t *len);

/* Signs the zone file with the key at `seq`; writes the relay form into out (at least
 * ITEM_RELAY_MAX). Prints errors itself ("FILE:LINE: problem"). Returns 0 or an error. */
int cli_zone_sign(const char *keyfile, const char *zonefile, uint64_t seq, uint8_t pk[32],
		  uint8_t *out, size_t *len, size_t *packet_len);

/* Microseconds since the epoch: BEP 44 seq as pkarr uses it (docs/design.md §2). */
uint64_t cli_now_us(void);

/* Takes the options of every command that talks to a node, --token TOKEN and --cacert FILE
 * (also as --opt=VALUE), out of argv (argv[0] is the command); returns the new argc. */
int cli_api_args(int argc, char **argv);
/* The node's API: given (--api), else $SWARMDNS_API, else CLI_DEFAULT_API. */
const char *cli_api_url(const char *given);
/* Is a token given (--token or $SWARMDNS_API_TOKEN)? */
bool cli_api_has_token(void);
/* One HTTP request (libcurl) to base_url (http:// or https://HOST:PORT; NULL or
 * CLI_DEFAULT_API: cli_api_url(NULL)) + path, with the token as a bearer token. Returns 0
 * with *status set, SW_EINVAL (not an http(s) URL), SW_ECONN (unreachable, or the TLS
 * handshake failed: said on stderr) or SW_EHTTP (bad answer). resp gets the body, cut at
 * cap, NUL-terminated if there is room. */
int cli_http(const char *base_url, const char *method, const char *path, const uint8_t *body,
	     size_t body_len, int *status, uint8_t *resp, size_t cap, size_t *resp_len);
/* A header of the last response of cli_http(). Returns 0, SW_ENOTFOUND or SW_ENOSPC. */
int cli_http_header(const char *name, char *out, size_t cap);
/* cli_http() for a command `cmd` (for messages) with every failure said on stderr as a user
 * needs it: a bad URL, a node that cannot be reached (with the URL and what to check), a
 * missing or wrong token (401/403), any other non-2xx answer with the node's text. api NULL:
 * cli_api_url(NULL). Returns 0 (a 2xx or a 404, which the caller words; resp is
 * NUL-terminated, so cap must leave room), 1 (failed, said) or 2 (bad URL, said). */
int cli_api_call(const char *cmd, const char *api, const char *method, const char *path,
		 const uint8_t *body, size_t len, int *status, uint8_t *resp, size_t cap,
		 size_t *rlen);
/* The same, but any HTTP answer returns 0 with its status and text, for a caller that words
 * every status itself (a registry's refusals say why in their text). */
int cli_api_request(const char *cmd, const char *api, const char *method, const char *path,
		    const uint8_t *body, size_t len, int *status, uint8_t *resp, size_t cap,
		    size_t *rlen);
/* libcurl's words for the last failure of cli_http(). */
const char *cli_http_error(void);

int cli_testnet(int argc, char **argv);
int cli_dht(int argc, char **argv);
int cli_resolve(int argc, char **argv);
int cli_cert(int argc, char **argv);
int cli_status(int argc, char **argv);
/* src/cli/control.c */
int cli_reload(int argc, char **argv);
int cli_flush(int argc, char **argv);
int cli_zone(int argc, char **argv);
int cli_log_level(int argc, char **argv);
/* src/cli/registry.c */
int cli_register(int argc, char **argv);
int cli_registry(int argc, char **argv);
