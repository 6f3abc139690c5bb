/* Linked into every executable of a build with AddressSanitizer (meson.build), and only there: dlclose
 * does nothing, so shared libraries stay mapped until the process exits.
 *
 * Why: LeakSanitizer checks at exit. A block that a library keeps in its globals and never frees is
 * reachable while the library is mapped, but once the Vulkan loader has unloaded the driver it is
 * reported as a leak from an "<unknown module>" that no suppression can name (google/sanitizers#89).
 * Mesa 22.3's lavapipe does this on AMD Zen processors: util_cpu_detect keeps a 128-byte L3-cache
 * affinity mask per L3 cache (realloc'd in libvulkan_lvp.so), so every test that opens a device failed
 * the sanitizer run there and nowhere else. Leaks of tessl's own allocations are still reported. */
#include <dlfcn.h>

int dlclose(void *handle) {
    (void)handle;
    return 0;
}
