/* Fuzz target: tsl_augment_manual_parse (`tessl augment --params`) on arbitrary text never crashes, leaks
 * or overflows, and what it accepts is in range: flags 0/1, order a permutation, factors and sigma within
 * their documented bounds, and a placed crop inside the image (on a 640 x 480 and on a 1 x 1 source). */
#include "fuzz_target.h"
#include "tsl_augment_manual.h"

#include <string.h>

static void check_crop(tsl_augment_manual p, uint32_t width, uint32_t height) {
    if (tsl_augment_manual_place_crop(&p, width, height) != TSL_OK)
        return;
    const tsl_augment_sample *s = &p.sample;
    FUZZ_ASSERT(s->crop_top >= 0 && s->crop_left >= 0 && s->crop_height > 0 && s->crop_width > 0);
    FUZZ_ASSERT(s->crop_top + s->crop_height <= 1 + 1e-9 && s->crop_left + s->crop_width <= 1 + 1e-9);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    FUZZ_ASSERT(text);
    memcpy(text, data, size);
    text[size] = '\0'; /* a NUL inside the input just ends the text early, as on a command line */
    tsl_augment_manual p;
    if (tsl_augment_manual_parse(text, &p) == TSL_OK) {
        const tsl_augment_sample *s = &p.sample;
        FUZZ_ASSERT(s->flip <= 1 && s->gray <= 1 && s->solarize <= 1 && s->jitter <= 1);
        unsigned seen = 0;
        for (int i = 0; i < 4; i++) {
            FUZZ_ASSERT(s->order[i] < 4);
            seen |= 1u << s->order[i];
        }
        FUZZ_ASSERT(seen == 15);
        FUZZ_ASSERT(s->brightness >= 0 && s->brightness <= 100 && s->contrast >= 0 && s->contrast <= 100);
        FUZZ_ASSERT(s->saturation >= 0 && s->saturation <= 100 && s->hue >= -0.5f && s->hue <= 0.5f);
        FUZZ_ASSERT(s->sigma >= 0 && s->sigma <= 100);
        for (int i = 0; p.has_crop && i < 4; i++)
            FUZZ_ASSERT(p.crop[i] >= 0);
        check_crop(p, 640, 480);
        check_crop(p, 1, 1);
    }
    free(text);
    return 0;
}
