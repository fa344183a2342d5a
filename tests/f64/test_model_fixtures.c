/* The whole-model fixture checks in double precision (see ../test_model_fixtures.c). */
#include "../test_model_fixtures.c"
