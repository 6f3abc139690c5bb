#include "bench_clock.h"

#include <sys/resource.h>
#include <time.h>

tsl_bench_clock tsl_bench_clock_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (tsl_bench_clock){.wall = ts.tv_sec + ts.tv_nsec * 1e-9,
                             .cpu = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
                                    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6};
}

tsl_bench_clock tsl_bench_clock_since(tsl_bench_clock start) {
    tsl_bench_clock now = tsl_bench_clock_now();
    return (tsl_bench_clock){now.wall - start.wall, now.cpu - start.cpu};
}
