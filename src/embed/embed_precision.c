/*
 * embed_precision.c - precision chosen by measurement (EMBED_AUTO). At open,
 * the model embeds a few probe texts (short queries and ingestion-sized
 * passages, below) in FP32 - the reference: FP32 is itself checked at cosine
 * >= 0.9999999 to sentence-transformers by the unit tests, and computing it
 * here works for any model directory, where vectors shipped with the repo
 * would fit one model only - then with every faster kernel this CPU has
 * (BF16 on AMX or AVX512-BF16). A candidate passes at cosine >= 0.9999 to the
 * reference on every probe text; the fastest passing one (process CPU time of
 * the probe batch, best of EP__REPS runs, so other tenants' load matters less)
 * is kept, a lower precision only when it beats FP32 by EP__MARGIN. The texts
 * are embedded through the caller's prober (embed.c's whole path, tokeniser
 * included), so this file calls only the encoder below it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "embed/bert.h"
#include "embed/embed_int.h"
#include "util/clock.h"
#include "util/mem.h"

#define EP__BAR 0.9999
#define EP__REPS 2
#define EP__MARGIN 0.90 /* a lower precision must take < 90% of FP32's time */

/* Probe texts: what the engine sees in practice, from a five-word query to a
 * ~200-word-piece ingestion chunk. */
static const char *const ep__texts[] = {
    "how do I reset my password?",
    "Kernel panic after upgrading the graphics driver on a laptop with two GPUs.",
    "Qu'est-ce que la photosynthèse ? Les plantes captent la lumière du soleil.",
    "The committee approved the budget for 2025, allocating $4.2 million to road repairs, "
    "$1.1 million to the public library and the remainder to a reserve fund for emergencies.",
    "Photosynthesis is the process by which green plants, algae and some bacteria convert "
    "light energy into chemical energy. In the light-dependent reactions, which take place in "
    "the thylakoid membranes of the chloroplast, water is split, oxygen is released and the "
    "energy carriers ATP and NADPH are produced. The Calvin cycle then uses that energy in the "
    "stroma to fix carbon dioxide into three-carbon sugars, which the plant assembles into "
    "glucose, sucrose and starch. The rate of photosynthesis depends on light intensity, the "
    "concentration of carbon dioxide and temperature; above an optimum, enzymes denature and "
    "the rate falls. Because nearly every food chain begins with organisms that photosynthesise, "
    "the process sustains almost all life on Earth and, over geological time, produced the "
    "oxygen-rich atmosphere that animals breathe today.",
    "Install the package with the system's package manager, then edit the configuration file "
    "under /etc to set the listening port, the data directory and the log level. Restart the "
    "service and check its status; the log shows the version, the address it listens on and "
    "how long loading took. If the port is already in use, the service exits with a clear "
    "error naming the address, so change the port or stop the other process. Backups are "
    "plain files: copy the data directory while the service is stopped, or use the snapshot "
    "command, which writes a consistent copy while it keeps serving requests. Upgrades keep "
    "the data format; a downgrade is refused when the files were written by a newer version.",
};
#define EP__N (sizeof ep__texts / sizeof *ep__texts)

static double ep__cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double ep__cosine(const float *a, const float *b, size_t n)
{
    double d = 0, na = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        d += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    return d / (sqrt(na) * sqrt(nb) + 1e-30);
}

/* Embed the probe texts into out, EP__REPS times; the best run's CPU ms (the
 * first also sizes the workspace, so the minimum is the steady state). */
static int ep__probe(const embed__prober *pr, float *out, int *ntok, double *ms)
{
    size_t lens[EP__N];
    for (size_t i = 0; i < EP__N; i++)
        lens[i] = strlen(ep__texts[i]);
    int rc = 0;
    *ms = INFINITY;
    for (int r = 0; rc == 0 && r < EP__REPS; r++) {
        double t0 = ep__cpu_ms();
        rc = pr->encode(pr->ud, (const char *const *)ep__texts, lens, EP__N, out, ntok);
        double t = ep__cpu_ms() - t0;
        *ms = t < *ms ? t : *ms;
    }
    return rc;
}

/* Run one candidate; fills tr. ref NULL: this run is the reference. */
static int ep__trial(const embed__prober *pr, embed_precision p, const float *ref, float *vec,
                     int *ntok, embed_precision_trial *tr)
{
    bert_model *bert = pr->bert;
    bert_set_precision(bert, p == EMBED_BF16 ? BERT_BF16 : BERT_FP32);
    memset(tr, 0, sizeof *tr);
    tr->precision = p;
    tr->kernel = bert_kernel_name(bert);
    int rc = ep__probe(pr, vec, ntok, &tr->cpu_ms);
    size_t dim = pr->dim;
    tr->min_cosine = 1.0;
    for (size_t i = 0; rc == 0 && ref && i < EP__N; i++) {
        double c = ep__cosine(vec + i * dim, ref + i * dim, dim);
        tr->min_cosine = c < tr->min_cosine ? c : tr->min_cosine;
    }
    tr->passed = rc == 0 && tr->min_cosine >= EP__BAR;
    return rc;
}

int embed__choose_precision(const embed__prober *pr, embed_precision_choice *out)
{
    int64_t t0 = clock_mono_us();
    bert_model *bert = pr->bert;
    size_t dim = pr->dim;
    float *ref = xmalloc(EP__N * dim * sizeof *ref), *vec = xmalloc(EP__N * dim * sizeof *vec);
    int ntok[EP__N];
    memset(out, 0, sizeof *out);
    out->measured = true;
    out->probe_texts = EP__N;
    int rc = ep__trial(pr, EMBED_FP32, NULL, ref, ntok, &out->trial[out->ntrials++]);
    for (size_t i = 0; i < EP__N; i++)
        out->probe_tokens += (size_t)ntok[i];
    /* BF16 is a candidate only where this CPU has BF16 kernels */
    if (rc == 0 && bert_set_precision(bert, BERT_BF16) == BERT_BF16)
        rc = ep__trial(pr, EMBED_BF16, ref, vec, ntok, &out->trial[out->ntrials++]);
    size_t best = 0;
    for (size_t i = 1; rc == 0 && i < out->ntrials; i++)
        if (out->trial[i].passed && out->trial[i].cpu_ms < EP__MARGIN * out->trial[0].cpu_ms &&
            out->trial[i].cpu_ms < out->trial[best].cpu_ms)
            best = i;
    out->chosen = out->trial[best].precision;
    bert_set_precision(bert, out->chosen == EMBED_BF16 ? BERT_BF16 : BERT_FP32);
    out->total_ms = (double)(clock_mono_us() - t0) / 1e3;
    free(ref);
    free(vec);
    return rc;
}
