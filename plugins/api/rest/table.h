/* Server-side printing: meta.k8s.io/v1 Tables for `Accept:
 * application/json;as=Table;v=v1;g=meta.k8s.io` (what `kubectl get` asks).
 *
 * Columns come from the kind's descriptor (the "kinds" bus op:
 * additionalPrinterColumns with jsonPath, priority and, for cells upstream
 * computes in Go, x-kraal-compute; the computations are listed at the top
 * of core/builtin_kinds.c).  A kind without columns gets upstream's default
 * table: Name, then Age ("Created At" is not used by kubectl's default
 * printer).  Cells are what the real API server prints for the same object.
 */
#ifndef KRAAL_REST_TABLE_H
#define KRAAL_REST_TABLE_H

#include <stdint.h>

#include <kraal/error.h>
#include <kraal/value.h>

typedef enum rest_table_include {
    REST_TABLE_METADATA = 0, /* includeObject=Metadata (default): PartialObjectMetadata */
    REST_TABLE_NONE,         /* includeObject=None */
    REST_TABLE_OBJECT,       /* includeObject=Object: the whole object */
} rest_table_include_t;

/* A Table of `obj`: one object (one row) or a list (`items`, one row each;
 * the list's metadata.resourceVersion and continue are carried over).
 * `kind` is the kind's descriptor.  `now` is the Unix time in seconds the
 * ages are computed against.  Allocated in `arena`; NULL with err set on a
 * bad descriptor or object. */
kr_value_t *rest_table(kr_arena_t *arena, const kr_value_t *kind, const kr_value_t *obj,
                       rest_table_include_t include, int64_t now, kr_error_t *err);

#endif
