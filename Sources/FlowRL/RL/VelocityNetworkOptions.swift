/// The options of a flow policy's velocity MLP that FlowBC, SWFP and RLDT share: declared and
/// described once, and one way to build the policy from them.
public protocol VelocityNetworkOptions {
    var flowSteps: Int { get }
    var hiddenSizes: [Int] { get }
    var activation: Activation { get }
    var timeEmbeddingSize: Int { get }
}

extension ConfigKey where Group: VelocityNetworkOptions {
    /// `hidden_sizes`, `activation` and `time_embedding_size` (each algorithm declares its own
    /// `flow_steps`, whose range differs).
    public static var velocityNetwork: [Self] {
        [.layerSizes("hidden_sizes", \.hiddenSizes, "Hidden widths of the velocity MLP."),
         .choice("activation", \.activation, "Activation of the velocity MLP."),
         .timeEmbeddingSize(\.timeEmbeddingSize)]
    }
}

extension FlowPolicy {
    /// A flow policy whose velocity network follows `options`.
    public convenience init(_ options: some VelocityNetworkOptions, observationSize: Int, actionSize: Int,
                            separateBlocks: Bool, generator: inout RandomGenerator) {
        self.init(observationSize: observationSize, actionSize: actionSize, steps: options.flowSteps,
                  hiddenSizes: options.hiddenSizes, activation: options.activation, embeddingSize: options.timeEmbeddingSize,
                  separateBlocks: separateBlocks, generator: &generator, name: "velocity")
    }
}
