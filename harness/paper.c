/* paper.c — read the paper's reference numbers (see paper.h). */
#include "paper.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "paths.h"

cJSON *paper_load(char *err, size_t errlen) {
    char path[4096];
    if (repo_path(PAPER_FILE, path, sizeof path) != 0) {
        snprintf(err, errlen, "%s not found next to the binary's repository or in the working directory",
                 PAPER_FILE);
        return NULL;
    }
    cJSON *doc = config_doc_load(path, err, errlen);
    if (doc && !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(doc, "accuracy"))) {
        snprintf(err, errlen, "%s: no \"accuracy\" object", path);
        cJSON_Delete(doc);
        return NULL;
    }
    return doc;
}

double paper_accuracy(const cJSON *paper, const char *task, const char *layer) {
    if (!paper) return NAN;
    const cJSON *acc = cJSON_GetObjectItemCaseSensitive(paper, "accuracy");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(acc, task);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, layer);
    return cJSON_IsNumber(v) ? v->valuedouble / 100.0 : NAN;
}

const char *paper_source(const cJSON *paper) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(paper, "source");
    return cJSON_IsString(s) ? s->valuestring : NULL;
}
