/*
 * The CLI's client of a node's HTTP API, on src/net/http.c with a private libuv loop for each
 * call: http:// and https://
 * URLs (the node's certificate checked against the system's CAs, or against --cacert FILE /
 * SWARMDNS_API_CACERT for a self-signed one), the api-token sent as `Authorization: Bearer`
 * (--token / SWARMDNS_API_TOKEN) on every call, and the node's address from --api, else
 * SWARMDNS_API, else CLI_DEFAULT_API. Main thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <errno.h>

#include <curl/curl.h>
#include <uv.h>

#include "cli/cli.h"
#include "common/err.h"
#include "net/http.h"

#define CONNECT_TIMEOUT_S 10
#define TIMEOUT_S 60 /* a publish waits for the DHT put: seconds on a real network */
/* Bodies are read up to this and then cut to the caller's buffer, as before. */
#define MAX_BODY (4 * 1024 * 1024)

/* --token and --cacert, taken out of the command line by cli_api_args(). */
static const char *opt_token, *opt_cacert;
/* The header block of the last response, for cli_http_header(); curl's message of the last
 * failure, for cli_http_error(). */
static char last_headers[8192];
static size_t last_headers_len;
static char last_error[CURL_ERROR_SIZE];
/* last_tls: the last failure was the TLS handshake's or the certificate's; quiet: set while
 * cli_api_call() says the failures itself. */
static bool last_tls, quiet;

/* A value of an option in argv at i: "--name VALUE" or "--name=VALUE". Returns the value and
 * sets *used to the number of argv entries it took, or NULL. */
static const char *take_opt(char **argv, int argc, int i, const char *name, int *used)
{
	size_t nl = strlen(name);
	if (strncmp(argv[i], name, nl) != 0)
		return NULL;
	if (argv[i][nl] == '=') {
		*used = 1;
		return argv[i] + nl + 1;
	}
	if (argv[i][nl] == '\0' && i + 1 < argc) {
		*used = 2;
		return argv[i + 1];
	}
	return NULL;
}

int cli_api_args(int argc, char **argv)
{
	int out = 1;
	for (int i = 1; i < argc;) {
		int used = 0;
		const char *v;
		if (strcmp(argv[i], "--") == 0) {
			while (i < argc)
				argv[out++] = argv[i++];
			break;
		}
		if ((v = take_opt(argv, argc, i, "--token", &used)) != NULL)
			opt_token = v;
		else if ((v = take_opt(argv, argc, i, "--cacert", &used)) != NULL)
			opt_cacert = v;
		if (used) {
			i += used;
			continue;
		}
		argv[out++] = argv[i++];
	}
	argv[out] = NULL;
	return out;
}

const char *cli_api_url(const char *given)
{
	const char *env = getenv("SWARMDNS_API");
	if (given)
		return given;
	return env && env[0] ? env : CLI_DEFAULT_API;
}

static const char *env_or(const char *opt, const char *name)
{
	const char *env = getenv(name);
	if (opt)
		return opt[0] ? opt : NULL;
	return env && env[0] ? env : NULL;
}

bool cli_api_has_token(void)
{
	return env_or(opt_token, "SWARMDNS_API_TOKEN") != NULL;
}

const char *cli_http_error(void)
{
	return last_error;
}

int cli_http_header(const char *name, char *out, size_t cap)
{
	return net_http_header_in(last_headers, name, out, cap);
}

/* The one call in flight: what cli_http() waits for on its private loop. */
typedef struct {
	bool done;
	int err, status;
	uint8_t *resp;
	size_t cap, len;
} call_t;

/* The body: what fits in the caller's buffer is kept, the rest is dropped. */
static void on_done(void *ctx, net_http_req_t *req, const net_http_resp_t *r)
{
	call_t *c = ctx;
	c->done = true;
	c->err = r->err;
	c->status = r->status;
	snprintf(last_error, sizeof(last_error), "%s", r->error);
	if (r->err == 0) {
		c->len = r->body_len < c->cap ? r->body_len : c->cap;
		memcpy(c->resp, r->body, c->len);
	}
	/* The header block of the response, for cli_http_header(). */
	size_t hl = 0;
	const char *hb = net_http_headers(req, &hl);
	last_headers_len = hl < sizeof(last_headers) ? hl : sizeof(last_headers) - 1;
	memcpy(last_headers, hb, last_headers_len);
	last_headers[last_headers_len] = '\0';
}

int cli_http(const char *base_url, const char *method, const char *path, const uint8_t *body,
	     size_t body_len, int *status, uint8_t *resp, size_t cap, size_t *resp_len)
{
	/* Commands that have not been told about SWARMDNS_API pass the default: the variable
	 * applies to them as if they passed NULL. */
	if (base_url == NULL || strcmp(base_url, CLI_DEFAULT_API) == 0)
		base_url = cli_api_url(NULL);
	if (strncmp(base_url, "http://", 7) != 0 && strncmp(base_url, "https://", 8) != 0)
		return SW_EINVAL;
	char url[2048], auth[1024];
	size_t bl = strlen(base_url);
	while (bl > 0 && base_url[bl - 1] == '/')
		bl--;
	if (snprintf(url, sizeof(url), "%.*s%s", (int)bl, base_url, path) >= (int)sizeof(url))
		return SW_EINVAL;
	last_headers_len = 0;
	last_headers[0] = '\0';
	last_error[0] = '\0';
	last_tls = false;
	const char *token = env_or(opt_token, "SWARMDNS_API_TOKEN");
	const char *cacert = env_or(opt_cacert, "SWARMDNS_API_CACERT");
	const char *hdrs[2];
	size_t nh = 0;
	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		hdrs[nh++] = auth;
	}
	if (body_len)
		hdrs[nh++] = "Content-Type: application/pkarr.org/relays#payload";
	net_http_req_opts_t o = {
	    .method = method,
	    .url = url,
	    .headers = hdrs,
	    .nheaders = nh,
	    .body = body,
	    .body_len = body_len,
	    .timeout_ms = TIMEOUT_S * 1000,
	    .connect_timeout_ms = CONNECT_TIMEOUT_S * 1000,
	    .max_body = MAX_BODY,
	    .cafile = cacert,
	};
	/* A private loop for the one call: the CLI has no loop of its own. */
	uv_loop_t loop;
	net_http_t *h = NULL;
	call_t c = {.resp = resp, .cap = cap};
	int ret = uv_loop_init(&loop);
	if (ret != 0)
		return ret;
	ret = net_http_new(&loop, NULL, &h);
	if (ret == 0)
		ret = net_http_request(h, &o, on_done, &c, NULL);
	while (ret == 0 && !c.done)
		uv_run(&loop, UV_RUN_ONCE);
	net_http_free(h);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	if (ret != 0)
		return ret;
	if (c.err == 0) {
		*status = c.status;
		*resp_len = c.len;
		if (c.len < cap)
			resp[c.len] = '\0';
		return 0;
	}
	if (last_error[0] == '\0')
		snprintf(last_error, sizeof(last_error), "%s", sw_strerror(c.err));
	switch (c.err) {
	case SW_ECONN:
	case -ETIMEDOUT:
		return SW_ECONN;
	case SW_EINVAL:
		return SW_EINVAL;
	default:
		/* TLS (an unknown CA, a wrong name) and the rest: the messages of the
		 * commands that do not use cli_api_call() say only "cannot reach", so
		 * the reason is said here. */
		last_tls = c.err == SW_ECRYPTO;
		if (!quiet)
			fprintf(stderr, "swarmdns: %s: %s%s\n", url, last_error,
				cacert ? ""
				       : " (a node with a self-signed certificate needs "
					 "--cacert FILE or SWARMDNS_API_CACERT)");
		return last_tls ? SW_ECONN : SW_EHTTP;
	}
}

int cli_api_request(const char *cmd, const char *api, const char *method, const char *path,
		    const uint8_t *body, size_t len, int *status, uint8_t *resp, size_t cap,
		    size_t *rlen)
{
	api = cli_api_url(api);
	quiet = true;
	int ret = cli_http(api, method, path, body, len, status, resp, cap - 1, rlen);
	quiet = false;
	if (ret == SW_EINVAL) {
		fprintf(stderr,
			"swarmdns %s: the API URL must be http://HOST:PORT or "
			"https://HOST:PORT, not '%s' (--api or SWARMDNS_API)\n",
			cmd, api);
		return 2;
	}
	if (ret != 0 && last_tls) {
		fprintf(stderr,
			"swarmdns %s: no TLS connection to the node at %s: %s; a node whose "
			"certificate is not signed by a CA of this system needs its CA certificate "
			"with --cacert FILE or SWARMDNS_API_CACERT\n",
			cmd, api, last_error);
		return 1;
	}
	if (ret != 0 && ret != SW_ECONN) {
		fprintf(stderr, "swarmdns %s: the request to %s failed: %s\n", cmd, api,
			last_error[0] ? last_error : sw_strerror(ret));
		return 1;
	}
	if (ret != 0) {
		fprintf(stderr,
			"swarmdns %s: no swarmdns node is running at %s (%s); start one with "
			"'swarmdns serve', or check the node's listen-api and give its API with "
			"--api URL or SWARMDNS_API\n",
			cmd, api, last_error[0] ? last_error : sw_strerror(ret));
		return 1;
	}
	resp[*rlen < cap ? *rlen : cap - 1] = '\0';
	return 0;
}

int cli_api_call(const char *cmd, const char *api, const char *method, const char *path,
		 const uint8_t *body, size_t len, int *status, uint8_t *resp, size_t cap,
		 size_t *rlen)
{
	int ret = cli_api_request(cmd, api, method, path, body, len, status, resp, cap, rlen);
	if (ret)
		return ret;
	api = cli_api_url(api);
	if ((*status >= 200 && *status < 300) || *status == 404)
		return 0;
	/* The node's own text ends with a newline; curl keeps it. */
	const char *text = (const char *)resp;
	size_t tl = strlen(text);
	while (tl > 0 && (text[tl - 1] == '\n' || text[tl - 1] == '\r'))
		tl--;
	if (*status == 401 || *status == 403)
		fprintf(stderr,
			"swarmdns %s: the node at %s refused the request (HTTP %d): the API "
			"token is %s; give the node's api-token with --token TOKEN or "
			"SWARMDNS_API_TOKEN (writes without it are allowed from loopback only)\n",
			cmd, api, *status, cli_api_has_token() ? "wrong" : "missing");
	else
		fprintf(stderr, "swarmdns %s: the node at %s answered HTTP %d: %.*s\n", cmd, api,
			*status, (int)tl, text);
	return 1;
}
