/* Stimulus images as Brain-Score shows them to a model (brain-score/vision: benchmarks/screen.py
 * place_on_screen, then model_helpers' torchvision preprocessing):
 *
 * 1. field of view: ratio = model_degrees / stimulus_degrees. ratio > 1 (the stimulus covers less of the
 *    visual field than the model sees) pastes the image, centred, on a gray (128, 128, 128) canvas
 *    round(ratio * w) x round(ratio * h); ratio < 1 crops the centre round(ratio * w) x round(ratio * h);
 *    offsets round((canvas - image) / 2). Rounding is numpy's (half to even).
 * 2. resize to size x size (antialiased bilinear, as PIL's resize behind torchvision's Resize((224, 224))),
 *    RGB8.
 * 3. ImageNet normalisation: (x / 255 - mean) / std per channel, NCHW float.
 *
 * Brain-Score writes the placed image back in the source's file format (a JPEG is re-encoded); here it
 * stays in memory, so JPEG stimuli differ by that re-encoding. */
#ifndef TSL_NEURAL_STIMULI_H
#define TSL_NEURAL_STIMULI_H

#include "tsl_neural_data.h"

#include <stdint.h>

typedef struct {
    int size;                /* model input side (224) */
    double stimulus_degrees; /* visual angle the stimuli were shown at (MajajHong2015: 8) */
    double model_degrees;    /* the model's field of view (8) */
} tsl_neural_view;

/* The image file of stimulus i: DIR/filename when the data has file names, else the first of DIR/ID,
 * DIR/ID.png, .jpg, .jpeg, .JPEG, .PNG, .JPG that exists. TSL_ERR_NOT_FOUND names what was tried. */
tsl_status tsl_neural_stimulus_path(const char *dir, const tsl_neural_data *data, size_t i, char *path,
                                    size_t path_size);

/* Places an RGB8 w x h image in the field of view and resizes it: rgb_out holds view->size^2 * 3 bytes. */
tsl_status tsl_neural_place(const uint8_t *rgb, int w, int h, const tsl_neural_view *view, uint8_t *rgb_out);

/* Loads (PNG or JPEG, any colour type), places and resizes stimulus i; errors name the file. */
tsl_status tsl_neural_load_stimulus(const char *dir, const tsl_neural_data *data, size_t i,
                                    const tsl_neural_view *view, uint8_t *rgb_out);

/* ImageNet normalisation of an RGB8 size x size image into chw (3 x size x size floats). */
void tsl_neural_normalize(const uint8_t *rgb, int size, float *chw);

#endif
