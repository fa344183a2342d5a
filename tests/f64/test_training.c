/* The training-loop check in double precision (see ../test_training.c). */
#include "../test_training.c"
