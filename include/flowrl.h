/*
 * flowrl.h — the C ABI of libflowrl, the Swift core of flowrl.
 *
 * Conventions, for every function below:
 *  - The return value is a status (FLOWRL_OK or one of the errors). On an error,
 *    flowrl_last_error() returns a message saying what was wrong, and nothing was changed:
 *    an agent that rejected a call is exactly as it was before it.
 *  - Arrays are float32 (or uint8 for flags), C-contiguous, allocated by the caller, and come
 *    with explicit sizes that are checked against the agent's dimensions.
 *  - Observations and actions are batches: `count` rows of `observation_size` or
 *    `action_size` floats. Actions inside flowrl are in [-1, 1]; rescaling to an environment's
 *    bounds is the caller's job.
 *  - Strings returned through `const char **` point into a buffer owned by the library and
 *    private to the calling thread; they stay valid until that thread's next flowrl call.
 *  - Thread safety: any function may be called from any thread. Calls on one agent are
 *    serialised by a lock that agent owns; calls on different agents run in parallel.
 *  - Handles: a handle is an opaque token, not a pointer to memory. Using a handle after
 *    flowrl_agent_free (or one never returned by flowrl) gives FLOWRL_INVALID_STATE, never a crash.
 */
#ifndef FLOWRL_H
#define FLOWRL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever a declaration below changes; the Python package refuses a library whose ABI
 * version differs from the one it was written for. */
#define FLOWRL_ABI_VERSION 5

/* Status codes. */
#define FLOWRL_OK 0
#define FLOWRL_INVALID_ARGUMENT 1 /* malformed input: wrong size, NaN/Inf, unknown name, bad value */
#define FLOWRL_INVALID_STATE 2    /* the call is not valid now: freed handle, empty replay buffer */
#define FLOWRL_IO 3               /* a file could not be read or written, or is not a valid checkpoint */
#define FLOWRL_NUMERICAL 4        /* a computation produced NaN or Inf; the agent was left unchanged */
#define FLOWRL_INTERNAL 5         /* a bug in flowrl; please report it with the message */

/* An agent: one algorithm's networks, optimisers, replay buffer, random state and counters. */
typedef struct flowrl_agent flowrl_agent;

/* The ABI version of this library (compare with FLOWRL_ABI_VERSION). */
int32_t flowrl_abi_version(void);

/* The library version, such as "0.1.0"; a static string. */
const char *flowrl_version(void);

/* The message of the last error on the calling thread ("" when the last call succeeded). */
const char *flowrl_last_error(void);

/* Sets how many threads OpenBLAS uses for every agent in the process (default 1; 1 is usually
 * fastest for flowrl's small matrices and keeps results bit-reproducible). thread_count >= 1.
 * Leaves the concurrent parts of an update (flowrl_set_threads) as they are. */
int32_t flowrl_set_blas_threads(int32_t thread_count);

/* Sets how many cores one agent's update may use, for every agent in the process (default 1):
 * OpenBLAS's threads (as flowrl_set_blas_threads), and with thread_count >= 2 the independent
 * parts of an update run two at a time, on one BLAS thread each: the twin critics' two networks
 * (critic step, targets, the actor's critic evaluation) and, in SAC and SAC Flow, the actor's
 * sample beside the critic target's; in SWFP and RLDT, the critic target's samples beside the
 * actor's particle chains. Results are the same as with one thread, byte for byte
 * (the same products on the same inputs; tested at flowrl's shapes). Worth it only with as
 * many idle cores: on a busy machine the threads wait for each other. thread_count in [1, 1024]. */
int32_t flowrl_set_threads(int32_t thread_count);

/* The run-time environment as a JSON object: {"version", "abi_version", "blas": {"path",
 * "configuration" (OpenBLAS's version and build line), "core" (the kernel set in use),
 * "detected_core" (the one OpenBLAS chose by itself), "core_source" ("detected", "user" when
 * OPENBLAS_CORETYPE is set, or "flowrl" when flowrl replaced a generic fallback core to match the
 * CPU), "cpu_vector_level" ("avx512", "avx2", "avx", "sse" or "other"), "threads"}, "threads" (the count
 * flowrl_set_threads set, 1 by default), "product_flops": the
 * floating-point operations of all matrix products made in the process so far (2·m·n·k each)}.
 * Loads OpenBLAS if that has not happened yet: FLOWRL_INVALID_STATE, saying where it looked, if
 * it cannot be found. */
int32_t flowrl_runtime_info(const char **json_out);

/* The algorithms this library implements, as a JSON array of names, such as ["flow_bc"]. */
int32_t flowrl_algorithms(const char **json_out);

/* The configuration schema of `algorithm` as a JSON object: {"algorithm", "description" (one line),
 * "keys": [...], "presets": {name: {key: value, ...}} (the keys each named configuration changes;
 * config_json {"preset": name} applies them under its own keys), "training_loop_defaults":
 * {"learning_starts", "train_freq", "gradient_steps"} (the schedule a training loop uses when the
 * configuration has no such keys)}. Each entry of "keys",
 * in the order to document them, is {"name" (the config_json key), "group" ("algorithm" for the
 * algorithm's own keys, else the shared group: "common", "replay", "critic", "temperature",
 * "training_loop"), "type" ("integer", "number", "string", "boolean", "integer_list",
 * "number_or_auto" or "integer_or_auto"), "default", "description" (one line)} with, where they
 * apply, "minimum" and "maximum" (inclusive bounds of the value, or of each item of a list),
 * "exclusive_minimum": true (the minimum itself excluded), "choices" (the allowed strings),
 * "multiple_of", "min_length" and "max_length" (of a list), "follows" (the key whose value this one
 * takes when only that one is given), "settable": true (flowrl_agent_set_config may change it on
 * a live agent) and "legacy_value" (for a key added after checkpoints were first written: what a
 * stored configuration without it means, the behaviour before it existed; a checkpoint lacking the
 * key loads with this value, a config_json lacking it gets "default"). "renamed_keys" maps keys renamed since checkpoints were first written to their new
 * names (checkpoints that store an old name still load; a config_json that uses one is refused). An
 * unknown algorithm is FLOWRL_INVALID_ARGUMENT. */
int32_t flowrl_algorithm_schema(const char *algorithm, const char **json_out);

/* Creates an agent running `algorithm` for observations of `observation_size` floats and actions
 * of `action_size` floats. `config_json` is a JSON object of hyperparameters (NULL or "{}" for
 * the defaults); an unknown key or an out-of-range value is an error that names it. On success
 * *agent_out receives the new handle; on failure it is set to NULL. */
int32_t flowrl_agent_create(const char *algorithm, const char *config_json, int64_t observation_size,
                            int64_t action_size, flowrl_agent **agent_out);

/* Releases an agent. NULL is a no-op; a handle that was already freed is FLOWRL_INVALID_STATE.
 * If another thread is inside a call on the agent, the release waits for that call to finish. */
int32_t flowrl_agent_free(flowrl_agent *agent);

/* Samples actions for `count` observations (`observations` holds count * observation_size
 * floats) into `actions_out` (capacity `actions_capacity` floats, at least count * action_size).
 * deterministic != 0 starts the flow from its mean noise (0) instead of sampling. */
int32_t flowrl_agent_act(flowrl_agent *agent, const float *observations, int64_t count,
                         int64_t observation_size, int32_t deterministic, float *actions_out,
                         int64_t actions_capacity);

/* The particles of the policy's sampling chain for `count` observations: (N + 1) blocks of
 * count * action_size floats, block n holding tanh(x_n) in [-1, 1] (x_0 is the noise, x_N gives
 * the action). Call with particles_out = NULL to learn the number of floats in *size_out, then
 * with a buffer of at least that many. Algorithms without a particle chain give
 * FLOWRL_INVALID_STATE. */
int32_t flowrl_agent_particle_chain(flowrl_agent *agent, const float *observations, int64_t count,
                                    int64_t observation_size, int32_t deterministic, float *particles_out,
                                    int64_t particles_capacity, int64_t *size_out);

/* Stores `count` transitions in the agent's replay buffer. `actions` are in [-1, 1];
 * `terminated[i] != 0` marks a true termination (a time-limit truncation is not one: pass 0 and
 * the critic bootstraps through it). Every float must be finite; a NaN or Inf anywhere rejects
 * the whole batch before anything is stored. An agent that stores particle chains (SWFP with
 * old_particles "stored") gives a transition the chain its last stochastic act drew for the same
 * observation row (equal bit for bit) and action (within 1e-4); a transition without such a row,
 * as from random warm-up actions, is stored without a chain. */
int32_t flowrl_agent_observe(flowrl_agent *agent, const float *observations, const float *actions,
                             const float *rewards, const float *next_observations,
                             const uint8_t *terminated, int64_t count, int64_t observation_size,
                             int64_t action_size);

/* Runs `gradient_steps` (>= 1) gradient updates from the replay buffer. *metrics_json_out receives
 * a JSON object of floats (losses and the like, averaged over the steps). If any update produces
 * a non-finite value, the agent is restored to its state before the call and FLOWRL_NUMERICAL is
 * returned. */
int32_t flowrl_agent_update(flowrl_agent *agent, int32_t gradient_steps, const char **metrics_json_out);

/* Trains the policy by flow matching on `count` demonstration pairs (observation, action in
 * [-1, 1]) for `steps` (>= 1) minibatch updates. Metrics as for update. */
int32_t flowrl_agent_pretrain(flowrl_agent *agent, const float *observations, const float *actions,
                              int64_t count, int64_t observation_size, int64_t action_size,
                              int64_t steps, const char **metrics_json_out);

/* flowrl_agent_pretrain on whole transitions (as for observe), which are then stored in the
 * replay buffer. Every array is checked before training: a rejected call changes nothing. */
int32_t flowrl_agent_pretrain_transitions(flowrl_agent *agent, const float *observations, const float *actions,
                                          const float *rewards, const float *next_observations,
                                          const uint8_t *terminated, int64_t count, int64_t observation_size,
                                          int64_t action_size, int64_t steps, const char **metrics_json_out);

/* Attaches a JSON object of the caller's own (such as the environment's spaces) to the agent.
 * It is saved in checkpoints and returned under "metadata" by flowrl_agent_info. */
int32_t flowrl_agent_set_metadata(flowrl_agent *agent, const char *metadata_json);

/* Changes configuration keys of a live agent: `config_json` is a JSON object of keys the schema
 * marks "settable" (the learning rates, "learning_rate" and, with a critic, "critic_learning_rate"),
 * such as {"learning_rate": 1e-4}. Each value is checked exactly as flowrl_agent_create checks it;
 * any other key, a value out of range or malformed JSON is FLOWRL_INVALID_ARGUMENT naming the key,
 * and then nothing changed. Every optimiser that uses a key takes the new value (for
 * "learning_rate": the policy's and, when it is tuned, α's); flowrl_agent_info and checkpoints
 * report the new values. */
int32_t flowrl_agent_set_config(flowrl_agent *agent, const char *config_json);

/* Reseeds the agent's random generator (action noise, minibatch sampling). */
int32_t flowrl_agent_seed(flowrl_agent *agent, uint64_t seed);

/* The agent as JSON: algorithm, sizes, config, counters. */
int32_t flowrl_agent_info(flowrl_agent *agent, const char **json_out);

/* Writes a checkpoint to `path`: everything needed to resume training. The file is written
 * beside `path` under a temporary name and renamed over it, so an interrupted save never
 * destroys an existing checkpoint. include_replay_buffer != 0 also stores the replay buffer.
 * A symbolic link is followed (its target is replaced, the link stays); an existing file keeps
 * its permissions; a directory, device, FIFO or socket is refused (FLOWRL_IO). Temporaries
 * left by a killed save to the same path are removed. */
int32_t flowrl_agent_save(flowrl_agent *agent, const char *path, int32_t include_replay_buffer);

/* Creates a new agent from a checkpoint file. Missing, unreadable, truncated, corrupted (checksum)
 * or wrong-version files are FLOWRL_IO errors. */
int32_t flowrl_agent_load(const char *path, flowrl_agent **agent_out);

/* Serialises the agent into `buffer` (the same bytes as a checkpoint file). Call with
 * buffer = NULL to learn the size in *size_out; then call again with a buffer of at least that
 * size. A buffer that is too small is FLOWRL_INVALID_ARGUMENT and *size_out receives the size. */
int32_t flowrl_agent_save_bytes(flowrl_agent *agent, int32_t include_replay_buffer, uint8_t *buffer,
                                int64_t capacity, int64_t *size_out);

/* Creates a new agent from `size` bytes made by flowrl_agent_save_bytes or a checkpoint file. */
int32_t flowrl_agent_load_bytes(const uint8_t *data, int64_t size, flowrl_agent **agent_out);

#ifdef __cplusplus
}
#endif

#endif /* FLOWRL_H */
