/// Replaces a checkpoint file atomically and without surprises:
///
/// - only a regular file (or a new one) is replaced: a directory, device, FIFO or socket at the
///   path is refused with `FlowRLError.io`;
/// - a symbolic link is followed (up to 40 links): its final target is replaced and the link stays;
/// - the bytes go to a temporary file beside the target, are flushed to disk, and the temporary
///   is renamed over the target (then the directory is flushed), so an interrupted write leaves
///   the old file intact;
/// - an existing file keeps its permission bits; a new one gets `0o666` less the umask;
/// - temporaries are named `.<name>.flowrl-tmp-<pid>-<8 hex digits>`; ones whose writing process
///   no longer exists (killed during a save) are removed by the next write to the same target, as
///   are those of the older pattern `<name>.tmp-<pid>-<number>`. Nothing else is touched.
enum CheckpointFile {
    static let temporaryMarker = ".flowrl-tmp-"

    static func write(_ bytes: [UInt8], to path: String) throws {
        func failure(_ reason: String) -> FlowRLError { .io("cannot write '\(path)': \(reason)") }
        let (target, existing) = try resolve(path, failure)
        let (directory, name) = split(target)
        removeStaleTemporaries(in: directory, of: name)
        let (descriptor, temporary) = try createTemporary(in: directory, of: name, failure)
        var error: String?
        if let existing, fchmod(descriptor, existing.st_mode & 0o7777) != 0 { error = lastError() }
        if error == nil { error = writeAll(bytes, to: descriptor) }
        if error == nil && fsync(descriptor) != 0 { error = lastError() }
        if close(descriptor) != 0 && error == nil { error = lastError() }
        if error == nil && rename(temporary, target) != 0 { error = lastError() }
        if let error {
            unlink(temporary)
            throw failure(error)
        }
        syncDirectory(directory)
    }

    /// The file to replace (`path`, or the final target of the links at `path`) and its status if
    /// it exists.
    static func resolve(_ path: String, _ failure: (String) -> FlowRLError) throws -> (String, stat?) {
        var current = path
        for _ in 0..<40 {
            var status = stat()
            guard lstat(current, &status) == 0 else {
                if errno == ENOENT { return (current, nil) }  // a new file (or a dangling link's target)
                throw failure(lastError())
            }
            switch status.st_mode & S_IFMT {
            case S_IFREG:
                return (current, status)
            case S_IFLNK:
                current = try linkTarget(current, failure)
            case S_IFDIR:
                throw failure("it is a directory")
            case S_IFCHR:
                throw failure("it is a character device, not a regular file")
            case S_IFBLK:
                throw failure("it is a block device, not a regular file")
            case S_IFIFO:
                throw failure("it is a FIFO, not a regular file")
            case S_IFSOCK:
                throw failure("it is a socket, not a regular file")
            default:
                throw failure("it is not a regular file")
            }
        }
        throw failure("too many levels of symbolic links")
    }

    /// Where the link at `path` points, relative to the link's directory.
    static func linkTarget(_ path: String, _ failure: (String) -> FlowRLError) throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count >= 0 else { throw failure(lastError()) }
        let link = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if link.hasPrefix("/") { return link }
        let (directory, _) = split(path)
        return directory + "/" + link
    }

    /// The directory ("." for a bare name) and the last component of `path`.
    static func split(_ path: String) -> (String, String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }

    static func createTemporary(in directory: String, of name: String,
                                _ failure: (String) -> FlowRLError) throws -> (Int32, String) {
        while true {
            let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
            let temporary = "\(directory)/.\(name)\(temporaryMarker)\(getpid())-"
                + String(repeating: "0", count: 8 - suffix.count) + suffix
            let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            if descriptor >= 0 { return (descriptor, temporary) }
            if errno != EEXIST { throw failure(lastError()) }
        }
    }

    static func writeAll(_ bytes: [UInt8], to descriptor: Int32) -> String? {
        bytes.withUnsafeBytes { buffer in
            var written = 0
            while written < buffer.count {
                let result = Glibc.write(descriptor, buffer.baseAddress! + written, buffer.count - written)
                if result < 0 {
                    if errno == EINTR { continue }
                    return lastError()
                }
                written += result
            }
            return nil
        }
    }

    /// Removes the temporaries of `name` in `directory` left by processes that no longer exist.
    static func removeStaleTemporaries(in directory: String, of name: String) {
        guard let stream = opendir(directory) else { return }
        defer { closedir(stream) }
        let current = "." + name + temporaryMarker  // .<name>.flowrl-tmp-<pid>-<8 hex digits>
        let legacy = name + ".tmp-"                  // <name>.tmp-<pid>-<decimal number>
        while let entry = readdir(stream) {
            let entryName = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            let pid: Int32?
            if entryName.hasPrefix(current) {
                pid = writer(of: entryName.dropFirst(current.count), hexadecimalLength: 8)
            } else if entryName.hasPrefix(legacy) {
                pid = writer(of: entryName.dropFirst(legacy.count), hexadecimalLength: nil)
            } else {
                continue
            }
            guard let pid, kill(pid, 0) != 0 && errno == ESRCH else { continue }
            unlink(directory + "/" + entryName)
        }
    }

    /// The process id in `<pid>-<suffix>`, where the suffix is `hexadecimalLength` lower-case hex
    /// digits (or, for nil, decimal digits); nil if the text does not have this form.
    static func writer(of text: Substring, hexadecimalLength: Int?) -> Int32? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let pid = Int32(parts[0]), pid > 0, parts[0].allSatisfy({ $0.isASCII && $0.isNumber }) else {
            return nil
        }
        let suffix = parts[1]
        if let length = hexadecimalLength {
            guard suffix.count == length, suffix.allSatisfy({ "0123456789abcdef".contains($0) }) else { return nil }
        } else {
            guard !suffix.isEmpty, suffix.count <= 10, suffix.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        }
        return pid
    }

    /// Flushes the directory entry of the rename (best effort: not every file system allows it).
    static func syncDirectory(_ directory: String) {
        let descriptor = open(directory, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        close(descriptor)
    }

    static func lastError() -> String { String(cString: strerror(errno)) }
}
