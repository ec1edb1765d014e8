#include "metrics_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_TEXT_FIRST 4096         /* bytes first allocated */

static void metrics_printf(struct metrics_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
metrics_printf(struct metrics_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	for (;;) {
		size_t room = t->cap - t->len;

		va_start(ap, fmt);
		n = vsnprintf(t->buf != NULL ? t->buf + t->len : NULL, room, fmt,
		    ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if ((size_t)n < room)
			break;
		{
			size_t cap = t->cap == 0 ? METRICS_TEXT_FIRST : t->cap * 2;
			char *p;

			while (cap - t->len <= (size_t)n)
				cap *= 2;
			p = realloc(t->buf, cap);
			if (p == NULL) {
				t->failed = true;
				return;
			}
			t->buf = p;
			t->cap = cap;
		}
	}
	t->len += (size_t)n;
}

/* The HELP and TYPE lines of one metric. */
static void
metrics_family(struct metrics_text *t, const char *name, const char *type,
    const char *help)
{
	metrics_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

/* Which figure of a worker a per-worker metric shows. */
typedef uint64_t (*metrics_pick)(const struct server_figures *f);

static uint64_t pick_open(const struct server_figures *f) { return f->open; }
static uint64_t pick_accepted(const struct server_figures *f) { return f->accepted; }
static uint64_t pick_received(const struct server_figures *f) { return f->bytes_received; }
static uint64_t pick_echoed(const struct server_figures *f) { return f->bytes_echoed; }
static uint64_t pick_lines(const struct server_figures *f) { return f->lines_echoed; }
static uint64_t pick_fragments(const struct server_figures *f) { return f->fragments; }
static uint64_t pick_held(const struct server_figures *f) { return f->bytes_held; }
static uint64_t pick_buffers(const struct server_figures *f) { return f->buffers; }
static uint64_t pick_pauses(const struct server_figures *f) { return f->accept_pauses; }

/* A metric with one sample per worker. */
static void
metrics_per_worker(struct metrics_text *t, const struct metrics_sample *m,
    const char *name, const char *type, const char *help, metrics_pick pick)
{
	metrics_family(t, name, type, help);
	for (unsigned w = 0; w < m->workers; w++)
		metrics_printf(t, "%s{worker=\"%u\"} %llu\n", name, w + 1,
		    (unsigned long long)pick(&m->per_worker[w]));
}

/* A counter per worker and cause. */
static void
metrics_by_reason(struct metrics_text *t, const struct metrics_sample *m,
    const char *name, const char *help, const char *const *reasons,
    unsigned nreasons, size_t offset)
{
	metrics_family(t, name, "counter", help);
	for (unsigned w = 0; w < m->workers; w++) {
		const uint64_t *v = (const uint64_t *)(const void *)
		    ((const char *)&m->per_worker[w] + offset);

		for (unsigned r = 0; r < nreasons; r++)
			metrics_printf(t, "%s{worker=\"%u\",reason=\"%s\"} %llu\n",
			    name, w + 1, reasons[r], (unsigned long long)v[r]);
	}
}

int
metrics_text_render(const struct metrics_sample *m, struct metrics_text *t)
{
	metrics_family(t, "pingpongd_build_info", "gauge",
	    "Always 1; the version pingpongd was built as.");
	metrics_printf(t, "pingpongd_build_info{version=\"%s\"} 1\n",
	    m->version);
	metrics_family(t, "pingpongd_start_time_seconds", "gauge",
	    "When the daemon started, in seconds since the Unix epoch.");
	metrics_printf(t, "pingpongd_start_time_seconds %.3f\n", m->start_time);
	metrics_family(t, "pingpongd_workers", "gauge",
	    "Worker threads serving connections.");
	metrics_printf(t, "pingpongd_workers %u\n", m->workers);

	metrics_per_worker(t, m, "pingpongd_connections_open", "gauge",
	    "Connections open now.", pick_open);
	metrics_per_worker(t, m, "pingpongd_connections_accepted_total",
	    "counter", "Connections taken from a listen queue, refused ones"
	    " included.", pick_accepted);
	metrics_by_reason(t, m, "pingpongd_connections_refused_total",
	    "Connections closed before any echo, by reason.",
	    server_refuse_names, SERVER_REFUSE_CAUSES,
	    offsetof(struct server_figures, refused));
	metrics_by_reason(t, m, "pingpongd_connections_closed_total",
	    "Connections closed after being served, by reason.",
	    server_close_names, SERVER_CLOSE_CAUSES,
	    offsetof(struct server_figures, closed));
	metrics_per_worker(t, m, "pingpongd_received_bytes_total", "counter",
	    "Bytes read from clients, PROXY headers not included.",
	    pick_received);
	metrics_per_worker(t, m, "pingpongd_echoed_bytes_total", "counter",
	    "Bytes of echo the kernel took.", pick_echoed);
	metrics_per_worker(t, m, "pingpongd_echoed_lines_total", "counter",
	    "Newlines in the echo.", pick_lines);
	metrics_per_worker(t, m, "pingpongd_fragments_total", "counter",
	    "Echoes cut at max_line bytes with no newline.", pick_fragments);
	metrics_per_worker(t, m, "pingpongd_held_bytes", "gauge",
	    "Bytes held: partial lines and echo the kernel has not taken.",
	    pick_held);
	metrics_per_worker(t, m, "pingpongd_buffers", "gauge",
	    "Connection buffers in use.", pick_buffers);
	metrics_per_worker(t, m, "pingpongd_accept_pauses_total", "counter",
	    "Times accept paused because descriptors ran out.", pick_pauses);

	metrics_family(t, "pingpongd_reloads_total", "counter",
	    "Configuration reloads, by result.");
	metrics_printf(t, "pingpongd_reloads_total{result=\"success\"} %llu\n",
	    (unsigned long long)m->reloads_ok);
	metrics_printf(t, "pingpongd_reloads_total{result=\"failure\"} %llu\n",
	    (unsigned long long)m->reloads_failed);
	metrics_family(t, "pingpongd_log_lines_dropped_total", "counter",
	    "Log lines dropped because the reader of stderr fell behind.");
	metrics_printf(t, "pingpongd_log_lines_dropped_total %llu\n",
	    (unsigned long long)m->log_dropped);

	metrics_family(t, "process_cpu_seconds_total", "counter",
	    "Total user and system CPU time spent in seconds.");
	metrics_printf(t, "process_cpu_seconds_total %.2f\n",
	    m->process.cpu_seconds);
	metrics_family(t, "process_resident_memory_bytes", "gauge",
	    "Resident memory size in bytes.");
	metrics_printf(t, "process_resident_memory_bytes %llu\n",
	    (unsigned long long)m->process.resident_bytes);
	metrics_family(t, "process_virtual_memory_bytes", "gauge",
	    "Virtual memory size in bytes.");
	metrics_printf(t, "process_virtual_memory_bytes %llu\n",
	    (unsigned long long)m->process.virtual_bytes);
	metrics_family(t, "process_open_fds", "gauge",
	    "Number of open file descriptors.");
	metrics_printf(t, "process_open_fds %llu\n",
	    (unsigned long long)m->process.open_fds);
	metrics_family(t, "process_max_fds", "gauge",
	    "Maximum number of open file descriptors.");
	metrics_printf(t, "process_max_fds %llu\n",
	    (unsigned long long)m->process.max_fds);
	metrics_family(t, "process_start_time_seconds", "gauge",
	    "Start time of the process since unix epoch in seconds.");
	metrics_printf(t, "process_start_time_seconds %.2f\n",
	    m->process.start_time);
	return t->failed ? -1 : 0;
}

void
metrics_text_free(struct metrics_text *t)
{
	free(t->buf);
	memset(t, 0, sizeof(*t));
}
