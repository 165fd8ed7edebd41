/*
 * ingest_int.h - the state of one `ragd ingest` run shared by ingest.c
 * (options, choosing files, batching documents into jobs) and ingest_jobs.c
 * (HTTP calls, submitting jobs and following them to the end).
 */
#ifndef RAGD_CLI_INGEST_INT_H
#define RAGD_CLI_INGEST_INT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct ing_file {
    char *path;   /* to open */
    char *id;     /* document id (relative path) */
    bool jsonl;
    size_t docs;  /* documents it holds (lines for JSONL) */
} ing_file;

typedef struct ingest {
    const char *url, *ns, *user_id, *api_key;
    const char *exts;             /* --ext: comma-separated list; NULL = any text file */
    size_t batch_docs, batch_bytes;
    long request_timeout_s;       /* per HTTP call; 0 = none (never for the whole run) */
    bool wait;                    /* follow the jobs to the end */
    char **jobs;                  /* submitted (or --resume) job ids */
    size_t n_jobs, cap_jobs;
    ing_file *files;
    size_t n_files, cap_files, total_docs, skipped, skipped_binary;
    CURL *curl;
    struct curl_slist *hdr;
    buf_t body, resp;
    size_t in_batch, sent_docs, failed;
    bool ns_created;              /* this run created the namespace */
    bool tty;
} ingest;

/* One HTTP call (body NULL: no body); *status gets the code, 0 when the
 * server is unreachable (then -1 and a message on stderr). */
int ing_http(ingest *g, const char *method, const char *path, const buf_t *body, long *status);
/* The error message of the last response (borrowed until the next call). */
const char *ing_err_msg(ingest *g);
/* Create the namespace when it is missing (remembering that this run did). */
int ing_ensure_ns(ingest *g);
/* Submit the batch in g->body as a job (wait: false); records its id. */
int ing_submit(ingest *g);
/* Poll every job in g->jobs to a final state, showing progress with an ETA
 * from word pieces; prints the summary and per-document errors. *done gets
 * the documents indexed. Returns 0 when every job succeeded without errors. */
int ing_follow(ingest *g, uint64_t *done);

#endif
