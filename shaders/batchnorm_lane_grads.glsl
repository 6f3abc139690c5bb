// Backward sums of a lane's values (batchnorm_channels.glsl), for shaders that declare x and dy first
// (DECLARE_X, DECLARE_DY): sum dy and sum dy * (x - mean), blocked like batchnorm_lane_stats.glsl.
#ifndef TSL_BATCHNORM_LANE_GRADS_GLSL
#define TSL_BATCHNORM_LANE_GRADS_GLSL

void gradient_sums(LaneSpan span, VALUE mean, out VALUE s_dy, out VALUE s_dyx) {
    VALUE total_dy = VALUE(0.0), total_dyx = VALUE(0.0), block_dy = VALUE(0.0), block_dyx = VALUE(0.0);
    uint in_block = 0;
    for (uint n = span.n0; n < span.n1; n++) {
        uint at = n * span.image_units + span.base;
        for (uint k = span.k0; k < span.k1; k++) {
            VALUE g = LOAD_DY(at + k);
            block_dy += g;
            block_dyx += g * (LOAD_X(at + k) - mean);
            if (++in_block == BLOCK) {
                total_dy += block_dy;
                total_dyx += block_dyx;
                block_dy = block_dyx = VALUE(0.0);
                in_block = 0;
            }
        }
    }
    s_dy = channel_total(total_dy + block_dy);
    s_dyx = channel_total(total_dyx + block_dyx);
}

#endif
