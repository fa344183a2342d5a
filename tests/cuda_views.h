/* cuda_views.h — the strided views the ewise suites (test_cuda_ew.c on the
 * CPU, test_cuda_gen.c on the device) put every kind through: dense, a row
 * broadcast (rs 0), rows read backwards (cs -1), a transpose, and rows
 * strided apart with an offset. A buffer of (R + 1)(C + 5) + 8 reals holds
 * each of them over (R, C). */
#ifndef HIPPO_CUDA_VIEWS_H
#define HIPPO_CUDA_VIEWS_H

#include "../kernels/ops.h"

enum view_case { V_DENSE, V_BROADCAST, V_REVERSED, V_TRANSPOSED, V_STRIDED, N_VIEWS };

static inline size_t view_buffer(size_t R, size_t C) { return (R + 1) * (C + 5) + 8; }

static inline struct ew_in view_of(int v, const real *buf, size_t R, size_t C) {
    switch (v) {
    case V_DENSE: return (struct ew_in){buf, (ptrdiff_t)C, 1};
    case V_BROADCAST: return (struct ew_in){buf, 0, 1};
    case V_REVERSED: return (struct ew_in){buf + C - 1, (ptrdiff_t)C, -1};
    case V_TRANSPOSED: return (struct ew_in){buf, 1, (ptrdiff_t)R};
    default: return (struct ew_in){buf + 2, (ptrdiff_t)(C + 5), 1};
    }
}

#endif
