/* pipeline/tsl_loader: synth -> shard -> loader gives back exactly the reader's pixels in device memory,
 * in a deterministic order that visits every sample once per epoch, resumes exactly, partitions across
 * ranks, pairs TeSSL views as documented, names corrupt records, and holds a fixed number of buffers.
 * Data: a tiny synth set (3 classes x 6 train images, 16 px) cut into shards of 5 records. */
#include "tsl_loader.h"
#include "tsl_loader_order.h"
#include "tsl_shard_build.h"
#include "tsl_shard_reader.h"
#include "tsl_synth.h"
#include "tsl_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <sys/resource.h>

enum { CLASSES = 3, PER_CLASS = 6, SAMPLES = CLASSES * PER_CLASS, SHARD_SIZE = 5 };

/* ---- fixture ------------------------------------------------------------------------------------- */

typedef struct {
    char *src, *out, *train;
} fixture;

static fixture make_fixture(void) {
    fixture f = {.src = tsl_test_temp_dir("loader_src"), .out = tsl_test_temp_dir("loader_out")};
    tsl_synth_options so;
    tsl_synth_options_default(&so);
    so.out_dir = f.src;
    so.classes = CLASSES;
    so.per_class = PER_CLASS;
    so.val_per_class = 0;
    so.size = 16;
    so.seed = 5;
    TSL_TEST_OK(tsl_synth_write(&so));
    tsl_shard_options o;
    tsl_shard_options_default(&o);
    o.src_dir = f.src;
    o.out_dir = f.out;
    o.target = (tsl_resize_target){.short_side = 12};
    o.level = -3; /* zstd (the default stores pixels uncompressed): the loader's decompressing path */
    o.threads = 2;
    o.shard_size = SHARD_SIZE;
    tsl_shard_summary s;
    TSL_TEST_OK(tsl_shard_build(&o, &s));
    ck_assert_int_eq(s.written, SAMPLES);
    size_t n = strlen(f.out) + 8;
    f.train = malloc(n);
    snprintf(f.train, n, "%s/train", f.out);
    return f;
}

static void free_fixture(fixture *f) {
    tsl_test_remove_tree(f->src);
    tsl_test_remove_tree(f->out);
    free(f->src);
    free(f->out);
    free(f->train);
}

static tsl_loader_options options(const fixture *f, uint32_t batch, uint64_t seed) {
    tsl_loader_options o;
    tsl_loader_options_default(&o);
    o.dir = f->train;
    o.batch_size = batch;
    o.seed = seed;
    o.threads = 2;
    return o;
}

/* The ids of `n` consecutive batches, concatenated (images per batch in *per_batch). */
static uint32_t *collect_ids(tsl_vk_device *dev, const tsl_loader_options *o, uint64_t n,
                             uint32_t *per_batch) {
    tsl_loader *l = NULL;
    TSL_TEST_OK(tsl_loader_open(dev, o, &l));
    tsl_loader_info info;
    tsl_loader_info_get(l, &info);
    uint32_t *ids = malloc(sizeof(uint32_t) * n * info.images_per_batch);
    for (uint64_t b = 0; b < n; b++) {
        tsl_loader_batch batch;
        TSL_TEST_OK(tsl_loader_next(l, &batch));
        ck_assert_uint_eq(batch.images, info.images_per_batch);
        memcpy(ids + b * batch.images, batch.sample_ids, sizeof(uint32_t) * batch.images);
    }
    *per_batch = info.images_per_batch;
    tsl_loader_close(l);
    return ids;
}

/* Downloads the batch and checks every image against the shard reader's pixels, the table against its
 * host copy, labels, 4-byte alignment and packing in batch order. Returns an FNV-1a hash of the pixels. */
static uint64_t check_batch_pixels(tsl_vk_device *dev, tsl_loader *l, const tsl_loader_batch *b) {
    uint8_t *pixels = malloc(b->pixels.size ? b->pixels.size : 1);
    tsl_loader_image *table = malloc(sizeof *table * (b->images ? b->images : 1));
    if (b->images) {
        TSL_TEST_OK(tsl_vk_download(dev, b->pixels, pixels));
        TSL_TEST_OK(tsl_vk_download(dev, b->table, table));
        ck_assert_uint_eq(b->table.size, sizeof *table * b->images);
    }
    uint64_t hash = 1469598103934665603ull, expect_offset = 0;
    for (uint32_t j = 0; j < b->images; j++) {
        ck_assert_msg(memcmp(&table[j], &b->table_host[j], sizeof *table) == 0, "device table row %u differs",
                      j);
        uint32_t shard, record;
        const char *path;
        tsl_loader_locate(l, b->sample_ids[j], &shard, &record, &path);
        tsl_shard_reader *r = NULL;
        TSL_TEST_OK(tsl_shard_reader_open(path, &r));
        const tsl_shard_index_entry *e = tsl_shard_reader_entry(r, record);
        ck_assert_uint_eq(table[j].width, e->width);
        ck_assert_uint_eq(table[j].height, e->height);
        ck_assert_uint_eq(b->labels[j], e->label);
        ck_assert_uint_eq(table[j].offset, expect_offset);
        ck_assert_uint_eq(table[j].offset % 4, 0);
        size_t bytes = (size_t)e->width * e->height * 3;
        ck_assert(table[j].offset + bytes <= b->pixels.size);
        uint8_t *want = NULL;
        TSL_TEST_OK(tsl_shard_reader_read_pixels(r, record, &want));
        ck_assert_msg(memcmp(pixels + table[j].offset, want, bytes) == 0,
                      "image %u (sample %u = %s record %u) differs from the reader's pixels", j,
                      b->sample_ids[j], path, record);
        for (size_t k = 0; k < bytes; k++)
            hash = (hash ^ want[k]) * 1099511628211ull;
        free(want);
        tsl_shard_reader_close(r);
        expect_offset += (bytes + 3) & ~(size_t)3;
    }
    ck_assert_uint_eq(b->pixels.size, expect_offset);
    free(pixels);
    free(table);
    return hash;
}

/* ---- order (pure functions, larger sizes) -------------------------------------------------------- */

START_TEST(order_is_a_permutation_partitioned_across_ranks) {
    uint64_t seed = tsl_test_seed("order_is_a_permutation_partitioned_across_ranks");
    const uint64_t n = 1001;
    uint32_t *perm = malloc(sizeof(uint32_t) * n), *ids = malloc(sizeof(uint32_t) * 2 * n);
    uint8_t *seen = malloc(n);
    for (int paired = 0; paired < 2; paired++)
        for (int drop = 0; drop < 2; drop++)
            for (uint32_t world = 1; world <= 4; world++) {
                tsl_loader_order o = {.samples = n,
                                      .batch_size = 7,
                                      .world_size = world,
                                      .paired = paired,
                                      .drop_last = drop,
                                      .seed = seed};
                tsl_loader_order_permutation(&o, 3, perm);
                memset(seen, 0, n);
                for (uint64_t i = 0; i < n; i++) {
                    ck_assert_uint_lt(perm[i], n);
                    ck_assert_msg(!seen[perm[i]]++, "permutation repeats %u", perm[i]);
                }
                memset(seen, 0, n);
                uint64_t steps = tsl_loader_order_steps(&o), units = paired ? n / 2 : n, used = 0;
                for (uint32_t rank = 0; rank < world; rank++) {
                    o.rank = rank;
                    ck_assert_uint_eq(tsl_loader_order_steps(&o), steps); /* equal batch counts */
                    for (uint64_t s = 0; s < steps; s++) {
                        uint32_t images = tsl_loader_order_batch_ids(&o, perm, s, ids);
                        if (s + 1 < steps || drop)
                            ck_assert_uint_eq(images, 7u * (paired ? 2 : 1));
                        for (uint32_t j = 0; j < images; j++) {
                            ck_assert_msg(!seen[ids[j]]++, "sample %u twice (world %u rank %u step %llu)",
                                          ids[j], world, rank, (unsigned long long)s);
                            used++;
                        }
                    }
                }
                uint64_t per_step = 7ull * world, kept = drop ? units / per_step * per_step : units;
                ck_assert_uint_eq(used, kept * (paired ? 2 : 1)); /* union = every sample not dropped */
            }
    free(perm);
    free(ids);
    free(seen);
}
END_TEST

/* ---- the loader ---------------------------------------------------------------------------------- */

START_TEST(round_trip_gives_the_shard_pixels_in_device_memory) {
    fixture f = make_fixture();
    tsl_vk_device *dev = tsl_test_device_open();
    tsl_loader_options o =
        options(&f, 4, tsl_test_seed("round_trip_gives_the_shard_pixels_in_device_memory"));
    o.drop_last = false;
    /* Both delivery paths: in place when device allocations come host-mapped (lavapipe's do; NVIDIA's,
     * whose device-local memory is host-visible too, come from an unmapped type), and staged. */
    tsl_vk_buffer probe = tsl_test_alloc(dev, TSL_MEM_DEVICE, 4096, "host-mapped probe");
    bool in_place_possible = probe.host != NULL;
    tsl_vk_free(dev, &probe);
    for (int stage = 0; stage <= 1; stage++) {
        o.always_stage = stage;
        tsl_loader *l = NULL;
        TSL_TEST_OK(tsl_loader_open(dev, &o, &l));
        tsl_loader_info info;
        tsl_loader_info_get(l, &info);
        ck_assert_uint_eq(info.samples, SAMPLES);
        ck_assert_uint_eq(info.shards, (SAMPLES + SHARD_SIZE - 1) / SHARD_SIZE);
        ck_assert_uint_eq(info.classes, CLASSES);
        ck_assert_uint_eq(info.steps_per_epoch, (SAMPLES + 3) / 4);
        ck_assert_uint_eq(info.staging_buffers, !stage && in_place_possible ? 0 : o.max_inflight);
        for (uint64_t s = 0; s < info.steps_per_epoch; s++) {
            tsl_loader_batch b;
            TSL_TEST_OK(tsl_loader_next(l, &b));
            ck_assert_uint_eq(b.epoch, 0);
            ck_assert_uint_eq(b.step, s);
            ck_assert_uint_eq(b.count, s + 1 < info.steps_per_epoch ? 4 : SAMPLES % 4);
            check_batch_pixels(dev, l, &b);
        }
        tsl_loader_close(l);
    }
    tsl_test_device_close(dev);
    free_fixture(&f);
}
END_TEST

START_TEST(order_is_deterministic_and_epochs_differ) {
    fixture f = make_fixture();
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("order_is_deterministic_and_epochs_differ");
    tsl_loader_options o = options(&f, 6, seed); /* 3 steps per epoch */
    uint32_t per_batch;
    uint32_t *a = collect_ids(dev, &o, 6, &per_batch), *b = collect_ids(dev, &o, 6, &per_batch);
    size_t epoch_ids = 3 * (size_t)per_batch;
    ck_assert_msg(memcmp(a, b, sizeof(uint32_t) * 2 * epoch_ids) == 0, "same seed gave another order");
    ck_assert_msg(memcmp(a, a + epoch_ids, sizeof(uint32_t) * epoch_ids) != 0,
                  "epochs 0 and 1 have one order");
    o.seed = seed + 1;
    uint32_t *c = collect_ids(dev, &o, 3, &per_batch);
    ck_assert_msg(memcmp(a, c, sizeof(uint32_t) * epoch_ids) != 0, "seeds %llu and %llu gave one order",
                  (unsigned long long)seed, (unsigned long long)seed + 1);
    free(a);
    free(b);
    free(c);
    tsl_test_device_close(dev);
    free_fixture(&f);
}
END_TEST

START_TEST(every_sample_once_per_epoch) {
    fixture f = make_fixture();
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("every_sample_once_per_epoch");
    for (int drop = 0; drop < 2; drop++) {
        tsl_loader_options o = options(&f, 4, seed);
        o.drop_last = drop;
        tsl_loader *l = NULL;
        TSL_TEST_OK(tsl_loader_open(dev, &o, &l));
        tsl_loader_info info;
        tsl_loader_info_get(l, &info);
        ck_assert_uint_eq(info.steps_per_epoch, drop ? SAMPLES / 4 : (SAMPLES + 3) / 4);
        for (uint64_t epoch = 0; epoch < 2; epoch++) {
            uint32_t seen[SAMPLES] = {0}, total = 0;
            for (uint64_t s = 0; s < info.steps_per_epoch; s++) {
                tsl_loader_batch b;
                TSL_TEST_OK(tsl_loader_next(l, &b));
                ck_assert_uint_eq(b.epoch, epoch);
                for (uint32_t j = 0; j < b.images; j++, total++)
                    ck_assert_msg(seen[b.sample_ids[j]]++ == 0, "sample %u twice in epoch %llu",
                                  b.sample_ids[j], (unsigned long long)epoch);
            }
            ck_assert_uint_eq(total, drop ? SAMPLES / 4 * 4 : SAMPLES);
        }
        tsl_loader_close(l);
    }
    tsl_test_device_close(dev);
    free_fixture(&f);
}
END_TEST

START_TEST(resume_mid_epoch_equals_uninterrupted) {
    fixture f = make_fixture();
    tsl_vk_device *dev = tsl_test_device_open();
    tsl_loader_options o = options(&f, 5, tsl_test_seed("resume_mid_epoch_equals_uninterrupted"));
    o.paired = true; /* 9 pairs per epoch: a step of 5 pairs, then a short step of 4 */
    o.drop_last = false;
    enum { TOTAL = 5, CUT = 3 };
    uint64_t hashes[TOTAL];
    uint32_t ids[TOTAL][10], images[TOTAL];
    tsl_loader_state cut_state = {0};
    tsl_loader *l = NULL;
    TSL_TEST_OK(tsl_loader_open(dev, &o, &l));
    for (int k = 0; k < TOTAL; k++) {
        if (k == CUT)
            cut_state = tsl_loader_state_get(l);
        tsl_loader_batch b;
        TSL_TEST_OK(tsl_loader_next(l, &b));
        hashes[k] = check_batch_pixels(dev, l, &b);
        images[k] = b.images;
        memcpy(ids[k], b.sample_ids, sizeof(uint32_t) * b.images);
    }
    tsl_loader_close(l);
    ck_assert_uint_eq(cut_state.epoch, 1); /* 2 steps per epoch: batch 3 is epoch 1, step 1 */
    ck_assert_uint_eq(cut_state.step, 1);
    o.start = cut_state;
    TSL_TEST_OK(tsl_loader_open(dev, &o, &l));
    for (int k = CUT; k < TOTAL; k++) {
        tsl_loader_batch b;
        TSL_TEST_OK(tsl_loader_next(l, &b));
        ck_assert_uint_eq(b.images, images[k]);
        ck_assert_msg(memcmp(b.sample_ids, ids[k], sizeof(uint32_t) * b.images) == 0,
                      "resumed batch %d differs", k);
        ck_assert_uint_eq(check_batch_pixels(dev, l, &b), hashes[k]);
    }
    tsl_loader_close(l);
    tsl_test_device_close(dev);
    free_fixture(&f);
}
END_TEST

START_TEST(ranks_get_disjoint_equal_parts) {
    fixture f = make_fixture();
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("ranks_get_disjoint_equal_parts");
    for (int drop = 0; drop < 2; drop++) {
        uint32_t seen[SAMPLES] = {0}, total = 0;
        uint64_t steps = 0;
        for (uint32_t rank = 0; rank < 3; rank++) {
            tsl_loader_options o = options(&f, 4, seed); /* 18 = 1 step of 3 ranks x 4, 6 left over */
            o.world_size = 3;
            o.rank = rank;
            o.drop_last = drop;
            tsl_loader *l = NULL;
            TSL_TEST_OK(tsl_loader_open(dev, &o, &l));
            tsl_loader_info info;
            tsl_loader_info_get(l, &info);
            if (rank == 0)
                steps = info.steps_per_epoch;
            ck_assert_uint_eq(info.steps_per_epoch, steps);
            ck_assert_uint_eq(steps, drop ? 1 : 2);
            for (uint64_t s = 0; s < steps; s++) {
                tsl_loader_batch b;
                TSL_TEST_OK(tsl_loader_next(l, &b));
                ck_assert_uint_eq(b.count, s == 0 ? 4 : 2);
                for (uint32_t j = 0; j < b.images; j++, total++)
                    ck_assert_msg(seen[b.sample_ids[j]]++ == 0, "sample %u on two ranks", b.sample_ids[j]);
                if (rank == 1 && s == 0)
                    check_batch_pixels(dev, l, &b);
            }
            tsl_loader_close(l);
        }
        ck_assert_uint_eq(total, drop ? 12 : SAMPLES);
    }
    tsl_test_device_close(dev);
    free_fixture(&f);
}
END_TEST

START_TEST(paired_batches_hold_first_halves_then_second_halves) {
    fixture f = make_fixture();
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("paired_batches_hold_first_halves_then_second_halves");
    tsl_loader_options o = options(&f, 3, seed);
    o.paired = true; /* 9 pairs per epoch: 3 steps of 3 pairs = 6 images each */
    tsl_loader *l = NULL;
    TSL_TEST_OK(tsl_loader_open(dev, &o, &l));
    tsl_loader_order order = {.samples = SAMPLES,
                              .batch_size = 3,
                              .world_size = 1,
                              .paired = true,
                              .drop_last = true,
                              .seed = seed};
    uint32_t perm[SAMPLES], seen[SAMPLES] = {0};
    tsl_loader_order_permutation(&order, 0, perm);
    for (uint32_t s = 0; s < 3; s++) {
        tsl_loader_batch b;
        TSL_TEST_OK(tsl_loader_next(l, &b));
        ck_assert_uint_eq(b.count, 3);
        ck_assert_uint_eq(b.images, 6);
        for (uint32_t i = 0; i < 3; i++) {
            /* row i pairs split0[3s + i] (image i) with split1[3s + i] (image 3 + i) */
            ck_assert_uint_eq(b.sample_ids[i], perm[3 * s + i]);
            ck_assert_uint_eq(b.sample_ids[3 + i], perm[SAMPLES / 2 + 3 * s + i]);
        }
        for (uint32_t j = 0; j < 6; j++)
            ck_assert(seen[b.sample_ids[j]]++ == 0);
        check_batch_pixels(dev, l, &b);
    }
    tsl_loader_close(l);
    tsl_test_device_close(dev);
    free_fixture(&f);
}
END_TEST

static void flip_byte(const char *path, uint64_t offset) {
    FILE *file = fopen(path, "r+b");
    ck_assert(file != NULL);
    ck_assert(fseek(file, (long)offset, SEEK_SET) == 0);
    int c = fgetc(file);
    ck_assert(fseek(file, (long)offset, SEEK_SET) == 0);
    fputc(c ^ 0x40, file);
    fclose(file);
}

START_TEST(corrupt_record_is_named_or_replaced) {
    fixture f = make_fixture();
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("corrupt_record_is_named_or_replaced");
    size_t n = strlen(f.train) + 32;
    char *path = malloc(n);
    snprintf(path, n, "%s/shard-00001.tss", f.train);
    tsl_shard_reader *r = NULL;
    TSL_TEST_OK(tsl_shard_reader_open(path, &r));
    uint64_t at = tsl_shard_reader_entry(r, 2)->offset + tsl_shard_reader_entry(r, 2)->stored_size / 2;
    tsl_shard_reader_close(r);
    flip_byte(path, at);
    const uint32_t bad_id = SHARD_SIZE + 2;

    tsl_loader_options o = options(&f, 4, seed);
    o.drop_last = false;
    o.always_stage = seed % 2; /* replacement repacks in place or in staging */
    tsl_loader *l = NULL;
    TSL_TEST_OK(tsl_loader_open(dev, &o, &l));
    tsl_status st = TSL_OK;
    for (int s = 0; s < 5 && st == TSL_OK; s++) {
        tsl_loader_batch b;
        st = tsl_loader_next(l, &b);
    }
    ck_assert_int_eq(st, TSL_ERR_CORRUPT);
    ck_assert_msg(strstr(tsl_error_message(), path) && strstr(tsl_error_message(), "record 2:"),
                  "message '%s' does not name the shard and record", tsl_error_message());
    tsl_loader_batch again;
    ck_assert_int_eq(tsl_loader_next(l, &again), TSL_ERR_CORRUPT); /* stays failed */
    tsl_loader_close(l);

    o.skip_corrupt = true;
    TSL_TEST_OK(tsl_loader_open(dev, &o, &l));
    uint32_t seen[SAMPLES] = {0};
    for (int s = 0; s < 5; s++) {
        tsl_loader_batch b;
        TSL_TEST_OK(tsl_loader_next(l, &b));
        for (uint32_t j = 0; j < b.images; j++)
            seen[b.sample_ids[j]]++;
        check_batch_pixels(dev, l, &b); /* the replacement's pixels, packed */
    }
    tsl_loader_info info;
    tsl_loader_info_get(l, &info);
    ck_assert_uint_eq(info.substituted, 1);
    ck_assert_uint_eq(seen[bad_id], 0);
    uint32_t twice = 0, total = 0;
    for (uint32_t i = 0; i < SAMPLES; i++) {
        twice += seen[i] == 2;
        total += seen[i];
    }
    ck_assert_uint_eq(twice, 1); /* the replacement repeats one sample */
    ck_assert_uint_eq(total, SAMPLES);
    tsl_loader_close(l);
    free(path);
    tsl_test_device_close(dev);
    free_fixture(&f);
}
END_TEST

START_TEST(memory_is_a_fixed_number_of_buffers) {
    fixture f = make_fixture();
    tsl_vk_device *dev = tsl_test_device_open();
    uint64_t seed = tsl_test_seed("memory_is_a_fixed_number_of_buffers");
    for (uint32_t inflight = 2; inflight <= 4; inflight += 2) {
        tsl_vk_memory_stats before, opened, after;
        tsl_vk_memory_stats_get(dev, &before);
        tsl_loader_options o = options(&f, 3, seed);
        o.max_inflight = inflight;
        o.always_stage = true; /* counts staging buffers; in place, there are none */
        tsl_loader *l = NULL;
        TSL_TEST_OK(tsl_loader_open(dev, &o, &l));
        tsl_loader_info info;
        tsl_loader_info_get(l, &info);
        ck_assert_uint_eq(info.staging_buffers, inflight);
        tsl_vk_memory_stats_get(dev, &opened);
        uint64_t staging = opened.bytes_in_use[TSL_MEM_UPLOAD] - before.bytes_in_use[TSL_MEM_UPLOAD];
        /* inflight buffers of staging_bytes each; the suballocator may round each up a little */
        ck_assert_uint_ge(staging, inflight * info.staging_bytes);
        ck_assert_uint_le(staging, inflight * (info.staging_bytes + 256));
        for (int s = 0; s < 20; s++) { /* over three epochs */
            tsl_loader_batch b;
            TSL_TEST_OK(tsl_loader_next(l, &b));
        }
        tsl_vk_memory_stats_get(dev, &after);
        for (int k = 0; k < TSL_MEM_KIND_COUNT; k++)
            ck_assert_uint_eq(after.bytes_in_use[k], opened.bytes_in_use[k]);
        tsl_loader_close(l);
        tsl_vk_memory_stats_get(dev, &after);
        for (int k = 0; k < TSL_MEM_KIND_COUNT; k++)
            ck_assert_uint_eq(after.bytes_in_use[k], before.bytes_in_use[k]);
    }
    tsl_test_device_close(dev);
    free_fixture(&f);
}
END_TEST

START_TEST(bad_options_are_refused) {
    fixture f = make_fixture();
    tsl_vk_device *dev = tsl_test_device_open();
    tsl_loader *l = NULL;
    tsl_loader_options o = options(&f, 4, 1);
    o.rank = 1;
    ck_assert_int_eq(tsl_loader_open(dev, &o, &l), TSL_ERR_INVALID_ARG);
    o = options(&f, 4, 1);
    o.start.step = SAMPLES / 4;
    ck_assert_int_eq(tsl_loader_open(dev, &o, &l), TSL_ERR_INVALID_ARG);
    ck_assert_msg(strstr(tsl_error_message(), "start step"), "message: %s", tsl_error_message());
    o = options(&f, SAMPLES + 1, 1);
    ck_assert_int_eq(tsl_loader_open(dev, &o, &l), TSL_ERR_INVALID_ARG);
    o = options(&f, 4, 1);
    o.dir = f.src; /* no shards there */
    ck_assert_int_eq(tsl_loader_open(dev, &o, &l), TSL_ERR_INVALID_ARG);
    ck_assert(l == NULL);
    tsl_test_device_close(dev);
    free_fixture(&f);
}
END_TEST

static unsigned open_descriptors(void) {
    DIR *d = opendir("/proc/self/fd");
    ck_assert(d != NULL);
    unsigned n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n; /* counts ".", "..", and the directory's own descriptor: a small overestimate */
}

/* One descriptor per shard: a soft limit too low for the shards is raised (the hard limit allows it). */
START_TEST(descriptor_limit_is_raised_for_many_shards) {
    fixture f = make_fixture();
    tsl_vk_device *dev = tsl_test_device_open();
    struct rlimit lim;
    ck_assert(getrlimit(RLIMIT_NOFILE, &lim) == 0);
    rlim_t low = open_descriptors() + 1; /* room for fewer than the 4 shards */
    if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < low + 300)
        ck_abort_msg("hard descriptor limit %llu too low for this test", (unsigned long long)lim.rlim_max);
    lim.rlim_cur = low;
    ck_assert(setrlimit(RLIMIT_NOFILE, &lim) == 0);
    tsl_loader_options o = options(&f, 4, 1);
    tsl_loader *l = NULL;
    TSL_TEST_OK(tsl_loader_open(dev, &o, &l));
    tsl_loader_batch b;
    TSL_TEST_OK(tsl_loader_next(l, &b));
    ck_assert(getrlimit(RLIMIT_NOFILE, &lim) == 0);
    ck_assert_uint_gt(lim.rlim_cur, low);
    tsl_loader_close(l);
    tsl_test_device_close(dev);
    free_fixture(&f);
}
END_TEST

int main(void) {
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("loader");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, order_is_a_permutation_partitioned_across_ranks);
    tcase_add_test(tc, round_trip_gives_the_shard_pixels_in_device_memory);
    tcase_add_test(tc, order_is_deterministic_and_epochs_differ);
    tcase_add_test(tc, every_sample_once_per_epoch);
    tcase_add_test(tc, resume_mid_epoch_equals_uninterrupted);
    tcase_add_test(tc, ranks_get_disjoint_equal_parts);
    tcase_add_test(tc, paired_batches_hold_first_halves_then_second_halves);
    tcase_add_test(tc, corrupt_record_is_named_or_replaced);
    tcase_add_test(tc, memory_is_a_fixed_number_of_buffers);
    tcase_add_test(tc, bad_options_are_refused);
    tcase_add_test(tc, descriptor_limit_is_raised_for_many_shards);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
