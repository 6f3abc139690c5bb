/* Augmentations: the parameter sampler (rates, ranges, TeSSL pairing, determinism) and each GPU stage
 * against the double-precision reference (tests/ref/tsl_ref_augment.c) on small odd-sized images.
 *
 * Tolerance (the spec's): mean absolute error <= 1/255 of the [0, 1] range per op: a pixel value off by
 * less than one uint8 step on average. The kernels compute in fp32 over at most a few hundred terms of
 * magnitude <= 1, so every op except solarize is also held to max error <= 1e-4 (about 100 fp32 ulps of
 * 1, far below any visible difference); solarize and the whole chain are exempt from the max bound, since
 * a pixel within fp32 rounding of the threshold may invert on one side only. */
#include "tsl_augment.h"
#include "tsl_ref_augment.h"
#include "tsl_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- sampler ------------------------------------------------------------------------------------------ */

/* Checks a Bernoulli rate from n draws is within 5 binomial standard deviations of p. */
static void check_rate(const char *what, uint32_t hits, uint32_t n, double p) {
    double sd = sqrt(p * (1 - p) / n), rate = (double)hits / n;
    ck_assert_msg(fabs(rate - p) <= 5 * sd + 1e-12, "%s: rate %.4f, expected %.4f (sd %.4f)", what, rate, p,
                  sd);
}

START_TEST(sampler_rates_and_ranges) {
    uint64_t seed = tsl_test_seed("sampler_rates_and_ranges");
    tsl_augment_config cfg;
    tsl_augment_config_default(&cfg);
    enum { N = 20000 };
    const uint32_t W = 500, H = 375;
    for (uint32_t v = 0; v < TSL_VIEW_COUNT; v++) {
        uint32_t flip = 0, jitter = 0, gray = 0, blur = 0, solar = 0, first_op[4] = {0};
        double area_sum = 0, log_aspect_sum = 0;
        for (uint32_t i = 0; i < N; i++) {
            tsl_augment_sample s;
            tsl_augment_sample_draw(&cfg, (tsl_augment_key){seed, 3, i / 64, i % 64, v}, W, H, &s);
            flip += s.flip;
            jitter += s.jitter;
            gray += s.gray;
            blur += s.sigma > 0;
            solar += s.solarize;
            double h = s.crop_height * H, w = s.crop_width * W;
            double area = h * w / (W * H), aspect = w / h;
            /* Rounding w and h to pixels moves the area and aspect by at most about 1/h + 1/w relative. */
            double slack = 1.0 / h + 1.0 / w + 1.0 / (h * w);
            area_sum += area;
            log_aspect_sum += log(aspect);
            first_op[s.order[0]] += s.jitter;
            ck_assert_msg(area >= 0.08 * (1 - slack) && area <= 1.0, "area fraction %g", area);
            ck_assert_msg(aspect >= 0.75 * (1 - slack) && aspect <= 4.0 / 3 * (1 + slack), "aspect %g",
                          aspect);
            ck_assert(s.crop_top >= 0 && s.crop_top + s.crop_height <= 1 + 1e-12);
            ck_assert(s.crop_left >= 0 && s.crop_left + s.crop_width <= 1 + 1e-12);
            if (s.jitter) {
                ck_assert(s.brightness >= 0.6f && s.brightness <= 1.4f && s.contrast >= 0.6f &&
                          s.contrast <= 1.4f && s.saturation >= 0.8f && s.saturation <= 1.2f &&
                          s.hue >= -0.1f && s.hue <= 0.1f);
                ck_assert_int_eq(
                    (1 << s.order[0]) | (1 << s.order[1]) | (1 << s.order[2]) | (1 << s.order[3]), 15);
            } else {
                ck_assert(s.brightness == 1 && s.contrast == 1 && s.saturation == 1 && s.hue == 0);
            }
            ck_assert(s.sigma == 0 || (s.sigma >= 0.1f && s.sigma <= 2.0f));
        }
        const tsl_augment_view_probs *p = &cfg.view[v];
        check_rate("flip", flip, N, p->flip_p);
        check_rate("jitter", jitter, N, p->jitter_p);
        check_rate("gray", gray, N, p->gray_p);
        check_rate("blur", blur, N, p->blur_p);
        check_rate("solarize", solar, N, p->solarize_p);
        for (int op = 0; op < 4; op++)
            check_rate("jitter op first in order", first_op[op], jitter, 0.25);
        /* Redrawing the boxes that do not fit skews the area and aspect; torchvision's own get_params on a
         * 500 x 375 image gives mean area fraction 0.4339 and mean log aspect 0.0308 (2e5 draws,
         * torchvision 0.14). Standard errors at N = 20000: about 0.0018 and 0.0012; allow 5 of them. */
        ck_assert_msg(fabs(area_sum / N - 0.4339) < 0.009, "mean area fraction %g", area_sum / N);
        ck_assert_msg(fabs(log_aspect_sum / N - 0.0308) < 0.006, "mean log aspect %g", log_aspect_sum / N);
    }
}
END_TEST

START_TEST(sampler_crop_matches_torchvision_fallback) {
    /* On a 1000 x 2 image (aspect 500) every try's box is too tall or too wide, so get_params falls back
     * to the central crop clamped to the largest ratio: h = 2, w = round(2 * 4/3) = 3; likewise 2 x 1000. */
    tsl_augment_config cfg;
    tsl_augment_config_default(&cfg);
    uint32_t top, left, h, w;
    tsl_augment_draw_crop(&cfg, (tsl_augment_key){1, 2, 3, 4, 0}, 1000, 2, &top, &left, &h, &w);
    ck_assert_uint_eq(h, 2);
    ck_assert_uint_eq(w, 3); /* round(2 * 4/3 = 2.67) */
    ck_assert_uint_eq(top, 0);
    ck_assert_uint_eq(left, (1000 - 3) / 2);
    tsl_augment_draw_crop(&cfg, (tsl_augment_key){1, 2, 3, 4, 0}, 2, 1000, &top, &left, &h, &w);
    ck_assert_uint_eq(w, 2);
    ck_assert_uint_eq(h, 3); /* round(2 / (3/4) = 2.67) */
    ck_assert_uint_eq(top, (1000 - 3) / 2);
}
END_TEST

START_TEST(sampler_pairing_and_determinism) {
    uint64_t seed = tsl_test_seed("sampler_pairing_and_determinism");
    tsl_augment_config cfg;
    tsl_augment_config_default(&cfg);
    enum { ROWS = 9 };
    uint32_t wa[ROWS], ha[ROWS];
    tsl_test_rng rng = tsl_test_rng_new(seed);
    for (int r = 0; r < ROWS; r++) {
        wa[r] = 20 + tsl_test_rng_u64(&rng) % 300;
        ha[r] = 20 + tsl_test_rng_u64(&rng) % 300;
    }
    tsl_augment_sample a[2 * ROWS], b[2 * ROWS], c[2 * ROWS];
    TSL_TEST_OK(tsl_augment_sample_batch(&cfg, seed, 7, 11, ROWS, wa, ha, a));
    TSL_TEST_OK(tsl_augment_sample_batch(&cfg, seed, 7, 11, ROWS, wa, ha, b));
    ck_assert_msg(memcmp(a, b, sizeof a) == 0, "the same key drew different parameters");
    TSL_TEST_OK(tsl_augment_sample_batch(&cfg, seed, 7, 12, ROWS, wa, ha, c));
    ck_assert_msg(memcmp(a, c, sizeof a) != 0, "a different step drew the same parameters");
    ck_assert_msg(memcmp(&a[0], &a[1], sizeof a[0]) != 0, "views t and t' drew the same parameters");
    for (int r = 0; r < ROWS; r++) {
        /* Image A gets back the integer box it was drawn with; image B the box scaled to its size. */
        uint32_t top, left, h, w, top2, left2, h2, w2;
        tsl_augment_draw_crop(&cfg, (tsl_augment_key){seed, 7, 11, (uint64_t)r, 0}, wa[r], ha[r], &top, &left,
                              &h, &w);
        tsl_augment_crop_pixels(&a[2 * r], wa[r], ha[r], &top2, &left2, &h2, &w2);
        ck_assert(top == top2 && left == left2 && h == h2 && w == w2);
        uint32_t wb = wa[r] * 2 + 1, hb = ha[r] / 2 + 5;
        tsl_augment_crop_pixels(&a[2 * r], wb, hb, &top2, &left2, &h2, &w2);
        ck_assert(fabs(top2 - (double)top * hb / ha[r]) <= 0.5 + 1e-9);
        ck_assert(fabs(left2 - (double)left * wb / wa[r]) <= 0.5 + 1e-9);
        ck_assert(fabs(h2 - (double)h * hb / ha[r]) <= 0.5 + 1e-9 || top2 + h2 == hb);
        ck_assert(fabs(w2 - (double)w * wb / wa[r]) <= 0.5 + 1e-9 || left2 + w2 == wb);
        ck_assert(top2 + h2 <= hb && left2 + w2 <= wb);
    }
    /* Bad configuration is refused with a message. */
    cfg.view[1].blur_p = 1.5;
    ck_assert_int_eq(tsl_augment_sample_batch(&cfg, seed, 0, 0, ROWS, wa, ha, a), TSL_ERR_INVALID_ARG);
}
END_TEST

/* ---- GPU stages vs the reference ---------------------------------------------------------------------- */

typedef struct {
    uint32_t n_sources;
    tsl_augment_source sources[8];
    uint8_t *bytes;
    uint64_t total;
} source_set;

/* Random RGB8 images of the given sizes, packed at 4-byte-aligned offsets. */
static source_set make_sources(tsl_test_rng *rng, uint32_t n, const uint32_t (*wh)[2]) {
    source_set s = {.n_sources = n};
    for (uint32_t i = 0; i < n; i++) {
        s.sources[i] = (tsl_augment_source){s.total, wh[i][0], wh[i][1]};
        s.total += (3ull * wh[i][0] * wh[i][1] + 3) & ~3ull;
    }
    s.bytes = calloc(s.total, 1);
    for (uint64_t i = 0; i < s.total; i++)
        s.bytes[i] = (uint8_t)(tsl_test_rng_u64(rng) >> 56);
    return s;
}

/* IEEE binary16 -> float (exact). */
static float half_to_float(uint16_t h) {
    uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 31, mant = h & 1023;
    float v = exp == 0    ? ldexpf((float)mant, -24)
              : exp == 31 ? (mant ? NAN : INFINITY)
                          : ldexpf((float)(mant | 1024), (int)exp - 25);
    return sign ? -v : v;
}

/* Runs the GPU chain for `jobs` (packed into `rec`); returns the n output images (malloc'd). */
static float *run_gpu_chain_limited(const source_set *src, const tsl_augment_job *jobs, uint32_t n,
                                    const tsl_augment_output *out, tsl_augment_record *rec,
                                    uint64_t max_binding, uint32_t *dispatches) {
    tsl_vk_device *dev = tsl_test_device_open();
    TSL_TEST_OK(tsl_augment_pack(src->sources, src->n_sources, jobs, n, rec));
    uint64_t out_bytes = tsl_augment_output_bytes(out, n), count = out_bytes / (out->fp16 ? 2 : 4);
    tsl_vk_buffer images = tsl_test_alloc(dev, TSL_MEM_DEVICE, src->total, "images");
    tsl_vk_buffer params = tsl_test_alloc(dev, TSL_MEM_DEVICE, n * sizeof *rec, "params");
    tsl_vk_buffer scratch = tsl_test_alloc(dev, TSL_MEM_DEVICE, tsl_augment_scratch_bytes(out, n), "scratch");
    tsl_vk_buffer output = tsl_test_alloc(dev, TSL_MEM_DEVICE, out_bytes, "output");
    tsl_test_upload(dev, &images, src->bytes);
    tsl_test_upload(dev, &params, rec);
    tsl_test_poison(dev, &scratch);
    if (out->fp16) { /* fp16 NaN in every half (the 32-bit poison pattern holds a zero half) */
        uint16_t *nan16 = malloc(out_bytes);
        for (uint64_t i = 0; i < count; i++)
            nan16[i] = 0x7e00;
        tsl_test_upload(dev, &output, nan16);
        free(nan16);
    } else {
        tsl_test_poison(dev, &output);
    }
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(dev, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    TSL_TEST_OK(tsl_augment_record_batch_limited(dev, cmd, out, rec, n, images.range, params.range,
                                                 scratch.range, output.range, max_binding));
    *dispatches = tsl_vk_cmd_stats_get(cmd).dispatches;
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    float *got = malloc(count * sizeof *got);
    if (out->fp16) {
        uint16_t *half = malloc(out_bytes);
        tsl_test_download(dev, &output, half);
        for (uint64_t i = 0; i < count; i++)
            got[i] = half_to_float(half[i]);
        free(half);
    } else {
        tsl_test_download(dev, &output, got);
    }
    tsl_vk_cmd_destroy(cmd);
    tsl_vk_buffer *bufs[] = {&images, &params, &scratch, &output};
    for (int i = 0; i < 4; i++)
        tsl_vk_free(dev, bufs[i]);
    tsl_test_device_close(dev);
    return got;
}

static float *run_gpu_chain(const source_set *src, const tsl_augment_job *jobs, uint32_t n,
                            const tsl_augment_output *out, tsl_augment_record *rec) {
    uint32_t dispatches;
    float *got = run_gpu_chain_limited(src, jobs, n, out, rec, 0, &dispatches);
    ck_assert_uint_eq(dispatches, 4); /* one per stage for the whole batch */
    return got;
}

/* Mean and max absolute error in [0, 1] units (the output is (x - mean) / std: scaled back by std). */
static void check_errors(const char *what, uint64_t seed, const float *got, const double *want, size_t count,
                         uint32_t S, const float std[3], bool check_max) {
    double sum = 0, worst = 0;
    size_t plane = (size_t)S * S, worst_at = 0;
    for (size_t i = 0; i < count; i++) {
        double e = fabs(got[i] - want[i]) * std[(i / plane) % 3];
        sum += isnan(e) ? INFINITY : e;
        if (!(e <= worst))
            worst = e, worst_at = i;
    }
    double mean = sum / count;
    ck_assert_msg(mean <= 1.0 / 255, "%s (seed %llu): mean abs error %.3g > 1/255", what,
                  (unsigned long long)seed, mean);
    ck_assert_msg(!check_max || worst <= 1e-4,
                  "%s (seed %llu): max abs error %.3g at %zu (got %.7g, want %.7g)", what,
                  (unsigned long long)seed, worst, worst_at, got[worst_at], want[worst_at]);
}

/* Runs the GPU chain for `jobs` and compares with the reference. */
static void run_and_compare(const char *what, uint64_t seed, const source_set *src,
                            const tsl_augment_job *jobs, uint32_t n, const tsl_augment_output *out,
                            bool check_max) {
    tsl_augment_record *rec = calloc(n, sizeof *rec);
    float *got = run_gpu_chain(src, jobs, n, out, rec);
    size_t per_image = tsl_augment_image_bytes(out->size) / 4, count = n * per_image;
    double *want = malloc(count * sizeof *want);
    for (uint32_t i = 0; i < n; i++)
        tsl_ref_augment(src->bytes, &rec[i], out, want + i * per_image);
    check_errors(what, seed, got, want, count, out->size, out->std, check_max);
    free(got);
    free(want);
    free(rec);
}

/* Sources of odd sizes: shrink (37x29 -> 11), small (13x7), enlarge (5x3), 1-pixel-wide. */
static const uint32_t SIZES[][2] = {{13, 7}, {37, 29}, {5, 3}, {1, 9}, {64, 48}};
enum { N_SIZES = sizeof SIZES / sizeof SIZES[0] };

static tsl_augment_sample identity_sample(void) {
    return (tsl_augment_sample){.crop_height = 1,
                                .crop_width = 1,
                                .order = {0, 1, 2, 3},
                                .brightness = 1,
                                .contrast = 1,
                                .saturation = 1};
}

/* One job per source with a random crop (relative box inside the image) and the given sample template. */
static void random_jobs(tsl_test_rng *rng, tsl_augment_sample templ, tsl_augment_job *jobs, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        tsl_augment_sample s = templ;
        s.crop_height = tsl_test_rng_uniform(rng, 0.3, 1.0);
        s.crop_width = tsl_test_rng_uniform(rng, 0.3, 1.0);
        s.crop_top = tsl_test_rng_uniform(rng, 0, 1 - s.crop_height);
        s.crop_left = tsl_test_rng_uniform(rng, 0, 1 - s.crop_width);
        s.flip = tsl_test_rng_u64(rng) & 1;
        jobs[i] = (tsl_augment_job){i % N_SIZES, s};
    }
}

static void check_op(const char *what, tsl_augment_sample templ, uint32_t S, tsl_resize_filter filter,
                     bool normalise, bool check_max) {
    uint64_t seed = tsl_test_seed(what);
    tsl_test_rng rng = tsl_test_rng_new(seed);
    source_set src = make_sources(&rng, N_SIZES, SIZES);
    tsl_augment_job jobs[2 * N_SIZES];
    random_jobs(&rng, templ, jobs, 2 * N_SIZES);
    tsl_augment_output out = {.size = S, .filter = filter, .mean = {0, 0, 0}, .std = {1, 1, 1}};
    if (normalise)
        tsl_augment_output_default(&out, S), out.filter = filter;
    run_and_compare(what, seed, &src, jobs, 2 * N_SIZES, &out, check_max);
    free(src.bytes);
}

START_TEST(gpu_resize_bilinear) {
    check_op("resize bilinear", identity_sample(), 11, TSL_RESIZE_BILINEAR, false, true);
}
END_TEST

START_TEST(gpu_resize_bicubic) {
    check_op("resize bicubic", identity_sample(), 11, TSL_RESIZE_BICUBIC, false, true);
    check_op("resize bicubic S=1", identity_sample(), 1, TSL_RESIZE_BICUBIC, false, true);
    check_op("resize bicubic S=70", identity_sample(), 70, TSL_RESIZE_BICUBIC, false, true);
}
END_TEST

/* One jitter op alone (the others at their identity factors) in a given order. */
static tsl_augment_sample jitter_sample(float b, float c, float s, float h, const uint8_t order[4]) {
    tsl_augment_sample t = identity_sample();
    t.jitter = 1;
    memcpy(t.order, order, 4);
    t.brightness = b, t.contrast = c, t.saturation = s, t.hue = h;
    return t;
}

START_TEST(gpu_jitter_each_op) {
    const uint8_t order[4] = {3, 1, 0, 2};
    check_op("brightness 1.3", jitter_sample(1.3f, 1, 1, 0, order), 11, TSL_RESIZE_BICUBIC, false, true);
    check_op("brightness 0.6", jitter_sample(0.6f, 1, 1, 0, order), 11, TSL_RESIZE_BICUBIC, false, true);
    check_op("contrast 0.65", jitter_sample(1, 0.65f, 1, 0, order), 11, TSL_RESIZE_BICUBIC, false, true);
    check_op("contrast 1.35", jitter_sample(1, 1.35f, 1, 0, order), 11, TSL_RESIZE_BICUBIC, false, true);
    check_op("saturation 1.2", jitter_sample(1, 1, 1.2f, 0, order), 11, TSL_RESIZE_BICUBIC, false, true);
    check_op("saturation 0.8", jitter_sample(1, 1, 0.8f, 0, order), 11, TSL_RESIZE_BICUBIC, false, true);
    check_op("hue 0.08", jitter_sample(1, 1, 1, 0.08f, order), 11, TSL_RESIZE_BICUBIC, false, true);
    check_op("hue -0.1", jitter_sample(1, 1, 1, -0.1f, order), 11, TSL_RESIZE_BICUBIC, false, true);
}
END_TEST

START_TEST(gpu_jitter_orders) {
    /* All four ops; contrast's mean depends on the ops before it, so try it first, middle and last. */
    const uint8_t orders[][4] = {{1, 0, 2, 3}, {0, 3, 1, 2}, {2, 3, 0, 1}};
    for (int i = 0; i < 3; i++)
        check_op("jitter all ops", jitter_sample(1.25f, 0.7f, 1.15f, -0.06f, orders[i]), 11,
                 TSL_RESIZE_BICUBIC, false, true);
}
END_TEST

START_TEST(gpu_gray_blur) {
    tsl_augment_sample g = identity_sample();
    g.gray = 1;
    check_op("grayscale", g, 11, TSL_RESIZE_BICUBIC, false, true);
    const float sigmas[] = {0.1f, 0.7f, 1.3f, 2.0f};
    for (int i = 0; i < 4; i++) {
        tsl_augment_sample b = identity_sample();
        b.sigma = sigmas[i];
        check_op("gaussian blur", b, 11, TSL_RESIZE_BICUBIC, false, true);
    }
    tsl_augment_sample b = identity_sample();
    b.sigma = 2.0f; /* 13-tap kernel on a 3x3 image: reflection repeats */
    check_op("gaussian blur S=3", b, 3, TSL_RESIZE_BILINEAR, false, true);
}
END_TEST

START_TEST(gpu_solarize_normalize) {
    tsl_augment_sample s = identity_sample();
    s.solarize = 1;
    check_op("solarize", s, 11, TSL_RESIZE_BICUBIC, false, false);
    check_op("normalize", identity_sample(), 11, TSL_RESIZE_BICUBIC, true, true);
}
END_TEST

START_TEST(gpu_fp16_output) {
    /* fp16 storage rounds each normalised value (|x| <= 2.7) to 11 significant bits: relative error
     * <= 2^-11 = 4.9e-4; the fp32 chain before it adds < 1e-5 (its max bound above). */
    uint64_t seed = tsl_test_seed("gpu_fp16_output");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    source_set src = make_sources(&rng, N_SIZES, SIZES);
    tsl_augment_sample t = jitter_sample(1.2f, 0.8f, 1.1f, 0.05f, (const uint8_t[]){2, 0, 3, 1});
    t.sigma = 0.9f;
    tsl_augment_job jobs[N_SIZES];
    random_jobs(&rng, t, jobs, N_SIZES);
    tsl_augment_output out;
    tsl_augment_output_default(&out, 9); /* odd: 3*81 halves per image, so images straddle 32-bit words */
    out.fp16 = true;
    tsl_augment_record rec[N_SIZES];
    float *got = run_gpu_chain(&src, jobs, N_SIZES, &out, rec);
    size_t per_image = 3 * 9 * 9, count = N_SIZES * per_image;
    double *want = malloc(count * sizeof *want);
    for (uint32_t i = 0; i < N_SIZES; i++)
        tsl_ref_augment(src.bytes, &rec[i], &out, want + i * per_image);
    tsl_test_check_close("augment fp16 output", seed, got, want, count, 4.9e-4, 1e-5);
    free(got);
    free(want);
    free(src.bytes);
}
END_TEST

START_TEST(gpu_chunked_batch) {
    /* 12 images of 12 x 12 (1728 bytes, a multiple of 64, so chunks may start at any image where the
     * offset alignment is <= 64) with bindings limited to 12000 bytes: 6 outputs fit, but the sources of 6
     * consecutive images (up to 12788 bytes, the 64 x 48 one alone 9216) do not, so the planner shrinks
     * chunks to fit the source window too. */
    uint64_t seed = tsl_test_seed("gpu_chunked_batch");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    source_set src = make_sources(&rng, N_SIZES, SIZES);
    tsl_augment_sample t = jitter_sample(1.1f, 1.3f, 0.9f, -0.02f, (const uint8_t[]){1, 3, 2, 0});
    t.sigma = 1.1f;
    t.solarize = 0;
    enum { N = 12 };
    tsl_augment_job jobs[N];
    random_jobs(&rng, t, jobs, N);
    tsl_augment_output out;
    tsl_augment_output_default(&out, 12);
    tsl_augment_record rec[N];
    uint32_t dispatches;
    float *got = run_gpu_chain_limited(&src, jobs, N, &out, rec, 12000, &dispatches);
    ck_assert_msg(dispatches > 4, "the batch was not split (%u dispatches)", dispatches);
    size_t per_image = 3 * 12 * 12, count = N * per_image;
    double *want = malloc(count * sizeof *want);
    for (uint32_t i = 0; i < N; i++)
        tsl_ref_augment(src.bytes, &rec[i], &out, want + i * per_image);
    check_errors("chunked batch", seed, got, want, count, 12, out.std, true);
    free(got);
    free(want);
    free(src.bytes);
}
END_TEST

START_TEST(gpu_whole_chain_tessl_batch) {
    /* A TeSSL batch: rows pair sources of different sizes; both images of a row get view t and t'. */
    uint64_t seed = tsl_test_seed("gpu_whole_chain_tessl_batch");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    source_set src = make_sources(&rng, N_SIZES, SIZES);
    tsl_augment_config cfg;
    tsl_augment_config_default(&cfg);
    cfg.view[1].solarize_p = 0.5; /* exercise every op often on a small batch */
    cfg.view[0].gray_p = 0.3;
    enum { ROWS = 4 };
    uint32_t w1[ROWS], h1[ROWS], half1[ROWS], half2[ROWS];
    for (uint32_t r = 0; r < ROWS; r++) {
        half1[r] = r;
        half2[r] = (r + 1) % N_SIZES;
        w1[r] = SIZES[r][0], h1[r] = SIZES[r][1];
    }
    tsl_augment_sample samples[2 * ROWS];
    TSL_TEST_OK(tsl_augment_sample_batch(&cfg, seed, 1, 2, ROWS, w1, h1, samples));
    tsl_augment_job jobs[4 * ROWS];
    tsl_augment_tessl_jobs(ROWS, half1, half2, samples, jobs);
    for (uint32_t r = 0; r < ROWS; r++) { /* blocks: [half 1, t; half 2, t; half 1, t'; half 2, t'] */
        ck_assert(jobs[r].source == half1[r] && jobs[ROWS + r].source == half2[r]);
        ck_assert(jobs[2 * ROWS + r].source == half1[r] && jobs[3 * ROWS + r].source == half2[r]);
        ck_assert(!memcmp(&jobs[r].sample, &samples[2 * r], sizeof samples[0]));
        ck_assert(!memcmp(&jobs[ROWS + r].sample, &samples[2 * r], sizeof samples[0]));
        ck_assert(!memcmp(&jobs[3 * ROWS + r].sample, &samples[2 * r + 1], sizeof samples[0]));
    }
    tsl_augment_output out;
    tsl_augment_output_default(&out, 13);
    run_and_compare("whole chain", seed, &src, jobs, 4 * ROWS, &out, false);
    free(src.bytes);
}
END_TEST

/* ---- torchvision fixtures (tools/make_augment_fixtures.py) -------------------------------------------- */

typedef struct {
    const uint8_t *p, *end;
} reader;

static uint32_t read_u32(reader *r) {
    ck_assert_msg(r->p + 4 <= r->end, "augment fixtures: file ends early");
    uint32_t v;
    memcpy(&v, r->p, 4);
    r->p += 4;
    return v;
}

static float read_f32(reader *r) {
    uint32_t u = read_u32(r);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Every fixture case through the GPU chain (one batch per case) and the CPU reference, both against
 * torchvision's float64 result. The reference is double like torchvision, so it must agree to 1e-6 (a
 * pixel at the solarize threshold aside: none lies within 1e-6 of it in these fixtures). */
START_TEST(gpu_matches_torchvision_fixtures) {
    const char *dir = getenv("TESSL_FIXTURES");
    ck_assert_msg(dir, "TESSL_FIXTURES is not set (meson test sets it)");
    char path[4096];
    snprintf(path, sizeof path, "%s/augment_fixtures.bin", dir);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f, "cannot open %s", path);
    static uint8_t file[1 << 20];
    size_t size = fread(file, 1, sizeof file, f);
    fclose(f);
    ck_assert_msg(size > 8 && memcmp(file, "TSLAUGF1", 8) == 0, "%s: not an augment fixture file", path);
    reader r = {file + 8, file + size};
    source_set src = {.n_sources = read_u32(&r)};
    ck_assert(src.n_sources <= 8);
    const uint8_t *pixels[8];
    for (uint32_t i = 0; i < src.n_sources; i++) {
        uint32_t w = read_u32(&r), h = read_u32(&r);
        src.sources[i] = (tsl_augment_source){src.total, w, h};
        pixels[i] = r.p;
        src.total += (3ull * w * h + 3) & ~3ull;
        r.p += (3ull * w * h + 3) & ~3ull;
    }
    src.bytes = malloc(src.total);
    for (uint32_t i = 0; i < src.n_sources; i++)
        memcpy(src.bytes + src.sources[i].offset, pixels[i],
               3ull * src.sources[i].width * src.sources[i].height);
    uint32_t n_cases = read_u32(&r);
    ck_assert(n_cases > 0);
    for (uint32_t c = 0; c < n_cases; c++) {
        uint32_t image = read_u32(&r), S = read_u32(&r), bicubic = read_u32(&r);
        ck_assert(image < src.n_sources && S > 0 && S <= 64);
        const tsl_augment_source *so = &src.sources[image];
        uint32_t box[4];
        for (int i = 0; i < 4; i++)
            box[i] = read_u32(&r);
        tsl_augment_sample s = {.crop_top = (double)box[0] / so->height,
                                .crop_left = (double)box[1] / so->width,
                                .crop_height = (double)box[2] / so->height,
                                .crop_width = (double)box[3] / so->width};
        s.flip = (uint8_t)read_u32(&r);
        s.jitter = (uint8_t)read_u32(&r);
        for (int i = 0; i < 4; i++)
            s.order[i] = (uint8_t)read_u32(&r);
        s.brightness = read_f32(&r), s.contrast = read_f32(&r), s.saturation = read_f32(&r),
        s.hue = read_f32(&r);
        s.sigma = read_f32(&r);
        s.gray = (uint8_t)read_u32(&r);
        s.solarize = (uint8_t)read_u32(&r);
        size_t count = 3ull * S * S;
        ck_assert(r.p + 4 * count <= r.end);
        double *want = malloc(count * sizeof *want);
        for (size_t i = 0; i < count; i++)
            want[i] = read_f32(&r);

        tsl_augment_output out = {.size = S,
                                  .filter = bicubic ? TSL_RESIZE_BICUBIC : TSL_RESIZE_BILINEAR,
                                  .mean = {0, 0, 0},
                                  .std = {1, 1, 1}};
        tsl_augment_job job = {image, s};
        tsl_augment_record rec;
        float *got = run_gpu_chain(&src, &job, 1, &out, &rec);
        ck_assert_msg(rec.crop_top == box[0] && rec.crop_left == box[1] && rec.crop_height == box[2] &&
                          rec.crop_width == box[3],
                      "case %u: the relative crop box did not map back to its pixels", c);
        char what[64];
        snprintf(what, sizeof what, "fixture case %u (GPU)", c);
        check_errors(what, 0, got, want, count, S, out.std, !s.solarize);
        double *ref = malloc(count * sizeof *ref);
        float *ref_f = malloc(count * sizeof *ref_f);
        tsl_ref_augment(src.bytes, &rec, &out, ref);
        for (size_t i = 0; i < count; i++)
            ref_f[i] = (float)ref[i];
        snprintf(what, sizeof what, "fixture case %u (CPU reference)", c);
        tsl_test_check_close(what, 0, ref_f, want, count, 0, 1e-6);
        free(ref);
        free(ref_f);
        free(got);
        free(want);
    }
    free(src.bytes);
}
END_TEST

START_TEST(bad_arguments) {
    tsl_augment_source src = {0, 4, 4};
    tsl_augment_job job = {1, identity_sample()};
    tsl_augment_record rec;
    ck_assert_int_eq(tsl_augment_pack(&src, 1, &job, 1, &rec), TSL_ERR_INVALID_ARG);
    ck_assert(strstr(tsl_error_message(), "job 0"));
    job.source = 0;
    src.offset = 2;
    ck_assert_int_eq(tsl_augment_pack(&src, 1, &job, 1, &rec), TSL_ERR_INVALID_ARG);
    src.offset = 0;
    job.sample.jitter = 1;
    job.sample.order[2] = 0;
    ck_assert_int_eq(tsl_augment_pack(&src, 1, &job, 1, &rec), TSL_ERR_INVALID_ARG);
    ck_assert(strstr(tsl_error_message(), "permutation"));
    job.sample = identity_sample();
    TSL_TEST_OK(tsl_augment_pack(&src, 1, &job, 1, &rec));

    tsl_vk_device *dev = tsl_test_device_open();
    tsl_vk_buffer images = tsl_test_alloc(dev, TSL_MEM_DEVICE, 48, "images");
    tsl_vk_buffer params = tsl_test_alloc(dev, TSL_MEM_DEVICE, 64, "params");
    tsl_vk_buffer small = tsl_test_alloc(dev, TSL_MEM_DEVICE, 16, "small");
    tsl_augment_output out;
    tsl_augment_output_default(&out, 2);
    tsl_vk_cmd *cmd;
    TSL_TEST_OK(tsl_vk_cmd_create(dev, &cmd));
    TSL_TEST_OK(tsl_vk_cmd_begin(cmd));
    tsl_status st = tsl_augment_record_batch(dev, cmd, &out, &rec, 1, images.range, params.range, small.range,
                                             small.range);
    ck_assert_int_eq(st, TSL_ERR_INVALID_ARG);
    ck_assert(strstr(tsl_error_message(), "augment: output"));
    rec.crop_height = 5;
    tsl_augment_output_default(&out, 1);
    st = tsl_augment_record_batch(dev, cmd, &out, &rec, 1, images.range, params.range, small.range,
                                  small.range);
    ck_assert_int_eq(st, TSL_ERR_INVALID_ARG);
    ck_assert(strstr(tsl_error_message(), "leaves its"));
    TSL_TEST_OK(tsl_vk_cmd_submit_wait(cmd));
    tsl_vk_cmd_destroy(cmd);
    tsl_vk_free(dev, &images);
    tsl_vk_free(dev, &params);
    tsl_vk_free(dev, &small);
    tsl_test_device_close(dev);
}
END_TEST

int main(void) {
    Suite *s = suite_create("augment");
    TCase *tc = tcase_create("augment");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, sampler_rates_and_ranges);
    tcase_add_test(tc, sampler_crop_matches_torchvision_fallback);
    tcase_add_test(tc, sampler_pairing_and_determinism);
    tcase_add_test(tc, gpu_resize_bilinear);
    tcase_add_test(tc, gpu_resize_bicubic);
    tcase_add_test(tc, gpu_jitter_each_op);
    tcase_add_test(tc, gpu_jitter_orders);
    tcase_add_test(tc, gpu_gray_blur);
    tcase_add_test(tc, gpu_solarize_normalize);
    tcase_add_test(tc, gpu_whole_chain_tessl_batch);
    tcase_add_test(tc, gpu_fp16_output);
    tcase_add_test(tc, gpu_chunked_batch);
    tcase_add_test(tc, gpu_matches_torchvision_fixtures);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
