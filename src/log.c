/*
 * log.c — stderr, syslog or file logging with a level filter.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

static enum log_level cur_level = LOG_LVL_INFO;
static FILE *log_file;   /* NULL = stderr */
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
