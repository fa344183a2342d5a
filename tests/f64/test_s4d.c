/* The S4D layer suite in double precision (see ../test_s4d.c): adds finite
 * differences and causality, and tightens the fixture limits to 1e-10. */
#include "../test_s4d.c"
