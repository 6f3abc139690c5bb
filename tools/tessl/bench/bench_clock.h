/* Wall and CPU clocks of the benchmarks. CPU time (user + system, all of this process's threads,
 * lavapipe's included) is the per-core cost, which other jobs on a shared machine inflate far less
 * than wall time; the data benchmarks report both. */
#ifndef TSL_BENCH_CLOCK_H
#define TSL_BENCH_CLOCK_H

typedef struct {
    double wall, cpu; /* seconds */
} tsl_bench_clock;

/* The current readings. */
tsl_bench_clock tsl_bench_clock_now(void);

/* Seconds of each clock since `start`. */
tsl_bench_clock tsl_bench_clock_since(tsl_bench_clock start);

#endif
