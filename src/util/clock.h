/*
 * clock.h - time in the units ragd uses: wall-clock milliseconds for TTLs
 * (they must survive restarts) and monotonic microseconds for latencies.
 */
#ifndef RAGD_CLOCK_H
#define RAGD_CLOCK_H

#include <stdint.h>

int64_t clock_wall_ms(void);  /* milliseconds since the Unix epoch */
int64_t clock_mono_us(void);  /* monotonic microseconds, for durations */
int64_t clock_mono_ns(void);  /* monotonic nanoseconds */
void clock_sleep_ms(int64_t ms);

#endif
