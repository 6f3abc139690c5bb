/* Fuzz target: tsl_checkpoint_load (what `tessl train --resume` reads) on arbitrary bytes, written to a
 * temporary file, into a tiny model that lives for the whole run (narrow ResNet-18, width 1, 16 px,
 * projector 4-4-4, 2 classes: the configuration of the seed corpus). It returns an error or loads,
 * never crashes, leaks or reads out of bounds; when it loads, every tensor the model saves was in the
 * file with the model's element count, as F32, inside the input. */
#include "fuzz_target.h"
#include "tsl_checkpoint.h"
#include "tsl_model.h"

#include <string.h>
#include <unistd.h>

static tsl_model *tiny_model(void) {
    static tsl_vk_device *device;
    static tsl_model *model;
    if (model)
        return model;
    tsl_vk_options options;
    tsl_vk_options_default(&options);
    options.pipeline_cache = false;
    FUZZ_ASSERT(tsl_vk_device_open(&options, &device) == TSL_OK);
    tsl_model_config c;
    tsl_model_config_default(&c, TSL_RESNET18);
    c.base_width = 1;
    c.image_h = c.image_w = 16;
    c.batch = 2;
    c.projector = "4-4-4";
    c.classes = 2;
    FUZZ_ASSERT(tsl_model_create(device, &c, &model) == TSL_OK);
    return model;
}

static void write_all(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    FUZZ_ASSERT(f);
    FUZZ_ASSERT(size == 0 || fwrite(data, 1, size, f) == size);
    FUZZ_ASSERT(fclose(f) == 0);
}

static void check_loaded(tsl_model *model, const tsl_safetensors *file, size_t size) {
    int n = 0;
    const tsl_model_tensor *t = tsl_model_tensors(model, &n);
    for (int i = 0; i < n; i++) {
        if (t[i].kind == TSL_MT_GRAD)
            continue;
        const tsl_st_tensor *s = tsl_safetensors_find(file, t[i].name);
        FUZZ_ASSERT(s && s->dtype == TSL_DTYPE_F32 && s->count == t[i].count);
        FUZZ_ASSERT(4 * s->count <= size);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tsl_model *model = tiny_model();
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz_checkpoint_%d.safetensors", (int)getpid());
    write_all(path, data, size);
    tsl_safetensors file;
    if (tsl_checkpoint_load(model, path, &file) == TSL_OK) {
        check_loaded(model, &file, size);
        tsl_safetensors_free(&file);
    }
    unlink(path);
    return 0;
}
