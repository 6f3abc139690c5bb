/* tessl: equivariant self-supervised learning on any Vulkan GPU. Dispatches to subcommands, like git. */
#include "tsl_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TSL_VERSION
#define TSL_VERSION "unknown"
#endif

static const tsl_cli_command commands[] = {
    {"analyze", "measure how a network's features carry augmentations (paper Figure 1): results.json",
     tsl_cmd_analyze},
    {"augment", "apply the GPU augmentation chain with given parameters to one image", tsl_cmd_augment},
    {"bench", "measure kernel speed at ResNet-50's shapes (compare with tools/bench_ops_vs_torch.py)",
     tsl_cmd_bench},
    {"demo", "the main job on built-in data: synthesize, shard, train lambda 0 and 0.2, compare",
     tsl_cmd_demo},
    {"devices", "list Vulkan devices with their properties and features", tsl_cmd_devices},
    {"export", "write a checkpoint's weights with torchvision names (safetensors) for PyTorch",
     tsl_cmd_export},
    {"features", "evaluation-mode features of a ResNet trunk for images in a .npy file", tsl_cmd_features},
    {"inspect", "summarise shards; --verify checks every checksum", tsl_cmd_inspect},
    {"neural", "Brain-Score-style neural (IT) predictivity of a network's layer: results.json",
     tsl_cmd_neural},
    {"preview", "draw one augmented TeSSL batch (pairs under shared t and t') as a PNG", tsl_cmd_preview},
    {"report", "Figure 1 panels against lambda, loss curves and tables: report.html, PNG, SVG",
     tsl_cmd_report},
    {"selftest", "run every basic kernel on the device against a CPU reference", tsl_cmd_selftest},
    {"shard", "decode, resize and pack an ImageFolder tree into checksummed shards", tsl_cmd_shard},
    {"sweep", "train (or take) networks at several lambdas, analyse each, and report Figure 1",
     tsl_cmd_sweep},
    {"synth", "write a procedurally drawn labelled image data set (ImageNet layout)", tsl_cmd_synth},
    {"train", "pre-train a ResNet with TeSSL on shards (checkpoints, resume, JSONL log)", tsl_cmd_train},
};
static const int n_commands = sizeof commands / sizeof commands[0];

static void print_usage(FILE *f) {
    fprintf(f, "usage: tessl [--version] [--help] <command> [options] [args]\n\n"
               "tessl trains equivariant self-supervised networks (TeSSL) on any Vulkan device.\n\n"
               "commands:\n");
    for (int i = 0; i < n_commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'tessl <command> --help' describes a command's options.\n"
               "Environment: TESSL_DEVICE=N picks a device; TESSL_VALIDATION=1 enables Vulkan validation.\n");
}

int tsl_cli_fail(tsl_status status) {
    fprintf(stderr, "tessl: %s\n", tsl_error_message()[0] ? tsl_error_message() : tsl_status_name(status));
    return status == TSL_ERR_INVALID_ARG ? TSL_EXIT_USAGE : TSL_EXIT_FAILURE;
}

int tsl_cli_parse(const tsl_command_spec *spec, int argc, char **argv, tsl_args_result *args) {
    tsl_status st = tsl_args_parse(spec, argc, argv, args);
    if (st != TSL_OK)
        return tsl_cli_fail(st);
    return args->help_shown ? TSL_EXIT_OK : TSL_CLI_CONTINUE;
}

tsl_status tsl_cli_open_device(int64_t device_index, tsl_vk_device **device) {
    return tsl_cli_open_device_with(device_index, TSL_VK_TENSOR_CORES_OFF, device);
}

tsl_status tsl_cli_open_device_with(int64_t device_index, tsl_vk_tensor_cores tensor_cores,
                                    tsl_vk_device **device) {
    tsl_vk_options options;
    tsl_vk_options_default(&options);
    options.device_index = (int)device_index;
    options.tensor_cores = tensor_cores;
    const char *validation = getenv("TESSL_VALIDATION");
    options.validation = validation && strcmp(validation, "0") != 0 && *validation;
    return tsl_vk_device_open(&options, device);
}

tsl_status tsl_cli_close_device(tsl_vk_device *device) {
    uint32_t messages = device ? tsl_vk_validation_message_count(device) : 0;
    tsl_vk_device_close(device);
    if (messages)
        return tsl_error(TSL_ERR_VULKAN, "the Vulkan validation layer reported %u problem(s) (printed above)",
                         messages);
    return TSL_OK;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_usage(stderr);
        return TSL_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        if (argc > 2 && strcmp(name, "help") == 0) {
            for (int i = 0; i < n_commands; i++)
                if (strcmp(commands[i].name, argv[2]) == 0)
                    return commands[i].run(2, (char *[]){argv[2], "--help", NULL});
            fprintf(stderr, "tessl: no command '%s'\n", argv[2]);
            return TSL_EXIT_USAGE;
        }
        print_usage(stdout);
        return TSL_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("tessl %s\n", TSL_VERSION);
        return TSL_EXIT_OK;
    }
    for (int i = 0; i < n_commands; i++)
        if (strcmp(commands[i].name, name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    if (name[0] == '-')
        fprintf(stderr, "tessl: unknown option '%s' (options go after the command; see 'tessl --help')\n",
                name);
    else
        fprintf(stderr, "tessl: '%s' is not a tessl command (see 'tessl --help')\n", name);
    return TSL_EXIT_USAGE;
}
