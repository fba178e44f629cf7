/* SPDX-License-Identifier: Apache-2.0 */
#include "agent_payload_config.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "base/avf_err.h"

static int invalid(const char *msg)
{
	return avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT, "%s", msg);
}

static int parse_object(struct json_object *root, struct agent_payload_config *ret)
{
	struct json_object *task, *type, *cmd, *extra;

	if (!json_object_is_type(root, json_type_object))
		return invalid("VM payload config is not a JSON object");
	if (!json_object_object_get_ex(root, "task", &task) || json_object_is_type(task, json_type_null))
		return invalid("No task in VM config");
	if (!json_object_is_type(task, json_type_object))
		return invalid("VM payload config: 'task' is not an object");
	if (!json_object_object_get_ex(task, "type", &type) ||
	    !json_object_is_type(type, json_type_string))
		return invalid("VM payload config: task has no 'type'");
	if (strcmp(json_object_get_string(type), "microdroid_launcher") != 0)
		return invalid("VM payload config: task type must be microdroid_launcher");
	if (!json_object_object_get_ex(task, "command", &cmd) ||
	    !json_object_is_type(cmd, json_type_string) || !*json_object_get_string(cmd))
		return invalid("VM payload config: task has no 'command'");
	if (json_object_object_get_ex(root, "extra_apks", &extra)) {
		if (!json_object_is_type(extra, json_type_array))
			return invalid("VM payload config: 'extra_apks' is not an array");
		ret->extra_apks = json_object_array_length(extra);
	}
	ret->command = strdup(json_object_get_string(cmd));
	if (!ret->command)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	return 0;
}

int agent_payload_config_parse(const char *text, size_t len, struct agent_payload_config *ret)
{
	struct json_tokener *tok;
	struct json_object *root;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (len > AGENT_CONFIG_MAX)
		return invalid("VM payload config: larger than 1 MiB");
	tok = json_tokener_new();
	if (!tok)
		return avf_err_set(-ENOMEM, AVF_EX_SERVICE_SPECIFIC, "out of memory");
	root = json_tokener_parse_ex(tok, text, (int)len);
	size_t end = root ? json_tokener_get_parse_end(tok) : 0;

	while (root && end < len && strchr(" \t\r\n", text[end]))
		end++; /* trailing blanks are fine, anything else is not */
	if (!root || json_tokener_get_error(tok) != json_tokener_success || end != len) {
		r = avf_err_set(-EINVAL, AVF_EX_ILLEGAL_ARGUMENT,
				"VM payload config is not valid JSON: %s",
				root ? "trailing data after the object"
				     : json_tokener_error_desc(json_tokener_get_error(tok)));
	} else {
		r = parse_object(root, ret);
	}
	json_object_put(root);
	json_tokener_free(tok);
	if (r < 0)
		agent_payload_config_clear(ret);
	return r;
}

void agent_payload_config_clear(struct agent_payload_config *c)
{
	free(c->command);
	memset(c, 0, sizeof(*c));
}
