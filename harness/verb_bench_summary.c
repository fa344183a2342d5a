/* verb_bench_summary.c — `hippodrome bench-summary`: the speed goals, each
 * computed from the benchmark JSON files `make bench` writes (flashconv.json
 * from kernels/lab/bench_flashconv.c, layers.json and layers_b32.json from
 * bench-layers, generate.json from bench-generate), into
 * results/bench/summary.json: {"goals": [{"name", "what", "measured",
 * "target", "pass", "note"}], "also": [{"name", "what", "measured"}]}; "also"
 * holds measurements reported beside the goals, without a target.
 * A goal whose inputs are missing (a bench not run, a length that did not fit
 * in memory) has measured null and pass null: never a pass by default. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "report.h"

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* One goal: measured (NAN = unknown; +-INFINITY = beyond any measured value,
 * e.g. never faster: written as null, judged) against target; at_least:
 * measured >= target, else <=. */
static void goal(cJSON *goals, const char *name, const char *what, double measured, double target, bool at_least,
                 const char *note) {
    cJSON *g = cJSON_CreateObject();
    cJSON_AddStringToObject(g, "name", name);
    cJSON_AddStringToObject(g, "what", what);
    if (!isfinite(measured)) cJSON_AddNullToObject(g, "measured");
    else cJSON_AddNumberToObject(g, "measured", measured);
    cJSON_AddNumberToObject(g, "target", target);
    if (isnan(measured)) cJSON_AddNullToObject(g, "pass");
    else cJSON_AddBoolToObject(g, "pass", at_least ? measured >= target : measured <= target);
    if (note) cJSON_AddStringToObject(g, "note", note);
    cJSON_AddItemToArray(goals, g);
}

static double fmin_nan(double a, double b) { return isnan(a) ? b : isnan(b) ? a : fmin(a, b); }
static double fmax_nan(double a, double b) { return isnan(a) ? b : isnan(b) ? a : fmax(a, b); }

/* flashconv.json: the fused H3 op, the conv against FFTW, short sequences, state passing, threads. */
static void flashconv_goals(const cJSON *f, cJSON *goals) {
    double h3 = NAN, conv = NAN, shortc = NAN, sp8k = NAN, sp1m = NAN, mem8k = NAN, mem1m = NAN, thr = NAN;
    double disp = NAN; /* the dispatched conv's time over the fastest path's, worst row */
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(f, "h3_inner")) {
        double L = num(r, "L");
        if (L >= 1024 && L <= 16384)
            h3 = fmin_nan(h3, num(r, "unfused_fwd_bwd") / (num(r, "fused_fwd") + num(r, "fused_bwd")));
    }
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(f, "conv")) {
        double L = num(r, "L");
        bool goal_shape = !strcmp(str(r, "shape"), "32x64") || !strcmp(str(r, "shape"), "1x768"); /* not the dispatch probes */
        if (L >= 1024 && goal_shape) conv = fmin_nan(conv, fmin(num(r, "fftw_fwd") / num(r, "flash_fwd"), num(r, "fftw_bwd") / num(r, "flash_bwd")));
        if (L <= 64 && !strcmp(str(r, "shape"), "32x64")) shortc = fmin_nan(shortc, num(r, "fftw_fwd") / num(r, "op_fwd"));
        double best = fmin_nan(fmin_nan(num(r, "direct_fwd"), num(r, "fftw_fwd")), num(r, "flash_fwd"));
        if (isfinite(best) && best > 0) disp = fmax_nan(disp, num(r, "op_fwd") / best);
    }
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(f, "state_passing")) {
        double L = num(r, "L");
        if (L == 8192) sp8k = num(r, "fwd_ns_per_token") + num(r, "bwd_ns_per_token"), mem8k = num(r, "peak_rss_growth_kb");
        if (L == 1048576) sp1m = num(r, "fwd_ns_per_token") + num(r, "bwd_ns_per_token"), mem1m = num(r, "peak_rss_growth_kb");
    }
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(f, "threads"))
        if (num(r, "L") >= 1024) thr = fmin_nan(thr, num(r, "fwd_us_1_thread") / num(r, "fwd_us_2_threads"));
    goal(goals, "h3_inner_fused_vs_unfused", "FlashConv H3 inner op (fwd+bwd) vs FFTW conv + separate gate/D passes, worst L in 1K-16K (x faster)", h3, 2, true, NULL);
    goal(goals, "flashconv_vs_fftw", "FlashConv plain conv vs FFTW, worst of fwd/bwd over L >= 1K, B x H 32 x 64 and 1 x 768 (x faster)", conv, 1, true, NULL);
    const cJSON *tab = cJSON_GetObjectItemCaseSensitive(f, "conv_table");
    char note[512];
    snprintf(note, sizeof note, "dispatched by the conv table '%s' (make bench measures this machine's first: "
             "bench-crossover -> results/bench/conv_table.json)", cJSON_IsString(tab) ? tab->valuestring : "unknown");
    goal(goals, "dispatch_near_best", "the dispatched conv over the fastest of direct/FFTW/FlashConv, worst measured row",
         disp, 1.25, false, note);
    goal(goals, "short_conv_vs_fftw", "dispatched conv vs FFTW at L <= 64, B x H = 32 x 64, worst L (x faster)", shortc, 10, true, NULL);
    goal(goals, "state_passing_flat", "state passing: time per token at L = 1M over L = 8K (fwd+bwd)", sp1m / sp8k, 1.5, false, NULL);
    goal(goals, "state_passing_memory", "state passing: peak memory growth at L = 1M over L = 8K", mem1m / mem8k, 1.5, false,
         "bounded by the chunk: the same buffers at every L");
    goal(goals, "two_threads", "2 threads vs 1 thread, conv forward, worst L >= 1K (x faster)", thr, 1.6, true,
         "needs both cores free; on a shared 2-vCPU VM a busy neighbour halves it");
}

/* The first L from which H3 (fwd+bwd) is faster than attention at every
 * longer L among a bench-layers file's rows. A layer that did not finish a
 * length (out of memory) counts as infinitely slow there; a length without
 * both rows is skipped. NAN when no length has both rows, INFINITY when H3
 * is not faster at the longest one. */
static double crossover_from(const cJSON *f) {
    double h3[32], at[32], Ls[32];
    int n = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(f, "rows")) {
        double L = num(r, "seq_len");
        int i = 0;
        while (i < n && Ls[i] != L) i++;
        if (i == n && n < 32) Ls[n] = L, h3[n] = at[n] = NAN, n++;
        if (i >= 32) continue;
        double ms = !strcmp(str(r, "status"), "ok") ? num(r, "ms_fwd_bwd") : INFINITY;
        if (!strcmp(str(r, "layer"), "h3")) h3[i] = ms;
        if (!strcmp(str(r, "layer"), "attention")) at[i] = ms;
    }
    double from = NAN;
    for (int i = n - 1; i >= 0; i--) { /* lengths ascend in the file */
        if (isnan(h3[i]) || isnan(at[i])) continue;
        if (h3[i] < at[i]) from = Ls[i];
        else {
            if (isnan(from)) from = INFINITY;
            break;
        }
    }
    return from;
}

/* layers_b32.json (batch 32, d 64: the lab's 32 x 64 shape): the crossover
 * goal. layers.json (batch 1, to 64K): the ratio at 64K, and the batch-1
 * crossover, reported beside the goals (a batch of one pays the SSM kernels'
 * generation, O(H N L) per call, without sharing it over sequences). */
static void layers_goals(const cJSON *f1, const cJSON *f32, cJSON *goals, cJSON *also) {
    double r64 = NAN;
    const cJSON *r;
    double h3 = NAN, at = NAN;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(f1, "rows")) {
        if (num(r, "seq_len") != 65536) continue;
        bool ok = !strcmp(str(r, "status"), "ok");
        if (!strcmp(str(r, "layer"), "h3") && ok) h3 = num(r, "ms_fwd_bwd");
        if (!strcmp(str(r, "layer"), "attention") && ok) at = num(r, "ms_fwd_bwd");
    }
    if (h3 > 0 && at > 0) r64 = at / h3;
    goal(goals, "h3_layer_faster_from", "H3 layer fwd+bwd faster than attention from this L on, B x D = 32 x 64",
         crossover_from(f32), 128, false, "make bench-layers: results/bench/layers_b32.json");
    goal(goals, "h3_layer_vs_attention_64k", "attention / H3 layer fwd+bwd time at L = 64K (x)", r64, 35, true,
         isnan(r64) ? "no attention row at 64K (out of memory: run with the layer's default impl=auto, whose "
                      "tiled path needs O(L) memory)"
                    : "attention at its default impl=auto: the tiled path (ops->attention) at this length");
    double b1 = crossover_from(f1);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", "h3_layer_faster_from_b1");
    cJSON_AddStringToObject(o, "what", "H3 layer fwd+bwd faster than attention from this L on, batch 1, d 64 "
                                       "(reported, not a goal; null: not measured, or not faster at the longest L)");
    if (!isfinite(b1)) cJSON_AddNullToObject(o, "measured");
    else cJSON_AddNumberToObject(o, "measured", b1);
    cJSON_AddItemToArray(also, o);
}

/* generate.json: H3 tokens/s flat in the context, and against attention at 1,536 tokens. */
static void generate_goals(const cJSON *f, cJSON *goals) {
    double lo = NAN, hi = NAN, h3_1536 = NAN, at_1536 = NAN;
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(f, "rows")) {
        double c = num(r, "context"), tps = num(r, "tokens_per_second");
        if (strcmp(str(r, "status"), "ok") != 0) continue;
        if (!strcmp(str(r, "layer"), "h3") && c >= 128 && c <= 16384) lo = fmin_nan(lo, tps), hi = fmax_nan(hi, tps);
        if (c == 1536) *(strcmp(str(r, "layer"), "h3") ? &at_1536 : &h3_1536) = tps;
    }
    goal(goals, "generation_flat", "H3 generation: fastest / slowest tokens/s over prompts of 128-16K tokens", hi / lo, 1.2,
         false, NULL);
    goal(goals, "generation_vs_attention_1536", "H3 / attention (KV cache) tokens/s at a 1,536-token prompt (x)",
         h3_1536 / at_1536, 2.4, true, NULL);
}

static int run_summary(const struct args *a) {
    const char *dir = args_get(a, "--dir") ? args_get(a, "--dir") : "results/bench";
    char path[4096], err[512], out[4096];
    snprintf(out, sizeof out, "%s", args_get(a, "--out") ? args_get(a, "--out") : "");
    if (!*out) snprintf(out, sizeof out, "%s/summary.json", dir);
    cJSON *root = cJSON_CreateObject(), *goals = cJSON_AddArrayToObject(root, "goals");
    cJSON *also = cJSON_AddArrayToObject(root, "also");
    static const char *const files[] = {"flashconv", "layers", "layers_b32", "generate"};
    cJSON *f[4];
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s.json", dir, files[i]);
        f[i] = report_read(path, err, sizeof err);
        if (!f[i]) fprintf(stderr, "bench-summary: %s (its goals stay unmeasured)\n", err), f[i] = cJSON_CreateObject();
    }
    flashconv_goals(f[0], goals);
    layers_goals(f[1], f[2], goals, also);
    generate_goals(f[3], goals);
    for (int i = 0; i < 4; i++) cJSON_Delete(f[i]);
    printf("%-30s %10s %8s  %s\n", "goal", "measured", "target", "pass");
    const cJSON *g;
    cJSON_ArrayForEach(g, goals) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(g, "measured"), *p = cJSON_GetObjectItemCaseSensitive(g, "pass");
        char mv[32] = "-";
        if (cJSON_IsNumber(m)) snprintf(mv, sizeof mv, "%.3g", m->valuedouble);
        printf("%-30s %10s %8.3g  %s   %s\n", str(g, "name"), mv, num(g, "target"),
               cJSON_IsNull(p) ? "n/a" : cJSON_IsTrue(p) ? "PASS" : "FAIL", str(g, "what"));
    }
    cJSON_ArrayForEach(g, also) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(g, "measured");
        char mv[32] = "-";
        if (cJSON_IsNumber(m)) snprintf(mv, sizeof mv, "%.3g", m->valuedouble);
        printf("%-30s %10s %8s  %s   %s\n", str(g, "name"), mv, "", "   ", str(g, "what"));
    }
    int rc = report_write(out, root, err, sizeof err);
    if (rc) fprintf(stderr, "hippodrome bench-summary: %s\n", err);
    else fprintf(stderr, "summary: %s\n", out);
    cJSON_Delete(root);
    return rc ? EXIT_RUN_FAILED : 0;
}

static const struct flag_spec summary_flags[] = {
    {"--dir", "DIR", false, "where the benchmark JSON files are (default results/bench)"},
    {"--out", "FILE", false, "the summary (default DIR/summary.json)"},
};

const struct verb verb_bench_summary = {
    .name = "bench-summary",
    .usage = "[--dir DIR] [--out FILE]",
    .summary = "the speed goals from the benchmark files (flashconv, layers, layers_b32, generate) -> summary.json",
    .flags = summary_flags,
    .n_flags = sizeof summary_flags / sizeof summary_flags[0],
    .min_pos = 0,
    .max_pos = 0,
    .run = run_summary,
};
