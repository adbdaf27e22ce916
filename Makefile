# The two commands of the README. Real work lives in apps/build.sh, tests/*.sh
# and the Rust workspace; this file only names the entry points.
#
#   make demo   build the example app, sign it, build and verify its image, install it
#   make test   build everything and run every check and test
#   make vm     only the boot-to-app VM scenarios (SCENARIOS="boot kill" for some)
#   make servo  build the Servo web shells (about 21 minutes cold on 2 cores; cached after)
#   make test-servo  only the Servo suite (skipped, saying why, without that build)

# Heavy build outputs live outside the clone, so a new checkout reuses them.
WEFT_CACHE_DIR ?= /var/cache/weft
export WEFT_CACHE_DIR
export CARGO_TARGET_DIR ?= $(WEFT_CACHE_DIR)/target

.PHONY: demo test vm servo test-servo

demo:
	bash images/demo.sh

test:
	bash tests/run.sh

vm:
	bash tests/vm/run.sh $(SCENARIOS)

servo:
	bash tests/servo.sh build

test-servo:
	bash tests/servo.sh test
