/*
 * Running a command line and reading its output (see shell.h).
 */
#include "shell.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/wait.h>

#include "testenv.h"

static int run_line(char *out, size_t outlen, const char *cmd)
{
	FILE *p;
	size_t n = 0;
	int status;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	/* Our own buffered output first, or it would come after the command's. */
	fflush(NULL);
	p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	while (n + 1 < outlen) {
		size_t got = fread(out + n, 1, outlen - 1 - n, p);

		if (got == 0)
			break;
		n += got;
	}
	out[n] = '\0';
	while (fgetc(p) != EOF)
		;
	status = pclose(p);
	if (status == -1)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* prefix, then fmt formatted, then suffix, run as one line. */
__attribute__((format(printf, 5, 0))) static int run_formatted(char *out, size_t outlen, const char *prefix, const char *suffix, const char *fmt,
			 va_list ap)
{
	char args[16384], cmd[sizeof(args) + 1024];
	int n;

	n = vsnprintf(args, sizeof(args), fmt, ap);
	if (n < 0 || (size_t)n >= sizeof(args))
		return -1;
	n = snprintf(cmd, sizeof(cmd), "%s%s%s", prefix, args, suffix);
	if (n < 0 || (size_t)n >= sizeof(cmd))
		return -1;
	return run_line(out, outlen, cmd);
}

int tids_test_shell(char *out, size_t outlen, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = run_formatted(out, outlen, "", "", fmt, ap);
	va_end(ap);
	return r;
}

int tids_test_tidsctl(char *out, size_t outlen, const char *fmt, ...)
{
	char prefix[600];
	va_list ap;
	int r;

	snprintf(prefix, sizeof(prefix), "'%s/tidsctl' ", tids_test_build_dir());
	va_start(ap, fmt);
	r = run_formatted(out, outlen, prefix, " 2>&1", fmt, ap);
	va_end(ap);
	return r;
}
