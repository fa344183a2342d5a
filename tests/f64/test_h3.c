/* The H3 layer suite in double precision (see ../test_h3.c): adds the naive
 * reference, finite differences, accumulation and causality. */
#include "../test_h3.c"
