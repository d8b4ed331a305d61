// The one place lstmtool calls the operating system (with CArena.swift's allocator): POSIX
// open/fstat/mmap/write/fsync/rename, the same on Linux (Glibc) and Apple platforms (Darwin).
#if canImport(Glibc)
import Glibc
/// write(2), named apart from the methods called `write` in this file.
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
import Darwin
/// write(2), named apart from the methods called `write` in this file.
private let systemWrite = Darwin.write
#else
#error("lstmtool's file layer needs POSIX (Glibc or Darwin)")
#endif
import LSTMCore

/// A read-only file mapped into memory. Pages are read only when touched, so reading the
/// header of a large model does not read its blobs.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let size: Int
    private let base: UnsafeMutableRawPointer?
    /// True when the bytes were copied in (`init(bytes:name:)`) rather than mapped.
    private let owned: Bool

    /// Bytes held in memory, read through the same interface (tests, fuzzing, pipes).
    public init(bytes: [UInt8], name: String) {
        path = name
        size = bytes.count
        owned = true
        guard !bytes.isEmpty else {
            base = nil
            return
        }
        let p = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 64)
        bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        base = p
    }

    public init(path: String) throws {
        self.path = path
        owned = false
        // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below anyway).
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw LSTMError(.io, "\(path): cannot open (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw LSTMError(.io, "\(path): cannot stat (\(String(cString: strerror(errno))))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw LSTMError(.io, "\(path): not a regular file") }
        size = Int(st.st_size)
        if size == 0 {
            base = nil
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else { throw LSTMError(.io, "\(path): cannot map (\(String(cString: strerror(errno))))") }
        base = p
    }

    deinit {
        guard let base else { return }
        if owned { base.deallocate() } else { munmap(base, size) }
    }

    /// Calls `body` with the bytes in `range`, which the caller has bounds-checked.
    public func withBytes<R>(_ range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        precondition(range.lowerBound >= 0 && range.upperBound <= size, "range outside the file")
        guard let base else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return try body(UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count))
    }

    public func bytes(_ range: Range<Int>) -> [UInt8] { withBytes(range) { Array($0) } }

    /// MADV_DONTNEED on the whole pages inside `range` of a mapped file: they leave memory and
    /// are read again from the file (clean, private, read-only pages: the bytes do not change).
    /// Nothing for bytes held in memory.
    public func releasePages(_ range: Range<Int>) {
        guard let base, !owned, range.count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (range.lowerBound + page - 1) / page * page, end = range.upperBound / page * page
        guard end > start else { return }
        _ = madvise(base + start, end - start, MADV_DONTNEED)
    }
}

/// Reads a whole file (for small inputs such as .npy, .json, .onnx).
public func readWholeFile(_ path: String, limit: Int = 1 << 34) throws -> [UInt8] {
    let f = try MappedFile(path: path)
    guard f.size <= limit else {
        throw LSTMError(.io, "\(path): the file is \(byteSizeText(f.size)), more than the \(byteSizeText(limit)) lstmtool reads for this kind of file (a fixed limit: no setting raises it; docs/CLI.md, Settings and limits)")
    }
    return f.bytes(0..<f.size)
}

/// Writes files so that a reader never sees a half-written one: the bytes go to a temporary
/// file in the same directory, which is flushed to disk and renamed over the target, and then
/// the directory itself is flushed. An interrupted write leaves the old file as it was.
public enum AtomicFile {
    public static func write(_ path: String, chunks: [[UInt8]]) throws {
        try write(path) { emit in for c in chunks { try emit(c) } }
    }

    /// `produce` receives a function that appends bytes to the file.
    public static func write(_ path: String, _ produce: ((([UInt8]) throws -> Void)) throws -> Void) throws {
        try writeBuffers(path) { emit in
            try withoutActuallyEscaping(emit) { emitBuffer in
                try produce { chunk in try chunk.withUnsafeBytes { try emitBuffer($0) } }
            }
        }
    }

    /// `produce` receives a function that appends the bytes of a buffer to the file (for
    /// bytes that are not in an array, such as a memory map's).
    public static func writeBuffers(_ path: String, _ produce: (((UnsafeRawBufferPointer) throws -> Void)) throws -> Void) throws {
        let tmpPath = try stage(path, produce)
        try commit([(tmpPath, path)])
    }

    /// Several files that belong together (`run`'s Y, HN, CN): every one is written and flushed
    /// to a temporary file first, and only when all of them are ready are they renamed into
    /// place, so that a failure to write any of them (a missing folder, a full disk) leaves
    /// every existing output as it was.
    public static func writeAll(_ files: [(path: String, chunks: [[UInt8]])]) throws {
        try writeAll(producing: files.map { f in
            (f.path, { emit in for c in f.chunks { try c.withUnsafeBytes { try emit($0) } } })
        })
    }

    /// Hands the bytes of one file to the function it is given, buffer by buffer.
    public typealias Producer = (_ emit: (UnsafeRawBufferPointer) throws -> Void) throws -> Void

    /// `writeAll` for files whose bytes are not in arrays (a tensor's memory behind a header).
    public static func writeAll(producing files: [(path: String, produce: Producer)]) throws {
        var staged: [(String, String)] = []
        do {
            for f in files {
                staged.append((try stage(f.path, f.produce), f.path))
            }
            for (_, path) in staged where isDirectory(path) {
                throw LSTMError(.io, "\(path): cannot write, it is a folder")
            }
        } catch {
            for (tmp, _) in staged { unlink(tmp) }
            throw error
        }
        try commit(staged)
    }

    /// Writes a flushed temporary file next to `path` and returns its name.
    private static func stage(_ path: String, _ produce: (((UnsafeRawBufferPointer) throws -> Void)) throws -> Void) throws -> String {
        let dir = directoryOf(path)
        let name = path.split(separator: "/").last.map(String.init) ?? path
        // The temporary file's name carries this process's id, so that a later write of the
        // same target can tell a file left by a killed writer from one being written now.
        removeStaleTemporaries(of: name, in: dir)
        var template = Array("\(dir)/\(temporaryPrefix(name))\(getpid())-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw LSTMError(.io, "\(path): cannot create a temporary file in \(dir) (\(String(cString: strerror(errno))))") }
        let tmpPath = String(cString: template.map { $0 })
        var staged = false
        defer {
            if !staged { unlink(tmpPath) }
        }
        defer { close(fd) }
        try produce { buf in
            var written = 0
            while written < buf.count {
                let n = systemWrite(fd, buf.baseAddress! + written, buf.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw LSTMError(.io, "\(path): write failed (\(String(cString: strerror(errno))))")
                }
                written += n
            }
        }
        // Keep the permissions an existing file had; new files get the usual 0644.
        var st = stat()
        let mode: mode_t = stat(path, &st) == 0 ? st.st_mode & 0o7777 : 0o644
        fchmod(fd, mode)
        guard fsync(fd) == 0 else { throw LSTMError(.io, "\(path): fsync failed (\(String(cString: strerror(errno))))") }
        staged = true
        return tmpPath
    }

    /// The name every temporary file of target `name` starts with: `.NAME.tmp-`, then the
    /// writing process's id, `-` and six random characters.
    static func temporaryPrefix(_ name: String) -> String { ".\(name).tmp-" }

    /// Removes the temporary files a killed writer of `name` left in `dir`: regular files of
    /// this user named `.NAME.tmp-PID-XXXXXX` whose process no longer exists. A live writer's
    /// file (its process exists, even if the id was reused) is never touched.
    static func removeStaleTemporaries(of name: String, in dir: String) {
        let prefix = temporaryPrefix(name)
        guard let d = opendir(dir) else { return }
        defer { closedir(d) }
        var stale: [String] = []
        while let entry = readdir(d) {
            let entryName = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            guard entryName.hasPrefix(prefix) else { continue }
            let rest = entryName.dropFirst(prefix.count)
            guard let dash = rest.firstIndex(of: "-"), rest[rest.index(after: dash)...].count == 6,
                  let pid = Int32(rest[..<dash]), pid > 0, pid != getpid() else { continue }
            guard kill(pid, 0) != 0 && errno == ESRCH else { continue }
            var st = stat()
            let full = "\(dir)/\(entryName)"
            guard lstat(full, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == getuid() else { continue }
            stale.append(full)
        }
        for f in stale { unlink(f) }
    }

    /// Renames staged temporary files into place, then flushes their folders.
    private static func commit(_ staged: [(tmp: String, path: String)]) throws {
        for (i, f) in staged.enumerated() {
            guard rename(f.tmp, f.path) == 0 else {
                let reason = String(cString: strerror(errno))
                for rest in staged[i...] { unlink(rest.tmp) }
                throw LSTMError(.io, "\(f.path): cannot rename the temporary file into place (\(reason))")
            }
        }
        for dir in Set(staged.map { directoryOf($0.path) }) {
            let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if dfd >= 0 {
                fsync(dfd)
                close(dfd)
            }
        }
    }

    public static func directoryOf(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let d = String(path[..<slash])
        return d.isEmpty ? "/" : d
    }
}

public func fileExists(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0
}

public func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}

/// A range of a mapped file, as a tensor's bytes: the file stays mapped while any tensor
/// refers to it, so a raw tensor is read from the page cache without a copy.
public struct MappedRange: ExternalBytes {
    public let file: MappedFile
    public let range: Range<Int>

    /// `range` must lie inside the file (the reader checked it against the blob table).
    public init(file: MappedFile, range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= file.size, "range outside the file")
        self.file = file
        self.range = range
    }

    public var count: Int { range.count }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try file.withBytes(range, body)
    }

    public func releaseResidentPages() { file.releasePages(range) }
}

/// A size for people: `16 GiB`, `1.5 MiB`, `300 bytes` (binary units, at most one decimal).
public func byteSizeText(_ n: Int) -> String {
    let units = ["KiB", "MiB", "GiB", "TiB"]
    guard n >= 1024 else { return "\(n) bytes" }
    var v = Double(n) / 1024, u = 0
    while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
    let tenths = Int((v * 10).rounded())
    let text = tenths % 10 == 0 ? String(tenths / 10) : "\(tenths / 10).\(tenths % 10)"
    return "\(text) \(units[u])"
}
