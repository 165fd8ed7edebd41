/*
 * embed_fixture.h - loads the committed embedding parity fixture
 * (tests/fixtures/embed_*, written by make_embed_fixture.py) and finds the
 * model directory (RAGD_MODEL_DIR, else $RAGD_MODEL_CACHE or
 * ~/.cache/ragd/models, + /all-MiniLM-L6-v2). Shared by the embed tests.
 */
#ifndef RAGD_TEST_EMBED_FIXTURE_H
#define RAGD_TEST_EMBED_FIXTURE_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct fx_text {
    char *s;
    size_t len;
    int32_t *ids; /* reference ids ([CLS] .. [SEP], max 256) */
    size_t nids;
    size_t count; /* untruncated piece count */
} fx_text;

typedef struct fx_fixture {
    fx_text *t;
    size_t n;
    float *ref; /* n x 384 */
} fx_fixture;

static void fx__dir(char *out, size_t cap)
{
    snprintf(out, cap, "%s", __FILE__);
    for (int k = 0; k < 2; k++) {
        char *sl = strrchr(out, '/');
        if (sl)
            *sl = '\0';
    }
    strncat(out, "/fixtures", cap - strlen(out) - 1);
}

static char *fx__slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "fixture: cannot open %s\n", path);
        return NULL;
    }
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, fp);
    fclose(fp);
    buf[got] = '\0';
    *len = got;
    return buf;
}

/* Load the fixture; returns 0 or -1 (message on stderr). */
__attribute__((unused)) static int fx_load(fx_fixture *fx)
{
    char dir[512], path[600];
    size_t len;
    memset(fx, 0, sizeof *fx);
    fx__dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/embed_texts.bin", dir);
    char *bin = fx__slurp(path, &len);
    if (!bin)
        return -1;
    size_t cap = 512;
    fx->t = calloc(cap, sizeof *fx->t);
    for (size_t o = 0; o + 4 <= len && fx->n < cap;) {
        uint32_t n = (uint32_t)(uint8_t)bin[o] | (uint32_t)(uint8_t)bin[o + 1] << 8 |
                     (uint32_t)(uint8_t)bin[o + 2] << 16 | (uint32_t)(uint8_t)bin[o + 3] << 24;
        fx->t[fx->n].s = malloc(n + 1);
        memcpy(fx->t[fx->n].s, bin + o + 4, n);
        fx->t[fx->n].s[n] = '\0';
        fx->t[fx->n].len = n;
        fx->n++;
        o += 4 + n;
    }
    free(bin);
    snprintf(path, sizeof path, "%s/embed_tokens.json", dir);
    char *js = fx__slurp(path, &len);
    if (!js)
        return -1;
    cJSON *root = cJSON_Parse(js);
    free(js);
    if ((size_t)cJSON_GetArraySize(root) != fx->n) {
        fprintf(stderr, "fixture: token and text counts differ\n");
        cJSON_Delete(root);
        return -1;
    }
    size_t i = 0;
    for (cJSON *e = root->child; e; e = e->next, i++) {
        cJSON *ids = cJSON_GetObjectItem(e, "ids");
        fx->t[i].nids = (size_t)cJSON_GetArraySize(ids);
        fx->t[i].ids = malloc(fx->t[i].nids * sizeof(int32_t));
        size_t k = 0;
        for (cJSON *v = ids->child; v; v = v->next)
            fx->t[i].ids[k++] = (int32_t)v->valueint;
        fx->t[i].count = (size_t)cJSON_GetObjectItem(e, "count")->valueint;
    }
    cJSON_Delete(root);
    snprintf(path, sizeof path, "%s/embed_ref.f32", dir);
    char *ref = fx__slurp(path, &len);
    if (!ref || len != fx->n * 384 * sizeof(float)) {
        fprintf(stderr, "fixture: embed_ref.f32 has %zu bytes\n", ref ? len : 0);
        free(ref);
        return -1;
    }
    fx->ref = (float *)ref;
    return 0;
}

__attribute__((unused)) static void fx_free(fx_fixture *fx)
{
    for (size_t i = 0; i < fx->n; i++) {
        free(fx->t[i].s);
        free(fx->t[i].ids);
    }
    free(fx->t);
    free(fx->ref);
}

/* Model directory into out; returns 0, or -1 with a clear message when absent. */
__attribute__((unused)) static int fx_model_dir(char *out, size_t cap)
{
    const char *env = getenv("RAGD_MODEL_DIR");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
    } else {
        const char *c = getenv("RAGD_MODEL_CACHE");
        if (c && *c)
            snprintf(out, cap, "%s/all-MiniLM-L6-v2", c);
        else
            snprintf(out, cap, "%s/.cache/ragd/models/all-MiniLM-L6-v2",
                     getenv("HOME") ? getenv("HOME") : "");
    }
    char probe[700];
    struct stat st;
    snprintf(probe, sizeof probe, "%s/vocab.txt", out);
    if (stat(probe, &st) != 0) {
        fprintf(stderr,
                "MODEL MISSING: %s not found. Run scripts/setup.sh (scripts/fetch_model.sh) or "
                "set RAGD_MODEL_DIR.\n",
                probe);
        return -1;
    }
    return 0;
}

#endif
