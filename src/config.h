/*
 * Configuration: the settings pingpongd runs with, their built-in defaults,
 * and the loader that turns an ini file into them.
 *
 * The loader is pure apart from reading the one file: it validates every
 * value, and on error leaves a one-line message naming the file, the line,
 * the key and the reason.
 */
#ifndef PINGPONGD_CONFIG_H
#define PINGPONGD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"
#include "log.h"

#define CONFIG_LISTEN_MAX 16            /* listen lines in one file */
#define CONFIG_PROXY_FROM_MAX 16        /* networks in proxy_from */
#define CONFIG_ERROR_MAX 512            /* bytes of an error message */
#define CONFIG_SETTINGS_MAX 64          /* -l and -o settings on one command line */
#define CONFIG_ORIGIN_MAX 256           /* bytes of a setting as given, in messages */
#define CONFIG_NAME_MAX 50              /* bytes of a section or key name, NUL included */

#define CONFIG_DEFAULT_LISTEN "127.0.0.1:6567"
#define CONFIG_DEFAULT_PROXY_FROM "127.0.0.0/8 ::1"  /* loopback only */
#define CONFIG_DEFAULT_BACKLOG 511
#define CONFIG_DEFAULT_MAX_CONNECTIONS 10000
#define CONFIG_DEFAULT_MAX_LINE (64u * 1024)        /* bytes */
#define CONFIG_DEFAULT_IDLE_TIMEOUT_MS (300u * 1000)
#define CONFIG_DEFAULT_SHUTDOWN_TIMEOUT_MS (10u * 1000)
#define CONFIG_DEFAULT_MAX_PER_IP 0                 /* unlimited */
#define CONFIG_DEFAULT_WORKERS 1
#define CONFIG_DEFAULT_LINE_TIMEOUT_MS (30u * 1000)
#define CONFIG_DEFAULT_TCP_KEEPALIVE_MS (300u * 1000)

/* Ranges every value is checked against (inclusive). */
#define CONFIG_BACKLOG_MIN 1
#define CONFIG_BACKLOG_MAX 65535
#define CONFIG_MAX_CONNECTIONS_MIN 1
#define CONFIG_MAX_CONNECTIONS_MAX 1000000
#define CONFIG_MAX_LINE_MIN 1
#define CONFIG_MAX_LINE_MAX (64u * 1024 * 1024)     /* bytes */
#define CONFIG_IDLE_TIMEOUT_MAX_MS (7u * 24 * 3600 * 1000)
#define CONFIG_SHUTDOWN_TIMEOUT_MAX_MS (3600u * 1000)
#define CONFIG_MAX_PER_IP_MAX CONFIG_MAX_CONNECTIONS_MAX
#define CONFIG_WORKERS_MAX 64                       /* threads; 0 stands for auto */
#define CONFIG_LINE_TIMEOUT_MAX_MS CONFIG_IDLE_TIMEOUT_MAX_MS
#define CONFIG_TCP_KEEPALIVE_MAX_MS (32767u * 1000)  /* TCP_KEEPIDLE's limit */
#define CONFIG_DEFER_ACCEPT_MAX_MS (3600u * 1000)
#define CONFIG_DEFAULT_METRICS_CONNECTIONS 16
#define CONFIG_METRICS_CONNECTIONS_MAX 1024
#define CONFIG_DEFAULT_METRICS_TIMEOUT_MS (10u * 1000)
#define CONFIG_METRICS_TIMEOUT_MIN_MS 1000u          /* whole seconds: HTTP's timer */
#define CONFIG_METRICS_TIMEOUT_MAX_MS (3600u * 1000)

/* [connection] framing: what completes an echo. */
enum config_framing {
	CONFIG_FRAMING_LINES,           /* a newline (or max_line bytes) */
	CONFIG_FRAMING_BYTES,           /* every byte: RFC 862 */
};

/* [server] io: how connections move their bytes. */
enum config_io {
	CONFIG_IO_EPOLL,                /* readiness: read and write calls */
	CONFIG_IO_URING,                /* completions: an io_uring per worker */
};

/* Outcome of config_load(); the values are the sysexits(3) exit statuses. */
enum config_status {
	CONFIG_OK = 0,
	CONFIG_UNREADABLE = 66,         /* EX_NOINPUT: missing, unreadable, a directory */
	CONFIG_INVALID = 78,            /* EX_CONFIG: a bad line, key or value */
};

struct config {
	struct addr listen[CONFIG_LISTEN_MAX];      /* [server] listen, in file order */
	unsigned nlisten;               /* entries of listen in use, >= 1 */
	int backlog;                    /* [server] backlog: listen(2) queue length */
	uint32_t defer_accept_ms;       /* [server] defer_accept: 0 = off */
	uint32_t workers;               /* [server] workers: threads, 0 = auto (one per CPU) */
	uint32_t io;                    /* [server] io: enum config_io */
	uint32_t proxy_protocol;        /* [server] proxy_protocol: 1 = on */
	struct addr_net proxy_from[CONFIG_PROXY_FROM_MAX]; /* [server] proxy_from */
	unsigned nproxy_from;           /* entries of proxy_from in use */
	uint32_t max_connections;       /* [server] max_connections: open connections at once */
	uint32_t framing;               /* [connection] framing: enum config_framing */
	uint32_t max_line;              /* [connection] max_line: bytes held before a fragment */
	uint32_t idle_timeout_ms;       /* [connection] idle_timeout: 0 = never */
	uint32_t max_per_ip;            /* [connection] max_per_ip: 0 = unlimited */
	uint32_t line_timeout_ms;       /* [connection] line_timeout: 0 = never */
	uint32_t tcp_keepalive_ms;      /* [connection] tcp_keepalive: 0 = off */
	struct addr metrics_listen[CONFIG_LISTEN_MAX]; /* [metrics] listen, none by default */
	unsigned nmetrics_listen;       /* entries of metrics_listen in use */
	uint32_t metrics_connections;   /* [metrics] max_connections: HTTP clients at once */
	uint32_t metrics_timeout_ms;    /* [metrics] timeout: for a silent HTTP client */
	enum log_level log_level;       /* [daemon] log_level */
	uint32_t shutdown_timeout_ms;   /* [daemon] shutdown_timeout: drain time on SIGTERM */
};

/*
 * One setting from the command line, "-o SECTION.KEY=VALUE" or "-l ADDR"
 * (the same as -o server.listen=ADDR), applied over the file as if it
 * were one more line of it.
 */
struct config_setting {
	char cs_origin[CONFIG_ORIGIN_MAX]; /* as given, for messages: "-o server.backlog=5" */
	char cs_section[CONFIG_NAME_MAX]; /* "server" */
	char cs_key[CONFIG_NAME_MAX];   /* "backlog" */
	const char *cs_value;           /* "5": the argument's text, kept by the caller */
};

/* The command line's settings, in their order. */
struct config_settings {
	struct config_setting cs_list[CONFIG_SETTINGS_MAX];
	unsigned cs_count;              /* entries of cs_list in use */
};

/*
 * Add the argument of option (spelled as given: "-o", "--set", "-l" or
 * "--listen") to set.  Returns 0, or -1 with the reason in err when the
 * argument is malformed (no '.' before an '=', an empty name) or there are
 * too many: a usage error.  What the value means is checked by
 * config_read().
 */
int config_setting_add(struct config_settings *set, const char *option,
    const char *arg, char *err, size_t errlen);

/*
 * The configuration to run with: the built-in defaults, or the file at
 * path when it is not NULL, then every setting of set (may be NULL) over
 * it.  A setting of a list key (listen, proxy_from) replaces the file's
 * list with the command line's.  On error err names the file and line, or
 * the setting as given, and the key.
 */
enum config_status config_read(const char *path,
    const struct config_settings *set, struct config *cfg, char *err,
    size_t errlen);

/* Fill cfg with the built-in defaults (the values in conf/pingpongd.ini). */
void config_defaults(struct config *cfg);

/*
 * Read the ini file at path into cfg, starting from the defaults.  A file
 * with no listen line keeps the default listen address.  On error cfg is
 * left unspecified and err holds "PATH:LINE: [section] key: reason" (or
 * "PATH: reason" when the file itself is at fault).
 */
enum config_status config_load(const char *path, struct config *cfg,
    char *err, size_t errlen);

/*
 * The same for a file already in memory (len bytes at buf, NUL bytes
 * included, which are errors); path only names it in messages.  This is
 * what the fuzzer drives.
 */
enum config_status config_parse_buffer(const char *path, const char *buf,
    size_t len, struct config *cfg, char *err, size_t errlen);

/*
 * Parse a listen value, "IPv4:PORT" or "[IPv6]:PORT", into out.  Returns
 * 0, or -1 with '"VALUE": reason' in err.
 */
int config_parse_listen(const char *text, struct addr *out, char *err,
    size_t errlen);

/*
 * Write every setting of cfg into buf as "section.key = value" lines, in the
 * order of the keys, in one canonical form (sizes in bytes, durations in
 * "ms").  Returns the length of the whole text, as snprintf does, even when
 * len was too small for it; buf is always NUL-terminated when len > 0.
 */
int config_format(const struct config *cfg, char *buf, size_t len);

/*
 * "2 listener(s), max_connections 10000, max_line 65536, idle_timeout
 * 300000ms, io epoll": the settings a start or a reload logs.
 */
void config_summary(const struct config *cfg, char *buf, size_t len);

/* "epoll" or "io_uring": the word of an enum config_io. */
const char *config_io_text(uint32_t io);

/* True when sa lies in one of the networks of proxy_from. */
int config_proxy_trusted(const struct config *cfg, const struct sockaddr *sa);

#endif
