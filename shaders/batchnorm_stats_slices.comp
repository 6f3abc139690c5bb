#version 450
// Batch-norm statistics, first level for long channels: lane (grid x) and slice (grid y, see
// batchnorm_slices.glsl) summarise a slice of the lane's channels as (count, mean, M2) with the
// corrected two-pass algorithm (batchnorm_lane_stats.glsl), at partials[3 * (c * slots + slot)];
// batchnorm_stats_final merges them per channel.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "batchnorm_channels.glsl"
#include "batchnorm_slices.glsl"

DECLARE_X(0);
layout(std430, set = 0, binding = 1) writeonly buffer Partials { float partials[]; };

#include "batchnorm_lane_stats.glsl"

void main() {
    uint lane = gl_WorkGroupID.x * TSL_WORKGROUP_SIZE + gl_LocalInvocationID.x, s = gl_WorkGroupID.y;
    if (lane >= pc.lanes)
        return;
    LaneSpan span = slice_span(lane, s);
    float count = span_count(span);
    VALUE mean, m2;
    lane_statistics(span, count, mean, m2);
    uint channels = TSL_VEC4 != 0 && COMPONENTS_ARE_CHANNELS ? 4 : 1;
    for (uint i = 0; i < channels; i++) {
        uint at = 3 * ((lane * channels + i) * pc.slots + pc.first_slot + s);
#if TSL_VEC4
        partials[at] = count;
        partials[at + 1] = mean[i];
        partials[at + 2] = m2[i];
#else
        partials[at] = count;
        partials[at + 1] = mean;
        partials[at + 2] = m2;
#endif
    }
}
