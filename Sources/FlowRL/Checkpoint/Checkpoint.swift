/// The versioned binary checkpoint format (all integers little-endian):
///
///     "FLOWRLCK"                      8 bytes, magic
///     format version                  UInt32 (currently 1)
///     payload length                  UInt64
///     payload:
///       algorithm                     string (UInt32 byte count + UTF-8)
///       observation size, action size UInt64, UInt64
///       configuration JSON            string
///       metadata JSON                 string (free-form, set by the caller; "{}" by default)
///       integer count, then (name: string, value: UInt64) × count
///       tensor count,  then (name: string, rows: UInt64, cols: UInt64, rows·cols Float32) × count
///     CRC-32 of every byte above      UInt32
///
/// Names are written in sorted order, so equal states give equal bytes.
public struct Checkpoint: Equatable {
    public static let magic: [UInt8] = Array("FLOWRLCK".utf8)
    public static let formatVersion: UInt32 = 1

    public var algorithm: String
    public var observationSize: Int
    public var actionSize: Int
    public var configurationJSON: String
    /// A JSON object the caller attached to the agent (the Python package keeps the spaces here).
    public var metadataJSON: String
    public var state: AgentState

    public init(algorithm: String, observationSize: Int, actionSize: Int, configurationJSON: String,
                metadataJSON: String = "{}", state: AgentState) {
        self.algorithm = algorithm
        self.observationSize = observationSize
        self.actionSize = actionSize
        self.configurationJSON = configurationJSON
        self.metadataJSON = metadataJSON
        self.state = state
    }

    // MARK: Encoding

    /// An upper bound on the encoded size in bytes (every name and field counted generously), so
    /// the output is allocated once instead of growing by doubling.
    public var encodedByteCountBound: Int {
        let names = state.integers.keys.reduce(0) { $0 + $1.utf8.count + 16 } + state.tensors.keys.reduce(0) { $0 + $1.utf8.count + 24 }
        let floats = state.tensors.values.reduce(0) { $0 + 4 * $1.count }
        return 128 + algorithm.utf8.count + configurationJSON.utf8.count + metadataJSON.utf8.count + names + floats
    }

    /// The checkpoint as bytes, refused with a `FlowRLError.io` naming the bytes when the process
    /// cannot hold them (`MemoryBudget`): a large agent near its memory limit would otherwise make
    /// the allocator abort the process while saving.
    public func checkedEncoding() throws -> [UInt8] {
        try MemoryBudget.require(bytes: Double(encodedByteCountBound), for: "encoding the checkpoint")
        return encoded()
    }

    /// The checkpoint as bytes.
    public func encoded() -> [UInt8] {
        var file = ByteWriter()
        file.bytes.reserveCapacity(encodedByteCountBound)
        file.bytes.append(contentsOf: Checkpoint.magic)
        file.integer(Checkpoint.formatVersion)
        let lengthOffset = file.bytes.count
        file.integer(UInt64(0))  // the payload's length, written once it is known
        file.string(algorithm)
        file.integer(UInt64(observationSize))
        file.integer(UInt64(actionSize))
        file.string(configurationJSON)
        file.string(metadataJSON)
        file.integer(UInt32(state.integers.count))
        for key in state.integers.keys.sorted() {
            file.string(key)
            file.integer(state.integers[key]!)
        }
        file.integer(UInt32(state.tensors.count))
        for key in state.tensors.keys.sorted() {
            let tensor = state.tensors[key]!
            file.string(key)
            file.integer(UInt64(tensor.rows))
            file.integer(UInt64(tensor.cols))
            file.floats(tensor.scalars)
        }
        let payloadLength = UInt64(file.bytes.count - lengthOffset - 8).littleEndian
        withUnsafeBytes(of: payloadLength) { file.bytes.replaceSubrange(lengthOffset..<(lengthOffset + 8), with: $0) }
        file.integer(CRC32.checksum(file.bytes))
        return file.bytes
    }

    /// Decodes and checks a checkpoint; any defect (wrong magic, unknown version, truncation,
    /// checksum mismatch, malformed field) is a `FlowRLError.io` that says which.
    public init(decoding bytes: UnsafeRawBufferPointer) throws {
        // The decoded tensors take about as many bytes as the encoding.
        try MemoryBudget.require(bytes: Double(bytes.count), for: "decoding the checkpoint")
        let header = Checkpoint.magic.count + 4 + 8
        guard bytes.count >= header + 4 else {
            throw FlowRLError.io("not a flowrl checkpoint: \(bytes.count) bytes is shorter than the header")
        }
        guard Array(bytes[0..<Checkpoint.magic.count]) == Checkpoint.magic else {
            throw FlowRLError.io("not a flowrl checkpoint: the file does not start with \"FLOWRLCK\"")
        }
        var reader = ByteReader(bytes: bytes, offset: Checkpoint.magic.count)
        let version: UInt32 = try reader.integer()
        guard version == Checkpoint.formatVersion else {
            throw FlowRLError.io("checkpoint format version \(version) is not supported (this library reads version \(Checkpoint.formatVersion))")
        }
        let payloadLength: UInt64 = try reader.integer()
        guard payloadLength == UInt64(bytes.count - header - 4) else {
            throw FlowRLError.io("checkpoint is truncated or has trailing bytes: header says \(payloadLength) payload bytes, file has \(bytes.count - header - 4)")
        }
        let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: bytes.count - 4, as: UInt32.self))
        guard CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<(bytes.count - 4)])) == stored else {
            throw FlowRLError.io("checkpoint is corrupted: checksum mismatch")
        }
        reader.end = bytes.count - 4
        algorithm = try reader.string()
        observationSize = try reader.size()
        actionSize = try reader.size()
        configurationJSON = try reader.string()
        metadataJSON = try reader.string()
        var state = AgentState()
        let integerCount: UInt32 = try reader.integer()
        for _ in 0..<integerCount {
            let key = try reader.string()
            state.integers[key] = try reader.integer()
        }
        let tensorCount: UInt32 = try reader.integer()
        for _ in 0..<tensorCount {
            let key = try reader.string()
            let rows = try reader.size(), cols = try reader.size()
            let (count, overflow) = rows.multipliedReportingOverflow(by: cols)
            guard !overflow else { throw FlowRLError.io("checkpoint: tensor '\(key)' has an impossible shape") }
            state.tensors[key] = Tensor(rows: rows, cols: cols, scalars: try reader.floats(count))
        }
        guard reader.offset == reader.end else { throw FlowRLError.io("checkpoint: unexpected bytes after the last tensor") }
        self.state = state
    }

    public init(decoding bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { try Checkpoint(decoding: $0) }
    }

    // MARK: Files

    /// Writes the checkpoint to `path` atomically: to a temporary file in the same directory,
    /// flushed to disk, then renamed over `path`. A failure leaves any existing file untouched.
    /// A symbolic link is written through (its target replaced), an existing file keeps its
    /// permissions, and anything but a regular file is refused; see `CheckpointFile`.
    public func write(to path: String) throws {
        try CheckpointFile.write(checkedEncoding(), to: path)
    }

    /// Reads and checks the checkpoint at `path`.
    public static func read(from path: String) throws -> Checkpoint {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw FlowRLError.io("cannot read checkpoint '\(path)': \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        // Only a regular file has a size to check; a device or pipe could stream without end.
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            throw FlowRLError.io("cannot read checkpoint '\(path)': not a regular file")
        }
        // The file's bytes, then as many again for the decoded tensors.
        try MemoryBudget.require(bytes: 2 * Double(status.st_size), for: "reading checkpoint '\(path)'")
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress!, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FlowRLError.io("cannot read checkpoint '\(path)': \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        do {
            return try Checkpoint(decoding: bytes)
        } catch let error as FlowRLError {
            throw FlowRLError.io("'\(path)': \(error.description)")
        }
    }
}

/// Appends little-endian fields to a byte array.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func integer<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func string(_ value: String) {
        let utf8 = Array(value.utf8)
        integer(UInt32(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    mutating func floats(_ values: [Float]) {
        // Float32 bit patterns, little-endian (the in-memory order on every platform flowrl builds for).
        values.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }
}

/// Reads little-endian fields with bounds checks; running past the end is a `FlowRLError.io`.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var offset: Int
    var end: Int

    init(bytes: UnsafeRawBufferPointer, offset: Int) {
        self.bytes = bytes
        self.offset = offset
        self.end = bytes.count
    }

    private mutating func take(_ count: Int) throws -> Int {
        guard count >= 0, count <= end - offset else { throw FlowRLError.io("checkpoint is truncated") }
        defer { offset += count }
        return offset
    }

    mutating func integer<T: FixedWidthInteger>() throws -> T {
        let start = try take(MemoryLayout<T>.size)
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: start, as: T.self))
    }

    /// A UInt64 that must fit a non-negative Int below 2⁴⁰ (no real size is larger).
    mutating func size() throws -> Int {
        let value: UInt64 = try integer()
        guard value < (1 << 40) else { throw FlowRLError.io("checkpoint: size \(value) is out of range") }
        return Int(value)
    }

    mutating func string() throws -> String {
        let length: UInt32 = try integer()
        let start = try take(Int(length))
        guard let value = String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<(start + Int(length))]), as: UTF8.self) else {
            throw FlowRLError.io("checkpoint: a name is not valid UTF-8")
        }
        return value
    }

    mutating func floats(_ count: Int) throws -> [Float] {
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: 4)
        guard !overflow else { throw FlowRLError.io("checkpoint is truncated") }
        let start = try take(byteCount)
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[start..<(start + byteCount)]))
            initialized = count
        }
    }
}
