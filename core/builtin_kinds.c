/* The built-in kinds: Kubernetes' names, scope, subresources, field
 * selectors (GetAttrs / AddFieldLabelConversionFunc per kind) and the
 * columns `kubectl get` shows (pkg/printers/internalversion/printers.go).
 *
 * Printer columns are additionalPrinterColumns maps: {name, type, format?,
 * description, priority?, jsonPath}.  A column's description is taken from
 * the schema field it shows, as upstream takes it from SwaggerDoc().  Where
 * upstream computes a cell in Go, the column also has "x-kraal-compute"
 * naming the computation; jsonPath then names the main input (what a client
 * without the computation would show).  The computations, as upstream's
 * printers do them ("<none>" stands for an empty cell):
 *
 *   age               time since the jsonPath timestamp, in kubectl's short
 *                     form (duration.HumanDuration: "45s", "3m", "2d4h");
 *                     "<unknown>" when absent.
 *   join              the values at the jsonPath ([*]) joined with ",".
 *   count             the number of items of the array (or map) at jsonPath.
 *   dataCount         ConfigMap: entries in data + binaryData; Secret: data.
 *   selector          a string map as "k=v,k2=v2", keys sorted; "<none>".
 *   labelSelector     a metav1.LabelSelector as FormatLabelSelector prints it
 *                     ("app=web,tier in (a,b)"); "<none>" when empty.
 *   readyOfReplicas   "<status.readyReplicas>/<spec.replicas>" (0 if unset).
 *   podReady          "<ready>/<total>": spec.containers and restartable init
 *                     containers (restartPolicy Always), ready from
 *                     status.containerStatuses / initContainerStatuses.
 *   podStatus         printPod's reason: status.phase, replaced by
 *                     status.reason; "SchedulingGated"; "Init:<reason>",
 *                     "Init:Signal:<n>", "Init:ExitCode:<n>" or
 *                     "Init:<done>/<total>" while init containers run; else
 *                     the last container's waiting reason, terminated reason,
 *                     "Signal:<n>" or "ExitCode:<n>"; "Completed" + Running
 *                     with a ready container -> "Running" ("NotReady" if the
 *                     Ready condition is false); "Terminating" when
 *                     metadata.deletionTimestamp is set ("Unknown" if the
 *                     reason is NodeLost).
 *   podRestarts       the sum of restartCount over container statuses (and
 *                     restartable init containers), followed by
 *                     " (<age> ago)" of the newest lastState.terminated
 *                     .finishedAt when it is > 0.
 *   podReadinessGates "<true>/<total>" of spec.readinessGates whose
 *                     conditionType is a True condition; "<none>" if none.
 *   nodeStatus        "Ready" or "NotReady" from the Ready condition
 *                     (status "Unknown" prints NotReady), "Unknown" when
 *                     there is no Ready condition, plus
 *                     ",SchedulingDisabled" when spec.unschedulable.
 *   nodeRoles         sorted roles from labels node-role.kubernetes.io/<r>
 *                     and kubernetes.io/role=<r>, joined by ","; "<none>".
 *   nodeExternalIP    the ExternalIP addresses, "<none>" when there is none.
 *   eventLastSeen     age of series.lastObservedTime, else lastTimestamp,
 *                     else eventTime.
 *   eventFirstSeen    age of firstTimestamp, else eventTime.
 *   eventObject       "<lower-case involvedObject.kind>/<name>".
 *   eventSource       "<source.component>, <source.host>" (reportingController
 *                     and reportingInstance when source is empty).
 *   eventCount        series.count, else count.
 *   serviceExternalIP ClusterIP and NodePort: spec.externalIPs or
 *                     "<none>"; LoadBalancer: status.loadBalancer.ingress ip
 *                     or hostname + spec.externalIPs, "<pending>" if none;
 *                     ExternalName: spec.externalName.
 *   servicePorts      "port[:nodePort]/protocol" joined by ","; "<none>".
 *   endpoints         "ip:port" of every ready address x port, the first
 *                     three then " + N more..."; "<none>".
 *   jobStatus         "Complete", "Failed", "Terminating", "Suspended",
 *                     "FailureTarget" from conditions, else "Running".
 *   jobCompletions    "<succeeded>/<completions>"; without completions
 *                     "<succeeded>/1 of <parallelism>" when parallelism > 1,
 *                     else "<succeeded>/1".
 *   jobDuration       completionTime (or now) - startTime; "" before start.
 *   endpointSlicePorts     the first three ports (port, else name, else "*")
 *                     joined by ",", then " + N more..."; "<unset>".
 *   endpointSliceEndpoints the first three addresses over all endpoints,
 *                     then " + N more..."; "<unset>".
 *   timestamp         the jsonPath timestamp as RFC 3339 in UTC (printRole's
 *                     CreationTimestamp.UTC().Format(time.RFC3339)).
 *   roleRef           "<roleRef.kind>/<roleRef.name>".
 *   subjectUsers      the names of the subjects of kind User, joined by
 *                     ", "; subjectGroups the same for Group;
 *                     subjectServiceAccounts "<namespace>/<name>" of the
 *                     ServiceAccount subjects (rbac.SubjectsStrings).
 *   quotaRequest      ResourceQuota: "<name>: <used>/<hard>" of each resource
 *                     in status.hard not prefixed "limits.", names sorted,
 *                     joined by ", " (printResourceQuota); quotaLimit the
 *                     same for the "limits." ones.
 */
#include "registry_internal.h"

#include <ctype.h>
#include <string.h>

#include "builtin.h"

typedef struct col {
    const char *name;
    const char *type;
    int priority;
    const char *json_path;
    const char *compute;   /* x-kraal-compute, or NULL */
    const char *desc_from; /* the schema field whose description it takes */
    const char *desc;      /* upstream's own text, or when the schema lacks it */
} col_t;

#define COL_NAME                                                           \
    {                                                                      \
        "Name", "string", 0, ".metadata.name", NULL, "metadata.name", NULL \
    }
#define COL_AGE                                                                                 \
    {                                                                                           \
        "Age", "string", 0, ".metadata.creationTimestamp", "age", "metadata.creationTimestamp", \
            NULL                                                                                \
    }
#define COL_CONTAINERS(tpl)                                                       \
    {"Containers",                                                                \
     "string",                                                                    \
     1,                                                                           \
     "." tpl ".spec.containers[*].name",                                          \
     "join",                                                                      \
     NULL,                                                                        \
     "Names of each container in the template."},                                 \
    {                                                                             \
        "Images", "string", 1, "." tpl ".spec.containers[*].image", "join", NULL, \
            "Images referenced by each container in the template."                \
    }
#define COL_SELECTOR(path)                                             \
    {                                                                  \
        "Selector", "string", 1, "." path, "labelSelector", path, NULL \
    }
#define COL_END                               \
    {                                         \
        NULL, NULL, 0, NULL, NULL, NULL, NULL \
    }

static const col_t namespace_cols[] = {
    COL_NAME,
    {"Status", "string", 0, ".status.phase", NULL, NULL, "The status of the namespace"},
    COL_AGE,
    COL_END,
};

static const col_t node_cols[] = {
    COL_NAME,
    {"Status", "string", 0, ".status.conditions[?(@.type==\"Ready\")].status", "nodeStatus", NULL,
     "The status of the node"},
    {"Roles", "string", 0, ".metadata.labels", "nodeRoles", NULL, "The roles of the node"},
    COL_AGE,
    {"Version", "string", 0, ".status.nodeInfo.kubeletVersion", NULL,
     "status.nodeInfo.kubeletVersion", NULL},
    {"Internal-IP", "string", 1, ".status.addresses[?(@.type==\"InternalIP\")].address", NULL,
     "status.addresses", NULL},
    {"External-IP", "string", 1, ".status.addresses[?(@.type==\"ExternalIP\")].address",
     "nodeExternalIP", "status.addresses", NULL},
    {"OS-Image", "string", 1, ".status.nodeInfo.osImage", NULL, "status.nodeInfo.osImage", NULL},
    {"Kernel-Version", "string", 1, ".status.nodeInfo.kernelVersion", NULL,
     "status.nodeInfo.kernelVersion", NULL},
    {"Container-Runtime", "string", 1, ".status.nodeInfo.containerRuntimeVersion", NULL,
     "status.nodeInfo.containerRuntimeVersion", NULL},
    COL_END,
};

static const col_t pod_cols[] = {
    COL_NAME,
    {"Ready", "string", 0, ".status.containerStatuses[*].ready", "podReady", NULL,
     "The aggregate readiness state of this pod for accepting traffic."},
    {"Status", "string", 0, ".status.phase", "podStatus", NULL,
     "The aggregate status of the containers in this pod."},
    {"Restarts", "string", 0, ".status.containerStatuses[*].restartCount", "podRestarts", NULL,
     "The number of times the containers in this pod have been restarted and when the last "
     "container in this pod has restarted."},
    COL_AGE,
    {"IP", "string", 1, ".status.podIP", NULL, "status.podIP", NULL},
    {"Node", "string", 1, ".spec.nodeName", NULL, "spec.nodeName", NULL},
    {"Nominated Node", "string", 1, ".status.nominatedNodeName", NULL, "status.nominatedNodeName",
     NULL},
    {"Readiness Gates", "string", 1, ".spec.readinessGates[*].conditionType", "podReadinessGates",
     "spec.readinessGates", NULL},
    COL_END,
};

static const col_t event_cols[] = {
    {"Last Seen", "string", 0, ".lastTimestamp", "eventLastSeen", "lastTimestamp", NULL},
    {"Type", "string", 0, ".type", NULL, "type", NULL},
    {"Reason", "string", 0, ".reason", NULL, "reason", NULL},
    {"Object", "string", 0, ".involvedObject.name", "eventObject", "involvedObject", NULL},
    {"Subobject", "string", 1, ".involvedObject.fieldPath", NULL, "involvedObject.fieldPath", NULL},
    {"Source", "string", 1, ".source.component", "eventSource", "source", NULL},
    {"Message", "string", 0, ".message", NULL, "message", NULL},
    {"First Seen", "string", 1, ".firstTimestamp", "eventFirstSeen", "firstTimestamp", NULL},
    {"Count", "string", 1, ".count", "eventCount", "count", NULL},
    {"Name", "string", 1, ".metadata.name", NULL, "metadata.name", NULL},
    COL_END,
};

static const col_t configmap_cols[] = {
    COL_NAME,
    {"Data", "string", 0, ".data", "dataCount", "data", NULL},
    COL_AGE,
    COL_END,
};

static const col_t secret_cols[] = {
    COL_NAME,
    {"Type", "string", 0, ".type", NULL, "type", NULL},
    {"Data", "string", 0, ".data", "dataCount", "data", NULL},
    COL_AGE,
    COL_END,
};

static const col_t service_cols[] = {
    COL_NAME,
    {"Type", "string", 0, ".spec.type", NULL, "spec.type", NULL},
    {"Cluster-IP", "string", 0, ".spec.clusterIP", NULL, "spec.clusterIP", NULL},
    {"External-IP", "string", 0, ".spec.externalIPs", "serviceExternalIP", "spec.externalIPs",
     NULL},
    {"Port(s)", "string", 0, ".spec.ports", "servicePorts", "spec.ports", NULL},
    COL_AGE,
    {"Selector", "string", 1, ".spec.selector", "selector", "spec.selector", NULL},
    COL_END,
};

static const col_t endpoints_cols[] = {
    COL_NAME,
    {"Endpoints", "string", 0, ".subsets", "endpoints", "subsets", NULL},
    COL_AGE,
    COL_END,
};

static const col_t serviceaccount_cols[] = {
    COL_NAME,
    {"Secrets", "string", 0, ".secrets", "count", "secrets", NULL},
    COL_AGE,
    COL_END,
};

static const col_t replicaset_cols[] = {
    COL_NAME,
    {"Desired", "integer", 0, ".spec.replicas", NULL, "spec.replicas", NULL},
    {"Current", "integer", 0, ".status.replicas", NULL, "status.replicas", NULL},
    {"Ready", "integer", 0, ".status.readyReplicas", NULL, "status.readyReplicas", NULL},
    COL_AGE,
    COL_CONTAINERS("spec.template"),
    COL_SELECTOR("spec.selector"),
    COL_END,
};

static const col_t deployment_cols[] = {
    COL_NAME,
    {"Ready", "string", 0, ".status.readyReplicas", "readyOfReplicas", NULL,
     "Number of the pod with ready state"},
    {"Up-to-date", "string", 0, ".status.updatedReplicas", NULL, "status.updatedReplicas", NULL},
    {"Available", "string", 0, ".status.availableReplicas", NULL, "status.availableReplicas", NULL},
    COL_AGE,
    COL_CONTAINERS("spec.template"),
    COL_SELECTOR("spec.selector"),
    COL_END,
};

static const col_t daemonset_cols[] = {
    COL_NAME,
    {"Desired", "integer", 0, ".status.desiredNumberScheduled", NULL,
     "status.desiredNumberScheduled", NULL},
    {"Current", "integer", 0, ".status.currentNumberScheduled", NULL,
     "status.currentNumberScheduled", NULL},
    {"Ready", "integer", 0, ".status.numberReady", NULL, "status.numberReady", NULL},
    {"Up-to-date", "integer", 0, ".status.updatedNumberScheduled", NULL,
     "status.updatedNumberScheduled", NULL},
    {"Available", "integer", 0, ".status.numberAvailable", NULL, "status.numberAvailable", NULL},
    {"Node Selector", "string", 0, ".spec.template.spec.nodeSelector", "selector",
     "spec.template.spec.nodeSelector", NULL},
    COL_AGE,
    COL_CONTAINERS("spec.template"),
    COL_SELECTOR("spec.selector"),
    COL_END,
};

static const col_t statefulset_cols[] = {
    COL_NAME,
    {"Ready", "string", 0, ".status.readyReplicas", "readyOfReplicas", NULL,
     "Number of the pod with ready state"},
    COL_AGE,
    COL_CONTAINERS("spec.template"),
    COL_END,
};

static const col_t job_cols[] = {
    COL_NAME,
    {"Status", "string", 0, ".status.conditions[*].type", "jobStatus", NULL, "Status of the job."},
    {"Completions", "string", 0, ".status.succeeded", "jobCompletions", "status.succeeded", NULL},
    {"Duration", "string", 0, ".status.startTime", "jobDuration", NULL,
     "Time required to complete the job."},
    COL_AGE,
    COL_CONTAINERS("spec.template"),
    COL_SELECTOR("spec.selector"),
    COL_END,
};

static const col_t cronjob_cols[] = {
    COL_NAME,
    {"Schedule", "string", 0, ".spec.schedule", NULL, "spec.schedule", NULL},
    {"Timezone", "string", 0, ".spec.timeZone", NULL, "spec.timeZone",
     "The time zone name for the given schedule, see "
     "https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will "
     "default to the time zone of the kube-controller-manager process."},
    {"Suspend", "boolean", 0, ".spec.suspend", NULL, "spec.suspend", NULL},
    {"Active", "integer", 0, ".status.active", "count", "status.active", NULL},
    {"Last Schedule", "string", 0, ".status.lastScheduleTime", "age", "status.lastScheduleTime",
     NULL},
    COL_AGE,
    COL_CONTAINERS("spec.jobTemplate.spec.template"),
    COL_SELECTOR("spec.jobTemplate.spec.selector"),
    COL_END,
};

static const col_t lease_cols[] = {
    COL_NAME,
    {"Holder", "string", 0, ".spec.holderIdentity", NULL, "spec.holderIdentity", NULL},
    COL_AGE,
    COL_END,
};

static const col_t priorityclass_cols[] = {
    COL_NAME,
    {"Value", "integer", 0, ".value", NULL, "value", NULL},
    {"Global-Default", "boolean", 0, ".globalDefault", NULL, "globalDefault", NULL},
    COL_AGE,
    {"PreemptionPolicy", "string", 0, ".preemptionPolicy", NULL, "preemptionPolicy",
     "PreemptionPolicy is the Policy for preempting pods with lower priority. One of Never, "
     "PreemptLowerPriority. Defaults to PreemptLowerPriority if unset."},
    COL_END,
};

static const col_t endpointslice_cols[] = {
    COL_NAME,
    {"AddressType", "string", 0, ".addressType", NULL, "addressType", NULL},
    {"Ports", "string", 0, ".ports", "endpointSlicePorts", "ports", NULL},
    {"Endpoints", "string", 0, ".endpoints", "endpointSliceEndpoints", "endpoints", NULL},
    COL_AGE,
    COL_END,
};

/* printRole, printClusterRole */
static const col_t role_cols[] = {
    COL_NAME,
    {"Created At", "date", 0, ".metadata.creationTimestamp", "timestamp",
     "metadata.creationTimestamp", NULL},
    COL_END,
};

/* printRoleBinding, printClusterRoleBinding (wide: rbac.SubjectsStrings).
 * `who` names the kind in the descriptions, as upstream's two column lists
 * do. */
#define COL_SUBJECTS(title, kind, compute, who)                                       \
    {                                                                                 \
        title, "string", 1, ".subjects[?(@.kind==\"" kind "\")].name", compute, NULL, \
            title " in the " who                                                      \
    }
#define COL_ROLE_REF                                                     \
    {                                                                    \
        "Role", "string", 0, ".roleRef.name", "roleRef", "roleRef", NULL \
    }

static const col_t rolebinding_cols[] = {
    COL_NAME,
    COL_ROLE_REF,
    COL_AGE,
    COL_SUBJECTS("Users", "User", "subjectUsers", "roleBinding"),
    COL_SUBJECTS("Groups", "Group", "subjectGroups", "roleBinding"),
    COL_SUBJECTS("ServiceAccounts", "ServiceAccount", "subjectServiceAccounts", "roleBinding"),
    COL_END,
};

static const col_t clusterrolebinding_cols[] = {
    COL_NAME,
    COL_ROLE_REF,
    COL_AGE,
    COL_SUBJECTS("Users", "User", "subjectUsers", "clusterRoleBinding"),
    COL_SUBJECTS("Groups", "Group", "subjectGroups", "clusterRoleBinding"),
    COL_SUBJECTS("ServiceAccounts", "ServiceAccount", "subjectServiceAccounts",
                 "clusterRoleBinding"),
    COL_END,
};

/* printResourceQuota */
static const col_t resourcequota_cols[] = {
    COL_NAME,
    COL_AGE,
    {"Request", "string", 0, ".status.hard", "quotaRequest", NULL,
     "Request represents a minimum amount of cpu/memory that a container may consume."},
    {"Limit", "string", 0, ".status.hard", "quotaLimit", NULL,
     "Limits control the maximum amount of cpu/memory that a container may use independent of "
     "contention on the node."},
    COL_END,
};

static const col_t no_cols[] = {COL_END};

/* ---- names ------------------------------------------------------------ */

static const char *const none[] = {NULL};
static const char *const all[] = {"all", NULL};

static const char *const pod_fields[] = {
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.podIPs",
    "status.nominatedNodeName",
    NULL,
};
/* "source" is source.component (or reportingController when empty) and
 * "reportingComponent" is the core/v1 field of that name, as upstream. */
static const char *const event_fields[] = {
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
    NULL,
};
static const char *const namespace_fields[] = {"status.phase", NULL};
static const char *const node_fields[] = {"spec.unschedulable", NULL};
static const char *const secret_fields[] = {"type", NULL};
static const char *const service_fields[] = {"spec.clusterIP", "spec.type", NULL};
static const char *const replicaset_fields[] = {"status.replicas", NULL};
static const char *const job_fields[] = {"status.successful", NULL};

#define SHORT(...) ((const char *const[]){__VA_ARGS__, NULL})

typedef struct builtin {
    const char *group;
    const char *version;
    const char *kind;
    const char *plural;
    const char *const *short_names;
    const char *const *categories;
    bool namespaced;
    unsigned subresources;
    const char *scale_selector; /* with KR_SUB_SCALE: spec.replicas, status.replicas */
    const char *const *field_selectors;
    const col_t *columns;
} builtin_t;

#define ST KR_SUB_STATUS
#define SC (KR_SUB_STATUS | KR_SUB_SCALE)

/* In the order `kubectl api-resources` lists them. */
static const builtin_t builtins[] = {
    {"", "v1", "Binding", "bindings", none, none, true, 0, NULL, none, no_cols},
    {"", "v1", "ConfigMap", "configmaps", SHORT("cm"), none, true, 0, NULL, none, configmap_cols},
    {"", "v1", "Endpoints", "endpoints", SHORT("ep"), none, true, 0, NULL, none, endpoints_cols},
    {"", "v1", "Event", "events", SHORT("ev"), none, true, 0, NULL, event_fields, event_cols},
    /* printLimitRange: name and creation time, as printRole */
    {"", "v1", "LimitRange", "limitranges", SHORT("limits"), none, true, 0, NULL, none, role_cols},
    {"", "v1", "Namespace", "namespaces", SHORT("ns"), none, false, ST, NULL, namespace_fields,
     namespace_cols},
    {"", "v1", "Node", "nodes", SHORT("no"), none, false, ST, NULL, node_fields, node_cols},
    {"", "v1", "Pod", "pods", SHORT("po"), all, true, ST | KR_SUB_BINDING, NULL, pod_fields,
     pod_cols},
    {"", "v1", "ResourceQuota", "resourcequotas", SHORT("quota"), none, true, ST, NULL, none,
     resourcequota_cols},
    {"", "v1", "Secret", "secrets", none, none, true, 0, NULL, secret_fields, secret_cols},
    {"", "v1", "ServiceAccount", "serviceaccounts", SHORT("sa"), none, true, 0, NULL, none,
     serviceaccount_cols},
    {"", "v1", "Service", "services", SHORT("svc"), all, true, ST, NULL, service_fields,
     service_cols},
    {"apps", "v1", "DaemonSet", "daemonsets", SHORT("ds"), all, true, ST, NULL, none,
     daemonset_cols},
    /* The scale subresource formats spec.selector (a LabelSelector) as the
     * Scale's status.selector string. */
    {"apps", "v1", "Deployment", "deployments", SHORT("deploy"), all, true, SC, "spec.selector",
     none, deployment_cols},
    {"apps", "v1", "ReplicaSet", "replicasets", SHORT("rs"), all, true, SC, "spec.selector",
     replicaset_fields, replicaset_cols},
    {"apps", "v1", "StatefulSet", "statefulsets", SHORT("sts"), all, true, SC, "spec.selector",
     none, statefulset_cols},
    {"batch", "v1", "CronJob", "cronjobs", SHORT("cj"), all, true, ST, NULL, none, cronjob_cols},
    {"batch", "v1", "Job", "jobs", none, all, true, ST, NULL, job_fields, job_cols},
    {"coordination.k8s.io", "v1", "Lease", "leases", none, none, true, 0, NULL, none, lease_cols},
    {"discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", none, none, true, 0, NULL, none,
     endpointslice_cols},
    {"rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", none, none,
     false, 0, NULL, none, clusterrolebinding_cols},
    {"rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", none, none, false, 0, NULL,
     none, role_cols},
    {"rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", none, none, true, 0, NULL,
     none, rolebinding_cols},
    {"rbac.authorization.k8s.io", "v1", "Role", "roles", none, none, true, 0, NULL, none,
     role_cols},
    {"scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", SHORT("pc"), none, false, 0,
     NULL, none, priorityclass_cols},
};

static kr_value_t *columns_value(kr_arena_t *arena, const col_t *cols, const kr_value_t *schema)
{
    kr_value_t *arr = kr_value_array(arena);
    for (const col_t *c = cols; c->name != NULL; c++) {
        kr_value_t *m = kr_value_map(arena);
        kr_value_map_set(arena, m, "name", kr_value_str(arena, c->name));
        kr_value_map_set(arena, m, "type", kr_value_str(arena, c->type));
        if (strcmp(c->name, "Name") == 0)
            kr_value_map_set(arena, m, "format", kr_value_str(arena, "name"));
        const char *desc = NULL;
        if (c->desc_from != NULL)
            desc = kr_value_map_str(kr_schema_field(schema, c->desc_from), "description");
        if (desc == NULL)
            desc = c->desc;
        if (desc != NULL)
            kr_value_map_set(arena, m, "description", kr_value_str(arena, desc));
        if (c->priority != 0)
            kr_value_map_set(arena, m, "priority", kr_value_int(arena, c->priority));
        kr_value_map_set(arena, m, "jsonPath", kr_value_str(arena, c->json_path));
        if (c->compute != NULL)
            kr_value_map_set(arena, m, "x-kraal-compute", kr_value_str(arena, c->compute));
        kr_value_array_push(arena, arr, m);
    }
    return arr;
}

int kr_builtin_kinds_add(kr_registry_t *reg, kr_error_t *err)
{
    kr_arena_t *arena = kr_registry_arena(reg);
    if (kr_schema_builtin_doc() == NULL)
        return kr_error_set(err, KR_E_INTERNAL, "the embedded built-in schemas do not parse");
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
        const builtin_t *b = &builtins[i];
        kr_kind_t *k = kr_arena_alloc(arena, sizeof(*k));
        memset(k, 0, sizeof(*k));
        char *lower = kr_arena_strdup(arena, b->kind);
        for (char *p = lower; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        const char *storage_group = b->group[0] ? b->group : "core";
        k->group = b->group;
        k->version = b->version;
        k->api_version =
            b->group[0] ? kr_arena_printf(arena, "%s/%s", b->group, b->version) : b->version;
        k->kind = b->kind;
        k->list_kind = kr_arena_printf(arena, "%sList", b->kind);
        k->plural = b->plural;
        k->singular = lower;
        k->res = kr_arena_printf(arena, "%s/%s", k->api_version, b->plural);
        k->store_prefix = kr_arena_printf(arena, "%s/%s/", storage_group, b->plural);
        k->short_names = b->short_names;
        k->categories = b->categories;
        k->namespaced = b->namespaced;
        k->subresources = b->subresources;
        if (b->subresources & KR_SUB_SCALE) {
            k->scale_spec_replicas = "spec.replicas";
            k->scale_status_replicas = "status.replicas";
            k->scale_label_selector = b->scale_selector;
        }
        k->field_selectors = b->field_selectors;
        k->schema = kr_schema_builtin(k->api_version, b->kind);
        if (k->schema == NULL)
            return kr_error_set(err, KR_E_INTERNAL, "no built-in schema for %s %s", k->api_version,
                                b->kind);
        k->printer_columns = columns_value(arena, b->columns, k->schema);
        const kr_kind_hooks_t *hooks = kr_builtin_hooks(lower);
        if (hooks != NULL)
            k->hooks = *hooks;
        k->builtin = true;
        if (kr_registry_insert(reg, k, err) < 0)
            return -KR_E_INTERNAL;
    }
    return 0;
}
