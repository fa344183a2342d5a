/* The dense ops suite in double precision (see ../test_ops_dense.c): tolerances
 * near double rounding, finite differences taken through the op itself. */
#include "../test_ops_dense.c"
