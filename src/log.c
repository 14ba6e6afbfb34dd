/*
 * log.c — stderr, syslog or file logging with a level filter.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static enum log_level cur_level = LOG_LVL_INFO;
static FILE *log_file;   /* NULL = stderr */
static char *log_path;   /* log_file's name, for log_reopen */
static int use_syslog;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int log_parse_level(const char *name, enum log_level *out)
{
	for (int i = 0; i <= LOG_LVL_DEBUG; i++)
		if (!strcmp(name, level_names[i])) {
			*out = (enum log_level)i;
			return 0;
		}
	return -1;
}

int log_open(const char *target, enum log_level level)
{
	cur_level = level;
	if (!target)
		return 0;
	if (!strcmp(target, "syslog")) {
		openlog("cassafs", LOG_PID, LOG_DAEMON);
		use_syslog = 1;
		return 0;
	}
	FILE *f = fopen(target, "a");
	if (!f)
		return -1;
	setvbuf(f, NULL, _IOLBF, 0);
	log_file = f;
	/* the daemon leaves its directory (chdir /): remember an absolute name */
	char cwd[4096];
	free(log_path);
	if (target[0] != '/' && getcwd(cwd, sizeof(cwd))) {
		if (asprintf(&log_path, "%s/%s", cwd, target) < 0)
			log_path = NULL;
	} else {
		log_path = strdup(target);
	}
	return 0;
}

/* Open the log file's name again (logrotate moved the old one away);
 * on failure keep writing to the old file and say so there. */
static void log_reopen(void)
{
	int e = 0;
	pthread_mutex_lock(&log_lock);
	if (log_file && log_path) {
		FILE *f = fopen(log_path, "a");
		if (f) {
			setvbuf(f, NULL, _IOLBF, 0);
			fclose(log_file);
			log_file = f;
		} else {
			e = errno;
		}
	}
	pthread_mutex_unlock(&log_lock);
	if (e)
		log_msg(LOG_LVL_ERROR, "SIGHUP: cannot reopen log file %s: %s",
			log_path, strerror(e));
	else if (log_file)
		log_msg(LOG_LVL_INFO, "SIGHUP: log file %s reopened", log_path);
}

/*
 * SIGHUP: the handler only writes a byte to a pipe (async-signal-safe);
 * a thread of ours reads it and reopens the file outside signal context.
 */
static int hup_pipe[2] = {-1, -1};

static void on_hup(int sig)
{
	int saved = errno;
	if (write(hup_pipe[1], "h", 1) < 0) {
		/* pipe full: a reopen is pending anyway */
	}
	errno = saved;
}

static void *hup_thread(void *arg)
{
	char buf[64];
	for (;;) {
		ssize_t n = read(hup_pipe[0], buf, sizeof(buf));
		if (n > 0)
			log_reopen();
		else if (n == 0 || errno != EINTR)
			return NULL;
	}
}

int log_reopen_on_hup(void)
{
	pthread_t t;
	if (hup_pipe[0] < 0 && pipe2(hup_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	/* the reader blocks; only the signal handler's end is non-blocking */
	fcntl(hup_pipe[0], F_SETFL, 0);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old); /* the thread takes no signal */
	int r = pthread_create(&t, NULL, hup_thread, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	pthread_detach(t);
	struct sigaction sa = {.sa_handler = on_hup, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGHUP, &sa, NULL) < 0)
		return -errno;
	return 0;
}

void log_set_level(enum log_level level)
{
	cur_level = level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	if (level > cur_level)
		return;
	va_list ap;
	va_start(ap, fmt);
	if (use_syslog) {
		vsyslog(prio[level], fmt, ap);
	} else {
		FILE *f = log_file ? log_file : stderr;
		pthread_mutex_lock(&log_lock);
		if (log_file) {
			char ts[32];
			time_t now = time(NULL);
			struct tm tm;
			strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S",
				 localtime_r(&now, &tm));
			fprintf(f, "%s %s: ", ts, level_names[level]);
		} else {
			fprintf(f, "cassafs: ");
		}
		vfprintf(f, fmt, ap);
		fputc('\n', f);
		pthread_mutex_unlock(&log_lock);
	}
	va_end(ap);
}
