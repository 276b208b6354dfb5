/* Strategic merge patch (core/patch_strategic.c) against the real built-in
 * kinds: cases ported from k8s.io/apimachinery's strategicpatch tests
 * (patch_test.go: its MergeItem fields mapped onto Pod and Deployment
 * fields with the same patch metadata), the patches kubectl sends, and the
 * API server's error texts.
 *
 * MergeItem -> built-in field:
 *   mergingList (merge by name)      spec.containers
 *   mergingList nested               spec.containers[].env (by name)
 *   mergingIntList (merge, scalars)  metadata.finalizers
 *   nonMergingList (maps, replaced)  spec.tolerations
 *   nonMergingIntList                spec.containers[].args
 *   simpleMap                        metadata.labels
 *   retainKeysMap                    Deployment spec.strategy
 *   retainKeysMergingList            spec.volumes (merge,retainKeys)
 * MergeItem's value/other become image/workingDir in a container. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <kraal/value.h>

#include "patch.h"
#include "registry.h"

static kr_arena_t *arena;
static kr_registry_t *reg;
static const kr_kind_t *pod, *deploy;

static int setup(void **state)
{
    (void)state;
    kr_error_t err;
    arena = kr_arena_new(0);
    reg = kr_registry_new(&err);
    if (reg == NULL)
        fail_msg("kr_registry_new: %s", err.message);
    pod = kr_registry_find(reg, "", "pods");
    deploy = kr_registry_find(reg, "apps", "deployments");
    assert_non_null(pod);
    assert_non_null(deploy);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kr_registry_destroy(&reg);
    kr_arena_destroy(&arena);
    return 0;
}

/* JSON written with ' for ", so that cases read like upstream's YAML. */
static kr_value_t *J(const char *text)
{
    char *t = kr_arena_strdup(arena, text);
    for (char *p = t; *p; p++)
        if (*p == '\'')
            *p = '"';
    kr_value_t *v = NULL;
    kr_error_t err;
    if (kr_json_decode(arena, t, strlen(t), &v, &err) != 0)
        fail_msg("bad test JSON %s: %s", t, err.message);
    return v;
}

static const char *enc(const kr_value_t *v)
{
    kr_buf_t buf = KR_BUF_INIT;
    kr_json_encode(v, &buf, KR_JSON_COMPACT, NULL);
    char *s = kr_arena_strdup(arena, buf.data ? buf.data : "");
    kr_buf_free(&buf);
    return s;
}

/* Maps compare as key sets; list order counts. */
static void assert_json(const kr_value_t *got, const char *want)
{
    if (!kr_value_equal(got, J(want)))
        fail_msg("got  %s\nwant %s", enc(got), enc(J(want)));
}

static kr_value_t *apply(const kr_kind_t *kind, const char *target, const char *patch)
{
    kr_value_t *t = target != NULL ? J(target) : NULL, *p = J(patch), *out = NULL;
    kr_value_t *t0 = kr_value_copy(arena, t), *p0 = kr_value_copy(arena, p);
    kr_error_t err;
    if (kr_strategic_patch_apply(arena, kind, t, p, &out, &err) != 0)
        fail_msg("patch %s failed: %s", patch, err.message);
    /* Neither input is changed. */
    assert_true(kr_value_equal(t, t0));
    assert_true(kr_value_equal(p, p0));
    return out;
}

static void ok(const kr_kind_t *kind, const char *target, const char *patch, const char *want)
{
    assert_json(apply(kind, target, patch), want);
}

static void err_is(const kr_kind_t *kind, const char *target, const char *patch, kr_reason_t reason,
                   const char *message)
{
    kr_value_t *out = J("{}");
    kr_error_t err;
    int rc = kr_strategic_patch_apply(arena, kind, target ? J(target) : NULL, J(patch), &out, &err);
    if (rc != -(int)reason)
        fail_msg("patch %s: rc %d (%s), want -%d", patch, rc, rc ? err.message : "", (int)reason);
    assert_null(out);
    assert_int_equal(err.reason, reason);
    assert_string_equal(err.message, message);
}

/* ---- maps ------------------------------------------------------------------ */

static void test_maps(void **state)
{
    (void)state;
    /* nil original */
    ok(pod, NULL, "{'metadata':{'labels':{'name':'1','value':'1'}}}",
       "{'metadata':{'labels':{'name':'1','value':'1'}}}");
    /* nil patch: an empty object or a JSON null */
    ok(pod, "{'metadata':{'labels':{'name':'1'}}}", "{}", "{'metadata':{'labels':{'name':'1'}}}");
    ok(pod, "{'metadata':{'labels':{'name':'1'}}}", "null", "{'metadata':{'labels':{'name':'1'}}}");
    /* add field to map */
    ok(pod, "{'metadata':{'labels':{'name':'1','other':'a'}}}",
       "{'metadata':{'labels':{'value':'1'}}}",
       "{'metadata':{'labels':{'name':'1','value':'1','other':'a'}}}");
    /* add field and delete field from map */
    ok(pod, "{'metadata':{'labels':{'name':'1','other':'a'}}}",
       "{'metadata':{'labels':{'name':null,'value':'1'}}}",
       "{'metadata':{'labels':{'value':'1','other':'a'}}}");
    /* delete all fields from map */
    ok(pod, "{'metadata':{'labels':{'name':'1','value':'1','other':'a'}}}",
       "{'metadata':{'labels':{'name':null,'value':null}}}",
       "{'metadata':{'labels':{'other':'a'}}}");
    /* a null for a field that is not there is dropped */
    ok(pod, "{'metadata':{'labels':{'name':'1'}}}", "{'metadata':{'labels':{'gone':null}}}",
       "{'metadata':{'labels':{'name':'1'}}}");
    /* delete map from nested map */
    ok(pod, "{'metadata':{'name':'p','labels':{'key1':'1','key2':'1'}}}",
       "{'metadata':{'labels':{'$patch':'delete'}}}", "{'metadata':{'name':'p','labels':{}}}");
    /* delete all keys from map */
    ok(pod, "{'metadata':{'name':'p'},'spec':{'nodeName':'n'}}", "{'$patch':'replace'}", "{}");
    /* add key and delete all keys from map */
    ok(pod, "{'metadata':{'labels':{'name':'1','value':'1'}}}",
       "{'metadata':{'labels':{'other':'a','$patch':'replace'}}}",
       "{'metadata':{'labels':{'other':'a'}}}");
    /* a label key with dots still finds its map's place in the schema */
    ok(pod, "{'metadata':{'labels':{'app.kubernetes.io/name':'a'}}}",
       "{'metadata':{'labels':{'app.kubernetes.io/name':'b','x':'y'}}}",
       "{'metadata':{'labels':{'app.kubernetes.io/name':'b','x':'y'}}}");
    /* a key the schema path cannot spell is merged as unknown */
    ok(pod, "{'metadata':{'annotations':{'a\\\"b':'1'}}}",
       "{'metadata':{'annotations':{'a\\\"b':'2'}}}",
       "{'metadata':{'annotations':{'a\\\"b':'2'}}}");
}

/* A value the patch sets whole loses its nulls and the maps marked with
 * $patch, as upstream's discardNullValuesFromPatch and removeDirectives. */
static void test_whole_values(void **state)
{
    (void)state;
    ok(pod, "{'metadata':{'name':'p'}}",
       "{'metadata':{'labels':{'a':null,'b':'x'}},'spec':{'containers':[{'name':'a','env':[{'name':"
       "'E','$patch':'delete'}]},{'name':'b','$patch':'delete'}]}}",
       "{'metadata':{'name':'p','labels':{'b':'x'}},'spec':{'containers':[{'name':'a','env':[]}]}"
       "}");
    /* a changed type: the patch's value, nulls dropped */
    ok(pod, "{'spec':{'nodeSelector':'x'}}", "{'spec':{'nodeSelector':{'a':'b','c':null}}}",
       "{'spec':{'nodeSelector':{'a':'b'}}}");
    /* a map taken whole by $patch: replace keeps no directive key */
    ok(pod, "{'spec':{'nodeName':'n','containers':[{'name':'x'}]}}",
       "{'spec':{'$patch':'replace','$setElementOrder/containers':[{'name':'a'}],'containers':[{"
       "'name':'a','$retainKeys':['name']}]}}",
       "{'spec':{'containers':[{'name':'a'}]}}");
    /* a replaced list keeps its items, not their directives (a typed
     * decode drops the unknown key upstream) */
    ok(pod, "{'spec':{'tolerations':[{'key':'b','operator':'Exists'}]}}",
       "{'spec':{'tolerations':[{'key':'a','operator':'Exists','$patch':'delete'}]}}",
       "{'spec':{'tolerations':[{'key':'a','operator':'Exists'}]}}");
}

/* ---- lists of maps merged by key ------------------------------------------------ */

static void test_merge_by_key(void **state)
{
    (void)state;
    ok(pod,
       "{'spec':{'containers':[{'name':'web','image':'nginx:1.25','ports':[{'containerPort':80}]},"
       "{'name':'log','image':'busybox'}]}}",
       "{'spec':{'containers':[{'name':'web','image':'nginx:1.26'}]}}",
       "{'spec':{'containers':[{'name':'web','image':'nginx:1.26','ports':[{'containerPort':80}]},"
       "{'name':'log','image':'busybox'}]}}");
    /* preserve the order from the patch in a merging list */
    ok(pod, "{'spec':{'containers':[{'name':'1'},{'name':'2','image':'b'},{'name':'3'}]}}",
       "{'spec':{'containers':[{'name':'3','image':'c'},{'name':'1','image':'a'},{'name':'2',"
       "'workingDir':'x'}]}}",
       "{'spec':{'containers':[{'name':'3','image':'c'},{'name':'1','image':'a'},{'name':'2',"
       "'image':'b','workingDir':'x'}]}}");
    /* preserve the order from the patch in a merging list 2 */
    ok(pod, "{'spec':{'containers':[{'name':'1'},{'name':'2','image':'b'},{'name':'3'}]}}",
       "{'spec':{'containers':[{'name':'3','image':'c'},{'name':'1','image':'a'}]}}",
       "{'spec':{'containers':[{'name':'2','image':'b'},{'name':'3','image':'c'},{'name':'1',"
       "'image':'a'}]}}");
    /* merge empty merging lists */
    ok(pod, "{'spec':{'containers':[]}}", "{'spec':{'containers':[]}}",
       "{'spec':{'containers':[]}}");
    /* ports merge on an integer key; new items come before the server-only
     * items the live list has after them */
    ok(pod,
       "{'spec':{'containers':[{'name':'web','ports':[{'containerPort':80,'protocol':'TCP'},{"
       "'containerPort':443}]}]}}",
       "{'spec':{'containers':[{'name':'web','ports':[{'containerPort':80,'name':'http'},{"
       "'containerPort':8080}]}]}}",
       "{'spec':{'containers':[{'name':'web','ports':[{'containerPort':80,'protocol':'TCP','name':"
       "'http'},{'containerPort':8080},{'containerPort':443}]}]}}");
    /* env merges by name inside a container */
    ok(pod, "{'spec':{'containers':[{'name':'web','env':[{'name':'A','value':'1'}]}]}}",
       "{'spec':{'containers':[{'name':'web','env':[{'name':'B','value':'2'},{'name':'A','value':"
       "'3'}]}]}}",
       "{'spec':{'containers':[{'name':'web','env':[{'name':'B','value':'2'},{'name':'A','value':"
       "'3'}]}]}}");
    /* imagePullSecrets merge by name too (without $setElementOrder a new
     * item goes before the live ones, as upstream puts it); tolerations have
     * no merge key and are replaced */
    ok(pod,
       "{'spec':{'imagePullSecrets':[{'name':'a'}],'tolerations':[{'key':'a','operator':'Exists'},"
       "{'key':'b','operator':'Exists'}]}}",
       "{'spec':{'imagePullSecrets':[{'name':'b'}],'tolerations':[{'key':'c','operator':"
       "'Exists'}]}}",
       "{'spec':{'imagePullSecrets':[{'name':'b'},{'name':'a'}],'tolerations':[{'key':'c',"
       "'operator':'Exists'}]}}");
    /* replace non merging list nested in merging list */
    ok(pod,
       "{'spec':{'containers':[{'name':'1','workingDir':'a','args':['1','2']},{'name':'2',"
       "'workingDir':'b'}]}}",
       "{'spec':{'$setElementOrder/containers':[{'name':'1'},{'name':"
       "'2'}],'containers':[{'name':'1','args':['1']}]}}",
       "{'spec':{'containers':[{'name':'1','workingDir':'a','args':['1']},{'name':'2',"
       "'workingDir':'b'}]}}");
}

static void test_delete_and_replace_items(void **state)
{
    (void)state;
    /* delete all maps from merging list */
    ok(pod, "{'spec':{'containers':[{'name':'1','workingDir':'a'},{'name':'2'}]}}",
       "{'spec':{'containers':[{'name':'1','$patch':'delete'},{'name':'2','$patch':'delete'}]}}",
       "{'spec':{'containers':[]}}");
    /* delete all items from merging list */
    ok(pod, "{'spec':{'containers':[{'name':'1'},{'name':'2'}]}}",
       "{'spec':{'containers':[{'$patch':'replace'}]}}", "{'spec':{'containers':[]}}");
    ok(pod, "{'spec':{'containers':[{'name':'1'},{'name':'2'}]}}",
       "{'spec':{'containers':[{'name':'3'},{'$patch':'replace'}]}}",
       "{'spec':{'containers':[{'name':'3'}]}}");
    /* delete all duplicate entries in a merging list */
    ok(pod,
       "{'spec':{'containers':[{'name':'1'},{'name':'1'},{'name':'2','image':'a'},{'name':'3'},{"
       "'name':'3'}]}}",
       "{'spec':{'containers':[{'name':'1','$patch':'delete'},{'name':'3','$patch':'delete'}]}}",
       "{'spec':{'containers':[{'name':'2','image':'a'}]}}");
    /* delete map from merging list */
    ok(pod, "{'spec':{'containers':[{'name':'1'},{'name':'2','workingDir':'b'}]}}",
       "{'spec':{'$setElementOrder/containers':[{'name':'2'}],'containers':[{'name':'1','$patch':"
       "'delete'}]}}",
       "{'spec':{'containers':[{'name':'2','workingDir':'b'}]}}");
    /* delete missing map from merging list */
    ok(pod, "{'spec':{'containers':[{'name':'2','workingDir':'b'}]}}",
       "{'spec':{'$setElementOrder/containers':[{'name':'2'}],'containers':[{'name':'1','$patch':"
       "'delete'}]}}",
       "{'spec':{'containers':[{'name':'2','workingDir':'b'}]}}");
    /* delete missing map from merging list with conflict */
    ok(pod, "{'spec':{'containers':[{'name':'3','workingDir':'a'}]}}",
       "{'spec':{'$setElementOrder/containers':[{'name':'2'}],'containers':[{'name':'2'},{'name':"
       "'1','$patch':'delete'}]}}",
       "{'spec':{'containers':[{'name':'2'},{'name':'3','workingDir':'a'}]}}");
    /* add map and delete map from merging list: the server-only item lands
     * where upstream's in-place list edits leave it */
    ok(pod,
       "{'spec':{'containers':[{'name':'1'},{'name':'2','workingDir':'b'},{'name':'4',"
       "'workingDir':'c'}]}}",
       "{'spec':{'$setElementOrder/containers':[{'name':'2'},{'name':'3'}],'containers':[{'name':"
       "'3'},{'name':'1','$patch':'delete'}]}}",
       "{'spec':{'containers':[{'name':'2','workingDir':'b'},{'name':'4','workingDir':'c'},{"
       "'name':'3'}]}}");
    /* add map and delete map from merging list with conflict */
    ok(pod, "{'spec':{'containers':[{'name':'1','workingDir':'a'},{'name':'4','workingDir':'c'}]}}",
       "{'spec':{'$setElementOrder/containers':[{'name':'2'},{'name':'3'}],'containers':[{'name':"
       "'2'},{'name':'3'},{'name':'1','$patch':'delete'}]}}",
       "{'spec':{'containers':[{'name':'4','workingDir':'c'},{'name':'2'},{'name':'3'}]}}");
    /* nested patch merge with empty list: a new list drops its deletions */
    ok(pod, "{'metadata':{'name':'hi'}}",
       "{'spec':{'containers':[{'name':'hello'},{'$patch':'delete','name':'doesntexist'}]}}",
       "{'metadata':{'name':'hi'},'spec':{'containers':[{'name':'hello'}]}}");
    ok(pod, "{'metadata':{'name':'hi'},'spec':{'containers':[{'name':'hello2'}]}}",
       "{'spec':{'$setElementOrder/containers':[{'name':'hello'},{'name':'doesntexist'}],"
       "'containers':[{'name':'hello'},{'$patch':'delete','name':'doesntexist'}]}}",
       "{'metadata':{'name':'hi'},'spec':{'containers':[{'name':'hello'},{'name':'hello2'}]}}");
}

static void test_set_element_order(void **state)
{
    (void)state;
    /* merge lists of maps */
    ok(pod, "{'spec':{'containers':[{'name':'1','workingDir':'a'},{'name':'2','image':'2'}]}}",
       "{'spec':{'$setElementOrder/containers':[{'name':'4'},{'name':'1'},{'name':'2'},{'name':"
       "'3'}],'containers':[{'name':'4','image':'4'},{'name':'3','image':'3'}]}}",
       "{'spec':{'containers':[{'name':'4','image':'4'},{'name':'1','workingDir':'a'},{'name':'2',"
       "'image':'2'},{'name':'3','image':'3'}]}}");
    /* add field to map in merging list with conflict */
    ok(pod,
       "{'spec':{'containers':[{'name':'1','workingDir':'a'},{'name':'3','image':'2',"
       "'workingDir':'b'}]}}",
       "{'spec':{'$setElementOrder/containers':[{'name':'1'},{'name':'2'}],'containers':[{'name':"
       "'1','image':'1'},{'name':'2','image':'2'}]}}",
       "{'spec':{'containers':[{'name':'1','image':'1','workingDir':'a'},{'name':'2','image':'2'},"
       "{'name':'3','image':'2','workingDir':'b'}]}}");
    /* $setElementOrder contains item that is not present in the list */
    ok(pod, "{'spec':{'containers':[{'name':'1'},{'name':'3'}]}}",
       "{'spec':{'$setElementOrder/containers':[{'name':'3'},{'name':'2'},{'name':'1'}],"
       "'containers':[{'name':'3','image':'3'},{'name':'1','image':'1'}]}}",
       "{'spec':{'containers':[{'name':'3','image':'3'},{'name':'1','image':'1'}]}}");
    /* set elements order in a list with server-only items 2 */
    ok(pod,
       "{'spec':{'containers':[{'name':'1','workingDir':'a'},{'name':'2'},{'name':'9'},{'name':"
       "'3'},{'name':'4'}]}}",
       "{'spec':{'$setElementOrder/containers':[{'name':'2'},{'name':'1'},{'name':'4'},{'name':"
       "'3'}]}}",
       "{'spec':{'containers':[{'name':'2'},{'name':'1','workingDir':'a'},{'name':'9'},{'name':"
       "'4'},{'name':'3'}]}}");
    /* behavior of set element order for a merging list with duplicate */
    ok(pod,
       "{'spec':{'containers':[{'name':'1'},{'name':'2','image':'dup1'},{'name':'3'},{'name':'2',"
       "'image':'dup2'},{'name':'4'}]}}",
       "{'spec':{'$setElementOrder/containers':[{'name':'2'},{'name':'1'},{'name':'4'},{'name':"
       "'3'},{'name':'2'}]}}",
       "{'spec':{'containers':[{'name':'2','image':'dup1'},{'name':'2','image':'dup2'},{'name':"
       "'1'},{'name':'4'},{'name':'3'}]}}");
    /* add field to map in merging list nested in merging list with
     * deletion conflict, the nested order reversed */
    ok(pod,
       "{'spec':{'containers':[{'name':'1','workingDir':'a','env':[{'name':'2','value':'2',"
       "'other':'d'}]},{'name':'2','workingDir':'b'}]}}",
       "{'spec':{'$setElementOrder/containers':[{'name':'1'},{'name':'2'}],'containers':[{"
       "'$setElementOrder/env':[{'name':'2'},{'name':'1'}],'name':'1','env':[{'name':'1','value':"
       "'1'}]}]}}",
       "{'spec':{'containers':[{'name':'1','workingDir':'a','env':[{'name':'2','value':'2',"
       "'other':'d'},{'name':'1','value':'1'}]},{'name':'2','workingDir':'b'}]}}");
    /* a list the live object lacks: taken without its deletions */
    ok(pod, "{'spec':{'nodeName':'n'}}",
       "{'spec':{'$setElementOrder/containers':[{'name':'a'}],'containers':[{'name':'a'},{'name':"
       "'x','$patch':'delete'}]}}",
       "{'spec':{'nodeName':'n','containers':[{'name':'a'}]}}");
    /* the patch's items must follow the order list */
    err_is(pod, "{'metadata':{'name':'p'}}",
           "{'metadata':{'$setElementOrder/finalizers':['b','a'],'finalizers':['a','b']}}",
           KR_E_INTERNAL,
           "The order in patch list:\n[a b]\n doesn't match $setElementOrder list:\n[b a]\n");
    /* the order list alone reorders a list that is not merged too */
    ok(pod, "{'spec':{'containers':[{'name':'c','args':['x','y']}]}}",
       "{'spec':{'containers':[{'name':'c','$setElementOrder/args':['y','x']}]}}",
       "{'spec':{'containers':[{'name':'c','args':['y','x']}]}}");
}

/* ---- lists of scalars ------------------------------------------------------------ */

static void test_scalar_lists(void **state)
{
    (void)state;
    /* unique scalars when merging lists */
    ok(pod, "{'metadata':{'finalizers':['1','2']}}", "{'metadata':{'finalizers':['2','3']}}",
       "{'metadata':{'finalizers':['1','2','3']}}");
    /* preserve the order from the patch in a merging int list */
    ok(pod, "{'metadata':{'finalizers':[1,2,3]}}", "{'metadata':{'finalizers':[3,1,2]}}",
       "{'metadata':{'finalizers':[3,1,2]}}");
    ok(pod, "{'metadata':{'finalizers':[1,2,3]}}", "{'metadata':{'finalizers':[3,1]}}",
       "{'metadata':{'finalizers':[2,3,1]}}");
    /* replace list of scalars (no merge strategy) */
    ok(pod, "{'spec':{'containers':[{'name':'c','args':['1','2']}]}}",
       "{'spec':{'containers':[{'name':'c','args':['2','3']}]}}",
       "{'spec':{'containers':[{'name':'c','args':['2','3']}]}}");
    /* $setElementOrder contains item that is not present in the int list */
    ok(pod, "{'metadata':{'finalizers':[1,3]}}",
       "{'metadata':{'$setElementOrder/finalizers':[3,2,1]}}", "{'metadata':{'finalizers':[3,1]}}");
    /* add an item in a list of primitives and preserve order */
    ok(pod, "{'metadata':{'finalizers':[1,4,2]}}",
       "{'metadata':{'$setElementOrder/finalizers':[3,1,2],'finalizers':[3]}}",
       "{'metadata':{'finalizers':[3,1,4,2]}}");
    /* set elements order in a int list with server-only items 3 */
    ok(pod, "{'metadata':{'finalizers':[1,2,7,9,8,3,4]}}",
       "{'metadata':{'$setElementOrder/finalizers':[2,1,4,3]}}",
       "{'metadata':{'finalizers':[2,1,7,9,8,4,3]}}");
    /* behavior of set element order for a merging int list with duplicate */
    ok(pod, "{'metadata':{'finalizers':[1,2,3,2,4]}}",
       "{'metadata':{'$setElementOrder/finalizers':[2,1,4,3,2]}}",
       "{'metadata':{'finalizers':[2,2,1,4,3]}}");
    /* an empty order list: upstream's sort puts the live item first (its
     * comparison says "less" both ways for an item not in the order) */
    ok(pod, "{'metadata':{'finalizers':['a']}}",
       "{'metadata':{'$setElementOrder/finalizers':[],'finalizers':['new']}}",
       "{'metadata':{'finalizers':['a','new']}}");
    /* an integer and a float are items of different types, as in Go */
    err_is(pod, "{'metadata':{'finalizers':[1]}}", "{'metadata':{'finalizers':[1.5]}}",
           KR_E_INTERNAL, "list element types are not identical: [[1] [1.5]]");
}

static void test_delete_from_primitive_list(void **state)
{
    (void)state;
    /* of nonexistent item in primitive list */
    ok(pod, "{'metadata':{'finalizers':['1','2']}}",
       "{'metadata':{'$deleteFromPrimitiveList/finalizers':['3']}}",
       "{'metadata':{'finalizers':['1','2']}}");
    /* on empty primitive list */
    ok(pod, "{'metadata':{'finalizers':null}}",
       "{'metadata':{'$deleteFromPrimitiveList/finalizers':['3']}}",
       "{'metadata':{'finalizers':null}}");
    /* on nonexistent primitive list */
    ok(pod, "{'metadata':{'labels':{'foo':'bar'}}}",
       "{'metadata':{'$deleteFromPrimitiveList/finalizers':['3']}}",
       "{'metadata':{'labels':{'foo':'bar'}}}");
    /* from a list with merge patch strategy */
    ok(pod, "{'metadata':{'finalizers':['kubernetes.io/pvc-protection','x']}}",
       "{'metadata':{'$deleteFromPrimitiveList/finalizers':['kubernetes.io/pvc-protection']}}",
       "{'metadata':{'finalizers':['x']}}");
    /* from a list without merge patch strategy */
    ok(pod, "{'spec':{'containers':[{'name':'c','args':['1','2','3']}]}}",
       "{'spec':{'containers':[{'name':'c','$deleteFromPrimitiveList/args':['2']}]}}",
       "{'spec':{'containers':[{'name':'c','args':['1','3']}]}}");
    /* delete (all duplicate) items in lists of scalars */
    ok(pod, "{'metadata':{'finalizers':[1,2,3,3,4]}}",
       "{'metadata':{'$setElementOrder/finalizers':[1,2],'$deleteFromPrimitiveList/finalizers':[3]"
       "}}",
       "{'metadata':{'finalizers':[1,2,4]}}");
    /* add and delete items in lists of scalars */
    ok(pod, "{'metadata':{'finalizers':[1,2,3]}}",
       "{'metadata':{'$setElementOrder/finalizers':[1,2,4],'$deleteFromPrimitiveList/finalizers':["
       "3],'finalizers':[4]}}",
       "{'metadata':{'finalizers':[1,2,4]}}");
    /* delete an item in a list of primitives and preserve order */
    ok(pod, "{'metadata':{'finalizers':[1,2,3]}}",
       "{'metadata':{'$setElementOrder/finalizers':[2,1],'$deleteFromPrimitiveList/finalizers':[3]"
       "}}",
       "{'metadata':{'finalizers':[2,1]}}");
}

/* ---- retainKeys ------------------------------------------------------------------- */

static void test_retain_keys(void **state)
{
    (void)state;
    /* retainKeys map should clear defaulted field (a Deployment switched
     * to Recreate loses rollingUpdate) */
    ok(deploy,
       "{'spec':{'replicas':1,'strategy':{'type':'RollingUpdate','rollingUpdate':{'maxSurge':'25%'"
       "}}}}",
       "{'spec':{'strategy':{'$retainKeys':['type'],'type':'Recreate'}}}",
       "{'spec':{'replicas':1,'strategy':{'type':'Recreate'}}}");
    /* retainKeys map adds a field and clears a field */
    ok(deploy, "{'spec':{'strategy':{'name':'foo','other':'a'}}}",
       "{'spec':{'strategy':{'$retainKeys':['name','value'],'value':'bar'}}}",
       "{'spec':{'strategy':{'name':'foo','value':'bar'}}}");
    /* retainKeys map deletes a field in a nested map */
    ok(deploy,
       "{'spec':{'strategy':{'name':'foo','value':'bar','simpleMap':{'key1':'a','key2':'b','key3':"
       "'c'}}}}",
       "{'spec':{'strategy':{'$retainKeys':['name','simpleMap','value'],'simpleMap':{'key2':null}}"
       "}}",
       "{'spec':{'strategy':{'name':'foo','value':'bar','simpleMap':{'key1':'a','key3':'c'}}}}");
    /* retainKeys map can add a field when no retainKeys directive present */
    ok(deploy, "{'spec':{'strategy':{'name':'foo'}}}", "{'spec':{'strategy':{'value':'bar'}}}",
       "{'spec':{'strategy':{'name':'foo','value':'bar'}}}");
    /* a null need not be listed */
    ok(deploy, "{'spec':{'strategy':{'type':'RollingUpdate','rollingUpdate':{}}}}",
       "{'spec':{'strategy':{'$retainKeys':['type'],'rollingUpdate':null,'type':'Recreate'}}}",
       "{'spec':{'strategy':{'type':'Recreate'}}}");
    /* a volume switched from emptyDir to hostPath (merge,retainKeys list) */
    ok(pod,
       "{'spec':{'volumes':[{'name':'data','emptyDir':{}},{'name':'cfg','configMap':{'name':'c'}}"
       "]}}",
       "{'spec':{'volumes':[{'name':'data','$retainKeys':['hostPath','name'],'hostPath':{'path':'/"
       "d'}}]}}",
       "{'spec':{'volumes':[{'name':'data','hostPath':{'path':'/d'}},{'name':'cfg','configMap':{"
       "'name':'c'}}]}}");
    err_is(deploy, "{'spec':{'strategy':{'type':'RollingUpdate'}}}",
           "{'spec':{'strategy':{'$retainKeys':['type'],'type':'Recreate','rollingUpdate':{}}}}",
           KR_E_BAD_REQUEST, "invalid patch format of retainKeys");
    err_is(deploy, "{'spec':{'strategy':{'type':'RollingUpdate'}}}",
           "{'spec':{'strategy':{'$retainKeys':'type'}}}", KR_E_BAD_REQUEST,
           "invalid patch format of retainKeys");
}

/* ---- what kubectl sends ------------------------------------------------------------ */

static const char deployment[] =
    "{'apiVersion':'apps/v1','kind':'Deployment','metadata':{'name':'web','labels':{'app':'web'},"
    "'annotations':{'note':'x'}},'spec':{'replicas':3,'selector':{'matchLabels':{'app':'web'}},"
    "'template':{'metadata':{'labels':{'app':'web'}},'spec':{'containers':[{'name':'web','image':"
    "'nginx:1.25','ports':[{'containerPort':80,'protocol':'TCP'}],'env':[{'name':'A','value':'1'}"
    "]}]}}},'status':{'replicas':3}}";

static void test_kubectl(void **state)
{
    (void)state;
    /* kubectl apply: the three-way patch of a changed image */
    kr_value_t *out = apply(
        deploy, deployment,
        "{'metadata':{'annotations':{'kubectl.kubernetes.io/last-applied-configuration':'{}'}},"
        "'spec':{'template':{'spec':{'$setElementOrder/containers':[{'name':'web'}],'containers':[{"
        "'image':'nginx:1.26','name':'web'}]}}}}");
    assert_string_equal(
        kr_value_as_str(kr_value_get(out, "spec.template.spec.containers[0].image")), "nginx:1.26");
    assert_int_equal(
        kr_value_map_int(kr_value_get(out, "spec.template.spec.containers[0].ports[0]"),
                         "containerPort", 0),
        80);
    assert_string_equal(kr_value_as_str(kr_value_get(out, "metadata.annotations.note")), "x");
    assert_int_equal(kr_value_len(kr_value_get(out, "metadata.annotations")), 2);
    assert_int_equal(kr_value_map_int(kr_value_get(out, "status"), "replicas", 0), 3);
    /* kubectl scale, label, annotate --overwrite with a removal */
    out = apply(deploy, deployment,
                "{'spec':{'replicas':5},'metadata':{'labels':{'tier':'front'},'annotations':{"
                "'note':null}}}");
    assert_int_equal(kr_value_map_int(kr_value_get(out, "spec"), "replicas", 0), 5);
    assert_json(kr_value_get(out, "metadata.labels"), "{'app':'web','tier':'front'}");
    assert_json(kr_value_get(out, "metadata.annotations"), "{}");
    /* kubectl set env (a new item without $setElementOrder goes first) */
    out = apply(deploy, deployment,
                "{'spec':{'template':{'spec':{'containers':[{'name':'web','env':[{'name':'B',"
                "'value':'2'}]}]}}}}");
    assert_json(kr_value_get(out, "spec.template.spec.containers[0].env"),
                "[{'name':'B','value':'2'},{'name':'A','value':'1'}]");
    /* kubectl edit removing a port */
    out = apply(deploy, deployment,
                "{'spec':{'template':{'spec':{'$setElementOrder/containers':[{'name':'web'}],"
                "'containers':[{'$setElementOrder/ports':[],'name':'web','ports':[{'$patch':"
                "'delete','containerPort':80}]}]}}}}");
    assert_json(kr_value_get(out, "spec.template.spec.containers[0].ports"), "[]");
    /* a new sidecar: appended, the first container untouched */
    out = apply(deploy, deployment,
                "{'spec':{'template':{'spec':{'$setElementOrder/containers':[{'name':'web'},{"
                "'name':'log'}],'containers':[{'name':'log','image':'busybox'}]}}}}");
    assert_int_equal(kr_value_len(kr_value_get(out, "spec.template.spec.containers")), 2);
    assert_string_equal(kr_value_as_str(kr_value_get(out, "spec.template.spec.containers[1].name")),
                        "log");
    assert_string_equal(
        kr_value_as_str(kr_value_get(out, "spec.template.spec.containers[0].image")), "nginx:1.25");
}

/* ---- what the schema does not describe ---------------------------------------------- */

/* Where the strategies come from: the field, or what its $ref names. */
static void test_schema_strategy(void **state)
{
    (void)state;
    assert_string_equal(kr_schema_patch_strategy(pod, "spec.volumes"), "merge,retainKeys");
    assert_string_equal(kr_schema_patch_strategy(pod, "spec.containers[0].env"), "merge");
    assert_string_equal(kr_schema_patch_strategy(pod, "metadata.finalizers"), "merge");
    assert_string_equal(kr_schema_patch_strategy(deploy, "spec.strategy"), "retainKeys");
    assert_null(kr_schema_patch_strategy(pod, "spec.tolerations"));
    assert_null(kr_schema_patch_strategy(pod, "spec.nonsense"));
    assert_null(kr_schema_patch_strategy(NULL, "spec.volumes"));
}

static void test_undescribed(void **state)
{
    (void)state;
    /* a field the schema does not know: maps merge, lists are replaced */
    ok(pod, "{'spec':{'future':{'a':1},'newList':[{'name':'a'}]}}",
       "{'spec':{'future':{'b':2},'newList':[{'name':'b'}]}}",
       "{'spec':{'future':{'a':1,'b':2},'newList':[{'name':'b'}]}}");
    /* no kind: every list is replaced, directives still apply */
    ok(NULL, "{'spec':{'containers':[{'name':'a'}]},'x':{'a':1}}",
       "{'spec':{'containers':[{'name':'b'}]},'x':{'$patch':'replace','b':2}}",
       "{'spec':{'containers':[{'name':'b'}]},'x':{'b':2}}");
}

/* ---- errors ------------------------------------------------------------------------- */

static void test_errors(void **state)
{
    (void)state;
    const char *pod_c = "{'spec':{'containers':[{'name':'1','image':'a'}]}}";
    /* missing merge key should error out */
    err_is(pod, pod_c, "{'spec':{'containers':[{'image':'b'}]}}", KR_E_INTERNAL,
           "map: map[image:b] does not contain declared merge key: name");
    /* values print as Go's %v prints them */
    err_is(pod, pod_c,
           "{'spec':{'containers':[{'image':'nginx','ports':[{'containerPort':80}],'x':1.5,'y':1e6,"
           "'z':0.00001,'w':true,'n':null,'a':[]}]}}",
           KR_E_INTERNAL,
           "map: map[a:[] image:nginx n:<nil> ports:[map[containerPort:80]] w:true x:1.5 y:1e+06 "
           "z:1e-05] does not contain declared merge key: name");
    err_is(pod, pod_c, "{'spec':{'containers':[{'p':123456.5,'q':0.0001,'r':-2.5e-7,'s':1e21}]}}",
           KR_E_INTERNAL,
           "map: map[p:123456.5 q:0.0001 r:-2.5e-07 s:1e+21] does not contain declared merge key: "
           "name");
    /* should check if order in $setElementOrder and patch list match */
    err_is(pod, "{'spec':{'containers':[{'name':'1'},{'name':'3'},{'name':'2'}]}}",
           "{'spec':{'$setElementOrder/containers':[{'name':'1'},{'name':'2'},{'name':'3'}],"
           "'containers':[{'name':'3','image':'3'},{'name':'1','image':'1'}]}}",
           KR_E_INTERNAL,
           "The order in patch list:\n[map[image:3 name:3] map[image:1 name:1]]\n doesn't match "
           "$setElementOrder list:\n[map[name:1] map[name:2] map[name:3]]\n");
    err_is(pod, "{'metadata':{'finalizers':[1,3,2]}}",
           "{'metadata':{'$setElementOrder/finalizers':[1,2,3],'finalizers':[3,1]}}", KR_E_INTERNAL,
           "The order in patch list:\n[3 1]\n doesn't match $setElementOrder list:\n[1 2 3]\n");
    /* directives in the wrong shape */
    err_is(pod, pod_c, "{'spec':{'containers':[{'name':'1','$patch':'merge'}]}}", KR_E_INTERNAL,
           "merging lists cannot yet be specified in the patch");
    err_is(pod, pod_c, "{'spec':{'containers':[{'name':'1','$patch':'foo'}]}}", KR_E_INTERNAL,
           "unknown patch type: foo in map: map[$patch:foo name:1]");
    err_is(pod, "{'metadata':{'labels':{'a':'b'}}}", "{'metadata':{'labels':{'$patch':'merge'}}}",
           KR_E_INTERNAL, "unknown patch type: merge in map: map[$patch:merge]");
    err_is(pod, "{'metadata':{'labels':{'a':'b'}}}", "{'metadata':{'labels':{'$patch':1}}}",
           KR_E_INTERNAL, "unknown patch type: %!s(int64=1) in map: map[$patch:1]");
    err_is(pod, "{'metadata':{'finalizers':['a']}}",
           "{'metadata':{'$deleteFromPrimitiveListfinalizers':['a']}}", KR_E_BAD_REQUEST,
           "invalid patch format of primitive list");
    err_is(pod, "{'metadata':{'finalizers':['a']}}",
           "{'metadata':{'$setElementOrderfinalizers':['a']}}", KR_E_BAD_REQUEST,
           "invalid patch format of setElementOrder list");
    err_is(pod, "{'metadata':{'finalizers':['a']}}",
           "{'metadata':{'$setElementOrder/finalizers':'a'}}", KR_E_INTERNAL,
           "expected a []interface {}, but received a string");
    /* list items */
    err_is(pod, "{'metadata':{'finalizers':[]}}", "{'metadata':{'finalizers':[['a']]}}",
           KR_E_INVALID, "the server rejected our request due to an error in our request");
    err_is(pod, "{'metadata':{'finalizers':['a']}}", "{'metadata':{'finalizers':[{'b':'c'}]}}",
           KR_E_INTERNAL, "list element types are not identical: [[a] [map[b:c]]]");
    err_is(pod, "{'metadata':{'finalizers':[]}}", "{'metadata':{'finalizers':[{'b':'c'}]}}",
           KR_E_INTERNAL, "cannot merge lists without merge key for string");
    err_is(pod, "{'spec':{'containers':['a']}}", "{'spec':{'containers':['b']}}", KR_E_INTERNAL,
           "expected a map[string]interface {}, but received a string");
    /* the patch must be an object */
    err_is(pod, pod_c, "[1]", KR_E_BAD_REQUEST,
           "json: cannot unmarshal array into Go value of type map[string]interface {}");
    err_is(pod, pod_c, "'x'", KR_E_BAD_REQUEST,
           "json: cannot unmarshal string into Go value of type map[string]interface {}");
    err_is(pod, pod_c, "5", KR_E_BAD_REQUEST,
           "json: cannot unmarshal number into Go value of type map[string]interface {}");
}

/* A custom resource gets what the API server says to strategic merge on
 * one: 415 with the media types it does take. */
static void test_custom_resource_refused(void **state)
{
    (void)state;
    kr_error_t err;
    const kr_kind_t *crd = kr_registry_add(
        reg,
        J("{'group':'example.com','version':'v1','kind':'Widget','plural':'widgets','namespaced':"
          "true,'schema':{'openAPIV3Schema':{'type':'object','properties':{'spec':{'type':"
          "'object','properties':{'backends':{'type':'array','items':{'type':'object'},"
          "'x-kubernetes-list-type':'map','x-kubernetes-list-map-keys':['name']}}}}}}}"),
        &err);
    if (crd == NULL)
        fail_msg("kr_registry_add: %s", err.message);
    err_is(crd, "{'spec':{'backends':[{'name':'a'}]}}", "{'spec':{'backends':[{'name':'b'}]}}",
           KR_E_UNSUPPORTED_MEDIA_TYPE,
           "the body of the request was in an unknown format - accepted media types include: "
           "application/json-patch+json, application/merge-patch+json, "
           "application/apply-patch+yaml");
}

static kr_value_t *nest(size_t depth)
{
    kr_value_t *v = kr_value_int(arena, 1);
    for (size_t i = 0; i < depth; i++) {
        kr_value_t *m = kr_value_map(arena);
        kr_value_map_set(arena, m, "a", v);
        v = m;
    }
    return v;
}

static void test_depth_limit(void **state)
{
    (void)state;
    kr_value_t *out = NULL;
    kr_error_t err;
    assert_int_equal(kr_strategic_patch_apply(arena, pod, nest(KR_VALUE_MAX_DEPTH),
                                              nest(KR_VALUE_MAX_DEPTH), &out, &err),
                     0);
    assert_int_equal(kr_strategic_patch_apply(arena, pod, nest(KR_VALUE_MAX_DEPTH + 1),
                                              nest(KR_VALUE_MAX_DEPTH + 1), &out, &err),
                     -KR_E_BAD_REQUEST);
    assert_null(out);
    assert_non_null(strstr(err.message, "deeper than 256"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_maps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whole_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_by_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_and_replace_items, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_element_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scalar_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_from_primitive_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retain_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubectl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_strategy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_undescribed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_custom_resource_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_depth_limit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
