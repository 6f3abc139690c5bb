/* Lists an ImageFolder tree (ROOT/<class>/.../<file>) in torchvision's order: class folders sorted by
 * name (byte order), label = position in that list; files of a class sorted by (directory, name), which
 * is what sorted(os.walk(...)) with sorted(fnames) gives. Every regular file is listed (hidden ones,
 * starting with '.', are not): whether it is an image is decided when it is decoded, so that non-images
 * get reported rather than silently dropped. Symbolic links are followed. */
#ifndef TSL_IMAGE_FOLDER_H
#define TSL_IMAGE_FOLDER_H

#include "tsl_status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *path; /* ROOT/class/.../file */
    uint32_t label;
} tsl_folder_item;

typedef struct {
    uint32_t n_classes;
    char **class_names;
    size_t n_items;
    tsl_folder_item *items;
} tsl_image_folder;

/* Scans `root`. Errors: TSL_ERR_NOT_FOUND / TSL_ERR_IO naming a directory that cannot be read,
 * TSL_ERR_FORMAT when `root` holds no class folder. */
tsl_status tsl_image_folder_scan(const char *root, tsl_image_folder *out);

void tsl_image_folder_free(tsl_image_folder *f);

#endif
