/* Named vtables of a process: the registries behind kraal/runtime.h,
 * kraal/network.h, kraal/scheduler.h and kraal/authz.h.
 *
 * A plugin registers a vtable during its init; another plugin of the same
 * process finds it by name, once, when it starts.  They are few (a few
 * dozen at most), so one array under a mutex serves every kind. */
#ifndef KRAAL_VTAB_H
#define KRAAL_VTAB_H

#include <kraal/error.h>
#include <kraal/plugin.h>

typedef enum kr_vtab_kind {
    KR_VTAB_RUNTIME = 0,
    KR_VTAB_NETWORK,
    KR_VTAB_SCHED_STEP,
    KR_VTAB_AUTHZ,
} kr_vtab_kind_t;

/* Registers `ops`/`self` under `name` (copied).  `what` names the kind in
 * errors ("runtime").  Only while ctx's init runs; KR_E_ALREADY_EXISTS
 * when the name is taken for that kind. */
int kr_vtab_add(kr_vtab_kind_t kind, const kr_plugin_ctx_t *ctx, const char *name, const void *ops,
                void *self, const char *what, kr_error_t *err);

/* Finds a vtable by kind and name.  KR_E_NOT_FOUND with the registered
 * names when there is none; `hint` (may be NULL) is appended to that
 * message. */
int kr_vtab_find(kr_vtab_kind_t kind, const char *name, const void **ops, void **self,
                 const char *what, const char *hint, kr_error_t *err);

#endif
