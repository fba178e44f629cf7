/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sim_backend: an in-process simulated VMM on the loop's clock. Its guest follows
 * the VM config's guest script (fakes/script): each step runs from a timer, so on
 * a virtual clock a whole boot-to-death runs in microseconds and exactly the same
 * way every time. Used by unit tests, scale runs and the demo; no processes.
 * It has no console or log devices: backend_vm's fds are ignored (the manager
 * closes them), and the console, log and echo-console steps are only traced
 * ("guest writes console \"TEXT\"", "guest reads the console input (none here)").
 */
#ifndef AVF_FAKES_SIM_SIM_BACKEND_H
#define AVF_FAKES_SIM_SIM_BACKEND_H

#include "backends/backend.h"

/* Create the simulated backend on @loop. Free with backend_free(). */
int sim_backend_new(struct loop *loop, const struct trace *tr, struct backend **ret);

/* Children spawned and not yet freed (for leak checks). */
unsigned sim_backend_live_children(const struct backend *be);

#endif
