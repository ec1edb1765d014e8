/*
 * Clients that netcat cannot play, for the integration tests.  Each mode is
 * bounded in count and time and exits non-zero when the echo is wrong.
 *
 *   loadclient hold PORT COUNT BYTES SOURCES
 *       Open COUNT connections, spread over source addresses 127.0.0.1 ..
 *       127.0.0.SOURCES, each sending BYTES bytes with no newline.  Print
 *       "ready N" once all are open and sent, then wait for standard input
 *       to close, then close them all and print "closed N".
 *   loadclient roundtrips PORT COUNT SIZE
 *       One connection, COUNT lines of SIZE bytes one at a time, each echo
 *       checked; prints "roundtrips N max_ms X".
 *   loadclient flood PORT SECONDS
 *       One connection that writes as fast as the daemon takes it for
 *       SECONDS, reading and checking all its echo; prints "flood BYTES".
 *   loadclient reset PORT BYTES
 *       Connect, send BYTES bytes of lines, and close with SO_LINGER 0 so
 *       that the daemon sees a reset mid-echo.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SECONDS 120                 /* no mode runs longer than this */

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	fprintf(stderr, "loadclient: %s: %s\n", what, strerror(errno));
	exit(2);
}

static int
connect_from(int port, unsigned source)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd == -1)
		die("socket");
	if (source > 1) {
		int one = 1;

		/*
		 * Let connect() pick the port, by the whole address pair: a
		 * port bound before connecting is reserved for every
		 * destination until its TIME_WAIT ends, and thousands of
		 * them starve the connections of whatever runs next.
		 */
		(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
		    sizeof(one));
		sin.sin_addr.s_addr = htonl(0x7f000000u | source);
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
			die("bind source");
	}
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		die("connect");
	return fd;
}

static void
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			die("write");
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Read exactly n bytes and compare them with want. */
static void
read_expect(int fd, const char *want, size_t n, double deadline)
{
	char buf[65536];
	size_t got = 0;

	while (got < n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		size_t chunk = n - got < sizeof(buf) ? n - got : sizeof(buf);
		ssize_t r;

		if (poll(&pfd, 1, (int)((deadline - now()) * 1000) + 1) <= 0) {
			fprintf(stderr, "loadclient: no echo in time\n");
			exit(1);
		}
		r = read(fd, buf, chunk);
		if (r <= 0) {
			fprintf(stderr, "loadclient: connection ended early\n");
			exit(1);
		}
		if (memcmp(buf, want + got, (size_t)r) != 0) {
			fprintf(stderr, "loadclient: echo differs at byte %zu\n",
			    got);
			exit(1);
		}
		got += (size_t)r;
	}
}

static int
mode_hold(int port, long count, long bytes, unsigned sources)
{
	char *payload = malloc((size_t)bytes + 1);
	int *fds = calloc((size_t)count, sizeof(*fds));
	struct rlimit rl;
	char c;

	if (payload == NULL || fds == NULL)
		die("malloc");
	/* Each connection costs this process a descriptor too. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)count + 16) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	memset(payload, 'h', (size_t)bytes);
	for (long i = 0; i < count; i++) {
		fds[i] = connect_from(port, 1 + (unsigned)(i % sources));
		if (bytes > 0)
			write_all(fds[i], payload, (size_t)bytes);
	}
	printf("ready %ld\n", count);
	fflush(stdout);
	while (read(STDIN_FILENO, &c, 1) > 0)
		;
	for (long i = 0; i < count; i++)
		close(fds[i]);
	printf("closed %ld\n", count);
	free(fds);
	free(payload);
	return 0;
}

static int
mode_roundtrips(int port, long count, long size)
{
	char *line = malloc((size_t)size);
	double worst = 0, deadline = now() + MAX_SECONDS;
	int fd = connect_from(port, 1), one = 1;

	if (line == NULL)
		die("malloc");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (long i = 0; i < count; i++) {
		double t0 = now();

		for (long j = 0; j < size - 1; j++)
			line[j] = (char)('a' + (i + j) % 26);
		line[size - 1] = '\n';
		write_all(fd, line, (size_t)size);
		read_expect(fd, line, (size_t)size, deadline);
		if (now() - t0 > worst)
			worst = now() - t0;
	}
	printf("roundtrips %ld max_ms %.3f\n", count, worst * 1000);
	close(fd);
	free(line);
	return 0;
}

/* Bytes of the flood stream at offset i: lines of varying length. */
static char
flood_byte(unsigned long long i)
{
	return i % 97 == 96 ? '\n' : (char)('0' + i % 43);
}

static int
mode_flood(int port, double seconds)
{
	int fd = connect_from(port, 1);
	unsigned long long sent = 0, got = 0;
	double end = now() + (seconds < MAX_SECONDS ? seconds : MAX_SECONDS);
	char out[65536], in[65536];

	while (now() < end) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLOUT };

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (pfd.revents & POLLOUT) {
			ssize_t w;

			for (size_t k = 0; k < sizeof(out); k++)
				out[k] = flood_byte(sent + k);
			w = send(fd, out, sizeof(out), MSG_DONTWAIT);
			if (w > 0)
				sent += (unsigned long long)w;
		}
		if (pfd.revents & POLLIN) {
			ssize_t r = recv(fd, in, sizeof(in), MSG_DONTWAIT);

			if (r == 0)
				break;
			for (ssize_t k = 0; k < r; k++)
				if (in[k] != flood_byte(got + (unsigned long long)k)) {
					fprintf(stderr, "loadclient: flood echo"
					    " differs at byte %llu\n",
					    got + (unsigned long long)k);
					return 1;
				}
			if (r > 0)
				got += (unsigned long long)r;
		}
	}
	printf("flood %llu\n", got);
	close(fd);
	return 0;
}

static int
mode_reset(int port, long bytes)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int fd = connect_from(port, 1);
	char *p = malloc((size_t)bytes);

	if (p == NULL)
		die("malloc");
	for (long i = 0; i < bytes; i++)
		p[i] = i % 50 == 49 ? '\n' : 'r';
	write_all(fd, p, (size_t)bytes);
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == -1)
		die("SO_LINGER");
	close(fd);
	free(p);
	printf("reset after %ld bytes\n", bytes);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "hold") == 0)
		return mode_hold(atoi(argv[2]), atol(argv[3]), atol(argv[4]),
		    (unsigned)atoi(argv[5]) ? (unsigned)atoi(argv[5]) : 1);
	if (argc == 5 && strcmp(argv[1], "roundtrips") == 0 && atol(argv[4]) > 0)
		return mode_roundtrips(atoi(argv[2]), atol(argv[3]), atol(argv[4]));
	if (argc == 4 && strcmp(argv[1], "flood") == 0)
		return mode_flood(atoi(argv[2]), atof(argv[3]));
	if (argc == 4 && strcmp(argv[1], "reset") == 0)
		return mode_reset(atoi(argv[2]), atol(argv[3]));
	fprintf(stderr, "usage: loadclient hold PORT COUNT BYTES SOURCES\n"
	    "       loadclient roundtrips PORT COUNT SIZE\n"
	    "       loadclient flood PORT SECONDS\n"
	    "       loadclient reset PORT BYTES\n");
	return 64;
}
