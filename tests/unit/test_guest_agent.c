/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guest agent's parts (fakes/guest_agent), one process: the payload config
 * reader, the instance image's identity entry, and the host side of the guest
 * channel against a scripted host on a socketpair. The whole agent runs in
 * test_payload and scenarios/app.
 */
#include "cmocka_wrap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_host.h"
#include "agent_instance.h"
#include "agent_payload_config.h"
#include "backends/fake/guest_channel.h"
#include "base/avf_err.h"

static void parse_ok(const char *json, const char *command, size_t extra)
{
	struct agent_payload_config c;

	if (agent_payload_config_parse(json, strlen(json), &c) < 0)
		fail_msg("'%s': %s", json, avf_err_last()->msg);
	assert_string_equal(c.command, command);
	assert_int_equal(c.extra_apks, extra);
	agent_payload_config_clear(&c);
}

static void parse_bad(const char *json, const char *msg)
{
	struct agent_payload_config c;

	assert_int_equal(agent_payload_config_parse(json, strlen(json), &c), -EINVAL);
	if (!strstr(avf_err_last()->msg, msg))
		fail_msg("'%s': '%s' lacks '%s'", json, avf_err_last()->msg, msg);
	assert_null(c.command);
}

static void test_payload_config(void **state)
{
	parse_ok("{\"task\": {\"type\": \"microdroid_launcher\", \"command\": \"libp.so\"}}\n",
		 "libp.so", 0);
	parse_ok("{\"os\": {\"name\": \"microdroid\"}, \"task\": {\"type\": "
		 "\"microdroid_launcher\", \"command\": \"a.so\"}, \"extra_apks\": [{}, {}]}",
		 "a.so", 2);
	parse_bad("", "not valid JSON");
	parse_bad("{\"task\": ", "not valid JSON");
	parse_bad("{} {}", "trailing data");
	parse_bad("[1]", "is not a JSON object");
	parse_bad("{}", "No task in VM config");
	parse_bad("{\"task\": null}", "No task in VM config");
	parse_bad("{\"task\": 3}", "'task' is not an object");
	parse_bad("{\"task\": {}}", "task has no 'type'");
	parse_bad("{\"task\": {\"type\": \"executable\", \"command\": \"x\"}}",
		  "task type must be microdroid_launcher");
	parse_bad("{\"task\": {\"type\": \"microdroid_launcher\"}}", "task has no 'command'");
	parse_bad("{\"task\": {\"type\": \"microdroid_launcher\", \"command\": \"\"}}",
		  "task has no 'command'");
	parse_bad("{\"task\": {\"type\": \"microdroid_launcher\", \"command\": \"x\"}, "
		  "\"extra_apks\": {}}",
		  "'extra_apks' is not an array");
}

static int instance_file(const char *header)
{
	char path[] = "/tmp/avf-agent-instance-XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);

	assert_true(fd >= 0);
	unlink(path);
	if (header)
		assert_int_equal(write(fd, header, strlen(header)), (ssize_t)strlen(header));
	return fd;
}

/* First boot writes a seed; the next boot reads the same; another image, another. */
static void test_instance_seed(void **state)
{
	uint8_t a[AGENT_INSTANCE_SEED_LEN], b[AGENT_INSTANCE_SEED_LEN], c[AGENT_INSTANCE_SEED_LEN];
	int one = instance_file("Android-VM-instance\x01"), two = instance_file("Android-VM-instance\x01");

	assert_int_equal(agent_instance_seed(one, a), 0);
	assert_int_equal(agent_instance_seed(one, b), 0);
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(agent_instance_seed(two, c), 0);
	assert_memory_not_equal(a, c, sizeof(a));
	assert_true(lseek(one, 0, SEEK_END) > AGENT_INSTANCE_ENTRY_OFF);
	close(one);
	close(two);
}

static void test_instance_without_header(void **state)
{
	uint8_t s[AGENT_INSTANCE_SEED_LEN];
	int empty = instance_file(NULL), other = instance_file("UNFORMATTED-and-more-bytes");

	assert_int_equal(agent_instance_seed(empty, s), -EINVAL);
	assert_string_equal(avf_err_last()->msg, "instance image has no Android-VM-instance header");
	assert_int_equal(agent_instance_seed(other, s), -EINVAL);
	assert_int_equal(agent_instance_seed(-1, s), -EBADF);
	close(empty);
	close(other);
}

/*
 * In a child: a host that answers the next request with @result (and @text when
 * refused), to request number seq + @seq_skew. Exits 0 if the request was @kind.
 */
static void host(int fd, enum guest_channel_kind kind, int result, const char *text,
		 uint32_t seq_skew)
{
	struct guest_channel_msg req, rep;

	if (fork() != 0)
		return;
	if (guest_channel_recv(fd, &req, 0) != 1)
		_exit(2);
	guest_channel_make_reply(req.seq + seq_skew, result,
				 result < 0 ? AVF_EX_ILLEGAL_STATE : 0, text, &rep);
	if (guest_channel_send(fd, &rep, 0) < 0)
		_exit(3);
	_exit(req.kind == kind ? 0 : 1);
}

static void host_done(void)
{
	int st;

	assert_true(wait(&st) > 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_host_notify(void **state)
{
	struct agent_host h = {.failure_fd = -1};
	int sv[2], fail[2];
	char buf[64] = {0};

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	h.channel_fd = sv[0];
	/* accepted: the request is of the right kind; the reply echoes its seq */
	host(sv[1], GUEST_CHANNEL_PAYLOAD_FINISHED, 0, NULL, 0);
	assert_int_equal(agent_host_notify(&h, GUEST_PAYLOAD_FINISHED, 7, NULL), 0);
	host_done();
	/* refused: the host's errno, exception and text come back */
	host(sv[1], GUEST_CHANNEL_PAYLOAD_READY, -EINVAL, "payload state must only move forward", 0);
	assert_int_equal(agent_host_notify(&h, GUEST_PAYLOAD_READY, 0, NULL), -EINVAL);
	assert_int_equal(avf_err_last()->ex, AVF_EX_ILLEGAL_STATE);
	assert_string_equal(avf_err_last()->msg, "payload state must only move forward");
	host_done();
	/* a reply to another request is a protocol error */
	host(sv[1], GUEST_CHANNEL_PAYLOAD_STARTED, 0, NULL, 5);
	assert_int_equal(agent_host_notify(&h, GUEST_PAYLOAD_STARTED, 0, NULL), -EPROTO);
	host_done();
	/* the host closes the channel instead of answering; then it is gone */
	if (fork() == 0) {
		struct guest_channel_msg req;

		_exit(guest_channel_recv(sv[1], &req, 0) == 1 && close(sv[1]) == 0 ? 0 : 1);
	}
	close(sv[1]);
	assert_int_equal(agent_host_notify(&h, GUEST_PAYLOAD_STARTED, 0, NULL), -ECONNRESET);
	assert_string_equal(avf_err_last()->msg, "guest channel closed by the host");
	host_done();
	assert_int_equal(agent_host_notify(&h, GUEST_PAYLOAD_STARTED, 0, NULL), -EPIPE);
	close(sv[0]);

	/* the failure channel gets the text whole; a sink drops it */
	assert_int_equal(agent_host_write_failure(&h, "dropped"), 0);
	assert_int_equal(pipe2(fail, O_CLOEXEC), 0);
	h.failure_fd = fail[1];
	assert_int_equal(agent_host_write_failure(&h, "MICRODROID_UNKNOWN_RUNTIME_ERROR|x"), 0);
	close(fail[1]);
	assert_int_equal(read(fail[0], buf, sizeof(buf) - 1), 34);
	assert_string_equal(buf, "MICRODROID_UNKNOWN_RUNTIME_ERROR|x");
	close(fail[0]);
	h.failure_fd = 1000; /* not open */
	assert_int_equal(agent_host_write_failure(&h, "x"), -EBADF);
}

/* Run the agent binary with @args; its stderr's first line in @err; its exit status. */
static int run_agent(const char *const *args, char *err, size_t len)
{
	const char *argv[16] = {"avf-guest-agent"};
	int p[2], st;
	size_t n = 1;
	ssize_t got;
	pid_t pid;

	for (; args[n - 1]; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		execv(AVF_GUEST_AGENT_PATH, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	got = read(p[0], err, len - 1);
	err[got > 0 ? got : 0] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The agent's command line (fakevmm_agent.c writes it): each mistake is exit 1 with why. */
static void test_agent_usage(void **state)
{
	static const struct {
		const char *args[10];
		const char *msg;
	} rows[] = {
	    {{NULL}, "needs --channel-fd, --payload, --payload-name and --instance"},
	    {{"--channel-fd", NULL}, "a flag without its value"},
	    {{"--frobnicate", "1", NULL}, "unknown flag"},
	    {{"--channel-fd", "x", NULL}, "an fd argument is not a number"},
	    {{"--log-fd", "-3", NULL}, "an fd argument is not a number"},
	    {{"--failure-fd", "70000", NULL}, "an fd argument is not a number"},
	    {{"--channel-fd", "3", "--payload", "/p", "--payload-name", "p", "--instance", "/i",
	      NULL},
	     "file arguments must be /proc/self/fd/N"},
	};
	char err[256];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(run_agent(rows[i].args, err, sizeof(err)), 1);
		if (!strstr(err, rows[i].msg))
			fail_msg("row %zu: '%s' lacks '%s'", i, err, rows[i].msg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_payload_config),
	    cmocka_unit_test(test_instance_seed),
	    cmocka_unit_test(test_instance_without_header),
	    cmocka_unit_test(test_host_notify),
	    cmocka_unit_test(test_agent_usage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
