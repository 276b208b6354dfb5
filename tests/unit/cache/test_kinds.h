/* Kinds built by hand for the cache and watch tests (the registry is not
 * needed to exercise them): a built-in Pod with upstream's field selectors
 * and a custom namespaced Thing without any. */
#ifndef KRAAL_TEST_KINDS_H
#define KRAAL_TEST_KINDS_H

#include <stddef.h>

#include "registry.h"

static const char *const no_names[] = {NULL};
static const char *const pod_fields[] = {"spec.nodeName",
                                         "spec.restartPolicy",
                                         "spec.schedulerName",
                                         "spec.serviceAccountName",
                                         "spec.hostNetwork",
                                         "status.phase",
                                         "status.podIP",
                                         "status.nominatedNodeName",
                                         NULL};

static const kr_kind_t pod_kind = {
    .group = "",
    .version = "v1",
    .api_version = "v1",
    .kind = "Pod",
    .list_kind = "PodList",
    .plural = "pods",
    .singular = "pod",
    .res = "v1/pods",
    .store_prefix = "core/pods/",
    .short_names = no_names,
    .categories = no_names,
    .namespaced = true,
    .field_selectors = pod_fields,
    .builtin = true,
};

static const kr_kind_t thing_kind = {
    .group = "example.com",
    .version = "v1",
    .api_version = "example.com/v1",
    .kind = "Thing",
    .list_kind = "ThingList",
    .plural = "things",
    .singular = "thing",
    .res = "example.com/v1/things",
    .store_prefix = "example.com/things/",
    .short_names = no_names,
    .categories = no_names,
    .namespaced = true,
    .field_selectors = no_names,
};

#endif
