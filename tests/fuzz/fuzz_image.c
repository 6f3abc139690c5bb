/* Fuzz target: tsl_image_decode (JPEG: RGB, grayscale, CMYK/YCCK, DCT-scaled; PNG: gray, palette,
 * 16-bit, alpha) on arbitrary bytes never crashes, leaks or reads out of bounds, and honours its size
 * limits. Each input is decoded three ways: resized to a short side of 24 (the DCT-scaling path), to a
 * long side of 40, and at full size (the `tessl augment` loader's path) when neither target resized it
 * (a small image, so the fuzzer stays fast); the full decode must then give that same size.
 *
 * "Not resized" is read from the short-side result: a shrunk image's short side is exactly 24, so a
 * result with both sides below 24 is the full image. (A result of 24 x 24 can be a 49 x 50 image
 * shrunk: the first 10-minute run stopped on exactly that, an error of this target's reasoning, kept as
 * corpus/image/shrunk_to_24.) */
#include "fuzz_target.h"
#include "tsl_image_decode.h"

static void check_image(const tsl_image *img, int max_short, int max_long) {
    FUZZ_ASSERT(img->rgb && img->width >= 1 && img->height >= 1);
    int s = img->width < img->height ? img->width : img->height;
    int l = img->width < img->height ? img->height : img->width;
    FUZZ_ASSERT(s <= max_short && l <= max_long);
    volatile uint8_t last = img->rgb[(size_t)img->width * img->height * 3 - 1]; /* ASan checks the bound */
    (void)last;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tsl_image img;
    tsl_resize_target short_side = {.short_side = 24}, max_side = {.max_side = 40};
    int short_w = 0, short_h = 0;
    if (tsl_image_decode(data, size, &short_side, &img) == TSL_OK) {
        check_image(&img, 24, TSL_DECODE_MAX_SIDE);
        short_w = img.width, short_h = img.height;
        free(img.rgb);
    } else {
        FUZZ_ASSERT(img.rgb == NULL);
    }
    if (tsl_image_decode(data, size, &max_side, &img) == TSL_OK) {
        check_image(&img, 40, 40);
        free(img.rgb);
    }
    /* Both sides below 24: the short-side target left the image as it is. */
    if (short_w > 0 && short_w < 24 && short_h < 24 && tsl_image_decode_full(data, size, &img) == TSL_OK) {
        check_image(&img, TSL_DECODE_MAX_SIDE, TSL_DECODE_MAX_SIDE);
        FUZZ_ASSERT(img.width == short_w && img.height == short_h);
        free(img.rgb);
    }
    return 0;
}
