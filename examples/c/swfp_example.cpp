// SWFP from C++: the C example's steps (create, act, observe, update, change the learning rate,
// save, load, compare, free) through a small RAII wrapper that turns a failed status into an
// exception carrying flowrl_last_error().
//
// Build and run (scripts/build-c-examples.sh does this against the installed Python package):
//     c++ -std=c++17 -I include examples/c/swfp_example.cpp -L "$LIBDIR" -lflowrl -Wl,-rpath,"$LIBDIR" -o swfp_example_cpp
//     ./swfp_example_cpp /tmp
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "flowrl.h"

namespace {

// A failed flowrl call: its status and the library's message.
class Error : public std::runtime_error {
public:
    Error(int32_t status, const std::string &call)
        : std::runtime_error(call + " failed with status " + std::to_string(status) + ": " + flowrl_last_error()), status(status) {}
    const int32_t status;
};

// Throws Error unless `status` is FLOWRL_OK.
void check(int32_t status, const char *call) {
    if (status != FLOWRL_OK) throw Error(status, call);
}

// One agent; freed when the object goes away. Move-only, as the handle has one owner.
class Agent {
public:
    Agent(const std::string &algorithm, const std::string &config, int64_t observation_size, int64_t action_size)
        : observation_size_(observation_size), action_size_(action_size) {
        check(flowrl_agent_create(algorithm.c_str(), config.c_str(), observation_size, action_size, &handle_), "flowrl_agent_create");
    }

    static Agent load(const std::string &path, int64_t observation_size, int64_t action_size) {
        flowrl_agent *handle = nullptr;
        check(flowrl_agent_load(path.c_str(), &handle), "flowrl_agent_load");
        return Agent(handle, observation_size, action_size);
    }

    Agent(Agent &&other) noexcept
        : handle_(std::exchange(other.handle_, nullptr)), observation_size_(other.observation_size_), action_size_(other.action_size_) {}
    Agent(const Agent &) = delete;
    Agent &operator=(const Agent &) = delete;
    Agent &operator=(Agent &&) = delete;
    ~Agent() {
        if (handle_ != nullptr) flowrl_agent_free(handle_);  // NULL after a move; freeing cannot fail otherwise
    }

    // Actions in [-1, 1] for `observations` (rows of observation_size floats).
    std::vector<float> act(const std::vector<float> &observations, bool deterministic) const {
        const int64_t rows = static_cast<int64_t>(observations.size()) / observation_size_;
        std::vector<float> actions(static_cast<size_t>(rows * action_size_));
        check(flowrl_agent_act(handle_, observations.data(), rows, observation_size_, deterministic ? 1 : 0, actions.data(),
                               static_cast<int64_t>(actions.size())),
              "flowrl_agent_act");
        return actions;
    }

    void observe(const std::vector<float> &observations, const std::vector<float> &actions, const std::vector<float> &rewards,
                 const std::vector<float> &next_observations, const std::vector<uint8_t> &terminated) {
        check(flowrl_agent_observe(handle_, observations.data(), actions.data(), rewards.data(), next_observations.data(),
                                   terminated.data(), static_cast<int64_t>(rewards.size()), observation_size_, action_size_),
              "flowrl_agent_observe");
    }

    // The metrics of `steps` updates, as the library's JSON text.
    std::string update(int32_t steps) {
        const char *metrics = nullptr;
        check(flowrl_agent_update(handle_, steps, &metrics), "flowrl_agent_update");
        return metrics;
    }

    void set_config(const std::string &json) { check(flowrl_agent_set_config(handle_, json.c_str()), "flowrl_agent_set_config"); }

    void save(const std::string &path, bool include_replay_buffer) const {
        check(flowrl_agent_save(handle_, path.c_str(), include_replay_buffer ? 1 : 0), "flowrl_agent_save");
    }

    std::string info() const {
        const char *json = nullptr;
        check(flowrl_agent_info(handle_, &json), "flowrl_agent_info");
        return json;
    }

private:
    Agent(flowrl_agent *handle, int64_t observation_size, int64_t action_size)
        : handle_(handle), observation_size_(observation_size), action_size_(action_size) {}

    flowrl_agent *handle_ = nullptr;
    int64_t observation_size_;
    int64_t action_size_;
};

// Fails the example with `message`.
void require(bool condition, const std::string &message) {
    if (!condition) throw std::runtime_error(message);
}

}  // namespace

int main(int argc, char **argv) {
    const std::string directory = argc > 1 ? argv[1] : ".";
    constexpr int64_t observation_size = 3, action_size = 1, count = 64;
    try {
        require(flowrl_abi_version() == FLOWRL_ABI_VERSION, "libflowrl's ABI version differs from flowrl.h's");
        Agent agent("swfp",
                    R"({"hidden_sizes": [16], "critic_hidden_sizes": [16], "flow_steps": 2, "batch_size": 16, "buffer_size": 1000, "seed": 7})",
                    observation_size, action_size);

        // A toy task: reward -(a - s0 / 2)^2, every transition terminal.
        std::mt19937 generator(1);
        std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
        std::vector<float> observations(count * observation_size), next_observations(count * observation_size);
        for (auto &value : observations) value = uniform(generator);
        for (auto &value : next_observations) value = uniform(generator);
        const std::vector<float> actions = agent.act(observations, false);
        std::vector<float> rewards(count);
        for (int64_t i = 0; i < count; i++) {
            const float miss = actions[i] - 0.5f * observations[i * observation_size];
            rewards[i] = -miss * miss;
        }
        agent.observe(observations, actions, rewards, next_observations, std::vector<uint8_t>(count, 1));

        // A bad call raises with the library's message, and changes nothing.
        try {
            Agent::load(directory + "/no_such_checkpoint.flowrl", observation_size, action_size);
            require(false, "loading a missing file was not refused");
        } catch (const Error &error) {
            require(error.status == FLOWRL_IO, "wrong status for a missing checkpoint");
            std::cout << "refused as expected: " << error.what() << "\n";
        }
        try {
            agent.set_config(R"({"batch_size": 8})");
            require(false, "changing batch_size on a live agent was not refused");
        } catch (const Error &error) {
            require(error.status == FLOWRL_INVALID_ARGUMENT, "wrong status for a refused key");
            std::cout << "refused as expected: " << error.what() << "\n";
        }

        std::cout << "update: " << agent.update(10) << "\n";
        agent.set_config(R"({"learning_rate": 0.0001, "critic_learning_rate": 0.0002})");
        std::cout << "update at the new rates: " << agent.update(5) << "\n";

        const std::string path = directory + "/swfp_example_cpp.flowrl";
        agent.save(path, true);
        const Agent loaded = Agent::load(path, observation_size, action_size);
        const std::vector<float> probe(observations.begin(), observations.begin() + 5 * observation_size);
        require(agent.act(probe, true) == loaded.act(probe, true), "the loaded agent acts differently");
        require(loaded.info().find("\"learning_rate\":0.0001") != std::string::npos, "the checkpoint lost the learning rate in use");
        std::remove(path.c_str());
        std::cout << "loaded agent acts identically\nC++ example: OK\n";
        return 0;
    } catch (const std::exception &error) {
        std::cerr << "C++ example failed: " << error.what() << "\n";
        return 1;
    }
}
