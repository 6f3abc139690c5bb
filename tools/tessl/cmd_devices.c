/* `tessl devices`: what every Vulkan device offers, in the terms tessl uses to choose kernels. */
#include "tsl_cli.h"

#include <stdlib.h>

static const char *yes_no(bool b) {
    return b ? "yes" : "no";
}

static void print_device(const tsl_vk_features *f) {
    printf("device %u: %s\n", f->index, f->name);
    printf("  type:                %s\n", tsl_vk_device_type_name(f->type));
    printf("  vendor / device id:  0x%04x / 0x%04x\n", f->vendor_id, f->device_id);
    printf("  Vulkan:              %u.%u.%u\n", VK_API_VERSION_MAJOR(f->api_version),
           VK_API_VERSION_MINOR(f->api_version), VK_API_VERSION_PATCH(f->api_version));
    if (!f->usable) {
        printf("  usable by tessl:     no (%s)\n\n", f->unusable_reason);
        return;
    }
    printf("  driver:              %s (%s)\n", f->driver_name, f->driver_info);
    printf("  device memory:       %.1f GiB%s\n", f->device_local_bytes / 1073741824.0,
           f->unified_memory ? " (unified with host)" : "");
    printf("  subgroup size:       %u (range %u-%u, size control %s)\n", f->subgroup_size,
           f->min_subgroup_size, f->max_subgroup_size, yes_no(f->subgroup_size_control));
    printf("  subgroup ops:        arithmetic %s, shuffle %s, ballot %s\n", yes_no(f->subgroup_arithmetic),
           yes_no(f->subgroup_shuffle), yes_no(f->subgroup_ballot));
    printf("  fp16:                arithmetic %s, storage %s\n", yes_no(f->fp16_arithmetic),
           yes_no(f->fp16_storage));
    printf("  int8:                arithmetic %s, storage %s\n", yes_no(f->int8_arithmetic),
           yes_no(f->int8_storage));
    printf("  cooperative matrix:  NV %s, KHR %s\n", yes_no(f->cooperative_matrix_nv),
           yes_no(f->cooperative_matrix_khr));
    printf("  tensor-core GEMM:    %s (fp16 x fp16 + fp32 16x16x16, subgroup scope: NV %s, KHR %s)\n",
           f->coopmat_khr_f16  ? "KHR"
           : f->coopmat_nv_f16 ? "NV"
                               : "no",
           yes_no(f->coopmat_nv_f16), yes_no(f->coopmat_khr_f16));
    printf("  max storage binding: %.1f MiB\n", f->max_storage_buffer_range / 1048576.0);
    printf("  max buffer / alloc:  %.1f / %.1f GiB\n", f->max_buffer_size / 1073741824.0,
           f->max_allocation_size / 1073741824.0);
    printf("  shared memory:       %u KiB, %u invocations per workgroup\n", f->max_shared_memory / 1024,
           f->max_workgroup_invocations);
    if (f->max_loop_iterations)
        printf("  quirk:               shader loops stop after %u iterations (long sums are split)\n",
               f->max_loop_iterations);
    printf("  compute queues:      %u (family %u), timestamps %s\n\n", f->compute_queue_count,
           f->compute_queue_family, yes_no(f->timestamps));
}

int tsl_cmd_devices(int argc, char **argv) {
    tsl_command_spec spec = {
        .name = "tessl devices",
        .args = "",
        .summary =
            "Lists every Vulkan device: type, driver, memory, subgroup size and the features tessl uses.\n"
            "The index is what --device and TESSL_DEVICE take.",
    };
    tsl_args_result args;
    int rc = tsl_cli_parse(&spec, argc, argv, &args);
    if (rc != TSL_CLI_CONTINUE)
        return rc;
    tsl_vk_features *devices = NULL;
    uint32_t n = 0;
    tsl_status st = tsl_vk_list_devices(&devices, &n);
    if (st != TSL_OK)
        return tsl_cli_fail(st);
    for (uint32_t i = 0; i < n; i++)
        print_device(&devices[i]);
    free(devices);
    return TSL_EXIT_OK;
}
