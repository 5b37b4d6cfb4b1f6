extension Tensor {
    /// Sum of all elements, accumulated in `Double` so long sums stay accurate.
    public func sum() -> Float {
        scalars.withUnsafeBufferPointer { buffer in
            var total = 0.0
            for value in buffer { total += Double(value) }
            return Float(total)
        }
    }

    /// The sum of each row: `[rows, 1]`.
    public func sumOfEachRow() -> Tensor {
        let (rows, cols) = (self.rows, self.cols)
        return scalars.withUnsafeBufferPointer { source in
            Tensor(rows: rows, cols: 1) { out, _ in
                let input = source.baseAddress!
                Self.rowSums(rows: rows, cols: cols, into: out) { input[$0] }
            }
        }
    }

    /// Each row's sum of `element(row · cols + col)`, added in column order from 0, as one loop
    /// per row adds them (the same floats), but eight rows at a time in the lanes of a vector: a
    /// row's additions wait on one another, eight rows' do not, so they overlap.
    @inline(__always)
    static func rowSums(rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>, _ element: (Int) -> Float) {
        var row = 0
        while row + 8 <= rows {
            var totals = SIMD8<Float>()
            for col in 0..<cols {
                var values = SIMD8<Float>()
                for lane in 0..<8 { values[lane] = element((row + lane) * cols + col) }
                totals += values
            }
            for lane in 0..<8 { out[row + lane] = totals[lane] }
            row += 8
        }
        for rest in row..<rows {
            var total: Float = 0
            for col in 0..<cols { total += element(rest * cols + col) }
            out[rest] = total
        }
    }

    /// The sum of each row of `a ⊙ b` (equal shapes), `[rows, 1]`: the floats of
    /// `Tensor.zip(a, b, Elementwise.Multiply.self).sumOfEachRow()` (each product rounded, then
    /// added in column order) without the product's tensor.
    public static func sumOfEachRow(ofProduct a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.hasShape(of: b), "sumOfEachRow(ofProduct:): \(a.rows)×\(a.cols) with \(b.rows)×\(b.cols)")
        let (rows, cols) = (a.rows, a.cols)
        return a.scalars.withUnsafeBufferPointer { pa in
            b.scalars.withUnsafeBufferPointer { pb in
                Tensor(rows: rows, cols: 1) { out, _ in
                    let (x, y) = (pa.baseAddress!, pb.baseAddress!)
                    rowSums(rows: rows, cols: cols, into: out) { Elementwise.Multiply.apply(x[$0], y[$0]) }
                }
            }
        }
    }

    /// Row `r` of `tensors[sources[r]]` for every row `r` (the tensors of one shape, with
    /// `sources.count` rows each).
    public static func selecting(rowsFrom tensors: [Tensor], sources: [Int]) -> Tensor {
        let (rows, cols) = (tensors[0].rows, tensors[0].cols)
        precondition(sources.count == rows && tensors.allSatisfy { $0.rows == rows && $0.cols == cols },
                     "selecting(rowsFrom:sources:): one source per row, tensors of one shape")
        return Tensor(rows: rows, cols: cols) { out, _ in
            for (row, source) in sources.enumerated() {
                tensors[source].scalars.withUnsafeBufferPointer { input in
                    (out + row * cols).update(from: input.baseAddress! + row * cols, count: cols)
                }
            }
        }
    }

    /// The sum of each column: `[1, cols]`.
    public func sumOfEachColumn() -> Tensor {
        var out = Tensor(rows: 1, cols: cols)
        scalars.withUnsafeBufferPointer { source in
            out.scalars.withUnsafeMutableBufferPointer { target in
                let input = source.baseAddress!, o = target.baseAddress!
                for row in 0..<rows {
                    let start = input + row * cols
                    for col in 0..<cols { o[col] += start[col] }
                }
            }
        }
        return out
    }

    /// Sums this tensor down to `rows × cols` along the axes that broadcasting expanded
    /// (the adjoint of broadcasting, used by the backward pass of binary ops).
    public func summed(toRows targetRows: Int, cols targetCols: Int) -> Tensor {
        var result = self
        if targetRows == 1 && result.rows != 1 { result = result.sumOfEachColumn() }
        if targetCols == 1 && result.cols != 1 { result = result.sumOfEachRow() }
        precondition(result.rows == targetRows && result.cols == targetCols,
                     "summed: cannot reduce \(rows)×\(cols) to \(targetRows)×\(targetCols)")
        return result
    }

    /// Expands a tensor with an axis of length 1 to `rows × cols` by repetition.
    public func broadcast(toRows targetRows: Int, cols targetCols: Int) -> Tensor {
        if rows == targetRows && cols == targetCols { return self }
        precondition((rows == 1 || rows == targetRows) && (cols == 1 || cols == targetCols),
                     "broadcast: cannot broadcast \(rows)×\(cols) to \(targetRows)×\(targetCols)")
        // One pass into uninitialised storage (a bias row is broadcast for every affine layer).
        return scalars.withUnsafeBufferPointer { source in
            Tensor(rows: targetRows, cols: targetCols) { out, _ in
                for row in 0..<targetRows {
                    let from = source.baseAddress! + (rows == 1 ? 0 : row * cols)
                    let to = out + row * targetCols
                    if cols == targetCols {
                        to.update(from: from, count: targetCols)
                    } else {
                        to.update(repeating: from.pointee, count: targetCols)
                    }
                }
            }
        }
    }
}

extension Tensor {
    /// Columns `range` of every row: `[rows, range.count]`.
    public func columns(_ range: Range<Int>) -> Tensor {
        precondition(range.lowerBound >= 0 && range.upperBound <= cols, "columns: \(range) outside 0..<\(cols)")
        let width = range.count
        return scalars.withUnsafeBufferPointer { source in
            Tensor(rows: rows, cols: width) { out, _ in
                let input = source.baseAddress!
                for row in 0..<rows {
                    (out + row * width).update(from: input + row * cols + range.lowerBound, count: width)
                }
            }
        }
    }

    /// Rows `range`: `[range.count, cols]`.
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows: \(range) outside 0..<\(rows)")
        return Tensor(rows: range.count, cols: cols,
                      scalars: Array(scalars[(range.lowerBound * cols)..<(range.upperBound * cols)]))
    }

    /// Tensors with equal row counts placed side by side: `[rows, Σ cols]`.
    public static func concatenatingColumns(_ parts: [Tensor]) -> Tensor {
        guard let first = parts.first else { return Tensor(rows: 0, cols: 0) }
        precondition(parts.allSatisfy { $0.rows == first.rows }, "concatenatingColumns: row counts differ")
        let total = parts.reduce(0) { $0 + $1.cols }
        return Tensor(rows: first.rows, cols: total) { out, _ in
            var offset = 0
            for part in parts {
                part.scalars.withUnsafeBufferPointer { source in
                    for row in 0..<first.rows {
                        (out + row * total + offset).update(from: source.baseAddress! + row * part.cols, count: part.cols)
                    }
                }
                offset += part.cols
            }
        }
    }

    /// Tensors with equal column counts stacked vertically: `[Σ rows, cols]`.
    public static func concatenatingRows(_ parts: [Tensor]) -> Tensor {
        guard let first = parts.first else { return Tensor(rows: 0, cols: 0) }
        precondition(parts.allSatisfy { $0.cols == first.cols }, "concatenatingRows: column counts differ")
        var scalars: [Float] = []
        scalars.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        for part in parts { scalars.append(contentsOf: part.scalars) }
        return Tensor(rows: parts.reduce(0) { $0 + $1.rows }, cols: first.cols, scalars: scalars)
    }

    /// The whole tensor stacked `times` times vertically: `[times · rows, cols]`.
    public func tiledRows(_ times: Int) -> Tensor {
        Tensor.concatenatingRows(Array(repeating: self, count: times))
    }
}
