/*
 * A service manager's end of the notify protocol, for the tests: bind a
 * datagram socket at PATH and print every notification received, one
 * datagram per line with its newlines shown as '|', until SIGTERM or until
 * SECONDS pass with nothing received.
 *
 *   notify_listener PATH SECONDS
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct sigaction sa = { .sa_handler = on_term };
	char msg[4096];
	int fd, seconds;

	if (argc != 3 || strlen(argv[1]) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "usage: notify_listener PATH SECONDS\n");
		return 64;
	}
	seconds = atoi(argv[2]);
	sigaction(SIGTERM, &sa, NULL);
	strcpy(sun.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		perror("notify_listener: bind");
		return 71;
	}
	/* The tests wait for this line before starting the daemon. */
	printf("LISTENING\n");
	fflush(stdout);
	while (!stop) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int r = poll(&pfd, 1, seconds * 1000);
		ssize_t n;

		if (r == 0)
			break;
		if (r == -1) {
			if (errno == EINTR)
				continue;
			perror("notify_listener: poll");
			return 71;
		}
		n = recv(fd, msg, sizeof(msg) - 1, 0);
		if (n == -1)
			continue;
		for (ssize_t i = 0; i < n; i++)
			if (msg[i] == '\n')
				msg[i] = '|';
		msg[n] = '\0';
		printf("%s\n", msg);
		fflush(stdout);
	}
	close(fd);
	unlink(argv[1]);
	return 0;
}
