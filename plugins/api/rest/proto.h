/* Request bodies in Kubernetes' protobuf encoding
 * (Content-Type: application/vnd.kubernetes.protobuf), as kubectl and
 * client-go send built-in kinds, decoded into the value tree the JSON
 * decoder gives for the same object.
 *
 * The body is the 4-byte magic "k8s\0" and a runtime.Unknown whose
 * typeMeta names the kind and whose raw bytes are the object.  The object
 * is read with the table in proto/k8s-types.json (scripts/gen-proto-table.py):
 * field names are the JSON names, and a field is in the tree exactly when
 * the API server's JSON of the decoded Go object has it (omitempty,
 * pointers, inline structs); Quantity, IntOrString, metav1.Time/MicroTime,
 * []byte and FieldsV1/RawExtension take their JSON forms.
 */
#ifndef KRAAL_REST_PROTO_H
#define KRAAL_REST_PROTO_H

#include <stddef.h>

#include <kraal/error.h>
#include <kraal/value.h>

#define REST_PROTO_CONTENT_TYPE "application/vnd.kubernetes.protobuf"

/* Decodes one protobuf body.  On success `*out` is the object (owned by
 * `arena`) with apiVersion and kind from the envelope.  Malformed input
 * (bad magic, truncated or overlong varints, lengths past the end, wrong
 * wire types, a kind the table does not know, bad quantities or times) is
 * KR_E_BAD_REQUEST naming the field; a body whose tree would exceed a
 * bound proportional to its size is KR_E_TOO_LARGE.  Thread-safe; the
 * type table is parsed on first use. */
int rest_proto_decode(kr_arena_t *arena, const void *data, size_t len, kr_value_t **out,
                      kr_error_t *err);

#endif
