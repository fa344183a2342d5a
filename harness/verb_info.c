/* verb_info.c — `hippodrome list` (every task, layer and key) and
 * `hippodrome show TASK` (a few generated examples). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"

static const char *type_text(enum knob_type t) {
    switch (t) {
    case KNOB_INT: return "int";
    case KNOB_REAL: return "real";
    case KNOB_BOOL: return "bool";
    case KNOB_ENUM: return "enum";
    case KNOB_STRING: return "string";
    }
    return "?";
}

static void print_knobs(FILE *out, const char *indent, const struct knob *k, int n) {
    for (int i = 0; i < n; i++) {
        char range[96] = "";
        if (k[i].type == KNOB_INT || k[i].type == KNOB_REAL) snprintf(range, sizeof range, "[%.15g, %.15g]", k[i].min, k[i].max);
        else if (k[i].type == KNOB_ENUM) snprintf(range, sizeof range, "%s", k[i].choices);
        fprintf(out, "%s%-16s %-6s default %-10s %-22s %s\n", indent, k[i].name, type_text(k[i].type), k[i].def,
                range, k[i].help);
    }
}

static int run_list(const struct args *a) {
    (void)a;
    printf("tasks (config section \"task\": {\"name\": TASK, key: value, ...}):\n");
    for (int i = 0; task_kinds[i]; i++) {
        const struct task_kind *t = task_kinds[i];
        printf("  %s — %s\n", t->name, t->summary);
        print_knobs(stdout, "      ", t->knobs, t->n_knobs);
    }
    printf("\nlayers (config \"model\": {\"layer\": LAYER, \"layer_options\": {key: value, ...}}):\n");
    for (int i = 0; layer_kinds[i]; i++) {
        const struct layer_kind *l = layer_kinds[i];
        printf("  %s — %s%s\n", l->name, l->summary, l->pos_emb ? " (learned position embeddings)" : "");
        print_knobs(stdout, "      ", l->knobs, l->n_knobs);
    }
    printf("\nmodel keys (section \"model\"; also \"layer\" and \"layer_options\"):\n");
    print_knobs(stdout, "  ", config_model_knobs, config_n_model_knobs);
    printf("\ntrain keys (section \"train\"):\n");
    print_knobs(stdout, "  ", config_train_knobs, config_n_train_knobs);
    printf("\ntop level: \"name\" (report file stem, default: the config file's stem)\n"
           "override any key with --set section.key=value, e.g. --set model.layer_options.head_dim=2\n");
    return 0;
}

int cli_task_arg(const struct args *a, const char *verb, const struct task_kind **kind, struct knob_values *kv) {
    const struct task_kind *k = task_find(a->pos[0]);
    if (!k) {
        char names[256] = "";
        for (int i = 0; task_kinds[i]; i++) {
            strncat(names, i ? ", " : "", sizeof names - strlen(names) - 1);
            strncat(names, task_kinds[i]->name, sizeof names - strlen(names) - 1);
        }
        return cli_usage_error(verb, "unknown task '%s'; known tasks are: %s", a->pos[0], names);
    }
    char err[512];
    knob_defaults(kv, k->knobs, k->n_knobs);
    for (int i = 0; i < a->n_rep; i++) {
        char key[128];
        const char *set = a->rep[i];
        if (strncmp(set, "task.", 5) == 0) set += 5;
        const char *eq = strchr(set, '=');
        if (!eq || eq == set || (size_t)(eq - set) >= sizeof key)
            return cli_usage_error(verb, "--set '%s': expected key=value", a->rep[i]);
        snprintf(key, sizeof key, "%.*s", (int)(eq - set), set);
        if (knob_set(kv, key, eq + 1, err, sizeof err)) return cli_usage_error(verb, "task '%s': %s", k->name, err);
    }
    if (k->validate && k->validate(kv, err, sizeof err)) return cli_usage_error(verb, "task '%s': %s", k->name, err);
    *kind = k;
    return 0;
}

static int run_show(const struct args *a) {
    const struct task_kind *k;
    struct knob_values kv;
    int rc = cli_task_arg(a, "show", &k, &kv);
    if (rc) return rc;
    char err[512];
    int n;
    if (args_int(a, "--n", 3, 1, 1000, &n, err, sizeof err)) return cli_usage_error("show", "%s", err);
    task_show(k, &kv, n, stdout);
    return 0;
}

const struct verb verb_list = {
    .name = "list",
    .usage = "",
    .summary = "every task and layer with every key (type, default, range, help), and the model/train keys",
    .run = run_list,
};

static const struct flag_spec show_flags[] = {
    {"--n", "N", false, "examples to print (default 3)"},
    {"--set", "KEY=VALUE", true, "task key, e.g. seq_len=40 (or task.seq_len=40)"},
};

const struct verb verb_show = {
    .name = "show",
    .usage = "TASK [--n 3] [--set key=value]...",
    .summary = "print a few generated training examples of a task (answers in [ ])",
    .flags = show_flags,
    .n_flags = sizeof show_flags / sizeof show_flags[0],
    .min_pos = 1,
    .max_pos = 1,
    .run = run_show,
};
