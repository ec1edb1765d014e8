/*
 * libFuzzer harness for the configuration loader: any bytes, as the
 * contents of a file.  The loader must either accept them with every value
 * in range, or refuse them with one readable line that names the file; and
 * it must say the same thing every time it sees the same bytes.
 */
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define FUZZ_PATH "fuzz.ini"
/* Sixteen listen lines and every other key fit with room to spare. */
#define FUZZ_FORMAT_MAX 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Say what broke, with the text it concerns (NULL, or known to be
 * NUL-terminated), and abort so that libFuzzer keeps the input.
 */
static void
fuzz_fail(int line, const char *what, const char *text)
{
	fprintf(stderr, "fuzz_config.c:%d: violated: %s\n", line, what);
	if (text != NULL)
		fprintf(stderr, "  text: %s\n", text);
	abort();
}

#define FUZZ_CHECK(cond, text) do {					\
	if (!(cond))							\
		fuzz_fail(__LINE__, #cond, (text));			\
} while (0)

/*
 * An error message is for an operator's terminal and the journal: one
 * line of printable ASCII, since the loader escapes whatever it quotes
 * from the file.
 */
static void
fuzz_check_message(const char *err)
{
	const char *end = memchr(err, '\0', CONFIG_ERROR_MAX);
	const char *p;

	FUZZ_CHECK(end != NULL, NULL);
	FUZZ_CHECK(end > err, err);
	FUZZ_CHECK(strncmp(err, FUZZ_PATH ":", strlen(FUZZ_PATH ":")) == 0,
	    err);
	FUZZ_CHECK(memchr(err, '\n', (size_t)(end - err)) == NULL, err);
	for (p = err; p < end; p++)
		FUZZ_CHECK(*p >= 0x20 && *p < 0x7f, err);
}

/*
 * One accepted listen address: its text is the normalised form, so it
 * parses back to itself, and the address matches its family.
 */
static void
fuzz_check_listen(const struct addr *l)
{
	struct addr again;
	char why[CONFIG_ERROR_MAX];
	sa_family_t family = l->ss.ss_family;

	FUZZ_CHECK(memchr(l->text, '\0', sizeof(l->text)) != NULL, NULL);
	FUZZ_CHECK(l->text[0] != '\0', NULL);
	if (family == AF_UNIX) {
		const struct sockaddr_un *sun =
		    (const struct sockaddr_un *)(const void *)&l->ss;
		size_t path = l->len - offsetof(struct sockaddr_un, sun_path);

		FUZZ_CHECK(strncmp(l->text, "unix:", 5) == 0, l->text);
		FUZZ_CHECK(l->len > offsetof(struct sockaddr_un, sun_path) &&
		    l->len <= sizeof(struct sockaddr_un), l->text);
		/* A path ends at its NUL; an abstract name starts with one. */
		if (l->text[5] == '@')
			FUZZ_CHECK(sun->sun_path[0] == '\0' &&
			    path == strlen(l->text + 5), l->text);
		else
			FUZZ_CHECK(sun->sun_path[path - 1] == '\0' &&
			    strlen(sun->sun_path) == path - 1, l->text);
	} else {
		FUZZ_CHECK((family == AF_INET &&
		    l->len == sizeof(struct sockaddr_in)) ||
		    (family == AF_INET6 &&
		    l->len == sizeof(struct sockaddr_in6)), l->text);
	}
	FUZZ_CHECK(config_parse_listen(l->text, &again, why, sizeof(why)) == 0,
	    why);
	FUZZ_CHECK(strcmp(again.text, l->text) == 0, l->text);
	FUZZ_CHECK(again.len == l->len, l->text);
	FUZZ_CHECK(memcmp(&again.ss, &l->ss, l->len) == 0, l->text);
}

/* Every value of an accepted file is one the daemon can run with. */
static void
fuzz_check_config(const struct config *cfg)
{
	unsigned i, j;

	FUZZ_CHECK(cfg->nlisten >= 1 && cfg->nlisten <= CONFIG_LISTEN_MAX,
	    NULL);
	for (i = 0; i < cfg->nlisten; i++) {
		fuzz_check_listen(&cfg->listen[i]);
		/* The loader refuses a repeated address, however written. */
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(cfg->listen[i].text,
			    cfg->listen[j].text) != 0, cfg->listen[i].text);
	}
	FUZZ_CHECK(cfg->nmetrics_listen <= CONFIG_LISTEN_MAX, NULL);
	for (i = 0; i < cfg->nmetrics_listen; i++) {
		fuzz_check_listen(&cfg->metrics_listen[i]);
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(cfg->metrics_listen[i].text,
			    cfg->metrics_listen[j].text) != 0,
			    cfg->metrics_listen[i].text);
	}
	FUZZ_CHECK(cfg->backlog >= CONFIG_BACKLOG_MIN &&
	    cfg->backlog <= CONFIG_BACKLOG_MAX, NULL);
	FUZZ_CHECK(cfg->max_connections >= CONFIG_MAX_CONNECTIONS_MIN &&
	    cfg->max_connections <= CONFIG_MAX_CONNECTIONS_MAX, NULL);
	FUZZ_CHECK(cfg->max_line >= CONFIG_MAX_LINE_MIN &&
	    cfg->max_line <= CONFIG_MAX_LINE_MAX, NULL);
	FUZZ_CHECK(cfg->idle_timeout_ms <= CONFIG_IDLE_TIMEOUT_MAX_MS, NULL);
	FUZZ_CHECK(cfg->shutdown_timeout_ms <= CONFIG_SHUTDOWN_TIMEOUT_MAX_MS,
	    NULL);
	FUZZ_CHECK(log_level_name(cfg->log_level) != NULL, NULL);
}

/*
 * config_format() into buf: it must succeed, fit, and report the same
 * length when only asked for it.  Returns that length.
 */
static size_t
fuzz_format(const struct config *cfg, char *buf, size_t len)
{
	int n = config_format(cfg, buf, len);

	FUZZ_CHECK(n > 0, NULL);
	FUZZ_CHECK((size_t)n < len, NULL);
	FUZZ_CHECK(strlen(buf) == (size_t)n, NULL);
	FUZZ_CHECK(config_format(cfg, NULL, 0) == n, NULL);
	return (size_t)n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg, again;
	char text[FUZZ_FORMAT_MAX], text_again[FUZZ_FORMAT_MAX];
	char err[CONFIG_ERROR_MAX], err_again[CONFIG_ERROR_MAX];
	enum config_status status, status_again;
	size_t n = 0;

	/* Not NUL: a message the loader forgot to terminate shows up. */
	memset(err, 'x', sizeof(err));
	memset(err_again, 'y', sizeof(err_again));
	status = config_parse_buffer(FUZZ_PATH, (const char *)data, size, &cfg,
	    err, sizeof(err));
	FUZZ_CHECK(status == CONFIG_OK || status == CONFIG_INVALID, NULL);

	if (status == CONFIG_INVALID) {
		fuzz_check_message(err);
	} else {
		FUZZ_CHECK(err[0] == '\0', NULL);
		fuzz_check_config(&cfg);
		n = fuzz_format(&cfg, text, sizeof(text));
	}

	status_again = config_parse_buffer(FUZZ_PATH, (const char *)data, size,
	    &again, err_again, sizeof(err_again));
	FUZZ_CHECK(memchr(err_again, '\0', sizeof(err_again)) != NULL, NULL);
	FUZZ_CHECK(status_again == status, err_again);
	if (status == CONFIG_INVALID) {
		FUZZ_CHECK(strcmp(err_again, err) == 0, err_again);
	} else {
		FUZZ_CHECK(fuzz_format(&again, text_again,
		    sizeof(text_again)) == n, text_again);
		FUZZ_CHECK(memcmp(text_again, text, n) == 0, text_again);
	}
	return 0;
}
