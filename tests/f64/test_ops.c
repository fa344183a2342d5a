/* test_ops.c (f64) — the ops suite in double precision. The same cases as the
 * float suite, with tolerances near double rounding, and every backward
 * checked against central finite differences taken through the op itself
 * (FD_THROUGH_OP), which only double makes accurate enough to mean something. */
#include "../test_ops.c"
