/// A dense, row-major matrix of `Float`: `rows × cols`, batch first.
///
/// Every tensor in flowrl is two-dimensional: a batch of feature vectors is `[batch, features]`,
/// a vector is `[1, n]` (a row) and a scalar is `[1, 1]`. Storage is a Swift array, so copies
/// are copy-on-write and passing a tensor around never duplicates its elements.
public struct Tensor: Equatable, Sendable {
    /// Number of rows (the batch dimension).
    public let rows: Int
    /// Number of columns (the feature dimension).
    public let cols: Int
    /// The elements in row-major order; `count == rows * cols`.
    public var scalars: [Float]

    /// A tensor with the given shape and elements (row-major). The count must match the shape.
    public init(rows: Int, cols: Int, scalars: [Float]) {
        precondition(rows >= 0 && cols >= 0 && scalars.count == rows * cols,
                     "Tensor: \(scalars.count) scalars do not fill a \(rows)×\(cols) shape")
        self.rows = rows
        self.cols = cols
        self.scalars = scalars
    }

    /// A tensor of the given shape with every element equal to `value`.
    public init(rows: Int, cols: Int, repeating value: Float = 0) {
        precondition(rows >= 0 && cols >= 0, "Tensor: negative shape \(rows)×\(cols)")
        self.init(rows: rows, cols: cols, scalars: [Float](repeating: value, count: rows * cols))
    }

    /// True when `other` has this shape and every element's bits (so NaNs compare equal to
    /// themselves, unlike `==`): "the same values", for checks that must hold on non-finite data.
    public func hasTheSameBits(as other: Tensor) -> Bool {
        rows == other.rows && cols == other.cols
            && scalars.withUnsafeBytes { mine in other.scalars.withUnsafeBytes { theirs in mine.elementsEqual(theirs) } }
    }

    /// A `[1, 1]` tensor holding one number.
    public init(scalar: Float) {
        self.init(rows: 1, cols: 1, scalars: [scalar])
    }

    /// A tensor from nested rows; all rows must have the same length.
    public init(_ nested: [[Float]]) {
        let cols = nested.first?.count ?? 0
        precondition(nested.allSatisfy { $0.count == cols }, "Tensor: ragged rows")
        self.init(rows: nested.count, cols: cols, scalars: nested.flatMap { $0 })
    }

    /// A tensor whose storage is allocated but whose elements are filled by `initializer`,
    /// which receives a pointer to `rows * cols` uninitialised floats and must write all of them.
    @inlinable
    public init(rows: Int, cols: Int,
                unsafeUninitializedCapacity initializer: (UnsafeMutablePointer<Float>, Int) -> Void) {
        let count = rows * cols
        self.rows = rows
        self.cols = cols
        self.scalars = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { initializer(buffer.baseAddress!, count) }
            initialized = count
        }
    }

    /// Number of elements.
    @inlinable public var count: Int { rows * cols }

    /// The shape as `[rows, cols]`.
    public var shape: [Int] { [rows, cols] }

    /// True when both tensors have the same number of rows and columns.
    @inlinable public func hasShape(of other: Tensor) -> Bool { rows == other.rows && cols == other.cols }

    /// Element at `(row, col)`.
    @inlinable public subscript(row: Int, col: Int) -> Float {
        get { scalars[row * cols + col] }
        set { scalars[row * cols + col] = newValue }
    }

    /// The single element of a `[1, 1]` tensor.
    public var scalar: Float {
        precondition(count == 1, "Tensor.scalar: shape \(rows)×\(cols) is not a scalar")
        return scalars[0]
    }

    /// Row `index` as an array.
    public func row(_ index: Int) -> [Float] { Array(scalars[(index * cols)..<((index + 1) * cols)]) }

    /// The same elements viewed with another shape of equal size.
    public func reshaped(rows newRows: Int, cols newCols: Int) -> Tensor {
        Tensor(rows: newRows, cols: newCols, scalars: scalars)
    }

    /// True when every element is finite (no NaN, no ±Inf).
    ///
    /// `x − x` is 0 for a finite `x` and NaN for NaN or ±Inf, so one vector sum of it answers for
    /// all elements without a branch per element (the all-or-nothing update checks every parameter
    /// after every call).
    public var isFinite: Bool {
        scalars.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return true }
            let lanes = 16, whole = buffer.count / lanes * lanes
            var total = SIMD16<Float>(repeating: 0)
            var index = 0
            while index < whole {
                let chunk = UnsafeRawPointer(base + index).loadUnaligned(as: SIMD16<Float>.self)
                total += chunk - chunk
                index += lanes
            }
            var tail: Float = 0
            while index < buffer.count {
                tail += base[index] - base[index]
                index += 1
            }
            return total.sum() + tail == 0
        }
    }

    /// Replaces the elements with what `body(old, new, count)` writes into fresh storage.
    ///
    /// For updates of state that a captured snapshot may share: mutating shared storage in
    /// place first copies it (copy-on-write), while writing the result elsewhere reads the old
    /// elements once and copies nothing. `body` must write all `count` new elements.
    @inlinable
    public mutating func rewrite(_ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) {
        let old = scalars
        self = Tensor(rows: rows, cols: cols) { new, count in
            old.withUnsafeBufferPointer { body($0.baseAddress!, new, count) }
        }
    }

    /// Overwrites every element with `value`, keeping the storage (no allocation when unshared).
    public mutating func fill(_ value: Float) {
        scalars.withUnsafeMutableBufferPointer { buffer in
            for index in buffer.indices { buffer[index] = value }
        }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let shown = (0..<min(rows, 4)).map { row($0).prefix(6).map { "\($0)" }.joined(separator: ", ") }
        return "Tensor(\(rows)×\(cols): [\(shown.joined(separator: "; "))\(rows > 4 ? "; …" : "")])"
    }
}
