/*
 * log.h — one logger for the whole program.  The CLI logs to stderr; a
 * detached daemon logs to syslog (or a file) at the level chosen with
 * -o log_level=.  log_user() also writes to the terminal that started the
 * mount while it is still attached (errors the user must act on).
 */
#ifndef CASSAFS_LOG_H
#define CASSAFS_LOG_H

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* target: NULL = stderr, "syslog", or a file path */
int log_open(const char *target, enum log_level level);
int log_parse_level(const char *name, enum log_level *out);
void log_set_level(enum log_level level);
/* Make SIGHUP reopen the log file (for logrotate) and do nothing else.
 * Install after any other SIGHUP handler (libfuse's ends the session). */
int log_reopen_on_hup(void);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
