import FlowRL
import FlowRLHeader
#if canImport(Glibc)
import Glibc
#endif

/// Per-thread storage for the last error message and for strings returned to the caller, which
/// stay valid until the thread's next flowrl call (see include/flowrl.h).
final class ThreadStrings {
    /// nil when the last call succeeded (most calls: clearing it then costs no allocation).
    var lastError: UnsafeMutablePointer<CChar>?
    var result: UnsafeMutablePointer<CChar>?

    nonisolated(unsafe) private static let empty: UnsafePointer<CChar> = UnsafePointer(copy(""))  // never written

    /// The message for `flowrl_last_error`.
    var lastErrorMessage: UnsafePointer<CChar> { lastError.map { UnsafePointer($0) } ?? ThreadStrings.empty }

    static func copy(_ string: String) -> UnsafeMutablePointer<CChar> {
        let utf8 = Array(string.utf8CString)
        let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count)
        pointer.initialize(from: utf8, count: utf8.count)
        return pointer
    }

    func setError(_ message: String) {
        lastError?.deallocate()
        lastError = ThreadStrings.copy(message)
    }

    func clearError() {
        lastError?.deallocate()
        lastError = nil
    }

    /// Stores `string` as this thread's returned string and gives its address.
    func setResult(_ string: String) -> UnsafePointer<CChar> {
        result?.deallocate()
        let pointer = ThreadStrings.copy(string)
        result = pointer
        return UnsafePointer(pointer)
    }

    deinit {
        lastError?.deallocate()
        result?.deallocate()
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        // The destructor runs at thread exit and releases that thread's storage.
        pthread_key_create(&key) { pointer in
            if let pointer { Unmanaged<ThreadStrings>.fromOpaque(pointer).release() }
        }
        return key
    }()

    /// The calling thread's storage, created on first use.
    static var current: ThreadStrings {
        if let pointer = pthread_getspecific(key) {
            return Unmanaged<ThreadStrings>.fromOpaque(pointer).takeUnretainedValue()
        }
        let strings = ThreadStrings()
        pthread_setspecific(key, Unmanaged.passRetained(strings).toOpaque())
        return strings
    }
}

/// Runs one C-ABI call: clears the thread's last error, maps a thrown `FlowRLError` to its status
/// code and message. Any other error is a bug and reported as FLOWRL_INTERNAL.
func runCall(_ body: () throws -> Void) -> Int32 {
    let strings = ThreadStrings.current
    strings.clearError()
    do {
        try body()
        return FLOWRL_OK
    } catch let error as FlowRLError {
        strings.setError(error.description)
        switch error {
        case .invalidArgument: return FLOWRL_INVALID_ARGUMENT
        case .invalidState: return FLOWRL_INVALID_STATE
        case .io: return FLOWRL_IO
        case .numerical: return FLOWRL_NUMERICAL
        }
    } catch {
        strings.setError("internal error: \(error)")
        return FLOWRL_INTERNAL
    }
}

/// Stores a string for the caller through `out`, which must not be NULL.
func returnString(_ string: String, through out: UnsafeMutablePointer<UnsafePointer<CChar>?>?, name: String) throws {
    guard let out else { throw FlowRLError.invalidArgument("\(name) is NULL") }
    out.pointee = ThreadStrings.current.setResult(string)
}

/// A JSON object of metrics.
func metricsJSON(_ metrics: [String: Double]) -> String {
    let fields = metrics.keys.sorted().map { key -> String in
        let value = metrics[key]!
        return "\"\(key)\":\(value.isFinite ? "\(value)" : "null")"
    }
    return "{" + fields.joined(separator: ",") + "}"
}
