// Loads OpenBLAS at run time instead of linking it, for one reason: the choice of kernels.
//
// OpenBLAS built with DYNAMIC_ARCH picks its kernel set ("core") once, when the library is
// loaded, from the CPU's vendor, family and model. A CPU newer than the library is not in its
// table, and it falls back to generic SSE3 kernels ("Prescott") that run 3-4x slower on an
// AVX-512 machine. The only way to choose another core is the OPENBLAS_CORETYPE environment
// variable, read at load time, so flowrl has to decide before (or instead of) the first load:
//
// 1. If the user set OPENBLAS_CORETYPE, the library is loaded as it is: the user's choice stands.
// 2. Otherwise the library is loaded and its detected core compared with the CPU's instruction
//    sets. If it fell back to a core that does not use AVX2 on a CPU that has AVX2 (or AVX-512),
//    a second copy is loaded into a new link-map namespace (dlmopen) with OPENBLAS_CORETYPE set
//    to the core that matches the CPU ("SkylakeX" for AVX-512, "Haswell" or "Zen" for AVX2), and
//    flowrl uses that copy. The first copy stays loaded, unused.
//
// The library is found, in order, at: $FLOWRL_BLAS_LIBRARY (a path, for users who bring their
// own); libscipy_openblas.so beside the binary that contains this file (the Python wheel ships it
// next to libflowrl.so); the build-time FLOWRL_BLAS_DEFAULT_DIRECTORY (a development checkout's
// .deps copy). Symbols are looked up with the scipy_ prefix of the scipy-openblas builds first,
// then without a prefix, so a plain libopenblas.so also works.
#define _GNU_SOURCE
#include "flowrl_blas.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FLOWRL_BLAS_DEFAULT_DIRECTORY
#define FLOWRL_BLAS_DEFAULT_DIRECTORY ""
#endif

static const char library_file_name[] = "libscipy_openblas.so";

flowrl_blas_table flowrl_blas_routines;
uint64_t flowrl_product_flop_count;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_status = -1;
static char load_error[2048];
static char loaded_path[1024];
static char loaded_config[256];
static char loaded_core[64];
static char detected_core[64];
static int core_source = -1;

static void copy_text(char *destination, size_t capacity, const char *text) {
    snprintf(destination, capacity, "%s", text ? text : "");
}

static void append_error(const char *format, const char *a, const char *b) {
    size_t used = strlen(load_error);
    if (used < sizeof load_error - 1) {
        snprintf(load_error + used, sizeof load_error - used, format, a ? a : "", b ? b : "");
    }
}

/// dlsym with the scipy_ prefix first, then the plain name.
static void *find_symbol(void *handle, const char *name) {
    char prefixed[128];
    snprintf(prefixed, sizeof prefixed, "scipy_%s", name);
    void *symbol = dlsym(handle, prefixed);
    return symbol ? symbol : dlsym(handle, name);
}

static const char *library_core(void *handle) {
    const char *(*corename)(void) = (const char *(*)(void))find_symbol(handle, "openblas_get_corename");
    return corename ? corename() : "";
}

const char *flowrl_cpu_vector_level(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    // OpenBLAS's AVX-512 kernels need F, VL, BW and DQ; __builtin_cpu_supports also checks that the
    // operating system saves the wide registers.
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")) return "avx512";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "avx2";
    if (__builtin_cpu_supports("avx")) return "avx";
    return "sse";
#else
    return "other";
#endif
}

/// Cores whose single-precision kernels use AVX2 and FMA (or AVX-512): anything else on a CPU
/// that has AVX2 is a fallback.
static int core_uses_avx2(const char *core) {
    static const char *const wide[] = {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"};
    for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++) {
        if (strcasecmp(core, wide[i]) == 0) return 1;
    }
    return 0;
}

/// The core flowrl asks for when OpenBLAS fell back, or NULL when the detected one is right.
static const char *replacement_core(const char *detected) {
    if (getenv("FLOWRL_BLAS_FORCE_RESELECT") == NULL && core_uses_avx2(detected)) return NULL;
    const char *level = flowrl_cpu_vector_level();
    if (strcmp(level, "avx512") == 0) return "SkylakeX";
    if (strcmp(level, "avx2") == 0) {
#if defined(__x86_64__) || defined(__i386__)
        if (__builtin_cpu_is("amd")) return "Zen";
#endif
        return "Haswell";
    }
    return NULL;  // no AVX2: the generic cores are the right ones
}

/// Binds the routines of `handle`; returns 0 when the required ones are present.
static int bind_routines(void *handle, const char *path) {
    flowrl_blas_table table = {
        .sgemm = (flowrl_sgemm_fn)find_symbol(handle, "cblas_sgemm"),
        .sgemv = (flowrl_sgemv_fn)find_symbol(handle, "cblas_sgemv"),
        .set_num_threads = (void (*)(int))find_symbol(handle, "openblas_set_num_threads"),
        .get_num_threads = (int (*)(void))find_symbol(handle, "openblas_get_num_threads"),
    };
    if (!table.sgemm || !table.sgemv) {
        append_error("  %s: has no cblas_sgemm/cblas_sgemv%s\n", path, "");
        return -1;
    }
    const char *(*config)(void) = (const char *(*)(void))find_symbol(handle, "openblas_get_config");
    copy_text(loaded_config, sizeof loaded_config, config ? config() : "unknown BLAS");
    copy_text(loaded_core, sizeof loaded_core, library_core(handle));
    copy_text(loaded_path, sizeof loaded_path, path);
    // Publish the pointers last: the wrappers test sgemm to know whether loading happened.
    flowrl_blas_routines.sgemv = table.sgemv;
    flowrl_blas_routines.set_num_threads = table.set_num_threads;
    flowrl_blas_routines.get_num_threads = table.get_num_threads;
    __atomic_store_n(&flowrl_blas_routines.sgemm, table.sgemm, __ATOMIC_RELEASE);
    return 0;
}

/// dlopen with OpenBLAS's thread settings chosen for flowrl, each only where the user set none
/// (OpenBLAS reads them once, at load):
///
/// - OPENBLAS_NUM_THREADS=1: OpenBLAS otherwise starts one server thread per core at load, and
///   with flowrl's default of one thread they only wake and spin on the other cores, taking them
///   from the environment or a second trial. `flowrl_blas_set_threads` still raises the count
///   later (OpenBLAS then starts the threads).
/// - OPENBLAS_THREAD_TIMEOUT=18: after a multi-threaded product OpenBLAS's server threads spin,
///   waiting for the next one, for 2^x cycles before they sleep; the default, 2^28 (about 0.1 s),
///   keeps a core busy across a whole update and into the environment's step. With flowrl's
///   concurrent branches (`ForkJoin`) that spinning thread is a third one on the two cores the
///   branches run on. 2^18 cycles (about 0.1 ms) still bridges the gaps between one update's
///   products.
static void *open_with_thread_settings(const char *path, Lmid_t namespace) {
    int threads_here = getenv("OPENBLAS_NUM_THREADS") == NULL && getenv("GOTO_NUM_THREADS") == NULL &&
                       getenv("OMP_NUM_THREADS") == NULL && setenv("OPENBLAS_NUM_THREADS", "1", 1) == 0;
    int timeout_here = getenv("OPENBLAS_THREAD_TIMEOUT") == NULL && setenv("OPENBLAS_THREAD_TIMEOUT", "18", 1) == 0;
    void *handle = namespace == LM_ID_BASE ? dlopen(path, RTLD_NOW | RTLD_LOCAL)
                                           : dlmopen(namespace, path, RTLD_NOW | RTLD_LOCAL);
    if (threads_here) unsetenv("OPENBLAS_NUM_THREADS");
    if (timeout_here) unsetenv("OPENBLAS_THREAD_TIMEOUT");
    return handle;
}

/// Loads another copy of `path` with OPENBLAS_CORETYPE=`core`; NULL if that fails.
static void *load_with_core(const char *path, const char *core) {
    // setenv is not thread-safe against concurrent getenv; this runs once, under pthread_once.
    if (setenv("OPENBLAS_CORETYPE", core, 1) != 0) return NULL;
    void *handle = open_with_thread_settings(path, LM_ID_NEWLM);
    unsetenv("OPENBLAS_CORETYPE");
    if (handle && strcasecmp(library_core(handle), core) != 0) {
        dlclose(handle);
        return NULL;
    }
    return handle;
}

static int try_path(const char *path) {
    if (path == NULL || path[0] == '\0') return -1;
    void *handle = open_with_thread_settings(path, LM_ID_BASE);
    if (!handle) {
        append_error("  %s: %s\n", path, dlerror());
        return -1;
    }
    copy_text(detected_core, sizeof detected_core, library_core(handle));
    core_source = FLOWRL_BLAS_CORE_DETECTED;
    if (getenv("OPENBLAS_CORETYPE") != NULL) {
        core_source = FLOWRL_BLAS_CORE_USER;
    } else if (detected_core[0] != '\0') {
        const char *core = replacement_core(detected_core);
        void *better = core ? load_with_core(path, core) : NULL;
        if (better) {
            handle = better;
            core_source = FLOWRL_BLAS_CORE_FLOWRL;
        }
    }
    return bind_routines(handle, path);
}

/// The directory of the binary that contains this code (libflowrl.so, or a test executable).
static void own_directory(char *directory, size_t capacity) {
    Dl_info info;
    directory[0] = '\0';
    if (dladdr((void *)&flowrl_blas_load, &info) && info.dli_fname) {
        copy_text(directory, capacity, info.dli_fname);
        char *slash = strrchr(directory, '/');
        if (slash) *slash = '\0'; else directory[0] = '\0';
    }
}

static void load(void) {
    load_error[0] = '\0';
    const char *chosen = getenv("FLOWRL_BLAS_LIBRARY");
    if (chosen && chosen[0] != '\0') {
        load_status = try_path(chosen);
        if (load_status != 0) append_error("  (FLOWRL_BLAS_LIBRARY is set, so no other place was tried)%s%s\n", "", "");
        return;
    }
    char directory[1024], path[1200];
    own_directory(directory, sizeof directory);
    if (directory[0] != '\0') {
        snprintf(path, sizeof path, "%s/%s", directory, library_file_name);
        if (try_path(path) == 0) { load_status = 0; return; }
    }
    if (FLOWRL_BLAS_DEFAULT_DIRECTORY[0] != '\0') {
        snprintf(path, sizeof path, "%s/%s", FLOWRL_BLAS_DEFAULT_DIRECTORY, library_file_name);
        if (try_path(path) == 0) { load_status = 0; return; }
    }
    load_status = -1;
}

int flowrl_blas_load(void) {
    pthread_once(&load_once, load);
    return load_status;
}

const char *flowrl_blas_error(void) {
    if (flowrl_blas_load() == 0) return "";
    return load_error;
}

void flowrl_blas_require(void) {
    if (flowrl_blas_load() == 0) return;
    fprintf(stderr, "flowrl: cannot load OpenBLAS (%s). Tried:\n%s"
                    "Install it with ./scripts/install-system-deps.sh, or set FLOWRL_BLAS_LIBRARY to a libopenblas.so.\n",
            library_file_name, load_error);
    abort();
}

const char *flowrl_blas_path(void) { flowrl_blas_load(); return loaded_path; }
const char *flowrl_blas_config(void) { flowrl_blas_load(); return loaded_config; }
const char *flowrl_blas_core(void) { flowrl_blas_load(); return loaded_core; }
const char *flowrl_blas_detected_core(void) { flowrl_blas_load(); return detected_core; }
int flowrl_blas_core_source_value(void) { flowrl_blas_load(); return load_status == 0 ? core_source : -1; }
