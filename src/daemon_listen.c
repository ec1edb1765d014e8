#include "daemon_listen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"
#include "service.h"

void
daemon_listen_init(struct daemon_listen *dl)
{
	memset(dl, 0, sizeof(*dl));
}

static void
daemon_listen_close_probes(struct daemon_listen *dl)
{
	for (unsigned i = 0; i < dl->nprobes; i++)
		close(dl->probes[i]);
	dl->nprobes = 0;
}

int
daemon_listen_adopt(struct daemon_listen *dl, int n, char *err,
    size_t errlen)
{
	if (n > SERVER_LISTENERS) {
		snprintf(err, errlen, "%d sockets passed by the service manager;"
		    " at most %d are served", n, SERVER_LISTENERS);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		struct server_shared *sh = &dl->shared.list[dl->shared.n];
		int fd = SERVICE_FDS_START + i;
		int flags = fcntl(fd, F_GETFL);

		if (!service_is_listening_socket(fd)) {
			snprintf(err, errlen, "descriptor %d passed by the service"
			    " manager is not a listening stream socket", fd);
			return -1;
		}
		if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
			snprintf(err, errlen, "descriptor %d: %s", fd,
			    strerror(errno));
			return -1;
		}
		memset(sh, 0, sizeof(*sh));
		sh->fd = fd;
		sh->passed = true;
		net_local_text(fd, sh->addr.text, sizeof(sh->addr.text));
		dl->shared.n++;
	}
	return 0;
}

int
daemon_listen_reserve(struct daemon_listen *dl, struct config *cfg,
    const struct config *old, char *err, size_t errlen)
{
	int fresh[CONFIG_LISTEN_MAX];
	unsigned nfresh = 0;

	for (unsigned i = 0; i < cfg->nlisten; i++) {
		struct addr *a = &cfg->listen[i];
		const struct sockaddr *sa = (const struct sockaddr *)&a->ss;
		int fd;

		if (sa->sa_family == AF_UNIX || addr_port(sa) != 0)
			continue;
		for (unsigned j = 0; old != NULL && j < old->nlisten; j++)
			if (strcmp(old->listen[j].text, a->text) == 0)
				*a = old->listen[j];
		if (addr_port(sa) != 0)
			continue;
		fd = net_reserve_port(a, err, errlen);
		if (fd == -1) {
			while (nfresh > 0)
				close(fresh[--nfresh]);
			return -1;
		}
		fresh[nfresh++] = fd;
	}
	/* The previous reservations served their turn; these serve this one. */
	daemon_listen_close_probes(dl);
	memcpy(dl->probes, fresh, sizeof(int) * nfresh);
	dl->nprobes = nfresh;
	return 0;
}

static bool
daemon_listen_has(const struct daemon_listen *dl, const char *text)
{
	for (unsigned i = 0; i < dl->shared.n; i++)
		if (!dl->shared.list[i].passed &&
		    strcmp(dl->shared.list[i].addr.text, text) == 0)
			return true;
	return false;
}

/* Close entry i, remove its file if it made one, and close the gap. */
static void
daemon_listen_drop(struct daemon_listen *dl, unsigned i)
{
	struct server_shared *sh = &dl->shared.list[i];

	close(sh->fd);
	if (!sh->passed)
		net_unix_remove(&sh->addr, &sh->file);
	memmove(sh, sh + 1, sizeof(*sh) * (dl->shared.n - i - 1));
	dl->shared.n--;
}

int
daemon_listen_open(struct daemon_listen *dl, const struct config *cfg,
    char *err, size_t errlen)
{
	unsigned before = dl->shared.n;

	for (unsigned i = 0; i < cfg->nlisten; i++) {
		const struct addr *a = &cfg->listen[i];
		struct server_shared *sh;
		int fd;

		if (a->ss.ss_family != AF_UNIX || daemon_listen_has(dl, a->text))
			continue;
		fd = net_listen(a, cfg->backlog, false, err, errlen);
		if (fd == -1 || dl->shared.n == SERVER_LISTENERS) {
			if (fd != -1) {
				snprintf(err, errlen, "more than %d listeners",
				    SERVER_LISTENERS);
				close(fd);
			}
			while (dl->shared.n > before)
				daemon_listen_drop(dl, dl->shared.n - 1);
			return -1;
		}
		sh = &dl->shared.list[dl->shared.n++];
		memset(sh, 0, sizeof(*sh));
		sh->addr = *a;
		sh->fd = fd;
		(void)net_unix_identify(a, &sh->file);
	}
	return 0;
}

void
daemon_listen_retire(struct daemon_listen *dl, const struct config *keep)
{
	unsigned i = 0;

	while (i < dl->shared.n) {
		struct server_shared *sh = &dl->shared.list[i];
		bool kept = false;

		for (unsigned j = 0; keep != NULL && j < keep->nlisten; j++)
			kept = kept || strcmp(keep->listen[j].text,
			    sh->addr.text) == 0;
		if (sh->passed || kept) {
			/* Linux takes a new backlog on a listening socket. */
			if (kept)
				(void)listen(sh->fd, keep->backlog);
			i++;
			continue;
		}
		daemon_listen_drop(dl, i);
	}
}

void
daemon_listen_close(struct daemon_listen *dl)
{
	while (dl->shared.n > 0)
		daemon_listen_drop(dl, dl->shared.n - 1);
	daemon_listen_close_probes(dl);
}
