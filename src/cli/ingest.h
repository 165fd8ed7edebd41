/*
 * ingest.h - `ragd ingest <ns> <path...>`: loads text, Markdown and JSONL
 * files (or whole folders) into a namespace of a running ragd over HTTP, in
 * batches, with a progress bar on a terminal and plain lines otherwise.
 */
#ifndef RAGD_CLI_INGEST_H
#define RAGD_CLI_INGEST_H

/* Run the command with its arguments (argv[0] is the namespace). Prints to
 * stdout/stderr; returns the process exit code (0 ok, 1 failure, 2 usage). */
int ingest_main(int argc, char **argv);

#endif
