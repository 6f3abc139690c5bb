// Statistics of a lane's values (batchnorm_channels.glsl), for shaders that declare x first (DECLARE_X):
// the corrected two-pass algorithm (Chan, Golub & LeVeque): the mean of the values, then the sums of
// d = x - mean and d^2, which correct the mean by sum d / count and give M2 = sum d^2 - (sum d)^2 / count.
// Sums are blocked (BLOCK units, then added to the total). Per channel, as VALUEs.
#ifndef TSL_BATCHNORM_LANE_STATS_GLSL
#define TSL_BATCHNORM_LANE_STATS_GLSL

VALUE sum_of_values(LaneSpan span) {
    VALUE total = VALUE(0.0), block = VALUE(0.0);
    uint in_block = 0;
    for (uint n = span.n0; n < span.n1; n++) {
        uint at = n * span.image_units + span.base;
        for (uint k = span.k0; k < span.k1; k++) {
            block += LOAD_X(at + k);
            if (++in_block == BLOCK) {
                total += block;
                block = VALUE(0.0);
                in_block = 0;
            }
        }
    }
    return channel_total(total + block);
}

// Sums of d = x - mean and of d^2 over the span.
void centred_sums(LaneSpan span, VALUE mean, out VALUE sum_d, out VALUE sum_d2) {
    VALUE total_d = VALUE(0.0), total_d2 = VALUE(0.0), block_d = VALUE(0.0), block_d2 = VALUE(0.0);
    uint in_block = 0;
    for (uint n = span.n0; n < span.n1; n++) {
        uint at = n * span.image_units + span.base;
        for (uint k = span.k0; k < span.k1; k++) {
            VALUE d = LOAD_X(at + k) - mean;
            block_d += d;
            block_d2 += d * d;
            if (++in_block == BLOCK) {
                total_d += block_d;
                total_d2 += block_d2;
                block_d = block_d2 = VALUE(0.0);
                in_block = 0;
            }
        }
    }
    sum_d = channel_total(total_d + block_d);
    sum_d2 = channel_total(total_d2 + block_d2);
}

// Mean and M2 (sum of squared deviations) of the span's `count` values per channel.
void lane_statistics(LaneSpan span, float count, out VALUE mean, out VALUE m2) {
    mean = sum_of_values(span) / count;
    VALUE sum_d, sum_d2;
    centred_sums(span, mean, sum_d, sum_d2);
    mean += sum_d / count;
    m2 = max(sum_d2 - sum_d * sum_d / count, VALUE(0.0));
}

#endif
