// flowrl's binding to OpenBLAS, loaded at run time (see blas_loader.c for why and how).
//
// Only the routines flowrl uses are bound. Every call goes through a table of function pointers
// filled once by flowrl_blas_load(); the inline wrappers below load on first use, so code that
// never called flowrl_blas_load() still works (and stops with a clear message if no library can
// be found; call flowrl_blas_load() first to get that as an error instead).
#ifndef FLOWRL_BLAS_H
#define FLOWRL_BLAS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// CBLAS enumerations, with CBLAS's values.
enum { FLOWRL_BLAS_ROW_MAJOR = 101, FLOWRL_BLAS_NO_TRANS = 111, FLOWRL_BLAS_TRANS = 112 };

/// Who chose the kernel set (OpenBLAS calls it the "core") that runs.
typedef enum {
    /// OpenBLAS's own detection, accepted as it was.
    FLOWRL_BLAS_CORE_DETECTED = 0,
    /// The user, through the OPENBLAS_CORETYPE environment variable; never overridden.
    FLOWRL_BLAS_CORE_USER = 1,
    /// flowrl, from the CPU's instruction sets, because OpenBLAS fell back to a generic core.
    FLOWRL_BLAS_CORE_FLOWRL = 2,
} flowrl_blas_core_source;

typedef void (*flowrl_sgemm_fn)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                                const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
typedef void (*flowrl_sgemv_fn)(int order, int trans, int m, int n, float alpha, const float *a, int lda,
                                const float *x, int incx, float beta, float *y, int incy);

/// The bound routines; null until loaded.
typedef struct {
    flowrl_sgemm_fn sgemm;
    flowrl_sgemv_fn sgemv;
    void (*set_num_threads)(int);
    int (*get_num_threads)(void);
} flowrl_blas_table;

extern flowrl_blas_table flowrl_blas_routines;

/// Floating-point operations of every matrix product made so far in the process (2·m·n·k each,
/// whichever kernel ran it): what benchmarks divide by time to report GFLOP/s.
extern uint64_t flowrl_product_flop_count;

static inline void flowrl_count_product_flops(uint64_t flops) {
    __atomic_fetch_add(&flowrl_product_flop_count, flops, __ATOMIC_RELAXED);
}

static inline uint64_t flowrl_product_flops(void) {
    return __atomic_load_n(&flowrl_product_flop_count, __ATOMIC_RELAXED);
}

/// Loads the library once per process (thread-safe). Returns 0 on success; otherwise nonzero,
/// and flowrl_blas_error() says what was tried.
int flowrl_blas_load(void);
/// Why the last load failed, or "" when it did not.
const char *flowrl_blas_error(void);
/// Loads or stops the process with flowrl_blas_error()'s message (the wrappers' first-use path).
void flowrl_blas_require(void);

/// The loaded library's path, version string (OpenBLAS's config line), core name and how the
/// core was chosen; "" / -1 before a successful load.
const char *flowrl_blas_path(void);
const char *flowrl_blas_config(void);
const char *flowrl_blas_core(void);
int flowrl_blas_core_source_value(void);
/// The core OpenBLAS detected by itself (equal to flowrl_blas_core() unless flowrl reselected).
const char *flowrl_blas_detected_core(void);
/// The CPU's widest vector instruction set that OpenBLAS's kernels use: "avx512", "avx2", "avx",
/// "sse" or "other" (not x86-64).
const char *flowrl_cpu_vector_level(void);

static inline void flowrl_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
                                const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    if (__builtin_expect(flowrl_blas_routines.sgemm == 0, 0)) flowrl_blas_require();
    flowrl_blas_routines.sgemm(FLOWRL_BLAS_ROW_MAJOR, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

static inline void flowrl_sgemv(int trans, int m, int n, float alpha, const float *a, int lda,
                                const float *x, int incx, float beta, float *y, int incy) {
    if (__builtin_expect(flowrl_blas_routines.sgemv == 0, 0)) flowrl_blas_require();
    flowrl_blas_routines.sgemv(FLOWRL_BLAS_ROW_MAJOR, trans, m, n, alpha, a, lda, x, incx, beta, y, incy);
}

/// Sets the library's thread count (no-op for a library without the OpenBLAS call).
static inline void flowrl_blas_set_threads(int count) {
    if (flowrl_blas_routines.sgemm == 0) flowrl_blas_require();
    if (flowrl_blas_routines.set_num_threads) flowrl_blas_routines.set_num_threads(count);
}

/// The library's thread count (1 for a library without the OpenBLAS call).
static inline int flowrl_blas_threads(void) {
    if (flowrl_blas_routines.sgemm == 0) flowrl_blas_require();
    return flowrl_blas_routines.get_num_threads ? flowrl_blas_routines.get_num_threads() : 1;
}

#ifdef __cplusplus
}
#endif

#endif
