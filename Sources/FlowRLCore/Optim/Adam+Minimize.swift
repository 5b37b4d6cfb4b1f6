extension Adam {
    /// One optimiser step on `loss`: clear the gradients, back-propagate `loss` through `tape`,
    /// apply the update. Every loss in flowrl is minimised this way; writing it once keeps the
    /// zeroing from being forgotten (gradients accumulate across backward passes).
    public func minimize(_ loss: Variable, on tape: Tape) {
        zeroGradients()
        tape.backward(from: loss)
        update()
    }
}
