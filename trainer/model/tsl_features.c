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

static bool known_layer(const char *layer) {
    const char *names[] = {"conv1", "layer1", "layer2", "layer3", "layer4", "avgpool"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(layer, names[i]) == 0)
            return true;
    return false;
}

struct tsl_features_session {
    tsl_vk_device *device;
    tsl_model *model;
    tsl_vk_buffer input;
    uint32_t chunk;
    uint64_t per_image_in;
};

tsl_status tsl_features_session_create(tsl_vk_device *dev, const tsl_safetensors *weights,
                                       tsl_resnet_arch arch, int base_width, uint64_t seed, int h, int w,
                                       uint32_t chunk, tsl_features_session **out) {
    *out = NULL;
    if (h < 1 || w < 1 || chunk == 0)
        return tsl_error(TSL_ERR_INVALID_ARG, "features: %dx%d images in chunks of %u", h, w, chunk);
    if (weights)
        TSL_TRY(tsl_resnet_infer(weights, &arch, &base_width));
    tsl_model_config c;
    tsl_model_config_default(&c, arch);
    c.base_width = base_width;
    c.image_h = h;
    c.image_w = w;
    c.batch = (chunk + 3) / 4 < 2 ? 2 : (chunk + 3) / 4; /* the model holds 4 x batch images */
    c.trunk_only = true;
    tsl_features_session *s = calloc(1, sizeof *s);
    if (!s)
        return tsl_error(TSL_ERR_NOMEM, "features: out of memory");
    *s = (tsl_features_session){.device = dev, .chunk = chunk, .per_image_in = 3ull * h * w};
    tsl_status st = tsl_model_create(dev, &c, &s->model);
    if (st == TSL_OK)
        st = weights ? tsl_model_load_safetensors(s->model, weights, true, NULL)
                     : tsl_model_init_random(s->model, seed);
    if (st == TSL_OK)
        st = tsl_vk_alloc(dev, TSL_MEM_DEVICE, 4 * s->per_image_in * chunk, "feature input", &s->input);
    if (st != TSL_OK) {
        tsl_features_session_destroy(s);
        return st;
    }
    *out = s;
    return TSL_OK;
}

tsl_status tsl_features_session_shape(const tsl_features_session *s, const char *layer, uint32_t n,
                                      tsl_features *shape) {
    memset(shape, 0, sizeof *shape);
    if (!known_layer(layer))
        return tsl_error(TSL_ERR_INVALID_ARG, "features: unknown layer '%s' (conv1, layer1..layer4, avgpool)",
                         layer);
    TSL_TRY(output_shape(s->model, layer, n, shape));
    shape->count = 1;
    for (int i = 0; i < shape->ndim; i++)
        shape->count *= (uint64_t)shape->shape[i];
    return TSL_OK;
}

tsl_status tsl_features_session_run(tsl_features_session *s, const float *images, uint32_t n,
                                    const char *layer, float *out, uint64_t out_count) {
    if (n == 0 || n > s->chunk)
        return tsl_error(TSL_ERR_INVALID_ARG, "features: %u images for a session of chunks of %u", n,
                         s->chunk);
    tsl_vk_range r = tsl_vk_subrange(&s->input, 0, 4 * s->per_image_in * n);
    TSL_TRY(tsl_vk_upload(s->device, r, images));
    return tsl_model_features(s->model, r, n, layer, out, out_count);
}

void tsl_features_session_destroy(tsl_features_session *s) {
    if (!s)
        return;
    tsl_vk_free(s->device, &s->input);
    tsl_model_destroy(s->model);
    free(s);
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
    chunk = chunk < n ? chunk : n;
    tsl_features_session *s;
    TSL_TRY(tsl_features_session_create(dev, weights, TSL_RESNET18, 0, 0, h, w, chunk, &s));
    tsl_status st = tsl_features_session_shape(s, layer, n, out);
    if (st == TSL_OK) {
        out->data = malloc(4 * out->count);
        st = out->data ? TSL_OK : tsl_error(TSL_ERR_NOMEM, "features: out of memory");
    }
    uint64_t per_image_out = out->count / n;
    for (uint32_t first = 0; first < n && st == TSL_OK; first += chunk) {
        uint32_t k = n - first < chunk ? n - first : chunk;
        st = tsl_features_session_run(s, images + s->per_image_in * first, k, layer,
                                      out->data + per_image_out * first, per_image_out * k);
    }
    tsl_features_session_destroy(s);
    if (st != TSL_OK)
        tsl_features_free(out);
    return st;
}

void tsl_features_free(tsl_features *f) {
    free(f->data);
    memset(f, 0, sizeof *f);
}
