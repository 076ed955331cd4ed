/*
 * Running a command line from a test and reading what it printed: tidsctl,
 * tidsd -n, tmux and the like, the way an operator would run them.
 */
#ifndef TIDS_TEST_SHELL_H
#define TIDS_TEST_SHELL_H

#include <stddef.h>

/*
 * Runs a shell line (printf-style) and waits for it. Its standard output
 * goes to out, NUL-terminated and cut at outlen - 1 bytes; the rest is read
 * and dropped, so the command never blocks on a full pipe. Returns its exit
 * status, 128 if a signal ended it, or -1 if it could not be run (the line
 * too long, or no shell).
 */
int tids_test_shell(char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The same for the build's tidsctl with the given arguments (a shell line),
 * its standard error with its output. */
int tids_test_tidsctl(char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
