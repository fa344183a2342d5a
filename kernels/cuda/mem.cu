/* mem.cu — the table's memory entries (ops.h alloc, free, upload, download)
 * on the device: what the model's parameters, gradients, moments and
 * activations live in. */
#include "backend.cuh"

void *cuda_alloc_zero(size_t bytes) {
    void *p = cuda_malloc(bytes);
    CUDA_CHECK(cudaMemset(p, 0, bytes ? bytes : 1));
    return p;
}

/* Copies of 0 bytes are no-ops (a NULL pointer then is fine). */
void cuda_upload_n(void *dst, const void *src, size_t bytes) {
    if (bytes) cuda_upload(dst, src, bytes);
}
void cuda_download_n(void *dst, const void *src, size_t bytes) {
    if (bytes) cuda_download(dst, src, bytes);
}
