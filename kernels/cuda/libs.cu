/* libs.cu — cuBLAS and cuFFT, loaded when the backend starts (dlopen), not
 * linked: mapped into every process they cost ~0.1 s per start and ~0.9 GB of
 * address space, which a binary running on the CPU (every process of a sweep,
 * benchmarks measured under an address-space limit) should not pay. cudart
 * itself is small and linked. The libraries are the toolkit's major versions
 * the headers name, found like any shared library (rpath, ld.so.cache). */
#include <dlfcn.h>
#include <stdio.h>

#include "backend.cuh"

#define STR_(x) #x
#define STR(x) STR_(x)

static struct cuda_libs libs;
static bool loaded;

static void *open_lib(const char *name, const char *soname, char *err, size_t errlen) {
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) snprintf(err, errlen, "%s not found (%s)", name, dlerror());
    return h;
}

bool cuda_libs_load(char *err, size_t errlen) {
    if (loaded) return true;
    void *blas = open_lib("cuBLAS", "libcublas.so." STR(CUBLAS_VER_MAJOR), err, errlen);
    void *fft = blas ? open_lib("cuFFT", "libcufft.so." STR(CUFFT_VER_MAJOR), err, errlen) : NULL;
    if (!fft) return false;
#define LOAD(f)                                                                     \
    libs.f = (decltype(libs.f))dlsym(strncmp(#f, "cublas", 6) == 0 ? blas : fft, #f); \
    if (!libs.f) {                                                                  \
        snprintf(err, errlen, "%s lacks %s", strncmp(#f, "cublas", 6) == 0 ? "cuBLAS" : "cuFFT", #f); \
        return false;                                                               \
    }
    CUDA_LIB_FNS(LOAD)
#undef LOAD
    loaded = true;
    return true;
}

extern "C" bool cuda_libs_present(char *err, size_t errlen) { return cuda_libs_load(err, errlen); }

const struct cuda_libs *cuda_lib(void) {
    HP_CHECK(loaded); /* cuda_ready() loads them before any op runs */
    return &libs;
}
