/* Every node of real manifests replaced by every other JSON type: the
 * hooks must neither crash nor corrupt memory (run under ASan/UBSan), and
 * whatever they report must be well-formed Invalid errors. */
#include "harness.h"

static const struct {
    const char *kind;
    const char *group;
    const char *ns;
    const char *yaml;
} docs[] = {
    {"pod", "", "default",
     "apiVersion: v1\nkind: Pod\nmetadata: {name: web, labels: {app: web}, annotations: {a: b},"
     " ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: rs, uid: u, controller: "
     "true}],"
     " finalizers: [example.com/f]}\n"
     "spec:\n"
     "  initContainers: [{name: init, image: busybox, command: [true]}]\n"
     "  containers:\n"
     "  - name: web\n"
     "    image: nginx:1.27\n"
     "    ports: [{name: http, containerPort: 80, hostPort: 8080}]\n"
     "    env: [{name: A, value: x}, {name: B, valueFrom: {fieldRef: {fieldPath: "
     "metadata.name}}}]\n"
     "    envFrom: [{configMapRef: {name: cfg}, prefix: P_}]\n"
     "    resources: {limits: {cpu: 500m, memory: 128Mi}, requests: {cpu: 100m}}\n"
     "    volumeMounts: [{name: data, mountPath: /data, subPath: x}]\n"
     "    livenessProbe: {httpGet: {path: /, port: 80, httpHeaders: [{name: X, value: y}]}}\n"
     "    lifecycle: {preStop: {sleep: {seconds: 5}}}\n"
     "    securityContext: {runAsUser: 1000, allowPrivilegeEscalation: false,"
     " capabilities: {add: [NET_ADMIN]}, seccompProfile: {type: RuntimeDefault}}\n"
     "  volumes:\n"
     "  - {name: data, persistentVolumeClaim: {claimName: data}}\n"
     "  - {name: cfg, configMap: {name: cfg, items: [{key: a, path: a}]}}\n"
     "  - {name: proj, projected: {sources: [{downwardAPI: {items: [{path: l, fieldRef: "
     "{fieldPath: metadata.labels}}]}}]}}\n"
     "  tolerations: [{key: k, operator: Equal, value: v, effect: NoExecute, tolerationSeconds: "
     "5}]\n"
     "  affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution:"
     " {nodeSelectorTerms: [{matchExpressions: [{key: zone, operator: In, values: [a]}]}]}},"
     " podAntiAffinity: {preferredDuringSchedulingIgnoredDuringExecution:"
     " [{weight: 10, podAffinityTerm: {topologyKey: zone, labelSelector: {matchLabels: {app: "
     "web}}}}]}}\n"
     "  topologySpreadConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: "
     "DoNotSchedule,"
     " labelSelector: {matchLabels: {app: web}}}]\n"
     "  dnsConfig: {nameservers: [1.1.1.1], searches: [a.example], options: [{name: ndots, value: "
     "'2'}]}\n"
     "  hostAliases: [{ip: 10.0.0.1, hostnames: [a.local]}]\n"
     "  securityContext: {fsGroup: 2000, sysctls: [{name: net.core.somaxconn, value: '1024'}]}\n"
     "  nodeSelector: {disk: ssd}\n"
     "  schedulingGates: [{name: example.com/gate}]\n"
     "status: {phase: Running, podIPs: [{ip: 10.1.0.5}], conditions: [{type: Ready, status: "
     "'True'}]}\n"},
    {"deployment", "apps", "default",
     "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
     "spec: {replicas: 2, selector: {matchLabels: {app: web}, matchExpressions: [{key: tier, "
     "operator: In, values: [a]}]},"
     " strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 10%}},"
     " template: {metadata: {labels: {app: web, tier: a}}, spec: {containers: [{name: web, image: "
     "nginx}]}}}\n"
     "status: {replicas: 2, readyReplicas: 1, collisionCount: 1}\n"},
    {"statefulset", "apps", "default",
     "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\n"
     "spec: {serviceName: db, selector: {matchLabels: {app: db}},"
     " updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 1}},"
     " template: {metadata: {labels: {app: db}}, spec: {containers: [{name: db, image: postgres,"
     " volumeMounts: [{name: pgdata, mountPath: /var/lib/postgresql}]}]}},"
     " volumeClaimTemplates: [{metadata: {name: pgdata}, spec: {resources: {requests: {storage: "
     "1Gi}}}}]}\n"},
    {"daemonset", "apps", "default",
     "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent}\n"
     "spec: {selector: {matchLabels: {app: agent}}, updateStrategy: {type: RollingUpdate,"
     " rollingUpdate: {maxUnavailable: 0, maxSurge: 1}},"
     " template: {metadata: {labels: {app: agent}}, spec: {containers: [{name: a, image: "
     "busybox}]}}}\n"},
    {"cronjob", "batch", "default",
     "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: tick}\n"
     "spec: {schedule: '*/5 1-3 * jan-mar mon,fri', timeZone: Etc/UTC, jobTemplate: {spec: "
     "{template:"
     " {spec: {restartPolicy: OnFailure, containers: [{name: t, image: busybox}]}}}}}\n"},
    {"job", "batch", "default",
     "apiVersion: batch/v1\nkind: Job\nmetadata: {name: pi}\n"
     "spec: {completionMode: Indexed, completions: 3, parallelism: 3, podFailurePolicy: {rules:"
     " [{action: FailJob, onPodConditions: [{type: DisruptionTarget}]}]},"
     " template: {spec: {restartPolicy: Never, containers: [{name: pi, image: perl}]}}}\n"},
    {"service", "", "default",
     "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
     "spec: {type: LoadBalancer, selector: {app: web}, externalIPs: [192.0.2.1],"
     " loadBalancerSourceRanges: [10.0.0.0/8], sessionAffinity: ClientIP,"
     " ports: [{name: http, port: 80, targetPort: http, nodePort: 30080}, {name: dns, port: 53, "
     "protocol: UDP}]}\n"
     "status: {loadBalancer: {ingress: [{ip: 192.0.2.10}, {hostname: lb.example.com}]}}\n"},
    {"secret", "", "default",
     "apiVersion: v1\nkind: Secret\nmetadata: {name: reg}\ntype: kubernetes.io/dockerconfigjson\n"
     "data: {.dockerconfigjson: e30=}\nstringData: {extra: x}\n"},
    {"configmap", "", "default",
     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\nimmutable: true\ndata: {a: '1'}\n"
     "binaryData: {b: YQ==}\n"},
    {"namespace", "", NULL,
     "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\nspec: {finalizers: [kubernetes]}\n"},
    {"node", "", NULL,
     "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n"
     "spec: {podCIDRs: [10.244.0.0/24, 'fd00::/64'], taints: [{key: k, value: v, effect: "
     "NoSchedule}]}\n"
     "status: {capacity: {cpu: '4', pods: '110'}, addresses: [{type: InternalIP, address: "
     "10.0.0.1}]}\n"},
    {"endpoints", "", "default",
     "apiVersion: v1\nkind: Endpoints\nmetadata: {name: web}\n"
     "subsets: [{addresses: [{ip: 10.1.0.5, nodeName: n1, hostname: web-0}], ports: [{name: http, "
     "port: 80}]}]\n"},
    {"event", "", "default",
     "apiVersion: v1\nkind: Event\nmetadata: {name: web.1}\ninvolvedObject: {kind: Pod, name: web, "
     "namespace: default}\n"
     "reason: Started\neventTime: '2024-05-01T10:00:00.000000Z'\nreportingComponent: kubelet\n"
     "reportingInstance: n1\naction: Start\n"},
    {"lease", "coordination.k8s.io", "kube-node-lease",
     "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: n1}\n"
     "spec: {holderIdentity: n1, leaseDurationSeconds: 40}\n"},
    {"endpointslice", "discovery.k8s.io", "default",
     "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-x, labels: "
     "{kubernetes.io/service-name: web}}\naddressType: IPv4\n"
     "ports: [{name: http, port: 80, protocol: TCP, appProtocol: http}]\n"
     "endpoints: [{addresses: [10.1.0.5], conditions: {ready: true}, nodeName: n1, hostname: web-0,"
     " deprecatedTopology: {a: b}, hints: {forZones: [{name: z1}]}}]\n"},
    {"priorityclass", "scheduling.k8s.io", NULL,
     "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: high}\nvalue: 100\n"},
    {"serviceaccount", "", "default",
     "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: builder}\n"},
};

static int count_nodes(const kr_value_t *v)
{
    int n = 1;
    kr_type_t t = kr_value_type(v);
    for (size_t i = 0; (t == KR_MAP || t == KR_ARRAY) && i < kr_value_len(v); i++)
        n += count_nodes(t == KR_MAP ? kr_value_map_val(v, i) : kr_value_array_get(v, i));
    return n;
}

/* Replaces the target-th node below `v` (pre-order, root excluded). */
static bool replace_nth(kr_value_t *v, int *at, int target, kr_value_t *with)
{
    kr_type_t t = kr_value_type(v);
    for (size_t i = 0; (t == KR_MAP || t == KR_ARRAY) && i < kr_value_len(v); i++) {
        kr_value_t *child = t == KR_MAP ? kr_value_map_val(v, i) : kr_value_array_get(v, i);
        if ((*at)++ == target) {
            if (t == KR_MAP)
                kr_value_map_set(arena, v, kr_value_map_key(v, i), with);
            else
                kr_value_array_set(arena, v, i, with);
            return true;
        }
        if (replace_nth(child, at, target, with))
            return true;
    }
    return false;
}

static kr_value_t *shape(int k)
{
    switch (k) {
    case 0:
        return kr_value_null(arena);
    case 1:
        return kr_value_int(arena, -7);
    case 2:
        return kr_value_str(arena, "x/Y..");
    case 3:
        return kr_value_array(arena);
    case 4:
        return Y("{a: [1, {b: ''}]}");
    case 5:
        return kr_value_bool(arena, true);
    default:
        return kr_value_float(arena, 2.5);
    }
}

static void check_errors(const kr_validation_t *v, const char *group, const char *kind)
{
    for (size_t i = 0; i < kr_validation_count(v); i++) {
        const kr_value_t *c = kr_value_array_get(v->causes, i);
        assert_non_null(kr_value_map_str(c, "reason"));
        assert_non_null(kr_value_map_str(c, "field"));
        assert_true(kr_value_len(kr_value_map_get(c, "message")) > 0);
    }
    if (!kr_validation_ok(v)) {
        const char *msg = message(v, group, kind, "n");
        assert_non_null(strstr(msg, "\" is invalid: "));
    }
}

static void test_every_node_every_shape(void **state)
{
    (void)state;
    for (size_t d = 0; d < sizeof docs / sizeof docs[0]; d++) {
        const kr_kind_hooks_t *h = hooks(docs[d].kind);
        kr_value_t *orig = Y(docs[d].yaml);
        kr_validation_t v;
        kr_value_t *created = kr_value_copy(arena, orig);
        create(docs[d].kind, created, docs[d].ns, &v);
        if (!kr_validation_ok(&v))
            fail_msg("%s: the manifest itself is invalid: %s", docs[d].kind, to_json(v.causes));
        int nodes = count_nodes(orig) - 1;
        for (int n = 0; n < nodes; n++) {
            const char *kind = kr_value_map_str(orig, "kind");
            for (int k = 0; k < 7; k++) {
                kr_value_t *m = kr_value_copy(arena, orig);
                int at = 0;
                assert_true(replace_nth(m, &at, n, shape(k)));
                kr_value_t *upd = kr_value_copy(arena, m);
                kr_value_t *st = kr_value_copy(arena, m);
                create(docs[d].kind, m, docs[d].ns, &v);
                check_errors(&v, docs[d].group, kind);
                if (kr_value_type(kr_value_map_get(upd, "metadata")) == KR_MAP) {
                    update(docs[d].kind, upd, created, &v);
                    check_errors(&v, docs[d].group, kind);
                }
                if (h->validate_status != NULL) {
                    if (h->defaults)
                        h->defaults(arena, st);
                    kr_validation_init(&v, arena);
                    h->validate_status(&v, st, created);
                    check_errors(&v, docs[d].group, kind);
                }
            }
            /* keep memory flat: the arena holds only this document */
            if (n % 16 == 15) {
                kr_arena_reset(arena);
                orig = Y(docs[d].yaml);
                created = kr_value_copy(arena, orig);
                create(docs[d].kind, created, docs[d].ns, &v);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_node_every_shape, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
