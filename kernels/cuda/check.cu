/* check.cu — how a failed CUDA, cuBLAS or cuFFT call is reported: the
 * library, its error, the statement, file:line and the device, then exit(1)
 * (hp_die_at). A CUDA failure here is environmental (no memory, a faulted
 * kernel, a broken driver): nothing can continue on that device. */
#include <stdlib.h>
#include <string.h>

#include "backend.cuh"

void cuda_fail(const char *lib, const char *err, const char *stmt, const char *file, int line) {
    int dev = -1;
    if (cudaGetDevice(&dev) != cudaSuccess) dev = -1;
    hp_die_at(file, line, "%s error: %s in `%s` (device %d)", lib, err, stmt, dev);
}

const char *cuda_cufft_error(cufftResult r) {
    switch (r) {
    case CUFFT_INVALID_PLAN: return "CUFFT_INVALID_PLAN";
    case CUFFT_ALLOC_FAILED: return "CUFFT_ALLOC_FAILED";
    case CUFFT_INVALID_TYPE: return "CUFFT_INVALID_TYPE";
    case CUFFT_INVALID_VALUE: return "CUFFT_INVALID_VALUE";
    case CUFFT_INTERNAL_ERROR: return "CUFFT_INTERNAL_ERROR";
    case CUFFT_EXEC_FAILED: return "CUFFT_EXEC_FAILED";
    case CUFFT_SETUP_FAILED: return "CUFFT_SETUP_FAILED";
    case CUFFT_INVALID_SIZE: return "CUFFT_INVALID_SIZE";
    case CUFFT_UNALIGNED_DATA: return "CUFFT_UNALIGNED_DATA";
    case CUFFT_INVALID_DEVICE: return "CUFFT_INVALID_DEVICE";
    case CUFFT_NO_WORKSPACE: return "CUFFT_NO_WORKSPACE";
    case CUFFT_NOT_IMPLEMENTED: return "CUFFT_NOT_IMPLEMENTED";
    case CUFFT_NOT_SUPPORTED: return "CUFFT_NOT_SUPPORTED";
    default: return "cuFFT error (unnamed code)";
    }
}

/* HIPPO_CUDA_SYNC=1: wait for every kernel, so a fault names its launch. */
static bool sync_each(void) {
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("HIPPO_CUDA_SYNC");
        on = e && strcmp(e, "0") != 0;
    }
    return on;
}

void cuda_launched(const char *kernel, const char *file, int line) {
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess && sync_each()) e = cudaDeviceSynchronize();
    if (e != cudaSuccess) cuda_fail("CUDA", cudaGetErrorString(e), kernel, file, line);
}
