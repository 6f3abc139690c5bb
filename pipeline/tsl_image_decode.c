#include "tsl_image_decode.h"

#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

static tsl_status check_dimensions(const char *kind, long w, long h) {
    if (w < 1 || h < 1)
        return tsl_error(TSL_ERR_FORMAT, "%s header is cut short or claims an empty %ldx%ld image", kind, w,
                         h);
    if (w > TSL_DECODE_MAX_SIDE || h > TSL_DECODE_MAX_SIDE || (long long)w * h > TSL_DECODE_MAX_PIXELS)
        return tsl_error(TSL_ERR_FORMAT,
                         "%s header claims %ldx%ld pixels: over the limit (side %d, %lld pixels), "
                         "refused as a possible decompression bomb",
                         kind, w, h, TSL_DECODE_MAX_SIDE, TSL_DECODE_MAX_PIXELS);
    return TSL_OK;
}

/* The output size for a full-size w x h image: the target's, or the full size when `target` is NULL. */
static void output_size(const tsl_resize_target *target, int w, int h, int *ow, int *oh) {
    if (target)
        tsl_resize_output_size(target, w, h, ow, oh);
    else
        *ow = w, *oh = h;
}

/* Resizes `img` in place to the target's output size for a full-size w x h image. */
static tsl_status resize_to_target(tsl_image *img, int full_w, int full_h, const tsl_resize_target *target) {
    int ow, oh;
    output_size(target, full_w, full_h, &ow, &oh);
    if (ow == img->width && oh == img->height)
        return TSL_OK;
    uint8_t *out = malloc((size_t)ow * oh * 3);
    if (!out)
        return tsl_error(TSL_ERR_NOMEM, "out of memory for a %dx%d image", ow, oh);
    tsl_status st = tsl_resize_rgb8(img->rgb, img->width, img->height, out, ow, oh);
    if (st != TSL_OK) {
        free(out);
        return st;
    }
    free(img->rgb);
    img->rgb = out;
    img->width = ow;
    img->height = oh;
    return TSL_OK;
}

/* The smallest TurboJPEG scaling factor whose decoded size still covers out_w x out_h, considering only
 * reductions by 2 or more: a small reduction is left to the resize filter, so that the DCT shortcut is
 * taken only where it saves most of the decoding work. */
static tjscalingfactor pick_scale(int w, int h, int out_w, int out_h) {
    tjscalingfactor best = {1, 1};
    int n = 0;
    tjscalingfactor *factors = tjGetScalingFactors(&n);
    for (int i = 0; factors && i < n; i++) {
        tjscalingfactor f = factors[i];
        if (2 * f.num <= f.denom && f.num * best.denom < best.num * f.denom && TJSCALED(w, f) >= out_w &&
            TJSCALED(h, f) >= out_h)
            best = f;
    }
    return best;
}

/* Adobe CMYK as TurboJPEG stores it (inverted): each byte is 255 - ink, so R = C * K / 255. */
static void cmyk_to_rgb(const uint8_t *cmyk, uint8_t *rgb, size_t pixels) {
    for (size_t i = 0; i < pixels; i++) {
        unsigned k = cmyk[4 * i + 3];
        for (int c = 0; c < 3; c++)
            rgb[3 * i + c] = (uint8_t)((cmyk[4 * i + c] * k + 127) / 255);
    }
}

static tsl_status jpeg_failure(tjhandle tj) {
    return tsl_error(TSL_ERR_FORMAT, "corrupt JPEG: %s", tjGetErrorStr2(tj));
}

static tsl_status decode_jpeg_pixels(tjhandle tj, const uint8_t *data, size_t size, int sw, int sh, int cmyk,
                                     tsl_image *img) {
    int channels = cmyk ? 4 : 3;
    uint8_t *buf = malloc((size_t)sw * sh * channels);
    if (!buf)
        return tsl_error(TSL_ERR_NOMEM, "out of memory for a %dx%d JPEG", sw, sh);
    if (tjDecompress2(tj, data, size, buf, sw, 0, sh, cmyk ? TJPF_CMYK : TJPF_RGB, TJFLAG_LIMITSCANS) != 0) {
        /* Warnings (e.g. extraneous bytes) leave a good image; a premature end leaves grey rows. */
        const char *msg = tjGetErrorStr2(tj);
        if (tjGetErrorCode(tj) != TJERR_WARNING || strstr(msg, "Premature end")) {
            tsl_status st = tsl_error(TSL_ERR_FORMAT, "%s JPEG: %s",
                                      strstr(msg, "Premature end") ? "truncated" : "corrupt", msg);
            free(buf);
            return st;
        }
    }
    if (cmyk) {
        uint8_t *rgb = malloc((size_t)sw * sh * 3);
        if (!rgb) {
            free(buf);
            return tsl_error(TSL_ERR_NOMEM, "out of memory for a %dx%d JPEG", sw, sh);
        }
        cmyk_to_rgb(buf, rgb, (size_t)sw * sh);
        free(buf);
        buf = rgb;
    }
    *img = (tsl_image){sw, sh, buf};
    return TSL_OK;
}

static tsl_status decode_jpeg(const uint8_t *data, size_t size, const tsl_resize_target *target,
                              tsl_image *out) {
    tjhandle tj = tjInitDecompress();
    if (!tj)
        return tsl_error(TSL_ERR_NOMEM, "cannot start a JPEG decoder: %s", tjGetErrorStr2(NULL));
    int w = 0, h = 0, subsamp = 0, colorspace = 0;
    tsl_status st = TSL_OK;
    if (tjDecompressHeader3(tj, data, (unsigned long)size, &w, &h, &subsamp, &colorspace) != 0)
        st = jpeg_failure(tj);
    if (st == TSL_OK)
        st = check_dimensions("JPEG", w, h);
    if (st == TSL_OK) {
        int ow, oh;
        output_size(target, w, h, &ow, &oh);
        tjscalingfactor f = pick_scale(w, h, ow, oh);
        int cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
        st = decode_jpeg_pixels(tj, data, size, TJSCALED(w, f), TJSCALED(h, f), cmyk, out);
    }
    tjDestroy(tj);
    if (st == TSL_OK) {
        st = resize_to_target(out, w, h, target);
        if (st != TSL_OK) {
            free(out->rgb);
            out->rgb = NULL;
        }
    }
    return st;
}

static tsl_status decode_png(const uint8_t *data, size_t size, const tsl_resize_target *target,
                             tsl_image *out) {
    png_image png;
    memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&png, data, size))
        return tsl_error(TSL_ERR_FORMAT, "corrupt PNG: %s", png.message);
    tsl_status st = check_dimensions("PNG", (long)png.width, (long)png.height);
    if (st != TSL_OK) {
        png_image_free(&png);
        return st;
    }
    /* 16-bit files without gAMA/sRGB are sRGB-encoded in practice (PIL treats them so), not linear. */
    png.flags |= PNG_IMAGE_FLAG_16BIT_sRGB;
    png.format = PNG_FORMAT_RGB;
    int w = (int)png.width, h = (int)png.height;
    uint8_t *rgb = malloc(PNG_IMAGE_SIZE(png));
    if (!rgb) {
        png_image_free(&png);
        return tsl_error(TSL_ERR_NOMEM, "out of memory for a %dx%d PNG", w, h);
    }
    if (!png_image_finish_read(&png, NULL, rgb, 0, NULL)) {
        st = tsl_error(TSL_ERR_FORMAT, "corrupt PNG: %s", png.message);
        free(rgb);
        png_image_free(&png);
        return st;
    }
    *out = (tsl_image){w, h, rgb};
    st = resize_to_target(out, w, h, target);
    if (st != TSL_OK) {
        free(out->rgb);
        out->rgb = NULL;
    }
    return st;
}

/* `target` NULL: full size. */
static tsl_status decode_any(const uint8_t *data, size_t size, const tsl_resize_target *target,
                             tsl_image *out) {
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    *out = (tsl_image){0, 0, NULL};
    if (size == 0)
        return tsl_error(TSL_ERR_FORMAT, "empty file");
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        return decode_jpeg(data, size, target, out);
    if (size >= 8 && memcmp(data, png_magic, 8) == 0)
        return decode_png(data, size, target, out);
    return tsl_error(TSL_ERR_FORMAT, "not a JPEG or PNG image (first bytes %02x %02x %02x %02x)", data[0],
                     size > 1 ? data[1] : 0, size > 2 ? data[2] : 0, size > 3 ? data[3] : 0);
}

tsl_status tsl_image_decode(const uint8_t *data, size_t size, const tsl_resize_target *target,
                            tsl_image *out) {
    return decode_any(data, size, target, out);
}

tsl_status tsl_image_decode_full(const uint8_t *data, size_t size, tsl_image *out) {
    return decode_any(data, size, NULL, out);
}
