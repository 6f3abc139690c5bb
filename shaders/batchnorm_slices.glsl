// Slicing of the first level when a channel's values do not fit one lane: in one batch chunk, slice s
// (grid y) covers images [(s / segments) * images_per_slice, + images_per_slice) and, of each image's
// run, units [(s % segments) * segment, + segment), both clipped; lane (grid x) as in
// batchnorm_channels.glsl. Its result for channel c lands at slot first_slot + s of `slots`.
#ifndef TSL_BATCHNORM_SLICES_GLSL
#define TSL_BATCHNORM_SLICES_GLSL

layout(push_constant) uniform Push {
    uint lanes, images, image_units, run;
    uint images_per_slice, segment, segments, slots, first_slot;
    float param; // apply: eps; dx: 1 / m
} pc;

LaneSpan slice_span(uint lane, uint s) {
    uint n0 = (s / pc.segments) * pc.images_per_slice, k0 = (s % pc.segments) * pc.segment;
    return LaneSpan(lane * pc.run, pc.image_units, n0, min(n0 + pc.images_per_slice, pc.images), k0,
                    min(k0 + pc.segment, pc.run));
}

// Values per channel in the span: units times the components that belong to one channel.
float span_count(LaneSpan span) {
    uint per_unit = TSL_VEC4 != 0 && !COMPONENTS_ARE_CHANNELS ? 4 : 1;
    return float((span.n1 - span.n0) * (span.k1 - span.k0) * per_unit);
}

#endif
