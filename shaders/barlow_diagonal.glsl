// Walking a chunk of the Barlow cross-correlation C (dim x dim, row-major, starting at element (row0,
// col0)) by TSL_WORKGROUP_SIZE elements at a time, knowing which elements lie on the diagonal.
//
// C_ij is on the diagonal when its flat index i * dim + j is a multiple of dim + 1. Each invocation takes
// that index modulo dim + 1 once (barlow_diagonal_phase) and advances it by the stride (barlow_diagonal_step,
// barlow_diagonal_next): an integer division per element cost more than the rest of the pass on a CPU
// driver, which divides lane by lane.
#ifndef BARLOW_DIAGONAL_GLSL
#define BARLOW_DIAGONAL_GLSL

// The flat index of chunk element e modulo dim + 1: 0 on the diagonal. Below 2^32 before the modulo:
// dim <= 65535 and e < the chunk's size + TSL_WORKGROUP_SIZE.
uint barlow_diagonal_phase(uint dim, uint row0, uint col0, uint e) {
    return (row0 * dim + col0 + e) % (dim + 1);
}

// The phase of the element TSL_WORKGROUP_SIZE further on, from step = barlow_diagonal_step(dim), taken
// once before the loop so that no division is left in it.
uint barlow_diagonal_step(uint dim) {
    return TSL_WORKGROUP_SIZE % (dim + 1);
}

uint barlow_diagonal_next(uint dim, uint step, uint phase) {
    uint next = phase + step;
    return next > dim ? next - (dim + 1) : next;
}

#endif
