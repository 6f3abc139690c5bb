#include "tsl_features.h"

#include "tsl_model.h"

#include <stdlib.h>
#include <string.h>

tsl_status tsl_resnet_infer(const tsl_safetensors *st, tsl_resnet_arch *arch, int *base_width) {
    const tsl_st_tensor *conv1 = tsl_safetensors_find(st, "conv1.weight");
    if (!conv1 || conv1->ndim != 4 || conv1->shape[0] < 1 || conv1->shape[0] > 1024)
        return tsl_error(TSL_ERR_FORMAT, "%s: no 4-D conv1.weight: not a torchvision ResNet state dict",
                         st->path ? st->path : "weights");
    *base_width = (int)conv1->shape[0];
    *arch = tsl_safetensors_find(st, "layer1.0.conv3.weight")   ? TSL_RESNET50
            : tsl_safetensors_find(st, "layer3.2.conv1.weight") ? TSL_RESNET34
                                                                : TSL_RESNET18;
    return TSL_OK;
}

static tsl_status output_shape(const tsl_model *m, const char *layer, uint32_t n, tsl_features *out) {
    uint64_t count;
    tsl_vk_range unused;
    TSL_TRY(tsl_model_activation(m, layer, &unused, &count));
    const tsl_resnet *net = tsl_model_resnet(m);
    if (strcmp(layer, "avgpool") == 0) {
        out->ndim = 2;
        out->shape[0] = n;
        out->shape[1] = net->feature_dim;
        return TSL_OK;
    }
    int i = tsl_model_layer_index(m, layer);
    out->ndim = 4;
    out->shape[0] = n;
    out->shape[1] = net->layers[i].c_out;
    out->shape[2] = net->layers[i].h_out;
    out->shape[3] = net->layers[i].w_out;
    return TSL_OK;
}

static tsl_status run_chunks(tsl_vk_device *dev, tsl_model *m, const float *images, uint32_t n,
                             uint32_t chunk, uint64_t per_image_in, const char *layer, tsl_features *out) {
    uint64_t per_image_out = out->count / n;
    tsl_vk_buffer input;
    TSL_TRY(tsl_vk_alloc(dev, TSL_MEM_DEVICE, 4 * per_image_in * chunk, "feature input", &input));
    tsl_status s = TSL_OK;
    for (uint32_t first = 0; first < n && s == TSL_OK; first += chunk) {
        uint32_t k = n - first < chunk ? n - first : chunk;
        tsl_vk_range r = tsl_vk_subrange(&input, 0, 4 * per_image_in * k);
        s = tsl_vk_upload(dev, r, images + per_image_in * first);
        if (s == TSL_OK)
            s = tsl_model_features(m, r, k, layer, out->data + per_image_out * first, per_image_out * k);
    }
    tsl_vk_free(dev, &input);
    return s;
}

static bool known_layer(const char *layer) {
    const char *names[] = {"conv1", "layer1", "layer2", "layer3", "layer4", "avgpool"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(layer, names[i]) == 0)
            return true;
    return false;
}

tsl_status tsl_features_extract(tsl_vk_device *dev, const tsl_safetensors *weights, const float *images,
                                uint32_t n, int h, int w, const char *layer, uint32_t chunk,
                                tsl_features *out) {
    memset(out, 0, sizeof *out);
    if (!known_layer(layer))
        return tsl_error(TSL_ERR_INVALID_ARG, "features: unknown layer '%s' (conv1, layer1..layer4, avgpool)",
                         layer);
    if (n == 0 || h < 1 || w < 1 || chunk == 0)
        return tsl_error(TSL_ERR_INVALID_ARG, "features: empty input (%u images of %dx%d) or chunk 0", n, h,
                         w);
    tsl_resnet_arch arch;
    int base_width;
    TSL_TRY(tsl_resnet_infer(weights, &arch, &base_width));
    tsl_model_config c;
    tsl_model_config_default(&c, arch);
    c.base_width = base_width;
    c.image_h = h;
    c.image_w = w;
    chunk = chunk < n ? chunk : n;
    c.batch = (chunk + 3) / 4 < 2 ? 2 : (chunk + 3) / 4; /* the model holds 4 x batch images */
    c.trunk_only = true;
    tsl_model *m;
    TSL_TRY(tsl_model_create(dev, &c, &m));
    tsl_status s = tsl_model_load_safetensors(m, weights, true, NULL);
    if (s == TSL_OK)
        s = output_shape(m, layer, n, out);
    if (s == TSL_OK) {
        out->count = 1;
        for (int i = 0; i < out->ndim; i++)
            out->count *= (uint64_t)out->shape[i];
        out->data = malloc(4 * out->count);
        s = out->data ? TSL_OK : tsl_error(TSL_ERR_NOMEM, "features: out of memory");
    }
    if (s == TSL_OK)
        s = run_chunks(dev, m, images, n, chunk, 3ull * h * w, layer, out);
    tsl_model_destroy(m);
    if (s != TSL_OK)
        tsl_features_free(out);
    return s;
}

void tsl_features_free(tsl_features *f) {
    free(f->data);
    memset(f, 0, sizeof *f);
}
