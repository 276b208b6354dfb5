/* The built-in kinds' strategies (core/builtin*.c): real manifests from
 * the Kubernetes documentation go through the hooks the way the object API
 * runs them, and the result is compared with what a real API server
 * returns for them (the defaults upstream documents: SetDefaults_* in
 * pkg/apis/<group>/v1/defaults.go and the registry strategies).  Fields a
 * real server adds through admission plugins (serviceAccountName and the
 * kube-api-access volume, default tolerations, priority) or allocation
 * (clusterIP) are not the hooks' business and are not expected here. */
#include "harness.h"

#include <stdlib.h>

/* ---- documentation manifests ------------------------------------------------ */

/* https://kubernetes.io/docs/concepts/workloads/controllers/deployment/ */
static const char nginx_deployment[] = "apiVersion: apps/v1\n"
                                       "kind: Deployment\n"
                                       "metadata:\n"
                                       "  name: nginx-deployment\n"
                                       "  labels:\n"
                                       "    app: nginx\n"
                                       "spec:\n"
                                       "  replicas: 3\n"
                                       "  selector:\n"
                                       "    matchLabels:\n"
                                       "      app: nginx\n"
                                       "  template:\n"
                                       "    metadata:\n"
                                       "      labels:\n"
                                       "        app: nginx\n"
                                       "    spec:\n"
                                       "      containers:\n"
                                       "      - name: nginx\n"
                                       "        image: nginx:1.14.2\n"
                                       "        ports:\n"
                                       "        - containerPort: 80\n";

/* https://kubernetes.io/docs/tasks/access-application-cluster/communicate-containers-same-pod-shared-volume/ */
static const char two_containers[] =
    "apiVersion: v1\n"
    "kind: Pod\n"
    "metadata:\n"
    "  name: two-containers\n"
    "spec:\n"
    "  restartPolicy: Never\n"
    "  volumes:\n"
    "  - name: shared-data\n"
    "    emptyDir: {}\n"
    "  containers:\n"
    "  - name: nginx-container\n"
    "    image: nginx\n"
    "    volumeMounts:\n"
    "    - name: shared-data\n"
    "      mountPath: /usr/share/nginx/html\n"
    "  - name: debian-container\n"
    "    image: debian\n"
    "    volumeMounts:\n"
    "    - name: shared-data\n"
    "      mountPath: /pod-data\n"
    "    command: [\"/bin/sh\"]\n"
    "    args: [\"-c\", \"echo Hello from the debian container > /pod-data/index.html\"]\n";

/* https://kubernetes.io/docs/concepts/services-networking/service/ */
static const char my_service[] = "apiVersion: v1\n"
                                 "kind: Service\n"
                                 "metadata:\n"
                                 "  name: my-service\n"
                                 "spec:\n"
                                 "  selector:\n"
                                 "    app.kubernetes.io/name: MyApp\n"
                                 "  ports:\n"
                                 "    - protocol: TCP\n"
                                 "      port: 80\n"
                                 "      targetPort: 9376\n";

/* https://kubernetes.io/docs/concepts/workloads/controllers/job/ */
static const char pi_job[] =
    "apiVersion: batch/v1\n"
    "kind: Job\n"
    "metadata:\n"
    "  name: pi\n"
    "spec:\n"
    "  template:\n"
    "    spec:\n"
    "      containers:\n"
    "      - name: pi\n"
    "        image: perl:5.34.0\n"
    "        command: [\"perl\",  \"-Mbignum=bpi\", \"-wle\", \"print bpi(2000)\"]\n"
    "      restartPolicy: Never\n"
    "  backoffLimit: 4\n";

/* https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ */
static const char hello_cronjob[] = "apiVersion: batch/v1\n"
                                    "kind: CronJob\n"
                                    "metadata:\n"
                                    "  name: hello\n"
                                    "spec:\n"
                                    "  schedule: \"* * * * *\"\n"
                                    "  jobTemplate:\n"
                                    "    spec:\n"
                                    "      template:\n"
                                    "        spec:\n"
                                    "          containers:\n"
                                    "          - name: hello\n"
                                    "            image: busybox:1.28\n"
                                    "            imagePullPolicy: IfNotPresent\n"
                                    "            command:\n"
                                    "            - /bin/sh\n"
                                    "            - -c\n"
                                    "            - date; echo Hello from the Kubernetes cluster\n"
                                    "          restartPolicy: OnFailure\n";

/* https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/ */
static const char web_statefulset[] = "apiVersion: apps/v1\n"
                                      "kind: StatefulSet\n"
                                      "metadata:\n"
                                      "  name: web\n"
                                      "spec:\n"
                                      "  selector:\n"
                                      "    matchLabels:\n"
                                      "      app: nginx\n"
                                      "  serviceName: \"nginx\"\n"
                                      "  replicas: 3\n"
                                      "  minReadySeconds: 10\n"
                                      "  template:\n"
                                      "    metadata:\n"
                                      "      labels:\n"
                                      "        app: nginx\n"
                                      "    spec:\n"
                                      "      terminationGracePeriodSeconds: 10\n"
                                      "      containers:\n"
                                      "      - name: nginx\n"
                                      "        image: registry.k8s.io/nginx-slim:0.24\n"
                                      "        ports:\n"
                                      "        - containerPort: 80\n"
                                      "          name: web\n"
                                      "        volumeMounts:\n"
                                      "        - name: www\n"
                                      "          mountPath: /usr/share/nginx/html\n"
                                      "  volumeClaimTemplates:\n"
                                      "  - metadata:\n"
                                      "      name: www\n"
                                      "    spec:\n"
                                      "      accessModes: [ \"ReadWriteOnce\" ]\n"
                                      "      storageClassName: \"my-storage-class\"\n"
                                      "      resources:\n"
                                      "        requests:\n"
                                      "          storage: 1Gi\n";

/* https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/ (trimmed) */
static const char fluentd_daemonset[] =
    "apiVersion: apps/v1\n"
    "kind: DaemonSet\n"
    "metadata:\n"
    "  name: fluentd-elasticsearch\n"
    "  namespace: kube-system\n"
    "spec:\n"
    "  selector:\n"
    "    matchLabels:\n"
    "      name: fluentd-elasticsearch\n"
    "  template:\n"
    "    metadata:\n"
    "      labels:\n"
    "        name: fluentd-elasticsearch\n"
    "    spec:\n"
    "      containers:\n"
    "      - name: fluentd-elasticsearch\n"
    "        image: quay.io/fluentd_elasticsearch/fluentd:v2.5.2\n"
    "        resources:\n"
    "          limits:\n"
    "            memory: 200Mi\n"
    "          requests:\n"
    "            cpu: 100m\n"
    "            memory: 200Mi\n"
    "        volumeMounts:\n"
    "        - name: varlog\n"
    "          mountPath: /var/log\n"
    "      terminationGracePeriodSeconds: 30\n"
    "      volumes:\n"
    "      - name: varlog\n"
    "        hostPath:\n"
    "          path: /var/log\n";

/* ---- defaults, as a real API server returns them -------------------------------- */

static void test_deployment_defaults(void **state)
{
    (void)state;
    kr_value_t *d = Y(nginx_deployment);
    kr_validation_t v;
    create("deployment", d, "default", &v);
    assert_valid(&v);
    assert_tree(kr_value_map_get(d, "spec"), "progressDeadlineSeconds: 600\n"
                                             "replicas: 3\n"
                                             "revisionHistoryLimit: 10\n"
                                             "selector:\n"
                                             "  matchLabels:\n"
                                             "    app: nginx\n"
                                             "strategy:\n"
                                             "  rollingUpdate:\n"
                                             "    maxSurge: 25%\n"
                                             "    maxUnavailable: 25%\n"
                                             "  type: RollingUpdate\n"
                                             "template:\n"
                                             "  metadata:\n"
                                             "    labels:\n"
                                             "      app: nginx\n"
                                             "  spec:\n"
                                             "    containers:\n"
                                             "    - image: nginx:1.14.2\n"
                                             "      imagePullPolicy: IfNotPresent\n"
                                             "      name: nginx\n"
                                             "      ports:\n"
                                             "      - containerPort: 80\n"
                                             "        protocol: TCP\n"
                                             "      resources: {}\n"
                                             "      terminationMessagePath: /dev/termination-log\n"
                                             "      terminationMessagePolicy: File\n"
                                             "    dnsPolicy: ClusterFirst\n"
                                             "    restartPolicy: Always\n"
                                             "    schedulerName: default-scheduler\n"
                                             "    securityContext: {}\n"
                                             "    terminationGracePeriodSeconds: 30\n");
    assert_tree(kr_value_map_get(d, "status"), "{}");
    /* a template gets no enableServiceLinks: that default is the Pod's */
    assert_null(kr_value_get(d, "spec.template.spec.enableServiceLinks"));
}

static void test_pod_defaults(void **state)
{
    (void)state;
    kr_value_t *p = Y(two_containers);
    kr_validation_t v;
    create("pod", p, "default", &v);
    assert_valid(&v);
    assert_tree(
        kr_value_map_get(p, "spec"),
        "containers:\n"
        "- image: nginx\n"
        "  imagePullPolicy: Always\n"
        "  name: nginx-container\n"
        "  resources: {}\n"
        "  terminationMessagePath: /dev/termination-log\n"
        "  terminationMessagePolicy: File\n"
        "  volumeMounts:\n"
        "  - mountPath: /usr/share/nginx/html\n"
        "    name: shared-data\n"
        "- args: [\"-c\", \"echo Hello from the debian container > /pod-data/index.html\"]\n"
        "  command: [\"/bin/sh\"]\n"
        "  image: debian\n"
        "  imagePullPolicy: Always\n"
        "  name: debian-container\n"
        "  resources: {}\n"
        "  terminationMessagePath: /dev/termination-log\n"
        "  terminationMessagePolicy: File\n"
        "  volumeMounts:\n"
        "  - mountPath: /pod-data\n"
        "    name: shared-data\n"
        "dnsPolicy: ClusterFirst\n"
        "enableServiceLinks: true\n"
        "restartPolicy: Never\n"
        "schedulerName: default-scheduler\n"
        "securityContext: {}\n"
        "terminationGracePeriodSeconds: 30\n"
        "volumes:\n"
        "- emptyDir: {}\n"
        "  name: shared-data\n");
    assert_tree(kr_value_map_get(p, "status"), "{phase: Pending, qosClass: BestEffort}");
}

static void test_pod_nested_defaults(void **state)
{
    (void)state;
    kr_value_t *p =
        Y("apiVersion: v1\nkind: Pod\nmetadata: {name: probe}\n"
          "spec:\n"
          "  serviceAccount: builder\n"
          "  containers:\n"
          "  - name: app\n"
          "    image: registry.local:5000/team/app\n"
          "    env:\n"
          "    - name: POD_NAME\n"
          "      valueFrom: {fieldRef: {fieldPath: metadata.name}}\n"
          "    livenessProbe:\n"
          "      httpGet: {port: 8080}\n"
          "    readinessProbe:\n"
          "      grpc: {port: 9090}\n"
          "    startupProbe:\n"
          "      tcpSocket: {port: http}\n"
          "      failureThreshold: 30\n"
          "    lifecycle:\n"
          "      preStop: {httpGet: {path: /quit, port: 8080}}\n"
          "    ports: [{name: http, containerPort: 8080}]\n"
          "  - name: pinned\n"
          "    image: "
          "busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000\n"
          "  - name: latest\n"
          "    image: busybox:latest\n"
          "  volumes:\n"
          "  - name: cfg\n"
          "    configMap: {name: cfg}\n"
          "  - name: sec\n"
          "    secret: {secretName: sec}\n"
          "  - name: host\n"
          "    hostPath: {path: /data}\n"
          "  - name: info\n"
          "    downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}\n"
          "  - name: token\n"
          "    projected: {sources: [{serviceAccountToken: {path: token}}]}\n"
          "  - name: scratch\n");
    kr_validation_t v;
    create("pod", p, "default", &v);
    assert_valid(&v);
    const kr_value_t *c = kr_value_get(p, "spec.containers[0]");
    assert_string_equal(kr_value_map_str(c, "imagePullPolicy"), "Always");
    assert_tree(kr_value_get(c, "env[0].valueFrom"),
                "{fieldRef: {apiVersion: v1, fieldPath: metadata.name}}");
    assert_tree(
        kr_value_map_get(c, "livenessProbe"),
        "{failureThreshold: 3, httpGet: {path: /, port: 8080, scheme: HTTP}, periodSeconds: 10,"
        " successThreshold: 1, timeoutSeconds: 1}");
    assert_tree(kr_value_map_get(c, "readinessProbe"),
                "{failureThreshold: 3, grpc: {port: 9090, service: ''}, periodSeconds: 10,"
                " successThreshold: 1, timeoutSeconds: 1}");
    assert_tree(kr_value_map_get(c, "startupProbe"),
                "{failureThreshold: 30, tcpSocket: {port: http}, periodSeconds: 10,"
                " successThreshold: 1, timeoutSeconds: 1}");
    assert_tree(kr_value_get(c, "lifecycle.preStop"),
                "{httpGet: {path: /quit, port: 8080, scheme: HTTP}}");
    assert_tree(kr_value_map_get(c, "ports"), "[{name: http, containerPort: 8080, protocol: TCP}]");
    assert_string_equal(kr_value_as_str(kr_value_get(p, "spec.containers[1].imagePullPolicy")),
                        "IfNotPresent");
    assert_string_equal(kr_value_as_str(kr_value_get(p, "spec.containers[2].imagePullPolicy")),
                        "Always");
    assert_tree(
        kr_value_get(p, "spec.volumes"),
        "- {name: cfg, configMap: {name: cfg, defaultMode: 420}}\n"
        "- {name: sec, secret: {secretName: sec, defaultMode: 420}}\n"
        "- {name: host, hostPath: {path: /data, type: ''}}\n"
        "- name: info\n"
        "  downwardAPI:\n"
        "    defaultMode: 420\n"
        "    items: [{path: labels, fieldRef: {apiVersion: v1, fieldPath: metadata.labels}}]\n"
        "- name: token\n"
        "  projected: {defaultMode: 420, sources: [{serviceAccountToken: {expirationSeconds: 3600, "
        "path: token}}]}\n"
        "- {name: scratch, emptyDir: {}}\n");
    /* the deprecated serviceAccount mirrors serviceAccountName */
    assert_string_equal(kr_value_as_str(kr_value_get(p, "spec.serviceAccountName")), "builder");
    assert_string_equal(kr_value_as_str(kr_value_get(p, "spec.serviceAccount")), "builder");
}

static void test_service_defaults(void **state)
{
    (void)state;
    kr_value_t *s = Y(my_service);
    kr_validation_t v;
    create("service", s, "default", &v);
    assert_valid(&v);
    assert_tree(kr_value_map_get(s, "spec"), "internalTrafficPolicy: Cluster\n"
                                             "ipFamilies: [IPv4]\n"
                                             "ipFamilyPolicy: SingleStack\n"
                                             "ports:\n"
                                             "- port: 80\n"
                                             "  protocol: TCP\n"
                                             "  targetPort: 9376\n"
                                             "selector:\n"
                                             "  app.kubernetes.io/name: MyApp\n"
                                             "sessionAffinity: None\n"
                                             "type: ClusterIP\n");
    assert_tree(kr_value_map_get(s, "status"), "{loadBalancer: {}}");

    /* targetPort defaults to port; NodePort is externally accessible */
    s = Y("{apiVersion: v1, kind: Service, metadata: {name: np},"
          " spec: {type: NodePort, sessionAffinity: ClientIP, ports: [{name: http, port: 8080}]}}");
    create("service", s, "default", &v);
    assert_valid(&v);
    assert_tree(kr_value_get(s, "spec.ports"),
                "[{name: http, port: 8080, protocol: TCP, targetPort: 8080}]");
    assert_string_equal(kr_value_as_str(kr_value_get(s, "spec.externalTrafficPolicy")), "Cluster");
    assert_tree(kr_value_get(s, "spec.sessionAffinityConfig"),
                "{clientIP: {timeoutSeconds: 10800}}");

    /* ExternalName services get no IP family fields */
    s = Y("{apiVersion: v1, kind: Service, metadata: {name: db},"
          " spec: {type: ExternalName, externalName: db.example.com.}}");
    create("service", s, "default", &v);
    assert_valid(&v);
    assert_null(kr_value_get(s, "spec.ipFamilies"));
    assert_null(kr_value_get(s, "spec.ipFamilyPolicy"));
    assert_null(kr_value_get(s, "spec.internalTrafficPolicy"));
}

static void test_job_defaults_and_selector(void **state)
{
    (void)state;
    kr_value_t *j = Y(pi_job);
    kr_validation_t v;
    create("job", j, "default", &v);
    assert_valid(&v);
    const char *uid = "6a3c1a54-5b1f-4b3e-9f7c-2f2f8e0e1d11";
    kr_value_t *spec = kr_value_map_get(j, "spec");
    assert_int_equal(kr_value_map_int(spec, "backoffLimit", 0), 4);
    assert_int_equal(kr_value_map_int(spec, "completions", 0), 1);
    assert_int_equal(kr_value_map_int(spec, "parallelism", 0), 1);
    assert_string_equal(kr_value_map_str(spec, "completionMode"), "NonIndexed");
    assert_string_equal(kr_value_map_str(spec, "podReplacementPolicy"), "TerminatingOrFailed");
    assert_false(kr_value_as_bool(kr_value_map_get(spec, "suspend"), true));
    assert_null(kr_value_map_get(spec, "manualSelector"));
    char want[512];
    snprintf(want, sizeof want, "{matchLabels: {batch.kubernetes.io/controller-uid: %s}}", uid);
    assert_tree(kr_value_map_get(spec, "selector"), want);
    snprintf(want, sizeof want,
             "{batch.kubernetes.io/controller-uid: %s, batch.kubernetes.io/job-name: pi,"
             " controller-uid: %s, job-name: pi}",
             uid, uid);
    assert_tree(kr_value_get(spec, "template.metadata.labels"), want);
    /* the job carries its pods' labels */
    assert_tree(kr_value_get(j, "metadata.labels"), want);
    assert_string_equal(
        kr_value_as_str(kr_value_get(spec, "template.spec.containers[0].imagePullPolicy")),
        "IfNotPresent");
}

static void test_cronjob_defaults(void **state)
{
    (void)state;
    kr_value_t *c = Y(hello_cronjob);
    kr_validation_t v;
    create("cronjob", c, "default", &v);
    assert_valid(&v);
    kr_value_t *spec = kr_value_map_get(c, "spec");
    assert_string_equal(kr_value_map_str(spec, "concurrencyPolicy"), "Allow");
    assert_int_equal(kr_value_map_int(spec, "successfulJobsHistoryLimit", 0), 3);
    assert_int_equal(kr_value_map_int(spec, "failedJobsHistoryLimit", 0), 1);
    assert_false(kr_value_as_bool(kr_value_map_get(spec, "suspend"), true));
    /* the job template gets pod defaults but no Job defaults */
    assert_null(kr_value_get(spec, "jobTemplate.spec.backoffLimit"));
    assert_tree(kr_value_get(spec, "jobTemplate.spec.template.spec"),
                "containers:\n"
                "- command: [/bin/sh, -c, date; echo Hello from the Kubernetes cluster]\n"
                "  image: busybox:1.28\n"
                "  imagePullPolicy: IfNotPresent\n"
                "  name: hello\n"
                "  resources: {}\n"
                "  terminationMessagePath: /dev/termination-log\n"
                "  terminationMessagePolicy: File\n"
                "dnsPolicy: ClusterFirst\n"
                "restartPolicy: OnFailure\n"
                "schedulerName: default-scheduler\n"
                "securityContext: {}\n"
                "terminationGracePeriodSeconds: 30\n");
}

static void test_statefulset_defaults(void **state)
{
    (void)state;
    kr_value_t *s = Y(web_statefulset);
    kr_validation_t v;
    create("statefulset", s, "default", &v);
    assert_valid(&v);
    kr_value_t *spec = kr_value_map_get(s, "spec");
    assert_string_equal(kr_value_map_str(spec, "podManagementPolicy"), "OrderedReady");
    assert_tree(kr_value_map_get(spec, "updateStrategy"),
                "{type: RollingUpdate, rollingUpdate: {partition: 0}}");
    assert_tree(kr_value_map_get(spec, "persistentVolumeClaimRetentionPolicy"),
                "{whenDeleted: Retain, whenScaled: Retain}");
    assert_int_equal(kr_value_map_int(spec, "revisionHistoryLimit", 0), 10);
    assert_tree(kr_value_get(spec, "volumeClaimTemplates[0]"),
                "apiVersion: v1\n"
                "kind: PersistentVolumeClaim\n"
                "metadata: {name: www}\n"
                "spec:\n"
                "  accessModes: [ReadWriteOnce]\n"
                "  resources: {requests: {storage: 1Gi}}\n"
                "  storageClassName: my-storage-class\n"
                "  volumeMode: Filesystem\n"
                "status: {phase: Pending}\n");
    assert_tree(kr_value_map_get(s, "status"), "{replicas: 0, availableReplicas: 0}");
}

static void test_daemonset_defaults(void **state)
{
    (void)state;
    kr_value_t *d = Y(fluentd_daemonset);
    kr_validation_t v;
    create("daemonset", d, NULL, &v);
    assert_valid(&v);
    kr_value_t *spec = kr_value_map_get(d, "spec");
    assert_tree(kr_value_map_get(spec, "updateStrategy"),
                "{type: RollingUpdate, rollingUpdate: {maxUnavailable: 1, maxSurge: 0}}");
    assert_int_equal(kr_value_map_int(spec, "revisionHistoryLimit", 0), 10);
    assert_tree(kr_value_get(spec, "template.spec.volumes[0]"),
                "{name: varlog, hostPath: {path: /var/log, type: ''}}");
    assert_tree(kr_value_get(d, "metadata.annotations"),
                "{deprecated.daemonset.template.generation: '1'}");
    assert_tree(kr_value_map_get(d, "status"),
                "{currentNumberScheduled: 0, desiredNumberScheduled: 0, numberMisscheduled: 0, "
                "numberReady: 0}");

    /* the template generation follows template changes only */
    kr_value_t *nw = kr_value_copy(arena, d);
    kr_value_map_set(arena, kr_value_get(nw, "spec"), "minReadySeconds", kr_value_int(arena, 5));
    update("daemonset", nw, d, &v);
    assert_valid(&v);
    assert_string_equal(
        kr_value_as_str(
            kr_value_get(nw, "metadata.annotations[\"deprecated.daemonset.template.generation\"]")),
        "1");
    kr_value_t *nw2 = kr_value_copy(arena, nw);
    kr_value_map_set(arena, kr_value_get(nw2, "spec.template.spec.containers[0]"), "image",
                     kr_value_str(arena, "quay.io/fluentd_elasticsearch/fluentd:v2.6.0"));
    update("daemonset", nw2, nw, &v);
    assert_valid(&v);
    assert_string_equal(
        kr_value_as_str(kr_value_get(
            nw2, "metadata.annotations[\"deprecated.daemonset.template.generation\"]")),
        "2");
}

static void test_namespace_strategy(void **state)
{
    (void)state;
    kr_value_t *ns = Y("{apiVersion: v1, kind: Namespace, metadata: {name: team-a}}");
    kr_validation_t v;
    create("namespace", ns, NULL, &v);
    assert_valid(&v);
    assert_tree(kr_value_get(ns, "metadata.labels"), "{kubernetes.io/metadata.name: team-a}");
    assert_tree(kr_value_map_get(ns, "spec"), "{finalizers: [kubernetes]}");
    assert_tree(kr_value_map_get(ns, "status"), "{phase: Active}");

    /* a client cannot drop the finalizer through an update */
    kr_value_t *nw =
        Y("{apiVersion: v1, kind: Namespace, metadata: {name: team-a}, spec: {finalizers: []}}");
    update("namespace", nw, ns, &v);
    assert_valid(&v);
    assert_tree(kr_value_map_get(nw, "spec"), "{finalizers: [kubernetes]}");
    assert_tree(kr_value_get(nw, "metadata.labels"), "{kubernetes.io/metadata.name: team-a}");
}

static void test_secret_string_data(void **state)
{
    (void)state;
    kr_value_t *s = Y("apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\n"
                      "data: {username: YWRtaW4=, password: b2xk}\n"
                      "stringData: {password: 't0p-Secret', token: ab}\n");
    kr_validation_t v;
    create("secret", s, "default", &v);
    assert_valid(&v);
    assert_string_equal(kr_value_map_str(s, "type"), "Opaque");
    assert_null(kr_value_map_get(s, "stringData"));
    /* stringData wins over data, base64-encoded as the server stores it */
    assert_tree(kr_value_map_get(s, "data"),
                "{username: YWRtaW4=, password: dDBwLVNlY3JldA==, token: YWI=}");
}

static void test_resources_and_qos(void **state)
{
    (void)state;
    kr_value_t *p = Y("apiVersion: v1\nkind: Pod\nmetadata: {name: q}\n"
                      "spec:\n"
                      "  containers:\n"
                      "  - name: a\n"
                      "    image: busybox:1.36\n"
                      "    resources: {limits: {cpu: 0.5, memory: 1024Mi}}\n");
    kr_validation_t v;
    create("pod", p, "default", &v);
    assert_valid(&v);
    /* requests default to limits (Pod only), quantities in canonical form */
    assert_tree(kr_value_get(p, "spec.containers[0].resources"),
                "{limits: {cpu: 500m, memory: 1Gi}, requests: {cpu: 500m, memory: 1Gi}}");
    assert_string_equal(kr_value_as_str(kr_value_get(p, "status.qosClass")), "Guaranteed");

    p = Y(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: q}\n"
        "spec:\n"
        "  containers:\n"
        "  - {name: a, image: busybox:1.36, resources: {requests: {cpu: 100m, memory: 0.0001}}}\n");
    create("pod", p, "default", &v);
    assert_valid(&v);
    /* rounded up to milli precision */
    assert_tree(kr_value_get(p, "spec.containers[0].resources"),
                "{requests: {cpu: 100m, memory: 1m}}");
    assert_string_equal(kr_value_as_str(kr_value_get(p, "status.qosClass")), "Burstable");

    /* requests above limits, in the server's words */
    p = Y(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: q}\n"
        "spec:\n"
        "  containers:\n"
        "  - name: a\n"
        "    image: busybox:1.36\n"
        "    resources: {requests: {cpu: 600m, memory: 2Gi}, limits: {cpu: '0.5', memory: 1Gi}}\n");
    create("pod", p, "default", &v);
    assert_cause(&v, "spec.containers[0].resources.requests: Invalid value: \"600m\": must be less "
                     "than or equal to cpu limit of 500m");
    assert_cause(&v, "spec.containers[0].resources.requests: Invalid value: \"2Gi\": must be less "
                     "than or equal to memory limit of 1Gi");

    /* names, negative and unparsable quantities, extended resources */
    p = Y("apiVersion: v1\nkind: Pod\nmetadata: {name: q}\n"
          "spec:\n"
          "  containers:\n"
          "  - name: a\n"
          "    image: busybox:1.36\n"
          "    resources:\n"
          "      limits: {gpu: '1', example.com/dongle: 500m, cpu: -1}\n"
          "      requests: {memory: lots, example.com/dongle: 500m}\n");
    create("pod", p, "default", &v);
    assert_cause(&v, "spec.containers[0].resources.limits[gpu]: Invalid value: \"gpu\": must be a "
                     "standard resource type or fully qualified");
    assert_cause(&v, "spec.containers[0].resources.limits[gpu]: Invalid value: \"gpu\": must be a "
                     "standard resource for containers");
    assert_cause(&v, "spec.containers[0].resources.limits[cpu]: Invalid value: \"-1\": must be "
                     "greater than or equal to 0");
    assert_cause(&v, "spec.containers[0].resources.limits[example.com/dongle]: Invalid value: "
                     "500m: must be an integer");
    assert_cause(&v, "spec.containers[0].resources.requests[memory]: Invalid value: \"lots\": "
                     "quantities must match the regular expression "
                     "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
}

/* ---- validation in the server's words --------------------------------------------- */

static void test_pod_errors(void **state)
{
    (void)state;
    kr_value_t *p = Y("{apiVersion: v1, kind: Pod, metadata: {name: web}, spec: {}}");
    kr_validation_t v;
    create("pod", p, "default", &v);
    assert_string_equal(message(&v, "", "Pod", "web"),
                        "Pod \"web\" is invalid: spec.containers: Required value");

    p = Y("apiVersion: v1\nkind: Pod\nmetadata: {name: web}\n"
          "spec:\n"
          "  restartPolicy: Sometimes\n"
          "  dnsPolicy: Fast\n"
          "  containers:\n"
          "  - name: web\n"
          "    image: nginx\n"
          "    imagePullPolicy: Maybe\n"
          "    ports: [{containerPort: 70000, protocol: HTTP, hostPort: 80}]\n"
          "  - name: web\n"
          "    ports: [{containerPort: 80, hostPort: 80}]\n"
          "    volumeMounts: [{name: data, mountPath: /data}]\n"
          "  - name: Side_Car\n"
          "    image: ' busybox'\n");
    create("pod", p, "default", &v);
    assert_cause(&v, "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: "
                     "\"Always\", \"OnFailure\", \"Never\"");
    assert_cause(&v, "spec.dnsPolicy: Unsupported value: \"Fast\": supported values: "
                     "\"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"");
    assert_cause(&v, "spec.containers[0].imagePullPolicy: Unsupported value: \"Maybe\": supported "
                     "values: \"Always\", \"IfNotPresent\", \"Never\"");
    assert_cause(&v, "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be "
                     "between 1 and 65535, inclusive");
    assert_cause(&v, "spec.containers[0].ports[0].protocol: Unsupported value: \"HTTP\": supported "
                     "values: \"SCTP\", \"TCP\", \"UDP\"");
    assert_cause(&v, "spec.containers[1].image: Required value");
    assert_cause(&v, "spec.containers[1].name: Duplicate value: \"web\"");
    assert_cause(&v, "spec.containers[1].volumeMounts[0].name: Not found: \"data\"");
    assert_cause(&v, "spec.containers[2].name: Invalid value: \"Side_Car\": a lowercase RFC 1123 "
                     "label must consist of lower case alphanumeric characters or '-', and must "
                     "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
                     "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')");
    assert_cause(&v, "spec.containers[2].image: Invalid value: \" busybox\": must not have leading "
                     "or trailing whitespace");

    /* probes, env and volumes */
    p = Y("apiVersion: v1\nkind: Pod\nmetadata: {name: web}\n"
          "spec:\n"
          "  containers:\n"
          "  - name: web\n"
          "    image: nginx\n"
          "    env: [{name: '', value: x}, {name: A, valueFrom: {}}, {name: B, value: x,"
          "           valueFrom: {secretKeyRef: {name: s, key: k}}}]\n"
          "    livenessProbe: {exec: {command: [true]}, successThreshold: 2}\n"
          "    readinessProbe: {}\n"
          "  volumes:\n"
          "  - {name: a, emptyDir: {}}\n"
          "  - {name: a, secret: {}}\n"
          "  - {name: b, emptyDir: {}, hostPath: {path: /x}}\n");
    create("pod", p, "default", &v);
    assert_cause(&v, "spec.containers[0].env[0].name: Required value");
    assert_cause(&v, "spec.containers[0].env[1].valueFrom: Invalid value: \"\": must specify one "
                     "of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`");
    assert_cause(&v, "spec.containers[0].env[2].valueFrom: Invalid value: \"\": may not be "
                     "specified when `value` is not empty");
    assert_cause(&v,
                 "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1");
    assert_cause(&v,
                 "spec.containers[0].readinessProbe: Required value: must specify a handler type");
    assert_cause(&v,
                 "spec.volumes[2].hostPath: Forbidden: may not specify more than 1 volume type");
    assert_cause(&v, "spec.volumes[1].secret.secretName: Required value");
    assert_cause(&v, "spec.volumes[1].name: Duplicate value: \"a\"");
}

static void test_name_rules_per_kind(void **state)
{
    (void)state;
    kr_validation_t v;
    kr_value_t *s = Y("{apiVersion: v1, kind: Service, metadata: {name: 1st-svc},"
                      " spec: {ports: [{port: 80}]}}");
    create("service", s, "default", &v);
    assert_string_equal(
        message(&v, "", "Service", "1st-svc"),
        "Service \"1st-svc\" is invalid: metadata.name: Invalid value: \"1st-svc\": "
        "a DNS-1035 label must consist of lower case alphanumeric characters or "
        "'-', start with an alphabetic character, and end with an alphanumeric "
        "character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
        "'[a-z]([-a-z0-9]*[a-z0-9])?')");
    kr_value_t *ns = Y("{apiVersion: v1, kind: Namespace, metadata: {name: team.a}}");
    create("namespace", ns, NULL, &v);
    assert_cause(&v, "metadata.name: Invalid value: \"team.a\": must not contain dots");
    /* the same name is fine for a ConfigMap */
    kr_value_t *cm = Y("{apiVersion: v1, kind: ConfigMap, metadata: {name: team.a}}");
    create("configmap", cm, "default", &v);
    assert_valid(&v);

    /* Job: the name becomes a label value, at most 63 characters */
    char name[80];
    memset(name, 'j', 64);
    name[64] = '\0';
    kr_value_t *j = Y(pi_job);
    kr_value_map_set(arena, kr_value_map_get(j, "metadata"), "name", kr_value_str(arena, name));
    create("job", j, "default", &v);
    assert_false(kr_validation_ok(&v));
    assert_cause_prefix(&v, "spec.template.labels: Invalid value: \"jjjjjjjj");
    for (size_t i = 0; i < kr_validation_count(&v); i++) {
        const char *f = kr_value_map_str(kr_value_array_get(v.causes, i), "field");
        assert_string_equal(f, "spec.template.labels");
    }
    /* CronJob: 52 characters at most (the controller appends 11) */
    memset(name, 'c', 53);
    name[53] = '\0';
    kr_value_t *c = Y(hello_cronjob);
    kr_value_map_set(arena, kr_value_map_get(c, "metadata"), "name", kr_value_str(arena, name));
    create("cronjob", c, "default", &v);
    char want[200];
    snprintf(want, sizeof want,
             "metadata.name: Invalid value: \"%s\": must be no more than 52 characters", name);
    assert_cause(&v, want);
    assert_int_equal(kr_validation_count(&v), 1);
    /* StatefulSet names are DNS labels */
    kr_value_t *st = Y(web_statefulset);
    kr_value_map_set(arena, kr_value_map_get(st, "metadata"), "name",
                     kr_value_str(arena, "web.v2"));
    create("statefulset", st, "default", &v);
    assert_cause(&v, "metadata.name: Invalid value: \"web.v2\": must not contain dots");
    /* Event names only need to be path segments */
    kr_value_t *e =
        Y("{apiVersion: v1, kind: Event, metadata: {name: web.17c8f5e2a1b3C},"
          " involvedObject: {kind: Pod, name: web, namespace: default}, reason: Started}");
    create("event", e, "default", &v);
    assert_valid(&v);
    assert_tree(e, "apiVersion: v1\nkind: Event\n"
                   "metadata: {name: web.17c8f5e2a1b3C, namespace: default, resourceVersion: '1',"
                   " uid: 6a3c1a54-5b1f-4b3e-9f7c-2f2f8e0e1d11, generation: 1,"
                   " creationTimestamp: '2024-05-01T10:00:00Z'}\n"
                   "involvedObject: {kind: Pod, name: web, namespace: default}\n"
                   "reason: Started\nsource: {}\n"
                   "firstTimestamp: null\nlastTimestamp: null\neventTime: null\n"
                   "reportingComponent: ''\nreportingInstance: ''\n");
}

static void test_workload_errors(void **state)
{
    (void)state;
    kr_validation_t v;
    kr_value_t *d = Y(nginx_deployment);
    kr_value_map_set(arena, kr_value_get(d, "spec.selector"), "matchLabels", Y("{app: web}"));
    kr_value_map_set(arena, kr_value_get(d, "spec"), "replicas", kr_value_int(arena, -1));
    kr_value_map_set(arena, kr_value_get(d, "spec.template.spec"), "restartPolicy",
                     kr_value_str(arena, "OnFailure"));
    create("deployment", d, "default", &v);
    assert_cause(&v, "spec.replicas: Invalid value: -1: must be greater than or equal to 0");
    assert_cause(
        &v, "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"nginx\"}: "
            "`selector` does not match template `labels`");
    assert_cause(&v,
                 "spec.template.spec.restartPolicy: Unsupported value: \"OnFailure\": supported "
                 "values: \"Always\"");

    d = Y("{apiVersion: apps/v1, kind: Deployment, metadata: {name: web},"
          " spec: {selector: {}, strategy: {type: Recreate, rollingUpdate: {}},"
          " template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: "
          "nginx}]}}}}");
    create("deployment", d, "default", &v);
    assert_cause(
        &v, "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
            "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid "
            "for deployment");
    assert_cause(&v, "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy "
                     "`type` is 'Recreate'");

    d = Y(nginx_deployment);
    kr_value_map_set(arena, kr_value_get(d, "spec"), "strategy",
                     Y("{rollingUpdate: {maxSurge: 0, maxUnavailable: 0%}}"));
    create("deployment", d, "default", &v);
    assert_cause(&v, "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0%: may not be 0 "
                     "when `maxSurge` is 0");

    kr_value_t *rs = Y("{apiVersion: apps/v1, kind: ReplicaSet, metadata: {name: web},"
                       " spec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels:"
                       " {app: web}}, spec: {activeDeadlineSeconds: 5, containers: [{name: web,"
                       " image: nginx}]}}}}");
    create("replicaset", rs, "default", &v);
    assert_cause(&v, "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds "
                     "in ReplicaSet is not Supported");
    assert_int_equal(kr_validation_count(&v), 1);
    kr_value_t *ds = Y(fluentd_daemonset);
    kr_value_map_set(
        arena, kr_value_get(ds, "spec"), "updateStrategy",
        Y("{type: RollingUpdate, rollingUpdate: {maxUnavailable: 200%, maxSurge: 1}}"));
    create("daemonset", ds, NULL, &v);
    assert_cause(&v, "spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: 200%: must "
                     "not be greater than 100%");
    assert_cause(&v, "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set "
                     "when maxUnavailable is non-zero");
    /* a StatefulSet's pod spec is checked when its pods are made, as upstream */
    kr_value_t *st = Y(web_statefulset);
    kr_value_map_del(kr_value_get(st, "spec.template.spec.containers[0]"), "image");
    create("statefulset", st, "default", &v);
    assert_valid(&v);

    /* a Job's pods restart on failure or never */
    kr_value_t *j = Y(pi_job);
    kr_value_map_set(arena, kr_value_get(j, "spec.template.spec"), "restartPolicy",
                     kr_value_str(arena, "Always"));
    create("job", j, "default", &v);
    assert_cause(&v, "spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported "
                     "values: \"OnFailure\", \"Never\"");

    kr_value_t *c = Y(hello_cronjob);
    kr_value_map_set(arena, kr_value_get(c, "spec"), "schedule", kr_value_str(arena, "61 * * * *"));
    create("cronjob", c, "default", &v);
    assert_cause(&v,
                 "spec.schedule: Invalid value: \"61 * * * *\": end of range (61) above maximum "
                 "(59): 61");
    kr_value_map_set(arena, kr_value_get(c, "spec"), "schedule",
                     kr_value_str(arena, "every minute"));
    create("cronjob", c, "default", &v);
    assert_cause(&v, "spec.schedule: Invalid value: \"every minute\": expected exactly 5 fields, "
                     "found 2: [every minute]");
    kr_value_map_set(arena, kr_value_get(c, "spec"), "schedule", kr_value_str(arena, "@hourly"));
    create("cronjob", c, "default", &v);
    assert_valid(&v);
}

static void test_service_errors(void **state)
{
    (void)state;
    kr_validation_t v;
    kr_value_t *s = Y("apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
                      "spec:\n"
                      "  type: Magic\n"
                      "  ports:\n"
                      "  - {port: 80}\n"
                      "  - {name: http, port: 80, targetPort: Not_A_Port}\n");
    create("service", s, "default", &v);
    assert_cause(&v, "spec.ports[0].name: Required value");
    assert_cause(&v, "spec.ports[1].targetPort: Invalid value: \"Not_A_Port\": must contain only "
                     "alpha-numeric characters (a-z, 0-9), and hyphens (-)");
    assert_cause(&v,
                 "spec.ports[1]: Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", "
                 "AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, "
                 "IntVal:0, StrVal:\"\"}, NodePort:0}");
    assert_cause(&v, "spec.type: Unsupported value: \"Magic\": supported values: \"ClusterIP\", "
                     "\"ExternalName\", \"LoadBalancer\", \"NodePort\"");

    s = Y("{apiVersion: v1, kind: Service, metadata: {name: web}, spec: {}}");
    create("service", s, "default", &v);
    assert_string_equal(message(&v, "", "Service", "web"),
                        "Service \"web\" is invalid: spec.ports: Required value");
    /* headless services need no ports */
    s = Y("{apiVersion: v1, kind: Service, metadata: {name: web}, spec: {clusterIP: None,"
          " selector: {app: web}}}");
    create("service", s, "default", &v);
    assert_valid(&v);
    assert_tree(kr_value_get(s, "spec.clusterIPs"), "[None]");
}

static void test_configmap_secret_errors(void **state)
{
    (void)state;
    kr_validation_t v;
    kr_value_t *cm =
        Y("{apiVersion: v1, kind: ConfigMap, metadata: {name: cfg},"
          " data: {'bad key': x, .hidden: y, '..': z, dup: a}, binaryData: {dup: YQ==}}");
    create("configmap", cm, "default", &v);
    assert_cause(&v,
                 "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of "
                 "alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or "
                 "'key-name', regex used for validation is '[-._a-zA-Z0-9]+')");
    assert_cause(&v, "data[..]: Invalid value: \"..\": must not be '..'");
    assert_cause(&v, "data[dup]: Invalid value: \"dup\": duplicate of key present in binaryData");
    assert_int_equal(kr_validation_count(&v), 3);

    /* 1 MiB in total */
    cm = Y("{apiVersion: v1, kind: ConfigMap, metadata: {name: cfg}, data: {}}");
    size_t big = 1024 * 1024;
    char *s = kr_arena_alloc(arena, big + 1);
    memset(s, 'x', big);
    s[big] = '\0';
    kr_value_map_set(arena, kr_value_map_get(cm, "data"), "a", kr_value_str(arena, s));
    create("configmap", cm, "default", &v);
    assert_valid(&v);
    kr_value_map_set(arena, kr_value_map_get(cm, "data"), "b", kr_value_str(arena, "y"));
    create("configmap", cm, "default", &v);
    assert_cause(&v, ": Too long: must have at most 1048576 bytes");

    kr_value_t *sec =
        Y("{apiVersion: v1, kind: Secret, metadata: {name: s}, data: {a: 'not base64!'}}");
    create("secret", sec, "default", &v);
    assert_cause(&v,
                 "data[a]: Invalid value: \"<secret contents redacted>\": illegal base64 data at "
                 "input byte 3");
    sec =
        Y("{apiVersion: v1, kind: Secret, metadata: {name: s}, type: kubernetes.io/tls, data: {}}");
    create("secret", sec, "default", &v);
    assert_cause(&v, "data[tls.crt]: Required value");
    assert_cause(&v, "data[tls.key]: Required value");
    sec = Y(
        "{apiVersion: v1, kind: Secret, metadata: {name: s}, type: kubernetes.io/dockerconfigjson,"
        " data: {.dockerconfigjson: WzFd}}");
    create("secret", sec, "default", &v);
    assert_cause(&v,
                 "data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": json: "
                 "cannot unmarshal array into Go value of type map[string]interface {}");
}

/* ---- updates ---------------------------------------------------------------------------- */

static void test_pod_update_rules(void **state)
{
    (void)state;
    kr_value_t *old = Y(two_containers);
    kr_validation_t v;
    create("pod", old, "default", &v);
    assert_valid(&v);

    /* images may change */
    kr_value_t *nw = kr_value_copy(arena, old);
    kr_value_map_set(arena, kr_value_get(nw, "spec.containers[0]"), "image",
                     kr_value_str(arena, "nginx:1.27"));
    update("pod", nw, old, &v);
    assert_valid(&v);

    /* anything else may not */
    nw = kr_value_copy(arena, old);
    kr_value_map_set(arena, kr_value_get(nw, "spec"), "restartPolicy",
                     kr_value_str(arena, "Always"));
    update("pod", nw, old, &v);
    assert_cause_prefix(&v, "spec: Forbidden: pod updates may not change fields other than "
                            "`spec.containers[*].image`,`spec.initContainers[*].image`,"
                            "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to "
                            "existing tolerations),`spec.terminationGracePeriodSeconds` (allow it "
                            "to be set to 1 if it was previously negative)\n");
    assert_int_equal(kr_validation_count(&v), 1);
    assert_non_null(strstr(kr_value_map_str(kr_value_array_get(v.causes, 0), "message"),
                           "restartPolicy: \"Always\""));

    nw = kr_value_copy(arena, old);
    kr_value_array_remove(kr_value_get(nw, "spec.containers"), 1);
    update("pod", nw, old, &v);
    assert_string_equal(
        message(&v, "", "Pod", "two-containers"),
        "Pod \"two-containers\" is invalid: spec.containers: Forbidden: pod updates "
        "may not add or remove containers");

    /* tolerations: additions only; activeDeadlineSeconds: only down */
    kr_value_map_set(arena, kr_value_get(old, "spec"), "tolerations",
                     Y("[{key: a, operator: Exists, effect: NoSchedule}]"));
    kr_value_map_set(arena, kr_value_get(old, "spec"), "activeDeadlineSeconds",
                     kr_value_int(arena, 60));
    nw = kr_value_copy(arena, old);
    kr_value_map_set(
        arena, kr_value_get(nw, "spec"), "tolerations",
        Y("[{key: a, operator: Exists, effect: NoSchedule}, {key: b, operator: Exists}]"));
    kr_value_map_set(arena, kr_value_get(nw, "spec"), "activeDeadlineSeconds",
                     kr_value_int(arena, 30));
    update("pod", nw, old, &v);
    assert_valid(&v);
    kr_value_map_set(arena, kr_value_get(nw, "spec"), "tolerations",
                     Y("[{key: b, operator: Exists}]"));
    kr_value_map_set(arena, kr_value_get(nw, "spec"), "activeDeadlineSeconds",
                     kr_value_int(arena, 90));
    update("pod", nw, old, &v);
    assert_cause(&v, "spec.activeDeadlineSeconds: Invalid value: 90: must be less than or equal to "
                     "previous value");

    /* metadata identity */
    nw = kr_value_copy(arena, old);
    kr_value_map_set(arena, kr_value_get(nw, "metadata"), "name", kr_value_str(arena, "other"));
    update("pod", nw, old, &v);
    assert_cause(&v, "metadata.name: Invalid value: \"other\": field is immutable");
}

static void test_workload_update_rules(void **state)
{
    (void)state;
    kr_validation_t v;
    kr_value_t *old = Y(nginx_deployment);
    create("deployment", old, "default", &v);
    assert_valid(&v);
    kr_value_t *nw = kr_value_copy(arena, old);
    kr_value_map_set(arena, kr_value_get(nw, "spec"), "replicas", kr_value_int(arena, 5));
    update("deployment", nw, old, &v);
    assert_valid(&v);
    nw = kr_value_copy(arena, old);
    kr_value_map_set(arena, kr_value_get(nw, "spec.selector"), "matchLabels", Y("{app: nginx2}"));
    kr_value_map_set(arena, kr_value_get(nw, "spec.template.metadata"), "labels",
                     Y("{app: nginx2}"));
    update("deployment", nw, old, &v);
    /* kubectl apply of a changed selector shows exactly this */
    assert_string_equal(
        message(&v, "apps", "Deployment", "nginx-deployment"),
        "Deployment.apps \"nginx-deployment\" is invalid: spec.selector: Invalid "
        "value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"nginx2\"}, "
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable");

    /* StatefulSet: only some spec fields change */
    old = Y(web_statefulset);
    create("statefulset", old, "default", &v);
    nw = kr_value_copy(arena, old);
    kr_value_map_set(arena, kr_value_get(nw, "spec"), "serviceName", kr_value_str(arena, "other"));
    update("statefulset", nw, old, &v);
    assert_cause(&v,
                 "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', "
                 "'ordinals', 'template', 'updateStrategy', "
                 "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden");
    nw = kr_value_copy(arena, old);
    kr_value_map_set(arena, kr_value_get(nw, "spec"), "replicas", kr_value_int(arena, 1));
    update("statefulset", nw, old, &v);
    assert_valid(&v);

    /* Job: selector and template are fixed once created */
    old = Y(pi_job);
    create("job", old, "default", &v);
    assert_valid(&v);
    nw = kr_value_copy(arena, old);
    kr_value_map_set(arena, kr_value_get(nw, "spec.template.spec.containers[0]"), "image",
                     kr_value_str(arena, "perl:5.36"));
    update("job", nw, old, &v);
    assert_int_equal(kr_validation_count(&v), 1);
    assert_cause_prefix(&v, "spec.template: Invalid value: {");
    assert_non_null(strstr(kr_value_map_str(kr_value_array_get(v.causes, 0), "message"),
                           ": field is immutable"));
    nw = kr_value_copy(arena, old);
    kr_value_map_set(arena, kr_value_get(nw, "spec"), "completions", kr_value_int(arena, 3));
    update("job", nw, old, &v);
    assert_cause(&v, "spec.completions: Invalid value: 3: field is immutable");
}

static void test_service_update_rules(void **state)
{
    (void)state;
    kr_validation_t v;
    kr_value_t *old = Y(my_service);
    create("service", old, "default", &v);
    /* the allocator's part, done by hand here */
    kr_value_map_set(arena, kr_value_get(old, "spec"), "clusterIP",
                     kr_value_str(arena, "10.96.0.10"));
    kr_value_map_set(arena, kr_value_get(old, "spec"), "clusterIPs", Y("[10.96.0.10]"));

    /* a client that sends the manifest again keeps the allocated IP */
    kr_value_t *nw = Y(my_service);
    update("service", nw, old, &v);
    assert_valid(&v);
    assert_string_equal(kr_value_as_str(kr_value_get(nw, "spec.clusterIP")), "10.96.0.10");
    assert_tree(kr_value_get(nw, "spec.ipFamilies"), "[IPv4]");

    nw = Y(my_service);
    kr_value_map_set(arena, kr_value_get(nw, "spec"), "clusterIP",
                     kr_value_str(arena, "10.96.0.11"));
    update("service", nw, old, &v);
    assert_cause(&v, "spec.clusterIPs[0]: Invalid value: []string{\"10.96.0.11\"}: may not change "
                     "once set");
}

static void test_immutable_configmap_secret(void **state)
{
    (void)state;
    kr_validation_t v;
    kr_value_t *old = Y("{apiVersion: v1, kind: ConfigMap, metadata: {name: cfg}, immutable: true,"
                        " data: {a: '1'}}");
    create("configmap", old, "default", &v);
    assert_valid(&v);
    kr_value_t *nw = Y("{apiVersion: v1, kind: ConfigMap, metadata: {name: cfg}, data: {a: '2'}}");
    update("configmap", nw, old, &v);
    assert_cause(&v, "immutable: Forbidden: field is immutable when `immutable` is set");
    assert_cause(&v, "data: Forbidden: field is immutable when `immutable` is set");
    /* labels may still change */
    nw = Y(
        "{apiVersion: v1, kind: ConfigMap, metadata: {name: cfg, labels: {a: b}}, immutable: true,"
        " data: {a: '1'}}");
    update("configmap", nw, old, &v);
    assert_valid(&v);

    old = Y("{apiVersion: v1, kind: Secret, metadata: {name: s}, data: {a: YQ==}}");
    create("secret", old, "default", &v);
    nw = Y("{apiVersion: v1, kind: Secret, metadata: {name: s}, type: kubernetes.io/basic-auth,"
           " data: {username: YQ==}}");
    update("secret", nw, old, &v);
    assert_cause(&v, "type: Invalid value: \"kubernetes.io/basic-auth\": field is immutable");
}

static void test_small_kinds(void **state)
{
    (void)state;
    kr_validation_t v;
    kr_value_t *l =
        Y("{apiVersion: coordination.k8s.io/v1, kind: Lease, metadata: {name: node-1},"
          " spec: {holderIdentity: node-1, leaseDurationSeconds: 0, leaseTransitions: -1}}");
    create("lease", l, "kube-node-lease", &v);
    assert_cause(&v, "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0");
    assert_cause(&v,
                 "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0");
    assert_string_equal(
        message(&v, "coordination.k8s.io", "Lease", "node-1"),
        "Lease.coordination.k8s.io \"node-1\" is invalid: [spec.leaseDurationSeconds: "
        "Invalid value: 0: must be greater than 0, spec.leaseTransitions: Invalid "
        "value: -1: must be greater than or equal to 0]");

    kr_value_t *pc = Y("{apiVersion: scheduling.k8s.io/v1, kind: PriorityClass,"
                       " metadata: {name: high-priority}, value: 1000000}");
    create("priorityclass", pc, NULL, &v);
    assert_valid(&v);
    assert_string_equal(kr_value_map_str(pc, "preemptionPolicy"), "PreemptLowerPriority");
    kr_value_t *nw = kr_value_copy(arena, pc);
    kr_value_map_set(arena, nw, "value", kr_value_int(arena, 5));
    update("priorityclass", nw, pc, &v);
    assert_cause(&v, "value: Forbidden: may not be changed in an update.");
    pc = Y("{apiVersion: scheduling.k8s.io/v1, kind: PriorityClass, metadata: {name: system-mine},"
           " value: 2000000000}");
    create("priorityclass", pc, NULL, &v);
    assert_cause(&v, "metadata.name: Forbidden: priority class names with 'system-' prefix are "
                     "reserved for system use only. error: system-mine is not a known system "
                     "priority class");
    pc = Y("{apiVersion: scheduling.k8s.io/v1, kind: PriorityClass, metadata: {name: top},"
           " value: 1000000001}");
    create("priorityclass", pc, NULL, &v);
    assert_cause(
        &v, "value: Forbidden: maximum allowed value of a user defined priority is 1000000000");

    kr_value_t *ep = Y("{apiVersion: v1, kind: Endpoints, metadata: {name: web},"
                       " subsets: [{addresses: [{ip: 127.0.0.1}], ports: [{port: 80}]}]}");
    create("endpoints", ep, "default", &v);
    assert_string_equal(kr_value_as_str(kr_value_get(ep, "subsets[0].ports[0].protocol")), "TCP");
    assert_cause(&v, "subsets[0].addresses[0].ip: Invalid value: \"127.0.0.1\": may not be in the "
                     "loopback range (127.0.0.0/8, ::1/128)");

    kr_value_t *b =
        Y("{apiVersion: v1, kind: Binding, metadata: {name: web}, target: {kind: Pod}}");
    kr_validation_init(&v, arena);
    hooks("binding")->validate(&v, b, NULL);
    assert_cause(
        &v, "target.kind: Unsupported value: \"Pod\": supported values: \"Node\", \"<empty>\"");
    assert_cause(&v, "target.name: Required value");

    kr_value_t *n = Y("{apiVersion: v1, kind: Node, metadata: {name: node-1},"
                      " status: {capacity: {cpu: '4', memory: 8Gi, pods: '110'}}}");
    create("node", n, NULL, &v);
    assert_valid(&v);
    assert_tree(kr_value_get(n, "status.allocatable"), "{cpu: '4', memory: 8Gi, pods: '110'}");
    assert_null(kr_builtin_hooks("widget"));
}

/* spec.podCIDR(s) of a Node: set once (by the node IPAM controller), never
 * changed; podCIDR is podCIDRs[0] (the v1 conversion). */
static void test_node_pod_cidr(void **state)
{
    (void)state;
    kr_validation_t v;
    kr_value_t *n = Y("{apiVersion: v1, kind: Node, metadata: {name: n1}}");
    create("node", n, NULL, &v);
    assert_valid(&v);
    /* "" -> valid: allowed; podCIDR alone fills podCIDRs */
    kr_value_t *set = kr_value_copy(arena, n);
    kr_value_set(arena, set, "spec.podCIDR", kr_value_str(arena, "10.244.1.0/24"), NULL);
    update("node", set, n, &v);
    assert_valid(&v);
    assert_tree(kr_value_get(set, "spec"), "{podCIDR: 10.244.1.0/24, podCIDRs: [10.244.1.0/24]}");
    /* changed afterwards: forbidden */
    kr_value_t *moved = kr_value_copy(arena, set);
    kr_value_set(arena, moved, "spec.podCIDRs", Y("[10.244.2.0/24]"), NULL);
    update("node", moved, set, &v);
    assert_cause(&v, "spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "
                     "\"\" to valid");
    assert_string_equal(kr_value_as_str(kr_value_get(moved, "spec.podCIDR")), "10.244.2.0/24");
    /* podCIDR alone cannot move it either: podCIDRs wins */
    kr_value_t *one = kr_value_copy(arena, set);
    kr_value_set(arena, one, "spec.podCIDR", kr_value_str(arena, "10.244.9.0/24"), NULL);
    update("node", one, set, &v);
    assert_valid(&v);
    assert_string_equal(kr_value_as_str(kr_value_get(one, "spec.podCIDR")), "10.244.1.0/24");
    /* "" -> not a CIDR: invalid */
    kr_value_t *bad = kr_value_copy(arena, n);
    kr_value_set(arena, bad, "spec.podCIDRs", Y("[10.244.1.0]"), NULL);
    update("node", bad, n, &v);
    assert_cause(&v, "spec.podCIDRs[0]: Invalid value: \"10.244.1.0\": must be a valid CIDR value, "
                     "(e.g. 10.9.8.0/24 or 2001:db8::/64)");
}

/* https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/ */
static const char example_slice[] = "apiVersion: discovery.k8s.io/v1\n"
                                    "kind: EndpointSlice\n"
                                    "metadata:\n"
                                    "  name: example-abc\n"
                                    "  labels:\n"
                                    "    kubernetes.io/service-name: example\n"
                                    "    endpointslice.kubernetes.io/managed-by: kraal\n"
                                    "addressType: IPv4\n"
                                    "ports:\n"
                                    "  - name: http\n"
                                    "    protocol: TCP\n"
                                    "    port: 80\n"
                                    "endpoints:\n"
                                    "  - addresses:\n"
                                    "      - \"10.1.2.3\"\n"
                                    "    conditions:\n"
                                    "      ready: true\n"
                                    "    hostname: pod-1\n"
                                    "    nodeName: node-1\n"
                                    "    zone: us-west2-a\n";

static void test_endpointslice(void **state)
{
    (void)state;
    kr_validation_t v;
    kr_value_t *es = Y(example_slice);
    create("endpointslice", es, "default", &v);
    assert_valid(&v);
    assert_int_equal(kr_value_map_int(kr_value_get(es, "metadata"), "generation", 0), 1);

    /* SetDefaults_EndpointPort: name "" and protocol TCP */
    kr_value_t *d = Y("{apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {name: d},"
                      " addressType: IPv4, endpoints: [], ports: [{port: 53}]}");
    create("endpointslice", d, "default", &v);
    assert_valid(&v);
    assert_tree(kr_value_get(d, "ports"), "[{name: '', port: 53, protocol: TCP}]");

    /* addressType: required, supported values, immutable */
    kr_value_t *bad =
        Y("{apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {name: b},"
          " endpoints: []}");
    create("endpointslice", bad, "default", &v);
    assert_cause(&v, "addressType: Required value");
    bad = Y("{apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {name: b},"
            " addressType: IP, endpoints: []}");
    create("endpointslice", bad, "default", &v);
    assert_cause(&v, "addressType: Unsupported value: \"IP\": supported values: \"FQDN\", "
                     "\"IPv4\", \"IPv6\"");
    kr_value_t *upd = kr_value_copy(arena, es);
    kr_value_map_set(arena, upd, "addressType", kr_value_str(arena, "IPv6"));
    kr_value_set(arena, upd, "endpoints[0].addresses[0]", kr_value_str(arena, "fd00::1"), NULL);
    update("endpointslice", upd, es, &v);
    assert_cause(&v, "addressType: Invalid value: \"IPv6\": field is immutable");

    /* addresses per addressType */
    bad = Y("{apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {name: b},"
            " addressType: IPv4, endpoints: [{addresses: ['fd00::1']}, {addresses: ['127.0.0.1']},"
            " {addresses: []}, {addresses: ['10.0.0.1'], nodeName: 'Node_1', hostname: 'a.b'}]}");
    create("endpointslice", bad, "default", &v);
    assert_cause(
        &v, "endpoints[0].addresses[0]: Invalid value: \"fd00::1\": must be a valid IPv4 address");
    assert_cause(&v, "endpoints[1].addresses[0]: Invalid value: \"127.0.0.1\": may not be in the "
                     "loopback range (127.0.0.0/8, ::1/128)");
    assert_cause(&v, "endpoints[2].addresses: Required value: must contain at least 1 address");
    assert_cause_prefix(&v, "endpoints[3].nodeName: Invalid value: \"Node_1\": a lowercase RFC "
                            "1123 subdomain");
    assert_cause(&v, "endpoints[3].hostname: Invalid value: \"a.b\": must not contain dots");
    bad = Y("{apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {name: b},"
            " addressType: FQDN, endpoints: [{addresses: [example.com., localhost, 'a_b.com']}]}");
    create("endpointslice", bad, "default", &v);
    assert_int_equal(kr_validation_count(&v), 2);
    assert_cause(&v, "endpoints[0].addresses[1]: Invalid value: \"localhost\": should be a domain "
                     "with at least two segments separated by dots");
    assert_cause_prefix(&v, "endpoints[0].addresses[2]: Invalid value: \"a_b.com\": a lowercase "
                            "RFC 1123 subdomain");

    /* ports: duplicate names, protocol, appProtocol */
    bad = Y("{apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {name: b},"
            " addressType: IPv4, endpoints: [], ports: [{name: a, port: 1}, {name: a, port: 2},"
            " {name: c, protocol: ICMP}, {name: e, appProtocol: 'a/b/c'}]}");
    create("endpointslice", bad, "default", &v);
    assert_cause(&v, "ports[1].name: Duplicate value: \"a\"");
    assert_cause(&v, "ports[2].protocol: Unsupported value: \"ICMP\": supported values: "
                     "\"SCTP\", \"TCP\", \"UDP\"");
    assert_cause_prefix(&v, "ports[3].appProtocol: Invalid value: \"a/b/c\"");

    /* at most 1000 endpoints */
    kr_value_t *many = Y("{apiVersion: discovery.k8s.io/v1, kind: EndpointSlice,"
                         " metadata: {name: m}, addressType: IPv4, endpoints: []}");
    kr_value_t *eps = kr_value_map_get(many, "endpoints");
    for (int i = 0; i < 1001; i++)
        kr_value_array_push(arena, eps, Y("{addresses: ['10.0.0.1']}"));
    create("endpointslice", many, "default", &v);
    assert_cause(&v, "endpoints: Too many: 1001: must have at most 1000 items");
    kr_value_array_remove(eps, 0);
    create("endpointslice", many, "default", &v);
    assert_valid(&v);

    /* generation: moves on a change of endpoints or labels, not of
     * annotations */
    upd = kr_value_copy(arena, es);
    kr_value_set(arena, upd, "metadata.annotations", Y("{a: b}"), NULL);
    update("endpointslice", upd, es, &v);
    assert_valid(&v);
    assert_int_equal(kr_value_map_int(kr_value_get(upd, "metadata"), "generation", 0), 1);
    upd = kr_value_copy(arena, es);
    kr_value_set(arena, upd, "endpoints[0].conditions.ready", kr_value_bool(arena, false), NULL);
    update("endpointslice", upd, es, &v);
    assert_valid(&v);
    assert_int_equal(kr_value_map_int(kr_value_get(upd, "metadata"), "generation", 0), 2);
    upd = kr_value_copy(arena, es);
    kr_value_set(arena, upd, "metadata.labels.x", kr_value_str(arena, "y"), NULL);
    update("endpointslice", upd, es, &v);
    assert_int_equal(kr_value_map_int(kr_value_get(upd, "metadata"), "generation", 0), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_deployment_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pod_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pod_nested_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_service_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_defaults_and_selector, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cronjob_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statefulset_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemonset_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_namespace_strategy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_string_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resources_and_qos, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pod_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_name_rules_per_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workload_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_service_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_configmap_secret_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pod_update_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workload_update_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_service_update_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_immutable_configmap_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_kinds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_endpointslice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_pod_cidr, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
