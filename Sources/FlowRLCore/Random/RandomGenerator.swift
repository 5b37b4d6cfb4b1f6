/// A seedable pseudo-random generator: xoshiro256** (Blackman & Vigna), seeded through splitmix64.
///
/// Each owner (an agent, a layer initialiser, a test) holds its own generator; flowrl has no
/// global random state. Equal seeds give equal streams on every platform. The whole state,
/// including the cached second normal of the Box–Muller pair, is exposed for checkpoints.
public struct RandomGenerator: RandomNumberGenerator, Sendable, Equatable {
    /// The four 64-bit words of xoshiro256** state followed by the cached normal (as bits) and a
    /// flag saying whether it is valid; enough to restore the stream exactly.
    private var state: [UInt64]
    private var cachedNormal: Float?

    /// A generator whose stream is fixed by `seed`.
    public init(seed: UInt64) {
        var mixer = seed
        func splitMix() -> UInt64 {
            mixer &+= 0x9E37_79B9_7F4A_7C15
            var z = mixer
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = [splitMix(), splitMix(), splitMix(), splitMix()]
        cachedNormal = nil
    }

    /// Restores a generator from `savedState` (as returned by `savedState`).
    public init?(savedState: [UInt64]) {
        guard savedState.count == 6, savedState[0...3].contains(where: { $0 != 0 }) else { return nil }
        state = Array(savedState[0...3])
        cachedNormal = savedState[5] != 0 ? Float(bitPattern: UInt32(truncatingIfNeeded: savedState[4])) : nil
    }

    /// Six words that restore this exact stream with `init(savedState:)`.
    public var savedState: [UInt64] {
        state + [UInt64(cachedNormal?.bitPattern ?? 0), cachedNormal == nil ? 0 : 1]
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = rotateLeft(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = rotateLeft(state[3], 45)
        return result
    }

    private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in `[0, 1)` with 24 random bits (every representable multiple of 2⁻²⁴).
    public mutating func uniform() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Uniform in `[lower, upper)`.
    public mutating func uniform(_ lower: Float, _ upper: Float) -> Float {
        lower + (upper - lower) * uniform()
    }

    /// Standard normal by the Box–Muller transform (both values of each pair are used).
    public mutating func normal() -> Float {
        if let cached = cachedNormal {
            cachedNormal = nil
            return cached
        }
        // u1 in (0, 1] so that log(u1) is finite.
        let u1 = (Double(next() >> 11) + 1) * (1.0 / 9_007_199_254_740_992.0)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        let radius = (-2 * log(u1)).squareRoot()
        cachedNormal = Float(radius * sin(2 * Double.pi * u2))
        return Float(radius * cos(2 * Double.pi * u2))
    }

    /// A tensor of independent standard normals.
    public mutating func normalTensor(rows: Int, cols: Int) -> Tensor {
        var out = Tensor(rows: rows, cols: cols)
        for index in 0..<out.count { out.scalars[index] = normal() }
        return out
    }

    /// A tensor of independent uniforms in `[lower, upper)`.
    public mutating func uniformTensor(rows: Int, cols: Int, lower: Float = 0, upper: Float = 1) -> Tensor {
        var out = Tensor(rows: rows, cols: cols)
        for index in 0..<out.count { out.scalars[index] = uniform(lower, upper) }
        return out
    }

    /// A tensor of independent ±1 signs (Rademacher), for Hutchinson probes.
    public mutating func signTensor(rows: Int, cols: Int) -> Tensor {
        var out = Tensor(rows: rows, cols: cols)
        for index in 0..<out.count { out.scalars[index] = next() >> 63 == 0 ? -1 : 1 }
        return out
    }
}
