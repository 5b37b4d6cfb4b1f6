/// `eˣ` for `Float` written without branches or library calls, so loops over it vectorise
/// (libm's `expf` is an opaque call per element and dominates SiLU and sigmoid otherwise).
///
/// Method: `x = n·ln 2 + r` with `n = round(x / ln 2)` and `|r| ≤ ln 2 / 2`; `eʳ` by its degree-6
/// Taylor polynomial (truncation below `0.347⁷/7! ≈ 1.2e-7` relative); `2ⁿ` built in the exponent
/// bits. Inputs are clamped to `[-87.3, 88]`, so results stay within the normal floats
/// (about 1.2e-38 to 1.7e38) instead of reaching 0 or infinity; NaN stays NaN. Relative error
/// against `Foundation.exp` is below 3e-7 on that range (checked in `VectorizableExpTests`).
@inlinable @inline(__always)
public func vectorizableExp(_ x: Float) -> Float {
    let clamped = Swift.min(Swift.max(x, -87.3), 88.0)
    // Round to nearest by the 1.5·2²³ trick: the sum's low mantissa bits hold n.
    let shifted = clamped * 1.442695041 + 12_582_912
    let n = shifted - 12_582_912
    let r = clamped - n * 0.693_145_751_953_125 - n * 1.428_606_765_330_187e-06  // ln 2 split in two for precision
    var p: Float = 1.0 / 720
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    let exponent = (shifted.bitPattern &- 0x4B40_0000) &+ 127
    return p * Float(bitPattern: exponent << 23)
}
