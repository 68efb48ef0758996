/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Administrative signals: a self-pipe written by the handlers and read by
 * one thread that runs the actions. Nothing but write(2) happens in a
 * handler; the actions may log, lock and allocate.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sig.h"

enum { MSG_HUP = 'H', MSG_USR1 = 'U', MSG_QUIT = 'Q' };

static int pipe_fd[2] = { -1, -1 };
static struct sig_actions actions;
static pthread_t thread;
static bool running;

static void handler(int sig)
{
	int saved = errno;
	char c = sig == SIGHUP ? MSG_HUP : MSG_USR1;

	/* Non-blocking: when the pipe is full a request is already queued. */
	if (write(pipe_fd[1], &c, 1) < 0) {
		/* nothing to do in a handler */
	}
	errno = saved;
}

static void *run(void *arg)
{
	char c;

	(void)arg;
	for (;;) {
		ssize_t n = read(pipe_fd[0], &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || c == MSG_QUIT)
			break;
		if (c == MSG_HUP && actions.on_hup)
			actions.on_hup(actions.arg);
		else if (c == MSG_USR1 && actions.on_usr1)
			actions.on_usr1(actions.arg);
	}
	return NULL;
}

static int set_handler(int sig, void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	return sigaction(sig, &sa, NULL) == 0 ? 0 : -errno;
}

static void close_pipe(void)
{
	for (int i = 0; i < 2; i++) {
		if (pipe_fd[i] >= 0)
			close(pipe_fd[i]);
		pipe_fd[i] = -1;
	}
}

int sig_start(const struct sig_actions *a)
{
	sigset_t all, old;
	int err;

	if (running)
		return -EBUSY;
	if (pipe2(pipe_fd, O_CLOEXEC) != 0)
		return -errno;
	if (fcntl(pipe_fd[1], F_SETFL, O_NONBLOCK) != 0) {
		err = -errno;
		close_pipe();
		return err;
	}
	actions = *a;
	/* The thread takes no signals: they go to the threads that may be
	 * interrupted (libfuse's), and never stop our read for nothing. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = -pthread_create(&thread, NULL, run, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		close_pipe();
		return err;
	}
	running = true;
	err = set_handler(SIGHUP, handler);
	if (err == 0)
		err = set_handler(SIGUSR1, handler);
	if (err)
		sig_stop();
	return err;
}

void sig_stop(void)
{
	char c = MSG_QUIT;

	if (!running)
		return;
	(void)set_handler(SIGHUP, SIG_IGN);
	(void)set_handler(SIGUSR1, SIG_IGN);
	/* A full pipe still ends the thread: it reads until it sees Q. */
	while (write(pipe_fd[1], &c, 1) < 0 && errno == EAGAIN) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	pthread_join(thread, NULL);
	running = false;
	close_pipe();
}
