/* kraal SDK — the pod network interface.
 *
 * A network plugin (plugins/network/<name>) wires pod sandboxes into the
 * cluster network for the node agent, the way a CNI plugin serves a CRI
 * runtime: ADD when a sandbox is made, CHECK-and-repair when an agent
 * re-adopts one (ADD again), DEL when it goes, GC of what no sandbox holds
 * any more.  It registers a vtable during init with kr_network_register();
 * the agent (config key `network:`) finds it by instance name with
 * kr_network_find().  Both live in one process, for the same reason as the
 * runtime (kraal/runtime.h): the work is local system calls on the node.
 *
 * Threading: every function may be called from any thread, concurrently
 * (the agent starts pods in parallel from worker threads), and may block
 * for as long as the operation takes.  An implementation locks what it
 * shares.  A network is registered until its fini starts; a config lists it
 * before the agent, so it outlives the agent.
 *
 * Ownership: input structs are borrowed for the duration of the call;
 * output structs are plain buffers of the caller's.
 */
#ifndef KRAAL_NETWORK_H
#define KRAAL_NETWORK_H

#include <stdbool.h>
#include <stddef.h>

#include <kraal/error.h>
#include <kraal/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Room for an IPv4 or IPv6 address in text form (INET6_ADDRSTRLEN). */
#define KR_NET_ADDR_MAX 46

typedef struct kr_net_pod {
    const char *sandbox_id; /* the runtime's sandbox id: the key of everything ADD makes */
    const char *pod_name;
    const char *pod_namespace;
    const char *pod_uid;
    /* The sandbox's network namespace (a bind-mounted nsfs file,
     * kr_rt_sandbox_t.netns_path).  DEL and GC may find it gone. */
    const char *netns_path;
} kr_net_pod_t;

/* What ADD gave the pod (CNI's result). */
typedef struct kr_net_attachment {
    char ip[KR_NET_ADDR_MAX];      /* status.podIP, e.g. "10.244.1.7" */
    int prefix_len;                /* of the pod's subnet, e.g. 24 */
    char gateway[KR_NET_ADDR_MAX]; /* the pod's default route, e.g. "10.244.1.1" */
} kr_net_attachment_t;

typedef struct kr_network_ops {
    size_t struct_size;       /* sizeof(kr_network_ops_t) at build time */
    const char *network_name; /* "bridge" */

    /* Whether pods can be wired now (the kubelet's NetworkReady).  When not,
     * writes why into msg ("no podCIDR is assigned to node \"n1\" yet"),
     * which the agent reports in its Node's Ready condition as
     * "container runtime network not ready: NetworkReady=false
     * reason:NetworkPluginNotReady message:<msg>". */
    bool (*ready)(void *self, char *msg, size_t msg_len);

    /* ADD: gives the sandbox's namespace its interface, address and
     * routes.  Idempotent per sandbox_id: a second call returns the same
     * address and repairs what is missing (the agent calls it again for
     * every sandbox it re-adopts after a restart).  KR_E_SERVICE_UNAVAILABLE
     * when not ready; KR_E_CONFLICT when the pod range is exhausted. */
    int (*pod_add)(void *self, const kr_net_pod_t *pod, kr_net_attachment_t *out, kr_error_t *err);

    /* DEL: releases everything ADD made for this sandbox_id (address,
     * host-side interface).  Succeeds when there is nothing to release or
     * the namespace is gone already. */
    int (*pod_del)(void *self, const kr_net_pod_t *pod, kr_error_t *err);

    /* GC: releases every allocation held by a sandbox not in live_ids
     * (what an agent killed between a sandbox's removal and its DEL left
     * behind).  The agent calls it with every sandbox the runtime lists,
     * once after its start and then from time to time. */
    int (*gc)(void *self, const char *const *live_ids, size_t n_live, kr_error_t *err);
} kr_network_ops_t;

/* Registers the instance's network under its instance name; only during
 * init.  `ops` must outlive the instance; every function is required.  The
 * registration ends when the instance's fini starts.  KR_E_ALREADY_EXISTS
 * when the name is taken. */
int kr_network_register(kr_plugin_ctx_t *ctx, const kr_network_ops_t *ops, void *self,
                        kr_error_t *err);

/* Finds a network of this process by instance name.  KR_E_NOT_FOUND with a
 * message naming the registered ones when there is none.  The pointers stay
 * valid until that network's instance stops. */
int kr_network_find(const char *name, const kr_network_ops_t **ops, void **self, kr_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
