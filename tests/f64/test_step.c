/* The recurrent-mode suite in double precision (see ../test_step.c). */
#include "../test_step.c"
