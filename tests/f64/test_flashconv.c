/* The FlashConv suite in double precision (see ../test_flashconv.c):
 * tolerances near double rounding, finite differences through the ops. */
#include "../test_flashconv.c"
