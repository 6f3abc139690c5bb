// Shared helpers for tessl compute shaders. Shapes come in push constants; the workgroup width is
// specialization constant 0 so the host chooses it per device.
//
// Device quirk (Mesa 22.3 lavapipe, Debian 12): gl_WorkGroupSize read inside a function other than
// main() evaluates to 1 when the size is a specialization constant, so every index helper here uses
// the named constant TSL_WORKGROUP_SIZE instead (tests/test_runtime.c covers multi-workgroup indexing).
#ifndef TSL_COMMON_GLSL
#define TSL_COMMON_GLSL

layout(constant_id = 0) const uint TSL_WORKGROUP_SIZE = 256;
layout(local_size_x_id = 0) in;

// Linear workgroup index for 1-D work spread over a 2-D grid (tsl_vk_grid_1d), which lifts the
// 65535-workgroup limit of one grid dimension.
uint tsl_group_index() {
    return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
}

uint tsl_global_index() {
    return tsl_group_index() * TSL_WORKGROUP_SIZE + gl_LocalInvocationID.x;
}

#endif
