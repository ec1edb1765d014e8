#include "procstat.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/*
 * The boot time, seconds since the epoch: start times count from it.
 * From the clocks, not /proc/stat, which a sandbox (systemd's
 * ProcSubset=pid) hides.
 */
static double
procstat_boot_time(void)
{
	struct timespec real, boot;

	clock_gettime(CLOCK_REALTIME, &real);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	return (double)(real.tv_sec - boot.tv_sec) +
	    (double)(real.tv_nsec - boot.tv_nsec) / 1e9;
}

static uint64_t
procstat_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	uint64_t n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	/* The directory's own descriptor is not ours. */
	return n > 0 ? n - 1 : 0;
}

int
procstat_read(struct procstat *ps)
{
	unsigned long long utime, stime, start, vsize, rss;
	double hz = (double)sysconf(_SC_CLK_TCK);
	long page = sysconf(_SC_PAGESIZE);
	struct rlimit rl;
	char buf[1024], *p;
	size_t n;
	FILE *f;

	memset(ps, 0, sizeof(*ps));
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		ps->max_fds = rl.rlim_cur;
	ps->open_fds = procstat_count_fds();
	f = fopen("/proc/self/stat", "re");
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold blanks and parentheses: skip past the last ')'. */
	p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u"
	    " %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %llu %llu", &utime,
	    &stime, &start, &vsize, &rss) != 5)
		return -1;
	ps->cpu_seconds = (double)(utime + stime) / hz;
	ps->virtual_bytes = vsize;
	ps->resident_bytes = rss * (uint64_t)page;
	ps->start_time = procstat_boot_time() + (double)start / hz;
	return 0;
}
