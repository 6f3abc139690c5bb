#!/bin/bash
# Packs tessl for a lent GPU machine that has a driver but none of tessl's libraries (this workplace's
# `device` tool: its README says to build here and carry the build). Builds build-gpu/ (release,
# no MPI), then writes .gl/ (git-ignored): bundle.tar.xz with tessl, the Check test programs, every
# shared library they load but glibc's, and Debian's Khronos validation layer; plus the .debs of the
# Vulkan loader and GL dispatch libraries that the NVIDIA driver's Vulkan ICD needs. Run the checks
# there with tools/gpu/run.sh, carrying .gl.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=build-gpu S=/tmp/tessl-gpu-stage
[ -d $B ] || meson setup $B -Dmpi=disabled -Dbuildtype=release >/dev/null
ninja -C $B >/dev/null
rm -rf $S && mkdir -p $S/lib $S/layers $S/$B/tests .gl
bins="$B/tessl $(find $B/tests -maxdepth 1 -type f -executable \( -name 'test_*' -o -name neural_plant -o -name compare_checkpoints \))"
for b in $bins; do ldd "$b"; done | awk '/=>/{print $3}' | sort -u |
    grep -v -E '/(libc|libm|ld-linux|libresolv|libpthread|libdl|libgcc_s|libstdc\+\+)\.so' | xargs -r cp -L -t $S/lib/
cp -L /usr/lib/x86_64-linux-gnu/libVkLayer_khronos_validation.so $S/lib/
cp /usr/share/vulkan/explicit_layer.d/VkLayer_khronos_validation.json $S/layers/
cp $B/tessl $S/$B/
for b in $bins; do [ "$b" = $B/tessl ] || cp "$b" $S/$B/tests/; done
strip $S/$B/tessl $S/$B/tests/*
(cd $S && tar cf - . | xz -T0 -6) > .gl/bundle.tar.xz
rm -rf $S
pwd >.gl/build_root # where the tests' absolute paths point
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
    o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    mkdir -p /tmp/amd64/partial && apt-get $o update >/dev/null
    (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null)
fi
ls -la .gl
