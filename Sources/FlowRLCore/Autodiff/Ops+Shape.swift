/// Differentiable shape ops: slicing and concatenating along features, stacking batches.

extension Variable {
    /// Columns `range` of every row (a slice along features).
    public func columns(_ range: Range<Int>) -> Variable {
        let (r, c) = (rows, cols)
        return tape.record(value.columns(range), tracked: isTracked) { [node] g, tape in
            var full = Tensor(rows: r, cols: c)
            full.scalars.withUnsafeMutableBufferPointer { target in
                g.scalars.withUnsafeBufferPointer { source in
                    for row in 0..<r {
                        (target.baseAddress! + row * c + range.lowerBound)
                            .update(from: source.baseAddress! + row * range.count, count: range.count)
                    }
                }
            }
            tape.accumulate(full, into: node)
        }
    }

    /// Rows `range` (a slice of the batch).
    public func rows(_ range: Range<Int>) -> Variable {
        let (r, c) = (rows, cols)
        return tape.record(value.rows(range), tracked: isTracked) { [node] g, tape in
            var full = Tensor(rows: r, cols: c)
            full.scalars.replaceSubrange((range.lowerBound * c)..<(range.upperBound * c), with: g.scalars)
            tape.accumulate(full, into: node)
        }
    }

    /// The batch repeated `times` times vertically: `[times · rows, cols]`. Adjoint of `sumOfRowBlocks`.
    public func tiledRows(_ times: Int) -> Variable {
        precondition(times >= 1, "tiledRows: times must be ≥ 1")
        return tape.record(value.tiledRows(times), tracked: isTracked) { [node, rows] g, tape in
            tape.accumulate(g.sumOfRowBlocks(blockRows: rows), into: node)
        }
    }

    /// Splits the rows into consecutive blocks of `blockRows` and sums the blocks:
    /// `[k · blockRows, cols] → [blockRows, cols]`. Adjoint of `tiledRows`.
    public func sumOfRowBlocks(blockRows: Int) -> Variable {
        let times = rows / max(blockRows, 1)
        return tape.record(value.sumOfRowBlocks(blockRows: blockRows), tracked: isTracked) { [node] g, tape in
            tape.accumulate(g.tiledRows(times), into: node)
        }
    }
}

/// Variables with equal row counts placed side by side (concatenation along features).
public func concatenateColumns(_ parts: [Variable]) -> Variable {
    precondition(!parts.isEmpty, "concatenateColumns: nothing to concatenate")
    let tape = parts[0].tape
    precondition(parts.allSatisfy { $0.tape === tape }, "concatenateColumns: operands are on different tapes")
    let out = Tensor.concatenatingColumns(parts.map(\.value))
    return tape.record(out, tracked: parts.contains { $0.isTracked }) { g, tape in
        var offset = 0
        for part in parts {
            if part.isTracked { tape.accumulate(g.columns(offset..<(offset + part.cols)), into: part.node) }
            offset += part.cols
        }
    }
}

/// Variables with equal column counts stacked vertically (concatenation along the batch).
public func concatenateRows(_ parts: [Variable]) -> Variable {
    precondition(!parts.isEmpty, "concatenateRows: nothing to concatenate")
    let tape = parts[0].tape
    precondition(parts.allSatisfy { $0.tape === tape }, "concatenateRows: operands are on different tapes")
    let out = Tensor.concatenatingRows(parts.map(\.value))
    return tape.record(out, tracked: parts.contains { $0.isTracked }) { g, tape in
        var offset = 0
        for part in parts {
            if part.isTracked { tape.accumulate(g.rows(offset..<(offset + part.rows)), into: part.node) }
            offset += part.rows
        }
    }
}

extension Tensor {
    /// Sum of consecutive row blocks of `blockRows` rows each: `[k · blockRows, cols] → [blockRows, cols]`.
    public func sumOfRowBlocks(blockRows: Int) -> Tensor {
        precondition(blockRows > 0 && rows % blockRows == 0, "sumOfRowBlocks: \(rows) rows are not blocks of \(blockRows)")
        var out = Tensor(rows: blockRows, cols: cols)
        let blockSize = blockRows * cols
        scalars.withUnsafeBufferPointer { source in
            out.scalars.withUnsafeMutableBufferPointer { target in
                let s = source.baseAddress!, t = target.baseAddress!
                for block in 0..<(rows / blockRows) {
                    let start = s + block * blockSize
                    for index in 0..<blockSize { t[index] += start[index] }
                }
            }
        }
        return out
    }
}
