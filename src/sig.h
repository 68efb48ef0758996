/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Administrative signals of a running mount: SIGHUP (reopen the log file)
 * and SIGUSR1 (log statistics). The handlers only write a byte to a pipe;
 * a thread of ours does the work. Termination signals stay libfuse's.
 */
#ifndef obsmount_SIG_H
#define obsmount_SIG_H

#include "util/compiler.h"

/* What to do on each signal; called on the signal thread, never in a handler. */
struct sig_actions {
	void (*on_hup)(void *arg);
	void (*on_usr1)(void *arg);
	void *arg;
};

/*
 * Start the signal thread and install the SIGHUP and SIGUSR1 handlers,
 * replacing libfuse's SIGHUP handler (which would end the mount): call it
 * after fuse_set_signal_handlers() and after daemonizing. @a is copied; its
 * arg must stay valid until sig_stop(). 0 or -errno (nothing installed).
 * Not thread-safe: one instance per process.
 */
int sig_start(const struct sig_actions *a) MUST_CHECK;

/*
 * Ignore SIGHUP and SIGUSR1 from now on, stop and join the thread. Safe to
 * call without a successful sig_start().
 */
void sig_stop(void);

#endif
