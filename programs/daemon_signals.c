/* SPDX-License-Identifier: Apache-2.0 */
#include "daemon_signals.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>

#include "base/avf_err.h"

int daemon_signals_open(int *ret)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		return avf_err_service(-errno, "signalfd: %s", strerror(errno));
	*ret = fd;
	return 0;
}
