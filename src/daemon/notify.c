/*
 * notify.c - systemd's readiness protocol without libsystemd: one datagram
 * ("READY=1", "RELOADING=1", "STOPPING=1") to the AF_UNIX socket named by
 * $NOTIFY_SOCKET (a leading '@' is the abstract namespace). Without the
 * variable (not started by systemd with Type=notify) it does nothing.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "daemon/daemon_impl.h"

void kw_daemon_notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n;
	int fd;

	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path))
		return;
	n = strlen(path);
	memcpy(sa.sun_path, path, n);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
		kw_log_debug("watch", "sd_notify: %s", strerror(errno));
	close(fd);
}
