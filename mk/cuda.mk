# mk/cuda.mk — the CUDA backend (kernels/cuda, f32 only).
#
# CUDA=1 (the default when nvcc is on PATH) compiles kernels/cuda/*.cu with
# nvcc for sm_90 plus PTX (newer GPUs JIT the PTX) into build/libhippo32.a and
# links cudart from the toolkit (cuBLAS and cuFFT are loaded when the backend
# starts: kernels/cuda/libs.cu); CUDA=0 puts the stub
# (kernels/cuda/stub.c: ops_cuda() is NULL, the C API says why) there instead.
# The f64 library always gets the stub. A binary with the backend starts and
# runs the CPU path on machines without a GPU: nothing calls CUDA until
# ops_cuda() is asked for.
#
#   make cuda        build the backend (an error, naming what is missing, without nvcc)
#   make test-cuda   its suites: test_cuda_math, _ssm, _rows, _attn, _ew (the kernels' arithmetic
#                    on the CPU), test_cuda_emul (the layers on an emulated device), and on the
#                    device test_cuda_ops, _gen (every op against the CPU backend) and _layers
#                    (every layer, a short training run; one line and exit 0 where there is none)
#   make bench-cuda  FlashConv vs the cuFFT pipeline, direct vs cuFFT convolution, on the
#                    device -> results/bench/cuda.json
#   make bench-cuda-layers  H3 and attention layers (forward + backward) vs L on the device
#                    -> results/bench/cuda_layers.json
#   scripts/gpu-check DIR   all of it in one command, for a short GPU lease
#
# Overrides: CUDA_GENCODE (other architectures), NVCC_OPT.

CUDA_HOME    ?= $(if $(NVCC),$(patsubst %/bin/nvcc,%,$(NVCC)),/usr/local/cuda)
CUDA_LIBDIR  ?= $(CUDA_HOME)/lib64
CUDA_GENCODE ?= -gencode arch=compute_90,code=[sm_90,compute_90]
NVCC_OPT     ?= -O3
# Host code under the project's warnings; nvcc's own warnings are errors too.
# No fast-math: nvcc's defaults keep IEEE division, square roots and denormals.
NVCCFLAGS := -std=c++17 $(NVCC_OPT) $(CUDA_GENCODE) -Werror all-warnings \
             -Xcompiler -Wall,-Wextra,-Werror,-fno-math-errno -MMD -MP

CUDA_SRC  := $(wildcard kernels/cuda/*.cu)
CUDA_OBJ  := $(CUDA_SRC:kernels/cuda/%.cu=$(B)/cuda/%.o)
CUDA_STUB32 := $(B)/f32/kernels/cuda/stub.o
CUDA_STUB64 := $(B)/f64/kernels/cuda/stub.o
CUDA_BENCH  := $(B)/cuda/bench
CUDA_BENCH_LAYERS := $(B)/cuda/bench_layers

# The library's CUDA members change with CUDA=0/1: the stub (which defines
# the C API or nothing) depends on a file holding the last mode, rewritten
# only when the mode changes, so switching rebuilds the library.
CUDA_MODE := $(B)/cuda.mode
$(shell mkdir -p $(B) && { [ "$$(cat $(CUDA_MODE) 2>/dev/null)" = "$(CUDA)" ] || echo "$(CUDA)" > $(CUDA_MODE); })
$(CUDA_STUB32) $(CUDA_STUB64): $(CUDA_MODE) mk/cuda.mk Makefile
$(CUDA_STUB32): CFLAGS += -DHIPPO_CUDA=$(CUDA)
$(B)/libhippo64.a: $(CUDA_STUB64)

.PHONY: cuda test-cuda bench-cuda bench-cuda-layers

ifeq ($(CUDA),1)

$(B)/libhippo32.a: $(CUDA_STUB32) $(CUDA_OBJ)
# cuBLAS and cuFFT are not linked: kernels/cuda/libs.cu loads them when the
# backend starts (the rpath lets it find them as it finds cudart).
LDLIBS += -L$(CUDA_LIBDIR) -Wl,-rpath,$(CUDA_LIBDIR) -lcudart -ldl -lstdc++
# Keep the backend in hippodrome (the harness selects a backend by name once
# --backend exists; until then this is what makes the binary carry it).
$(BIN): LDLIBS += -Wl,-u,ops_cuda

$(B)/cuda/%.o: kernels/cuda/%.cu mk/cuda.mk Makefile
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

cuda: $(B)/libhippo32.a $(BIN)
	@echo "CUDA backend built: $(CUDA_OBJ:$(B)/cuda/%=%)"

CUDA_TESTS := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/test_cuda_*.c))
test-cuda: $(CUDA_TESTS)
	@fail=0; for t in $(CUDA_TESTS); do echo "== $$t"; ./$$t || fail=1; done; exit $$fail

$(CUDA_BENCH): kernels/cuda/bench.c $(B)/libhippo32.a
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(B)/libhippo32.a $(LDLIBS)

bench-cuda: $(CUDA_BENCH)
	@mkdir -p results/bench
	./$(CUDA_BENCH) results/bench/cuda.json

$(CUDA_BENCH_LAYERS): kernels/cuda/bench_layers.c $(B)/libhippo32.a
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(B)/libhippo32.a $(LDLIBS)

bench-cuda-layers: $(CUDA_BENCH_LAYERS)
	@mkdir -p results/bench
	./$(CUDA_BENCH_LAYERS) results/bench/cuda_layers.json

else

$(B)/libhippo32.a: $(CUDA_STUB32)

CUDA_WHY := $(if $(NVCC),CUDA=0 was given,nvcc was not found on PATH (install the CUDA toolkit, e.g. /usr/local/cuda/bin))
cuda test-cuda bench-cuda bench-cuda-layers:
	@echo "make $@: the CUDA backend is not built: $(CUDA_WHY)" >&2; exit 1

endif

-include $(CUDA_OBJ:.o=.d) $(CUDA_STUB32:.o=.d) $(CUDA_STUB64:.o=.d)
