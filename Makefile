# The two commands of the README. Real work lives in apps/build.sh, tests/*.sh
# and the Rust workspace; this file only names the entry points.
#
#   make demo   build the example app, sign it, build and verify its image, install it
#   make test   build everything and run every check and test
#   make vm     only the boot-to-app VM scenarios (SCENARIOS="boot kill" for some)

# Heavy build outputs live outside the clone, so a new checkout reuses them.
WEFT_CACHE_DIR ?= /var/cache/weft
export WEFT_CACHE_DIR
export CARGO_TARGET_DIR ?= $(WEFT_CACHE_DIR)/target

.PHONY: demo test vm

demo:
	bash images/demo.sh

test:
	bash tests/run.sh

vm:
	bash tests/vm/run.sh $(SCENARIOS)
