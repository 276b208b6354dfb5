/* Kubernetes' strategy for the built-in kinds: defaults (SetDefaults_*),
 * PrepareForCreate/Update and validation (pkg/apis/<group>/validation).
 * The registry's built-in table (core/builtin_kinds.c) takes each kind's
 * hooks from kr_builtin_hooks(). */
#ifndef KRAAL_CORE_BUILTIN_H
#define KRAAL_CORE_BUILTIN_H

#include <kraal/value.h>

#include "registry.h"
#include "validation.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The built-in kinds, by lower-case kind name. */
#define KR_BUILTIN_KINDS(X) \
    X(namespace)            \
    X(node)                 \
    X(pod)                  \
    X(binding)              \
    X(event)                \
    X(configmap)            \
    X(secret)               \
    X(service)              \
    X(endpoints)            \
    X(serviceaccount)       \
    X(replicaset)           \
    X(deployment)           \
    X(daemonset)            \
    X(statefulset)          \
    X(job)                  \
    X(cronjob)              \
    X(lease)                \
    X(priorityclass)        \
    X(endpointslice)        \
    X(role)                 \
    X(clusterrole)          \
    X(rolebinding)          \
    X(clusterrolebinding)   \
    X(limitrange)           \
    X(resourcequota)

/* The hooks of a built-in kind ("pod", "deployment", ...; see the list
 * above), NULL for another name.  Static storage. */
const kr_kind_hooks_t *kr_builtin_hooks(const char *kind_lower);

#ifdef __cplusplus
}
#endif
#endif
