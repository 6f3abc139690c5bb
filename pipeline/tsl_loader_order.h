/* The loader's sample order, a pure function of (seed, epoch, rank): no I/O, no threads.
 *
 * Order: each epoch is a full permutation of the split's sample ids (0..N-1, shard-major: shard 0's
 * records, then shard 1's, ...), drawn by Fisher-Yates from a counter-based generator (splitmix64 of
 * seed, epoch and draw number). A global permutation rather than shard-then-record shuffling because
 * records are independently readable (pread + one zstd frame each), so it costs nothing in I/O locality
 * that matters, it is exactly uniform, and it makes resume and rank partition simple arithmetic.
 *
 * Units: in plain mode a unit is one sample (U = N). In paired (TeSSL) mode the permutation is cut in two
 * halves of H = floor(N/2); unit u is the pair (perm[u], perm[H + u]) and U = H (with N odd, perm[N-1]
 * is not used that epoch).
 *
 * Batches: B units each. With R ranks, global batch g = step * R + rank covers units [g*B, (g+1)*B), so
 * ranks get disjoint batches and the same count: F = floor(U / (B*R)) full steps. The units left over
 * (U - F*B*R) are dropped when drop_last (the default); otherwise every rank takes one more, shorter
 * step: the leftover is split as evenly as possible (sizes differ by at most one; a rank may get an
 * empty last batch, which keeps step counts equal across ranks). */
#ifndef TSL_LOADER_ORDER_H
#define TSL_LOADER_ORDER_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    uint64_t samples;    /* N, >= 1 */
    uint32_t batch_size; /* B units per batch, >= 1 */
    uint32_t rank, world_size;
    bool paired;
    bool drop_last;
    uint64_t seed;
} tsl_loader_order;

/* Units of an epoch (N or floor(N/2)). */
uint64_t tsl_loader_order_units(const tsl_loader_order *o);

/* Steps (batches) per epoch on each rank; the same for every rank. 0 when there are too few samples. */
uint64_t tsl_loader_order_steps(const tsl_loader_order *o);

/* Writes the epoch's permutation of 0..N-1 into perm (N entries). */
void tsl_loader_order_permutation(const tsl_loader_order *o, uint64_t epoch, uint32_t *perm);

/* Units [*first, *first + *count) of this rank's batch `step` (< steps). */
void tsl_loader_order_batch_units(const tsl_loader_order *o, uint64_t step, uint64_t *first, uint32_t *count);

/* Sample ids of this rank's batch `step` into ids (count or 2*count entries): plain: perm[first..];
 * paired: the B first halves perm[first + i], then the B second halves perm[H + first + i]. Returns the
 * number of images written. */
uint32_t tsl_loader_order_batch_ids(const tsl_loader_order *o, const uint32_t *perm, uint64_t step,
                                    uint32_t *ids);

#endif
