# Convenience front door: installs what is missing (tools/setup), configures and builds with meson, then
# runs the main job or the test suite. The build itself is meson + ninja (see README.md).
BUILD ?= build

.PHONY: demo test build setup sanitize clean

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

clean:
	rm -rf $(BUILD) build-asan
