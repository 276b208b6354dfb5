/* Helpers shared by validation.c and the built-in kinds' strategies
 * (builtin_*.c).  Not a public header: only those files include it.
 *
 * Field paths are plain strings built in the validation arena
 * ("spec.containers[0].ports[1].hostPort"); value accessors treat a field
 * of the wrong type as absent, since the schema check (kr_schema_check)
 * reports type errors on its own.
 */
#ifndef KRAAL_CORE_BUILTIN_INTERNAL_H
#define KRAAL_CORE_BUILTIN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kraal/value.h>

#include "builtin.h"
#include "validation.h"

/* ---- upstream's shared messages ---------------------------------------- */

#define KR_MSG_IMMUTABLE         "field is immutable"
#define KR_MSG_NEGATIVE          "must be greater than or equal to 0"
#define KR_MSG_NOT_POSITIVE      "must be greater than zero"
#define KR_MSG_SELECTOR_MISMATCH "`selector` does not match template `labels`"

/* ---- field paths (strings in v->arena) ---------------------------------- */

const char *kr_fp(kr_validation_t *v, const char *base, const char *child); /* a.b */
const char *kr_fpi(kr_validation_t *v, const char *base, size_t i);         /* a[i] */
const char *kr_fpk(kr_validation_t *v, const char *base, const char *key);  /* a[key] */

/* ---- errors beyond the public shorthands ------------------------------- */

/* An error whose bad value is already printed (Go's %#v of a struct, as
 * upstream shows a LabelSelector). */
void kr_field_error_raw(kr_validation_t *v, kr_field_err_t type, const char *field,
                        const char *value_text, const char *detail);
/* Invalid with a string value (Go %q) / an integer value. */
void kr_field_invalid_str(kr_validation_t *v, const char *field, const char *s, const char *detail);
void kr_field_invalid_int(kr_validation_t *v, const char *field, int64_t i, const char *detail);
/* Unsupported value for a string. */
void kr_field_not_supported_str(kr_validation_t *v, const char *field, const char *s,
                                const char *const *valid);
/* Too long: must have at most N bytes. */
void kr_field_too_long(kr_validation_t *v, const char *field, long max);

/* Appends `val` the way field.Error prints a bad value. */
void kr_print_bad_value(kr_buf_t *out, const kr_value_t *val);
/* Go's %q. */
void kr_go_quote(kr_buf_t *out, const char *s);
/* v1.LabelSelector{MatchLabels:map[string]string{...}, MatchExpressions:...}
 * as Go's %#v prints it (upstream's "field is immutable" on selectors). */
void kr_print_label_selector(kr_buf_t *out, const kr_value_t *sel);

/* ---- string rules (messages are static strings) ------------------------- */

/* A rule writes upstream's messages for `s` (at most KR_RULE_MAX) and
 * returns how many. */
#define KR_RULE_MAX 5
typedef size_t (*kr_str_rule_t)(const char *s, const char **out);

/* Upstream's messages for a name under `rule`; `prefix` for generateName
 * (a trailing '-' is allowed).  Returns how many were written (<= 3). */
size_t kr_name_errors(kr_name_rule_t rule, const char *s, bool prefix, const char *out[3]);
size_t kr_qualified_name_errors(const char *s, const char *out[4]);
size_t kr_label_value_errors(const char *s, const char *out[2]);
size_t kr_config_map_key_errors(const char *s, const char *out[3]);
size_t kr_port_name_errors(const char *s, const char *out[5]);
size_t kr_env_var_name_errors(const char *s, const char *out[2]);
bool kr_is_dns1123_subdomain(const char *s);
bool kr_is_ip(const char *s);
/* true for IPv6 */
bool kr_is_ipv6(const char *s);

/* ---- validators that add errors ---------------------------------------- */

/* Invalid(path, shown, msg) for each message of rule(checked); returns how
 * many (checked differs from shown for annotation keys, checked in lower
 * case). */
size_t kr_validate_rule_as(kr_validation_t *v, kr_str_rule_t rule, const char *checked,
                           const char *shown, const char *path);
size_t kr_validate_rule(kr_validation_t *v, kr_str_rule_t rule, const char *s, const char *path);
/* One Invalid with the label-value messages joined by ';' (tolerations,
 * taints). */
void kr_validate_label_value_joined(kr_validation_t *v, const char *s, const char *path);
/* "In"/"NotIn" need values, "Exists"/"DoesNotExist" take none, "Gt"/"Lt"
 * (node selectors: gt_lt) one; anything else is not an operator. */
void kr_validate_requirement_op(kr_validation_t *v, const char *op, size_t nvals, bool gt_lt,
                                const char *path);
bool kr_str_in(const char *s, const char *const *list);

void kr_validate_dns1123_label(kr_validation_t *v, const char *s, const char *path);
void kr_validate_dns1123_subdomain(kr_validation_t *v, const char *s, const char *path);
/* The name rule's messages as Invalid errors; `prefix` for generateName. */
void kr_validate_name_rule(kr_validation_t *v, kr_name_rule_t rule, const char *s, bool prefix,
                           const char *path);
void kr_validate_qualified_name(kr_validation_t *v, const char *s, const char *path);
void kr_validate_labels(kr_validation_t *v, const kr_value_t *labels, const char *path);
void kr_validate_annotations(kr_validation_t *v, const kr_value_t *ann, const char *path);
/* metav1.LabelSelector syntax (ValidateLabelSelector). */
void kr_validate_label_selector(kr_validation_t *v, const kr_value_t *sel, const char *path);
/* Invalid "must be greater than or equal to 0" when val is an int < 0. */
void kr_validate_nonnegative(kr_validation_t *v, const kr_value_t *val, const char *path);
/* Invalid "field is immutable" when the values differ (absent == null). */
void kr_validate_immutable(kr_validation_t *v, const kr_value_t *nv, const kr_value_t *ov,
                           const char *path);
/* validation.IsValidIP */
void kr_validate_ip(kr_validation_t *v, const char *s, const char *path);
/* ValidateEndpointIP (ValidateNonSpecialIP): a valid IP that is not
 * unspecified, loopback, link-local or link-local multicast. */
void kr_validate_endpoint_ip(kr_validation_t *v, const char *ip, const char *path);
/* An endpoint port's protocol (required: TCP, UDP or SCTP) and
 * appProtocol (a qualified name), as Endpoints and EndpointSlice check
 * them. */
void kr_validate_endpoint_protocol(kr_validation_t *v, const kr_value_t *port, const char *path);
/* ValidatePortNumOrName for an int-or-string port. */
void kr_validate_port_num_or_name(kr_validation_t *v, const kr_value_t *port, const char *path);
/* IsValidPortNum as Invalid errors for an int field. */
void kr_validate_port_num(kr_validation_t *v, const kr_value_t *port, const char *path);

/* ObjectMeta of obj: create-style (ValidateObjectMeta) without `old`,
 * update-style (ValidateObjectMetaUpdate) with it. */
void kr_validate_meta(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old,
                      bool namespaced, kr_name_rule_t rule);
/* The kinds whose update validation runs both (core's ConfigMap, Secret,
 * Service, ...): update-style when `old`, then create-style. */
void kr_validate_meta_again(kr_validation_t *v, const kr_value_t *obj, const kr_value_t *old,
                            bool namespaced, kr_name_rule_t rule);

/* True when the metav1.LabelSelector `sel` matches `labels`; false when it
 * does not or cannot be compiled (upstream skips the check then). */
bool kr_selector_matches(const kr_value_t *sel, const kr_value_t *labels, bool *compiled);

/* ---- tree access -------------------------------------------------------- */

kr_value_t *kr_map_at(const kr_value_t *map, const char *key);   /* the map or NULL */
kr_value_t *kr_array_at(const kr_value_t *map, const char *key); /* the array or NULL */
/* The string of a value; "" when it is not a string. */
const char *kr_as_str(const kr_value_t *val);
/* The string at key; "" when absent or not a string. */
const char *kr_str_or_empty(const kr_value_t *map, const char *key);
/* True when key holds an int (copied to *out). */
bool kr_int_at(const kr_value_t *map, const char *key, int64_t *out);
/* Absent, null, or (strings) "": the field is unset. */
bool kr_is_unset(const kr_value_t *val);
/* The map at key, created when absent or null; NULL when key holds
 * another type. */
kr_value_t *kr_ensure_map(kr_arena_t *a, kr_value_t *map, const char *key);
/* Sets key when it is unset. */
void kr_default_str(kr_arena_t *a, kr_value_t *map, const char *key, const char *s);
void kr_default_int(kr_arena_t *a, kr_value_t *map, const char *key, int64_t i);
void kr_default_bool(kr_arena_t *a, kr_value_t *map, const char *key, bool b);
/* Like kr_default_int but an int 0 counts as unset (Go's non-pointer ints). */
void kr_default_int_nonzero(kr_arena_t *a, kr_value_t *map, const char *key, int64_t i);

/* Quantity checks of one resource list entry (ValidateResourceQuantityValue):
 * parses, non-negative, whole for integer resources.  False when it does
 * not parse (reported). */
bool kr_validate_resource_quantity(kr_validation_t *v, const char *name, const kr_value_t *val,
                                   const char *path, kr_quantity_t *q);
/* A quantity from a string or number value; false (err filled) when it
 * does not parse. */
bool kr_value_quantity(const kr_value_t *val, kr_quantity_t *q, kr_error_t *err);
/* SetDefaults_ResourceList: rounds each quantity up to milli precision and
 * writes it in canonical form. */
void kr_resource_list_defaults(kr_arena_t *a, kr_value_t *list);

/* ---- pod specs (builtin_pod.c), shared with the workload kinds ---------- */

/* SetDefaults_PodSpec and the nested defaults (containers, volumes,
 * probes...); `is_pod` adds SetDefaults_Pod (requests from limits,
 * enableServiceLinks, host-network ports). */
void kr_pod_spec_defaults(kr_arena_t *a, kr_value_t *spec, bool is_pod);
/* The defaults of a PodTemplateSpec at `tmpl` (creates tmpl.spec). */
void kr_pod_template_defaults(kr_arena_t *a, kr_value_t *tmpl);

typedef struct kr_pod_opts {
    bool is_pod; /* ResourceIsPod: the spec is a Pod's, not a template's */
} kr_pod_opts_t;

/* ValidatePodSpec at `path` ("spec", "spec.template.spec"). */
void kr_validate_pod_spec(kr_validation_t *v, const kr_value_t *spec, const kr_value_t *meta,
                          const char *path, const kr_pod_opts_t *opts);
/* ValidatePodTemplateSpec at `path` ("spec.template"). */
void kr_validate_pod_template(kr_validation_t *v, const kr_value_t *tmpl, const char *path,
                              const kr_pod_opts_t *opts);
/* The QoS class of a pod spec: "Guaranteed", "Burstable" or "BestEffort". */
const char *kr_pod_qos_class(const kr_value_t *spec);

/* The parts of ValidatePodSpec (builtin_podspec.c).  kr_validate_volumes
 * returns a map name -> volume of the valid volumes, for the mounts. */
kr_value_t *kr_validate_volumes(kr_validation_t *v, const kr_value_t *vols, const char *path);
/* containers and initContainers of `spec` */
void kr_validate_containers(kr_validation_t *v, const kr_value_t *spec, const kr_value_t *vols,
                            bool host_users, const char *spec_path);
/* the checks every container kind shares (validateContainerCommon) */
void kr_validate_container(kr_validation_t *v, const kr_value_t *c, const kr_value_t *vols,
                           bool host_users, const char *path);
void kr_validate_pod_security(kr_validation_t *v, const kr_value_t *spec, const char *spec_path);
/* validateResourceName: a qualified name, standard when it has no prefix;
 * returns how many errors it added. */
size_t kr_validate_resource_name(kr_validation_t *v, const char *name, const char *path);
/* validateContainerResourceName: the above, and one a container may set. */
void kr_validate_container_resource_name(kr_validation_t *v, const char *name, const char *path);
/* ResourceRequirements {limits, requests, claims} */
void kr_validate_resources(kr_validation_t *v, const kr_value_t *res, const char *path);
/* Some volume source is set. */
bool kr_volume_has_source(const kr_value_t *vol);

/* ---- per-kind hooks (one table entry each) ------------------------------ */

#define KR_BUILTIN_DECL(name) extern const kr_kind_hooks_t kr_hooks_##name;
KR_BUILTIN_KINDS(KR_BUILTIN_DECL)
#undef KR_BUILTIN_DECL

#endif
