// OpenBLAS's CBLAS header (its include directory comes from `pkg-config --cflags openblas`).
// It also declares openblas_set_num_threads / openblas_get_num_threads.
#include <cblas.h>
