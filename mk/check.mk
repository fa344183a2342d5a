# mk/check.mk — the checks beyond `make test`: sanitizers, memcheck, fuzzing.
#
#   make asan       every test suite (float and double) under AddressSanitizer and
#                   UndefinedBehaviorSanitizer, leaks included; gcc, build/asan/ (CI runs it)
#   make valgrind   a short training run stopped by SIGTERM, its resume (--save) and generate
#                   under memcheck: no errors, no leaks; build/vg/ (installs valgrind as root)
#   make fuzz       libFuzzer (clang) on the config reader and on the safetensors reader with
#                   the checkpoint loader behind it, FUZZ_SECONDS each (default 60), seeds from
#                   tests/fuzz/ and tests/bad/; a crash is written to
#                   tests/fuzz/regressions/<target>/ (commit it: tests/test_fuzz_replay.c then
#                   replays it in every `make test` and `make asan`); build/fuzz/
#
# Each builds in its own folder below build/ through this Makefile (B=build/asan, OPT=...), so
# the normal build is untouched.

.PHONY: asan valgrind fuzz check-build

# Everything `make test` runs, built in $(B) (used by the sub-makes below).
check-build: $(BIN) $(TESTS32) $(TESTS64)

# ---- AddressSanitizer + UndefinedBehaviorSanitizer ----
ASAN_B   := $(B)/asan
ASAN_OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined,float-cast-overflow \
            -fno-sanitize-recover=all
# Suites run from $(ASAN_B)/root, a tree of links to this one whose build/ holds the sanitized
# binary, so the suites that run build/hippodrome (and check paths it prints) run that one.
ASAN_ROOT := $(ASAN_B)/root
ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:check_initialization_order=1:strict_init_order=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 CK_TIMEOUT_MULTIPLIER=20 \
            OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-passive}

asan: deps
	@$(MAKE) --no-print-directory B=$(ASAN_B) OPT="$(ASAN_OPT)" CUDA=0 check-build
	@rm -rf $(ASAN_ROOT) && mkdir -p $(ASAN_ROOT)/build
	@for f in *; do [ "$$f" = "$(B)" ] || ln -s "$(CURDIR)/$$f" $(ASAN_ROOT)/$$f; done
	@cp $(ASAN_B)/hippodrome $(ASAN_ROOT)/build/hippodrome
	@cd $(ASAN_ROOT) && fail=0; start=$$(date +%s); \
	  for t in $(patsubst $(B)/%,../%,$(TESTS32) $(TESTS64)); do \
	    echo "== asan $$t"; $(ASAN_ENV) $$t || fail=1; done; \
	  echo "make asan: $$(( $$(date +%s) - start )) s of suites"; \
	  if [ $$fail = 0 ]; then echo "make asan: all suites passed, no sanitizer errors"; \
	  else echo "make asan: FAILED"; exit 1; fi

# ---- valgrind memcheck ----
# valgrind does not decode AVX-512: this build targets x86-64-v3 (AVX2; the 64-byte vector types
# then pass in memory, which -Wpsabi would announce).
VG_B := $(B)/vg
VALGRIND := valgrind -q --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,indirect,possible \
            --errors-for-leak-kinds=definite,indirect,possible
VG_RUN := $(VG_B)/run

# The first run is stopped by SIGTERM part way (or finishes first: exit 0), the second resumes it.
VG_TRAIN := ./$(VG_B)/hippodrome train --config tests/bad/tiny.json --set train.epochs=6 --out $(VG_RUN)/r.json \
            --checkpoint-every 1 --quiet

valgrind: deps
	@./scripts/deps valgrind
	@$(MAKE) --no-print-directory B=$(VG_B) ARCH="-march=x86-64-v3" OPT="-O2 -g -Wno-psabi" CUDA=0 $(VG_B)/hippodrome
	@rm -rf $(VG_RUN) && mkdir -p $(VG_RUN)
	OMP_NUM_THREADS=1 timeout --preserve-status -s TERM 4 $(VALGRIND) $(VG_TRAIN); st=$$?; [ $$st = 0 ] || [ $$st = 143 ]
	OMP_NUM_THREADS=1 $(VALGRIND) $(VG_TRAIN) --resume --save $(VG_RUN)/w.safetensors
	OMP_NUM_THREADS=1 $(VALGRIND) ./$(VG_B)/hippodrome generate --checkpoint $(VG_RUN)/w.safetensors \
	  --prompt "1 2 3" --tokens 4 > $(VG_RUN)/gen.json
	@echo "make valgrind: no memcheck errors and no leaks in train (stopped by SIGTERM), resume and generate"

# ---- libFuzzer ----
# clang builds the readers and everything above them (core, harness, tasks) instrumented; the
# kernels and layers use GCC vector extensions clang does not take, so they come from gcc,
# uninstrumented (the fuzzers never reach their arithmetic).
FUZZ_B       := $(B)/fuzz
FUZZ_SECONDS ?= 60
FUZZ_CC      := clang
FUZZ_FLAGS   := -std=gnu11 -O1 -g -fno-omit-frame-pointer $(ARCH) -Wall -Wextra -Werror -Wno-pass-failed \
                -fno-math-errno -fopenmp -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_INSTR   := $(filter core/% harness/% tasks/%,$(LIB_SRC))
FUZZ_PLAIN   := $(filter-out $(FUZZ_INSTR),$(LIB_SRC)) kernels/cuda/stub.c
FUZZ_OBJ     := $(FUZZ_INSTR:%.c=$(FUZZ_B)/instr/%.o) $(FUZZ_PLAIN:%.c=$(FUZZ_B)/plain/%.o)
FUZZ_TARGETS := config safetensors
.SECONDARY: $(FUZZ_OBJ)

$(FUZZ_B)/instr/%.o: %.c mk/check.mk
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -c $< -o $@

$(FUZZ_B)/plain/%.o: %.c mk/check.mk
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g $(ARCH) -Wall -Wextra -Werror -fno-math-errno -fopenmp -DHIPPO_CUDA=0 $(PKG_CFLAGS) -c $< -o $@

$(FUZZ_B)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer $(PKG_CFLAGS) -o $@ $< $(FUZZ_OBJ) -Wl,--as-needed $(PKG_LIBS) -lm

# Seeds per target: tests/fuzz/<target>/ first, then the bad inputs and real configs.
FUZZ_SEEDS_config      := tests/fuzz/config tests/bad/configs configs/paper configs/quick
FUZZ_SEEDS_safetensors := tests/fuzz/safetensors tests/bad/files

fuzz: deps
	@./scripts/deps fuzz
	@$(MAKE) --no-print-directory $(FUZZ_TARGETS:%=$(FUZZ_B)/fuzz_%)
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_B)/corpus/$$t tests/fuzz/regressions/$$t; \
	  seeds="tests/fuzz/$$t"; [ $$t = config ] && seeds="$(FUZZ_SEEDS_config)"; \
	  [ $$t = safetensors ] && seeds="$(FUZZ_SEEDS_safetensors)"; \
	  echo "== fuzz $$t: $(FUZZ_SECONDS) s"; \
	  ./$(FUZZ_B)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=16384 -timeout=20 -rss_limit_mb=4096 \
	    -print_final_stats=1 -artifact_prefix=tests/fuzz/regressions/$$t/ $(FUZZ_B)/corpus/$$t $$seeds \
	    2> $(FUZZ_B)/fuzz_$$t.log || { tail -40 $(FUZZ_B)/fuzz_$$t.log; \
	      echo "make fuzz: $$t crashed; the input is in tests/fuzz/regressions/$$t/"; exit 1; }; \
	  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE" $(FUZZ_B)/fuzz_$$t.log; \
	done; echo "make fuzz: no crash in $(FUZZ_SECONDS) s per target"
