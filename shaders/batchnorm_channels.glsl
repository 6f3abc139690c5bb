// Shared by the lane batch-norm shaders: invocation `lane` owns one channel, or four adjacent channels as
// the components of a vec4 (1-D batch norm, C % 4 == 0), and walks its values sequentially (all of the
// channel's, or a slice: batchnorm_slices.glsl), so there is no shared memory and no barrier.
//
// Values are read in units of VALUE (stored as STORED, below): a vec4 in the TSL_VEC4 build (H*W % 4 == 0, or H*W == 1 with
// C % 4 == 0), else a float. Lane g's units for image n are [n * image_units + g * run, ... + run).
// With COMPONENTS_ARE_CHANNELS the four components belong to channels 4g .. 4g + 3 (run = 1); otherwise
// every component belongs to channel g and per-channel results sum the components (channel_total).
//
// Sums use blocked accumulation: a block of BLOCK units is summed, then added to the running total, so
// rounding grows with BLOCK + m / BLOCK rather than with m (a plain sequential sum of 4096 terms in fp32
// exceeds the tests' tolerances now and then; the blocked one stays far inside: tests/test_batchnorm.c).
//
// Lavapipe ends a shader invocation's loops after 65535 iterations in all (see tsl_batchnorm.c); the
// host keeps a lane's values within that.
#ifndef TSL_BATCHNORM_CHANNELS_GLSL
#define TSL_BATCHNORM_CHANNELS_GLSL

#if TSL_VEC4
#define VALUE vec4
#else
#define VALUE float
#endif

// Storage of the big tensors (x, y, dy, dx): VALUE, or with TSL_FP16 its IEEE-half twin (f16vec4 or
// float16_t; storageBuffer16BitAccess). Shaders read them through VALUE(...) and write STORED(...), so
// all arithmetic stays fp32 and a half result is rounded once, at its store. Per-channel arrays
// (statistics, gamma, beta, partials) are fp32 in both builds.
#if TSL_FP16
#extension GL_EXT_shader_16bit_storage : require
#if TSL_VEC4
#define STORED f16vec4
#else
#define STORED float16_t
#endif
#else
#define STORED VALUE
#endif

// The big inputs x and dy: DECLARE_X(binding) and DECLARE_DY(binding) declare them, LOAD_X(i) and
// LOAD_DY(i) read unit i as a VALUE. TSL_TEXEL = 1 (fp32 storage; CPU drivers, tsl_texel.h) binds them
// as storage texel buffers, rgba32f in the vec4 build and r32f else, which lavapipe loads without a
// loop over the SIMD lanes; the values, and so every result, are the same.
#if TSL_TEXEL
#if TSL_VEC4
#define BN_TEXEL_FORMAT rgba32f
#define BN_TEXEL_LOAD(texels, i) imageLoad(texels, int(i))
#else
#define BN_TEXEL_FORMAT r32f
#define BN_TEXEL_LOAD(texels, i) imageLoad(texels, int(i)).x
#endif
#define DECLARE_X(b) layout(set = 0, binding = b, BN_TEXEL_FORMAT) uniform readonly imageBuffer x_texels
#define DECLARE_DY(b) layout(set = 0, binding = b, BN_TEXEL_FORMAT) uniform readonly imageBuffer dy_texels
#define LOAD_X(i) BN_TEXEL_LOAD(x_texels, i)
#define LOAD_DY(i) BN_TEXEL_LOAD(dy_texels, i)
#else
#define DECLARE_X(b) layout(std430, set = 0, binding = b) readonly buffer X { STORED x[]; }
#define DECLARE_DY(b) layout(std430, set = 0, binding = b) readonly buffer DY { STORED dy[]; }
#define LOAD_X(i) VALUE(x[i])
#define LOAD_DY(i) VALUE(dy[i])
#endif

layout(constant_id = 1) const bool COMPONENTS_ARE_CHANNELS = false;
layout(constant_id = 2) const bool AFFINE = true;
const uint BLOCK = 32;

// A lane's values: units [k0, k1) of the runs of images [n0, n1), unit k of image n at
// n * image_units + base + k (base = lane * run).
struct LaneSpan {
    uint base, image_units, n0, n1, k0, k1;
};

// Per-channel arrays (C floats) read and written as VALUEs: with COMPONENTS_ARE_CHANNELS component i is
// channel 4 * lane + i, else every component is channel `lane`.
#if TSL_VEC4
#define LOAD_CHANNELS(array, lane)                                                                         \
    (COMPONENTS_ARE_CHANNELS                                                                               \
         ? vec4(array[4 * (lane)], array[4 * (lane) + 1], array[4 * (lane) + 2], array[4 * (lane) + 3])    \
         : vec4(array[lane]))
#define STORE_CHANNELS(array, lane, v)                                                                     \
    if (COMPONENTS_ARE_CHANNELS) {                                                                         \
        array[4 * (lane)] = (v).x;                                                                         \
        array[4 * (lane) + 1] = (v).y;                                                                     \
        array[4 * (lane) + 2] = (v).z;                                                                     \
        array[4 * (lane) + 3] = (v).w;                                                                     \
    } else                                                                                                 \
        array[lane] = (v).x
#else
#define LOAD_CHANNELS(array, lane) array[lane]
#define STORE_CHANNELS(array, lane, v) array[lane] = (v)
#endif

// A per-channel sum: the components when they are one channel, else each component is its own.
VALUE channel_total(VALUE s) {
#if TSL_VEC4
    if (!COMPONENTS_ARE_CHANNELS)
        return VALUE((s.x + s.y) + (s.z + s.w));
#endif
    return s;
}

#endif
