# hippodrome — build, test and run everything from here.
#   make            build build/hippodrome (CPU backend)
#   make test       build and run every test suite (the exit status is the verdict)
#   make run        train attention, S4D and H3 on both tasks (quick config) and print the table
#   make bench-train   ms per training step per layer, 1 and 2 threads -> results/bench/train.json
#   make bench         the speed lab and its goals -> results/bench/summary.json
#   make synthetics    the paper's synthetic-language table, 3 seeds -> results/synthetics/table.{json,md}
#   make ablations     the H3 ablation grid, 3 seeds -> results/ablations/table.{json,md}
#   make mqar-small    zoology's MQAR Figure 2, reduced (attention, H3, Hyena) -> results/mqar-small/table.{json,md}
#   make plots         SVG curves and bars of the grids that have run -> results/plots/
#   make CUDA=0     build without the CUDA backend even where nvcc is found (mk/cuda.mk)
#   make asan / valgrind / fuzz   sanitizers, memcheck and libFuzzer targets (mk/check.mk)
# Dependencies (Debian packages) are checked, and installed when running as root, by scripts/deps.

CC      ?= cc
ARCH    ?= -march=native
OPT     ?= -O3
# No fast-math anywhere: reference code and tests must keep IEEE semantics.
# -fno-math-errno changes no computed value (math functions just stop setting
# errno), and it lets loops with sqrt/rint vectorise.
CFLAGS  += -std=gnu11 $(OPT) $(ARCH) -g -Wall -Wextra -Werror -fno-math-errno -fopenmp -MMD -MP
PKGS    := libcjson fftw3f fftw3 openblas
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# --as-needed: OpenBLAS is linked only into binaries that call it (tests, lab);
# hippodrome itself uses our own gemm and must not start OpenBLAS's thread pool.
LDLIBS  += -Wl,--as-needed $(PKG_LIBS) -lm -fopenmp
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

NVCC := $(shell command -v nvcc 2>/dev/null)
CUDA ?= $(if $(NVCC),1,0)

B := build
LIB_SRC := $(wildcard core/*.c kernels/*.c kernels/cpu/*.c models/*.c tasks/*.c harness/*.c)
LIB_SRC := $(filter-out harness/main.c,$(LIB_SRC))
OBJ32 := $(LIB_SRC:%.c=$(B)/f32/%.o)
OBJ64 := $(LIB_SRC:%.c=$(B)/f64/%.o)
TESTS32 := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/test_*.c))
TESTS64 := $(patsubst tests/f64/%.c,$(B)/tests/f64_%,$(wildcard tests/f64/test_*.c))
BIN := $(B)/hippodrome

.PHONY: all deps test run bench bench-crossover bench-flashconv bench-train bench-long bench-layers bench-generate bench-ops synthetics ablations plots features clean
all: deps features $(BIN)
# The git commit named in reports: only harness/version.c sees it, rebuilt whenever HEAD moves.
HIPPO_VERSION_O := $(B)/f32/harness/version.o $(B)/f64/harness/version.o
$(HIPPO_VERSION_O): CFLAGS += -DHIPPO_COMMIT='"$(shell git rev-parse --short HEAD 2>/dev/null)"'
$(HIPPO_VERSION_O): $(wildcard .git/logs/HEAD)

deps:
	@./scripts/deps

features:
	@echo "hippodrome build: CPU backend ✓ (real=f32, OpenMP, FFTW; own gemm)"
ifeq ($(CUDA),1)
	@echo "hippodrome build: CUDA ✓ nvcc at $(NVCC): kernels/cuda for sm_90 + PTX, cuBLAS, cuFFT (f32 only; train --backend cuda; not yet verified on a GPU: scripts/gpu-check)"
else
	@echo "hippodrome build: CUDA ✗ ($(if $(NVCC),CUDA=0,nvcc not found); ops_cuda() is NULL)"
endif

# Flags live here: objects rebuild when the Makefile changes.
$(OBJ32) $(OBJ64) $(B)/f32/harness/main.o: Makefile

$(B)/f32/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(B)/f64/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DHIPPO_F64 $(PKG_CFLAGS) -c $< -o $@

$(B)/libhippo32.a: $(OBJ32)
	@rm -f $@; ar rcs $@ $^

$(B)/libhippo64.a: $(OBJ64)
	@rm -f $@; ar rcs $@ $^

$(BIN): $(B)/f32/harness/main.o $(B)/libhippo32.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/test_%: tests/test_%.c tests/testutil.h $(B)/libhippo32.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(B)/libhippo32.a $(CHECK_LIBS) $(LDLIBS)

$(B)/tests/f64_test_%: tests/f64/test_%.c tests/testutil.h $(B)/libhippo64.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DHIPPO_F64 $(PKG_CFLAGS) -o $@ $< $(B)/libhippo64.a $(CHECK_LIBS) $(LDLIBS)

# Each suite runs on its own; all run even if one fails, and any failure fails `make test`.
# Passive OpenMP waiting: on a loaded 2-core machine spinning workers stall every barrier.
test: deps $(BIN) $(TESTS32) $(TESTS64)
	@fail=0; for t in $(TESTS32) $(TESTS64); do \
	  echo "== $$t"; OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-passive} ./$$t || fail=1; done; \
	  if [ $$fail = 0 ]; then echo "make test: all suites passed"; else echo "make test: FAILED"; exit 1; fi

run: deps $(BIN)
	./$(BIN) suite configs/quick --out results/quick --jobs 2

bench-train: deps $(BIN)
	./$(BIN) bench-train --steps 200 --out results/bench/train.json

# Long-sequence recall (configs/long: H3 and attention, d_model 64): ms per step and peak memory
# from 1K to 128K tokens, each length in its own process under a memory limit.
bench-long: deps $(BIN)
	./$(BIN) bench-long --out results/bench/long.json

# One layer's forward + backward alone (h3, attention, s4d at d 64) from 128 to 64K tokens at
# batch 1, and H3 against attention at the lab's 32 x 64 shape (batch 32, d 64) from 64 to 2K,
# each point in its own process under a memory limit; the H3/attention time ratio per length.
bench-layers: deps $(BIN)
	./$(BIN) bench-layers --out results/bench/layers.json
	./$(BIN) bench-layers --layers h3,attention --batch 32 --lengths 64,128,256,512,1024,2048 \
	  --out results/bench/layers_b32.json

# Generation speed: tokens/s of greedy recurrent steps after prompts of 128 to 16K tokens,
# H3 against attention with a KV cache (untrained models built in memory).
bench-generate: deps $(BIN)
	./$(BIN) bench-generate --out results/bench/generate.json

# The speed lab: FlashConv against FFTW and direct (every variant checked first), one layer
# against attention by length, generation by context; then the goals, each measured against its
# target -> results/bench/summary.json. About 10 minutes on one quiet core.
# bench-crossover runs first and writes this machine's conv crossover table; the rest of the
# bench runs with it (HIPPO_CONV_TABLE), so the dispatch goal checks the table just measured.
bench: bench-crossover
	HIPPO_CONV_TABLE=results/bench/conv_table.json $(MAKE) --no-print-directory bench-flashconv bench-layers bench-generate
	HIPPO_CONV_TABLE=results/bench/conv_table.json ./$(BIN) bench-summary --dir results/bench

# Grids of runs: `hippodrome sweep` expands the sweep file into one config per
# run and results/<sweep>/runs.mk; that fragment trains them JOBS at a time
# (JOBS: one run per core by default, each run one thread; skipping runs whose
# report holds the same config hash, so an interrupted
# grid resumes where it stopped), then `hippodrome table` aggregates. Runs log
# plain lines (two live progress lines would overwrite each other).
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
SWEEP_TRAIN_FLAGS ?= --log-every 20 --plain
define run_sweep
	./$(BIN) sweep configs/sweeps/$(1).json
	$(MAKE) --no-print-directory -f results/$(1)/runs.mk -j $(JOBS) -k $(1)-all TRAIN_FLAGS="$(SWEEP_TRAIN_FLAGS)"
endef

synthetics: deps $(BIN)
	$(call run_sweep,synthetics)
	./$(BIN) table results/synthetics --metric best --reference results/reference/synthetics.json \
	  --json results/synthetics/table.json --md results/synthetics/table.md

ablations: deps $(BIN)
	$(call run_sweep,ablations)
	./$(BIN) table results/ablations --rows variant --cols task.name --metric best \
	  --reference results/reference/ablations.json --json results/ablations/table.json --md results/ablations/table.md

# Zoology's MQAR Figure 2, reduced to ~40 minutes on 2 cores (configs/sweeps/mqar_small.json says
# how); the sweep is named mqar-small, so its files go to results/mqar-small.
.PHONY: mqar-small
mqar-small: deps $(BIN)
	./$(BIN) sweep configs/sweeps/mqar_small.json
	$(MAKE) --no-print-directory -f results/mqar-small/runs.mk -j $(JOBS) -k mqar-small-all TRAIN_FLAGS="$(SWEEP_TRAIN_FLAGS)"
	./$(BIN) table results/mqar-small --rows setting --over train.lr --metric best \
	  --reference results/reference/mqar_small.json --json results/mqar-small/table.json --md results/mqar-small/table.md

# SVG plots of whatever grids have been run (make synthetics / make ablations / make run first).
plots: $(BIN)
	@./scripts/deps plots
	@for g in quick synthetics ablations; do \
	  if [ -f results/$$g/table.json ]; then ./$(BIN) plot results/$$g --table results/$$g/table.json --out results/plots/$$g || exit 1; \
	  elif ls results/$$g/*.json >/dev/null 2>&1; then ./$(BIN) plot results/$$g --out results/plots/$$g || exit 1; fi; done

# CPU op benchmarks (kernels/lab): gemm candidates incl. BLIS, conv paths.
BLIS_INC := /usr/include/x86_64-linux-gnu/blis-openmp
BLIS_LIB := /usr/lib/x86_64-linux-gnu/blis-openmp
bench-ops: $(B)/libhippo32.a
	@mkdir -p $(B)/lab results/bench
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -isystem $(BLIS_INC) -o $(B)/lab/bench_gemm kernels/lab/bench_gemm.c $(B)/libhippo32.a $(LDLIBS) -L$(BLIS_LIB) -lblis
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $(B)/lab/bench_conv kernels/lab/bench_conv.c $(B)/libhippo32.a $(LDLIBS)
	./$(B)/lab/bench_gemm results/bench/gemm.json
	./$(B)/lab/bench_conv results/bench/conv.json

# FlashConv vs the direct and FFTW convolutions, the fused H3 inner op, state
# passing and threads (kernels/lab/bench_flashconv.c; findings in kernels/cpu/FLASHCONV.md).
bench-flashconv: $(B)/libhippo32.a
	@mkdir -p $(B)/lab results/bench
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $(B)/lab/bench_flashconv kernels/lab/bench_flashconv.c $(B)/libhippo32.a $(LDLIBS)
	./$(B)/lab/bench_flashconv results/bench/flashconv.json

# This machine's conv crossover table (kernels/cpu/conv_table.h): direct vs FFTW vs FlashConv
# timed on a grid of short L per kernel class -> results/bench/conv_table.json. Training uses it
# when HIPPO_CONV_TABLE names it (reports say which table ran); the built-in table otherwise.
bench-crossover: $(B)/libhippo32.a
	@mkdir -p $(B)/lab results/bench
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $(B)/lab/bench_crossover kernels/lab/bench_crossover.c $(B)/libhippo32.a $(LDLIBS)
	./$(B)/lab/bench_crossover results/bench/conv_table.json

clean:
	rm -rf $(B)

-include $(OBJ32:.o=.d) $(OBJ64:.o=.d) $(TESTS32:=.d) $(TESTS64:=.d)

# Feature fragments (the CUDA backend, sanitizers and fuzzing) live in mk/*.mk.
include $(wildcard mk/*.mk)
