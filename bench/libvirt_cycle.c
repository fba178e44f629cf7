/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libvirt_cycle: the peer benchmark. The same lifecycle cycle as ours
 * (define/create + start + stop + drop) on libvirt's in-process test driver
 * (test:///default), with an optional lifecycle-event callback counted against
 * what was expected (research/anchors.md §2). Prints cycles/s so a runner can put
 * it beside avf-ref's numbers from the same run.
 *
 *   libvirt_cycle [N (default 10000)] [--events]
 */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_long events;
static atomic_bool stop_loop;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	pthread_mutex_lock(&lock);
	atomic_fetch_add(&events, 1);
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
	return 0;
}

static void *event_thread(void *arg)
{
	while (!atomic_load(&stop_loop))
		if (virEventRunDefaultImpl() < 0)
			break;
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void quiet(void *data, virErrorPtr err)
{
}

int main(int argc, char **argv)
{
	long n = 10000;
	bool with_events = false;
	virConnectPtr conn;
	pthread_t thr;
	int cb_id = -1;
	double t0, t;
	char xml[512];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--events") == 0)
			with_events = true;
		else
			n = atol(argv[i]);
	}
	if (n <= 0) {
		fprintf(stderr, "usage: libvirt_cycle [N>0] [--events]\n");
		return 2;
	}
	virSetErrorFunc(NULL, quiet);
	if (with_events) {
		if (virEventRegisterDefaultImpl() < 0)
			return 1;
	}
	conn = virConnectOpen("test:///default");
	if (!conn) {
		fprintf(stderr, "libvirt_cycle: cannot open test:///default\n");
		return 1;
	}
	if (with_events) {
		cb_id = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
							 VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), NULL,
							 NULL);
		pthread_create(&thr, NULL, event_thread, NULL);
	}
	t0 = now_s();
	for (long i = 0; i < n; i++) {
		virDomainPtr dom;

		snprintf(xml, sizeof(xml),
			 "<domain type='test'><name>bench%ld</name><memory unit='MiB'>128</memory>"
			 "<vcpu>1</vcpu><os><type>hvm</type></os></domain>",
			 i);
		dom = virDomainDefineXML(conn, xml);
		if (!dom || virDomainCreate(dom) < 0 || virDomainDestroy(dom) < 0 ||
		    virDomainUndefine(dom) < 0) {
			fprintf(stderr, "libvirt_cycle: cycle %ld failed\n", i);
			return 1;
		}
		virDomainFree(dom);
	}
	t = now_s() - t0;
	if (with_events) {
		/* 4 lifecycle events per cycle: defined, started, stopped, undefined.
		 * Wait (bounded) for the event thread to drain them. */
		struct timespec deadline;

		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += 10;
		pthread_mutex_lock(&lock);
		while (atomic_load(&events) < 4 * n)
			if (pthread_cond_timedwait(&cond, &lock, &deadline) != 0)
				break;
		pthread_mutex_unlock(&lock);
		virConnectDomainEventDeregisterAny(conn, cb_id);
		atomic_store(&stop_loop, true);
		virConnectClose(conn); /* wakes the event loop */
		pthread_join(thr, NULL);
		printf("libvirt test driver (define+start+destroy+undefine), N=%ld, with events: "
		       "%.0f cycles/s %.0f ns/cycle (%ld/%ld events)\n",
		       n, n / t, t * 1e9 / n, atomic_load(&events), 4 * n);
		return 0;
	}
	virConnectClose(conn);
	printf("libvirt test driver (define+start+destroy+undefine), N=%ld: %.0f cycles/s %.0f ns/cycle\n",
	       n, n / t, t * 1e9 / n);
	return 0;
}
