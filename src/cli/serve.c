/*
 * `swarmdns serve`: the options from the config file and the command line (conf.h), their
 * checks (--check-config also opens the files they name), --print-config, then the node.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "common/err.h"
#include "conf/conf.h"
#include "daemon/daemon.h"
#include "net/tls.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: swarmdns serve [-c FILE] [--check-config] [--print-config] [--OPTION "
		   "VALUE ...]\n\n"
		   "Runs a node: serves its own zones over DNS (UDP and TCP) and the HTTP API.\n"
		   "Every option can be given as --name value or --name=value here, or as a\n"
		   "'name value' line in the config file; the command line wins over the file.\n"
		   "In the file, '#' starts a comment at the start of a line or after a space or\n"
		   "tab (so 'api-token abc#def' is abc#def); a value may be quoted, \"...\" (with\n"
		   "\\\" and \\\\) or '...', and \"\" is an empty value. A single-value option\n"
		   "given twice in the file, or twice on the command line, is an error.\n"
		   "SIGHUP reloads the configuration (the same file and options;\n"
		   "docs/logging.md says what applies at once).\n\n"
		   "  -c, --config FILE   read options from FILE (also --config=FILE)\n"
		   "      --check-config  check the configuration, open the files it names\n"
		   "                      (tls-cert, tls-key) and exit: 0 valid, 1 not\n"
		   "      --print-config  print the effective configuration, each value with\n"
		   "                      where it came from, in the config-file syntax, and exit\n"
		   "  -h, --help          show this help\n\nOptions:\n");
	conf_print_help(f);
}

typedef struct {
	char *err;
	size_t cap;
} check_t;

static int check_one_file(const char *name, const char *path, void *ctx)
{
	check_t *k = ctx;
	char *data = NULL;
	size_t len;
	int ret = cli_file_read(path, 16 * 1024 * 1024, &data, &len);
	free(data);
	if (ret)
		snprintf(k->err, k->cap, "%s %s: cannot read it: %s", name, path, sw_strerror(ret));
	return ret;
}

/* --check-config: what the node would read at start must be readable and parse, so that a
 * broken file is found before a restart rather than by it. */
static int check_files(const conf_t *c, char *err, size_t cap)
{
	check_t k = {err, cap};
	struct stat st;
	int ret = conf_foreach_file(c, check_one_file, &k);
	if (ret)
		return ret;
	if (c->tls_cert[0] || c->tls_key[0]) {
		net_tls_creds_t *creds = NULL;
		/* GnuTLS parses them as the DoT and DoH listeners would. */
		ret = net_tls_creds_new(c->tls_cert, c->tls_key, &creds, err, cap);
		net_tls_creds_free(creds);
		if (ret == SW_ECONF)
			snprintf(err, cap, "tls-cert and tls-key go together: %s is not set",
				 c->tls_cert[0] ? "tls-key" : "tls-cert");
		if (ret)
			return ret;
	}
	if (stat(c->data_dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
		snprintf(err, cap, "data-dir %s: not a directory", c->data_dir);
		return SW_ECONF;
	}
	return 0;
}

/* Reads the configuration: the config file, then the command line on top, then
 * conf_check(). The same at start and on SIGHUP (daemon_set_reload()), so that a reload
 * reports the same errors. Returns 0, 1 (bad configuration) or 2 (bad usage), with the
 * message in err. */
static const char *g_config; /* the config file read, or NULL */

typedef struct {
	bool check, print;
} serve_flags_t;

static int serve_conf(int argc, char **argv, conf_t *c, serve_flags_t *fl, char *err, size_t errcap)
{
	const char *config = NULL;
	conf_init(c);
	/* First pass: the config file, so that the command line can override it. */
	for (int i = 1; i < argc; i++) {
		const char *file = NULL;
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc) {
				snprintf(err, errcap, "%s needs a file name", argv[i]);
				return 2;
			}
			file = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			file = argv[i] + 9;
		}
		if (file && config) {
			snprintf(err, errcap, "give one config file");
			return 2;
		}
		if (file)
			config = file;
	}
	g_config = config;
	if (config) {
		char *text = NULL;
		size_t len;
		int ret = cli_file_read(config, 1024 * 1024, &text, &len);
		if (ret) {
			snprintf(err, errcap, "cannot read config file %s: %s", config,
				 sw_strerror(ret));
			return 1;
		}
		ret = conf_parse_text(c, text, len, config, err, errcap);
		free(text);
		if (ret)
			return 1;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			i++;
			continue;
		}
		if (strncmp(a, "--config=", 9) == 0)
			continue;
		if (strcmp(a, "--check-config") == 0) {
			fl->check = true;
			continue;
		}
		if (strcmp(a, "--print-config") == 0) {
			fl->print = true;
			continue;
		}
		if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
			snprintf(err, errcap, "unexpected argument '%s' (see --help)", a);
			return 2;
		}
		char name[64];
		const char *value;
		const char *eq = strchr(a + 2, '=');
		size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
		if (nl >= sizeof(name)) {
			snprintf(err, errcap, "unknown option '%s' (see --help)", a);
			return 2;
		}
		memcpy(name, a + 2, nl);
		name[nl] = '\0';
		if (eq) {
			value = eq + 1;
		} else if (!conf_known(name)) {
			snprintf(err, errcap, "unknown option '--%s' (see --help)", name);
			return 2;
		} else if (i + 1 >= argc) {
			snprintf(err, errcap, "--%s needs a value", name);
			return 2;
		} else {
			value = argv[++i];
		}
		if (conf_set_arg(c, name, value, (unsigned)i, err, errcap) != 0)
			return 2;
	}
	if (conf_check(c, err, errcap) != 0)
		return 1;
	return 0;
}

static int g_argc;
static char **g_argv;

static int serve_reload(conf_t *c, char *err, size_t errcap)
{
	serve_flags_t fl = {0};
	return serve_conf(g_argc, g_argv, c, &fl, err, errcap) ? SW_ECONF : 0;
}

int cli_serve(int argc, char **argv)
{
	conf_t c;
	char err[1200];
	serve_flags_t fl = {0};
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
	}
	int ret = serve_conf(argc, argv, &c, &fl, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "swarmdns serve: %s\n", err);
		return ret;
	}
	if (fl.print) {
		conf_print(&c, stdout);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (fl.check) {
		if (check_files(&c, err, sizeof(err)) != 0) {
			fprintf(stderr, "swarmdns serve: %s\n", err);
			return 1;
		}
		printf("configuration is valid\n");
		return 0;
	}
	g_argc = argc;
	g_argv = argv;
	daemon_set_reload(serve_reload, g_config);
	return daemon_run(&c) == 0 ? 0 : 1;
}
