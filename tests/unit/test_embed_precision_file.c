/*
 * test_embed_precision_file.c - the precision file that keeps embed_precision
 * =auto's measurement between starts (embed/embed_precision_file.c), on the
 * real model: the first open measures and writes it, the next reuses the same
 * choice without measuring; a file of another ragd version, other weights or
 * another CPU level (RAGD_CPU), one that does not parse (garbage, a cut body,
 * a kernel this CPU would not run) and remeasure all measure again and rewrite
 * the file, which the open after reuses.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "embed/embed.h"
#include "embed_fixture.h"
#include "testing.h"
#include "util/cpu.h"
#include "util/file.h"

static char g_dir[512];
static char g_file[600];

/* Open the model with embed_precision=auto and the precision file; *ch gets
 * the choice. 0 or the open's error. */
static int open_auto(bool remeasure, embed_precision_choice *ch)
{
    embed_opts o;
    embed_default_opts(&o);
    o.precision = EMBED_AUTO;
    o.precision_file = g_file;
    o.remeasure = remeasure;
    embed_model *m = NULL;
    ragd_error err;
    int rc = embed_model_open(g_dir, &o, &m, &err);
    if (rc) {
        fprintf(stderr, "  open: %s\n", err.msg);
        return rc;
    }
    *ch = *embed_model_precision_choice(m);
    if (embed_model_precision(m) != ch->chosen)
        rc = -1;
    embed_model_close(m);
    return rc;
}

static void write_text(const char *text)
{
    FILE *f = fopen(g_file, "w");
    if (!f || fputs(text, f) < 0)
        abort();
    fclose(f);
}

static char *read_text(void)
{
    char *s = NULL;
    if (file_read_all(g_file, &s, NULL) != 0)
        return NULL;
    return s;
}

/* Replace the first occurrence of from in the file with to. */
static bool edit_file(const char *from, const char *to)
{
    char *s = read_text();
    char *at = s ? strstr(s, from) : NULL;
    if (!at) {
        free(s);
        return false;
    }
    size_t n = strlen(s) + strlen(to) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    write_text(out);
    free(out);
    free(s);
    return true;
}

/* The next open measures: the file is not used (then rewritten). */
static void check_remeasured(void)
{
    embed_precision_choice a;
    ASSERT_OK(open_auto(false, &a));
    ASSERT_TRUE(a.measured && !a.reused);
}

/* The next open reuses the file. */
static void check_reused(void)
{
    embed_precision_choice b;
    ASSERT_OK(open_auto(false, &b));
    ASSERT_TRUE(b.measured && b.reused);
}

TEST(first_open_writes_the_next_reuses)
{
    unlink(g_file);
    embed_precision_choice a, b;
    ASSERT_OK(open_auto(false, &a));
    ASSERT_TRUE(a.measured && !a.reused);
    ASSERT_TRUE(access(g_file, R_OK) == 0);
    ASSERT_OK(open_auto(false, &b));
    ASSERT_TRUE(b.measured && b.reused);
    ASSERT_EQ_INT(b.chosen, a.chosen);
    ASSERT_EQ_INT(b.ntrials, a.ntrials);
    ASSERT_EQ_INT(b.probe_texts, a.probe_texts);
    ASSERT_EQ_INT(b.probe_tokens, a.probe_tokens);
    for (size_t i = 0; i < a.ntrials; i++) {
        ASSERT_EQ_INT(b.trial[i].precision, a.trial[i].precision);
        ASSERT_EQ_STR(b.trial[i].kernel, a.trial[i].kernel);
        ASSERT_EQ_INT(b.trial[i].passed, a.trial[i].passed);
        ASSERT_NEAR(b.trial[i].min_cosine, a.trial[i].min_cosine, 1e-8);
        ASSERT_NEAR(b.trial[i].cpu_ms, a.trial[i].cpu_ms, 1e-2);
    }
}

TEST(another_version_or_weights_measures_again)
{
    char line[64];
    snprintf(line, sizeof line, "version %s\n", RAGD_VERSION);
    ASSERT_TRUE(edit_file(line, "version 0.0.0-other\n"));
    check_remeasured();
    ASSERT_TRUE(edit_file(".safetensors ", ".safetensors 1"));  /* another size */
    check_remeasured();
    check_reused();
}

TEST(another_cpu_level_measures_again)
{
    embed_precision_choice a;
    setenv("RAGD_CPU", "avx2", 1);
    cpu_features_reset();
    ASSERT_OK(open_auto(false, &a));
    ASSERT_TRUE(a.measured && !a.reused);
    ASSERT_EQ_INT(a.ntrials, 1);  /* no BF16 kernel at that level */
    unsetenv("RAGD_CPU");
    cpu_features_reset();
    check_remeasured();
    check_reused();
}

TEST(a_file_that_does_not_parse_is_not_used)
{
    write_text("garbage\n");
    check_remeasured();
    char *s = read_text();
    ASSERT_TRUE(s != NULL);
    char *end = strstr(s, "end\n");
    ASSERT_TRUE(end != NULL);
    *end = '\0';  /* cut before its end */
    write_text(s);
    free(s);
    check_remeasured();
    ASSERT_TRUE(edit_file("trial fp32 ", "trial fp32 no-such-kernel-"));
    check_remeasured();
    ASSERT_TRUE(edit_file("trials ", "trials 9"));
    check_remeasured();
    check_reused();
}

TEST(remeasure_measures_even_when_the_file_holds)
{
    embed_precision_choice a, b;
    ASSERT_OK(open_auto(false, &a));
    ASSERT_TRUE(a.reused);
    ASSERT_OK(open_auto(true, &b));
    ASSERT_TRUE(b.measured && !b.reused);
}

int main(void)
{
    char tmp[] = "/tmp/ragd-test-precision-XXXXXX";
    if (fx_model_dir(g_dir, sizeof g_dir) != 0 || !mkdtemp(tmp)) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    snprintf(g_file, sizeof g_file, "%s/embed-precision", tmp);
    RUN(first_open_writes_the_next_reuses);
    RUN(another_version_or_weights_measures_again);
    RUN(another_cpu_level_measures_again);
    RUN(a_file_that_does_not_parse_is_not_used);
    RUN(remeasure_measures_even_when_the_file_holds);
    unlink(g_file);
    rmdir(tmp);
    return TEST_REPORT();
}
