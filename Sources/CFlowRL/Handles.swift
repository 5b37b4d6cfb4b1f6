import FlowRL
#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex (Foundation's NSLock would pull Foundation and its ICU data into the library).
final class Lock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    init() { pthread_mutex_init(mutex, nil) }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
}

/// An agent behind a C handle, with the lock that serialises calls on it.
final class AgentHandle: @unchecked Sendable {
    let agent: ManagedAgent
    let lock = Lock()

    init(_ agent: ManagedAgent) { self.agent = agent }
}

/// The table of live handles. A handle given to C is a token (a counter value shown as a
/// pointer), never the address of Swift memory, so a freed or forged handle is looked up,
/// not dereferenced: it fails with a message instead of crashing.
enum Handles {
    private static let lock = Lock()
    nonisolated(unsafe) private static var table: [UInt: AgentHandle] = [:]
    nonisolated(unsafe) private static var lastToken: UInt = 0

    /// Registers `agent` and returns its token (never reused within a process).
    static func register(_ agent: ManagedAgent) -> OpaquePointer {
        lock.lock()
        defer { lock.unlock() }
        lastToken += 16  // multiples of 16 look like aligned pointers to C tools and are never 0
        table[lastToken] = AgentHandle(agent)
        return OpaquePointer(bitPattern: lastToken)!
    }

    /// Runs `body` with the agent behind `handle`, holding that agent's lock.
    static func withAgent<T>(_ handle: OpaquePointer?, _ body: (ManagedAgent) throws -> T) throws -> T {
        let entry = try find(handle)
        entry.lock.lock()
        defer { entry.lock.unlock() }
        return try body(entry.agent)
    }

    /// Removes `handle`; waits for a call in progress on it to finish. NULL is a no-op.
    static func release(_ handle: OpaquePointer?) throws {
        guard let handle else { return }
        let token = UInt(bitPattern: handle)
        lock.lock()
        let entry = table.removeValue(forKey: token)
        lock.unlock()
        guard let entry else { throw FlowRLError.invalidState("flowrl_agent_free: the handle was already freed or was never created") }
        entry.lock.lock()   // a call still running holds this lock
        entry.lock.unlock()
    }

    /// Number of live agents.
    static var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return table.count
    }

    private static func find(_ handle: OpaquePointer?) throws -> AgentHandle {
        guard let handle else { throw FlowRLError.invalidArgument("the agent handle is NULL") }
        lock.lock()
        defer { lock.unlock() }
        guard let entry = table[UInt(bitPattern: handle)] else {
            throw FlowRLError.invalidState("the agent handle is not valid: it was freed or never created")
        }
        return entry
    }
}
