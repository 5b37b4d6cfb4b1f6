"""Independent reference for RandomGenerator's first outputs (RandomGeneratorTests.testKnownFirstOutputs).

splitmix64 seeding followed by xoshiro256** (Blackman & Vigna), in plain Python integers:

    python3 scripts/reference/xoshiro_reference.py [seed] [count]
"""

import sys

MASK = (1 << 64) - 1


def rotate_left(x: int, k: int) -> int:
    return ((x << k) | (x >> (64 - k))) & MASK


def stream(seed: int, count: int) -> list[int]:
    mixer = seed
    state = []
    for _ in range(4):
        mixer = (mixer + 0x9E3779B97F4A7C15) & MASK
        z = mixer
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        state.append(z ^ (z >> 31))
    out = []
    for _ in range(count):
        out.append((rotate_left((state[1] * 5) & MASK, 7) * 9) & MASK)
        t = (state[1] << 17) & MASK
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = rotate_left(state[3], 45)
    return out


if __name__ == "__main__":
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print(stream(seed, count))
