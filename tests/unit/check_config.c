/*
 * Check suite for the configuration loader (src/config.c).
 *
 * Values are tested one key at a time from a table; whole files are tested
 * as golden files in tests/config (NAME.ini and the NAME.expected result);
 * what cannot live in a text file under version control (NUL bytes, CRLF,
 * over-long lines, a missing file) is written to a temporary directory.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "unit.h"

#define GOLDEN_MAX 256                  /* golden cases the scan keeps */
#define TEXT_MAX 4096                   /* bytes of a formatted config */
#define LONG_LINE_LIMIT 197             /* what config.c reports for inih 55 */
#define TMPDIR_MAX 1024                 /* bytes of the temporary directory's path */

static const char defaults_text[] =
    "server.listen = 127.0.0.1:6567\n"
    "server.backlog = 511\n"
    "server.defer_accept = 0ms\n"
    "server.max_connections = 10000\n"
    "server.workers = 1\n"
    "server.io = epoll\n"
    "server.proxy_protocol = off\n"
    "server.proxy_from = 127.0.0.0/8 ::1/128\n"
    "connection.framing = lines\n"
    "connection.max_line = 65536\n"
    "connection.idle_timeout = 300000ms\n"
    "connection.max_per_ip = 0\n"
    "connection.line_timeout = 30000ms\n"
    "connection.tcp_keepalive = 300000ms\n"
    "metrics.max_connections = 16\n"
    "metrics.timeout = 10000ms\n"
    "daemon.log_level = info\n"
    "daemon.shutdown_timeout = 10000ms\n";

/* Set up by main before the suite runs, read by the golden tests. */
static char *golden_names[GOLDEN_MAX];
static size_t golden_count;
static bool golden_overflow;

/*
 * The temporary directory, made by main before the tests run and removed
 * by main after them, so that a test which fails in a forked child (and
 * never reaches a teardown) still leaves nothing behind.
 */
static char tmpdir[TMPDIR_MAX];

/* The source tree, where the golden files and conf/ live. */
static const char *
srcdir(void)
{
	const char *dir = getenv("abs_top_srcdir");

	return dir != NULL && *dir != '\0' ? dir : ".";
}

/* Make the temporary directory; returns 0 or -1. */
static int
tmp_create(void)
{
	const char *base = getenv("TMPDIR");

	if (base == NULL || *base == '\0')
		base = "/tmp";
	snprintf(tmpdir, sizeof(tmpdir), "%s/check_config.XXXXXX", base);
	if (mkdtemp(tmpdir) == NULL) {
		fprintf(stderr, "mkdtemp %s: %s\n", tmpdir, strerror(errno));
		tmpdir[0] = '\0';
		return -1;
	}
	return 0;
}

/* Remove everything the tests put in the temporary directory. */
static void
tmp_empty(void)
{
	char path[TMPDIR_MAX + NAME_MAX + 2];
	struct dirent *de;
	DIR *d;

	if (tmpdir[0] == '\0' || (d = opendir(tmpdir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmpdir, de->d_name);
		if (unlink(path) == -1)
			rmdir(path);
	}
	closedir(d);
}

/* Give each test an empty temporary directory. */
static void
tmp_setup(void)
{
	ck_assert_msg(tmpdir[0] != '\0', "no temporary directory");
	tmp_empty();
}

/* Write len bytes of data to NAME in the temporary directory; path gets its path. */
static void
tmp_write(const char *name, const void *data, size_t len, char *path,
    size_t pathlen)
{
	FILE *f;

	snprintf(path, pathlen, "%s/%s", tmpdir, name);
	f = fopen(path, "wb");
	ck_assert_msg(f != NULL, "fopen %s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

/* Load len bytes of text as a file named test.ini; path gets its path. */
static enum config_status
load_bytes(const void *text, size_t len, struct config *cfg, char *err,
    char *path, size_t pathlen)
{
	tmp_write("test.ini", text, len, path, pathlen);
	return config_load(path, cfg, err, CONFIG_ERROR_MAX);
}

/* Load a NUL-terminated text; see load_bytes(). */
static enum config_status
load_text(const char *text, struct config *cfg, char *err, char *path,
    size_t pathlen)
{
	return load_bytes(text, strlen(text), cfg, err, path, pathlen);
}

/* Assert that err is exactly path followed by rest. */
static void
assert_error(const char *err, const char *path, const char *rest)
{
	char want[CONFIG_ERROR_MAX + PATH_MAX];

	snprintf(want, sizeof(want), "%s%s", path, rest);
	ck_assert_str_eq(err, want);
}

/* Read a whole file into a new NUL-terminated buffer, or NULL. */
static char *
read_whole(const char *path)
{
	char *buf = NULL;
	long size;
	FILE *f;

	f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)size + 1)) != NULL) {
		if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
			free(buf);
			buf = NULL;
		} else
			buf[size] = '\0';
	}
	fclose(f);
	return buf;
}

/* A new string: text with every "@PATH@" replaced by path. */
static char *
substitute_path(const char *text, const char *path)
{
	static const char mark[] = "@PATH@";
	size_t n = 0, o = 0;
	const char *p, *q;
	char *out;

	for (p = text; (q = strstr(p, mark)) != NULL; p = q + strlen(mark))
		n++;
	out = malloc(strlen(text) + n * strlen(path) + 1);
	ck_assert_ptr_nonnull(out);
	for (p = text; (q = strstr(p, mark)) != NULL; p = q + strlen(mark)) {
		memcpy(out + o, p, (size_t)(q - p));
		o += (size_t)(q - p);
		memcpy(out + o, path, strlen(path));
		o += strlen(path);
	}
	strcpy(out + o, p);
	return out;
}

/* ------------------------------------------------------------------ */
/* Defaults and config_format */

START_TEST(test_defaults)
{
	struct config cfg;
	const struct sockaddr_in *sin;

	memset(&cfg, 0xa5, sizeof(cfg));
	config_defaults(&cfg);
	ck_assert_uint_eq(cfg.nlisten, 1);
	ck_assert_str_eq(cfg.listen[0].text, CONFIG_DEFAULT_LISTEN);
	ck_assert_str_eq(cfg.listen[0].text, "127.0.0.1:6567");
	sin = (const struct sockaddr_in *)(const void *)&cfg.listen[0].ss;
	ck_assert_int_eq(sin->sin_family, AF_INET);
	ck_assert_uint_eq(ntohs(sin->sin_port), 6567);
	ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
	ck_assert_uint_eq(cfg.listen[0].len, sizeof(struct sockaddr_in));
	ck_assert_int_eq(cfg.backlog, 511);
	ck_assert_uint_eq(cfg.defer_accept_ms, 0);
	ck_assert_uint_eq(cfg.max_connections, 10000);
	ck_assert_uint_eq(cfg.max_line, 65536);
	ck_assert_uint_eq(cfg.idle_timeout_ms, 300000);
	ck_assert_int_eq(cfg.log_level, LOG_LEVEL_INFO);
	ck_assert_uint_eq(cfg.shutdown_timeout_ms, 10000);
}
END_TEST

START_TEST(test_format_defaults)
{
	struct config cfg;
	char buf[TEXT_MAX];
	int n;

	config_defaults(&cfg);
	n = config_format(&cfg, buf, sizeof(buf));
	ck_assert_str_eq(buf, defaults_text);
	ck_assert_int_eq(n, (int)strlen(defaults_text));
}
END_TEST

START_TEST(test_format_truncates)
{
	struct config cfg;
	char buf[10];

	config_defaults(&cfg);
	memset(buf, 'x', sizeof(buf));
	ck_assert_int_eq(config_format(&cfg, buf, sizeof(buf)),
	    (int)strlen(defaults_text));
	ck_assert_str_eq(buf, "server.li");
	ck_assert_int_eq(config_format(&cfg, NULL, 0),
	    (int)strlen(defaults_text));
}
END_TEST

/* ------------------------------------------------------------------ */
/* One value of one key, good or bad */

struct value_case {
	const char *section;
	const char *key;
	const char *value;
	uint64_t want;                  /* stored value when reason is NULL */
	const char *want_text;          /* listen: the normalised text */
	const char *reason;             /* error after "[section] key: ", or NULL */
};

static const struct value_case value_cases[] = {
	/* [server] backlog: a plain count */
	{ "server", "backlog", "1", 1, NULL, NULL },
	{ "server", "backlog", "511", 511, NULL, NULL },
	{ "server", "backlog", "65535", 65535, NULL, NULL },
	{ "server", "backlog", "0007", 7, NULL, NULL },
	{ "server", "backlog", "0", 0, NULL, "\"0\": out of range (1 to 65535)" },
	{ "server", "backlog", "65536", 0, NULL, "\"65536\": out of range (1 to 65535)" },
	{ "server", "backlog", "-5", 0, NULL, "\"-5\": negative values are not allowed" },
	{ "server", "backlog", "-0", 0, NULL, "\"-0\": negative values are not allowed" },
	{ "server", "backlog", "+5", 0, NULL, "\"+5\": a leading '+' is not allowed" },
	{ "server", "backlog", "abc", 0, NULL, "\"abc\": not a whole number" },
	{ "server", "backlog", "10x", 0, NULL, "\"10x\": unexpected \"x\" after the number" },
	{ "server", "backlog", "10 k", 0, NULL, "\"10 k\": unexpected \" k\" after the number" },
	{ "server", "backlog", "10k", 0, NULL, "\"10k\": unexpected \"k\" after the number" },
	{ "server", "backlog", "0x10", 0, NULL, "\"0x10\": unexpected \"x10\" after the number" },
	{ "server", "backlog", "1.5", 0, NULL, "\"1.5\": whole numbers only" },
	{ "server", "backlog", "", 0, NULL, "empty value" },
	{ "server", "backlog", "4294967296", 0, NULL, "\"4294967296\": out of range (1 to 65535)" },
	{ "server", "backlog", "4294967807", 0, NULL, "\"4294967807\": out of range (1 to 65535)" },
	{ "server", "backlog", "99999999999999999999", 0, NULL,
	    "\"99999999999999999999\": out of range (1 to 65535)" },
	{ "server", "backlog", "18446744073709551616", 0, NULL,
	    "\"18446744073709551616\": out of range (1 to 65535)" },
	{ "server", "backlog", "18446744073709551617", 0, NULL,
	    "\"18446744073709551617\": out of range (1 to 65535)" },

	/* [server] max_connections: a plain count */
	{ "server", "max_connections", "1", 1, NULL, NULL },
	{ "server", "max_connections", "1000000", 1000000, NULL, NULL },
	{ "server", "max_connections", "0", 0, NULL, "\"0\": out of range (1 to 1000000)" },
	{ "server", "max_connections", "1000001", 0, NULL, "\"1000001\": out of range (1 to 1000000)" },
	{ "server", "max_connections", "4294977296", 0, NULL,
	    "\"4294977296\": out of range (1 to 1000000)" },
	{ "server", "max_connections", "-1", 0, NULL, "\"-1\": negative values are not allowed" },
	{ "server", "max_connections", "+1", 0, NULL, "\"+1\": a leading '+' is not allowed" },
	{ "server", "max_connections", "1e6", 0, NULL, "\"1e6\": unexpected \"e6\" after the number" },

	/* [connection] max_line: a size */
	{ "connection", "max_line", "65536", 65536, NULL, NULL },
	{ "connection", "max_line", "64k", 65536, NULL, NULL },
	{ "connection", "max_line", "64K", 65536, NULL, NULL },
	{ "connection", "max_line", "1M", 1048576, NULL, NULL },
	{ "connection", "max_line", "64M", 67108864, NULL, NULL },
	{ "connection", "max_line", "65536k", 67108864, NULL, NULL },
	{ "connection", "max_line", "67108864", 67108864, NULL, NULL },
	{ "connection", "max_line", "1", 1, NULL, NULL },
	{ "connection", "max_line", "0", 0, NULL, "\"0\": out of range (1 to 67108864 bytes)" },
	{ "connection", "max_line", "0k", 0, NULL, "\"0k\": out of range (1 to 67108864 bytes)" },
	{ "connection", "max_line", "67108865", 0, NULL,
	    "\"67108865\": out of range (1 to 67108864 bytes)" },
	{ "connection", "max_line", "65537k", 0, NULL, "\"65537k\": out of range (1 to 67108864 bytes)" },
	{ "connection", "max_line", "65M", 0, NULL, "\"65M\": out of range (1 to 67108864 bytes)" },
	{ "connection", "max_line", "1m", 0, NULL, "\"1m\": unknown unit \"m\" (use k, K or M)" },
	{ "connection", "max_line", "1G", 0, NULL, "\"1G\": unknown unit \"G\" (use k, K or M)" },
	{ "connection", "max_line", "1kb", 0, NULL, "\"1kb\": unknown unit \"kb\" (use k, K or M)" },
	{ "connection", "max_line", "10x", 0, NULL, "\"10x\": unknown unit \"x\" (use k, K or M)" },
	{ "connection", "max_line", "10 k", 0, NULL, "\"10 k\": unknown unit \" k\" (use k, K or M)" },
	{ "connection", "max_line", "1.5k", 0, NULL, "\"1.5k\": whole numbers only" },
	{ "connection", "max_line", "k", 0, NULL, "\"k\": not a whole number" },
	{ "connection", "max_line", "-5", 0, NULL, "\"-5\": negative values are not allowed" },
	{ "connection", "max_line", "-5k", 0, NULL, "\"-5k\": negative values are not allowed" },
	{ "connection", "max_line", "+5", 0, NULL, "\"+5\": a leading '+' is not allowed" },
	{ "connection", "max_line", "", 0, NULL, "empty value" },
	{ "connection", "max_line", "99999999999999999999", 0, NULL,
	    "\"99999999999999999999\": out of range (1 to 67108864 bytes)" },
	{ "connection", "max_line", "18446744073709551616", 0, NULL,
	    "\"18446744073709551616\": out of range (1 to 67108864 bytes)" },
	/* 2^32 k is 2^42 bytes, 0 in 32 bits. */
	{ "connection", "max_line", "4294967296k", 0, NULL,
	    "\"4294967296k\": out of range (1 to 67108864 bytes)" },
	/* 2^54 k and 2^44 M are 2^64 bytes: 0 if the multiplication wrapped. */
	{ "connection", "max_line", "18014398509481984k", 0, NULL,
	    "\"18014398509481984k\": out of range (1 to 67108864 bytes)" },
	{ "connection", "max_line", "17592186044416M", 0, NULL,
	    "\"17592186044416M\": out of range (1 to 67108864 bytes)" },
	/* 2^64 + 1024 bytes: 1024 if the multiplication wrapped. */
	{ "connection", "max_line", "18014398509481985k", 0, NULL,
	    "\"18014398509481985k\": out of range (1 to 67108864 bytes)" },

	/* [connection] idle_timeout: a duration, stored in ms */
	{ "connection", "idle_timeout", "300", 300000, NULL, NULL },
	{ "connection", "idle_timeout", "300s", 300000, NULL, NULL },
	{ "connection", "idle_timeout", "5m", 300000, NULL, NULL },
	{ "connection", "idle_timeout", "1h", 3600000, NULL, NULL },
	{ "connection", "idle_timeout", "500ms", 500, NULL, NULL },
	{ "connection", "idle_timeout", "0", 0, NULL, NULL },
	{ "connection", "idle_timeout", "0s", 0, NULL, NULL },
	{ "connection", "idle_timeout", "0ms", 0, NULL, NULL },
	{ "connection", "idle_timeout", "604800", 604800000, NULL, NULL },
	{ "connection", "idle_timeout", "168h", 604800000, NULL, NULL },
	{ "connection", "idle_timeout", "10080m", 604800000, NULL, NULL },
	{ "connection", "idle_timeout", "604800000ms", 604800000, NULL, NULL },
	{ "connection", "idle_timeout", "604801", 0, NULL, "\"604801\": out of range (0 to 604800 seconds)" },
	{ "connection", "idle_timeout", "604800001ms", 0, NULL,
	    "\"604800001ms\": out of range (0 to 604800 seconds)" },
	{ "connection", "idle_timeout", "169h", 0, NULL, "\"169h\": out of range (0 to 604800 seconds)" },
	{ "connection", "idle_timeout", "10081m", 0, NULL, "\"10081m\": out of range (0 to 604800 seconds)" },
	{ "connection", "idle_timeout", "5M", 0, NULL, "\"5M\": unknown unit \"M\" (use ms, s, m or h)" },
	{ "connection", "idle_timeout", "5S", 0, NULL, "\"5S\": unknown unit \"S\" (use ms, s, m or h)" },
	{ "connection", "idle_timeout", "1d", 0, NULL, "\"1d\": unknown unit \"d\" (use ms, s, m or h)" },
	{ "connection", "idle_timeout", "5 s", 0, NULL, "\"5 s\": unknown unit \" s\" (use ms, s, m or h)" },
	{ "connection", "idle_timeout", "5sec", 0, NULL, "\"5sec\": unknown unit \"sec\" (use ms, s, m or h)" },
	{ "connection", "idle_timeout", "1.5s", 0, NULL, "\"1.5s\": whole numbers only" },
	{ "connection", "idle_timeout", "s", 0, NULL, "\"s\": not a whole number" },
	{ "connection", "idle_timeout", "-5", 0, NULL, "\"-5\": negative values are not allowed" },
	{ "connection", "idle_timeout", "+5", 0, NULL, "\"+5\": a leading '+' is not allowed" },
	{ "connection", "idle_timeout", "", 0, NULL, "empty value" },
	/* Seconds times 1000 overflow 32 bits: 0 and 704 ms if wrapped. */
	{ "connection", "idle_timeout", "4294967296", 0, NULL,
	    "\"4294967296\": out of range (0 to 604800 seconds)" },
	{ "connection", "idle_timeout", "4294968", 0, NULL,
	    "\"4294968\": out of range (0 to 604800 seconds)" },
	/* Overflow 64 bits: 384 ms, 0 ms and 2048384 ms if wrapped. */
	{ "connection", "idle_timeout", "18446744073709552", 0, NULL,
	    "\"18446744073709552\": out of range (0 to 604800 seconds)" },
	{ "connection", "idle_timeout", "18446744073709551616ms", 0, NULL,
	    "\"18446744073709551616ms\": out of range (0 to 604800 seconds)" },
	{ "connection", "idle_timeout", "5124095576031h", 0, NULL,
	    "\"5124095576031h\": out of range (0 to 604800 seconds)" },
	{ "connection", "idle_timeout", "99999999999999999999", 0, NULL,
	    "\"99999999999999999999\": out of range (0 to 604800 seconds)" },

	/* [daemon] shutdown_timeout: a duration, stored in ms */
	{ "daemon", "shutdown_timeout", "10s", 10000, NULL, NULL },
	{ "daemon", "shutdown_timeout", "10", 10000, NULL, NULL },
	{ "daemon", "shutdown_timeout", "0", 0, NULL, NULL },
	{ "daemon", "shutdown_timeout", "250ms", 250, NULL, NULL },
	{ "daemon", "shutdown_timeout", "3600", 3600000, NULL, NULL },
	{ "daemon", "shutdown_timeout", "60m", 3600000, NULL, NULL },
	{ "daemon", "shutdown_timeout", "1h", 3600000, NULL, NULL },
	{ "daemon", "shutdown_timeout", "3601", 0, NULL, "\"3601\": out of range (0 to 3600 seconds)" },
	{ "daemon", "shutdown_timeout", "2h", 0, NULL, "\"2h\": out of range (0 to 3600 seconds)" },
	{ "daemon", "shutdown_timeout", "3600001ms", 0, NULL,
	    "\"3600001ms\": out of range (0 to 3600 seconds)" },
	{ "daemon", "shutdown_timeout", "-1", 0, NULL, "\"-1\": negative values are not allowed" },
	{ "daemon", "shutdown_timeout", "+1", 0, NULL, "\"+1\": a leading '+' is not allowed" },
	{ "daemon", "shutdown_timeout", "1x", 0, NULL, "\"1x\": unknown unit \"x\" (use ms, s, m or h)" },
	{ "daemon", "shutdown_timeout", "ten", 0, NULL, "\"ten\": not a whole number" },
	{ "daemon", "shutdown_timeout", "", 0, NULL, "empty value" },
	{ "daemon", "shutdown_timeout", "18446744073709551616", 0, NULL,
	    "\"18446744073709551616\": out of range (0 to 3600 seconds)" },

	/* [daemon] log_level */
	{ "daemon", "log_level", "error", LOG_LEVEL_ERROR, NULL, NULL },
	{ "daemon", "log_level", "warning", LOG_LEVEL_WARNING, NULL, NULL },
	{ "daemon", "log_level", "info", LOG_LEVEL_INFO, NULL, NULL },
	{ "daemon", "log_level", "debug", LOG_LEVEL_DEBUG, NULL, NULL },
	{ "daemon", "log_level", "INFO", 0, NULL,
	    "\"INFO\": unknown log level (use error, warning, info or debug)" },
	{ "daemon", "log_level", "Debug", 0, NULL,
	    "\"Debug\": unknown log level (use error, warning, info or debug)" },
	{ "daemon", "log_level", "warn", 0, NULL,
	    "\"warn\": unknown log level (use error, warning, info or debug)" },
	{ "daemon", "log_level", "info debug", 0, NULL,
	    "\"info debug\": unknown log level (use error, warning, info or debug)" },
	{ "daemon", "log_level", "", 0, NULL, "empty value" },

	/* [server] listen */
	{ "server", "listen", "127.0.0.1:6567", 0, "127.0.0.1:6567", NULL },
	{ "server", "listen", "0.0.0.0:0", 0, "0.0.0.0:0", NULL },
	{ "server", "listen", "255.255.255.255:65535", 0, "255.255.255.255:65535", NULL },
	{ "server", "listen", "[::1]:6567", 0, "[::1]:6567", NULL },
	{ "server", "listen", "[::]:0", 0, "[::]:0", NULL },
	{ "server", "listen", "[0:0:0:0:0:0:0:1]:80", 0, "[::1]:80", NULL },
	{ "server", "listen", "[FE80::A]:80", 0, "[fe80::a]:80", NULL },
	{ "server", "listen", "127.0.0.1:00080", 0, "127.0.0.1:80", NULL },
	{ "server", "listen", "localhost:6567", 0, NULL,
	    "\"localhost:6567\": not a numeric IPv4 address" },
	{ "server", "listen", "127.1:6567", 0, NULL, "\"127.1:6567\": not a numeric IPv4 address" },
	{ "server", "listen", "256.0.0.1:6567", 0, NULL,
	    "\"256.0.0.1:6567\": not a numeric IPv4 address" },
	{ "server", "listen", "127.0.0.1", 0, NULL, "\"127.0.0.1\": missing \":PORT\"" },
	{ "server", "listen", "127.0.0.1:", 0, NULL, "\"127.0.0.1:\": missing port" },
	{ "server", "listen", ":6567", 0, NULL, "\":6567\": missing address" },
	{ "server", "listen", "::1:6567", 0, NULL,
	    "\"::1:6567\": an IPv6 address must be in brackets, as in [::1]:6567" },
	{ "server", "listen", "[::1]", 0, NULL, "\"[::1]\": expected \":PORT\" after ']'" },
	{ "server", "listen", "[::1]6567", 0, NULL, "\"[::1]6567\": expected \":PORT\" after ']'" },
	{ "server", "listen", "[::1:6567", 0, NULL, "\"[::1:6567\": missing ']' after the IPv6 address" },
	{ "server", "listen", "[]:6567", 0, NULL, "\"[]:6567\": missing address" },
	{ "server", "listen", "[127.0.0.1]:6567", 0, NULL,
	    "\"[127.0.0.1]:6567\": not a numeric IPv6 address" },
	{ "server", "listen", "[fe80::1%lo]:6567", 0, NULL,
	    "\"[fe80::1%lo]:6567\": not a numeric IPv6 address" },
	{ "server", "listen", "127.0.0.1:65536", 0, NULL,
	    "\"127.0.0.1:65536\": port must be a number from 0 to 65535" },
	{ "server", "listen", "127.0.0.1:-1", 0, NULL,
	    "\"127.0.0.1:-1\": port must be a number from 0 to 65535" },
	{ "server", "listen", "127.0.0.1:+80", 0, NULL,
	    "\"127.0.0.1:+80\": port must be a number from 0 to 65535" },
	{ "server", "listen", "127.0.0.1:80x", 0, NULL,
	    "\"127.0.0.1:80x\": port must be a number from 0 to 65535" },
	{ "server", "listen", "127.0.0.1: 80", 0, NULL,
	    "\"127.0.0.1: 80\": port must be a number from 0 to 65535" },
	{ "server", "listen", "127.0.0.1:http", 0, NULL,
	    "\"127.0.0.1:http\": port must be a number from 0 to 65535" },
	/* 2^32 + 80 and 2^64 + 80: 80 if the port wrapped. */
	{ "server", "listen", "127.0.0.1:4294967376", 0, NULL,
	    "\"127.0.0.1:4294967376\": port must be a number from 0 to 65535" },
	{ "server", "listen", "127.0.0.1:18446744073709551696", 0, NULL,
	    "\"127.0.0.1:18446744073709551696\": port must be a number from 0 to 65535" },
	{ "server", "listen", "", 0, NULL, "empty value" },

	/* [server] workers: a count or auto (stored as 0) */
	{ "server", "workers", "1", 1, NULL, NULL },
	{ "server", "workers", "64", 64, NULL, NULL },
	{ "server", "workers", "auto", 0, NULL, NULL },
	{ "server", "workers", "0", 0, NULL, "\"0\": out of range (1 to 64) (or auto)" },
	{ "server", "workers", "65", 0, NULL, "\"65\": out of range (1 to 64) (or auto)" },
	{ "server", "workers", "Auto", 0, NULL, "\"Auto\": not a whole number (or auto)" },

	/* [server] proxy_protocol: on or off */
	{ "server", "proxy_protocol", "on", 1, NULL, NULL },
	{ "server", "proxy_protocol", "off", 0, NULL, NULL },
	{ "server", "proxy_protocol", "yes", 0, NULL, "\"yes\": use on or off" },
	{ "server", "proxy_protocol", "ON", 0, NULL, "\"ON\": use on or off" },
	{ "server", "proxy_protocol", "1", 0, NULL, "\"1\": use on or off" },

	/* [connection] max_per_ip: a count, 0 = unlimited */
	{ "connection", "max_per_ip", "0", 0, NULL, NULL },
	{ "connection", "max_per_ip", "1", 1, NULL, NULL },
	{ "connection", "max_per_ip", "1000000", 1000000, NULL, NULL },
	{ "connection", "max_per_ip", "1000001", 0, NULL,
	    "\"1000001\": out of range (0 to 1000000)" },
	{ "connection", "max_per_ip", "-1", 0, NULL, "\"-1\": negative values are not allowed" },
	{ "connection", "max_per_ip", "5x", 0, NULL, "\"5x\": unexpected \"x\" after the number" },
	{ "connection", "max_per_ip", "4294967297", 0, NULL,
	    "\"4294967297\": out of range (0 to 1000000)" },

	/* [connection] line_timeout: a duration, 0 = never */
	{ "connection", "line_timeout", "30s", 30000, NULL, NULL },
	{ "connection", "line_timeout", "0", 0, NULL, NULL },
	{ "connection", "line_timeout", "250ms", 250, NULL, NULL },
	{ "connection", "line_timeout", "168h", 604800000, NULL, NULL },
	{ "connection", "line_timeout", "169h", 0, NULL, "\"169h\": out of range (0 to 604800 seconds)" },
	{ "connection", "line_timeout", "1d", 0, NULL, "\"1d\": unknown unit \"d\" (use ms, s, m or h)" },
	{ "connection", "line_timeout", "-1s", 0, NULL, "\"-1s\": negative values are not allowed" },

	/* [connection] tcp_keepalive: a duration, 0 = off, at most TCP_KEEPIDLE's 32767 s */
	{ "connection", "tcp_keepalive", "300s", 300000, NULL, NULL },
	{ "connection", "tcp_keepalive", "0", 0, NULL, NULL },
	{ "connection", "tcp_keepalive", "32767", 32767000, NULL, NULL },
	{ "connection", "tcp_keepalive", "32768", 0, NULL, "\"32768\": out of range (0 to 32767 seconds)" },
	{ "connection", "tcp_keepalive", "10h", 0, NULL, "\"10h\": out of range (0 to 32767 seconds)" },
	{ "connection", "tcp_keepalive", "5 m", 0, NULL, "\"5 m\": unknown unit \" m\" (use ms, s, m or h)" },

	/* [server] defer_accept: a duration, 0 = off, at most an hour */
	{ "server", "defer_accept", "0", 0, NULL, NULL },
	{ "server", "defer_accept", "5", 5000, NULL, NULL },
	{ "server", "defer_accept", "1500ms", 1500, NULL, NULL },
	{ "server", "defer_accept", "1h", 3600000, NULL, NULL },
	{ "server", "defer_accept", "3601s", 0, NULL, "\"3601s\": out of range (0 to 3600 seconds)" },
	{ "server", "defer_accept", "on", 0, NULL, "\"on\": not a whole number" },
	{ "server", "defer_accept", "-1", 0, NULL, "\"-1\": negative values are not allowed" },

	/* [server] proxy_from: networks (what they trust: test_proxy_from) */
	{ "server", "proxy_from", "10.0.0.0/33", 0, NULL,
	    "\"10.0.0.0/33\": prefix length must be 0 to 32" },
	{ "server", "proxy_from", "::/129", 0, NULL,
	    "\"::/129\": prefix length must be 0 to 128" },
	{ "server", "proxy_from", "10.0.0.0/", 0, NULL,
	    "\"10.0.0.0/\": prefix length must be 0 to 32" },
	{ "server", "proxy_from", "10.0.0.0/-1", 0, NULL,
	    "\"10.0.0.0/-1\": prefix length must be 0 to 32" },
	{ "server", "proxy_from", "balancer.example", 0, NULL,
	    "\"balancer.example\": not a numeric IPv4 or IPv6 address" },
	{ "server", "proxy_from", "1.1.1.1 1.1.1.2 1.1.1.3 1.1.1.4 1.1.1.5 "
	    "1.1.1.6 1.1.1.7 1.1.1.8 1.1.1.9 1.1.1.10 1.1.1.11 1.1.1.12 "
	    "1.1.1.13 1.1.1.14 1.1.1.15 1.1.1.16 1.1.1.17", 0, NULL,
	    "more than 16 networks" },
	{ "server", "proxy_from", "unix", 1, NULL, NULL },

	/* [server] listen: Unix-domain sockets */
	{ "server", "listen", "unix:/run/pingpongd.sock", 0,
	    "unix:/run/pingpongd.sock", NULL },
	{ "server", "listen", "unix:@pingpongd", 0, "unix:@pingpongd", NULL },
	{ "server", "listen", "unix:pingpongd.sock", 0, NULL,
	    "\"unix:pingpongd.sock\": a Unix socket is an absolute path"
	    " (unix:/run/x.sock) or an abstract name (unix:@name)" },
	{ "server", "listen", "unix:", 0, NULL,
	    "\"unix:\": missing path after \"unix:\"" },

	/* [server] io: one word of two */
	{ "server", "io", "epoll", CONFIG_IO_EPOLL, NULL, NULL },
	{ "server", "io", "io_uring", CONFIG_IO_URING, NULL, NULL },
	{ "server", "io", "uring", 0, NULL,
	    "\"uring\": use epoll or io_uring" },
	{ "server", "io", "io-uring", 0, NULL,
	    "\"io-uring\": use epoll or io_uring" },
	{ "server", "io", "", 0, NULL, "empty value" },

	/* [connection] framing: one word of two */
	{ "connection", "framing", "lines", CONFIG_FRAMING_LINES, NULL, NULL },
	{ "connection", "framing", "bytes", CONFIG_FRAMING_BYTES, NULL, NULL },
	{ "connection", "framing", "byte", 0, NULL,
	    "\"byte\": use lines or bytes" },
	{ "connection", "framing", "Lines", 0, NULL,
	    "\"Lines\": use lines or bytes" },
};
#define NVALUE_CASES (sizeof(value_cases) / sizeof(value_cases[0]))

/* The stored value of key in cfg, for comparing with a value case. */
static uint64_t
field_value(const struct config *cfg, const char *key)
{
	if (strcmp(key, "backlog") == 0)
		return (uint64_t)cfg->backlog;
	if (strcmp(key, "max_connections") == 0)
		return cfg->max_connections;
	if (strcmp(key, "max_line") == 0)
		return cfg->max_line;
	if (strcmp(key, "idle_timeout") == 0)
		return cfg->idle_timeout_ms;
	if (strcmp(key, "shutdown_timeout") == 0)
		return cfg->shutdown_timeout_ms;
	if (strcmp(key, "workers") == 0)
		return cfg->workers;
	if (strcmp(key, "proxy_protocol") == 0)
		return cfg->proxy_protocol;
	if (strcmp(key, "max_per_ip") == 0)
		return cfg->max_per_ip;
	if (strcmp(key, "line_timeout") == 0)
		return cfg->line_timeout_ms;
	if (strcmp(key, "tcp_keepalive") == 0)
		return cfg->tcp_keepalive_ms;
	if (strcmp(key, "defer_accept") == 0)
		return cfg->defer_accept_ms;
	if (strcmp(key, "log_level") == 0)
		return (uint64_t)cfg->log_level;
	if (strcmp(key, "framing") == 0)
		return cfg->framing;
	if (strcmp(key, "io") == 0)
		return cfg->io;
	if (strcmp(key, "proxy_from") == 0)
		return cfg->nproxy_from;
	ck_abort_msg("no field for key %s", key);
	return 0;
}

START_TEST(test_value)
{
	const struct value_case *vc = &value_cases[_i];
	char text[512], err[CONFIG_ERROR_MAX], path[PATH_MAX], rest[1024];
	struct config cfg;
	enum config_status st;

	snprintf(text, sizeof(text), "[%s]\n%s = %s\n", vc->section, vc->key,
	    vc->value);
	st = load_text(text, &cfg, err, path, sizeof(path));
	if (vc->reason != NULL) {
		ck_assert_msg(st == CONFIG_INVALID, "%s = %s: status %d, want %d",
		    vc->key, vc->value, (int)st, CONFIG_INVALID);
		snprintf(rest, sizeof(rest), ":2: [%s] %s: %s", vc->section,
		    vc->key, vc->reason);
		assert_error(err, path, rest);
		return;
	}
	ck_assert_msg(st == CONFIG_OK, "%s = %s: %s", vc->key, vc->value, err);
	ck_assert_str_eq(err, "");
	if (vc->want_text != NULL) {
		ck_assert_uint_eq(cfg.nlisten, 1);
		ck_assert_str_eq(cfg.listen[0].text, vc->want_text);
	} else
		ck_assert_uint_eq(field_value(&cfg, vc->key), vc->want);
}
END_TEST

/*
 * The same value as a command-line setting, -o SECTION.KEY=VALUE: the
 * same outcome, and a message that names the setting as given.
 */
START_TEST(test_value_setting)
{
	const struct value_case *vc = &value_cases[_i];
	char arg[512], err[CONFIG_ERROR_MAX], want[1024];
	struct config_settings set = { .cs_count = 0 };
	struct config cfg;
	enum config_status st;

	snprintf(arg, sizeof(arg), "%s.%s=%s", vc->section, vc->key,
	    vc->value);
	ck_assert_int_eq(config_setting_add(&set, "-o", arg, err,
	    sizeof(err)), 0);
	st = config_read(NULL, &set, &cfg, err, sizeof(err));
	if (vc->reason != NULL) {
		ck_assert_msg(st == CONFIG_INVALID, "-o %s: status %d", arg,
		    (int)st);
		snprintf(want, sizeof(want), "-o %s: %s", arg, vc->reason);
		ck_assert_str_eq(err, want);
		return;
	}
	ck_assert_msg(st == CONFIG_OK, "-o %s: %s", arg, err);
	if (vc->want_text != NULL) {
		ck_assert_uint_eq(cfg.nlisten, 1);
		ck_assert_str_eq(cfg.listen[0].text, vc->want_text);
	} else
		ck_assert_uint_eq(field_value(&cfg, vc->key), vc->want);
}
END_TEST

/* Add settings; each must be well formed. */
static void
settings(struct config_settings *set, const char *const *args)
{
	char err[CONFIG_ERROR_MAX];

	set->cs_count = 0;
	for (; *args != NULL; args += 2)
		ck_assert_msg(config_setting_add(set, args[0], args[1], err,
		    sizeof(err)) == 0, "%s %s: %s", args[0], args[1], err);
}

START_TEST(test_settings_replace_lists)
{
	static const char *const args[] = {
		"-l", "127.0.0.3:0", "--set", "server.listen=[::1]:7",
		"-o", "server.proxy_from=unix", "-o", "server.proxy_from=10.0.0.0/8",
		"-o", "connection.max_line=4k", NULL,
	};
	char path[PATH_MAX], err[CONFIG_ERROR_MAX];
	struct config_settings set;
	struct config cfg;

	static const char file[] = "[server]\nlisten = 127.0.0.1:1\n"
	    "listen = 127.0.0.2:2\nproxy_from = 192.0.2.0/24\n"
	    "[connection]\nidle_timeout = 7s\n";

	tmp_write("test.ini", file, sizeof(file) - 1, path, sizeof(path));
	settings(&set, args);
	ck_assert_int_eq(config_read(path, &set, &cfg, err, sizeof(err)),
	    CONFIG_OK);
	/* The command line's lists replace the file's, in their order. */
	ck_assert_uint_eq(cfg.nlisten, 2);
	ck_assert_str_eq(cfg.listen[0].text, "127.0.0.3:0");
	ck_assert_str_eq(cfg.listen[1].text, "[::1]:7");
	ck_assert_uint_eq(cfg.nproxy_from, 2);
	ck_assert_uint_eq(cfg.proxy_from[0].bits, ADDR_NET_UNIX);
	/* Keys the command line does not set keep the file's values. */
	ck_assert_uint_eq(cfg.idle_timeout_ms, 7000);
	ck_assert_uint_eq(cfg.max_line, 4096);
	/* Without a file, over the defaults. */
	ck_assert_int_eq(config_read(NULL, &set, &cfg, err, sizeof(err)),
	    CONFIG_OK);
	ck_assert_uint_eq(cfg.idle_timeout_ms, CONFIG_DEFAULT_IDLE_TIMEOUT_MS);
	ck_assert_uint_eq(cfg.nlisten, 2);
}
END_TEST

START_TEST(test_settings_refused)
{
	static const char *const twice[] = {
		"-o", "server.backlog=5", "-o", "server.backlog=6", NULL,
	};
	static const char *const unknown[] = {
		"-o", "server.colour=blue", NULL,
	};
	static const char *const dup_listen[] = {
		"-l", "127.0.0.1:5", "-o", "server.listen=127.0.0.1:5", NULL,
	};
	static const char *const bad_listen[] = {
		"--listen", "127.0.0.1", NULL,
	};
	char err[CONFIG_ERROR_MAX];
	struct config_settings set;
	struct config cfg;

	settings(&set, twice);
	ck_assert_int_eq(config_read(NULL, &set, &cfg, err, sizeof(err)),
	    CONFIG_INVALID);
	ck_assert_str_eq(err, "-o server.backlog=6: given twice on the command"
	    " line");
	settings(&set, unknown);
	ck_assert_int_eq(config_read(NULL, &set, &cfg, err, sizeof(err)),
	    CONFIG_INVALID);
	ck_assert_str_eq(err, "-o server.colour=blue: [server] colour: unknown"
	    " key");
	settings(&set, dup_listen);
	ck_assert_int_eq(config_read(NULL, &set, &cfg, err, sizeof(err)),
	    CONFIG_INVALID);
	ck_assert_str_eq(err, "-o server.listen=127.0.0.1:5: duplicate listen"
	    " address");
	settings(&set, bad_listen);
	ck_assert_int_eq(config_read(NULL, &set, &cfg, err, sizeof(err)),
	    CONFIG_INVALID);
	ck_assert_str_eq(err, "--listen 127.0.0.1: \"127.0.0.1\": missing"
	    " \":PORT\"");
}
END_TEST

/* A malformed -o is a usage error, before anything is read. */
START_TEST(test_settings_malformed)
{
	static const char *const bad[] = {
		"server.backlog", "backlog=5", "=5", ".backlog=5", "server.=5",
		"server=x.y",
	};
	char err[CONFIG_ERROR_MAX], want[CONFIG_ERROR_MAX];
	struct config_settings set = { .cs_count = 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(config_setting_add(&set, "-o", bad[i], err,
		    sizeof(err)), -1);
		snprintf(want, sizeof(want), "-o %s: expected SECTION.KEY=VALUE,"
		    " as in connection.max_line=4k", bad[i]);
		ck_assert_str_eq(err, want);
	}
	ck_assert_uint_eq(set.cs_count, 0);
	/* A value may hold anything, '=' and '.' included. */
	ck_assert_int_eq(config_setting_add(&set, "-o", "a.b=c=d.e", err,
	    sizeof(err)), 0);
	ck_assert_str_eq(set.cs_list[0].cs_section, "a");
	ck_assert_str_eq(set.cs_list[0].cs_key, "b");
	ck_assert_str_eq(set.cs_list[0].cs_value, "c=d.e");
	for (unsigned i = 1; i < CONFIG_SETTINGS_MAX; i++)
		ck_assert_int_eq(config_setting_add(&set, "-l", "127.0.0.1:1",
		    err, sizeof(err)), 0);
	ck_assert_int_eq(config_setting_add(&set, "-l", "127.0.0.1:1", err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "-l 127.0.0.1:1: more than 64 settings on the"
	    " command line");
}
END_TEST

/* proxy_from repeats as listen does: 16 networks fit whatever their text. */
START_TEST(test_proxy_from_lines)
{
	char text[TEXT_MAX], path[PATH_MAX], err[CONFIG_ERROR_MAX];
	size_t o;
	struct config cfg;

	o = (size_t)snprintf(text, sizeof(text), "[server]\n");
	for (int i = 0; i < CONFIG_PROXY_FROM_MAX; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "proxy_from ="
		    " 2001:db8:%x:ffff:ffff:ffff:ffff:ff00/120\n", i);
	ck_assert_int_eq(load_text(text, &cfg, err, path, sizeof(path)),
	    CONFIG_OK);
	ck_assert_uint_eq(cfg.nproxy_from, CONFIG_PROXY_FROM_MAX);
	snprintf(text + o, sizeof(text) - o, "proxy_from = 10.0.0.1\n");
	ck_assert_int_eq(load_text(text, &cfg, err, path, sizeof(path)),
	    CONFIG_INVALID);
	assert_error(err, path, ":18: [server] proxy_from: more than 16"
	    " networks");
}
END_TEST

/* ------------------------------------------------------------------ */
/* config_parse_listen and the log level names */

START_TEST(test_listen_ipv4_sockaddr)
{
	struct addr l;
	const struct sockaddr_in *sin;
	char err[CONFIG_ERROR_MAX] = "untouched";

	ck_assert_int_eq(config_parse_listen("10.1.2.3:8080", &l, err,
	    sizeof(err)), 0);
	sin = (const struct sockaddr_in *)(const void *)&l.ss;
	ck_assert_str_eq(l.text, "10.1.2.3:8080");
	ck_assert_int_eq(sin->sin_family, AF_INET);
	ck_assert_uint_eq(ntohs(sin->sin_port), 8080);
	ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), 0x0a010203u);
	ck_assert_uint_eq(l.len, sizeof(struct sockaddr_in));
}
END_TEST

START_TEST(test_listen_ipv6_sockaddr)
{
	static const unsigned char want[16] = {
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
	};
	struct addr l;
	const struct sockaddr_in6 *sin6;
	char err[CONFIG_ERROR_MAX];

	ck_assert_int_eq(config_parse_listen("[2001:DB8:0::1]:65535", &l, err,
	    sizeof(err)), 0);
	sin6 = (const struct sockaddr_in6 *)(const void *)&l.ss;
	ck_assert_str_eq(l.text, "[2001:db8::1]:65535");
	ck_assert_int_eq(sin6->sin6_family, AF_INET6);
	ck_assert_uint_eq(ntohs(sin6->sin6_port), 65535);
	ck_assert_mem_eq(sin6->sin6_addr.s6_addr, want, sizeof(want));
	ck_assert_uint_eq(l.len, sizeof(struct sockaddr_in6));
}
END_TEST

START_TEST(test_listen_longest_text)
{
	struct addr l;
	char err[CONFIG_ERROR_MAX];
	const char *in = "[1111:2222:3333:4444:5555:6666:7777:8888]:65535";

	ck_assert_int_eq(config_parse_listen(in, &l, err, sizeof(err)), 0);
	ck_assert_str_eq(l.text, in);
}
END_TEST

START_TEST(test_listen_error_buffers)
{
	struct addr l;
	char err[CONFIG_ERROR_MAX], small[8];

	ck_assert_int_eq(config_parse_listen("example.org:80", &l, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "\"example.org:80\": not a numeric IPv4 address");
	ck_assert_int_eq(config_parse_listen("example.org:80", &l, small,
	    sizeof(small)), -1);
	ck_assert_str_eq(small, "\"exampl");
	ck_assert_int_eq(config_parse_listen("example.org:80", &l, NULL, 0), -1);
	/* A value with control bytes is escaped, so the message stays one line. */
	ck_assert_int_eq(config_parse_listen("a\tb\x01\"c\\", &l, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "\"a\\x09b\\x01\\\"c\\\\\": missing \":PORT\"");
}
END_TEST

START_TEST(test_log_level_names)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	enum log_level level;
	size_t i;

	for (i = 0; i < 4; i++) {
		ck_assert_str_eq(log_level_name((enum log_level)i), names[i]);
		ck_assert_int_eq(log_level_parse(names[i], &level), 0);
		ck_assert_int_eq(level, (int)i);
	}
	ck_assert_int_eq(LOG_LEVEL_ERROR, 0);
	ck_assert_int_eq(LOG_LEVEL_DEBUG, 3);
	ck_assert_ptr_null(log_level_name((enum log_level)4));
	level = LOG_LEVEL_DEBUG;
	ck_assert_int_eq(log_level_parse("Info", &level), -1);
	ck_assert_int_eq(log_level_parse("", &level), -1);
	ck_assert_int_eq(log_level_parse("warn", &level), -1);
	ck_assert_int_eq(log_level_parse(NULL, &level), -1);
	ck_assert_int_eq(level, LOG_LEVEL_DEBUG);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Whole files that need a temporary directory */

START_TEST(test_missing_file)
{
	char path[PATH_MAX], err[CONFIG_ERROR_MAX], rest[256];
	struct config cfg;

	snprintf(path, sizeof(path), "%s/no-such.ini", tmpdir);
	ck_assert_int_eq(config_load(path, &cfg, err, sizeof(err)),
	    CONFIG_UNREADABLE);
	snprintf(rest, sizeof(rest), ": cannot read: %s", strerror(ENOENT));
	assert_error(err, path, rest);
}
END_TEST

START_TEST(test_directory)
{
	char path[PATH_MAX], err[CONFIG_ERROR_MAX];
	struct config cfg;

	snprintf(path, sizeof(path), "%s/conf.d", tmpdir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(config_load(path, &cfg, err, sizeof(err)),
	    CONFIG_UNREADABLE);
	assert_error(err, path, ": cannot read: Is a directory");
}
END_TEST

/* Build "PREFIX" + fill up to total bytes + "SUFFIX" + "\n" into buf. */
static void
long_line(char *buf, size_t buflen, const char *prefix, char fill,
    size_t total, const char *suffix)
{
	size_t np = strlen(prefix), ns = strlen(suffix);

	ck_assert_uint_ge(total, np + ns);
	ck_assert_uint_lt(total + 1, buflen);
	memcpy(buf, prefix, np);
	memset(buf + np, fill, total - np - ns);
	memcpy(buf + total - ns, suffix, ns);
	buf[total] = '\n';
	buf[total + 1] = '\0';
}

/* A number's digits as a string literal, for the messages below. */
#define STR(x) STR_(x)
#define STR_(x) #x

/*
 * A whole file that config_load refuses, and what it says.  NUL bytes cut
 * a C string short, so each text comes with its length.  A line too long
 * to spell out here is built between text and tail by long_line().
 */
struct error_case {
	const char *name;               /* names the row when it fails */
	const char *text;               /* the file, or its start */
	size_t len;                     /* bytes of text, NULs included */
	struct {
		const char *prefix;     /* the line's first bytes */
		char fill;              /* repeated after them */
		size_t total;           /* bytes but the newline; 0: no line */
		const char *suffix;     /* the line's last bytes */
	} line;                         /* a long line, built by long_line() */
	const char *tail;               /* the rest after the long line, or NULL */
	enum config_status status;      /* what config_load returns */
	const char *rest;               /* the error after the file's path */
};

/* Text and its length from one string literal, NULs and all. */
#define TEXT(s) .text = (s), .len = sizeof(s) - 1

static const struct error_case error_cases[] = {
	{ "empty", TEXT(""), .status = CONFIG_INVALID,
	    .rest = ": the file is empty"
	    " (run without -c for the built-in defaults)" },
	{ "blank", TEXT(" \n\t\r\n\n"), .status = CONFIG_INVALID,
	    .rest = ": the file is empty"
	    " (run without -c for the built-in defaults)" },

	{ "nul_byte", TEXT("[server]\n; fine\nbacklog = 5\0 junk\n"),
	    .status = CONFIG_INVALID,
	    .rest = ":3: contains a NUL byte (binary file?)" },
	{ "nul_byte_first_line", TEXT("\0\x01\x02\x03\n"),
	    .status = CONFIG_INVALID,
	    .rest = ":1: contains a NUL byte (binary file?)" },
	{ "nul_byte_after_syntax_error", TEXT("[server]\nnonsense\n\n\0\n"),
	    .status = CONFIG_INVALID,
	    .rest = ":2: expected \"[section]\" or \"key = value\"" },
	{ "nul_byte_before_syntax_error", TEXT("[server]\n\0\nnonsense\n"),
	    .status = CONFIG_INVALID,
	    .rest = ":2: contains a NUL byte (binary file?)" },

	/*
	 * inih 55 would cut this comment after 199 bytes and read the rest,
	 * "max_line = 1", as a key: it must be an error instead.
	 */
	{ "long_line_hides_key", TEXT("[connection]\n"),
	    .line = { "; ", 'x', 199 + sizeof("max_line = 1") - 1,
	    "max_line = 1" },
	    .status = CONFIG_INVALID,
	    .rest = ":2: line longer than " STR(LONG_LINE_LIMIT) " bytes" },
	/* A long value line whose tail would be a listen line of its own. */
	{ "long_line_value", TEXT("[server]\n\n"),
	    .line = { "backlog = 5 ;", '.', 230, "listen = 0.0.0.0:1" },
	    .tail = "[daemon]\n", .status = CONFIG_INVALID,
	    .rest = ":3: line longer than " STR(LONG_LINE_LIMIT) " bytes" },
	{ "long_line_after_syntax_error", TEXT("[server]\nbacklog\n"),
	    .line = { ";", '-', 300, "" }, .status = CONFIG_INVALID,
	    .rest = ":2: expected \"[section]\" or \"key = value\"" },

	/* A byte order mark must not hide the first section header from us. */
	{ "bom_section_checked", TEXT("\xef\xbb\xbf[client]\n"),
	    .status = CONFIG_INVALID,
	    .rest = ":1: unknown section [client] "
	    "(expected [server], [connection], [metrics] or [daemon])" },
	{ "crlf_line_numbers", TEXT("[server]\r\n\r\n; c\r\nbacklog = x\r\n"),
	    .status = CONFIG_INVALID,
	    .rest = ":4: [server] backlog: \"x\": not a whole number" },
	{ "control_bytes_escaped", TEXT("[server]\nbacklog = 5\x1b[2J\n"),
	    .status = CONFIG_INVALID,
	    .rest = ":2: [server] backlog: \"5\\x1b[2J\": "
	    "unexpected \"\\x1b[2J\" after the number" },
};
#define NERROR_CASES (sizeof(error_cases) / sizeof(error_cases[0]))

/* The file of an error case into buf; returns its length. */
static size_t
error_text(const struct error_case *ec, char *buf, size_t buflen)
{
	size_t len = ec->len, ns;

	ck_assert_uint_lt(len, buflen);
	memcpy(buf, ec->text, len);
	if (ec->line.total > 0) {
		long_line(buf + len, buflen - len, ec->line.prefix,
		    ec->line.fill, ec->line.total, ec->line.suffix);
		/* A reader that cut the line would see the suffix as a line. */
		ns = strlen(ec->line.suffix);
		ck_assert_msg(strstr(buf + len + ec->line.total - ns,
		    ec->line.suffix) != NULL, "%s: the suffix is not where the"
		    " line is cut", ec->name);
		len += ec->line.total + 1;
	}
	if (ec->tail != NULL) {
		ck_assert_uint_lt(len + strlen(ec->tail), buflen);
		memcpy(buf + len, ec->tail, strlen(ec->tail));
		len += strlen(ec->tail);
	}
	return len;
}

START_TEST(test_error)
{
	const struct error_case *ec = &error_cases[_i];
	char text[1024], path[PATH_MAX], err[CONFIG_ERROR_MAX];
	char want[CONFIG_ERROR_MAX + PATH_MAX];
	struct config cfg;
	enum config_status st;

	st = load_bytes(text, error_text(ec, text, sizeof(text)), &cfg, err,
	    path, sizeof(path));
	ck_assert_msg(st == ec->status, "%s: status %d, want %d (%s)",
	    ec->name, (int)st, (int)ec->status, err);
	snprintf(want, sizeof(want), "%s%s", path, ec->rest);
	ck_assert_msg(strcmp(err, want) == 0, "%s: error \"%s\", want \"%s\"",
	    ec->name, err, want);
}
END_TEST

START_TEST(test_long_line_limit)
{
	/* A line of exactly the limit is handed to inih whole; one more is not. */
	char text[1024], line[512], path[PATH_MAX], err[CONFIG_ERROR_MAX];
	char rest[64];
	struct config cfg;

	long_line(line, sizeof(line), "backlog = ", '0', LONG_LINE_LIMIT, "42");
	snprintf(text, sizeof(text), "[server]\n%s", line);
	ck_assert_int_eq(load_text(text, &cfg, err, path, sizeof(path)),
	    CONFIG_OK);
	ck_assert_int_eq(cfg.backlog, 42);

	/* The CR of a CRLF line ending does not count. */
	line[LONG_LINE_LIMIT] = '\r';
	line[LONG_LINE_LIMIT + 1] = '\n';
	line[LONG_LINE_LIMIT + 2] = '\0';
	snprintf(text, sizeof(text), "[server]\r\n%s", line);
	ck_assert_int_eq(load_text(text, &cfg, err, path, sizeof(path)),
	    CONFIG_OK);
	ck_assert_int_eq(cfg.backlog, 42);

	long_line(line, sizeof(line), "backlog = ", '0', LONG_LINE_LIMIT + 1,
	    "42");
	snprintf(text, sizeof(text), "[server]\n%s", line);
	ck_assert_int_eq(load_text(text, &cfg, err, path, sizeof(path)),
	    CONFIG_INVALID);
	snprintf(rest, sizeof(rest), ":2: line longer than %d bytes",
	    LONG_LINE_LIMIT);
	assert_error(err, path, rest);
}
END_TEST

START_TEST(test_crlf_bom_no_final_newline)
{
	static const char text[] =
	    "\xef\xbb\xbf[server]\r\n"
	    "backlog = 17\r\n"
	    "\r\n"
	    "[daemon]\r\n"
	    "log_level = debug";
	char path[PATH_MAX], err[CONFIG_ERROR_MAX];
	struct config cfg;

	ck_assert_int_eq(load_text(text, &cfg, err, path, sizeof(path)),
	    CONFIG_OK);
	ck_assert_int_eq(cfg.backlog, 17);
	ck_assert_int_eq(cfg.log_level, LOG_LEVEL_DEBUG);
}
END_TEST

START_TEST(test_file_too_large)
{
	char path[PATH_MAX], err[CONFIG_ERROR_MAX];
	struct config cfg;
	size_t size = 1024 * 1024, i;
	char *text;

	/* Exactly 1 MiB of comment lines is read; one byte more is refused. */
	text = malloc(size + 1);
	ck_assert_ptr_nonnull(text);
	for (i = 0; i < size; i++)
		text[i] = i % 64 == 63 ? '\n' : ';';
	ck_assert_int_eq(load_bytes(text, size, &cfg, err, path, sizeof(path)),
	    CONFIG_OK);
	text[size] = '\n';
	ck_assert_int_eq(load_bytes(text, size + 1, &cfg, err, path,
	    sizeof(path)), CONFIG_INVALID);
	free(text);
	assert_error(err, path, ": file larger than 1048576 bytes");
}
END_TEST

START_TEST(test_reload_starts_from_defaults)
{
	static const char text[] =
	    "[server]\nlisten = [::1]:1\nbacklog = 5\n"
	    "[daemon]\nlog_level = error\n";
	char path[PATH_MAX], err[CONFIG_ERROR_MAX];
	struct config cfg, def;

	ck_assert_int_eq(load_text(text, &cfg, err, path, sizeof(path)),
	    CONFIG_OK);
	ck_assert_int_eq(cfg.backlog, 5);
	ck_assert_str_eq(cfg.listen[0].text, "[::1]:1");
	ck_assert_int_eq(load_text("[server]\n", &cfg, err, path,
	    sizeof(path)), CONFIG_OK);
	config_defaults(&def);
	ck_assert_mem_eq(&cfg, &def, sizeof(cfg));
}
END_TEST

START_TEST(test_error_buffer_sizes)
{
	static const char text[] = "[server]\nbacklog = 0\n";
	char path[PATH_MAX], err[CONFIG_ERROR_MAX], small[6];
	struct config cfg;

	ck_assert_int_eq(load_text(text, &cfg, err, path, sizeof(path)),
	    CONFIG_INVALID);
	ck_assert_int_eq(config_load(path, &cfg, NULL, 0), CONFIG_INVALID);
	memset(small, 'x', sizeof(small));
	ck_assert_int_eq(config_load(path, &cfg, small, sizeof(small)),
	    CONFIG_INVALID);
	ck_assert_mem_eq(small, path, sizeof(small) - 1);
	ck_assert_int_eq(small[sizeof(small) - 1], '\0');
	assert_error(err, path, ":2: [server] backlog: \"0\": out of range "
	    "(1 to 65535)");
}
END_TEST

START_TEST(test_long_value_cut_in_message)
{
	char text[512], line[256], path[PATH_MAX], err[CONFIG_ERROR_MAX];
	char want[CONFIG_ERROR_MAX + PATH_MAX];
	struct config cfg;

	long_line(line, sizeof(line), "log_level = ", 'v', 190, "");
	snprintf(text, sizeof(text), "[daemon]\n%s", line);
	ck_assert_int_eq(load_text(text, &cfg, err, path, sizeof(path)),
	    CONFIG_INVALID);
	snprintf(want, sizeof(want), "%s:2: [daemon] log_level: \"%.64s...\": "
	    "unknown log level (use error, warning, info or debug)", path,
	    line + strlen("log_level = "));
	ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_ok_clears_error)
{
	char path[PATH_MAX], err[CONFIG_ERROR_MAX];
	struct config cfg;

	strcpy(err, "stale");
	ck_assert_int_eq(load_text("[server]\nbacklog = 1\n", &cfg, err, path,
	    sizeof(path)), CONFIG_OK);
	ck_assert_str_eq(err, "");
}
END_TEST

/* ------------------------------------------------------------------ */
/* The shipped configuration file */

START_TEST(test_shipped_conf_is_defaults)
{
	char path[PATH_MAX], err[CONFIG_ERROR_MAX];
	char got[TEXT_MAX], want[TEXT_MAX];
	struct config cfg, def;

	snprintf(path, sizeof(path), "%s/conf/pingpongd.ini", srcdir());
	ck_assert_msg(config_load(path, &cfg, err, sizeof(err)) == CONFIG_OK,
	    "%s", err);
	config_defaults(&def);
	config_format(&cfg, got, sizeof(got));
	config_format(&def, want, sizeof(want));
	ck_assert_str_eq(got, want);
	ck_assert_mem_eq(&cfg, &def, sizeof(cfg));
}
END_TEST

START_TEST(test_shipped_conf_sets_every_key)
{
	/* The manual names every key: each must be set there, not just default. */
	char path[PATH_MAX], format[TEXT_MAX], line[256], section[64] = "";
	char seen[TEXT_MAX] = "", entry[160], *p, *eq;
	struct config def;
	FILE *f;

	snprintf(path, sizeof(path), "%s/conf/pingpongd.ini", srcdir());
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "[%63[^]]]", section) == 1)
			continue;
		if (line[0] == ';' || line[0] == '#' ||
		    (eq = strchr(line, '=')) == NULL)
			continue;
		for (p = eq; p > line && p[-1] == ' '; p--)
			continue;
		snprintf(entry, sizeof(entry), "%s.%.*s\n", section,
		    (int)(p - line), line);
		strncat(seen, entry, sizeof(seen) - strlen(seen) - 1);
	}
	fclose(f);

	config_defaults(&def);
	config_format(&def, format, sizeof(format));
	for (p = strtok(format, "\n"); p != NULL; p = strtok(NULL, "\n")) {
		eq = strstr(p, " = ");
		ck_assert_ptr_nonnull(eq);
		snprintf(entry, sizeof(entry), "%.*s\n", (int)(eq - p), p);
		ck_assert_msg(strstr(seen, entry) != NULL,
		    "conf/pingpongd.ini does not set %.*s", (int)(eq - p), p);
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* Golden files: tests/config/NAME.ini and NAME.expected */

START_TEST(test_golden)
{
	char input[PATH_MAX], expected[PATH_MAX], err[CONFIG_ERROR_MAX];
	char got[TEXT_MAX + CONFIG_ERROR_MAX];
	const char *name = golden_names[_i];
	char *raw, *want;
	struct config cfg;
	enum config_status st;

	snprintf(input, sizeof(input), "%s/tests/config/%s.ini", srcdir(), name);
	snprintf(expected, sizeof(expected), "%s/tests/config/%s.expected",
	    srcdir(), name);
	raw = read_whole(expected);
	ck_assert_msg(raw != NULL, "%s: %s", expected, strerror(errno));

	st = config_load(input, &cfg, err, sizeof(err));
	if (st == CONFIG_OK)
		config_format(&cfg, got, sizeof(got));
	else
		snprintf(got, sizeof(got), "error %d: %s\n", (int)st, err);
	want = substitute_path(raw, input);
	free(raw);
	if (strcmp(got, want) != 0) {
		fprintf(stderr, "%s: got:\n%s--- want:\n%s---\n", name, got,
		    want);
		free(want);
		ck_abort_msg("%s: result differs from %s.expected", name, name);
	}
	free(want);
}
END_TEST

START_TEST(test_golden_found)
{
	char dir[PATH_MAX], path[PATH_MAX + NAME_MAX + 8], base[NAME_MAX + 1];
	struct dirent *de;
	struct stat sb;
	size_t len;
	DIR *d;

	ck_assert_msg(!golden_overflow, "more than %d golden files", GOLDEN_MAX);
	ck_assert_msg(golden_count > 0, "no golden files in %s/tests/config",
	    srcdir());
	/* Every result has its input, or a case would silently not run. */
	snprintf(dir, sizeof(dir), "%s/tests/config", srcdir());
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len <= 9 || strcmp(de->d_name + len - 9, ".expected") != 0)
			continue;
		snprintf(base, sizeof(base), "%.*s", (int)(len - 9), de->d_name);
		snprintf(path, sizeof(path), "%s/%s.ini", dir, base);
		ck_assert_msg(stat(path, &sb) == 0, "%s.expected has no %s.ini",
		    base, base);
	}
	closedir(d);
}
END_TEST

/* qsort comparison of two golden case names. */
static int
golden_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collect the NAME of every tests/config/NAME.ini, sorted. */
static void
golden_scan(void)
{
	char dir[PATH_MAX];
	struct dirent *de;
	size_t len;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/tests/config", srcdir());
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len <= 4 || strcmp(de->d_name + len - 4, ".ini") != 0)
			continue;
		if (golden_count == GOLDEN_MAX) {
			golden_overflow = true;
			break;
		}
		golden_names[golden_count] = strndup(de->d_name, len - 4);
		if (golden_names[golden_count] != NULL)
			golden_count++;
	}
	closedir(d);
	qsort(golden_names, golden_count, sizeof(golden_names[0]), golden_cmp);
}

/* proxy_from: networks in, trust decisions out. */
START_TEST(test_proxy_from)
{
	char path[PATH_MAX], err[CONFIG_ERROR_MAX], text[TEXT_MAX];
	struct sockaddr_in in = { .sin_family = AF_INET };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	struct config cfg;

	ck_assert_int_eq(load_text("[server]\nproxy_from = 10.1.0.0/16 "
	    "192.0.2.7  2001:db8::/32\t::1\n", &cfg, err, path, sizeof(path)),
	    CONFIG_OK);
	ck_assert_uint_eq(cfg.nproxy_from, 4);
	config_format(&cfg, text, sizeof(text));
	ck_assert_ptr_nonnull(strstr(text, "server.proxy_from = 10.1.0.0/16 "
	    "192.0.2.7/32 2001:db8::/32 ::1/128\n"));
	inet_pton(AF_INET, "10.1.255.3", &in.sin_addr);
	ck_assert(config_proxy_trusted(&cfg, (struct sockaddr *)&in));
	inet_pton(AF_INET, "10.2.0.1", &in.sin_addr);
	ck_assert(!config_proxy_trusted(&cfg, (struct sockaddr *)&in));
	inet_pton(AF_INET, "192.0.2.7", &in.sin_addr);
	ck_assert(config_proxy_trusted(&cfg, (struct sockaddr *)&in));
	inet_pton(AF_INET, "192.0.2.8", &in.sin_addr);
	ck_assert(!config_proxy_trusted(&cfg, (struct sockaddr *)&in));
	/* The default (loopback) is replaced, not extended. */
	inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
	ck_assert(!config_proxy_trusted(&cfg, (struct sockaddr *)&in));
	inet_pton(AF_INET6, "2001:db8:ffff::1", &in6.sin6_addr);
	ck_assert(config_proxy_trusted(&cfg, (struct sockaddr *)&in6));
	inet_pton(AF_INET6, "2001:db9::1", &in6.sin6_addr);
	ck_assert(!config_proxy_trusted(&cfg, (struct sockaddr *)&in6));

	config_defaults(&cfg);
	inet_pton(AF_INET, "127.9.9.9", &in.sin_addr);
	ck_assert(config_proxy_trusted(&cfg, (struct sockaddr *)&in));
	inet_pton(AF_INET6, "::1", &in6.sin6_addr);
	ck_assert(config_proxy_trusted(&cfg, (struct sockaddr *)&in6));
	inet_pton(AF_INET, "10.0.0.1", &in.sin_addr);
	ck_assert(!config_proxy_trusted(&cfg, (struct sockaddr *)&in));
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("defaults");
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_format_defaults);
	tcase_add_test(tc, test_format_truncates);
	suite_add_tcase(s, tc);

	tc = tcase_create("values");
	tcase_add_checked_fixture(tc, tmp_setup, tmp_empty);
	tcase_add_loop_test(tc, test_value, 0, (int)NVALUE_CASES);
	tcase_add_loop_test(tc, test_value_setting, 0, (int)NVALUE_CASES);
	tcase_add_test(tc, test_settings_replace_lists);
	tcase_add_test(tc, test_settings_refused);
	tcase_add_test(tc, test_settings_malformed);
	tcase_add_test(tc, test_proxy_from_lines);
	suite_add_tcase(s, tc);

	tc = tcase_create("listen");
	tcase_add_test(tc, test_listen_ipv4_sockaddr);
	tcase_add_test(tc, test_listen_ipv6_sockaddr);
	tcase_add_test(tc, test_listen_longest_text);
	tcase_add_test(tc, test_listen_error_buffers);
	tcase_add_test(tc, test_log_level_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_checked_fixture(tc, tmp_setup, tmp_empty);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_directory);
	tcase_add_loop_test(tc, test_error, 0, (int)NERROR_CASES);
	tcase_add_test(tc, test_proxy_from);
	tcase_add_test(tc, test_long_line_limit);
	tcase_add_test(tc, test_crlf_bom_no_final_newline);
	tcase_add_test(tc, test_file_too_large);
	tcase_add_test(tc, test_reload_starts_from_defaults);
	tcase_add_test(tc, test_error_buffer_sizes);
	tcase_add_test(tc, test_long_value_cut_in_message);
	tcase_add_test(tc, test_ok_clears_error);
	suite_add_tcase(s, tc);

	tc = tcase_create("shipped");
	tcase_add_test(tc, test_shipped_conf_is_defaults);
	tcase_add_test(tc, test_shipped_conf_sets_every_key);
	suite_add_tcase(s, tc);

	tc = tcase_create("golden");
	tcase_add_test(tc, test_golden_found);
	tcase_add_loop_test(tc, test_golden, 0, (int)golden_count);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	int status;
	size_t i;

	golden_scan();
	if (tmp_create() == -1)
		return EXIT_FAILURE;
	status = unit_run(config_suite());
	tmp_empty();
	rmdir(tmpdir);
	for (i = 0; i < golden_count; i++)
		free(golden_names[i]);
	return status;
}
