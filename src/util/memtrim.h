/*
 * memtrim.h - give freed heap memory back to the system now and then, and say
 * how much heap is in use.
 *
 * glibc keeps memory a thread freed in that thread's arena for reuse; under a
 * mixed load on many HTTP threads the free space is scattered between live
 * blocks, so RSS creeps up while the bytes in use stay flat (bench/soak: in
 * use flat at 162 MB over minutes while RSS grew about 3 MB a minute). A
 * thread calls malloc_trim(0) every interval, which returns every whole free
 * page of every arena (madvise), not only the top of the heap. Elsewhere than
 * glibc both calls do nothing.
 */
#ifndef RAGD_MEMTRIM_H
#define RAGD_MEMTRIM_H

#include <stddef.h>

typedef struct memtrim memtrim;

/* Start a thread that trims every interval_ms (> 0). *out is owned by the
 * caller: memtrim_stop(). RAGD_ENOMEM/RAGD_EIO if the thread cannot start. */
int memtrim_start(int interval_ms, memtrim **out);

/* Stop the thread and free. NULL is a no-op. */
void memtrim_stop(memtrim *t);

/* Trims done since start. */
unsigned long memtrim_count(const memtrim *t);

/* Heap bytes the program holds in blocks it allocated (in_use) and bytes the
 * allocator holds from the system in all (held >= in_use), both including
 * large blocks mapped on their own. Zeros where unknown. Thread-safe. */
void memtrim_heap(size_t *in_use, size_t *held);

#endif
