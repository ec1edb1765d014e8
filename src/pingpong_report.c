#include "pingpong_report.h"

#include <inttypes.h>

static double
per_second(uint64_t n, double seconds)
{
	return seconds > 0 ? (double)n / seconds : 0.;
}

/* Echoed payload, newlines included, in megabytes (10^6) per second. */
static double
mb_per_second(const struct pp_report *r)
{
	return per_second(r->r_lines, r->r_seconds) * (double)r->r_size / 1e6;
}

static double
pct_us(const struct pp_report *r, double pct)
{
	return (double)pp_hist_percentile(r->r_hist, pct) / 1e3;
}

void
pp_report_text(FILE *out, const struct pp_report *r)
{
	const char *unit = r->r_cycle ? "cycles" : "lines";

	if (r->r_cycle)
		fprintf(out, "--- %s pingpong cycle: %" PRIu32 " connections, %zu"
		    " bytes per line, %" PRIu32 " thread%s ---\n", r->r_target,
		    r->r_conns, r->r_size, r->r_threads,
		    r->r_threads == 1 ? "" : "s");
	else
		fprintf(out, "--- %s pingpong bench: %" PRIu32 " connections,"
		    " depth %" PRIu32 ", %zu bytes per line, %" PRIu32
		    " thread%s ---\n", r->r_target, r->r_conns, r->r_depth,
		    r->r_size, r->r_threads, r->r_threads == 1 ? "" : "s");
	fprintf(out, "%" PRIu64 " %s in %.3f s%s: %.0f %s/s", r->r_lines, unit,
	    r->r_seconds, r->r_interrupted ? " (interrupted)" : "",
	    per_second(r->r_lines, r->r_seconds), unit);
	if (!r->r_cycle)
		fprintf(out, ", %.2f MB/s", mb_per_second(r));
	fprintf(out, "\n%s p50/p90/p99/p99.9/max = %.1f/%.1f/%.1f/%.1f/%.1f us\n",
	    r->r_cycle ? "cycle time" : "latency", pct_us(r, 50), pct_us(r, 90),
	    pct_us(r, 99), pct_us(r, 99.9), (double)r->r_hist->h_max / 1e3);
	fprintf(out, "%" PRIu64 " corrupted, %" PRIu64 " errors", r->r_corrupted,
	    r->r_errors);
	if (r->r_port_waits > 0)
		fprintf(out, ", %" PRIu64 " connects waited for a local port",
		    r->r_port_waits);
	if (r->r_first_error[0] != '\0')
		fprintf(out, " (first: %s)", r->r_first_error);
	fputc('\n', out);
}

/* s as the body of a JSON string. */
static void
json_string(FILE *out, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
}

void
pp_report_json(FILE *out, const struct pp_report *r)
{
	fprintf(out, "{\"mode\":\"%s\",\"target\":\"",
	    r->r_cycle ? "cycle" : "bench");
	json_string(out, r->r_target);
	fprintf(out, "\",\"conns\":%" PRIu32 ",\"depth\":%" PRIu32
	    ",\"size\":%zu,\"threads\":%" PRIu32 ",\"seconds\":%.3f",
	    r->r_conns, r->r_depth, r->r_size, r->r_threads, r->r_seconds);
	if (r->r_cycle)
		fprintf(out, ",\"cycles\":%" PRIu64 ",\"cycles_per_sec\":%.0f"
		    ",\"port_waits\":%" PRIu64, r->r_lines,
		    per_second(r->r_lines, r->r_seconds), r->r_port_waits);
	fprintf(out, ",\"lines\":%" PRIu64 ",\"lines_per_sec\":%.0f"
	    ",\"mb_per_sec\":%.3f", r->r_lines,
	    per_second(r->r_lines, r->r_seconds), mb_per_second(r));
	fprintf(out, ",\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f"
	    ",\"p999_us\":%.1f,\"max_us\":%.1f", pct_us(r, 50), pct_us(r, 90),
	    pct_us(r, 99), pct_us(r, 99.9), (double)r->r_hist->h_max / 1e3);
	fprintf(out, ",\"corrupted\":%" PRIu64 ",\"errors\":%" PRIu64
	    ",\"interrupted\":%s,\"first_error\":\"", r->r_corrupted,
	    r->r_errors, r->r_interrupted ? "true" : "false");
	json_string(out, r->r_first_error);
	fputs("\"}\n", out);
}
