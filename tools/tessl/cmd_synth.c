/* `tessl synth`: writes the procedural shapes data set (datasets/tsl_synth.h) in ImageNet's layout. */
#include "tsl_cli.h"
#include "tsl_synth.h"

int tsl_cmd_synth(int argc, char **argv) {
    tsl_synth_options o;
    tsl_synth_options_default(&o);
    int64_t classes = o.classes, per_class = o.per_class, val_per_class = o.val_per_class, size = o.size;
    int64_t seed = 0, quality = o.quality;
    bool quiet = false;
    tsl_opt opts[] = {
        {"--classes", TSL_OPT_INT, &classes, "K", "number of shape classes", 1, TSL_SYNTH_MAX_CLASSES},
        {"--per-class", TSL_OPT_INT, &per_class, "N", "training images per class", 0, 10000000},
        {"--val-per-class", TSL_OPT_INT, &val_per_class, "M", "validation images per class", 0, 10000000},
        {"--size", TSL_OPT_INT, &size, "S", "shorter side in pixels (the other is S..1.5*S)", 8, 4096},
        {"--seed", TSL_OPT_INT, &seed, "X", "random seed: the same seed writes the same bytes", 0, INT64_MAX},
        {"--quality", TSL_OPT_INT, &quality, "Q", "JPEG quality", 1, 100},
        {"--plain", TSL_OPT_FLAG, &o.plain, NULL, "flat one-colour backgrounds instead of textures", 0, 0},
        {"--quiet", TSL_OPT_FLAG, &quiet, NULL, "no progress line", 0, 0},
    };
    tsl_command_spec spec = {
        .name = "tessl synth",
        .args = "OUT",
        .summary = "Writes a labelled image data set of procedurally drawn shapes in ImageNet's layout:\n"
                   "OUT/train/<class>/*.JPEG and OUT/val/<class>/*.JPEG. The class is the shape; colour,\n"
                   "size, position, rotation, background texture and aspect are random.",
        .opts = opts,
        .n_opts = sizeof opts / sizeof opts[0],
        .min_positional = 1,
        .max_positional = 1,
    };
    tsl_args_result args;
    int rc = tsl_cli_parse(&spec, argc, argv, &args);
    if (rc != TSL_CLI_CONTINUE)
        return rc;
    o.out_dir = args.positional[0];
    o.classes = (int)classes;
    o.per_class = (int)per_class;
    o.val_per_class = (int)val_per_class;
    o.size = (int)size;
    o.seed = (uint64_t)seed;
    o.quality = (int)quality;
    o.progress = !quiet;
    tsl_status st = tsl_synth_write(&o);
    if (st != TSL_OK)
        return tsl_cli_fail(st);
    return TSL_EXIT_OK;
}
