/*
 * embed_precision_file.c - the precision file: what embed_precision.c measured
 * at one start, kept so the next start with the same CPU, weights and ragd
 * version takes the same choice without measuring again (the measurement is
 * most of a restart's CPU time once knowledge bases load from snapshots). The
 * file is text: a key (format, ragd version, the CPU's model name and the
 * feature bits the kernels choose by, the weights file's path, size and
 * mtime) then the choice and its trials. A file whose key differs, that does
 * not parse, or whose trials name kernels this build would not run is not
 * used: the caller measures again and rewrites it (atomically, by rename).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "embed/embed_int.h"
#include "util/clock.h"
#include "util/cpu.h"
#include "util/err.h"
#include "util/file.h"

#define EPF__MAGIC "ragd embed precision 1\n"

/* The precisions a file may name, by embed_precision value. */
static const char *const epf__names[] = { "fp32", "bf16" };

static bool epf__precision(const char *s, embed_precision *out)
{
    for (int i = 0; i < 2; i++)
        if (strcmp(s, epf__names[i]) == 0) {
            *out = (embed_precision)i;
            return true;
        }
    return false;
}

/* The CPU's model name from /proc/cpuinfo ("unknown" without one). */
static void epf__cpu_name(char *out, size_t n)
{
    char *info = NULL;
    snprintf(out, n, "unknown");
    if (file_read_all("/proc/cpuinfo", &info, NULL) != 0)
        return;
    const char *p = strstr(info, "model name");
    const char *colon = p ? strchr(p, ':') : NULL;
    if (colon) {
        colon++;
        while (*colon == ' ' || *colon == '\t')
            colon++;
        size_t len = strcspn(colon, "\n");
        snprintf(out, n, "%.*s", (int)(len < n ? len : n - 1), colon);
    }
    free(info);
}

/* The key of a choice made on this CPU for the weights in model_dir: 0, or
 * RAGD_ENOTFOUND when the weights file cannot be found. */
static int epf__key(const char *model_dir, char *out, size_t n)
{
    char path[4096], real[PATH_MAX], cpu[256];
    snprintf(path, sizeof path, "%s/model.safetensors", model_dir);
    struct stat st;
    if (!realpath(path, real) || stat(real, &st) != 0)
        return RAGD_ENOTFOUND;
    epf__cpu_name(cpu, sizeof cpu);
    const cpu_features_t *f = cpu_features();
    snprintf(out, n,
             EPF__MAGIC "version %s\ncpu %s\n"
             "features avx2=%d fma=%d avx512f=%d avx512bw=%d avx512vl=%d avx512bf16=%d "
             "amx_tile=%d amx_bf16=%d\nweights %s %lld %lld.%09ld\n",
             RAGD_VERSION, cpu, f->avx2, f->fma, f->avx512f, f->avx512bw, f->avx512vl,
             f->avx512_bf16, f->amx_tile, f->amx_bf16, real, (long long)st.st_size,
             (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    return 0;
}

/* One "trial <precision> <kernel> <min_cosine> <cpu_ms> <passed>" line at *p;
 * the kernel must be the one bert runs for that precision here. */
static bool epf__trial(const char **p, bert_model *bert, embed_precision_trial *t)
{
    char prec[8], kernel[32];
    double cosv, ms;
    int passed, used = 0;
    if (sscanf(*p, "trial %7s %31s %lf %lf %d\n%n", prec, kernel, &cosv, &ms, &passed, &used) != 5 ||
        used == 0 || (*p)[used - 1] != '\n')
        return false;
    *p += used;
    embed_precision e;
    if (!epf__precision(prec, &e) || (passed != 0 && passed != 1) ||
        !(cosv >= -1.0 && cosv <= 1.0 + 1e-9) || !(ms >= 0))
        return false;
    bert_precision want = e == EMBED_BF16 ? BERT_BF16 : BERT_FP32;
    if (bert_set_precision(bert, want) != want || strcmp(bert_kernel_name(bert), kernel) != 0)
        return false;
    *t = (embed_precision_trial){ e, bert_kernel_name(bert), cosv, ms, passed == 1 };
    return true;
}

/* The choice after the key; false when anything does not parse. */
static bool epf__body(const char *p, bert_model *bert, embed_precision_choice *c)
{
    char chosen[8];
    size_t texts, tokens, ntrials;
    int used = 0;
    if (sscanf(p, "chosen %7s\nprobe %zu %zu\ntrials %zu\n%n", chosen, &texts, &tokens, &ntrials,
               &used) != 4 || used == 0 || p[used - 1] != '\n')
        return false;
    p += used;
    if (!epf__precision(chosen, &c->chosen) || ntrials == 0 ||
        ntrials > sizeof c->trial / sizeof c->trial[0])
        return false;
    c->probe_texts = texts;
    c->probe_tokens = tokens;
    bool chosen_seen = false;
    for (c->ntrials = 0; c->ntrials < ntrials; c->ntrials++) {
        embed_precision_trial *t = &c->trial[c->ntrials];
        if (!epf__trial(&p, bert, t))
            return false;
        chosen_seen |= t->precision == c->chosen && (t->passed || c->ntrials == 0);
    }
    return chosen_seen && strcmp(p, "end\n") == 0;
}

int embed__precision_load(const char *path, const char *model_dir, bert_model *bert,
                          embed_precision_choice *out)
{
    int64_t t0 = clock_mono_us();
    char key[6144], *data = NULL;
    size_t len = 0;
    int rc = epf__key(model_dir, key, sizeof key);
    if (rc)
        return rc;
    if (file_read_all(path, &data, &len) != 0)
        return RAGD_ENOTFOUND;
    size_t kl = strlen(key);
    embed_precision_choice c;
    memset(&c, 0, sizeof c);
    bert_precision before = bert_set_precision(bert, BERT_FP32);
    if (len < kl || memcmp(data, key, kl) != 0) {
        rc = RAGD_ECONFLICT;
    } else if (strlen(data) != len || !epf__body(data + kl, bert, &c)) {
        rc = RAGD_EFORMAT;
    }
    free(data);
    if (rc) {
        bert_set_precision(bert, before);
        return rc;
    }
    bert_set_precision(bert, c.chosen == EMBED_BF16 ? BERT_BF16 : BERT_FP32);
    c.measured = true;
    c.reused = true;
    c.total_ms = (double)(clock_mono_us() - t0) / 1e3;
    *out = c;
    return 0;
}

int embed__precision_save(const char *path, const char *model_dir,
                          const embed_precision_choice *c)
{
    char key[6144], tmp[4200];
    int rc = epf__key(model_dir, key, sizeof key);
    if (rc)
        return rc;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return RAGD_EIO;
    fprintf(f, "%schosen %s\nprobe %zu %zu\ntrials %zu\n", key, epf__names[c->chosen == EMBED_BF16],
            c->probe_texts, c->probe_tokens, c->ntrials);
    for (size_t i = 0; i < c->ntrials; i++)
        fprintf(f, "trial %s %s %.9f %.3f %d\n", epf__names[c->trial[i].precision == EMBED_BF16],
                c->trial[i].kernel, c->trial[i].min_cosine, c->trial[i].cpu_ms,
                c->trial[i].passed ? 1 : 0);
    fputs("end\n", f);
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
        return RAGD_EIO;
    }
    return 0;
}
