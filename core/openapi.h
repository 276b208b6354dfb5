/* The OpenAPI documents of the registry's kinds, as an API server publishes
 * them (docs/api.md, "OpenAPI"):
 *
 *   /openapi/v2          Swagger 2.0, every kind; kubectl fetches it as
 *                        protobuf (KR_OPENAPI_V2_PROTOBUF) for client-side
 *                        validation, `explain` and client-side apply.
 *   /openapi/v3          the index of group versions, each with a hash of
 *                        its document so that clients cache it.
 *   /openapi/v3/<gv>     OpenAPI 3.0 of one group version ("api/v1",
 *                        "apis/apps/v1"); kubectl reads it for `explain`,
 *                        for the fieldValidation check and for apply's
 *                        patch metadata.
 *
 * Definitions come from the built-in schemas (core/schemas/builtin.json,
 * written as v3) and from plugin kinds' openAPIV3Schema, named as upstream
 * names a CRD's ("com.example.v1.Widget").  Every kind gets its paths with
 * upstream's operations, parameters, x-kubernetes-action and
 * x-kubernetes-group-version-kind; list merge metadata
 * (x-kubernetes-patch-merge-key / -patch-strategy) is kept.
 *
 * The documents depend only on the registry's kinds, so a caller may cache
 * them until kr_registry_count() changes.  Built from the registry's
 * thread.
 */
#ifndef KRAAL_CORE_OPENAPI_H
#define KRAAL_CORE_OPENAPI_H

#include <kraal/error.h>
#include <kraal/value.h>

#include "registry.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The Content-Type of kr_openapi_v2_protobuf's bytes, as upstream serves
 * them.  client-go asks for them with `Accept:
 * application/com.github.proto-openapi.spec.v2@v1.0+protobuf` but refuses
 * that `@` form in a Content-Type. */
#define KR_OPENAPI_V2_PROTOBUF "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"

/* Length of kr_openapi_etag's hex digest, without the NUL. */
#define KR_OPENAPI_ETAG_LEN 128

/* The Swagger 2.0 document of every kind (/openapi/v2 as JSON).  Owned by
 * `arena`; never NULL. */
kr_value_t *kr_openapi_v2(kr_arena_t *arena, const kr_registry_t *reg);

/* The /openapi/v3 index: {"paths": {"api/v1": {"serverRelativeURL":
 * "/openapi/v3/api/v1?hash=<HEX>"}, "apis/apps/v1": {...}, ...}}, one entry
 * per group version, hash = kr_openapi_etag of the group version's document
 * encoded as compact JSON.  Owned by `arena`; never NULL. */
kr_value_t *kr_openapi_v3_index(kr_arena_t *arena, const kr_registry_t *reg);

/* The OpenAPI 3.0 document of one group version, named as the index names
 * it ("api/v1", "apis/apps/v1"; a leading '/' is allowed, a query is not):
 * components.schemas holds the group version's kinds and everything they
 * refer to, paths their resources.  Owned by `arena`; NULL when no kind has
 * that group version. */
kr_value_t *kr_openapi_v3_gv(kr_arena_t *arena, const kr_registry_t *reg, const char *gv_path);

/* Appends `doc` (kr_openapi_v2's document) encoded as gnostic's
 * openapi.v2.Document protobuf (github.com/google/gnostic-models
 * openapiv2/OpenAPIv2.proto), which is what client-go unmarshals from
 * /openapi/v2.  Vendor extensions, defaults and enums are Any messages
 * whose `yaml` holds the value as JSON (a YAML subset, which is how their
 * readers parse it).  KR_E_INTERNAL, naming the field, for a document that
 * does not fit the Swagger 2.0 shape; `out` may then hold a partial
 * encoding. */
int kr_openapi_v2_protobuf(const kr_value_t *doc, kr_buf_t *out, kr_error_t *err);

/* The hash upstream uses as a document's ETag and /openapi/v3 hash:
 * SHA-512 of the bytes, upper-case hex, NUL-terminated. */
void kr_openapi_etag(const void *data, size_t len, char out[KR_OPENAPI_ETAG_LEN + 1]);

#ifdef __cplusplus
}
#endif
#endif
