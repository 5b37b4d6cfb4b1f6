/// A scalar function of one float, applied element by element by `Tensor.map(_:)`.
///
/// Kernels are generic over this protocol rather than taking closures, so the optimiser
/// specialises each loop for its function and vectorises it; there is no call per element.
public protocol UnaryFunction {
    static func apply(_ x: Float) -> Float
}

/// A scalar function of two floats, applied with broadcasting by `Tensor.zip(_:_:_:)`.
public protocol BinaryFunction {
    static func apply(_ a: Float, _ b: Float) -> Float
}

extension Tensor {
    /// Applies `F` to every element.
    @inlinable
    public func map<F: UnaryFunction>(_: F.Type) -> Tensor {
        scalars.withUnsafeBufferPointer { source in
            Tensor(rows: rows, cols: cols) { out, count in
                let input = source.baseAddress!
                for index in 0..<count { out[index] = F.apply(input[index]) }
            }
        }
    }

    /// Applies `F` to every element in place (no allocation when the storage is unshared).
    @inlinable
    public mutating func apply<F: UnaryFunction>(_: F.Type) {
        scalars.withUnsafeMutableBufferPointer { buffer in
            let pointer = buffer.baseAddress!
            for index in 0..<buffer.count { pointer[index] = F.apply(pointer[index]) }
        }
    }

    /// `self[i] = F(self[i], other[i])` for equal shapes, in place (no allocation when the
    /// storage is unshared): a backward rule scaling the gradient it owns by a saved slope.
    @inlinable
    public mutating func formZip<F: BinaryFunction>(_ other: Tensor, _: F.Type) {
        precondition(hasShape(of: other), "formZip: \(rows)×\(cols) with \(other.rows)×\(other.cols)")
        other.scalars.withUnsafeBufferPointer { source in
            scalars.withUnsafeMutableBufferPointer { target in
                let s = source.baseAddress!, t = target.baseAddress!
                for index in 0..<target.count { t[index] = F.apply(t[index], s[index]) }
            }
        }
    }

    /// The shape two operands broadcast to: each axis must agree or be 1 in one of them.
    @inlinable
    public static func broadcastShape(_ a: Tensor, _ b: Tensor) -> (rows: Int, cols: Int)? {
        func axis(_ x: Int, _ y: Int) -> Int? { x == y ? x : (x == 1 ? y : (y == 1 ? x : nil)) }
        guard let rows = axis(a.rows, b.rows), let cols = axis(a.cols, b.cols) else { return nil }
        return (rows, cols)
    }

    /// Applies `F` to pairs of elements, broadcasting an axis of length 1 against the other
    /// operand (a `[1, n]` row over a batch, a `[b, 1]` column over features, a `[1, 1]` scalar).
    @inlinable
    public static func zip<F: BinaryFunction>(_ a: Tensor, _ b: Tensor, _: F.Type) -> Tensor {
        guard let shape = broadcastShape(a, b) else {
            preconditionFailure("cannot broadcast \(a.rows)×\(a.cols) with \(b.rows)×\(b.cols)")
        }
        let (rows, cols) = shape
        return a.scalars.withUnsafeBufferPointer { pa in
            b.scalars.withUnsafeBufferPointer { pb in
                Tensor(rows: rows, cols: cols) { out, count in
                    let x = pa.baseAddress!, y = pb.baseAddress!
                    if a.rows == rows && a.cols == cols && b.rows == rows && b.cols == cols {
                        for index in 0..<count { out[index] = F.apply(x[index], y[index]) }
                        return
                    }
                    for row in 0..<rows {
                        let xr = x + (a.rows == 1 ? 0 : row * a.cols)
                        let yr = y + (b.rows == 1 ? 0 : row * b.cols)
                        let o = out + row * cols
                        if a.cols == cols && b.cols == cols {
                            for col in 0..<cols { o[col] = F.apply(xr[col], yr[col]) }
                        } else if a.cols == cols {
                            let yv = yr[0]
                            for col in 0..<cols { o[col] = F.apply(xr[col], yv) }
                        } else if b.cols == cols {
                            let xv = xr[0]
                            for col in 0..<cols { o[col] = F.apply(xv, yr[col]) }
                        } else {
                            let value = F.apply(xr[0], yr[0])
                            for col in 0..<cols { o[col] = value }
                        }
                    }
                }
            }
        }
    }

    /// Multiplies every element by `factor` in place.
    public mutating func scale(by factor: Float) {
        scalars.withUnsafeMutableBufferPointer { buffer in
            for index in buffer.indices { buffer[index] *= factor }
        }
    }

    /// `self += other` for equal shapes, in place (`self += factor · other` when a factor is given).
    public mutating func add(_ other: Tensor, scaledBy factor: Float = 1) {
        precondition(hasShape(of: other), "add: \(rows)×\(cols) += \(other.rows)×\(other.cols)")
        other.scalars.withUnsafeBufferPointer { source in
            scalars.withUnsafeMutableBufferPointer { target in
                let s = source.baseAddress!, t = target.baseAddress!
                if factor == 1 {
                    for index in 0..<target.count { t[index] += s[index] }
                } else {
                    for index in 0..<target.count { t[index] += factor * s[index] }
                }
            }
        }
    }
}

// MARK: - The scalar functions the differentiable ops are built from.

/// Namespace for the element functions used by kernels and their derivatives.
public enum Elementwise {
    public enum Add: BinaryFunction { @inlinable public static func apply(_ a: Float, _ b: Float) -> Float { a + b } }
    public enum Subtract: BinaryFunction { @inlinable public static func apply(_ a: Float, _ b: Float) -> Float { a - b } }
    public enum Multiply: BinaryFunction { @inlinable public static func apply(_ a: Float, _ b: Float) -> Float { a * b } }
    public enum Divide: BinaryFunction { @inlinable public static func apply(_ a: Float, _ b: Float) -> Float { a / b } }
    public enum Minimum: BinaryFunction { @inlinable public static func apply(_ a: Float, _ b: Float) -> Float { Swift.min(a, b) } }
    /// 1 where `a ≤ b` (a is the minimum), else 0: routes the gradient of `min`.
    public enum IsLessOrEqual: BinaryFunction { @inlinable public static func apply(_ a: Float, _ b: Float) -> Float { a <= b ? 1 : 0 } }
    /// 1 where `a > b`, else 0.
    public enum IsGreater: BinaryFunction { @inlinable public static func apply(_ a: Float, _ b: Float) -> Float { a > b ? 1 : 0 } }

    public enum Negate: UnaryFunction { @inlinable public static func apply(_ x: Float) -> Float { -x } }
    public enum Exp: UnaryFunction { @inlinable public static func apply(_ x: Float) -> Float { exp(x) } }
    public enum Log: UnaryFunction { @inlinable public static func apply(_ x: Float) -> Float { log(x) } }
    public enum Square: UnaryFunction { @inlinable public static func apply(_ x: Float) -> Float { x * x } }
    public enum SquareRoot: UnaryFunction { @inlinable public static func apply(_ x: Float) -> Float { x.squareRoot() } }
    public enum Reciprocal: UnaryFunction { @inlinable public static func apply(_ x: Float) -> Float { 1 / x } }
    public enum Tanh: UnaryFunction { @inlinable public static func apply(_ x: Float) -> Float { tanh(x) } }
    public enum Erf: UnaryFunction { @inlinable public static func apply(_ x: Float) -> Float { erf(x) } }
    /// Logistic sigmoid `1 / (1 + e⁻ˣ)`; `vectorizableExp` never overflows, so one branch-free
    /// form serves every x.
    public enum Sigmoid: UnaryFunction {
        @inlinable public static func apply(_ x: Float) -> Float { 1 / (1 + vectorizableExp(-x)) }
    }
    public enum ReLU: UnaryFunction { @inlinable public static func apply(_ x: Float) -> Float { Swift.max(x, 0) } }
    /// Heaviside step, 1 for x > 0: the derivative of ReLU.
    public enum Step: UnaryFunction { @inlinable public static func apply(_ x: Float) -> Float { x > 0 ? 1 : 0 } }
    /// `log(1 + eˣ)`, stable for large |x|.
    public enum Softplus: UnaryFunction {
        @inlinable public static func apply(_ x: Float) -> Float { Swift.max(x, 0) + log1p(exp(-Swift.abs(x))) }
    }
}
