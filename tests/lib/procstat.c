/*
 * Per-thread CPU time from /proc/PID/task/TID/stat (see procstat.h).
 */
#include "procstat.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* utime and stime are fields 14 and 15, after "pid (comm) ", whose comm
 * may hold spaces and parentheses: parse from the last ')'. */
static int thread_stat(pid_t pid, const char *tid, char name[32], double *us)
{
	char path[128], line[1024], *close;
	unsigned long long utime, stime;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", (int)pid, tid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = '\0';
	if ((close = strrchr(line, ')')) == NULL || strchr(line, '(') == NULL)
		return -1;
	{
		char *open = strchr(line, '(') + 1;
		size_t len = (size_t)(close - open);

		if (len > 31)
			len = 31;
		memcpy(name, open, len);
		name[len] = '\0';
	}
	/* state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime */
	if (sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
		return -1;
	*us = (double)(utime + stime) * 1e6 / (double)sysconf(_SC_CLK_TCK);
	return 0;
}

static size_t group_of(struct tids_procstat *s, const char *name)
{
	const char *g = strncmp(name, "rdk:", 4) == 0 ? "librdkafka" : name;
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->name[i], g) == 0)
			return i;
	if (s->n == TIDS_PROCSTAT_GROUPS)
		return TIDS_PROCSTAT_GROUPS - 1;   /* the last group takes the rest */
	snprintf(s->name[s->n], sizeof(s->name[0]), "%s", g);
	s->cpu_us[s->n] = 0;
	return s->n++;
}

int tids_procstat_sample(pid_t pid, struct tids_procstat *out)
{
	char path[64];
	struct dirent *de;
	DIR *dir;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((dir = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(dir)) != NULL) {
		char name[32];
		double us;

		if (de->d_name[0] == '.' || thread_stat(pid, de->d_name, name, &us) != 0)
			continue;
		out->cpu_us[group_of(out, name)] += us;
		out->total_us += us;
	}
	closedir(dir);
	return 0;
}

void tids_procstat_diff(const struct tids_procstat *before, const struct tids_procstat *after,
			struct tids_procstat *out)
{
	*out = *after;
	for (size_t i = 0; i < out->n; i++)
		for (size_t j = 0; j < before->n; j++)
			if (strcmp(out->name[i], before->name[j]) == 0)
				out->cpu_us[i] -= before->cpu_us[j];
	out->total_us = after->total_us - before->total_us;
}
