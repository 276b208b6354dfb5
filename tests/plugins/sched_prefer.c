/* An example scheduler step shipped as a plugin of its own: "PreferLabel"
 * scores 100 the nodes that carry a label (kraal.io/preferred=true unless
 * the config's `label` names another: "key=value", or "key" for any value)
 * and 0 the others.  List this plugin before the scheduler in the server's
 * config and name "PreferLabel" among the scheduler's score steps: the
 * scheduler finds it in the step registry, no rebuild. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <kraal/plugin.h>
#include <kraal/scheduler.h>

struct prefer_conf {
    const char *label;
};

static const kr_config_entry_t prefer_config[] = {
    {KR_CFG_STRING, "label", "kraal.io/preferred=true", offsetof(struct prefer_conf, label),
     "the node label that earns a node 100: key=value, or key for any value"},
    {KR_CFG_END, NULL, NULL, 0, NULL},
};

typedef struct prefer {
    char *key;
    const char *value; /* NULL: any value; points into key's allocation */
} prefer_t;

/* Reads only the node's labels: no state, nothing allocated. */
static kr_sched_code_t prefer_score(void *self, const void *state, const kr_sched_pod_t *pod,
                                    const kr_sched_node_t *node, int64_t *score,
                                    kr_sched_status_t *st)
{
    (void)state;
    (void)pod;
    (void)st;
    const prefer_t *p = self;
    const kr_value_t *v = kr_value_map_get(node->labels, p->key);
    const char *s = kr_value_as_str(v);
    bool match = v != NULL && (p->value == NULL || (s != NULL && strcmp(s, p->value) == 0));
    *score = match ? KR_SCHED_MAX_NODE_SCORE : 0;
    return KR_SCHED_SUCCESS;
}

static const kr_sched_step_ops_t prefer_ops = {
    .struct_size = sizeof(kr_sched_step_ops_t),
    .name = "PreferLabel",
    .score = prefer_score,
};

static void prefer_fini(void *instance)
{
    prefer_t *p = instance;
    if (p == NULL)
        return;
    free(p->key);
    free(p);
}

static void *prefer_init(kr_plugin_ctx_t *ctx, const void *config, kr_error_t *err)
{
    const struct prefer_conf *conf = config;
    const char *label = conf->label != NULL ? conf->label : "";
    if (label[0] == '\0' || label[0] == '=') {
        kr_error_set(err, KR_E_BAD_REQUEST, "%s: label: must be key=value or key, not \"%s\"",
                     kr_plugin_name(ctx), label);
        return NULL;
    }
    prefer_t *p = calloc(1, sizeof(*p));
    if (p == NULL || (p->key = strdup(label)) == NULL) {
        free(p);
        kr_error_set(err, KR_E_INTERNAL, "%s: out of memory", kr_plugin_name(ctx));
        return NULL;
    }
    char *eq = strchr(p->key, '=');
    if (eq != NULL) {
        *eq = '\0';
        p->value = eq + 1;
    }
    if (kr_sched_step_register(ctx, &prefer_ops, p, err) < 0) {
        prefer_fini(p);
        return NULL;
    }
    return p;
}

KR_PLUGIN_EXPORT const struct kr_plugin kraal_plugin = {
    KR_PLUGIN_HEADER,
    .kind = "scheduler-step",
    .name = "prefer-label",
    .version = "1.0.0",
    .description = "example score step PreferLabel: nodes with a label score 100",
    .config = prefer_config,
    .config_size = sizeof(struct prefer_conf),
    .init = prefer_init,
    .fini = prefer_fini,
};
