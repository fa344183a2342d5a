/* stub.c — the CUDA backend's C face in builds without it (CUDA=0, or the
 * f64 build), so that code calling cuda.h and ops_cuda() links everywhere
 * and learns at run time that there is no backend. mk/cuda.mk compiles it
 * with HIPPO_CUDA=1 into the f32 library when the backend is built; then it
 * defines nothing. */
#include "cuda.h"

#include <stdio.h>

#if HIPPO_CUDA && !defined(HIPPO_F64)

typedef int cuda_stub_unused; /* the backend is built: its .cu files define everything */

#else

static const char *why(void) {
#ifdef HIPPO_F64
    return "the f64 build has no CUDA backend (it is f32 only)";
#else
    return "built without the CUDA backend (nvcc not found, or CUDA=0)";
#endif
}

const struct ops *ops_cuda(void) { return NULL; }
const char *ops_cuda_status(void) { return why(); }
bool cuda_ready(void) { return false; }
bool cuda_built(void) { return false; }
bool cuda_libs_present(char *err, size_t errlen) {
    snprintf(err, errlen, "%s", why());
    return false;
}

_Noreturn static void none(const char *file, int line) { hp_die_at(file, line, "CUDA backend: %s", why()); }

void *cuda_malloc(size_t bytes) {
    (void)bytes;
    none(__FILE__, __LINE__);
}
void cuda_free(void *p) {
    if (p) none(__FILE__, __LINE__);
}
void cuda_upload(void *dst, const void *src, size_t bytes) {
    (void)dst, (void)src, (void)bytes;
    none(__FILE__, __LINE__);
}
void cuda_download(void *dst, const void *src, size_t bytes) {
    (void)dst, (void)src, (void)bytes;
    none(__FILE__, __LINE__);
}
void cuda_memset(void *dst, int byte, size_t bytes) {
    (void)dst, (void)byte, (void)bytes;
    none(__FILE__, __LINE__);
}
void cuda_sync(void) { none(__FILE__, __LINE__); }
double cuda_time_ms(void (*fn)(void *ctx), void *ctx) {
    (void)fn, (void)ctx;
    none(__FILE__, __LINE__);
}

enum cuda_conv_path cuda_conv_choice(const struct conv_args *a) {
    (void)a;
    none(__FILE__, __LINE__);
}
void cuda_conv_via(const struct conv_args *a, enum cuda_conv_path p) {
    (void)a, (void)p;
    none(__FILE__, __LINE__);
}
void cuda_conv_bwd_via(const struct conv_bwd_args *g, enum cuda_conv_path p) {
    (void)g, (void)p;
    none(__FILE__, __LINE__);
}
bool cuda_h3_flash_supports(const struct h3_inner_args *a) {
    (void)a;
    return false;
}
void cuda_h3_inner_via(const struct h3_inner_args *a, enum cuda_h3_path p) {
    (void)a, (void)p;
    none(__FILE__, __LINE__);
}
void cuda_flash_set_threads(int nt) {
    (void)nt;
    none(__FILE__, __LINE__);
}

#endif
