/* The `tessl` command line: one function per subcommand, each parsing its own options with tsl_args. */
#ifndef TSL_CLI_H
#define TSL_CLI_H

#include "tsl_args.h"
#include "tsl_vk.h"

/* Exit codes of every subcommand. */
enum { TSL_EXIT_OK = 0, TSL_EXIT_FAILURE = 1, TSL_EXIT_USAGE = 2 };

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
} tsl_cli_command;

/* Parses a subcommand's arguments. Returns TSL_CLI_CONTINUE when the command should run, else the exit
 * code to return at once: TSL_EXIT_OK after --help, TSL_EXIT_USAGE (message printed) on bad arguments. */
enum { TSL_CLI_CONTINUE = -1 };
int tsl_cli_parse(const tsl_command_spec *spec, int argc, char **argv, tsl_args_result *args);

/* Prints "tessl: <message>" for a failed status and returns the matching exit code. */
int tsl_cli_fail(tsl_status status);

/* The option every device-using command takes: --device N (default: TESSL_DEVICE, else automatic). */
#define TSL_CLI_DEVICE_OPTION(dest)                                                                          \
    {                                                                                                        \
        "--device", TSL_OPT_INT, (dest), "N",                                                                \
            "Vulkan device index from 'tessl devices' (-1: $TESSL_DEVICE, else the fastest)", -1, 1000       \
    }

/* Opens the device chosen by --device / TESSL_DEVICE; TESSL_VALIDATION=1 turns on the validation layer. */
tsl_status tsl_cli_open_device(int64_t device_index, tsl_vk_device **device);

/* The same, enabling a cooperative-matrix extension as `tensor_cores` asks (tsl_vk_options). */
tsl_status tsl_cli_open_device_with(int64_t device_index, tsl_vk_tensor_cores tensor_cores,
                                    tsl_vk_device **device);

/* Closes the device; when validation was on and reported anything, returns TSL_ERR_VULKAN saying so. */
tsl_status tsl_cli_close_device(tsl_vk_device *device);

int tsl_cmd_analyze(int argc, char **argv);
int tsl_cmd_augment(int argc, char **argv);
int tsl_cmd_bench(int argc, char **argv);
int tsl_cmd_devices(int argc, char **argv);
int tsl_cmd_export(int argc, char **argv);
int tsl_cmd_features(int argc, char **argv);
int tsl_cmd_demo(int argc, char **argv);
int tsl_cmd_neural(int argc, char **argv);
int tsl_cmd_preview(int argc, char **argv);
int tsl_cmd_report(int argc, char **argv);
int tsl_cmd_sweep(int argc, char **argv);
int tsl_cmd_selftest(int argc, char **argv);
int tsl_cmd_train(int argc, char **argv);
int tsl_cmd_synth(int argc, char **argv);
int tsl_cmd_shard(int argc, char **argv);
int tsl_cmd_inspect(int argc, char **argv);

#endif
