/* The Hyena layer suite in double precision (see ../test_hyena.c): adds finite
 * differences and tightens every limit to round-off. */
#include "../test_hyena.c"
