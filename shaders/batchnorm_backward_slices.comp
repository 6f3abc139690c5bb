#version 450
// Batch-norm backward, first level for long channels: lane (grid x) and slice (grid y, see
// batchnorm_slices.glsl) sum dy and dy * xhat (xhat = (x - mean) * invstd) over a slice of the lane's
// channels (batchnorm_lane_grads.glsl), at partials[2 * (c * slots + slot)]; batchnorm_backward_final
// adds them per channel.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "batchnorm_channels.glsl"
#include "batchnorm_slices.glsl"

DECLARE_X(0);
DECLARE_DY(1);
layout(std430, set = 0, binding = 2) readonly buffer Mean { float save_mean[]; };
layout(std430, set = 0, binding = 3) readonly buffer InvStd { float save_invstd[]; };
layout(std430, set = 0, binding = 4) writeonly buffer Partials { float partials[]; };

#include "batchnorm_lane_grads.glsl"

void main() {
    uint lane = gl_WorkGroupID.x * TSL_WORKGROUP_SIZE + gl_LocalInvocationID.x, s = gl_WorkGroupID.y;
    if (lane >= pc.lanes)
        return;
    VALUE s_dy, s_dyx;
    gradient_sums(slice_span(lane, s), LOAD_CHANNELS(save_mean, lane), s_dy, s_dyx);
    s_dyx *= LOAD_CHANNELS(save_invstd, lane);
    uint channels = TSL_VEC4 != 0 && COMPONENTS_ARE_CHANNELS ? 4 : 1;
    for (uint i = 0; i < channels; i++) {
        uint at = 2 * ((lane * channels + i) * pc.slots + pc.first_slot + s);
#if TSL_VEC4
        partials[at] = s_dy[i];
        partials[at + 1] = s_dyx[i];
#else
        partials[at] = s_dy;
        partials[at + 1] = s_dyx;
#endif
    }
}
