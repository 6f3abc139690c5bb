#include "tsl_loader_order.h"

static uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* Uniform in [0, bound) from the counter stream (key, *counter): Lemire's multiply-shift with
 * rejection, so exactly unbiased. */
static uint64_t draw_below(uint64_t key, uint64_t *counter, uint64_t bound) {
    for (;;) {
        uint64_t r = splitmix64(key + 0x632BE59BD9B4E019ull * ++*counter);
        unsigned __int128 m = (unsigned __int128)r * bound;
        uint64_t low = (uint64_t)m;
        if (low >= bound || low >= (0 - bound) % bound)
            return (uint64_t)(m >> 64);
    }
}

uint64_t tsl_loader_order_units(const tsl_loader_order *o) {
    return o->paired ? o->samples / 2 : o->samples;
}

uint64_t tsl_loader_order_steps(const tsl_loader_order *o) {
    uint64_t per_step = (uint64_t)o->batch_size * o->world_size, units = tsl_loader_order_units(o);
    uint64_t full = units / per_step;
    return full + (!o->drop_last && units % per_step ? 1 : 0);
}

void tsl_loader_order_permutation(const tsl_loader_order *o, uint64_t epoch, uint32_t *perm) {
    uint64_t key = splitmix64(splitmix64(o->seed) + epoch), counter = 0;
    for (uint64_t i = 0; i < o->samples; i++)
        perm[i] = (uint32_t)i;
    for (uint64_t i = o->samples; i > 1; i--) {
        uint64_t j = draw_below(key, &counter, i);
        uint32_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}

void tsl_loader_order_batch_units(const tsl_loader_order *o, uint64_t step, uint64_t *first,
                                  uint32_t *count) {
    uint64_t per_step = (uint64_t)o->batch_size * o->world_size, units = tsl_loader_order_units(o);
    uint64_t full = units / per_step;
    if (step < full) {
        *first = (step * o->world_size + o->rank) * o->batch_size;
        *count = o->batch_size;
        return;
    }
    /* The shorter last step (drop_last off): the leftover split evenly, lower ranks first. */
    uint64_t left = units - full * per_step, share = left / o->world_size, extra = left % o->world_size;
    *first = full * per_step + o->rank * share + (o->rank < extra ? o->rank : extra);
    *count = (uint32_t)(share + (o->rank < extra ? 1 : 0));
}

uint32_t tsl_loader_order_batch_ids(const tsl_loader_order *o, const uint32_t *perm, uint64_t step,
                                    uint32_t *ids) {
    uint64_t first;
    uint32_t count;
    tsl_loader_order_batch_units(o, step, &first, &count);
    for (uint32_t i = 0; i < count; i++)
        ids[i] = perm[first + i];
    if (!o->paired)
        return count;
    uint64_t half = o->samples / 2;
    for (uint32_t i = 0; i < count; i++)
        ids[count + i] = perm[half + first + i];
    return 2 * count;
}
