/* pipeline/: resize filter vs a double reference, round trip synth -> shard -> reader, every kind of bad
 * input, corruption detection, hostile headers, and resume. */
#include "tsl_crc32.h"
#include "tsl_file.h"
#include "tsl_image_decode.h"
#include "tsl_image_folder.h"
#include "tsl_resize.h"
#include "tsl_shard_build.h"
#include "tsl_pixel_filter.h"
#include "tsl_shard_reader.h"
#include "tsl_shard_writer.h"
#include "tsl_synth.h"
#include "tsl_test.h"

#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>
#include <zlib.h>

/* ---- helpers ------------------------------------------------------------------------------------- */

static char *join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    ck_assert(s != NULL);
    snprintf(s, n, "%s/%s", a, b);
    return s;
}

static void write_file(const char *dir, const char *name, const void *data, size_t size) {
    char *path = join(dir, name);
    TSL_TEST_OK(tsl_write_file_atomic(path, data, size));
    free(path);
}

/* Encodes `pixels` (pixel format `pf`) as a JPEG; caller tjFree()s. */
static unsigned char *make_jpeg(const uint8_t *pixels, int w, int h, int pf, int subsamp,
                                unsigned long *size) {
    tjhandle tj = tjInitCompress();
    ck_assert(tj != NULL);
    unsigned char *jpeg = NULL;
    *size = 0;
    ck_assert_msg(tjCompress2(tj, pixels, w, 0, h, pf, &jpeg, size, subsamp, 100, 0) == 0, "tjCompress2: %s",
                  tjGetErrorStr2(tj));
    tjDestroy(tj);
    return jpeg;
}

static uint8_t *random_rgb(tsl_test_rng *rng, int w, int h) {
    uint8_t *p = malloc((size_t)w * h * 3);
    ck_assert(p != NULL);
    for (size_t i = 0; i < (size_t)w * h * 3; i++)
        p[i] = (uint8_t)(tsl_test_rng_u64(rng) & 0xFF);
    return p;
}

/* A smooth image (gradients), which JPEG at quality 100 reproduces within a few levels. */
static uint8_t *smooth_rgb(int w, int h) {
    uint8_t *p = malloc((size_t)w * h * 3);
    ck_assert(p != NULL);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            p[(y * w + x) * 3 + 0] = (uint8_t)(40 + 160 * x / w);
            p[(y * w + x) * 3 + 1] = (uint8_t)(200 - 150 * y / h);
            p[(y * w + x) * 3 + 2] = (uint8_t)(90 + 60 * (x + y) / (w + h));
        }
    return p;
}

static tsl_shard_summary run_shard_stored(const char *src, const char *out, int short_side, int shard_size,
                                          int level, bool filter) {
    tsl_shard_options o;
    tsl_shard_options_default(&o);
    o.level = level;
    o.filter = filter;
    o.src_dir = src;
    o.out_dir = out;
    o.target = (tsl_resize_target){.short_side = short_side};
    o.threads = 2;
    o.shard_size = shard_size;
    tsl_shard_summary s;
    TSL_TEST_OK(tsl_shard_build(&o, &s));
    return s;
}

static tsl_shard_summary run_shard(const char *src, const char *out, int short_side, int shard_size) {
    tsl_shard_options o;
    tsl_shard_options_default(&o);
    return run_shard_stored(src, out, short_side, shard_size, o.level, o.filter);
}

static void write_synth(const char *dir, int classes, int per_class, int val_per_class, int size) {
    tsl_synth_options o;
    tsl_synth_options_default(&o);
    o.out_dir = dir;
    o.classes = classes;
    o.per_class = per_class;
    o.val_per_class = val_per_class;
    o.size = size;
    o.seed = 11;
    TSL_TEST_OK(tsl_synth_write(&o));
}

static char *shard_file(const char *out, const char *split, int index) {
    char name[64];
    snprintf(name, sizeof name, "%s%sshard-%05d.tss", split, split[0] ? "/" : "", index);
    return join(out, name);
}

/* ---- resize ------------------------------------------------------------------------------------- */

/* The filter in double precision, written independently of the float implementation's tap tables:
 * out(x, y) = sum_j sum_i wy(y, j) * wx(x, i) * in(i, j), each axis' weights a triangle of half-width
 * max(1, in/out) centred at (o + 0.5) * in / out - 0.5 and normalised over the pixels inside the image. */
static double axis_weight(int out_size, int in_size, int o, int i, double *norm) {
    double scale = (double)in_size / out_size, fs = scale > 1 ? scale : 1, c = (o + 0.5) * scale;
    double sum = 0, mine = 0;
    for (int j = 0; j < in_size; j++) {
        double lo = floor(c - fs + 0.5), hi = floor(c + fs + 0.5);
        double t = (j >= lo && j < hi) ? fmax(0, 1 - fabs((j + 0.5 - c) / fs)) : 0;
        sum += t;
        if (j == i)
            mine = t;
    }
    *norm = sum;
    return mine;
}

static void resize_reference(const uint8_t *src, int sw, int sh, double *dst, int dw, int dh) {
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++)
            for (int c = 0; c < 3; c++) {
                double acc = 0;
                for (int j = 0; j < sh; j++) {
                    double ny, wy = axis_weight(dh, sh, y, j, &ny);
                    if (wy == 0)
                        continue;
                    for (int i = 0; i < sw; i++) {
                        double nx, wx = axis_weight(dw, sw, x, i, &nx);
                        acc += (wy / ny) * (wx / nx) * src[(j * sw + i) * 3 + c];
                    }
                }
                dst[(y * dw + x) * 3 + c] = acc;
            }
}

START_TEST(resize_matches_double_reference) {
    uint64_t seed = tsl_test_seed("resize_matches_double_reference");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    /* Shrinks by odd and large factors, an enlargement, a single row and a 1x1 output. */
    /* 40x30 -> 17x13: rows long enough for the 16-byte SIMD loops, with remainders. */
    const int cases[][4] = {{13, 7, 5, 3}, {37, 29, 8, 6},  {7, 13, 20, 11}, {31, 1, 4, 1},
                            {9, 9, 1, 1},  {16, 12, 16, 5}, {40, 30, 17, 13}};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        int sw = cases[t][0], sh = cases[t][1], dw = cases[t][2], dh = cases[t][3];
        uint8_t *src = random_rgb(&rng, sw, sh), *got = malloc((size_t)dw * dh * 3);
        double *want = malloc(sizeof(double) * dw * dh * 3);
        resize_reference(src, sw, sh, want, dw, dh);
        for (int path = TSL_RESIZE_PATH_C; path <= TSL_RESIZE_PATH_AVX2; path++) {
            if (!tsl_resize_path_available((tsl_resize_path)path))
                continue;
            memset(got, 0xAB, (size_t)dw * dh * 3);
            TSL_TEST_OK(tsl_resize_rgb8_with((tsl_resize_path)path, src, sw, sh, got, dw, dh));
            /* The float filter accumulates at most a few hundred products of values <= 255 with weights
             * summing to 1 (error < 1e-3), then rounds once: every output is within 0.5 + 1e-3 of the
             * exact value, i.e. it is the exactly rounded result except at near-ties. */
            for (int i = 0; i < dw * dh * 3; i++)
                ck_assert_msg(fabs(got[i] - want[i]) <= 0.5 + 1e-3,
                              "seed %llu, path %d, %dx%d -> %dx%d: element %d is %u, reference %.4f",
                              (unsigned long long)seed, path, sw, sh, dw, dh, i, got[i], want[i]);
        }
        free(src);
        free(got);
        free(want);
    }
}
END_TEST

/* Every code path the CPU has gives the same bytes as plain C: they add the same products in the same
 * order (tsl_resize.c), so this is exact. Sizes too large for the double reference: ImageNet's usual
 * 500x375 to a short side of 256, odd widths (the AVX2 path's last single pixel), enlargement. */
START_TEST(resize_paths_give_the_same_bytes) {
    uint64_t seed = tsl_test_seed("resize_paths_give_the_same_bytes");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    const int cases[][4] = {{500, 375, 341, 256}, {375, 500, 256, 341}, {123, 77, 61, 39},
                            {31, 17, 64, 41},     {2000, 9, 7, 3},      {6, 40, 3, 5}};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        int sw = cases[t][0], sh = cases[t][1], dw = cases[t][2], dh = cases[t][3];
        size_t n = (size_t)dw * dh * 3;
        uint8_t *src = random_rgb(&rng, sw, sh), *want = malloc(n), *got = malloc(n);
        TSL_TEST_OK(tsl_resize_rgb8_with(TSL_RESIZE_PATH_C, src, sw, sh, want, dw, dh));
        for (int path = TSL_RESIZE_PATH_SSE2; path <= TSL_RESIZE_PATH_AVX2; path++) {
            if (!tsl_resize_path_available((tsl_resize_path)path)) {
                fprintf(stderr, "resize path %d not available on this CPU: not compared\n", path);
                continue;
            }
            memset(got, 0xAB, n);
            TSL_TEST_OK(tsl_resize_rgb8_with((tsl_resize_path)path, src, sw, sh, got, dw, dh));
            for (size_t i = 0; i < n; i++)
                ck_assert_msg(got[i] == want[i],
                              "seed %llu, path %d, %dx%d -> %dx%d: byte %zu is %u, C gives %u",
                              (unsigned long long)seed, path, sw, sh, dw, dh, i, got[i], want[i]);
        }
        free(src);
        free(want);
        free(got);
    }
}
END_TEST

START_TEST(output_size_keeps_aspect_and_never_enlarges) {
    int w, h;
    tsl_resize_output_size(&(tsl_resize_target){.short_side = 256}, 500, 375, &w, &h);
    ck_assert_int_eq(w, 341); /* torchvision: int(256 * 500 / 375) */
    ck_assert_int_eq(h, 256);
    tsl_resize_output_size(&(tsl_resize_target){.short_side = 256}, 375, 500, &w, &h);
    ck_assert_int_eq(w, 256);
    ck_assert_int_eq(h, 341);
    tsl_resize_output_size(&(tsl_resize_target){.short_side = 256}, 200, 900, &w, &h);
    ck_assert_int_eq(w, 200);
    ck_assert_int_eq(h, 900);
    tsl_resize_output_size(&(tsl_resize_target){.max_side = 100}, 500, 375, &w, &h);
    ck_assert_int_eq(w, 100);
    ck_assert_int_eq(h, 75);
    tsl_resize_output_size(&(tsl_resize_target){.short_side = 8}, 10000, 9, &w, &h);
    ck_assert_int_eq(w, 8888);
    ck_assert_int_eq(h, 8);
}
END_TEST

/* ---- round trip ---------------------------------------------------------------------------------- */

/* Every record of every shard of `split` equals decoding + resizing its source file with the same code. */
static void check_round_trip(const char *src_root, const char *out_root, const char *split, int short_side,
                             int shard_size, uint32_t compression) {
    char *src = join(src_root, split), *out = join(out_root, split);
    tsl_image_folder f;
    TSL_TEST_OK(tsl_image_folder_scan(src, &f));
    tsl_resize_target target = {.short_side = short_side};
    size_t item = 0;
    for (int s = 0; item < f.n_items; s++) {
        char *path = shard_file(out, "", s);
        tsl_shard_reader *r = NULL;
        TSL_TEST_OK(tsl_shard_reader_open(path, &r));
        const tsl_shard_header *h = tsl_shard_reader_header(r);
        ck_assert_uint_eq(h->compression, compression);
        ck_assert_uint_eq(h->class_count, f.n_classes);
        for (uint32_t k = 0; k < f.n_classes; k++)
            ck_assert_str_eq(tsl_shard_reader_class_name(r, k), f.class_names[k]);
        ck_assert_uint_eq(
            h->record_count,
            (uint32_t)(f.n_items - item < (size_t)shard_size ? f.n_items - item : (size_t)shard_size));
        for (uint32_t i = 0; i < h->record_count; i++, item++) {
            const tsl_shard_index_entry *e = tsl_shard_reader_entry(r, i);
            ck_assert_uint_eq(e->label, f.items[item].label);
            void *data;
            size_t size;
            TSL_TEST_OK(tsl_read_file(f.items[item].path, 1 << 24, &data, &size));
            tsl_image want;
            TSL_TEST_OK(tsl_image_decode(data, size, &target, &want));
            int lo = want.width < want.height ? want.width : want.height;
            ck_assert_int_eq(lo, short_side);
            ck_assert_uint_eq(e->width, (uint32_t)want.width);
            ck_assert_uint_eq(e->height, (uint32_t)want.height);
            uint8_t *got = NULL;
            TSL_TEST_OK(tsl_shard_reader_read_pixels(r, i, &got));
            ck_assert_msg(memcmp(got, want.rgb, (size_t)want.width * want.height * 3) == 0,
                          "%s record %u differs from %s decoded and resized", path, i, f.items[item].path);
            free(got);
            free(want.rgb);
            free(data);
        }
        tsl_shard_reader_close(r);
        free(path);
    }
    tsl_image_folder_free(&f);
    free(src);
    free(out);
}

START_TEST(round_trip_gives_the_decoded_resized_pixels) {
    char *src = tsl_test_temp_dir("rt_src"), *out = tsl_test_temp_dir("rt_out");
    /* Sources 64..96 px shrunk to a short side of 16: exercises the 1/4 DCT scale plus the filter. */
    write_synth(src, 3, 5, 2, 64);
    /* Every stored form: zstd of differences from the row above, zstd of the pixels, both also at a
     * negative level (fast matching, Huffman-coded literals: the default level), and the pixels
     * uncompressed (level 0). */
    const struct {
        int level;
        bool filter;
        uint32_t compression;
    } forms[] = {{1, true, TSL_SHARD_ZSTD_UP},
                 {1, false, TSL_SHARD_ZSTD},
                 {-3, true, TSL_SHARD_ZSTD_UP},
                 {-7, false, TSL_SHARD_ZSTD},
                 {0, true, TSL_SHARD_RAW}};
    for (size_t k = 0; k < sizeof forms / sizeof forms[0]; k++) {
        tsl_test_remove_tree(out);
        tsl_shard_summary s = run_shard_stored(src, out, 16, 4, forms[k].level, forms[k].filter);
        ck_assert_uint_eq(s.inputs, 21);
        ck_assert_uint_eq(s.written, 21);
        ck_assert_uint_eq(s.skipped, 0);
        ck_assert_uint_eq(s.shards_written, 4 + 2);
        check_round_trip(src, out, "train", 16, 4, forms[k].compression);
        check_round_trip(src, out, "val", 16, 4, forms[k].compression);
    }
    tsl_test_remove_tree(src);
    tsl_test_remove_tree(out);
    free(src);
    free(out);
}
END_TEST

/* tsl_crc32 (folded with PCLMULQDQ where the CPU has it) equals zlib's crc32 on every length from 0 to
 * 600 bytes, at every alignment mod 16, and when continued across two calls. */
START_TEST(crc32_matches_zlib) {
    uint64_t seed = tsl_test_seed("crc32_matches_zlib");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    enum { MAX = 600, SLACK = 16 };
    uint8_t *buf = malloc(MAX + SLACK);
    ck_assert(buf);
    for (size_t i = 0; i < MAX + SLACK; i++)
        buf[i] = (uint8_t)tsl_test_rng_u64(&rng);
    for (size_t n = 0; n <= MAX; n++)
        for (size_t a = 0; a < SLACK; a += n < 128 ? 1 : 5) {
            uint32_t want = (uint32_t)crc32_z(0, buf + a, n), cut = (uint32_t)(n * 7 / 11);
            ck_assert_msg(tsl_crc32(0, buf + a, n) == want, "seed %llu: %zu bytes at offset %zu",
                          (unsigned long long)seed, n, a);
            ck_assert_msg(tsl_crc32(tsl_crc32(0, buf + a, cut), buf + a + cut, n - cut) == want,
                          "seed %llu: %zu bytes at offset %zu, split at %u", (unsigned long long)seed, n, a,
                          cut);
        }
    free(buf);
}
END_TEST

/* The filter stores each byte minus the byte above it (mod 256), the first row as is, and unfiltering
 * gives back every byte; odd widths, width 1, height 1, all byte values. */
START_TEST(up_filter_is_documented_and_lossless) {
    uint64_t seed = tsl_test_seed("up_filter");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    const uint32_t widths[] = {1, 2, 3, 7, 13, 64}, heights[] = {1, 5};
    for (size_t a = 0; a < 6; a++)
        for (size_t b = 0; b < 2; b++) {
            uint32_t w = widths[a], h = heights[b];
            size_t n = (size_t)w * h * 3;
            uint8_t *rgb = malloc(n), *f = malloc(n);
            ck_assert(rgb && f);
            for (size_t i = 0; i < n; i++)
                rgb[i] = (uint8_t)tsl_test_rng_u64(&rng);
            tsl_pixel_filter_up(rgb, w, h, f);
            for (uint32_t y = 0; y < h; y++)
                for (uint32_t x = 0; x < w * 3; x++) {
                    size_t i = (size_t)y * w * 3 + x;
                    uint8_t want = y == 0 ? rgb[i] : (uint8_t)(rgb[i] - rgb[i - (size_t)w * 3]);
                    ck_assert_msg(f[i] == want, "seed %llu: %ux%u byte %zu", (unsigned long long)seed, w, h,
                                  i);
                }
            tsl_pixel_unfilter_up(f, w, h);
            ck_assert_msg(memcmp(f, rgb, n) == 0, "seed %llu: %ux%u not restored", (unsigned long long)seed,
                          w, h);
            free(rgb);
            free(f);
        }
}
END_TEST

/* ---- bad inputs ---------------------------------------------------------------------------------- */

static unsigned char *make_png(const uint8_t *rgb, int w, int h, size_t *size) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = PNG_FORMAT_RGB;
    png_alloc_size_t n = 0;
    ck_assert(png_image_write_to_memory(&img, NULL, &n, 0, rgb, 0, NULL));
    unsigned char *buf = malloc(n);
    ck_assert(png_image_write_to_memory(&img, buf, &n, 0, rgb, 0, NULL));
    *size = n;
    return buf;
}

/* Patches the first SOF0..SOF2 segment's height and width. */
static void patch_sof(unsigned char *jpeg, unsigned long size, int w, int h) {
    for (unsigned long i = 2; i + 9 < size; i++)
        if (jpeg[i] == 0xFF && jpeg[i + 1] >= 0xC0 && jpeg[i + 1] <= 0xC2) {
            jpeg[i + 5] = (unsigned char)(h >> 8);
            jpeg[i + 6] = (unsigned char)h;
            jpeg[i + 7] = (unsigned char)(w >> 8);
            jpeg[i + 8] = (unsigned char)w;
            return;
        }
    ck_abort_msg("no SOF marker in the test JPEG");
}

static const tsl_shard_index_entry *find_record(tsl_shard_reader *r, uint32_t n, uint32_t *index, uint32_t w,
                                                uint32_t h) {
    for (uint32_t i = 0; i < n; i++)
        if (tsl_shard_reader_entry(r, i)->width == w && tsl_shard_reader_entry(r, i)->height == h) {
            *index = i;
            return tsl_shard_reader_entry(r, i);
        }
    ck_abort_msg("no %ux%u record", w, h);
    return NULL;
}

START_TEST(bad_inputs_convert_or_are_reported) {
    char *src = tsl_test_temp_dir("bad_src"), *out = tsl_test_temp_dir("bad_out");
    char *cls = join(src, "things");
    TSL_TEST_OK(tsl_mkdirs(cls));
    /* Distinct sizes identify the converted records in the shard. */
    uint8_t *rgb = smooth_rgb(24, 20);
    unsigned long n;
    unsigned char *good = make_jpeg(rgb, 24, 20, TJPF_RGB, TJSAMP_444, &n);
    write_file(cls, "a_good.JPEG", good, n);
    write_file(cls, "b_cut_in_headers.JPEG", good, 100);
    tsl_test_rng rng = tsl_test_rng_new(7);
    uint8_t *noise = random_rgb(&rng, 64, 48); /* noise: mostly entropy-coded data, cut in the middle */
    unsigned long noise_size;
    unsigned char *noise_jpeg = make_jpeg(noise, 64, 48, TJPF_RGB, TJSAMP_444, &noise_size);
    write_file(cls, "b_truncated.JPEG", noise_jpeg, noise_size * 3 / 4);
    tjFree(noise_jpeg);
    free(noise);
    write_file(cls, "c_empty.JPEG", "", 0);
    write_file(cls, "d_text.JPEG", "hello, not an image\n", 20);
    patch_sof(good, n, 60000, 60000); /* SOF holds 16-bit sides: 65535 at most */
    write_file(cls, "e_bomb.JPEG", good, n);
    tjFree(good);

    uint8_t *png_rgb = smooth_rgb(18, 11);
    size_t png_size;
    unsigned char *png = make_png(png_rgb, 18, 11, &png_size);
    write_file(cls, "f_png.JPEG", png, png_size);
    free(png);

    /* CMYK in TurboJPEG's (Adobe, inverted) convention: rgb = c * k / 255 with k = max(r, g, b). */
    uint8_t *cmyk_rgb = smooth_rgb(16, 13), *cmyk = malloc(16 * 13 * 4);
    for (int i = 0; i < 16 * 13; i++) {
        const uint8_t *p = cmyk_rgb + 3 * i;
        int k = p[0] > p[1] ? (p[0] > p[2] ? p[0] : p[2]) : (p[1] > p[2] ? p[1] : p[2]);
        for (int c = 0; c < 3; c++)
            cmyk[4 * i + c] = (uint8_t)(k ? (p[c] * 255 + k / 2) / k : 255);
        cmyk[4 * i + 3] = (uint8_t)k;
    }
    unsigned char *cmyk_jpeg = make_jpeg(cmyk, 16, 13, TJPF_CMYK, TJSAMP_444, &n);
    write_file(cls, "g_cmyk.JPEG", cmyk_jpeg, n);
    tjFree(cmyk_jpeg);

    uint8_t gray[15 * 9];
    for (int i = 0; i < 15 * 9; i++)
        gray[i] = (uint8_t)(30 + i);
    unsigned char *gray_jpeg = make_jpeg(gray, 15, 9, TJPF_GRAY, TJSAMP_GRAY, &n);
    write_file(cls, "h_gray.JPEG", gray_jpeg, n);
    tjFree(gray_jpeg);

    /* Unreadable: a dangling symbolic link (a chmod 000 file would still be readable by root). */
    char *dangling = join(cls, "i_unreadable.JPEG");
    ck_assert(symlink("/nonexistent/tessl/file.JPEG", dangling) == 0);
    free(dangling);

    tsl_shard_summary s = run_shard(src, out, 256, 64);
    ck_assert_uint_eq(s.inputs, 10);
    ck_assert_uint_eq(s.written, 4);
    ck_assert_uint_eq(s.skipped, 6);

    char *report_path = join(out, "report.txt");
    void *report;
    size_t report_size;
    TSL_TEST_OK(tsl_read_file(report_path, 1 << 20, &report, &report_size));
    char *text = realloc(report, report_size + 1);
    text[report_size] = '\0';
    const char *expected[][2] = {{"b_truncated.JPEG: truncated JPEG", "truncated"},
                                 {"b_cut_in_headers.JPEG: JPEG header is cut short", "cut"},
                                 {"c_empty.JPEG: empty file", "empty"},
                                 {"d_text.JPEG: not a JPEG or PNG", "text"},
                                 {"e_bomb.JPEG: JPEG header claims 60000x60000", "bomb"},
                                 {"i_unreadable.JPEG: opening", "unreadable"}};
    for (int i = 0; i < 6; i++)
        ck_assert_msg(strstr(text, expected[i][0]), "report lacks the %s file ('%s'):\n%s", expected[i][1],
                      expected[i][0], text);
    ck_assert_msg(!strstr(text, "a_good") && !strstr(text, "f_png") && !strstr(text, "g_cmyk") &&
                      !strstr(text, "h_gray"),
                  "report lists a convertible file:\n%s", text);
    free(text);
    free(report_path);

    char *shard = shard_file(out, "", 0);
    tsl_shard_reader *r = NULL;
    TSL_TEST_OK(tsl_shard_reader_open(shard, &r));
    uint32_t count = tsl_shard_reader_header(r)->record_count, idx;
    ck_assert_uint_eq(count, 4);
    uint8_t *px;
    /* PNG is lossless and not resized: exact. */
    find_record(r, count, &idx, 18, 11);
    TSL_TEST_OK(tsl_shard_reader_read_pixels(r, idx, &px));
    ck_assert(memcmp(px, png_rgb, 18 * 11 * 3) == 0);
    free(px);
    /* Grayscale: R = G = B, within JPEG's rounding of the source (quality 100). */
    find_record(r, count, &idx, 15, 9);
    TSL_TEST_OK(tsl_shard_reader_read_pixels(r, idx, &px));
    for (int i = 0; i < 15 * 9; i++) {
        ck_assert(px[3 * i] == px[3 * i + 1] && px[3 * i] == px[3 * i + 2]);
        ck_assert_msg(abs(px[3 * i] - gray[i]) <= 2, "gray pixel %d: %u vs %u", i, px[3 * i], gray[i]);
    }
    free(px);
    /* CMYK: back to the RGB it was made from. Quality-100 4:4:4 YCCK JPEG of a smooth image plus the
     * c*k/255 product rounding stays within a few levels; 6 leaves room for the k multiplication
     * amplifying JPEG error in c. */
    find_record(r, count, &idx, 16, 13);
    TSL_TEST_OK(tsl_shard_reader_read_pixels(r, idx, &px));
    for (int i = 0; i < 16 * 13 * 3; i++)
        ck_assert_msg(abs(px[i] - cmyk_rgb[i]) <= 6, "cmyk element %d: %u vs %u", i, px[i], cmyk_rgb[i]);
    free(px);
    tsl_shard_reader_close(r);
    free(shard);
    free(rgb);
    free(png_rgb);
    free(cmyk_rgb);
    free(cmyk);
    free(cls);
    tsl_test_remove_tree(src);
    tsl_test_remove_tree(out);
    free(src);
    free(out);
}
END_TEST

/* ---- corruption and hostile files ---------------------------------------------------------------- */

static void flip_byte(const char *path, uint64_t offset) {
    FILE *f = fopen(path, "r+b");
    ck_assert(f != NULL);
    ck_assert(fseek(f, (long)offset, SEEK_SET) == 0);
    int c = fgetc(f);
    ck_assert(c != EOF);
    ck_assert(fseek(f, (long)offset, SEEK_SET) == 0);
    fputc(c ^ 0x40, f);
    fclose(f);
}

static void copy_file(const char *from, const char *to) {
    void *data;
    size_t size;
    TSL_TEST_OK(tsl_read_file(from, 1 << 26, &data, &size));
    TSL_TEST_OK(tsl_write_file_atomic(to, data, size));
    free(data);
}

static void expect_open_error(const char *path, tsl_status code, const char *fragment) {
    tsl_shard_reader *r = NULL;
    tsl_status st = tsl_shard_reader_open(path, &r);
    ck_assert_msg(st == code, "opening %s gave %s (%s), expected %s", path, tsl_status_name(st),
                  tsl_error_message(), tsl_status_name(code));
    ck_assert_msg(strstr(tsl_error_message(), fragment) && strstr(tsl_error_message(), path),
                  "message '%s' lacks '%s' or the path", tsl_error_message(), fragment);
    ck_assert(r == NULL);
}

/* A zstd shard relabelled as uncompressed (checksums recomputed): its records' sizes are not their pixel
 * counts, which the reader must refuse at open, naming the record, before trusting any size. */
START_TEST(uncompressed_records_must_hold_their_pixels) {
    char *dir = tsl_test_temp_dir("raw_sizes");
    char *path = join(dir, "r.tss");
    char *names[1] = {"c"};
    uint8_t rgb[4 * 4 * 3] = {0};
    tsl_shard_compressor *c;
    TSL_TEST_OK(tsl_shard_compressor_create(TSL_SHARD_ZSTD, 1, &c));
    void *stored;
    size_t stored_size;
    TSL_TEST_OK(tsl_shard_compress(c, rgb, 4, 4, &stored, &stored_size));
    tsl_shard_compressor_destroy(c);
    tsl_shard_writer *w;
    TSL_TEST_OK(tsl_shard_writer_open(path, 0, TSL_SHARD_ZSTD, 1, names, 1, &w));
    TSL_TEST_OK(tsl_shard_writer_add(w, stored, stored_size, 0, 4, 4));
    TSL_TEST_OK(tsl_shard_writer_finish(w));
    void *data;
    size_t size;
    TSL_TEST_OK(tsl_read_file(path, 1 << 20, &data, &size));
    tsl_shard_header h;
    ck_assert_ptr_null(tsl_shard_header_decode(data, &h));
    h.compression = TSL_SHARD_RAW;
    tsl_shard_header_encode(&h, data);
    TSL_TEST_OK(tsl_write_file_atomic(path, data, size));
    expect_open_error(path, TSL_ERR_FORMAT, "record 0:");
    /* The writer refuses to make such a shard in the first place. */
    TSL_TEST_OK(tsl_shard_writer_open(path, 0, TSL_SHARD_RAW, 1, names, 1, &w));
    ck_assert_int_eq(tsl_shard_writer_add(w, stored, stored_size, 0, 4, 4), TSL_ERR_INVALID_ARG);
    tsl_shard_writer_abort(w);
    free(stored);
    free(data);
    tsl_test_remove_tree(dir);
    free(path);
    free(dir);
}
END_TEST

START_TEST(corruption_is_detected_and_named) {
    char *src = tsl_test_temp_dir("cor_src"), *out = tsl_test_temp_dir("cor_out");
    write_synth(src, 2, 3, 0, 24);
    run_shard(src, out, 24, 8);
    char *good = shard_file(out, "train", 0), *bad = join(out, "bad.tss");

    /* A flipped byte inside record 2's data: the shard opens, record 2 fails, the others pass. */
    copy_file(good, bad);
    tsl_shard_reader *r = NULL;
    TSL_TEST_OK(tsl_shard_reader_open(bad, &r));
    uint64_t at = tsl_shard_reader_entry(r, 2)->offset + tsl_shard_reader_entry(r, 2)->stored_size / 2;
    uint32_t count = tsl_shard_reader_header(r)->record_count;
    tsl_shard_reader_close(r);
    flip_byte(bad, at);
    TSL_TEST_OK(tsl_shard_reader_open(bad, &r));
    for (uint32_t i = 0; i < count; i++) {
        tsl_status st = tsl_shard_reader_verify_record(r, i);
        if (i != 2) {
            TSL_TEST_OK(st);
            continue;
        }
        ck_assert_int_eq(st, TSL_ERR_CORRUPT);
        ck_assert_msg(strstr(tsl_error_message(), bad) && strstr(tsl_error_message(), "record 2:"),
                      "message '%s' does not name the shard and record", tsl_error_message());
        uint8_t *px = NULL;
        ck_assert_int_eq(tsl_shard_reader_read_pixels(r, 2, &px), TSL_ERR_CORRUPT);
        ck_assert(px == NULL);
    }
    tsl_shard_reader_close(r);

    /* Header byte, index byte, truncation. */
    copy_file(good, bad);
    flip_byte(bad, 20);
    expect_open_error(bad, TSL_ERR_CORRUPT, "header checksum");
    copy_file(good, bad);
    TSL_TEST_OK(tsl_shard_reader_open(bad, &r));
    uint64_t index_offset = tsl_shard_reader_header(r)->index_offset;
    tsl_shard_reader_close(r);
    flip_byte(bad, index_offset + 33);
    expect_open_error(bad, TSL_ERR_CORRUPT, "index/class table checksum");
    copy_file(good, bad);
    ck_assert(truncate(bad, (off_t)index_offset + 5) == 0);
    expect_open_error(bad, TSL_ERR_FORMAT, "truncated");
    ck_assert(truncate(bad, 10) == 0);
    expect_open_error(bad, TSL_ERR_FORMAT, "shorter than a shard header");
    free(good);
    free(bad);
    tsl_test_remove_tree(src);
    tsl_test_remove_tree(out);
    free(src);
    free(out);
}
END_TEST

/* A header with a valid checksum but absurd counts must be refused before anything is allocated. */
START_TEST(hostile_header_fields_are_refused) {
    char *dir = tsl_test_temp_dir("hostile");
    char *path = join(dir, "h.tss");
    const char *name = "x";
    uint8_t file[TSL_SHARD_HEADER_SIZE + 3];
    tsl_shard_header h = {.version = TSL_SHARD_VERSION,
                          .header_size = TSL_SHARD_HEADER_SIZE,
                          .record_count = 0xFFFFFFFFu,
                          .class_count = 1,
                          .pixel_format = TSL_SHARD_PIXEL_RGB8,
                          .compression = TSL_SHARD_ZSTD,
                          .index_offset = TSL_SHARD_HEADER_SIZE,
                          .class_table_offset = TSL_SHARD_HEADER_SIZE + 0xFFFFFFFFull * 32,
                          .file_size = sizeof file};
    tsl_le_put_u16(file + TSL_SHARD_HEADER_SIZE, 1);
    memcpy(file + TSL_SHARD_HEADER_SIZE + 2, name, 1);
    tsl_shard_header_encode(&h, file);
    TSL_TEST_OK(tsl_write_file_atomic(path, file, sizeof file));
    expect_open_error(path, TSL_ERR_FORMAT, "record count");

    h.record_count = 0;
    h.class_table_offset = TSL_SHARD_HEADER_SIZE;
    h.class_count = 0x7FFFFFFF;
    tsl_shard_header_encode(&h, file);
    TSL_TEST_OK(tsl_write_file_atomic(path, file, sizeof file));
    expect_open_error(path, TSL_ERR_FORMAT, "class count");

    /* A well-formed empty shard with one class opens. */
    h.class_count = 1;
    h.table_crc32 = tsl_crc32(0, file + TSL_SHARD_HEADER_SIZE, 3);
    tsl_shard_header_encode(&h, file);
    TSL_TEST_OK(tsl_write_file_atomic(path, file, sizeof file));
    tsl_shard_reader *r = NULL;
    TSL_TEST_OK(tsl_shard_reader_open(path, &r));
    ck_assert_str_eq(tsl_shard_reader_class_name(r, 0), "x");
    tsl_shard_reader_close(r);
    tsl_test_remove_tree(dir);
    free(path);
    free(dir);
}
END_TEST

/* ---- resume --------------------------------------------------------------------------------------- */

static void shard_inodes(const char *out, int n, ino_t *inodes) {
    for (int i = 0; i < n; i++) {
        char *path = shard_file(out, "train", i);
        struct stat sb;
        ck_assert_msg(stat(path, &sb) == 0, "%s missing", path);
        inodes[i] = sb.st_ino;
        free(path);
    }
}

START_TEST(second_run_keeps_complete_shards) {
    char *src = tsl_test_temp_dir("res_src"), *out = tsl_test_temp_dir("res_out");
    write_synth(src, 2, 5, 0, 24);
    tsl_shard_summary s = run_shard(src, out, 16, 4);
    ck_assert_uint_eq(s.shards_written, 3);
    ino_t before[3], after[3];
    shard_inodes(out, 3, before);

    /* Every shard is complete and made from the same inputs: nothing is rewritten (atomic writes
     * would give a new inode). */
    s = run_shard(src, out, 16, 4);
    ck_assert_uint_eq(s.shards_written, 0);
    ck_assert_uint_eq(s.shards_resumed, 3);
    ck_assert_uint_eq(s.resumed_records, 10);
    shard_inodes(out, 3, after);
    for (int i = 0; i < 3; i++)
        ck_assert_msg(before[i] == after[i], "shard %d was rewritten", i);

    /* A killed run: one shard missing, a stale temporary beside it. Only that shard is written. */
    char *missing = shard_file(out, "train", 1), *stale = join(out, "train/shard-00001.tss.tmp.99999");
    ck_assert(unlink(missing) == 0);
    write_file(out, "train/shard-00001.tss.tmp.99999", "partial", 7);
    s = run_shard(src, out, 16, 4);
    ck_assert_uint_eq(s.shards_written, 1);
    ck_assert_uint_eq(s.shards_resumed, 2);
    ck_assert_int_eq(access(stale, F_OK), -1);
    shard_inodes(out, 3, after);
    ck_assert(before[0] == after[0] && before[2] == after[2]);

    /* A shard with a corrupted record is not complete: it is rewritten. */
    char *damaged = shard_file(out, "train", 2);
    tsl_shard_reader *r = NULL;
    TSL_TEST_OK(tsl_shard_reader_open(damaged, &r));
    flip_byte(damaged, tsl_shard_reader_entry(r, 1)->offset);
    tsl_shard_reader_close(r);
    s = run_shard(src, out, 16, 4);
    ck_assert_uint_eq(s.shards_written, 1);
    ck_assert_uint_eq(s.shards_resumed, 2);
    TSL_TEST_OK(tsl_shard_reader_open(damaged, &r));
    TSL_TEST_OK(tsl_shard_reader_verify_record(r, 1));
    tsl_shard_reader_close(r);
    free(damaged);

    /* Other settings make other shards: everything is rewritten. */
    s = run_shard(src, out, 12, 4);
    ck_assert_uint_eq(s.shards_written, 3);
    ck_assert_uint_eq(s.shards_resumed, 0);
    free(missing);
    free(stale);
    tsl_test_remove_tree(src);
    tsl_test_remove_tree(out);
    free(src);
    free(out);
}
END_TEST

/* ---- ImageFolder order --------------------------------------------------------------------------- */

START_TEST(image_folder_order_matches_torchvision) {
    char *root = tsl_test_temp_dir("folder");
    const char *files[] = {"b/z.JPEG",     "b/a.JPEG", "a/x/q.JPEG",    "a/y.JPEG",
                           "a/x-1/p.JPEG", "B/k.JPEG", "a/.hidden.JPEG"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *path = join(root, files[i]);
        char *slash = strrchr(path, '/');
        *slash = '\0';
        TSL_TEST_OK(tsl_mkdirs(path));
        *slash = '/';
        TSL_TEST_OK(tsl_write_file_atomic(path, "x", 1));
        free(path);
    }
    tsl_image_folder f;
    TSL_TEST_OK(tsl_image_folder_scan(root, &f));
    /* sorted(classes) = B, a, b; sorted(os.walk()): a, a/x, a/x-1 ("a/x" < "a/x-1"), files sorted. */
    const char *want[] = {"B/k.JPEG", "a/y.JPEG", "a/x/q.JPEG", "a/x-1/p.JPEG", "b/a.JPEG", "b/z.JPEG"};
    const uint32_t labels[] = {0, 1, 1, 1, 2, 2};
    ck_assert_uint_eq(f.n_classes, 3);
    ck_assert_str_eq(f.class_names[0], "B");
    ck_assert_uint_eq(f.n_items, 6);
    for (size_t i = 0; i < 6; i++) {
        ck_assert_str_eq(f.items[i].path + strlen(root) + 1, want[i]);
        ck_assert_uint_eq(f.items[i].label, labels[i]);
    }
    tsl_image_folder_free(&f);
    tsl_test_remove_tree(root);
    free(root);
}
END_TEST

int main(void) {
    Suite *s = suite_create("shard");
    TCase *tc = tcase_create("shard");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, resize_matches_double_reference);
    tcase_add_test(tc, resize_paths_give_the_same_bytes);
    tcase_add_test(tc, output_size_keeps_aspect_and_never_enlarges);
    tcase_add_test(tc, round_trip_gives_the_decoded_resized_pixels);
    tcase_add_test(tc, up_filter_is_documented_and_lossless);
    tcase_add_test(tc, crc32_matches_zlib);
    tcase_add_test(tc, uncompressed_records_must_hold_their_pixels);
    tcase_add_test(tc, bad_inputs_convert_or_are_reported);
    tcase_add_test(tc, corruption_is_detected_and_named);
    tcase_add_test(tc, hostile_header_fields_are_refused);
    tcase_add_test(tc, second_run_keeps_complete_shards);
    tcase_add_test(tc, image_folder_order_matches_torchvision);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
