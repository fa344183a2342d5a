/* runtime.cu — the device, its memory and the shared handles of the CUDA
 * backend: first use, status in words, copies, workspaces, the cuBLAS handle,
 * cached cuFFT plans and FFT root tables, event timing.
 * cuBLAS and cuFFT are loaded here, at start (libs.cu).
 *
 * Nothing here runs before cuda_ready() is first asked (by ops_cuda()):
 * a binary linked with cudart starts and runs on a machine without a GPU or
 * a driver, and learns only then that there is no device. The device is
 * HIPPO_CUDA_DEVICE (default 0); kernels are built for sm_90 (plus PTX for
 * newer), so an older device is refused with a message. */
#include <stdio.h>
#include <stdlib.h>

#include "backend.cuh"
#include "fft_math.cuh"

static int state; /* 0 not asked yet, 1 ready, -1 unusable */
static char status[512] = "CUDA backend not started yet";

static bool start(void) {
    int n = 0, dev = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        snprintf(status, sizeof status, "no CUDA device (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "none found");
        (void)cudaGetLastError(); /* clear it: nothing else here will look */
        return false;
    }
    const char *env = getenv("HIPPO_CUDA_DEVICE");
    if (env) dev = atoi(env);
    if (dev < 0 || dev >= n) {
        snprintf(status, sizeof status, "HIPPO_CUDA_DEVICE=%s but there are %d devices", env, n);
        return false;
    }
    cudaDeviceProp p;
    CUDA_CHECK(cudaGetDeviceProperties(&p, dev));
    if (p.major < 9) {
        snprintf(status, sizeof status, "device %d (%.100s) is sm_%d%d; the kernels are built for sm_90 and newer", dev,
                 p.name, p.major, p.minor);
        return false;
    }
    CUDA_CHECK(cudaSetDevice(dev));
    char err[256];
    if (!cuda_libs_load(err, sizeof err)) {
        snprintf(status, sizeof status, "device %d (%.100s) found, but %s", dev, p.name, err);
        return false;
    }
    snprintf(status, sizeof status, "device %d: %.100s (sm_%d%d, %d SMs, %.0f GiB)", dev, p.name, p.major, p.minor,
             p.multiProcessorCount, (double)p.totalGlobalMem / (1 << 30));
    return true;
}

extern "C" bool cuda_ready(void) {
    if (!state) state = start() ? 1 : -1;
    return state > 0;
}

extern "C" bool cuda_built(void) { return true; }

extern "C" const char *ops_cuda_status(void) {
    cuda_ready();
    return status;
}

/* ---- memory ------------------------------------------------------------------ */

static void need_device(const char *file, int line) {
    if (!cuda_ready()) hp_die_at(file, line, "CUDA backend: %s", status);
}

extern "C" void *cuda_malloc(size_t bytes) {
    need_device(__FILE__, __LINE__);
    void *p = NULL;
    CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 1));
    return p;
}
extern "C" void cuda_free(void *p) {
    if (p) CUDA_CHECK(cudaFree(p));
}
extern "C" void cuda_upload(void *dst, const void *src, size_t bytes) {
    CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}
extern "C" void cuda_download(void *dst, const void *src, size_t bytes) {
    CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}
extern "C" void cuda_memset(void *dst, int byte, size_t bytes) { CUDA_CHECK(cudaMemset(dst, byte, bytes)); }
extern "C" void cuda_sync(void) { CUDA_CHECK(cudaDeviceSynchronize()); }

extern "C" double cuda_time_ms(void (*fn)(void *ctx), void *ctx) {
    cudaEvent_t a, b;
    CUDA_CHECK(cudaEventCreate(&a));
    CUDA_CHECK(cudaEventCreate(&b));
    CUDA_CHECK(cudaEventRecord(a));
    fn(ctx);
    CUDA_CHECK(cudaEventRecord(b));
    CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    CUDA_CHECK(cudaEventDestroy(a));
    CUDA_CHECK(cudaEventDestroy(b));
    return ms;
}

/* ---- workspaces ---------------------------------------------------------------- */

static struct {
    void *p;
    size_t bytes;
} ws[CUDA_WS_KINDS];

void *cuda_ws(enum cuda_ws_kind k, size_t bytes) {
    HP_CHECK(k >= 0 && k < CUDA_WS_KINDS);
    if (bytes > ws[k].bytes) {
        /* the old buffer may still be read by queued kernels: wait for them */
        CUDA_CHECK(cudaDeviceSynchronize());
        if (ws[k].p) CUDA_CHECK(cudaFree(ws[k].p));
        size_t grown = bytes + bytes / 8; /* a little headroom: shapes drift upwards */
        CUDA_CHECK(cudaMalloc(&ws[k].p, grown));
        ws[k].bytes = grown;
    }
    return ws[k].p;
}

/* ---- handles ------------------------------------------------------------------- */

cublasHandle_t cuda_blas(void) {
    static cublasHandle_t h;
    if (!h) {
        CUBLAS_CHECK(cuda_lib()->cublasCreate_v2(&h));
        /* full FP32 products (no TF32): the CPU backend is the oracle */
        CUBLAS_CHECK(cuda_lib()->cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
    }
    return h;
}

enum { PLAN_CACHE = 32 };
static struct {
    int n, batch;
    cufftType type;
    cufftHandle h;
    size_t work;
    bool used;
} plans[PLAN_CACHE];
static int plan_next; /* replaced round-robin when the cache is full */

cufftHandle cuda_fft_plan(int n, int batch, cufftType type) {
    int i = 0;
    while (i < PLAN_CACHE && !(plans[i].used && plans[i].n == n && plans[i].batch == batch && plans[i].type == type))
        i++;
    if (i == PLAN_CACHE) {
        i = plan_next, plan_next = (plan_next + 1) % PLAN_CACHE;
        const struct cuda_libs *L = cuda_lib();
        if (plans[i].used) CUFFT_CHECK(L->cufftDestroy(plans[i].h));
        plans[i].used = true, plans[i].n = n, plans[i].batch = batch, plans[i].type = type;
        CUFFT_CHECK(L->cufftCreate(&plans[i].h));
        CUFFT_CHECK(L->cufftSetAutoAllocation(plans[i].h, 0));
        CUFFT_CHECK(L->cufftMakePlan1d(plans[i].h, n, type, batch, &plans[i].work));
    }
    CUFFT_CHECK(cuda_lib()->cufftSetWorkArea(plans[i].h, cuda_ws(WS_CUFFT, plans[i].work)));
    return plans[i].h;
}

const cf *cuda_roots(int n) {
    static cf *tables[32];
    int lg = cuf_lg(n);
    HP_CHECK(n >= 2 && (1 << lg) == n && lg < 32);
    if (!tables[lg]) {
        cf *host = (cf *)xmalloc(sizeof(cf) * n);
        cuf_roots_fill(host, n);
        CUDA_CHECK(cudaMalloc(&tables[lg], sizeof(cf) * n));
        CUDA_CHECK(cudaMemcpy(tables[lg], host, sizeof(cf) * n, cudaMemcpyHostToDevice));
        free(host);
    }
    return tables[lg];
}

int cuda_smem_optin(void) {
    static int bytes;
    if (!bytes) {
        int dev;
        CUDA_CHECK(cudaGetDevice(&dev));
        CUDA_CHECK(cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    }
    return bytes;
}
