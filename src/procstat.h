/*
 * This process as the kernel sees it, for the standard process_* metrics:
 * CPU time, memory, descriptors and start time, read from /proc.
 */
#ifndef PINGPONGD_PROCSTAT_H
#define PINGPONGD_PROCSTAT_H

#include <stdint.h>

struct procstat {
	double cpu_seconds;             /* user and system time so far */
	uint64_t resident_bytes;        /* resident set size */
	uint64_t virtual_bytes;         /* virtual memory size */
	uint64_t open_fds;              /* descriptors open now */
	uint64_t max_fds;               /* the soft limit on them */
	double start_time;              /* when the process started, seconds
	                                   since the Unix epoch */
};

/* Read it now; -1 when /proc cannot be read (fields then 0). */
int procstat_read(struct procstat *ps);

#endif
