/* Server-side tables (table.h) against what the real API server prints.
 *
 * Built-in kinds are described by tests/table_kinds.json: the descriptors
 * the "kinds" bus op returns (kr_kind_to_value of core/builtin_kinds.c),
 * cut to the keys a table reads.  Every expected cell below follows the
 * upstream function named beside it (kubernetes pkg/printers/
 * internalversion/printers.go, apiextensions-apiserver's tableconvertor,
 * apiserver's asTable); ages are duration.HumanDuration against NOW.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <kraal/value.h>

#include "table.h"

#define NOW INT64_C(1795435200) /* 2026-11-23T12:00:00Z */

static kr_arena_t *arena;
static kr_value_t *kinds;

static int setup(void **state)
{
    (void)state;
    arena = kr_arena_new(0);
    char path[4096];
    snprintf(path, sizeof path, "%s", __FILE__);
    char *slash = strrchr(path, '/');
    snprintf(slash ? slash + 1 : path, sizeof path - (size_t)(slash ? slash + 1 - path : 0),
             "table_kinds.json");
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    kr_buf_t b = KR_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        kr_buf_append(&b, chunk, n);
    fclose(f);
    kr_error_t err;
    int rc = kr_json_decode(arena, b.data, b.len, &kinds, &err);
    kr_buf_free(&b);
    if (rc < 0)
        fprintf(stderr, "%s: %s\n", path, err.message);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    kr_arena_destroy(&arena);
    return 0;
}

/* JSON with ' for " (none of the texts below holds an apostrophe). */
static kr_value_t *J(const char *text)
{
    char *s = kr_arena_strdup(arena, text);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    kr_value_t *v = NULL;
    kr_error_t err;
    if (kr_json_decode(arena, s, strlen(s), &v, &err) < 0)
        fail_msg("bad test JSON: %s\n%s", err.message, s);
    return v;
}

static const char *enc(const kr_value_t *v)
{
    kr_buf_t b = KR_BUF_INIT;
    kr_json_encode(v, &b, KR_JSON_COMPACT, NULL);
    const char *s = kr_arena_strdup(arena, b.data ? b.data : "");
    kr_buf_free(&b);
    return s;
}

static const kr_value_t *kind(const char *name)
{
    const kr_value_t *k = kr_value_map_get(kinds, name);
    if (k == NULL)
        fail_msg("no descriptor for %s", name);
    return k;
}

static kr_value_t *table(const kr_value_t *desc, const char *obj, rest_table_include_t include)
{
    kr_error_t err;
    kr_value_t *t = rest_table(arena, desc, J(obj), include, NOW, &err);
    if (t == NULL)
        fail_msg("rest_table: %s", err.message);
    return t;
}

static void expect_equal(const kr_value_t *got, const char *want, const char *what)
{
    if (!kr_value_equal(got, J(want)))
        fail_msg("%s:\n got  %s\n want %s", what, enc(got), enc(J(want)));
}

static void expect_cells(const kr_value_t *t, size_t row, const char *want)
{
    char path[64];
    snprintf(path, sizeof path, "rows[%zu].cells", row);
    expect_equal(kr_value_get(t, path), want, path);
}

/* Cells of a one-object table. */
static void expect_row(const char *k, const char *obj, const char *want)
{
    expect_cells(table(kind(k), obj, REST_TABLE_NONE), 0, want);
}

/* ---- pods: printPod ----------------------------------------------------------- */

static const char pod_running[] =
    "{'kind': 'Pod', 'apiVersion': 'v1',"
    " 'metadata': {'name': 'web-1', 'namespace': 'default', 'resourceVersion': '42',"
    "              'creationTimestamp': '2026-11-21T08:00:00Z'},"
    " 'spec': {'nodeName': 'node-1', 'containers': [{'name': 'app'}, {'name': 'sidecar'}],"
    "          'readinessGates': [{'conditionType': 'example.com/feature-1'},"
    "                             {'conditionType': 'example.com/feature-2'}]},"
    " 'status': {'phase': 'Running', 'podIP': '10.0.0.5', 'podIPs': [{'ip': '10.0.0.5'}],"
    "   'conditions': [{'type': 'Ready', 'status': 'True'},"
    "                  {'type': 'example.com/feature-1', 'status': 'True'},"
    "                  {'type': 'example.com/feature-2', 'status': 'False'}],"
    "   'containerStatuses': ["
    "     {'name': 'app', 'ready': true, 'restartCount': 2, 'state': {'running': {}},"
    "      'lastState': {'terminated': {'exitCode': 1, 'reason': 'Error',"
    "                                   'finishedAt': '2026-11-23T11:55:00Z'}}},"
    "     {'name': 'sidecar', 'ready': true, 'restartCount': 1, 'state': {'running': {}},"
    "      'lastState': {'terminated': {'exitCode': 137,"
    "                                   'finishedAt': '2026-11-23T10:00:00Z'}}}]}}";

static void test_pod_running(void **state)
{
    (void)state;
    kr_value_t *t = table(kind("Pod"), pod_running, REST_TABLE_METADATA);
    expect_equal(kr_value_get(t, "metadata"), "{'resourceVersion': '42'}", "metadata");
    expect_equal(kr_value_get(t, "columnDefinitions[2]"),
                 "{'name': 'Status', 'type': 'string', 'format': '', 'description': 'The "
                 "aggregate status of the containers in this pod.', 'priority': 0}",
                 "Status column");
    assert_int_equal(kr_value_len(kr_value_get(t, "columnDefinitions")), 9);
    assert_int_equal(kr_value_as_int(kr_value_get(t, "columnDefinitions[5].priority"), 0), 1);
    /* 3 restarts, the newest lastState 5 minutes ago; created 52h ago;
     * one of two readiness gates True. */
    expect_cells(t, 0,
                 "['web-1', '2/2', 'Running', '3 (5m ago)', '2d4h', '10.0.0.5', 'node-1',"
                 " '<none>', '1/2']");
    assert_null(kr_value_get(t, "rows[0].conditions"));
}

static void test_pod_pending(void **state)
{
    (void)state;
    expect_row("Pod",
               "{'metadata': {'name': 'p', 'creationTimestamp': '2026-11-23T11:59:15Z'},"
               " 'spec': {'containers': [{'name': 'a'}]},"
               " 'status': {'phase': 'Pending', 'conditions': [{'type': 'PodScheduled',"
               "   'status': 'False', 'reason': 'Unschedulable'}]}}",
               "['p', '0/1', 'Pending', '0', '45s', '<none>', '<none>', '<none>', '<none>']");
    /* A scheduling gate shows in place of the phase. */
    expect_row("Pod",
               "{'metadata': {'name': 'g', 'creationTimestamp': '2026-11-23T11:59:15Z'},"
               " 'spec': {'containers': [{'name': 'a'}]},"
               " 'status': {'phase': 'Pending', 'conditions': [{'type': 'PodScheduled',"
               "   'status': 'False', 'reason': 'SchedulingGated'}]}}",
               "['g', '0/1', 'SchedulingGated', '0', '45s', '<none>', '<none>', '<none>',"
               " '<none>']");
}

static void test_pod_waiting_reason(void **state)
{
    (void)state;
    /* The last container's waiting reason; 90s is still seconds. */
    expect_row("Pod",
               "{'metadata': {'name': 'crash', 'creationTimestamp': '2026-11-23T09:00:00Z'},"
               " 'spec': {'containers': [{'name': 'app'}]},"
               " 'status': {'phase': 'Running', 'containerStatuses': [{'name': 'app',"
               "   'ready': false, 'restartCount': 5,"
               "   'state': {'waiting': {'reason': 'CrashLoopBackOff', 'message': 'back-off'}},"
               "   'lastState': {'terminated': {'exitCode': 1, 'reason': 'Error',"
               "                                'finishedAt': '2026-11-23T11:58:30Z'}}}]}}",
               "['crash', '0/1', 'CrashLoopBackOff', '5 (90s ago)', '3h', '<none>', '<none>',"
               " '<none>', '<none>']");
    /* A terminated container without a reason: its signal, else exit code. */
    expect_row("Pod",
               "{'metadata': {'name': 'k'}, 'spec': {'containers': [{'name': 'a'}, {'name': 'b'}]},"
               " 'status': {'phase': 'Running', 'containerStatuses': ["
               "   {'name': 'a', 'state': {'terminated': {'exitCode': 137, 'signal': 9}}},"
               "   {'name': 'b', 'state': {'terminated': {'exitCode': 2}}}]}}",
               "['k', '0/2', 'Signal:9', '0', '<unknown>', '<none>', '<none>', '<none>',"
               " '<none>']");
}

static void test_pod_completed(void **state)
{
    (void)state;
    kr_value_t *t =
        table(kind("Pod"),
              "{'metadata': {'name': 'job-x', 'creationTimestamp': '2026-11-13T12:00:00Z'},"
              " 'spec': {'containers': [{'name': 'job'}]},"
              " 'status': {'phase': 'Succeeded', 'containerStatuses': [{'name': 'job',"
              "   'ready': false, 'restartCount': 0, 'state': {'terminated': {'exitCode': 0,"
              "   'reason': 'Completed', 'finishedAt': '2026-11-13T12:01:00Z'}}}]}}",
              REST_TABLE_NONE);
    expect_cells(t, 0,
                 "['job-x', '0/1', 'Completed', '0', '10d', '<none>', '<none>', '<none>',"
                 " '<none>']");
    /* podSuccessConditions */
    expect_equal(kr_value_get(t, "rows[0].conditions"),
                 "[{'type': 'Completed', 'status': 'True', 'reason': 'Succeeded',"
                 "  'message': 'The pod has completed successfully.'}]",
                 "conditions");
    t = table(kind("Pod"),
              "{'metadata': {'name': 'f'}, 'spec': {'containers': [{'name': 'a'}]},"
              " 'status': {'phase': 'Failed', 'containerStatuses': [{'name': 'a',"
              "   'state': {'terminated': {'exitCode': 3, 'reason': 'Error'}}}]}}",
              REST_TABLE_NONE);
    expect_cells(t, 0,
                 "['f', '0/1', 'Error', '0', '<unknown>', '<none>', '<none>', '<none>', '<none>']");
    expect_equal(kr_value_get(t, "rows[0].conditions"),
                 "[{'type': 'Completed', 'status': 'True', 'reason': 'Failed',"
                 "  'message': 'The pod failed.'}]",
                 "conditions");
    /* "Completed" with a container still running and ready: Running if
     * the pod is Ready, else NotReady. */
    expect_row(
        "Pod",
        "{'metadata': {'name': 'c'}, 'spec': {'containers': [{'name': 'a'}, {'name': 'b'}]},"
        " 'status': {'phase': 'Running', 'conditions': [{'type': 'Ready', 'status': 'False'}],"
        "   'containerStatuses': ["
        "   {'name': 'a', 'ready': false, 'state': {'terminated': {'exitCode': 0,"
        "    'reason': 'Completed'}}},"
        "   {'name': 'b', 'ready': true, 'state': {'running': {}}}]}}",
        "['c', '1/2', 'NotReady', '0', '<unknown>', '<none>', '<none>', '<none>',"
        " '<none>']");
}

static void test_pod_terminating(void **state)
{
    (void)state;
    expect_row("Pod",
               "{'metadata': {'name': 't', 'creationTimestamp': '2026-11-23T11:00:00Z',"
               "              'deletionTimestamp': '2026-11-23T11:59:50Z'},"
               " 'spec': {'containers': [{'name': 'a'}]},"
               " 'status': {'phase': 'Running', 'containerStatuses': [{'name': 'a',"
               "   'ready': true, 'restartCount': 0, 'state': {'running': {}}}]}}",
               "['t', '1/1', 'Terminating', '0', '60m', '<none>', '<none>', '<none>', '<none>']");
    /* On a lost node a deleted pod is Unknown; a finished one keeps its
     * phase. */
    expect_row("Pod",
               "{'metadata': {'name': 'u', 'deletionTimestamp': '2026-11-23T11:59:50Z'},"
               " 'spec': {'containers': [{'name': 'a'}]},"
               " 'status': {'phase': 'Running', 'reason': 'NodeLost'}}",
               "['u', '0/1', 'Unknown', '0', '<unknown>', '<none>', '<none>', '<none>',"
               " '<none>']");
    expect_row("Pod",
               "{'metadata': {'name': 'd', 'deletionTimestamp': '2026-11-23T11:59:50Z'},"
               " 'spec': {'containers': [{'name': 'a'}]}, 'status': {'phase': 'Succeeded'}}",
               "['d', '0/1', 'Succeeded', '0', '<unknown>', '<none>', '<none>', '<none>',"
               " '<none>']");
}

static void test_pod_init(void **state)
{
    (void)state;
    /* The first init container is running: Init:<index>/<count>. */
    expect_row(
        "Pod",
        "{'metadata': {'name': 'i', 'creationTimestamp': '2026-11-23T11:58:00Z'},"
        " 'spec': {'initContainers': [{'name': 'init-db'}], 'containers': [{'name': 'app'}]},"
        " 'status': {'phase': 'Pending', 'conditions': [{'type': 'Initialized',"
        "   'status': 'False'}],"
        "   'initContainerStatuses': [{'name': 'init-db', 'ready': false,"
        "     'restartCount': 0, 'state': {'running': {}}}],"
        "   'containerStatuses': [{'name': 'app', 'ready': false, 'restartCount': 0,"
        "     'state': {'waiting': {'reason': 'PodInitializing'}}}]}}",
        "['i', '0/1', 'Init:0/1', '0', '2m', '<none>', '<none>', '<none>', '<none>']");
    /* A failing init container: its waiting reason, and its restarts count
     * while the pod initializes. */
    expect_row("Pod",
               "{'metadata': {'name': 'j'},"
               " 'spec': {'initContainers': [{'name': 'one'}, {'name': 'two'}],"
               "          'containers': [{'name': 'app'}]},"
               " 'status': {'phase': 'Pending', 'initContainerStatuses': ["
               "   {'name': 'one', 'restartCount': 0, 'state': {'terminated': {'exitCode': 0}}},"
               "   {'name': 'two', 'restartCount': 3,"
               "    'state': {'waiting': {'reason': 'CrashLoopBackOff'}},"
               "    'lastState': {'terminated': {'exitCode': 1,"
               "                                 'finishedAt': '2026-11-23T11:30:00Z'}}}]}}",
               "['j', '0/1', 'Init:CrashLoopBackOff', '3 (30m ago)', '<unknown>', '<none>',"
               " '<none>', '<none>', '<none>']");
    /* A sidecar (restartable init container) counts as a container, and
     * only its restarts count once the pod is initialized. */
    expect_row("Pod",
               "{'metadata': {'name': 's'},"
               " 'spec': {'initContainers': [{'name': 'proxy', 'restartPolicy': 'Always'}],"
               "          'containers': [{'name': 'app'}]},"
               " 'status': {'phase': 'Running', 'conditions': [{'type': 'Initialized',"
               "   'status': 'True'}, {'type': 'Ready', 'status': 'True'}],"
               "   'initContainerStatuses': [{'name': 'proxy', 'ready': true, 'started': true,"
               "     'restartCount': 1, 'state': {'running': {}}}],"
               "   'containerStatuses': [{'name': 'app', 'ready': true, 'restartCount': 0,"
               "     'state': {'running': {}}}]}}",
               "['s', '2/2', 'Running', '1', '<unknown>', '<none>', '<none>', '<none>', '<none>']");
}

/* ---- workloads ---------------------------------------------------------------- */

static void test_deployment(void **state)
{
    (void)state;
    /* printDeployment: Ready "<ready>/<spec.replicas>", UP-TO-DATE and
     * AVAILABLE int64 cells, the selector's String(). */
    kr_value_t *t =
        table(kind("Deployment"),
              "{'metadata': {'name': 'web', 'creationTimestamp': '2026-11-23T11:30:00Z'},"
              " 'spec': {'replicas': 3,"
              "   'selector': {'matchLabels': {'app': 'web'}, 'matchExpressions': [{'key': 'tier',"
              "     'operator': 'In', 'values': ['front', 'edge']}]},"
              "   'template': {'spec': {'containers': [{'name': 'web', 'image': 'nginx:1.25'},"
              "                                        {'name': 'log', 'image': 'busybox'}]}}},"
              " 'status': {'replicas': 3, 'readyReplicas': 2, 'updatedReplicas': 3,"
              "            'availableReplicas': 2}}",
              REST_TABLE_NONE);
    expect_cells(t, 0,
                 "['web', '2/3', 3, 2, '30m', 'web,log', 'nginx:1.25,busybox',"
                 " 'app=web,tier in (edge,front)']");
    assert_string_equal(kr_value_as_str(kr_value_get(t, "columnDefinitions[2].type")), "string");
    /* Before the controller wrote a status. */
    expect_row("Deployment",
               "{'metadata': {'name': 'new'}, 'spec': {'replicas': 1,"
               " 'selector': {'matchLabels': {'app': 'new'}},"
               " 'template': {'spec': {'containers': [{'name': 'c', 'image': 'i'}]}}}}",
               "['new', '0/1', 0, 0, '<unknown>', 'c', 'i', 'app=new']");
}

static void test_replicaset_daemonset_statefulset(void **state)
{
    (void)state;
    /* printReplicaSet: int64 counts, FormatLabelSelector. */
    expect_row("ReplicaSet",
               "{'metadata': {'name': 'web-5d4f', 'creationTimestamp': '2026-11-23T04:00:00Z'},"
               " 'spec': {'replicas': 3, 'selector': {'matchExpressions': ["
               "   {'key': 'app', 'operator': 'NotIn', 'values': ['db']},"
               "   {'key': 'canary', 'operator': 'DoesNotExist'},"
               "   {'key': 'app.kubernetes.io/name', 'operator': 'Exists'}]},"
               "   'template': {'spec': {'containers': [{'name': 'web', 'image': 'nginx'}]}}},"
               " 'status': {'replicas': 3}}",
               "['web-5d4f', 3, 3, 0, '8h', 'web', 'nginx',"
               " 'app notin (db),app.kubernetes.io/name,!canary']");
    /* An operator LabelSelectorAsSelector refuses prints <error>; an empty
     * selector selects everything and prints <none>. */
    expect_row("ReplicaSet",
               "{'metadata': {'name': 'bad'}, 'spec': {'selector': {'matchExpressions': ["
               "   {'key': 'a', 'operator': 'Exists', 'values': ['x']}]}}}",
               "['bad', 0, 0, 0, '<unknown>', '', '', '<error>']");
    expect_row("ReplicaSet", "{'metadata': {'name': 'all'}, 'spec': {'selector': {}}}",
               "['all', 0, 0, 0, '<unknown>', '', '', '<none>']");
    /* printDaemonSet: node selector as FormatLabels. */
    expect_row("DaemonSet",
               "{'metadata': {'name': 'agent', 'creationTimestamp': '2026-11-22T12:00:00Z'},"
               " 'spec': {'selector': {'matchLabels': {'app': 'agent'}}, 'template': {'spec': {"
               "   'nodeSelector': {'kubernetes.io/os': 'linux', 'disk': 'ssd'},"
               "   'containers': [{'name': 'a', 'image': 'agent:1'}]}}},"
               " 'status': {'desiredNumberScheduled': 4, 'currentNumberScheduled': 4,"
               "   'numberReady': 3, 'updatedNumberScheduled': 4, 'numberAvailable': 3}}",
               "['agent', 4, 4, 3, 4, 3, 'disk=ssd,kubernetes.io/os=linux', '24h', 'a',"
               " 'agent:1', 'app=agent']");
    /* printStatefulSet */
    expect_row("StatefulSet",
               "{'metadata': {'name': 'db', 'creationTimestamp': '2026-11-23T11:57:30Z'},"
               " 'spec': {'replicas': 3, 'template': {'spec': {'containers': ["
               "   {'name': 'pg', 'image': 'postgres:16'}]}}}, 'status': {'readyReplicas': 1}}",
               "['db', '1/3', '2m30s', 'pg', 'postgres:16']");
}

static void test_job(void **state)
{
    (void)state;
    /* printJob: Complete, <succeeded>/<completions>, completionTime -
     * startTime. */
    expect_row("Job",
               "{'metadata': {'name': 'pi', 'creationTimestamp': '2026-11-23T09:58:00Z'},"
               " 'spec': {'completions': 3, 'parallelism': 1,"
               "   'selector': {'matchLabels': {'batch.kubernetes.io/controller-uid': 'abc'}},"
               "   'template': {'spec': {'containers': [{'name': 'pi', 'image': 'perl'}]}}},"
               " 'status': {'succeeded': 3, 'startTime': '2026-11-23T10:00:00Z',"
               "   'completionTime': '2026-11-23T10:02:05Z',"
               "   'conditions': [{'type': 'Complete', 'status': 'True'}]}}",
               "['pi', 'Complete', '3/3', '2m5s', '122m', 'pi', 'perl',"
               " 'batch.kubernetes.io/controller-uid=abc']");
    /* Still running, no completions, parallelism 2: "0/1 of 2", time
     * since start. */
    expect_row("Job",
               "{'metadata': {'name': 'w'}, 'spec': {'parallelism': 2},"
               " 'status': {'startTime': '2026-11-23T11:50:00Z', 'active': 2}}",
               "['w', 'Running', '0/1 of 2', '10m', '<unknown>', '', '', '<none>']");
    /* Failed before Suspended; a False condition does not count; not
     * started: no duration. */
    expect_row(
        "Job",
        "{'metadata': {'name': 'f'}, 'spec': {'completions': 1},"
        " 'status': {'conditions': [{'type': 'Complete', 'status': 'False'},"
        "   {'type': 'Suspended', 'status': 'True'}, {'type': 'Failed', 'status': 'True'}]}}",
        "['f', 'Failed', '0/1', '', '<unknown>', '', '', '<none>']");
    expect_row("Job",
               "{'metadata': {'name': 's'},"
               " 'status': {'conditions': [{'type': 'Suspended', 'status': 'True'}]}}",
               "['s', 'Suspended', '0/1', '', '<unknown>', '', '', '<none>']");
    expect_row("Job",
               "{'metadata': {'name': 'd', 'deletionTimestamp': '2026-11-23T11:00:00Z'},"
               " 'status': {'conditions': [{'type': 'Suspended', 'status': 'True'}]}}",
               "['d', 'Terminating', '0/1', '', '<unknown>', '', '', '<none>']");
}

static void test_cronjob(void **state)
{
    (void)state;
    /* printCronJob: "<none>" without a time zone or a last schedule,
     * printBoolPtr for suspend, the number of active jobs. */
    expect_row("CronJob",
               "{'metadata': {'name': 'nightly', 'creationTimestamp': '2026-11-20T12:00:00Z'},"
               " 'spec': {'schedule': '0 3 * * *', 'jobTemplate': {'spec': {'template': {'spec':"
               "   {'containers': [{'name': 'backup', 'image': 'backup:2'}]}}}}},"
               " 'status': {'active': [{'name': 'nightly-1'}, {'name': 'nightly-2'}]}}",
               "['nightly', '0 3 * * *', '<none>', '<unset>', 2, '<none>', '3d', 'backup',"
               " 'backup:2', '<none>']");
    expect_row("CronJob",
               "{'metadata': {'name': 'five'}, 'spec': {'schedule': '*/5 * * * *',"
               " 'timeZone': 'Etc/UTC', 'suspend': false},"
               " 'status': {'lastScheduleTime': '2026-11-23T11:55:00Z'}}",
               "['five', '*/5 * * * *', 'Etc/UTC', 'False', 0, '5m', '<unknown>', '', '',"
               " '<none>']");
}

/* ---- services, endpoints, nodes ------------------------------------------------ */

static void test_service(void **state)
{
    (void)state;
    /* printService, makePortString, getServiceExternalIP */
    expect_row("Service",
               "{'metadata': {'name': 'web', 'creationTimestamp': '2026-11-16T12:00:00Z'},"
               " 'spec': {'type': 'ClusterIP', 'clusterIP': '10.96.0.10',"
               "   'clusterIPs': ['10.96.0.10'], 'selector': {'tier': 'front', 'app': 'web'},"
               "   'ports': [{'port': 80, 'protocol': 'TCP'},"
               "             {'port': 443, 'protocol': 'TCP', 'nodePort': 30443}]}}",
               "['web', 'ClusterIP', '10.96.0.10', '<none>', '80/TCP,443:30443/TCP', '7d',"
               " 'app=web,tier=front']");
    expect_row("Service",
               "{'metadata': {'name': 'lb'}, 'spec': {'type': 'LoadBalancer',"
               "   'clusterIP': '10.96.0.11', 'externalIPs': ['198.51.100.7'],"
               "   'ports': [{'port': 53, 'protocol': 'UDP', 'nodePort': 31053}]},"
               " 'status': {'loadBalancer': {'ingress': [{'ip': '203.0.113.9'},"
               "   {'hostname': 'lb.example.com'}, {'ip': '203.0.113.9'}]}}}",
               "['lb', 'LoadBalancer', '10.96.0.11', '203.0.113.9,lb.example.com,198.51.100.7',"
               " '53:31053/UDP', '<unknown>', '<none>']");
    expect_row("Service",
               "{'metadata': {'name': 'wait'}, 'spec': {'type': 'LoadBalancer',"
               "   'clusterIP': '10.96.0.12', 'ports': [{'port': 80, 'protocol': 'TCP'}]}}",
               "['wait', 'LoadBalancer', '10.96.0.12', '<pending>', '80/TCP', '<unknown>',"
               " '<none>']");
    expect_row("Service",
               "{'metadata': {'name': 'db'}, 'spec': {'type': 'ExternalName',"
               "   'externalName': 'db.example.com'}}",
               "['db', 'ExternalName', '<none>', 'db.example.com', '<none>', '<unknown>',"
               " '<none>']");
    expect_row("Service",
               "{'metadata': {'name': 'np'}, 'spec': {'type': 'NodePort', 'clusterIP': 'None',"
               "   'externalIPs': ['192.0.2.1', '192.0.2.2']}}",
               "['np', 'NodePort', 'None', '192.0.2.1,192.0.2.2', '<none>', '<unknown>',"
               " '<none>']");
}

static void test_endpoints(void **state)
{
    (void)state;
    /* formatEndpoints: addresses x ports, three at most. */
    expect_row("Endpoints",
               "{'metadata': {'name': 'web'}, 'subsets': [{'addresses': [{'ip': '10.0.0.1'},"
               "   {'ip': '10.0.0.2'}], 'notReadyAddresses': [{'ip': '10.0.0.9'}],"
               "   'ports': [{'port': 80}, {'port': 443}]}]}",
               "['web', '10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...', '<unknown>']");
    expect_row("Endpoints",
               "{'metadata': {'name': 'v6'}, 'subsets': [{'addresses': [{'ip': 'fd00::1'}],"
               "   'ports': [{'port': 8080}]}, {'addresses': [{'ip': '10.0.0.3'}]}]}",
               "['v6', '[fd00::1]:8080,10.0.0.3', '<unknown>']");
    expect_row("Endpoints", "{'metadata': {'name': 'none'}}", "['none', '<none>', '<unknown>']");
}

static void test_node(void **state)
{
    (void)state;
    /* printNode, findNodeRoles, getNodeInternalIP / getNodeExternalIP */
    expect_row("Node",
               "{'metadata': {'name': 'n1', 'creationTimestamp': '2026-01-23T12:00:00Z',"
               "   'labels': {'node-role.kubernetes.io/master': '',"
               "              'node-role.kubernetes.io/control-plane': '',"
               "              'kubernetes.io/role': 'worker', 'kubernetes.io/hostname': 'n1',"
               "              'node-role.kubernetes.io/': 'x'}},"
               " 'spec': {'unschedulable': true},"
               " 'status': {'conditions': [{'type': 'MemoryPressure', 'status': 'False'},"
               "                           {'type': 'Ready', 'status': 'True'}],"
               "   'addresses': [{'type': 'InternalIP', 'address': '192.168.1.10'},"
               "                 {'type': 'Hostname', 'address': 'n1'}],"
               "   'nodeInfo': {'kubeletVersion': 'v1.31.0', 'kernelVersion': '6.1.0',"
               "     'osImage': 'Debian GNU/Linux 12 (bookworm)', 'containerRuntimeVersion': ''}}}",
               "['n1', 'Ready,SchedulingDisabled', 'control-plane,master,worker', '304d',"
               " 'v1.31.0', '192.168.1.10', '<none>', 'Debian GNU/Linux 12 (bookworm)', '6.1.0',"
               " '<unknown>']");
    expect_row("Node",
               "{'metadata': {'name': 'n2'}, 'status': {"
               "   'conditions': [{'type': 'Ready', 'status': 'Unknown'}],"
               "   'addresses': [{'type': 'ExternalIP', 'address': '203.0.113.20'},"
               "                 {'type': 'ExternalIP', 'address': '203.0.113.21'}]}}",
               "['n2', 'NotReady', '<none>', '<unknown>', '', '<none>', '203.0.113.20',"
               " '<unknown>', '<unknown>', '<unknown>']");
    expect_row("Node", "{'metadata': {'name': 'n3'}}",
               "['n3', 'Unknown', '<none>', '<unknown>', '', '<none>', '<none>', '<unknown>',"
               " '<unknown>', '<unknown>']");
}

/* ---- config, events, the rest ---------------------------------------------------- */

static void test_configmap_secret(void **state)
{
    (void)state;
    /* printConfigMap: int64(len(Data)+len(BinaryData)); printSecret:
     * len(Data) only. */
    expect_row("ConfigMap",
               "{'metadata': {'name': 'cfg', 'creationTimestamp': '2026-11-23T11:59:59Z'},"
               " 'data': {'a': '1', 'b': '2'}, 'binaryData': {'c': 'AA=='}}",
               "['cfg', 3, '1s']");
    expect_row("ConfigMap", "{'metadata': {'name': 'empty'}}", "['empty', 0, '<unknown>']");
    expect_row("Secret",
               "{'metadata': {'name': 'tls'}, 'type': 'kubernetes.io/tls',"
               " 'data': {'tls.crt': 'AA==', 'tls.key': 'AA=='}, 'binaryData': {'x': 'AA=='}}",
               "['tls', 'kubernetes.io/tls', 2, '<unknown>']");
    /* printServiceAccount: int64(len(Secrets)) */
    expect_row("ServiceAccount", "{'metadata': {'name': 'default'}, 'secrets': [{'name': 'tok'}]}",
               "['default', 1, '<unknown>']");
}

static void test_event(void **state)
{
    (void)state;
    /* printEvent (wide): last seen, type, reason, kind/name, field path,
     * "component, host", the message trimmed, first seen, count, name. */
    expect_row("Event",
               "{'metadata': {'name': 'web-1.17a'}, 'type': 'Warning', 'reason': 'BackOff',"
               " 'involvedObject': {'kind': 'Pod', 'name': 'web-1',"
               "   'fieldPath': 'spec.containers{app}'},"
               " 'message': '  Back-off restarting failed container\\n',"
               " 'source': {'component': 'kubelet', 'host': 'node-1'},"
               " 'firstTimestamp': '2026-11-23T11:00:00Z', 'lastTimestamp': '2026-11-23T11:59:00Z',"
               " 'count': 12}",
               "['60s', 'Warning', 'BackOff', 'pod/web-1', 'spec.containers{app}',"
               " 'kubelet, node-1', 'Back-off restarting failed container', '60m', 12,"
               " 'web-1.17a']");
    /* An events.k8s.io-style event: series for last seen and count,
     * eventTime for first seen, reportingController as the source. */
    expect_row("Event",
               "{'metadata': {'name': 'n.1'}, 'type': 'Normal', 'reason': 'Starting',"
               " 'involvedObject': {'kind': 'Node'}, 'message': 'Starting kubelet.',"
               " 'reportingController': 'kubelet', 'reportingInstance': 'node-2',"
               " 'eventTime': '2026-11-23T11:50:00.000000Z',"
               " 'series': {'count': 4, 'lastObservedTime': '2026-11-23T11:57:00.000000Z'}}",
               "['3m', 'Normal', 'Starting', 'node', '', 'kubelet, node-2', 'Starting kubelet.',"
               " '10m', 4, 'n.1']");
    /* A singleton without count counts 1; no lastTimestamp: first seen. */
    expect_row("Event",
               "{'metadata': {'name': 'e'}, 'type': 'Normal', 'reason': 'Scheduled',"
               " 'involvedObject': {'kind': 'Pod', 'name': 'p'}, 'message': 'ok',"
               " 'source': {'component': 'default-scheduler'},"
               " 'firstTimestamp': '2026-11-23T11:59:30Z'}",
               "['30s', 'Normal', 'Scheduled', 'pod/p', '', 'default-scheduler', 'ok', '30s', 1,"
               " 'e']");
}

static void test_other_builtins(void **state)
{
    (void)state;
    /* printNamespace, printLease, printPriorityClass (wide) */
    expect_row("Namespace",
               "{'metadata': {'name': 'kube-system', 'creationTimestamp': '2026-11-23T07:30:00Z'},"
               " 'status': {'phase': 'Active'}}",
               "['kube-system', 'Active', '4h30m']");
    expect_row("Lease", "{'metadata': {'name': 'l'}}", "['l', '', '<unknown>']");
    expect_row("Lease", "{'metadata': {'name': 'l'}, 'spec': {'holderIdentity': 'node-1'}}",
               "['l', 'node-1', '<unknown>']");
    expect_row("PriorityClass",
               "{'metadata': {'name': 'high'}, 'value': 1000,"
               " 'preemptionPolicy': 'PreemptLowerPriority'}",
               "['high', 1000, false, '<unknown>', 'PreemptLowerPriority']");
    expect_row("PriorityClass", "{'metadata': {'name': 'default'}, 'globalDefault': true}",
               "['default', 0, true, '<unknown>', '']");
}

/* printRole, printClusterRole, printRoleBinding, printClusterRoleBinding */
static void test_rbac(void **state)
{
    (void)state;
    /* "Created At" is the time itself (UTC, RFC 3339), not an age */
    kr_value_t *t = table(kind("ClusterRole"),
                          "{'metadata': {'name': 'view',"
                          " 'creationTimestamp': '2026-11-20T08:00:00.5+02:00'}}",
                          REST_TABLE_NONE);
    expect_equal(kr_value_get(t, "columnDefinitions[1].type"), "'date'", "Created At type");
    expect_cells(t, 0, "['view', '2026-11-20T06:00:00Z']");
    expect_row("Role", "{'metadata': {'name': 'r', 'namespace': 'default'}}",
               "['r', '0001-01-01T00:00:00Z']");
    /* ROLE is kind/name; the wide columns split the subjects by kind, a
     * ServiceAccount as namespace/name */
    expect_row("ClusterRoleBinding",
               "{'metadata': {'name': 'admins', 'creationTimestamp': '2026-11-23T11:00:00Z'},"
               " 'roleRef': {'apiGroup': 'rbac.authorization.k8s.io', 'kind': 'ClusterRole',"
               "             'name': 'cluster-admin'},"
               " 'subjects': [{'kind': 'User', 'name': 'jane'}, {'kind': 'Group', 'name': 'ops'},"
               "  {'kind': 'ServiceAccount', 'name': 'robot', 'namespace': 'ci'},"
               "  {'kind': 'User', 'name': 'joe'}, {'kind': 'Group', 'name': 'sre'},"
               "  {'kind': 'ServiceAccount', 'name': 'b', 'namespace': 'kube-system'}]}",
               "['admins', 'ClusterRole/cluster-admin', '60m', 'jane, joe', 'ops, sre',"
               " 'ci/robot, kube-system/b']");
    expect_row("RoleBinding",
               "{'metadata': {'name': 'rb', 'namespace': 'default'},"
               " 'roleRef': {'kind': 'Role', 'name': 'pod-reader'}}",
               "['rb', 'Role/pod-reader', '<unknown>', '', '', '']");
}

/* printResourceQuota (names sorted, limits.* apart, a missing used is
 * "0"), printLimitRange */
static void test_quota(void **state)
{
    (void)state;
    expect_row("ResourceQuota",
               "{'metadata': {'name': 'q', 'namespace': 'a'},"
               " 'status': {'hard': {'requests.cpu': '2', 'pods': '10', 'limits.memory': '2Gi',"
               "  'count/deployments.apps': '3', 'limits.cpu': '4'},"
               "  'used': {'requests.cpu': '1500m', 'pods': '3', 'limits.memory': '1536Mi'}}}",
               "['q', '<unknown>', 'count/deployments.apps: 0/3, pods: 3/10, requests.cpu: "
               "1500m/2', 'limits.cpu: 0/4, limits.memory: 1536Mi/2Gi']");
    expect_row("ResourceQuota", "{'metadata': {'name': 'new', 'namespace': 'a'}}",
               "['new', '<unknown>', '', '']");
    expect_row("LimitRange",
               "{'metadata': {'name': 'lr', 'namespace': 'a',"
               " 'creationTimestamp': '2026-11-23T11:00:00Z'}}",
               "['lr', '2026-11-23T11:00:00Z']");
}

static void test_ages(void **state)
{
    (void)state;
    /* duration.HumanDuration at its boundaries. */
    static const struct {
        const char *ts;
        const char *age;
    } cases[] = {
        {"2026-11-23T12:00:00Z", "0s"},
        {"2026-11-23T12:00:01Z", "0s"}, /* up to a second ahead: clock skew */
        {"2026-11-23T12:00:05Z", "<invalid>"},
        {"2026-11-23T11:59:59.5Z", "0s"},
        {"2026-11-23T11:58:01Z", "119s"},
        {"2026-11-23T11:58:00Z", "2m"},
        {"2026-11-23T11:57:30Z", "2m30s"},
        {"2026-11-23T11:50:00Z", "10m"},
        {"2026-11-23T09:01:00Z", "179m"},
        {"2026-11-23T04:01:00Z", "7h59m"},
        {"2026-11-23T04:00:00Z", "8h"},
        {"2026-11-21T13:00:00Z", "47h"},
        {"2026-11-21T12:00:00Z", "2d"},
        {"2026-11-15T13:00:00Z", "7d23h"},
        {"2026-11-15T12:00:00Z", "8d"},
        {"2024-11-24T12:00:00Z", "729d"},
        {"2024-11-23T12:00:00Z", "2y"},
        {"2024-11-22T12:00:00Z", "2y1d"},
        {"2018-11-25T12:00:00Z", "8y"},
        {"2026-11-23T13:00:00+02:00", "60m"},
        {"2026-11-23T06:30:00-05:00", "30m"},
        {"0001-01-01T00:00:00Z", "<unknown>"},
        {"", "<unknown>"},
        {"yesterday", "<invalid>"},
        {"2026-02-29T00:00:00Z", "<invalid>"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char obj[256];
        snprintf(obj, sizeof obj, "{'metadata': {'name': 'n', 'creationTimestamp': '%s'}}",
                 cases[i].ts);
        kr_value_t *t = table(kind("Namespace"), obj, REST_TABLE_NONE);
        const char *age = kr_value_as_str(kr_value_get(t, "rows[0].cells[2]"));
        if (age == NULL || strcmp(age, cases[i].age) != 0)
            fail_msg("%s: got %s, want %s", cases[i].ts, age ? age : "(null)", cases[i].age);
    }
}

/* ---- kinds without Go printers: the CRD convertor ------------------------------- */

static const char widget_kind[] =
    "{'group': 'example.com', 'version': 'v1', 'kind': 'Widget', 'plural': 'widgets',"
    " 'namespaced': true, 'additionalPrinterColumns': ["
    "  {'name': 'Replicas', 'type': 'integer', 'jsonPath': '.spec.replicas'},"
    "  {'name': 'Ready', 'type': 'string',"
    "   'jsonPath': '.status.conditions[?(@.type==\\'Ready\\')].status'},"
    "  {'name': 'Color', 'type': 'string', 'jsonPath': '.spec.color',"
    "   'description': 'The color', 'priority': 1},"
    "  {'name': 'Sizes', 'type': 'string', 'jsonPath': '.spec.sizes[*]'},"
    "  {'name': 'Second', 'type': 'string', 'jsonPath': '.spec.sizes[1]'},"
    "  {'name': 'Ratio', 'type': 'number', 'jsonPath': '.spec.ratio'},"
    "  {'name': 'Enabled', 'type': 'boolean', 'jsonPath': '.spec.enabled'},"
    "  {'name': 'Missing', 'type': 'string', 'jsonPath': '.spec.nothing'},"
    "  {'name': 'Count', 'type': 'string', 'jsonPath': '.spec.replicas'},"
    "  {'name': 'Whole', 'type': 'integer', 'jsonPath': '.spec.ratio'},"
    "  {'name': 'Created', 'type': 'date', 'jsonPath': '.metadata.creationTimestamp',"
    "   'format': 'date-time'},"
    "  {'name': 'Labels', 'type': 'string', 'jsonPath': '.metadata.labels'},"
    "  {'name': 'Null', 'type': 'string', 'jsonPath': '.spec.nil'},"
    "  {'name': 'Big', 'type': 'string', 'jsonPath': '.spec.big'}]}";

static const char widget[] =
    "{'apiVersion': 'example.com/v1', 'kind': 'Widget',"
    " 'metadata': {'name': 'w1', 'labels': {'b': '2', 'a': '1'},"
    "   'creationTimestamp': '2026-11-21T08:00:00Z', 'resourceVersion': '7'},"
    " 'spec': {'replicas': 3, 'color': 'blue', 'sizes': ['S', 'M', 'L'], 'ratio': 2.5,"
    "   'enabled': true, 'nil': null, 'big': 1234567.0},"
    " 'status': {'conditions': [{'type': 'Synced', 'status': 'False'},"
    "   {'type': 'Ready', 'status': 'True'}]}}";

static void test_plugin_kind(void **state)
{
    (void)state;
    kr_value_t *t = table(J(widget_kind), widget, REST_TABLE_METADATA);
    /* tableconvertor.New: Name first, then the columns; a column without a
     * description gets the JSONPath text. */
    expect_equal(kr_value_get(t, "columnDefinitions[0]"),
                 "{'name': 'Name', 'type': 'string', 'format': 'name', 'description': 'Name must "
                 "be unique within a namespace. Is required when creating resources, although "
                 "some resources may allow a client to request the generation of an appropriate "
                 "name automatically. Name is primarily intended for creation idempotence and "
                 "configuration definition. Cannot be updated. More info: "
                 "http://kubernetes.io/docs/user-guide/identifiers#names', 'priority': 0}",
                 "Name column");
    expect_equal(kr_value_get(t, "columnDefinitions[1]"),
                 "{'name': 'Replicas', 'type': 'integer', 'format': '', 'description': 'Custom "
                 "resource definition column (in JSONPath format): .spec.replicas', 'priority': 0}",
                 "Replicas column");
    expect_equal(kr_value_get(t, "columnDefinitions[3]"),
                 "{'name': 'Color', 'type': 'string', 'format': '', 'description': 'The color',"
                 " 'priority': 1}",
                 "Color column");
    assert_string_equal(kr_value_as_str(kr_value_get(t, "columnDefinitions[11].format")),
                        "date-time");
    /* Cells: the first value a path finds; typed by the column; a string
     * column prints numbers and maps (JSON, keys sorted) as jsonpath does;
     * null prints as "<no value>"; nothing found is nil; dates are ages. */
    expect_cells(t, 0,
                 "['w1', 3, 'True', 'blue', 'S', 'M', 2.5, true, null, '3', 2, '2d4h',"
                 " '{\\'a\\':\\'1\\',\\'b\\':\\'2\\'}', '<no value>', '1.234567e+06']");
    expect_equal(kr_value_get(t, "metadata"), "{'resourceVersion': '7'}", "metadata");
}

static void test_plugin_kind_bad_path(void **state)
{
    (void)state;
    /* The CRD handler falls back to the columns before one whose path does
     * not parse. */
    kr_value_t *t =
        table(J("{'group': 'example.com', 'version': 'v1', 'kind': 'Gadget',"
                " 'additionalPrinterColumns': ["
                "  {'name': 'A', 'type': 'string', 'jsonPath': '.spec.a'},"
                "  {'name': 'B', 'type': 'string', 'jsonPath': '.spec..b'},"
                "  {'name': 'C', 'type': 'string', 'jsonPath': '.spec.c'}]}"),
              "{'metadata': {'name': 'g'}, 'spec': {'a': 'x', 'c': 'z'}}", REST_TABLE_NONE);
    assert_int_equal(kr_value_len(kr_value_get(t, "columnDefinitions")), 2);
    expect_cells(t, 0, "['g', 'x']");
}

static void test_default_table(void **state)
{
    (void)state;
    /* A kind without columns: serveDefaultColumnsIfEmpty's Age (a date
     * column, so an age cell) after the Name column. */
    kr_value_t *t =
        table(J("{'group': 'example.com', 'version': 'v1', 'kind': 'Plain',"
                " 'plural': 'plains', 'namespaced': false,"
                " 'additionalPrinterColumns': []}"),
              "{'metadata': {'name': 'p', 'creationTimestamp': '2026-11-23T11:00:00Z'}}",
              REST_TABLE_NONE);
    expect_equal(kr_value_get(t, "columnDefinitions[1]"),
                 "{'name': 'Age', 'type': 'date', 'format': '', 'description': 'CreationTimestamp "
                 "is a timestamp representing the server time when this object was created. It "
                 "is not guaranteed to be set in happens-before order across separate "
                 "operations. Clients may not set this value. It is represented in RFC3339 form "
                 "and is in UTC.\\n\\nPopulated by the system. Read-only. Null for lists. More "
                 "info: https://git.k8s.io/community/contributors/devel/"
                 "api-conventions.md#metadata', 'priority': 0}",
                 "Age column");
    assert_int_equal(kr_value_len(kr_value_get(t, "columnDefinitions")), 2);
    expect_cells(t, 0, "['p', '60m']");
    /* Built-in Binding has no printer either; without a timestamp the
     * path finds nothing, a nil cell. */
    t = table(kind("Binding"), "{'metadata': {'name': 'b'}}", REST_TABLE_NONE);
    expect_cells(t, 0, "['b', null]");
}

/* ---- lists and includeObject ---------------------------------------------------- */

static const char pod_list[] =
    "{'apiVersion': 'v1', 'kind': 'PodList',"
    " 'metadata': {'resourceVersion': '100', 'continue': 'eyJ2IjoxfQ', 'remainingItemCount': 5},"
    " 'items': ["
    "  {'metadata': {'name': 'a', 'namespace': 'default', 'uid': 'u-a',"
    "               'labels': {'app': 'web'}},"
    "   'spec': {'containers': [{'name': 'c'}]}, 'status': {'phase': 'Pending'}},"
    "  {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': 'b', 'namespace': 'default'},"
    "   'spec': {'containers': [{'name': 'c'}]}, 'status': {'phase': 'Pending'}}]}";

static void test_list_metadata(void **state)
{
    (void)state;
    /* asTable with includeObject=Metadata (the default): PartialObjectMetadata. */
    kr_value_t *t = table(kind("Pod"), pod_list, REST_TABLE_METADATA);
    assert_string_equal(kr_value_map_str(t, "kind"), "Table");
    assert_string_equal(kr_value_map_str(t, "apiVersion"), "meta.k8s.io/v1");
    expect_equal(kr_value_get(t, "metadata"),
                 "{'resourceVersion': '100', 'continue': 'eyJ2IjoxfQ', 'remainingItemCount': 5}",
                 "metadata");
    assert_int_equal(kr_value_len(kr_value_get(t, "rows")), 2);
    expect_cells(t, 1,
                 "['b', '0/1', 'Pending', '0', '<unknown>', '<none>', '<none>', '<none>',"
                 " '<none>']");
    expect_equal(kr_value_get(t, "rows[0].object"),
                 "{'kind': 'PartialObjectMetadata', 'apiVersion': 'meta.k8s.io/v1',"
                 " 'metadata': {'name': 'a', 'namespace': 'default', 'uid': 'u-a',"
                 "  'labels': {'app': 'web'}}}",
                 "row object");
    /* Keys in the order the Go structs write them. */
    assert_string_equal(kr_value_map_key(t, 0), "kind");
    assert_string_equal(kr_value_map_key(t, 2), "metadata");
    assert_string_equal(kr_value_map_key(t, 3), "columnDefinitions");
    assert_string_equal(kr_value_map_key(t, 4), "rows");
    assert_string_equal(kr_value_map_key(kr_value_get(t, "rows[0]"), 0), "cells");
}

static void test_list_none_and_object(void **state)
{
    (void)state;
    kr_value_t *t = table(kind("Pod"), pod_list, REST_TABLE_NONE);
    assert_int_equal(kr_value_type(kr_value_get(t, "rows[0].object")), KR_NULL);
    assert_int_equal(kr_value_type(kr_value_get(t, "rows[1].object")), KR_NULL);
    /* The whole object, with its type even when the list item had none. */
    t = table(kind("Pod"), pod_list, REST_TABLE_OBJECT);
    const kr_value_t *o = kr_value_get(t, "rows[0].object");
    assert_string_equal(kr_value_map_key(o, 0), "kind");
    expect_equal(o,
                 "{'kind': 'Pod', 'apiVersion': 'v1', 'metadata': {'name': 'a',"
                 " 'namespace': 'default', 'uid': 'u-a', 'labels': {'app': 'web'}},"
                 " 'spec': {'containers': [{'name': 'c'}]}, 'status': {'phase': 'Pending'}}",
                 "row object");
    assert_string_equal(kr_value_as_str(kr_value_get(t, "rows[1].object.metadata.name")), "b");
    /* A group's kind gets group/version. */
    t = table(kind("Deployment"), "{'items': [{'metadata': {'name': 'd'}}]}", REST_TABLE_OBJECT);
    assert_string_equal(kr_value_as_str(kr_value_get(t, "rows[0].object.apiVersion")), "apps/v1");
    expect_equal(kr_value_get(t, "metadata"), "{}", "metadata");
}

static void test_empty_list(void **state)
{
    (void)state;
    kr_value_t *t = table(kind("ConfigMap"),
                          "{'kind': 'ConfigMapList', 'metadata': {'resourceVersion': '9'},"
                          " 'items': []}",
                          REST_TABLE_METADATA);
    expect_equal(kr_value_get(t, "rows"), "[]", "rows");
    assert_int_equal(kr_value_len(kr_value_get(t, "columnDefinitions")), 3);
    expect_equal(kr_value_get(t, "metadata"), "{'resourceVersion': '9'}", "metadata");
}

static void test_errors(void **state)
{
    (void)state;
    kr_error_t err;
    kr_value_t *obj = J("{'metadata': {'name': 'x'}}");
    assert_null(rest_table(arena, J("{'kind': 'X', 'additionalPrinterColumns': 3}"), obj,
                           REST_TABLE_NONE, NOW, &err));
    assert_int_equal(err.reason, KR_E_INTERNAL);
    assert_null(rest_table(arena,
                           J("{'kind': 'X', 'additionalPrinterColumns': [{'name': 'A',"
                             " 'type': 'string', 'jsonPath': '.a', 'x-kraal-compute': 'magic'}]}"),
                           obj, REST_TABLE_NONE, NOW, &err));
    assert_non_null(strstr(err.message, "unknown x-kraal-compute magic"));
    assert_null(rest_table(arena,
                           J("{'kind': 'X', 'additionalPrinterColumns': [{'name': 'A',"
                             " 'jsonPath': '.a'}]}"),
                           obj, REST_TABLE_NONE, NOW, &err));
    assert_non_null(strstr(err.message, "additionalPrinterColumns[0]"));
    assert_null(rest_table(arena, J("{'group': ''}"), obj, REST_TABLE_NONE, NOW, &err));
    assert_null(rest_table(arena, kind("Pod"), J("[1]"), REST_TABLE_NONE, NOW, &err));
    assert_null(rest_table(arena, kind("Pod"), J("{'kind': 'PodList', 'items': [1]}"),
                           REST_TABLE_NONE, NOW, &err));
    assert_non_null(strstr(err.message, "items[0]"));
    assert_null(rest_table(arena, kind("Pod"), obj, (rest_table_include_t)7, NOW, &err));
    assert_int_equal(err.reason, KR_E_BAD_REQUEST);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pod_running),
        cmocka_unit_test(test_pod_pending),
        cmocka_unit_test(test_pod_waiting_reason),
        cmocka_unit_test(test_pod_completed),
        cmocka_unit_test(test_pod_terminating),
        cmocka_unit_test(test_pod_init),
        cmocka_unit_test(test_deployment),
        cmocka_unit_test(test_replicaset_daemonset_statefulset),
        cmocka_unit_test(test_job),
        cmocka_unit_test(test_cronjob),
        cmocka_unit_test(test_service),
        cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_node),
        cmocka_unit_test(test_configmap_secret),
        cmocka_unit_test(test_event),
        cmocka_unit_test(test_other_builtins),
        cmocka_unit_test(test_ages),
        cmocka_unit_test(test_plugin_kind),
        cmocka_unit_test(test_plugin_kind_bad_path),
        cmocka_unit_test(test_default_table),
        cmocka_unit_test(test_list_metadata),
        cmocka_unit_test(test_list_none_and_object),
        cmocka_unit_test(test_empty_list),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_rbac),
        cmocka_unit_test(test_quota),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
