/// Errors the core reports for bad input instead of trapping; the C ABI maps each case to a status.
public enum FlowRLError: Error, Equatable, CustomStringConvertible {
    /// An argument is malformed: wrong shape, out of range, not finite.
    case invalidArgument(String)
    /// The call is not valid in the object's current state.
    case invalidState(String)
    /// Reading or writing a file failed, or its contents are not a valid checkpoint.
    case io(String)
    /// A computation produced a non-finite number.
    case numerical(String)

    public var description: String {
        switch self {
        case .invalidArgument(let message), .invalidState(let message), .io(let message), .numerical(let message):
            return message
        }
    }
}
