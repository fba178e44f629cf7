/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scn_run_command: the steps of a scenario that drive command lines (scn.h: command,
 * signal, expect NAME exited|killed|stdout|stderr), played against a world
 * (scn_command.h) and judged. scn_run calls it for those steps and nothing else.
 */
#ifndef AVF_HARNESS_SCENARIO_SCN_RUN_COMMAND_H
#define AVF_HARNESS_SCENARIO_SCN_RUN_COMMAND_H

#include <stdint.h>

#include "scn.h"
#include "scn_world.h"

/*
 * Run step @st (of the scenario at @scn_path, whose folder is a command's cwd);
 * expectations wait up to @deadline_ms. 0 when it passed; -1 with *ret_fail (malloc'd,
 * NULL on ENOMEM) saying what was expected and what happened, with the command's
 * state and the last lines of its output where that helps.
 */
int scn_run_command_step(struct world *w, const char *scn_path, const struct scn_step *st,
			 int64_t deadline_ms, char **ret_fail);

#endif
