/* SPDX-License-Identifier: Apache-2.0 */
#include "proc_probe.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Entries of @path but "." and ".."; -errno if it cannot be read. */
static int count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

int probe_dir_entries(const char *path)
{
	int n = count_entries(path);

	return n == -ENOENT ? 0 : n;
}

int probe_fds(pid_t pid)
{
	char path[64];

	/* A process that is gone reads as an error, never as "no fds". */
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	return count_entries(path);
}

/* Append the pids of one /proc/PID/task/TID/children file; returns the new count. */
static int add_children(const char *path, pid_t *out, int max, int n)
{
	char buf[4096], *save, *tok;
	FILE *f = fopen(path, "re");
	size_t got;

	if (!f)
		return n;
	got = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[got] = '\0';
	for (tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		if (out && n < max)
			out[n] = (pid_t)atoi(tok);
		n++;
	}
	return n;
}

int probe_children(pid_t pid, pid_t *out, int max)
{
	char dir[64], path[128];
	struct dirent *e;
	DIR *d;
	int n = 0;

	/* A child belongs to the thread that forked it: read every thread's list. */
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/children", dir, e->d_name);
		n = add_children(path, out, max, n);
	}
	closedir(d);
	return n;
}

long probe_status_kib(pid_t pid, const char *name)
{
	char path[64], line[256];
	size_t len = strlen(name);
	long kib = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, name, len) == 0 && line[len] == ':') {
			kib = strtol(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kib;
}
