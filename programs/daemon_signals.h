/* SPDX-License-Identifier: Apache-2.0 */
/*
 * daemon_signals: how every avf-ref daemon takes its stop signals. SIGTERM and
 * SIGINT are blocked and read from a signalfd in the event loop (a signal during
 * start-up waits there instead of killing us half set up); SIGPIPE is ignored,
 * because a peer gone mid-send is the ipc layer's EPIPE, not our death. Children
 * that must not inherit the mask unblock it before exec (the fake backend does).
 */
#ifndef AVF_PROGRAMS_DAEMON_SIGNALS_H
#define AVF_PROGRAMS_DAEMON_SIGNALS_H

/* The signalfd (O_CLOEXEC, O_NONBLOCK) in *ret, or -errno with a message. */
int daemon_signals_open(int *ret);

#endif
