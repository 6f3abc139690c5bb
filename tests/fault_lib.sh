# Shared by the shell fault tests (sourced): counted checks and the fault helpers.
passed=0
failed=0

ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

# check NAME COMMAND...: runs a check command, counting the result.
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else fail "$name"; fi
}

# Runs a command with files limited to $1 KiB (bash's `ulimit -f` unit) and SIGXFSZ ignored (the
# disposition survives exec), so a write past the limit fails with EFBIG instead of killing the process.
with_file_limit() {
    local kib=$1
    shift
    (trap '' XFSZ; ulimit -f "$kib"; exec "$@")
}

no_temporaries() {
    ! find "$1" -name '*.tmp.*' | grep -q .
}
