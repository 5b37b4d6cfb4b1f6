/*
 * SWFP from C: create an agent, act, store transitions, update, change the learning rate, save,
 * load, check that the loaded agent acts exactly as the saved one, and free both.
 *
 * Every call's status is checked; on an error the program prints flowrl_last_error() and exits.
 * The task is a toy one (no environment library needed): a 3-number observation s, a 1-number
 * action a in [-1, 1], reward -(a - s0 / 2)^2, every transition terminal.
 *
 * Build and run (scripts/build-c-examples.sh does this against the installed Python package):
 *     cc -std=c11 -I include examples/c/swfp_example.c -L "$LIBDIR" -lflowrl -Wl,-rpath,"$LIBDIR" -o swfp_example
 *     ./swfp_example /tmp
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowrl.h"

enum { OBSERVATION_SIZE = 3, ACTION_SIZE = 1, TRANSITIONS = 64, PROBES = 5 };

/* Exits with the library's message unless `status` is FLOWRL_OK. */
static void check(int32_t status, const char *call) {
    if (status != FLOWRL_OK) {
        fprintf(stderr, "%s failed with status %d: %s\n", call, (int)status, flowrl_last_error());
        exit(1);
    }
}

#define CHECK(call) check((call), #call)

/* A reproducible number in [-1, 1] (a linear congruential generator: enough for a toy task). */
static float uniform(uint32_t *state) {
    *state = *state * 1664525u + 1013904223u;
    return (float)(*state >> 8) / (float)(1u << 23) - 1.0f;
}

int main(int argc, char **argv) {
    const char *directory = argc > 1 ? argv[1] : ".";
    if (flowrl_abi_version() != FLOWRL_ABI_VERSION) {
        fprintf(stderr, "libflowrl has ABI version %d, this program was compiled for %d\n", (int)flowrl_abi_version(),
                FLOWRL_ABI_VERSION);
        return 1;
    }
    printf("flowrl %s (ABI %d)\n", flowrl_version(), (int)flowrl_abi_version());

    /* A small SWFP agent; every key not given takes its default (docs/configuration.md lists them). */
    const char *config = "{\"hidden_sizes\": [16], \"critic_hidden_sizes\": [16], \"flow_steps\": 2, "
                         "\"batch_size\": 16, \"buffer_size\": 1000, \"seed\": 7}";
    flowrl_agent *agent = NULL;
    CHECK(flowrl_agent_create("swfp", config, OBSERVATION_SIZE, ACTION_SIZE, &agent));

    /* Act on a batch of observations, then store the transitions they make. */
    float observations[TRANSITIONS * OBSERVATION_SIZE], next_observations[TRANSITIONS * OBSERVATION_SIZE];
    float actions[TRANSITIONS * ACTION_SIZE], rewards[TRANSITIONS];
    uint8_t terminated[TRANSITIONS];
    uint32_t random_state = 1;
    for (int i = 0; i < TRANSITIONS * OBSERVATION_SIZE; i++) {
        observations[i] = uniform(&random_state);
        next_observations[i] = uniform(&random_state);
    }
    CHECK(flowrl_agent_act(agent, observations, TRANSITIONS, OBSERVATION_SIZE, 0, actions, TRANSITIONS * ACTION_SIZE));
    for (int i = 0; i < TRANSITIONS; i++) {
        float miss = actions[i] - 0.5f * observations[i * OBSERVATION_SIZE];
        rewards[i] = -miss * miss;
        terminated[i] = 1;
    }
    CHECK(flowrl_agent_observe(agent, observations, actions, rewards, next_observations, terminated, TRANSITIONS,
                               OBSERVATION_SIZE, ACTION_SIZE));

    /* A bad call is refused with a message, and changes nothing. */
    int32_t status = flowrl_agent_observe(agent, observations, actions, rewards, next_observations, terminated, TRANSITIONS,
                                          OBSERVATION_SIZE + 1, ACTION_SIZE);
    if (status != FLOWRL_INVALID_ARGUMENT) {
        fprintf(stderr, "a wrong observation size was not refused (status %d)\n", (int)status);
        return 1;
    }
    printf("refused as expected: %s\n", flowrl_last_error());

    /* Gradient updates; the metrics come back as a JSON object owned by the library. */
    const char *metrics = NULL;
    CHECK(flowrl_agent_update(agent, 10, &metrics));
    printf("update: %s\n", metrics);

    /* Learning rates may change between updates (a schedule): the settable keys of the schema. */
    CHECK(flowrl_agent_set_config(agent, "{\"learning_rate\": 0.0001, \"critic_learning_rate\": 0.0002}"));
    CHECK(flowrl_agent_update(agent, 5, &metrics));
    printf("update at the new rates: %s\n", metrics);
    if (flowrl_agent_set_config(agent, "{\"batch_size\": 8}") != FLOWRL_INVALID_ARGUMENT) {
        fprintf(stderr, "changing batch_size on a live agent was not refused\n");
        return 1;
    }
    printf("refused as expected: %s\n", flowrl_last_error());

    /* Save, load, and compare deterministic actions bit for bit. */
    char path[4096];
    if (snprintf(path, sizeof path, "%s/swfp_example_c.flowrl", directory) >= (int)sizeof path) {
        fprintf(stderr, "directory name too long\n");
        return 1;
    }
    CHECK(flowrl_agent_save(agent, path, 1));
    flowrl_agent *loaded = NULL;
    CHECK(flowrl_agent_load(path, &loaded));
    float before[PROBES * ACTION_SIZE], after[PROBES * ACTION_SIZE];
    CHECK(flowrl_agent_act(agent, observations, PROBES, OBSERVATION_SIZE, 1, before, PROBES * ACTION_SIZE));
    CHECK(flowrl_agent_act(loaded, observations, PROBES, OBSERVATION_SIZE, 1, after, PROBES * ACTION_SIZE));
    if (memcmp(before, after, sizeof before) != 0) {
        fprintf(stderr, "the loaded agent acts differently\n");
        return 1;
    }
    const char *info = NULL;
    CHECK(flowrl_agent_info(loaded, &info));
    if (strstr(info, "\"learning_rate\":0.0001") == NULL) {
        fprintf(stderr, "the checkpoint did not keep the learning rate in use: %s\n", info);
        return 1;
    }
    printf("loaded agent acts identically: %+.6f %+.6f %+.6f %+.6f %+.6f\n", after[0], after[1], after[2], after[3], after[4]);

    CHECK(flowrl_agent_free(loaded));
    CHECK(flowrl_agent_free(agent));
    /* A freed handle is refused, never a crash. */
    if (flowrl_agent_free(agent) != FLOWRL_INVALID_STATE) {
        fprintf(stderr, "a freed handle was not refused\n");
        return 1;
    }
    remove(path);
    printf("C example: OK\n");
    return 0;
}
