/* SPDX-License-Identifier: Apache-2.0 */
/*
 * trace_file: a trace sink that appends one line per event to a file that several
 * processes share (the client, virtmgr, virtualizationservice of one run). The file
 * is opened O_APPEND and every line goes out in one write(2), so lines from
 * different processes interleave but never mix. Timestamps are CLOCK_MONOTONIC, the
 * one clock every process of the machine agrees on (under libfaketime, each
 * process's own faked view of it).
 *
 * Line: "<sec>.<nsec> <pid> <actor> <text>\n" (the pid lets a reader tell two
 * virtmgrs apart; the normaliser drops it).
 *
 * Programs take the path from the environment variable AVF_TRACE_FILE, so the
 * client library can hand it to the virtmgr it forks without a new flag.
 */
#ifndef AVF_CORE_TRACE_TRACE_FILE_H
#define AVF_CORE_TRACE_TRACE_FILE_H

#include "trace/trace.h"

#define TRACE_FILE_ENV "AVF_TRACE_FILE"

struct trace_file;

/* Open (create, mode 0600) @path for appending. -errno with a message. */
int trace_file_open(const char *path, struct trace_file **ret);
/* $AVF_TRACE_FILE: *ret = NULL (and 0) when unset or empty. */
int trace_file_from_env(struct trace_file **ret);
/* The trace to give to the libraries; NULL for a NULL @tf (so "no trace"). */
const struct trace *trace_file_trace(const struct trace_file *tf);
/* Close; accepts NULL; returns NULL. */
struct trace_file *trace_file_close(struct trace_file *tf);

#endif
