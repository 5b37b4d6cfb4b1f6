/// `min(Q₁, Q₂)` of a critic held fixed, differentiated in the actions only: the actor losses of
/// SAC, SAC Flow and SWFP (`−min_j Q_j(s, a_π)` with the critic's parameters constant).
///
/// Each row's gradient flows through the one network attaining its minimum, so the backward pass
/// runs each network on its own rows only: half the work of differentiating both networks over the
/// whole batch and masking one of them to zero, with the same result row by row (`minimum`'s
/// rule: a tie goes to `Q₁`).
extension TwinCritic {
    /// `min(Q₁, Q₂)(s, a)`, `[batch, 1]`, on `actions.tape`; gradients reach `actions` only
    /// (`observations` must be a constant, and no parameter of the critic receives a gradient).
    public func frozenMinimum(observations: Variable, actions: Variable) -> Variable {
        precondition(!observations.isTracked, "TwinCritic.frozenMinimum: observations must be constants")
        precondition(observations.rows == actions.rows, "TwinCritic.frozenMinimum: observations and actions differ in rows")
        let noGrad = Tape(recording: false)
        let input = concatenateColumns([noGrad.constant(observations.value), noGrad.constant(actions.value)]).value
        let (forward1, forward2) = eachNetwork { network, _ in network.inferenceKeeping(input) }
        let (q1, q2) = (forward1.output, forward2.output)
        var out = Tensor(rows: input.rows, cols: 1)
        var rows1: [Int] = [], rows2: [Int] = []
        for row in 0..<input.rows {
            if q1.scalars[row] <= q2.scalars[row] {
                out.scalars[row] = q1.scalars[row]
                rows1.append(row)
            } else {
                out.scalars[row] = q2.scalars[row]
                rows2.append(row)
            }
        }
        let actionColumns = observations.cols..<input.cols
        return actions.tape.record(out, tracked: actions.isTracked) { g, tape in
            let (kept, rows) = ([forward1.kept, forward2.kept], [rows1, rows2])
            let inputGradients = self.eachNetwork { network, index in
                rows[index].isEmpty ? nil
                    : network.inputGradient(outputGradient: g.gathering(rows: rows[index]),
                                            kept: kept[index].gathering(rows: rows[index]))
            }
            var gradient = Tensor(rows: input.rows, cols: actionColumns.count)
            for (inputGradient, rows) in [(inputGradients.0, rows1), (inputGradients.1, rows2)] {
                guard let inputGradient else { continue }
                for (index, row) in rows.enumerated() {
                    for (column, inputColumn) in actionColumns.enumerated() {
                        gradient[row, column] = inputGradient[index, inputColumn]
                    }
                }
            }
            tape.accumulate(gradient, into: actions.node)
        }
    }
}

extension TwinCritic {
    /// `min(Q₁, Q₂)(s, a)` as a plain tensor, by the tape-free forward pass (critic targets).
    public func minimumValue(observations: Tensor, actions: Tensor) -> Tensor {
        let noGrad = Tape(recording: false)
        let input = concatenateColumns([noGrad.constant(observations), noGrad.constant(actions)]).value
        let (q1, q2) = eachNetwork { network, _ in network.inference(input) }
        return Tensor.zip(q1, q2, Elementwise.Minimum.self)
    }
}
