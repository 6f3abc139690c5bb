# Convenience front door: installs what is missing (tools/setup), configures and builds with meson, then
# runs the main job or the test suite. The build itself is meson + ninja (see README.md).
BUILD ?= build
SHELL := /bin/bash

.PHONY: demo test build setup sanitize fuzz clean

demo: build
	$(BUILD)/tessl demo

test: build
	meson test -C $(BUILD) --print-errorlogs

build: setup
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD)
	ninja -C $(BUILD)

setup:
	tools/setup

# AddressSanitizer + UndefinedBehaviorSanitizer build and tests, in build-asan/.
sanitize: setup
	@[ -f build-asan/build.ninja ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C build-asan
	ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C build-asan --print-errorlogs

# Each libFuzzer target for FUZZ_SECONDS (default 30) on a scratch copy of its committed corpus, in
# build-fuzz/ (clang, ASan + UBSan). A crash leaves its input in build-fuzz/ and fails the target.
# Only the fuzz binaries are built there (the Check suites are built and run by `make test`/`sanitize`).
FUZZ_SECONDS ?= 30
FUZZ_TARGETS := $(notdir $(wildcard tests/fuzz/corpus/*))
fuzz: setup
	@[ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false
	ninja -C build-fuzz $(addprefix tests/fuzz/fuzz_,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
		rm -rf build-fuzz/corpus-$$t && cp -r tests/fuzz/corpus/$$t build-fuzz/corpus-$$t && \
		echo "== fuzz_$$t for $(FUZZ_SECONDS) s" && \
		LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp build-fuzz/tests/fuzz/fuzz_$$t \
			-max_total_time=$(FUZZ_SECONDS) -artifact_prefix=build-fuzz/crash-$$t- \
			build-fuzz/corpus-$$t 2>&1 | grep -E "^#[0-9]+ +DONE|ERROR|SUMMARY|Done [0-9]+ runs" ; \
		test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

clean:
	rm -rf $(BUILD) build-asan build-fuzz
