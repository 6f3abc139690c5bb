/* datasets/tsl_synth: determinism, layout, image sizes and argument checks of `tessl synth`. */
#include "tsl_file.h"
#include "tsl_image_decode.h"
#include "tsl_image_folder.h"
#include "tsl_synth.h"
#include "tsl_test.h"

#include <stdlib.h>
#include <string.h>

/* A tiny data set: 3 classes, 2 train + 1 val each, short side 24. */
static void write_small(const char *dir, uint64_t seed) {
    tsl_synth_options o;
    tsl_synth_options_default(&o);
    o.out_dir = dir;
    o.classes = 3;
    o.per_class = 2;
    o.val_per_class = 1;
    o.size = 24;
    o.seed = seed;
    TSL_TEST_OK(tsl_synth_write(&o));
}

static void scan_split(const char *root, const char *split, tsl_image_folder *f) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, split);
    TSL_TEST_OK(tsl_image_folder_scan(path, f));
}

/* Counts the files whose bytes differ between the two trees (same file lists required). */
static int count_differing_files(const char *a, const char *b) {
    int differing = 0;
    const char *splits[2] = {"train", "val"};
    for (int s = 0; s < 2; s++) {
        tsl_image_folder fa, fb;
        scan_split(a, splits[s], &fa);
        scan_split(b, splits[s], &fb);
        ck_assert_uint_eq(fa.n_items, fb.n_items);
        for (size_t i = 0; i < fa.n_items; i++) {
            ck_assert_str_eq(fa.items[i].path + strlen(a), fb.items[i].path + strlen(b));
            void *da, *db;
            size_t na, nb;
            TSL_TEST_OK(tsl_read_file(fa.items[i].path, 1 << 24, &da, &na));
            TSL_TEST_OK(tsl_read_file(fb.items[i].path, 1 << 24, &db, &nb));
            differing += na != nb || memcmp(da, db, na) != 0;
            free(da);
            free(db);
        }
        tsl_image_folder_free(&fa);
        tsl_image_folder_free(&fb);
    }
    return differing;
}

START_TEST(same_seed_same_bytes_other_seed_differs) {
    char *a = tsl_test_temp_dir("synth_a"), *b = tsl_test_temp_dir("synth_b"),
         *c = tsl_test_temp_dir("synth_c");
    write_small(a, 42);
    write_small(b, 42);
    write_small(c, 43);
    ck_assert_int_eq(count_differing_files(a, b), 0);
    /* Every image is drawn from its own seed, so every file must change with the data set's seed. */
    ck_assert_int_eq(count_differing_files(a, c), 3 * 3);
    tsl_test_remove_tree(a);
    tsl_test_remove_tree(b);
    tsl_test_remove_tree(c);
    free(a);
    free(b);
    free(c);
}
END_TEST

START_TEST(layout_classes_and_image_sizes) {
    char *dir = tsl_test_temp_dir("synth_layout");
    write_small(dir, 5);
    tsl_image_folder f;
    scan_split(dir, "train", &f);
    ck_assert_uint_eq(f.n_classes, 3);
    ck_assert_uint_eq(f.n_items, 6);
    /* Folder names are the shape names; ImageFolder sorts them. */
    ck_assert_str_eq(f.class_names[0], "disc");
    ck_assert_str_eq(f.class_names[1], "square");
    ck_assert_str_eq(f.class_names[2], "triangle");
    tsl_resize_target keep = {.short_side = 1 << 15};
    for (size_t i = 0; i < f.n_items; i++) {
        ck_assert_msg(strstr(f.items[i].path, ".JPEG") != NULL, "%s is not a .JPEG", f.items[i].path);
        void *data;
        size_t size;
        TSL_TEST_OK(tsl_read_file(f.items[i].path, 1 << 24, &data, &size));
        tsl_image img;
        TSL_TEST_OK(tsl_image_decode(data, size, &keep, &img));
        int lo = img.width < img.height ? img.width : img.height, hi = img.width ^ img.height ^ lo;
        ck_assert_int_eq(lo, 24);
        ck_assert_msg(hi >= 24 && hi <= 36, "long side %d outside [24, 36]", hi);
        free(img.rgb);
        free(data);
    }
    tsl_image_folder_free(&f);
    scan_split(dir, "val", &f);
    ck_assert_uint_eq(f.n_items, 3);
    tsl_image_folder_free(&f);
    tsl_test_remove_tree(dir);
    free(dir);
}
END_TEST

/* The object must actually be drawn: the class's shape changes the picture for the same seed. */
START_TEST(class_changes_the_image) {
    uint64_t seed = tsl_test_seed("class_changes_the_image");
    uint8_t *img[TSL_SYNTH_MAX_CLASSES];
    int w[TSL_SYNTH_MAX_CLASSES], h[TSL_SYNTH_MAX_CLASSES];
    for (int k = 0; k < TSL_SYNTH_MAX_CLASSES; k++)
        TSL_TEST_OK(tsl_synth_render(k, seed, 40, &img[k], &w[k], &h[k]));
    for (int k = 1; k < TSL_SYNTH_MAX_CLASSES; k++) {
        /* The same seed gives the same size, background and pose; only the shape differs. */
        ck_assert_int_eq(w[k], w[0]);
        ck_assert_int_eq(h[k], h[0]);
        ck_assert_msg(memcmp(img[k], img[0], (size_t)w[0] * h[0] * 3) != 0, "class %d draws like class 0", k);
    }
    for (int k = 0; k < TSL_SYNTH_MAX_CLASSES; k++)
        free(img[k]);
}
END_TEST

/* A plain background is one colour: the four corners (never covered: the shape lies in a disc of the
 * object's radius that stays inside the image) differ by at most the pixel noise, +-8 on each side
 * plus rounding, 17. For one seed, the size matches the textured image's. */
START_TEST(plain_background_is_flat) {
    uint64_t seed = tsl_test_seed("plain_background_is_flat");
    int textured_corners_differ = 0;
    for (int i = 0; i < 40; i++) {
        uint8_t *plain, *textured;
        int w, h, tw, th;
        TSL_TEST_OK(
            tsl_synth_render_background(i % TSL_SYNTH_MAX_CLASSES, seed + i, 40, true, &plain, &w, &h));
        TSL_TEST_OK(tsl_synth_render(i % TSL_SYNTH_MAX_CLASSES, seed + i, 40, &textured, &tw, &th));
        ck_assert_int_eq(w, tw);
        ck_assert_int_eq(h, th);
        const size_t corners[4] = {0, (size_t)w - 1, (size_t)(h - 1) * w, (size_t)h * w - 1};
        for (int c = 0; c < 3; c++) {
            int lo = 255, hi = 0, tlo = 255, thi = 0;
            for (int j = 0; j < 4; j++) {
                int v = plain[corners[j] * 3 + c], t = textured[corners[j] * 3 + c];
                lo = v < lo ? v : lo, hi = v > hi ? v : hi;
                tlo = t < tlo ? t : tlo, thi = t > thi ? t : thi;
            }
            ck_assert_msg(hi - lo <= 17, "image %d channel %d: plain corners span %d..%d", i, c, lo, hi);
            textured_corners_differ += thi - tlo > 17;
        }
        free(plain);
        free(textured);
    }
    ck_assert_msg(textured_corners_differ > 0, "textured backgrounds look flat too: the test checks nothing");
}
END_TEST

START_TEST(bad_options_are_rejected) {
    tsl_synth_options o;
    tsl_synth_options_default(&o);
    o.out_dir = "/nonexistent-unused";
    o.classes = TSL_SYNTH_MAX_CLASSES + 1;
    ck_assert_int_eq(tsl_synth_write(&o), TSL_ERR_INVALID_ARG);
    ck_assert_msg(strstr(tsl_error_message(), "synth"), "message '%s' does not name synth",
                  tsl_error_message());
    tsl_synth_options_default(&o);
    o.out_dir = "/nonexistent-unused";
    o.size = 4;
    ck_assert_int_eq(tsl_synth_write(&o), TSL_ERR_INVALID_ARG);
}
END_TEST

int main(void) {
    Suite *s = suite_create("synth");
    TCase *tc = tcase_create("synth");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, same_seed_same_bytes_other_seed_differs);
    tcase_add_test(tc, layout_classes_and_image_sizes);
    tcase_add_test(tc, class_changes_the_image);
    tcase_add_test(tc, plain_background_is_flat);
    tcase_add_test(tc, bad_options_are_rejected);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
