#include "metrics.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#define METRICS_PATH "/metrics"
#define METRICS_BACKLOG 64              /* scrapers waiting to be accepted */
#define METRICS_LOG_MAX 512             /* bytes of one libmicrohttpd message */

static const char metrics_not_found[] = "not found: the metrics are at "
    METRICS_PATH "\n";
static const char metrics_not_allowed[] = "method not allowed: use GET or"
    " HEAD\n";
static const char metrics_failed[] = "the metrics could not be rendered\n";

static void metrics_deadline_cb(struct ev_loop *loop, ev_timer *w,
    int revents);

void
metrics_init(struct metrics *m, struct ev_loop *loop, metrics_render_fn render,
    void *arg)
{
	memset(m, 0, sizeof(*m));
	m->loop = loop;
	m->render = render;
	m->render_arg = arg;
	ev_timer_init(&m->deadline_timer, metrics_deadline_cb, 1.0, 1.0);
	m->deadline_timer.data = m;
}

/* The client a connection's socket context points at, or NULL. */
static struct metrics_client *
metrics_client_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info;

	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return info != NULL ? info->socket_context : NULL;
}

/* A client connects, or goes: keep the list its deadline is checked on. */
static void
metrics_notify_connection(void *cls, struct MHD_Connection *conn,
    void **socket_context, enum MHD_ConnectionNotificationCode toe)
{
	struct metrics_endpoint *ep = cls;
	struct metrics *m = ep->owner;
	struct metrics_client *c = *socket_context;
	const union MHD_ConnectionInfo *info;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		info = MHD_get_connection_info(conn,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		c = calloc(1, sizeof(*c));
		if (c == NULL || info == NULL) {
			free(c);
			return;
		}
		c->fd = info->connect_fd;
		c->waiting_since = ev_now(m->loop);
		c->next = m->clients;
		if (m->clients != NULL)
			m->clients->prev = c;
		m->clients = c;
		*socket_context = c;
		if (!ev_is_active(&m->deadline_timer))
			ev_timer_again(m->loop, &m->deadline_timer);
		return;
	}
	if (c == NULL)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		m->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c);
	*socket_context = NULL;
	if (m->clients == NULL)
		ev_timer_stop(m->loop, &m->deadline_timer);
}

/* An answer is out: the client's clock starts again for the next request. */
static void
metrics_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct metrics_endpoint *ep = cls;
	struct metrics_client *c = metrics_client_of(conn);

	(void)req_cls;
	(void)toe;
	if (c != NULL)
		c->waiting_since = ev_now(ep->owner->loop);
}

/*
 * Cut the clients whose request is not in by their deadline: shut down,
 * the socket reads as closed and libmicrohttpd lets the client go.
 */
static void
metrics_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct metrics *m = w->data;
	double now = ev_now(loop);

	(void)revents;
	for (struct metrics_client *c = m->clients; c != NULL; c = c->next)
		if (c->waiting_since > 0 &&
		    now - c->waiting_since >= (double)m->timeout_s) {
			log_debug("metrics: a client took over %us to send its"
			    " request; closing it", m->timeout_s);
			(void)shutdown(c->fd, SHUT_RDWR);
			c->waiting_since = 0;
		}
}

/* libmicrohttpd's own complaints: a client's mistake, so only at debug. */
static void
metrics_mhd_log(void *arg, const char *fmt, va_list ap)
{
	struct metrics_endpoint *ep = arg;
	char line[METRICS_LOG_MAX];
	size_t len;

	if (!log_enabled(LOG_LEVEL_DEBUG))
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	len = strlen(line);
	while (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	log_debug("metrics on %s: %s", ep->bound, line);
}

/* A fixed answer: 404, 405 (with Allow) or 500. */
static enum MHD_Result
metrics_refuse(struct MHD_Connection *conn, unsigned status, const char *text)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text,
	    MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "text/plain; charset=utf-8");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
metrics_answer(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **req_cls)
{
	struct metrics_endpoint *ep = cls;
	struct metrics *m = ep->owner;
	struct metrics_text text = { 0 };
	struct MHD_Response *r;
	enum MHD_Result ret;

	(void)version;
	(void)upload_data;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return metrics_refuse(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
		    metrics_not_allowed);
	/*
	 * The first call comes with the headers: answered only on the next,
	 * once the whole request is in, the connection stays open for the
	 * next scrape (an answer queued earlier makes libmicrohttpd close).
	 */
	if (*req_cls == NULL) {
		struct metrics_client *c = metrics_client_of(conn);

		/* The headers are in: this request is on time. */
		if (c != NULL)
			c->waiting_since = 0;
		*req_cls = ep;
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, METRICS_PATH) != 0)
		return metrics_refuse(conn, MHD_HTTP_NOT_FOUND,
		    metrics_not_found);
	if (m->render(m->render_arg, &text) == -1) {
		metrics_text_free(&text);
		return metrics_refuse(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    metrics_failed);
	}
	/* libmicrohttpd frees the text once sent; HEAD sends its length only. */
	r = MHD_create_response_from_buffer(text.len, text.buf,
	    MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		metrics_text_free(&text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    METRICS_CONTENT_TYPE);
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	m->requests++;
	return ret;
}

/* Wake again when libmicrohttpd next has something timed to do. */
static void
metrics_rearm(struct metrics_endpoint *ep)
{
	struct ev_loop *loop = ep->owner->loop;
	MHD_UNSIGNED_LONG_LONG ms;

	ev_timer_stop(loop, &ep->timer);
	if (MHD_get_timeout(ep->mhd, &ms) != MHD_YES)
		return;
	ev_timer_set(&ep->timer, (double)ms / 1000.0, 0.0);
	ev_timer_start(loop, &ep->timer);
}

static unsigned
metrics_connections(struct metrics_endpoint *ep)
{
	const union MHD_DaemonInfo *info;

	info = MHD_get_daemon_info(ep->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	return info != NULL ? info->num_connections : 0;
}

/*
 * At max_connections libmicrohttpd takes its listening socket off its
 * epoll set, and puts it back only at the start of a later run, while the
 * connections that close are counted off at the end of a run.  When the
 * last of them closes nothing else would wake it, and the port would
 * accept no one again: so run once more whenever the count went down.
 * The count falls with each extra run, so this ends.
 */
static void
metrics_run(struct metrics_endpoint *ep)
{
	unsigned before;

	do {
		before = metrics_connections(ep);
		(void)MHD_run(ep->mhd);
	} while (metrics_connections(ep) < before);
	metrics_rearm(ep);
}

static void
metrics_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	metrics_run(w->data);
}

static void
metrics_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	metrics_run(w->data);
}

/* Put libmicrohttpd on ep's listening socket and ep on the loop. */
static int
metrics_start(struct metrics *m, struct metrics_endpoint *ep, char *err,
    size_t errlen)
{
	const union MHD_DaemonInfo *info;

	ep->owner = m;
	/* The logger first, as libmicrohttpd asks, so that it hears everything. */
	ep->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL,
	    NULL, metrics_answer, ep,
	    MHD_OPTION_EXTERNAL_LOGGER, metrics_mhd_log, ep,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)ep->fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)m->max_connections,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)m->timeout_s,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)METRICS_MEMORY_LIMIT,
	    MHD_OPTION_NOTIFY_CONNECTION, metrics_notify_connection, ep,
	    MHD_OPTION_NOTIFY_COMPLETED, metrics_completed, ep,
	    MHD_OPTION_END);
	if (ep->mhd == NULL) {
		snprintf(err, errlen, "metrics on %s: the HTTP server does not"
		    " start", ep->addr.text);
		return -1;
	}
	info = MHD_get_daemon_info(ep->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	ev_io_init(&ep->io, metrics_io_cb, info->epoll_fd, EV_READ);
	ep->io.data = ep;
	ev_timer_init(&ep->timer, metrics_timer_cb, 0.0, 0.0);
	ep->timer.data = ep;
	ev_io_start(m->loop, &ep->io);
	metrics_rearm(ep);
	return 0;
}

/*
 * Take libmicrohttpd off ep, its clients closed; with keep_fd the
 * listening socket stays for the next one, else it goes, file and all.
 */
static void
metrics_stop(struct metrics *m, struct metrics_endpoint *ep, bool keep_fd)
{
	ev_io_stop(m->loop, &ep->io);
	ev_timer_stop(m->loop, &ep->timer);
	if (ep->mhd != NULL) {
		/* Quiesced, libmicrohttpd leaves the socket to us. */
		(void)MHD_quiesce_daemon(ep->mhd);
		MHD_stop_daemon(ep->mhd);
		ep->mhd = NULL;
	}
	if (!keep_fd) {
		close(ep->fd);
		net_unix_remove(&ep->addr, &ep->file);
		ep->fd = -1;
	}
}

static int
metrics_open(struct metrics *m, const struct addr *addr, char *err,
    size_t errlen)
{
	struct metrics_endpoint *ep = &m->ep[m->n];

	memset(ep, 0, sizeof(*ep));
	ep->addr = *addr;
	ep->fd = net_listen(addr, METRICS_BACKLOG, false, err, errlen);
	if (ep->fd == -1)
		return -1;
	(void)net_unix_identify(addr, &ep->file);
	net_local_text(ep->fd, ep->bound, sizeof(ep->bound));
	if (metrics_start(m, ep, err, errlen) == -1) {
		metrics_stop(m, ep, false);
		return -1;
	}
	m->n++;
	log_info("metrics: serving %s on %s", METRICS_PATH, ep->bound);
	return 0;
}

static bool
metrics_listed(const struct config *cfg, const char *text)
{
	for (unsigned i = 0; i < cfg->nmetrics_listen; i++)
		if (strcmp(cfg->metrics_listen[i].text, text) == 0)
			return true;
	return false;
}

static int
metrics_find(const struct metrics *m, const char *text)
{
	for (unsigned i = 0; i < m->n; i++)
		if (strcmp(m->ep[i].addr.text, text) == 0)
			return (int)i;
	return -1;
}

/*
 * Drop endpoint i, closing it, and close the gap.  A watcher must not move
 * while libev holds it, nor an endpoint while libmicrohttpd points at it:
 * those after i stop before they move and start again after.
 */
static void
metrics_drop(struct metrics *m, unsigned i)
{
	for (unsigned j = i + 1; j < m->n; j++)
		metrics_stop(m, &m->ep[j], true);
	metrics_stop(m, &m->ep[i], false);
	memmove(&m->ep[i], &m->ep[i + 1], sizeof(m->ep[0]) * (m->n - i - 1));
	m->n--;
	for (unsigned j = i; j < m->n; j++)
		if (metrics_start(m, &m->ep[j], NULL, 0) == -1)
			log_error("metrics: serving on %s again failed",
			    m->ep[j].bound);
}

int
metrics_apply(struct metrics *m, const struct config *cfg, char *err,
    size_t errlen)
{
	unsigned before = m->n, timeout_s = cfg->metrics_timeout_ms / 1000;
	bool changed = cfg->metrics_connections != m->max_connections ||
	    timeout_s != m->timeout_s;
	unsigned old_connections = m->max_connections, old_timeout = m->timeout_s;

	m->max_connections = cfg->metrics_connections;
	m->timeout_s = timeout_s;
	for (unsigned i = 0; i < cfg->nmetrics_listen; i++) {
		if (metrics_find(m, cfg->metrics_listen[i].text) != -1)
			continue;
		if (m->n == CONFIG_LISTEN_MAX) {
			snprintf(err, errlen, "more than %d metrics endpoints",
			    CONFIG_LISTEN_MAX);
		} else if (metrics_open(m, &cfg->metrics_listen[i], err,
		    errlen) == 0) {
			continue;
		}
		while (m->n > before) {
			log_info("metrics: no longer serving on %s: the reload is"
			    " rolled back", m->ep[m->n - 1].bound);
			metrics_stop(m, &m->ep[--m->n], false);
		}
		m->max_connections = old_connections;
		m->timeout_s = old_timeout;
		return -1;
	}
	for (unsigned i = 0; i < m->n;) {
		if (!metrics_listed(cfg, m->ep[i].addr.text)) {
			log_info("metrics: no longer serving on %s",
			    m->ep[i].bound);
			metrics_drop(m, i);
			continue;
		}
		/* New limits: a new HTTP server on the same socket. */
		if (changed && i < before) {
			metrics_stop(m, &m->ep[i], true);
			if (metrics_start(m, &m->ep[i], err, errlen) == -1)
				log_error("%s", err);
		}
		i++;
	}
	return 0;
}

void
metrics_close(struct metrics *m)
{
	while (m->n > 0)
		metrics_stop(m, &m->ep[--m->n], false);
	ev_timer_stop(m->loop, &m->deadline_timer);
}
