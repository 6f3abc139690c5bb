#version 450
// sums[c] (+)= sum over the rows of x[r][c] (row-major, `cols` wide): one invocation per column walks
// down its column, so consecutive invocations read consecutive addresses. accumulate != 0 adds onto
// sums (a later chunk of rows); otherwise sums is write-only. TSL_X_F16 = 1 reads x as IEEE half; the sums
// are fp32 either way.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#if TSL_X_F16
#extension GL_EXT_shader_16bit_storage : require
#define x_t float16_t
#else
#define x_t float
#endif

layout(std430, set = 0, binding = 0) readonly buffer X { x_t x[]; };
layout(std430, set = 0, binding = 1) buffer Sums { float sums[]; };
layout(push_constant) uniform Push { uint rows; uint cols; uint accumulate; } pc;

void main() {
    uint c = tsl_global_index();
    if (c >= pc.cols)
        return;
    float s = 0.0;
    for (uint r = 0; r < pc.rows; r++)
        s += float(x[r * pc.cols + c]);
    sums[c] = pc.accumulate != 0 ? sums[c] + s : s;
}
