#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/err.h"
#include "conf/conf.h"
#include "daemon/daemon.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: swarmdns serve [-c FILE] [--check-config] [--OPTION VALUE ...]\n\n"
		   "Runs a node: serves its own zones over DNS (UDP and TCP) and the HTTP API.\n"
		   "Every option can be given as --name value here or as a 'name value' line in\n"
		   "the config file; the command line wins. SIGHUP reloads the configuration\n"
		   "(the same file and options; docs/logging.md says what applies at once).\n\n"
		   "  -c, --config FILE   read options from FILE\n"
		   "      --check-config  validate the configuration and exit\n"
		   "  -h, --help          show this help\n\nOptions:\n");
	conf_print_help(f);
}

/* Reads the configuration: the config file, then the command line on top, then
 * conf_check(). The same at start and on SIGHUP (daemon_set_reload()), so that a reload
 * reports the same errors. Returns 0, 1 (bad configuration) or 2 (bad usage), with the
 * message in err. */
static const char *g_config; /* the config file read, or NULL */

static int serve_conf(int argc, char **argv, conf_t *c, bool *check, char *err, size_t errcap)
{
	const char *config = NULL;
	conf_init(c);
	/* First pass: the config file, so that the command line can override it. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc) {
				snprintf(err, errcap, "%s needs a file name", argv[i]);
				return 2;
			}
			config = argv[++i];
		}
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
		if (strcmp(a, "--check-config") == 0) {
			*check = true;
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
		if (conf_set(c, name, value, CONF_SRC_CLI, err, errcap) != 0)
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
	bool check = false;
	return serve_conf(g_argc, g_argv, c, &check, err, errcap) ? SW_ECONF : 0;
}

int cli_serve(int argc, char **argv)
{
	conf_t c;
	char err[1200];
	bool check = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
	}
	int ret = serve_conf(argc, argv, &c, &check, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "swarmdns serve: %s\n", err);
		return ret;
	}
	if (check) {
		printf("configuration is valid\n");
		return 0;
	}
	g_argc = argc;
	g_argv = argv;
	daemon_set_reload(serve_reload, g_config);
	return daemon_run(&c) == 0 ? 0 : 1;
}
