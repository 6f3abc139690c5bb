/* `tessl shard`: ImageFolder tree -> checksummed shards of resized RGB8 pixels (pipeline/). */
#include "tsl_cli.h"
#include "tsl_shard_build.h"

int tsl_cmd_shard(int argc, char **argv) {
    tsl_shard_options o;
    tsl_shard_options_default(&o);
    int64_t short_side = 0, max_side = 0, level = o.level, threads = 0, shard_size = o.shard_size;
    bool strict = false, quiet = false, no_filter = false;
    tsl_opt opts[] = {
        {"--short-side", TSL_OPT_INT, &short_side, "N",
         "resize so the shorter side is N (0: 256 unless --max-side)", 0, 32768},
        {"--max-side", TSL_OPT_INT, &max_side, "N", "resize so the longer side is N instead", 0, 32768},
        {"--level", TSL_OPT_INT, &level, "L",
         "0 stores pixels uncompressed (fastest to load); -7 (fastest) to 19 (smallest) compress with "
         "zstd, -3 recommended",
         -7, 19},
        {"--no-filter", TSL_OPT_FLAG, &no_filter, NULL,
         "with a zstd --level: compress raw pixels (shard compression 1), not differences from the row above",
         0, 0},
        {"--threads", TSL_OPT_INT, &threads, "T", "worker threads (0: one per CPU)", 0, 1024},
        {"--shard-size", TSL_OPT_INT, &shard_size, "N", "input images per shard", 1, 1 << 24},
        {"--strict", TSL_OPT_FLAG, &strict, NULL, "exit with an error if any input was skipped", 0, 0},
        {"--quiet", TSL_OPT_FLAG, &quiet, NULL, "no progress line", 0, 0},
    };
    tsl_command_spec spec = {
        .name = "tessl shard",
        .args = "SRC OUT",
        .summary =
            "Decodes, resizes (aspect kept, antialiased) and packs an ImageFolder tree SRC/<class>/* into\n"
            "checksummed shards of pixels, OUT/shard-NNNNN.tss (docs/SHARD_FORMAT.md). With SRC/train\n"
            "and SRC/val, each split goes to OUT/train and OUT/val.",
        .details =
            "Images are never enlarged. Inputs that cannot be decoded are skipped and listed with the\n"
            "reason in OUT/report.txt. Shards are written atomically; a rerun keeps complete shards\n"
            "made from the same inputs and settings.\n"
            "\n"
            "Pixels are stored uncompressed by default: the loader then only reads and checksums, at\n"
            "about 3 times fewer CPU seconds per image than from zstd. --level -3 stores 1.6 to 1.9\n"
            "times fewer bytes (zstd of row differences, Huffman-coded) for about 4000 images per CPU\n"
            "second when loading: use it when disk space, or a disk slower than the loader's reads\n"
            "(about 250 KB per image at short side 256), is the limit.",
        .opts = opts,
        .n_opts = sizeof opts / sizeof opts[0],
        .min_positional = 2,
        .max_positional = 2,
    };
    tsl_args_result args;
    int rc = tsl_cli_parse(&spec, argc, argv, &args);
    if (rc != TSL_CLI_CONTINUE)
        return rc;
    if (short_side > 0 && max_side > 0)
        return tsl_cli_fail(
            tsl_error(TSL_ERR_INVALID_ARG, "tessl shard: give --short-side or --max-side, not both"));
    o.src_dir = args.positional[0];
    o.out_dir = args.positional[1];
    o.target = (tsl_resize_target){.short_side = max_side > 0     ? 0
                                                 : short_side > 0 ? (int)short_side
                                                                  : 256,
                                   .max_side = (int)max_side};
    o.level = (int)level;
    o.filter = !no_filter;
    o.threads = (int)threads;
    o.shard_size = (int)shard_size;
    o.progress = !quiet;
    tsl_shard_summary s;
    tsl_status st = tsl_shard_build(&o, &s);
    if (st != TSL_OK)
        return tsl_cli_fail(st);
    fprintf(stderr,
            "shard: %llu inputs: %llu written, %llu skipped (see %s/report.txt), %llu kept in %u complete "
            "shards from an earlier run; %u shards written",
            (unsigned long long)s.inputs, (unsigned long long)s.written, (unsigned long long)s.skipped,
            o.out_dir, (unsigned long long)s.resumed_records, s.shards_resumed, s.shards_written);
    if (s.stored_bytes > 0)
        fprintf(stderr, ", %.1f MB of pixels stored in %.1f MB (%.2f:1)", s.raw_bytes / 1e6,
                s.stored_bytes / 1e6, (double)s.raw_bytes / (double)s.stored_bytes);
    fprintf(stderr, "\n");
    if (strict && s.skipped > 0) {
        fprintf(stderr, "tessl shard: --strict: %llu inputs were skipped\n", (unsigned long long)s.skipped);
        return TSL_EXIT_FAILURE;
    }
    return TSL_EXIT_OK;
}
