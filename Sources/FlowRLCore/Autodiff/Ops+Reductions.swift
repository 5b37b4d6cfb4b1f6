/// Differentiable reductions: sums and means over everything, over each row, over each column.
extension Variable {
    /// The sum of all elements: `[1, 1]`.
    public func sum() -> Variable {
        let (r, c) = (rows, cols)
        return tape.record(Tensor(scalar: value.sum()), tracked: isTracked) { [node] g, tape in
            tape.accumulate(Tensor(rows: r, cols: c, repeating: g.scalar), into: node)
        }
    }

    /// The mean of all elements: `[1, 1]`.
    public func mean() -> Variable { sum() * (1 / Float(max(value.count, 1))) }

    /// The sum across the columns of each row: `[rows, 1]`.
    public func sumOfEachRow() -> Variable {
        let (r, c) = (rows, cols)
        return tape.record(value.sumOfEachRow(), tracked: isTracked) { [node] g, tape in
            tape.accumulate(g.broadcast(toRows: r, cols: c), into: node)
        }
    }

    /// The mean across the columns of each row: `[rows, 1]`.
    public func meanOfEachRow() -> Variable { sumOfEachRow() * (1 / Float(max(cols, 1))) }

    /// The sum down the rows of each column: `[1, cols]`.
    public func sumOfEachColumn() -> Variable {
        let (r, c) = (rows, cols)
        return tape.record(value.sumOfEachColumn(), tracked: isTracked) { [node] g, tape in
            tape.accumulate(g.broadcast(toRows: r, cols: c), into: node)
        }
    }

    /// The mean down the rows of each column: `[1, cols]`.
    public func meanOfEachColumn() -> Variable { sumOfEachColumn() * (1 / Float(max(rows, 1))) }
}
