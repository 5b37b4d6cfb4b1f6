// FlowRL is built on the numerical core and re-exports it: `import FlowRL` gives Tensor,
// Variable, the layers and Adam as well as the flows and agents, and (through the core's
// Platform.swift) the C library.
@_exported import FlowRLCore
