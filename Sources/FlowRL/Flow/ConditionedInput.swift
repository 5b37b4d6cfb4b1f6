/// The input of a flow's time-conditioned field, `[s, x, emb(t)]`: the observation, the point
/// `x` in action space and the embedded time. It lives with the flows, not with `TimeEmbedding`
/// in the numerical core, because the core knows nothing of observations and actions.
extension TimeEmbedding {
    /// The input of a time-conditioned field, `[s, x, emb(t)]` (`times` is `[batch, 1]`): the
    /// one place the columns are laid out, so every field that reads them agrees.
    public func conditionedInput(observations: Variable, x: Variable, times: Variable) -> Variable {
        concatenateColumns([observations, x, self(times)])
    }

    /// `[s, x, emb(t)]` with one time `t` for every row.
    public func conditionedInput(observations: Variable, x: Variable, time: Float) -> Variable {
        conditionedInput(observations: observations, x: x, times: Self.times(time, rows: observations.rows, on: observations.tape))
    }

    /// `[s, x, emb(t)]` as plain tensors for one time `t` (the tape-free acting path).
    public func conditionedInput(observations: Tensor, x: Tensor, time: Float) -> Tensor {
        let noGrad = Tape(recording: false)
        let embedded = self(noGrad.constant(Tensor(rows: 1, cols: 1, repeating: time))).value.broadcast(toRows: observations.rows, cols: size)
        return Tensor.concatenatingColumns([observations, x, embedded])
    }
}
