/* The GSS layer suite in double precision (see ../test_gss.c): adds finite
 * differences and tightens every limit to round-off. */
#include "../test_gss.c"
