/*
 * Configuration loader: one ini file, parsed by inih, checked against the
 * table of keys below.
 *
 * inih release 55 (Debian 12) has two traps.  It splits a physical line
 * longer than its buffer and parses the tail as a line of its own, so text
 * hidden at the end of a long comment can become a key; and it reads an
 * indented line after a key as a continuation of that key's value.  So we
 * read the file whole and hand it to ini_parse_stream() through our own
 * reader, which refuses lines inih cannot hold, strips leading blanks, and
 * checks section headers itself, because inih never shows those to the
 * handler.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "config.h"

#define CONFIG_FILE_MAX (1024 * 1024)   /* bytes of a file we agree to read */
#define CONFIG_READ_CHUNK 4096          /* bytes of the first read buffer */
#define CONFIG_QUOTE_MAX 64             /* bytes of a value shown in a message */
#define CONFIG_QUOTE_BUF (CONFIG_QUOTE_MAX * 4 + 4) /* escaped, plus "..." */
#define CONFIG_REASON_MAX 128           /* bytes of a reason from addr.c */

/* What a value looks like; each kind has one parser. */
enum config_kind {
	CONFIG_KIND_LISTEN,             /* "A.B.C.D:PORT" or "[IPv6]:PORT", repeatable */
	CONFIG_KIND_COUNT,              /* a plain whole number */
	CONFIG_KIND_SIZE,               /* bytes, or k/K/M (1024-based) */
	CONFIG_KIND_DURATION,           /* seconds, or ms/s/m/h; stored in ms */
	CONFIG_KIND_LOG_LEVEL,          /* error, warning, info, debug */
	CONFIG_KIND_SWITCH,             /* on or off, stored as 1 or 0 */
	CONFIG_KIND_WORKERS,            /* a count, or auto stored as 0 */
	CONFIG_KIND_CIDR_LIST,          /* ADDR[/BITS] ..., blank-separated, repeatable */
	CONFIG_KIND_CHOICE,             /* one word of ck_choices, stored as its index */
};

/* C type of a numeric field, found by CONFIG_NUMBER() at compile time. */
enum config_store {
	CONFIG_STORE_NONE,              /* the kind knows its own field */
	CONFIG_STORE_INT,
	CONFIG_STORE_U32,
};

/* One key of the file: where it lives, what it holds, its default and range. */
struct config_key {
	const char *ck_section;         /* "server" for [server] */
	const char *ck_name;            /* key as written in the file */
	enum config_kind ck_kind;       /* syntax of the value */
	size_t ck_offset;               /* of the field in struct config */
	enum config_store ck_store;     /* C type of a numeric field */
	uint64_t ck_default;            /* in stored units (bytes, ms) */
	uint64_t ck_min;                /* inclusive, stored units */
	uint64_t ck_max;                /* inclusive, stored units */
	const char *const *ck_choices;  /* CHOICE: the words, NULL-terminated */
};

/* A numeric field whose type the compiler checks: int or uint32_t only. */
#define CONFIG_NUMBER(f) offsetof(struct config, f),			\
	_Generic(((struct config *)0)->f,				\
	    int: CONFIG_STORE_INT, uint32_t: CONFIG_STORE_U32)
#define CONFIG_SPECIAL(f) offsetof(struct config, f), CONFIG_STORE_NONE

/* The words of [server] io, indexed by enum config_io. */
static const char *const config_io_names[] = { "epoll", "io_uring", NULL };

/* The words of [connection] framing, indexed by enum config_framing. */
static const char *const config_framing_names[] = { "lines", "bytes", NULL };

/*
 * Every key the file may hold, in the order config_format() writes them
 * and conf/pingpongd.ini documents them.  A new key is one line here plus
 * its field in struct config.
 */
static const struct config_key config_keys[] = {
	{ "server", "listen", CONFIG_KIND_LISTEN, CONFIG_SPECIAL(listen), 0, 0, 0, NULL },
	{ "server", "backlog", CONFIG_KIND_COUNT, CONFIG_NUMBER(backlog),
	    CONFIG_DEFAULT_BACKLOG, CONFIG_BACKLOG_MIN, CONFIG_BACKLOG_MAX, NULL },
	{ "server", "defer_accept", CONFIG_KIND_DURATION, CONFIG_NUMBER(defer_accept_ms),
	    0, 0, CONFIG_DEFER_ACCEPT_MAX_MS, NULL },
	{ "server", "max_connections", CONFIG_KIND_COUNT, CONFIG_NUMBER(max_connections),
	    CONFIG_DEFAULT_MAX_CONNECTIONS, CONFIG_MAX_CONNECTIONS_MIN, CONFIG_MAX_CONNECTIONS_MAX, NULL },
	{ "server", "workers", CONFIG_KIND_WORKERS, CONFIG_NUMBER(workers),
	    CONFIG_DEFAULT_WORKERS, 1, CONFIG_WORKERS_MAX, NULL },
	{ "server", "io", CONFIG_KIND_CHOICE, CONFIG_NUMBER(io),
	    CONFIG_IO_EPOLL, 0, 0, config_io_names },
	{ "server", "proxy_protocol", CONFIG_KIND_SWITCH, CONFIG_NUMBER(proxy_protocol),
	    0, 0, 1, NULL },
	{ "server", "proxy_from", CONFIG_KIND_CIDR_LIST, CONFIG_SPECIAL(proxy_from), 0, 0, 0, NULL },
	{ "connection", "framing", CONFIG_KIND_CHOICE, CONFIG_NUMBER(framing),
	    CONFIG_FRAMING_LINES, 0, 0, config_framing_names },
	{ "connection", "max_line", CONFIG_KIND_SIZE, CONFIG_NUMBER(max_line),
	    CONFIG_DEFAULT_MAX_LINE, CONFIG_MAX_LINE_MIN, CONFIG_MAX_LINE_MAX, NULL },
	{ "connection", "idle_timeout", CONFIG_KIND_DURATION, CONFIG_NUMBER(idle_timeout_ms),
	    CONFIG_DEFAULT_IDLE_TIMEOUT_MS, 0, CONFIG_IDLE_TIMEOUT_MAX_MS, NULL },
	{ "connection", "max_per_ip", CONFIG_KIND_COUNT, CONFIG_NUMBER(max_per_ip),
	    CONFIG_DEFAULT_MAX_PER_IP, 0, CONFIG_MAX_PER_IP_MAX, NULL },
	{ "connection", "line_timeout", CONFIG_KIND_DURATION, CONFIG_NUMBER(line_timeout_ms),
	    CONFIG_DEFAULT_LINE_TIMEOUT_MS, 0, CONFIG_LINE_TIMEOUT_MAX_MS, NULL },
	{ "connection", "tcp_keepalive", CONFIG_KIND_DURATION, CONFIG_NUMBER(tcp_keepalive_ms),
	    CONFIG_DEFAULT_TCP_KEEPALIVE_MS, 0, CONFIG_TCP_KEEPALIVE_MAX_MS, NULL },
	{ "metrics", "listen", CONFIG_KIND_LISTEN, CONFIG_SPECIAL(metrics_listen), 0, 0, 0, NULL },
	{ "metrics", "max_connections", CONFIG_KIND_COUNT, CONFIG_NUMBER(metrics_connections),
	    CONFIG_DEFAULT_METRICS_CONNECTIONS, 1, CONFIG_METRICS_CONNECTIONS_MAX, NULL },
	{ "metrics", "timeout", CONFIG_KIND_DURATION, CONFIG_NUMBER(metrics_timeout_ms),
	    CONFIG_DEFAULT_METRICS_TIMEOUT_MS, CONFIG_METRICS_TIMEOUT_MIN_MS,
	    CONFIG_METRICS_TIMEOUT_MAX_MS, NULL },
	{ "daemon", "log_level", CONFIG_KIND_LOG_LEVEL, CONFIG_SPECIAL(log_level),
	    LOG_LEVEL_INFO, 0, 0, NULL },
	{ "daemon", "shutdown_timeout", CONFIG_KIND_DURATION, CONFIG_NUMBER(shutdown_timeout_ms),
	    CONFIG_DEFAULT_SHUTDOWN_TIMEOUT_MS, 0, CONFIG_SHUTDOWN_TIMEOUT_MAX_MS, NULL },
};
#define CONFIG_NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

/* A unit suffix and how many stored units it is worth. */
struct config_unit {
	const char *cu_suffix;          /* "" for a bare number */
	uint64_t cu_scale;              /* stored units per one of these */
};

static const struct config_unit config_count_units[] = {
	{ "", 1 }, { NULL, 0 },
};
static const struct config_unit config_size_units[] = {
	{ "", 1 }, { "k", 1024 }, { "K", 1024 }, { "M", 1024 * 1024 }, { NULL, 0 },
};
static const struct config_unit config_duration_units[] = {
	{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60 * 1000 },
	{ "h", 3600 * 1000 }, { NULL, 0 },
};

/* State of one config_load(): shared by the reader and the handler. */
struct config_parse {
	const char *cp_path;            /* as the caller gave it */
	struct config *cp_cfg;          /* being filled */
	const char *cp_buf;             /* the whole file, not NUL-terminated */
	size_t cp_len;                  /* bytes in cp_buf */
	size_t cp_pos;                  /* start of the next line in cp_buf */
	unsigned cp_line;               /* number of the line last handed to inih */
	unsigned cp_error_line;         /* line of the first error we found, 0 = none */
	char *cp_err;                   /* caller's message buffer */
	size_t cp_errlen;               /* bytes of cp_err */
	const char *cp_origin;          /* the command-line setting being applied
	                                   ("-o server.backlog=5"), NULL in a file */
	unsigned cp_key_line[CONFIG_NKEYS]; /* line each key was first set on, 0 = not yet */
	unsigned cp_taken[CONFIG_NKEYS]; /* entries of a list key taken from this
	                                   source: the first replaces what was there */
	unsigned cp_listen_line[2][CONFIG_LISTEN_MAX]; /* line of each entry of
	                                   the echo listen lines, then the metrics' */
};

/*
 * Copy srclen bytes of src into dst as printable ASCII, escaping the rest
 * and cutting long text, so a message stays one readable line.
 */
static void
config_escape(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	char piece[5];
	size_t i, n, o = 0;
	unsigned char c;

	if (dstlen == 0)
		return;
	for (i = 0; i < srclen; i++) {
		c = (unsigned char)src[i];
		if (i == CONFIG_QUOTE_MAX)
			snprintf(piece, sizeof(piece), "...");
		else if (c == '"' || c == '\\')
			snprintf(piece, sizeof(piece), "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			snprintf(piece, sizeof(piece), "%c", c);
		else
			snprintf(piece, sizeof(piece), "\\x%02x", c);
		n = strlen(piece);
		if (o + n >= dstlen)
			break;
		memcpy(dst + o, piece, n);
		o += n;
		if (i == CONFIG_QUOTE_MAX)
			break;
	}
	dst[o] = '\0';
}

/* Escape a NUL-terminated string for a message; see config_escape(). */
static const char *
config_quote(char *dst, size_t dstlen, const char *src)
{
	config_escape(dst, dstlen, src, strlen(src));
	return dst;
}

/* True when name is a plain identifier that needs no quotes in a message. */
static bool
config_plain_name(const char *name)
{
	const char *p;

	if (*name == '\0')
		return false;
	for (p = name; *p != '\0'; p++)
		if (!(*p == '_' || (*p >= 'a' && *p <= 'z') ||
		    (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
			return false;
	return true;
}

static void config_set_error(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));
static void config_line_error(struct config_parse *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
static void config_key_error(struct config_parse *, const struct config_key *,
    const char *, ...) __attribute__((format(printf, 3, 4)));

/* printf into err, always NUL-terminated, tolerating a NULL or empty buffer. */
static void
config_set_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * Record an error on the current line as "PATH:LINE: reason", unless an
 * earlier one is already recorded: the first error in the file wins.
 */
static void
config_line_error(struct config_parse *cp, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (cp->cp_error_line != 0)
		return;
	cp->cp_error_line = cp->cp_line;
	if (cp->cp_err == NULL || cp->cp_errlen == 0)
		return;
	if (cp->cp_origin != NULL)
		n = snprintf(cp->cp_err, cp->cp_errlen, "%s: ", cp->cp_origin);
	else
		n = snprintf(cp->cp_err, cp->cp_errlen, "%s:%u: ", cp->cp_path,
		    cp->cp_line);
	if (n < 0 || (size_t)n >= cp->cp_errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(cp->cp_err + n, cp->cp_errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/*
 * An error about a key's value: in a file "[section] key: reason", since
 * the line alone does not say which key; a command-line setting already
 * names it.
 */
static void
config_key_error(struct config_parse *cp, const struct config_key *key,
    const char *fmt, ...)
{
	char why[CONFIG_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (cp->cp_origin != NULL)
		config_line_error(cp, "%s", why);
	else
		config_line_error(cp, "[%s] %s: %s", key->ck_section,
		    key->ck_name, why);
}

/* True when some key of the table lives in the section named name[0..len). */
static bool
config_section_known(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < CONFIG_NKEYS; i++)
		if (strlen(config_keys[i].ck_section) == len &&
		    memcmp(config_keys[i].ck_section, name, len) == 0)
			return true;
	return false;
}

/* Write the known sections as "[a], [b] or [c]" into buf, for hints. */
static const char *
config_section_list(char *buf, size_t len)
{
	size_t i, j, o = 0, nsec = 0, k;
	const char *sec[CONFIG_NKEYS];
	int n;

	for (i = 0; i < CONFIG_NKEYS; i++) {
		for (j = 0; j < nsec; j++)
			if (strcmp(sec[j], config_keys[i].ck_section) == 0)
				break;
		if (j == nsec)
			sec[nsec++] = config_keys[i].ck_section;
	}
	buf[0] = '\0';
	for (k = 0; k < nsec; k++) {
		n = snprintf(buf + o, len - o, "%s[%s]",
		    k == 0 ? "" : (k + 1 == nsec ? " or " : ", "), sec[k]);
		if (n < 0 || (size_t)n >= len - o)
			break;
		o += (size_t)n;
	}
	return buf;
}

/* The table entry for section and name, or NULL. */
static const struct config_key *
config_key_find(const char *section, const char *name)
{
	size_t i;

	for (i = 0; i < CONFIG_NKEYS; i++)
		if (strcmp(config_keys[i].ck_section, section) == 0 &&
		    strcmp(config_keys[i].ck_name, name) == 0)
			return &config_keys[i];
	return NULL;
}

/* The first table entry named name in any section, or NULL; for hints. */
static const struct config_key *
config_key_find_any(const char *name)
{
	size_t i;

	for (i = 0; i < CONFIG_NKEYS; i++)
		if (strcmp(config_keys[i].ck_name, name) == 0)
			return &config_keys[i];
	return NULL;
}

/* The unit table of a numeric kind. */
static const struct config_unit *
config_units(enum config_kind kind)
{
	switch (kind) {
	case CONFIG_KIND_SIZE:
		return config_size_units;
	case CONFIG_KIND_DURATION:
		return config_duration_units;
	default:
		return config_count_units;
	}
}

/* Write "min to max" of a key's range in the units an operator writes. */
static void
config_range_text(const struct config_key *key, char *buf, size_t len)
{
	switch (key->ck_kind) {
	case CONFIG_KIND_SIZE:
		snprintf(buf, len, "%" PRIu64 " to %" PRIu64 " bytes",
		    key->ck_min, key->ck_max);
		break;
	case CONFIG_KIND_DURATION:
		if (key->ck_min % 1000 == 0 && key->ck_max % 1000 == 0)
			snprintf(buf, len, "%" PRIu64 " to %" PRIu64 " seconds",
			    key->ck_min / 1000, key->ck_max / 1000);
		else
			snprintf(buf, len, "%" PRIu64 "ms to %" PRIu64 "ms",
			    key->ck_min, key->ck_max);
		break;
	default:
		snprintf(buf, len, "%" PRIu64 " to %" PRIu64,
		    key->ck_min, key->ck_max);
		break;
	}
}

/*
 * Parse a whole number with an optional unit of key's kind into stored
 * units and check it against key's range.  Digits are checked one by one
 * and every multiplication is checked for overflow, because strtoull()
 * accepts a sign and blanks and its wrap-around would let a huge value
 * through as a small one.  Returns 0, or -1 with '"VALUE": reason' in why.
 */
static int
config_parse_number(const struct config_key *key, const char *value,
    uint64_t *out, char *why, size_t whylen)
{
	const struct config_unit *units = config_units(key->ck_kind), *u;
	char q[CONFIG_QUOTE_BUF], rest[CONFIG_QUOTE_BUF], range[64];
	const char *p = value;
	uint64_t n = 0, digit;
	bool overflow = false;

	config_quote(q, sizeof(q), value);
	if (*p == '-') {
		config_set_error(why, whylen,
		    "\"%s\": negative values are not allowed", q);
		return -1;
	}
	if (*p == '+') {
		config_set_error(why, whylen,
		    "\"%s\": a leading '+' is not allowed", q);
		return -1;
	}
	if (*p < '0' || *p > '9') {
		config_set_error(why, whylen, "\"%s\": not a whole number", q);
		return -1;
	}
	for (; *p >= '0' && *p <= '9'; p++) {
		digit = (uint64_t)(*p - '0');
		if (n > (UINT64_MAX - digit) / 10)
			overflow = true;
		else
			n = n * 10 + digit;
	}
	for (u = units; u->cu_suffix != NULL; u++)
		if (strcmp(p, u->cu_suffix) == 0)
			break;
	if (u->cu_suffix == NULL) {
		config_quote(rest, sizeof(rest), p);
		if (*p == '.' || *p == ',')
			config_set_error(why, whylen,
			    "\"%s\": whole numbers only", q);
		else if (key->ck_kind == CONFIG_KIND_SIZE)
			config_set_error(why, whylen,
			    "\"%s\": unknown unit \"%s\" (use k, K or M)", q, rest);
		else if (key->ck_kind == CONFIG_KIND_DURATION)
			config_set_error(why, whylen,
			    "\"%s\": unknown unit \"%s\" (use ms, s, m or h)", q, rest);
		else
			config_set_error(why, whylen,
			    "\"%s\": unexpected \"%s\" after the number", q, rest);
		return -1;
	}
	if (!overflow && n > UINT64_MAX / u->cu_scale)
		overflow = true;
	if (!overflow)
		n *= u->cu_scale;
	if (overflow || n < key->ck_min || n > key->ck_max) {
		config_range_text(key, range, sizeof(range));
		config_set_error(why, whylen, "\"%s\": out of range (%s)", q,
		    range);
		return -1;
	}
	*out = n;
	return 0;
}

/* Store n, already range-checked, into key's numeric field of cfg. */
static void
config_store_number(struct config *cfg, const struct config_key *key,
    uint64_t n)
{
	char *field = (char *)cfg + key->ck_offset;

	switch (key->ck_store) {
	case CONFIG_STORE_INT:
		*(int *)(void *)field = (int)n;
		break;
	case CONFIG_STORE_U32:
		*(uint32_t *)(void *)field = (uint32_t)n;
		break;
	case CONFIG_STORE_NONE:
		break;
	}
}

/* Read key's numeric field of cfg back as a number. */
static uint64_t
config_load_number(const struct config *cfg, const struct config_key *key)
{
	const char *field = (const char *)cfg + key->ck_offset;

	switch (key->ck_store) {
	case CONFIG_STORE_INT:
		return (uint64_t)*(const int *)(const void *)field;
	case CONFIG_STORE_U32:
		return *(const uint32_t *)(const void *)field;
	case CONFIG_STORE_NONE:
		break;
	}
	return 0;
}

/* The first entry of a list key from a source replaces what was there. */
static bool
config_first_of_list(struct config_parse *cp, const struct config_key *key)
{
	return cp->cp_taken[key - config_keys]++ == 0;
}

/*
 * The list a listen key fills, and its count: [server] listen, the echo
 * service's, or [metrics] listen.
 */
static struct addr *
config_addrs(struct config *cfg, const struct config_key *key,
    unsigned **count, unsigned *which)
{
	*which = strcmp(key->ck_section, "metrics") == 0;
	*count = *which ? &cfg->nmetrics_listen : &cfg->nlisten;
	return *which ? cfg->metrics_listen : cfg->listen;
}

/*
 * Take one listen line: refuse a repeat of an earlier address and more
 * than CONFIG_LISTEN_MAX lines.
 */
static int
config_take_listen(struct config_parse *cp, const struct config_key *key,
    const char *value)
{
	struct addr listen, *list;
	char why[CONFIG_ERROR_MAX];
	unsigned i, *n, which;

	if (config_parse_listen(value, &listen, why, sizeof(why)) == -1) {
		config_key_error(cp, key, "%s", why);
		return -1;
	}
	list = config_addrs(cp->cp_cfg, key, &n, &which);
	if (config_first_of_list(cp, key)) {
		memset(list, 0, sizeof(*list) * CONFIG_LISTEN_MAX);
		*n = 0;
	}
	for (i = 0; i < *n; i++) {
		if (strcmp(list[i].text, listen.text) == 0) {
			if (cp->cp_origin != NULL)
				config_key_error(cp, key, "duplicate listen"
				    " address");
			else
				config_key_error(cp, key, "duplicate listen"
				    " address, first on line %u",
				    cp->cp_listen_line[which][i]);
			return -1;
		}
	}
	if (*n == CONFIG_LISTEN_MAX) {
		config_key_error(cp, key, "too many listen addresses (at most"
		    " %d)", CONFIG_LISTEN_MAX);
		return -1;
	}
	list[*n] = listen;
	cp->cp_listen_line[which][*n] = cp->cp_line;
	(*n)++;
	return 0;
}

/* A blank-separated list of networks, added to cfg->proxy_from. */
static int
config_parse_cidr_list(const char *value, struct config *cfg, char *why,
    size_t whylen)
{
	char q[CONFIG_QUOTE_BUF], reason[CONFIG_REASON_MAX];
	const char *p = value;
	unsigned n = cfg->nproxy_from;

	while (*p != '\0') {
		size_t len;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		len = strcspn(p, " \t");
		if (n == CONFIG_PROXY_FROM_MAX) {
			snprintf(why, whylen, "more than %d networks",
			    CONFIG_PROXY_FROM_MAX);
			return -1;
		}
		if (addr_parse_net(p, len, &cfg->proxy_from[n], reason,
		    sizeof(reason)) == -1) {
			config_escape(q, sizeof(q), p, len);
			snprintf(why, whylen, "\"%s\": %s", q, reason);
			return -1;
		}
		n++;
		p += len;
	}
	cfg->nproxy_from = n;
	return 0;
}

void
config_summary(const struct config *cfg, char *buf, size_t len)
{
	snprintf(buf, len, "%u listener(s), max_connections %u, max_line %u,"
	    " idle_timeout %ums, io %s", cfg->nlisten, cfg->max_connections,
	    cfg->max_line, cfg->idle_timeout_ms, config_io_text(cfg->io));
}

const char *
config_io_text(uint32_t io)
{
	return config_io_names[io];
}

int
config_proxy_trusted(const struct config *cfg, const struct sockaddr *sa)
{
	return addr_in_nets(sa, cfg->proxy_from, cfg->nproxy_from);
}

/* Keys a file may give more than once: lists, each line adding to it. */
static bool
config_repeatable(const struct config_key *key)
{
	return key->ck_kind == CONFIG_KIND_LISTEN ||
	    key->ck_kind == CONFIG_KIND_CIDR_LIST;
}

/* "lines or bytes" for a CHOICE key, into buf. */
static void
config_choice_list(const struct config_key *key, char *buf, size_t len)
{
	size_t o = 0, n = 0;

	while (key->ck_choices[n] != NULL)
		n++;
	buf[0] = '\0';
	for (size_t i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s",
		    i == 0 ? "" : i + 1 == n ? " or " : ", ", key->ck_choices[i]);
}

/*
 * inih handler for one "key = value" line: find the key, refuse repeats,
 * parse and store the value.  Returns 1, or 0 after recording the error.
 */
static int
config_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct config_parse *cp = user;
	const struct config_key *key, *other;
	char why[CONFIG_ERROR_MAX], q[CONFIG_QUOTE_BUF];
	char qname[CONFIG_QUOTE_BUF + 2], sections[128];
	size_t idx;
	uint64_t n;

	if (*name == '\0') {
		config_line_error(cp, "missing key name before the value");
		return 0;
	}
	if (config_plain_name(name))
		snprintf(qname, sizeof(qname), "%s", name);
	else {
		config_quote(q, sizeof(q), name);
		snprintf(qname, sizeof(qname), "\"%s\"", q);
	}
	if (*section == '\0') {
		other = config_key_find_any(name);
		if (other != NULL)
			config_line_error(cp,
			    "%s: key outside any section (it belongs in [%s])",
			    qname, other->ck_section);
		else
			config_line_error(cp,
			    "%s: key outside any section (start with %s)", qname,
			    config_section_list(sections, sizeof(sections)));
		return 0;
	}
	if (!config_section_known(section, strlen(section))) {
		/* The reader refuses unknown headers; this is belt and braces. */
		config_quote(q, sizeof(q), section);
		config_line_error(cp, "unknown section [%s]", q);
		return 0;
	}
	key = config_key_find(section, name);
	if (key == NULL) {
		other = config_key_find_any(name);
		if (other != NULL)
			config_line_error(cp,
			    "[%s] %s: unknown key (it belongs in [%s])", section,
			    qname, other->ck_section);
		else if (strpbrk(name, " \t") != NULL)
			config_line_error(cp,
			    "[%s] %s: unknown key (is the '=' missing?)", section,
			    qname);
		else
			config_line_error(cp, "[%s] %s: unknown key", section,
			    qname);
		return 0;
	}
	idx = (size_t)(key - config_keys);
	if (!config_repeatable(key) && cp->cp_key_line[idx] != 0) {
		if (cp->cp_origin != NULL)
			config_key_error(cp, key, "given twice on the command"
			    " line");
		else
			config_key_error(cp, key, "duplicate key, first on line"
			    " %u", cp->cp_key_line[idx]);
		return 0;
	}
	if (cp->cp_key_line[idx] == 0)
		cp->cp_key_line[idx] = cp->cp_line;
	if (*value == '\0') {
		config_key_error(cp, key, "empty value");
		return 0;
	}

	switch (key->ck_kind) {
	case CONFIG_KIND_LISTEN:
		return config_take_listen(cp, key, value) == 0;
	case CONFIG_KIND_LOG_LEVEL:
		if (log_level_parse(value, (enum log_level *)(void *)
		    ((char *)cp->cp_cfg + key->ck_offset)) == -1) {
			config_quote(q, sizeof(q), value);
			config_key_error(cp, key, "\"%s\": unknown log level "
			    "(use error, warning, info or debug)", q);
			return 0;
		}
		return 1;
	case CONFIG_KIND_WORKERS:
		if (strcmp(value, "auto") == 0) {
			config_store_number(cp->cp_cfg, key, 0);
			return 1;
		}
		if (config_parse_number(key, value, &n, why, sizeof(why)) == -1) {
			config_key_error(cp, key, "%s (or auto)", why);
			return 0;
		}
		config_store_number(cp->cp_cfg, key, n);
		return 1;
	case CONFIG_KIND_SWITCH:
		if (strcmp(value, "on") != 0 && strcmp(value, "off") != 0) {
			config_quote(q, sizeof(q), value);
			config_key_error(cp, key, "\"%s\": use on or off", q);
			return 0;
		}
		config_store_number(cp->cp_cfg, key, strcmp(value, "on") == 0);
		return 1;
	case CONFIG_KIND_CIDR_LIST:
		if (config_first_of_list(cp, key))
			cp->cp_cfg->nproxy_from = 0;
		if (config_parse_cidr_list(value, cp->cp_cfg, why,
		    sizeof(why)) == -1) {
			config_key_error(cp, key, "%s", why);
			return 0;
		}
		return 1;
	case CONFIG_KIND_CHOICE:
		for (n = 0; key->ck_choices[n] != NULL; n++)
			if (strcmp(value, key->ck_choices[n]) == 0)
				break;
		if (key->ck_choices[n] == NULL) {
			config_choice_list(key, why, sizeof(why));
			config_key_error(cp, key, "\"%s\": use %s",
			    config_quote(q, sizeof(q), value), why);
			return 0;
		}
		config_store_number(cp->cp_cfg, key, n);
		return 1;
	case CONFIG_KIND_COUNT:
	case CONFIG_KIND_SIZE:
	case CONFIG_KIND_DURATION:
		if (config_parse_number(key, value, &n, why, sizeof(why)) == -1) {
			config_key_error(cp, key, "%s", why);
			return 0;
		}
		config_store_number(cp->cp_cfg, key, n);
		return 1;
	}
	return 0;
}

/*
 * Check a "[section]" line of len bytes: a known name, a closing bracket,
 * and nothing after it but blanks or a comment.  Returns 0, or -1 after
 * recording the error.
 */
static int
config_check_section(struct config_parse *cp, const char *line, size_t len)
{
	char q[CONFIG_QUOTE_BUF], sections[128];
	const char *close, *rest, *end = line + len;
	size_t namelen;

	close = memchr(line, ']', len);
	if (close == NULL) {
		config_line_error(cp, "section header without a closing ']'");
		return -1;
	}
	namelen = (size_t)(close - line - 1);
	if (!config_section_known(line + 1, namelen)) {
		config_escape(q, sizeof(q), line + 1, namelen);
		config_line_error(cp, "unknown section [%s] (expected %s)", q,
		    config_section_list(sections, sizeof(sections)));
		return -1;
	}
	for (rest = close + 1; rest < end && (*rest == ' ' || *rest == '\t' ||
	    *rest == '\r'); rest++)
		continue;
	if (rest < end && *rest != ';') {
		config_escape(q, sizeof(q), close + 1, (size_t)(end - close - 1));
		config_line_error(cp, "unexpected \"%s\" after [%.*s]", q,
		    (int)namelen, line + 1);
		return -1;
	}
	return 0;
}

/*
 * fgets-style reader for ini_parse_stream(): hands inih the next line of
 * the file, whole, without leading blanks, or ends the stream at the first
 * error so the error we keep is the first in the file.
 */
static char *
config_reader(char *str, int num, void *stream)
{
	struct config_parse *cp = stream;
	const char *line, *nl, *end;
	size_t len, limit;

	if (cp->cp_error_line != 0 || cp->cp_pos >= cp->cp_len)
		return NULL;
	line = cp->cp_buf + cp->cp_pos;
	nl = memchr(line, '\n', cp->cp_len - cp->cp_pos);
	end = nl != NULL ? nl : cp->cp_buf + cp->cp_len;
	cp->cp_pos = (size_t)(end - cp->cp_buf) + (nl != NULL);
	cp->cp_line++;
	len = (size_t)(end - line);

	if (memchr(line, '\0', len) != NULL) {
		config_line_error(cp, "contains a NUL byte (binary file?)");
		return NULL;
	}
	if (len > 0 && line[len - 1] == '\r')
		len--;
	/* inih needs room for "\r\n\0" after the text (see ini.h). */
	limit = num > 3 ? (size_t)num - 3 : 0;
	if (len > limit) {
		config_line_error(cp, "line longer than %zu bytes", limit);
		return NULL;
	}
	if (cp->cp_line == 1 && len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
		line += 3;
		len -= 3;
	}
	/*
	 * Without leading blanks inih never takes a line for a continuation;
	 * isspace() is what inih itself skips, whatever the locale.
	 */
	while (len > 0 && isspace((unsigned char)*line)) {
		line++;
		len--;
	}
	if (len > 0 && *line == '[' && config_check_section(cp, line, len) == -1)
		return NULL;
	memcpy(str, line, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	return str;
}

/*
 * Read the whole file at path into a new buffer of at most CONFIG_FILE_MAX
 * bytes.  Returns CONFIG_OK, or a status with "PATH: reason" in err.
 */
static enum config_status
config_read_file(const char *path, char **bufp, size_t *lenp, char *err,
    size_t errlen)
{
	char *buf = NULL, *nbuf;
	size_t len = 0, cap = 0, ncap;
	ssize_t n;
	int fd, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd == -1) {
		config_set_error(err, errlen, "%s: cannot read: %s", path,
		    strerror(errno));
		return CONFIG_UNREADABLE;
	}
	for (;;) {
		if (len == cap) {
			/* One byte past the limit tells a full file from a big one. */
			ncap = cap == 0 ? CONFIG_READ_CHUNK : cap * 2;
			if (ncap > CONFIG_FILE_MAX + 1)
				ncap = CONFIG_FILE_MAX + 1;
			nbuf = realloc(buf, ncap);
			if (nbuf == NULL) {
				saved = errno;
				goto fail;
			}
			buf = nbuf;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			saved = errno;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CONFIG_FILE_MAX) {
			close(fd);
			free(buf);
			config_set_error(err, errlen,
			    "%s: file larger than %d bytes", path, CONFIG_FILE_MAX);
			return CONFIG_INVALID;
		}
	}
	close(fd);
	*bufp = buf;
	*lenp = len;
	return CONFIG_OK;

fail:
	close(fd);
	free(buf);
	config_set_error(err, errlen, "%s: cannot read: %s", path,
	    strerror(saved));
	return CONFIG_UNREADABLE;
}

void
config_defaults(struct config *cfg)
{
	char why[CONFIG_ERROR_MAX];
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < CONFIG_NKEYS; i++) {
		if (config_keys[i].ck_kind == CONFIG_KIND_LOG_LEVEL)
			*(enum log_level *)(void *)((char *)cfg +
			    config_keys[i].ck_offset) =
			    (enum log_level)config_keys[i].ck_default;
		else
			config_store_number(cfg, &config_keys[i],
			    config_keys[i].ck_default);
	}
	if (config_parse_listen(CONFIG_DEFAULT_LISTEN, &cfg->listen[0], NULL,
	    0) == 0)
		cfg->nlisten = 1;
	if (config_parse_cidr_list(CONFIG_DEFAULT_PROXY_FROM, cfg, why,
	    sizeof(why)) == -1)
		cfg->nproxy_from = 0;
}

enum config_status
config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
	enum config_status status;
	char *buf = NULL;
	size_t len = 0;

	config_defaults(cfg);
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	status = config_read_file(path, &buf, &len, err, errlen);
	if (status != CONFIG_OK)
		return status;
	status = config_parse_buffer(path, buf, len, cfg, err, errlen);
	free(buf);
	return status;
}

/* True when buf holds nothing but white space. */
static bool
config_blank(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (strchr(" \t\r\n", buf[i]) == NULL || buf[i] == '\0')
			return false;
	return true;
}

enum config_status
config_parse_buffer(const char *path, const char *buf, size_t len,
    struct config *cfg, char *err, size_t errlen)
{
	struct config_parse cp;
	int rc;

	config_defaults(cfg);
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	/*
	 * An empty file is far more often a failed copy than a wish for the
	 * defaults, which need no file at all.
	 */
	if (config_blank(buf, len)) {
		config_set_error(err, errlen, "%s: the file is empty (run without"
		    " -c for the built-in defaults)", path);
		return CONFIG_INVALID;
	}
	memset(&cp, 0, sizeof(cp));
	cp.cp_path = path;
	cp.cp_cfg = cfg;
	cp.cp_buf = buf;
	cp.cp_len = len;
	cp.cp_err = err;
	cp.cp_errlen = errlen;
	rc = ini_parse_stream(config_reader, &cp, config_handler, &cp);

	/*
	 * inih returns the first line it or our handler refused; a line
	 * before our first error is one only inih saw: a line that is
	 * neither a section nor a key.
	 */
	if (rc > 0 && (cp.cp_error_line == 0 ||
	    (unsigned)rc < cp.cp_error_line)) {
		config_set_error(err, errlen,
		    "%s:%d: expected \"[section]\" or \"key = value\"", path, rc);
		return CONFIG_INVALID;
	}
	if (cp.cp_error_line != 0)
		return CONFIG_INVALID;
	if (rc < 0) {
		config_set_error(err, errlen, "%s: cannot read: %s", path,
		    strerror(ENOMEM));
		return CONFIG_UNREADABLE;
	}
	return CONFIG_OK;
}

int
config_parse_listen(const char *text, struct addr *out, char *err,
    size_t errlen)
{
	char q[CONFIG_QUOTE_BUF], why[CONFIG_REASON_MAX];

	if (addr_parse(text, out, why, sizeof(why)) == -1) {
		config_set_error(err, errlen, "\"%s\": %s",
		    config_quote(q, sizeof(q), text), why);
		return -1;
	}
	return 0;
}

/*
 * Append one "section.key = value" line for entry i of key (i counts
 * listen addresses) to buf at *total, which grows by the full length even
 * when buf is too short, as with snprintf.  Returns 0, or -1 on an
 * encoding error.
 */
/* "server.proxy_from = 127.0.0.0/8 ::1/128" in snprintf's manner. */
static int
config_format_cidrs(const struct config *cfg, const struct config_key *key,
    char *dst, size_t room)
{
	char line[CONFIG_PROXY_FROM_MAX * ADDR_NET_TEXT + 64];
	size_t used;

	used = (size_t)snprintf(line, sizeof(line), "%s.%s =", key->ck_section,
	    key->ck_name);
	for (unsigned i = 0; i < cfg->nproxy_from &&
	    i < CONFIG_PROXY_FROM_MAX; i++) {
		char text[ADDR_NET_TEXT];

		addr_net_text(&cfg->proxy_from[i], text, sizeof(text));
		used += (size_t)snprintf(line + used, sizeof(line) - used, " %s",
		    text);
	}
	return snprintf(dst, room, "%s\n", line);
}

static int
config_format_one(const struct config *cfg, const struct config_key *key,
    unsigned i, char *buf, size_t len, size_t *total)
{
	char *dst = buf != NULL && *total < len ? buf + *total : NULL;
	size_t room = dst != NULL ? len - *total : 0;
	const char *level;
	int n = -1;

	switch (key->ck_kind) {
	case CONFIG_KIND_LISTEN:
		n = snprintf(dst, room, "%s.%s = %s\n", key->ck_section,
		    key->ck_name, strcmp(key->ck_section, "metrics") == 0 ?
		    cfg->metrics_listen[i].text : cfg->listen[i].text);
		break;
	case CONFIG_KIND_LOG_LEVEL:
		level = log_level_name(cfg->log_level);
		n = snprintf(dst, room, "%s.%s = %s\n", key->ck_section,
		    key->ck_name, level != NULL ? level : "?");
		break;
	case CONFIG_KIND_DURATION:
		n = snprintf(dst, room, "%s.%s = %" PRIu64 "ms\n",
		    key->ck_section, key->ck_name, config_load_number(cfg, key));
		break;
	case CONFIG_KIND_COUNT:
	case CONFIG_KIND_SIZE:
		n = snprintf(dst, room, "%s.%s = %" PRIu64 "\n",
		    key->ck_section, key->ck_name, config_load_number(cfg, key));
		break;
	case CONFIG_KIND_SWITCH:
		n = snprintf(dst, room, "%s.%s = %s\n", key->ck_section,
		    key->ck_name, config_load_number(cfg, key) ? "on" : "off");
		break;
	case CONFIG_KIND_WORKERS:
		if (config_load_number(cfg, key) == 0)
			n = snprintf(dst, room, "%s.%s = auto\n", key->ck_section,
			    key->ck_name);
		else
			n = snprintf(dst, room, "%s.%s = %" PRIu64 "\n",
			    key->ck_section, key->ck_name,
			    config_load_number(cfg, key));
		break;
	case CONFIG_KIND_CIDR_LIST:
		n = config_format_cidrs(cfg, key, dst, room);
		break;
	case CONFIG_KIND_CHOICE:
		n = snprintf(dst, room, "%s.%s = %s\n", key->ck_section,
		    key->ck_name, key->ck_choices[config_load_number(cfg, key)]);
		break;
	}
	if (n < 0)
		return -1;
	*total += (size_t)n;
	return 0;
}

int
config_format(const struct config *cfg, char *buf, size_t len)
{
	const struct config_key *key;
	size_t k, total = 0;
	unsigned i, count;

	if (buf != NULL && len > 0)
		buf[0] = '\0';
	for (k = 0; k < CONFIG_NKEYS; k++) {
		key = &config_keys[k];
		count = key->ck_kind != CONFIG_KIND_LISTEN ? 1 :
		    strcmp(key->ck_section, "metrics") == 0 ?
		    cfg->nmetrics_listen : cfg->nlisten;
		if (count > CONFIG_LISTEN_MAX)
			count = CONFIG_LISTEN_MAX;
		for (i = 0; i < count; i++)
			if (config_format_one(cfg, key, i, buf, len, &total) == -1)
				return -1;
	}
	return (int)total;
}

int
config_setting_add(struct config_settings *set, const char *option,
    const char *arg, char *err, size_t errlen)
{
	struct config_setting *cs;
	const char *dot, *eq;
	bool listen = strcmp(option, "-l") == 0 ||
	    strcmp(option, "--listen") == 0;

	if (set->cs_count == CONFIG_SETTINGS_MAX) {
		config_set_error(err, errlen, "%s %s: more than %d settings on"
		    " the command line", option, arg, CONFIG_SETTINGS_MAX);
		return -1;
	}
	cs = &set->cs_list[set->cs_count];
	memset(cs, 0, sizeof(*cs));
	/* A setting too long to show whole is shown cut, and says so. */
	if ((size_t)snprintf(cs->cs_origin, sizeof(cs->cs_origin), "%s %s",
	    option, arg) >= sizeof(cs->cs_origin))
		memcpy(cs->cs_origin + sizeof(cs->cs_origin) - 4, "...", 4);
	if (listen) {
		snprintf(cs->cs_section, sizeof(cs->cs_section), "server");
		snprintf(cs->cs_key, sizeof(cs->cs_key), "listen");
		cs->cs_value = arg;
		set->cs_count++;
		return 0;
	}
	dot = strchr(arg, '.');
	eq = strchr(arg, '=');
	if (dot == NULL || eq == NULL || dot > eq || dot == arg ||
	    eq == dot + 1) {
		config_set_error(err, errlen, "%s %s: expected"
		    " SECTION.KEY=VALUE, as in connection.max_line=4k", option,
		    arg);
		return -1;
	}
	/* A name too long for its buffer is cut: no such key exists anyway. */
	snprintf(cs->cs_section, sizeof(cs->cs_section), "%.*s",
	    (int)(dot - arg), arg);
	snprintf(cs->cs_key, sizeof(cs->cs_key), "%.*s", (int)(eq - dot - 1),
	    dot + 1);
	cs->cs_value = eq + 1;
	set->cs_count++;
	return 0;
}

/*
 * The metrics endpoint on an address the echo service listens on would
 * fail to bind at start, or worse, steal its port later: refuse it with
 * the configuration.  Port 0, any free port, never clashes.
 */
static enum config_status
config_check_metrics(const struct config *cfg, const char *path, char *err,
    size_t errlen)
{
	for (unsigned i = 0; i < cfg->nmetrics_listen; i++) {
		const struct addr *m = &cfg->metrics_listen[i];

		if (m->ss.ss_family != AF_UNIX &&
		    addr_port((const struct sockaddr *)&m->ss) == 0)
			continue;
		for (unsigned j = 0; j < cfg->nlisten; j++)
			if (strcmp(cfg->listen[j].text, m->text) == 0) {
				config_set_error(err, errlen, "%s: [metrics] listen:"
				    " %s is also a [server] listen address",
				    path != NULL ? path : "command line", m->text);
				return CONFIG_INVALID;
			}
	}
	return CONFIG_OK;
}

/* Every setting, each checked as a line of a file is. */
static enum config_status
config_apply_settings(struct config *cfg, const struct config_settings *set,
    char *err, size_t errlen)
{
	struct config_parse cp;

	memset(&cp, 0, sizeof(cp));
	cp.cp_path = "command line";
	cp.cp_cfg = cfg;
	cp.cp_err = err;
	cp.cp_errlen = errlen;
	for (unsigned i = 0; i < set->cs_count && cp.cp_error_line == 0; i++) {
		const struct config_setting *cs = &set->cs_list[i];

		cp.cp_line = i + 1;
		cp.cp_origin = cs->cs_origin;
		(void)config_handler(&cp, cs->cs_section, cs->cs_key,
		    cs->cs_value);
	}
	return cp.cp_error_line != 0 ? CONFIG_INVALID : CONFIG_OK;
}

enum config_status
config_read(const char *path, const struct config_settings *set,
    struct config *cfg, char *err, size_t errlen)
{
	enum config_status status = CONFIG_OK;

	if (path != NULL)
		status = config_load(path, cfg, err, errlen);
	else
		config_defaults(cfg);
	if (status == CONFIG_OK && set != NULL && set->cs_count > 0)
		status = config_apply_settings(cfg, set, err, errlen);
	if (status != CONFIG_OK)
		return status;
	return config_check_metrics(cfg, path, err, errlen);
}
