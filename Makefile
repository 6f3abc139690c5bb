# Conveniences for those who have make; everything is in tools/run, which needs only bash (README).
.PHONY: demo test build sanitize fuzz clean
FUZZ_SECONDS ?= 30

demo:
	tools/run demo
test:
	tools/run test
build:
	tools/run build
sanitize:
	tools/run sanitize
fuzz:
	tools/run fuzz $(FUZZ_SECONDS)
clean:
	rm -rf build build-asan build-fuzz
