/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mono_time: CLOCK_MONOTONIC in milliseconds, for the bounded waits of processes
 * outside an event loop (client library, harness). Code on a loop uses loop_now().
 */
#ifndef AVF_CORE_BASE_MONO_TIME_H
#define AVF_CORE_BASE_MONO_TIME_H

#include <stdint.h>

int64_t mono_ms(void);

#endif
