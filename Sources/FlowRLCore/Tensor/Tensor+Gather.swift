extension Tensor {
    /// Rows `indices` of a row-major block of `cols`-wide rows starting at `source`, in that
    /// order. The one gather in flowrl: minibatches of demonstrations (`gathering(rows:)`), of
    /// the replay buffer's storage, and the row subsets of the frozen critic's backward pass.
    public init(gatheringRows indices: [Int], of source: UnsafePointer<Float>, cols: Int) {
        self.init(rows: indices.count, cols: cols) { out, _ in
            for (row, index) in indices.enumerated() {
                (out + row * cols).update(from: source + index * cols, count: cols)
            }
        }
    }

    /// Rows `indices` of this tensor, in that order.
    public func gathering(rows indices: [Int]) -> Tensor {
        scalars.withUnsafeBufferPointer { source in
            guard let base = source.baseAddress else { return Tensor(rows: indices.count, cols: cols) }
            return Tensor(gatheringRows: indices, of: base, cols: cols)
        }
    }
}
