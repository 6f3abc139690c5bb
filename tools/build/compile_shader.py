#!/usr/bin/env python3
"""Compiles one GLSL compute shader to SPIR-V and validates it (build-time only).

Usage: compile_shader.py GLSLANG SPIRV_VAL SOURCE OUTPUT DEPFILE [-DNAME=VALUE ...]

glslangValidator writes the depfile, so a change to the source or to any file it #includes
rebuilds the shader. spirv-val then checks the module against the Vulkan 1.2 environment the
runtime requires; a shader that fails validation fails the build.
"""
import subprocess
import sys


def main(argv):
    if len(argv) < 6:
        sys.stderr.write(__doc__)
        return 2
    glslang, spirv_val, source, output, depfile = argv[1:6]
    defines = argv[6:]
    compile_cmd = [glslang, "--quiet", "-V", "--target-env", "vulkan1.2", "-g0",
                   "--depfile", depfile, "-o", output] + defines + [source]
    result = subprocess.run(compile_cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write("glslangValidator failed on %s:\n%s%s" % (source, result.stdout, result.stderr))
        return 1
    result = subprocess.run([spirv_val, "--target-env", "vulkan1.2", output], capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write("spirv-val rejected %s:\n%s%s" % (source, result.stdout, result.stderr))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
