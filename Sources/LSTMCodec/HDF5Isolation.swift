// HDF5 in a child process. libhdf5 parses a file's structure itself, and fuzzing showed that
// crafted files can make it loop without end (H5Aread of a variable-length string whose
// global-heap reference is damaged) — on bytes lstmtool cannot reject before handing them to
// the library. So the command-line tool reads HDF5 in a worker process (itself, re-executed
// with a hidden argument) under memory and CPU limits and a wall-clock deadline; whatever
// happens to the worker becomes one `LSTMError` in the parent (docs/SECURITY.md, "HDF5").
#if canImport(Glibc)
import Glibc
private let sysClose = Glibc.close
private let sysRead = Glibc.read
private let sysWrite = Glibc.write
private let sysSend = Glibc.send
private let streamSocket = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
#elseif canImport(Darwin)
import Darwin
private let sysClose = Darwin.close
private let sysRead = Darwin.read
private let sysWrite = Darwin.write
private let sysSend = Darwin.send
private let streamSocket = SOCK_STREAM
#endif
import LSTMCore

#if os(Linux)
/// How HDF5 files are read: in this process (the library's default), or in a worker process.
public enum HDF5Isolation {
    /// The hidden first argument that makes the command-line tool run as an HDF5 worker.
    public static let workerArgument = "__hdf5-worker"

    /// The command that starts a worker (the executable, `workerArgument`), or nil to read HDF5
    /// in this process. Set once at start-up, before any file is read (the CLI sets it).
    nonisolated(unsafe) public static var workerCommand: [String]?

    /// Seconds of wall-clock time one HDF5 file may take in the worker (and, rounded up, as CPU
    /// time, the worker's RLIMIT_CPU). `LSTMTOOL_HDF5_TIMEOUT` sets it in the CLI.
    nonisolated(unsafe) public static var timeoutSeconds: Double = 120

    /// Keep a worker that finished a file cleanly for the next file (the fuzzer reads millions
    /// of files; the CLI reads one and leaves this off). A worker that failed is never reused.
    nonisolated(unsafe) public static var reuseWorkers = false

    /// The idle worker kept for reuse, if any.
    nonisolated(unsafe) static var idle: (pid: pid_t, channel: WorkerChannel, memory: Int)?
    static let idleLock = WorkerLock()

    /// Address space of the worker: this much plus eight times the file's size (the file is
    /// held by the worker, by libhdf5's in-memory driver and, dataset by dataset, in replies).
    /// `LSTMTOOL_HDF5_MEMORY_MIB` sets the fixed part in the CLI.
    nonisolated(unsafe) public static var baseMemoryBytes = 1 << 30

    /// The worker's main loop: reads the file image and requests on standard input, answers on
    /// standard output, and exits when the parent closes its end. Never returns.
    public static func runWorker(arguments: [String]) -> Never {
        // The limits come first, before a byte of the file is looked at.
        let memory = arguments.count > 0 ? Int(arguments[0]) ?? 0 : 0
        let seconds = arguments.count > 1 ? Int(arguments[1]) ?? 0 : 0
        var none = rlimit(rlim_cur: 0, rlim_max: 0)
        _ = setrlimit(Int32(RLIMIT_CORE.rawValue), &none)
        if seconds > 0 {
            var cpu = rlimit(rlim_cur: rlim_t(seconds), rlim_max: rlim_t(seconds + 5))
            _ = setrlimit(Int32(RLIMIT_CPU.rawValue), &cpu)
        }
        // AddressSanitizer reserves terabytes of address space for its shadow memory: under it
        // (the sanitizer test runs) the memory limit is left off; the time limits still hold.
        if memory > 0 && dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__asan_init") == nil {
            var mem = rlimit(rlim_cur: rlim_t(memory), rlim_max: rlim_t(memory))
            _ = setrlimit(Int32(RLIMIT_AS.rawValue), &mem)
        }
        let channel = WorkerChannel(fd: 0, outFD: 1)
        var file: HDF5LocalFile?
        while let request = channel.receive() {
            var r = WireReader(request)
            var reply = WireWriter()
            do {
                switch try r.u8() {
                case 0:
                    let name = try r.string()
                    let image = try r.bytes()
                    // A reused worker gets a fresh CPU allowance for each file.
                    if seconds > 0 {
                        var usage = rusage()
                        getrusage(RUSAGE_SELF.rawValue, &usage)
                        let used = Int(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
                        var cpu = rlimit(rlim_cur: rlim_t(used + seconds), rlim_max: rlim_t(used + seconds + 5))
                        _ = setrlimit(Int32(RLIMIT_CPU.rawValue), &cpu)
                    }
                    file = nil
                    file = try HDF5LocalFile(image: image, name: name)
                    reply.u8(0)
                case let op:
                    guard let f = file else { throw LSTMError(.io, "HDF5 worker: no file open") }
                    let path = try r.string()
                    reply.u8(0)
                    switch op {
                    case 1:
                        switch try f.kind(of: path) {
                        case nil: reply.u8(0)
                        case .group?: reply.u8(1)
                        case .dataset?: reply.u8(2)
                        case .other?: reply.u8(3)
                        }
                    case 2:
                        let names = try f.children(of: path)
                        reply.u64(UInt64(names.count))
                        for n in names { reply.string(n) }
                    case 3:
                        let attribute = try r.string()
                        if let values = try f.strings(attribute: attribute, of: path) {
                            reply.u8(1)
                            reply.u64(UInt64(values.count))
                            for v in values { reply.string(v) }
                        } else {
                            reply.u8(0)
                        }
                    case 4:
                        let limit = Int(try r.u64())
                        let d = try f.dataset(path, limit: limit)
                        reply.string(d.dtype.rawValue)
                        reply.u64(UInt64(d.shape.count))
                        for s in d.shape { reply.u64(UInt64(s)) }
                        reply.bytes(d.bytes)
                    default:
                        throw LSTMError(.io, "HDF5 worker: unknown request \(op)")
                    }
                }
            } catch {
                let e = error as? LSTMError ?? LSTMError(.io, "\(error)")
                reply = WireWriter()
                reply.u8(1)
                reply.string(e.kind.rawValue)
                reply.string(e.message)
                reply.string(e.path ?? "")
            }
            guard channel.send(reply.bytes) else { break }
        }
        exit(0)
    }
}

/// The parent's side of one worker: one file, requests answered in order.
final class HDF5WorkerClient: @unchecked Sendable {
    private let name: String
    private let pid: pid_t
    private let channel: WorkerChannel
    private let deadline: Double
    private let memory: Int
    /// Set once the worker failed: every later request reports the same failure.
    private var failure: LSTMError?
    /// The worker is used from one thread at a time (the importer's).
    private let lock = WorkerLock()

    init(command: [String], image: [UInt8], name: String) throws {
        self.name = name
        let seconds = Int(HDF5Isolation.timeoutSeconds.rounded(.up))
        let (extra, overflow) = image.count.multipliedReportingOverflow(by: 8)
        let needed = overflow ? Int.max / 2 : min(Int.max / 2, HDF5Isolation.baseMemoryBytes + extra)
        deadline = monotonicSeconds() + HDF5Isolation.timeoutSeconds
        var request = WireWriter()
        request.u8(0)
        request.string(name)
        request.bytes(image)
        if HDF5Isolation.reuseWorkers, let w = HDF5WorkerClient.takeIdle(memory: needed) {
            (pid, channel, memory) = w
            _ = try call(request.bytes)
            return
        }
        memory = needed
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, streamSocket, 0, &fds) == 0 else {
            throw LSTMError(.io, "cannot start the HDF5 reader process (socketpair: \(String(cString: strerror(errno))))", path: name)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        // The worker says nothing on stderr: its failure is reported here, in one line.
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = command + [String(memory), String(seconds)]
        var env = ["SWIFT_BACKTRACE=enable=no"]
        var e = environ
        while let p = e.pointee {
            let s = String(cString: p)
            if !s.hasPrefix("SWIFT_BACKTRACE=") { env.append(s) }
            e += 1
        }
        var child: pid_t = 0
        let status = withCStrings(argv) { cargv in
            withCStrings(env) { cenv in posix_spawn(&child, argv[0], &actions, nil, cargv, cenv) }
        }
        close(fds[1])
        guard status == 0 else {
            close(fds[0])
            throw LSTMError(.io, "cannot start the HDF5 reader process \(argv[0]) (\(String(cString: strerror(status))))", path: name)
        }
        pid = child
        channel = WorkerChannel(fd: fds[0], outFD: fds[0])
        _ = try call(request.bytes)
    }

    /// The idle worker, when there is one whose memory limit fits.
    private static func takeIdle(memory: Int) -> (pid_t, WorkerChannel, Int)? {
        HDF5Isolation.idleLock.lock()
        defer { HDF5Isolation.idleLock.unlock() }
        guard let w = HDF5Isolation.idle, w.memory >= memory else { return nil }
        HDF5Isolation.idle = nil
        return (w.pid, w.channel, w.memory)
    }

    deinit {
        if HDF5Isolation.reuseWorkers && failure == nil {
            HDF5Isolation.idleLock.lock()
            let previous = HDF5Isolation.idle
            HDF5Isolation.idle = (pid, channel, memory)
            HDF5Isolation.idleLock.unlock()
            if let previous { HDF5WorkerClient.end(previous.pid, previous.channel) }
            return
        }
        HDF5WorkerClient.end(pid, channel)
    }

    private static func end(_ pid: pid_t, _ channel: WorkerChannel) {
        channel.close()
        // Closing the socket ends the worker's loop; a worker that does not end is killed.
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == 0 {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
        }
    }

    /// Sends one request and returns the reply's payload (after its status byte), or throws
    /// the worker's error, or the worker's failure.
    private func call(_ request: [UInt8]) throws -> WireReader {
        lock.lock()
        defer { lock.unlock() }
        if let failure { throw failure }
        if channel.send(request), let reply = channel.receive(until: deadline) {
            var r = WireReader(reply)
            if try r.u8() == 0 { return r }
            let kind = LSTMError.Kind(rawValue: try r.string()) ?? .io
            let message = try r.string(), path = try r.string()
            throw LSTMError(kind, message, path: path.isEmpty ? nil : path)
        }
        let timedOut = monotonicSeconds() >= deadline
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let sig = status & 0x7f
        let what: String
        if timedOut {
            what = "it did not finish within \(secondsText(HDF5Isolation.timeoutSeconds)) s"
        } else if sig == SIGXCPU {
            what = "it used more than \(secondsText(HDF5Isolation.timeoutSeconds)) s of CPU time"
        } else if sig != 0 {
            what = "it crashed (signal \(sig)) or ran out of its \(memory >> 20) MiB memory limit"
        } else {
            what = "it stopped (exit status \((status >> 8) & 0xff))"
        }
        let e = LSTMError(.malformedHeader, "libhdf5 could not read this file: \(what); the file is damaged or hostile (HDF5 is read in a separate process with limits, docs/SECURITY.md)", path: name)
        failure = e
        throw e
    }

    func kind(of path: String) throws -> HDF5ObjectKind? {
        var w = WireWriter()
        w.u8(1)
        w.string(path)
        var r = try call(w.bytes)
        switch try r.u8() {
        case 1: return .group
        case 2: return .dataset
        case 3: return .other
        default: return nil
        }
    }

    func children(of path: String) throws -> [String] {
        var w = WireWriter()
        w.u8(2)
        w.string(path)
        var r = try call(w.bytes)
        let n = try r.count(limit: HDF5File.maxChildren)
        return try (0..<n).map { _ in try r.string() }
    }

    func strings(attribute: String, of path: String) throws -> [String]? {
        var w = WireWriter()
        w.u8(3)
        w.string(path)
        w.string(attribute)
        var r = try call(w.bytes)
        guard try r.u8() == 1 else { return nil }
        let n = try r.count(limit: HDF5File.maxAttributeBytes)
        return try (0..<n).map { _ in try r.string() }
    }

    func dataset(_ path: String, limit: Int) throws -> HDF5Dataset {
        var w = WireWriter()
        w.u8(4)
        w.string(path)
        w.u64(UInt64(max(0, limit)))
        var r = try call(w.bytes)
        guard let dtype = DType(rawValue: try r.string()) else { throw LSTMError(.io, "HDF5 worker: bad reply", path: name) }
        let rank = try r.count(limit: 32)
        let shape = try (0..<rank).map { _ in try r.count(limit: Int(Int32.max)) }
        return HDF5Dataset(dtype: dtype, shape: shape, bytes: try r.bytes())
    }
}

private func secondsText(_ s: Double) -> String { s == s.rounded() ? String(Int(s)) : String(s) }

final class WorkerLock: @unchecked Sendable {
    private var m = pthread_mutex_t()
    init() { pthread_mutex_init(&m, nil) }
    deinit { pthread_mutex_destroy(&m) }
    func lock() { pthread_mutex_lock(&m) }
    func unlock() { pthread_mutex_unlock(&m) }
}

private func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

private func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
    let ptrs = strings.map { strdup($0) } + [nil]
    defer { for p in ptrs { free(p) } }
    return body(ptrs)
}

/// Length-prefixed messages (u64 little-endian length, then the bytes) over a socket.
final class WorkerChannel: @unchecked Sendable {
    private var inFD: Int32
    private let outFD: Int32
    /// The largest message either side accepts: the file image or one dataset.
    static let maxMessage = 1 << 36

    init(fd: Int32, outFD: Int32) {
        inFD = fd
        self.outFD = outFD
    }

    func close() {
        if inFD >= 0 { _ = sysClose(inFD) }
        inFD = -1
    }

    func send(_ payload: [UInt8]) -> Bool {
        var frame = [UInt8](repeating: 0, count: 8)
        for k in 0..<8 { frame[k] = UInt8(truncatingIfNeeded: UInt64(payload.count) >> (8 * UInt64(k))) }
        return writeAll(frame) && writeAll(payload)
    }

    private func writeAll(_ bytes: [UInt8]) -> Bool {
        var done = 0
        return bytes.withUnsafeBytes { buf in
            while done < buf.count {
                // MSG_NOSIGNAL: a worker that died must not take the parent down with SIGPIPE.
                let n = outFD == inFD
                    ? sysSend(outFD, buf.baseAddress! + done, buf.count - done, Int32(MSG_NOSIGNAL))
                    : sysWrite(outFD, buf.baseAddress! + done, buf.count - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                done += n
            }
            return true
        }
    }

    /// The next message, or nil at end of input, on an error, or when `deadline` (monotonic
    /// seconds) passes first.
    func receive(until deadline: Double? = nil) -> [UInt8]? {
        guard let head = readExactly(8, deadline) else { return nil }
        var n = 0
        for k in 0..<8 { n |= Int(head[k]) << (8 * k) }
        guard n >= 0, n <= WorkerChannel.maxMessage else { return nil }
        return readExactly(n, deadline)
    }

    private func readExactly(_ n: Int, _ deadline: Double?) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: n)
        var done = 0
        while done < n {
            if let deadline {
                let left = deadline - monotonicSeconds()
                if left <= 0 { return nil }
                var p = pollfd(fd: inFD, events: Int16(POLLIN), revents: 0)
                let r = poll(&p, 1, Int32(min(left * 1000 + 1, 60_000)))
                if r < 0 && errno == EINTR { continue }
                if r <= 0 { continue }
            }
            let got = out.withUnsafeMutableBytes { sysRead(inFD, $0.baseAddress! + done, n - done) }
            if got < 0 && errno == EINTR { continue }
            if got <= 0 { return nil }
            done += got
        }
        return out
    }
}

/// Builds a request or a reply.
struct WireWriter {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u64(_ v: UInt64) { for k in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(k)))) } }
    mutating func bytes(_ b: [UInt8]) {
        u64(UInt64(b.count))
        bytes += b
    }
    mutating func string(_ s: String) { bytes(Array(s.utf8)) }
}

/// Reads a request or a reply; every count is checked against what is left.
struct WireReader {
    private let data: [UInt8]
    private var at = 0
    init(_ data: [UInt8]) { self.data = data }

    private func bad() -> LSTMError { LSTMError(.io, "HDF5 worker: malformed message") }

    mutating func u8() throws -> UInt8 {
        guard at < data.count else { throw bad() }
        at += 1
        return data[at - 1]
    }

    mutating func u64() throws -> UInt64 {
        guard data.count - at >= 8 else { throw bad() }
        var v: UInt64 = 0
        for k in 0..<8 { v |= UInt64(data[at + k]) << (8 * UInt64(k)) }
        at += 8
        return v
    }

    mutating func count(limit: Int) throws -> Int {
        let v = try u64()
        guard v <= UInt64(limit) else { throw bad() }
        return Int(v)
    }

    mutating func bytes() throws -> [UInt8] {
        let n = try count(limit: data.count - at)
        at += n
        return Array(data[(at - n)..<at])
    }

    mutating func string() throws -> String { String(decoding: try bytes(), as: UTF8.self) }
}

#else
/// How HDF5 files are read. Worker processes are implemented for Linux; elsewhere HDF5 is
/// always read in this process and these settings have no effect.
public enum HDF5Isolation {
    public static let workerArgument = "__hdf5-worker"
    nonisolated(unsafe) public static var workerCommand: [String]?
    nonisolated(unsafe) public static var timeoutSeconds: Double = 120
    nonisolated(unsafe) public static var reuseWorkers = false
    nonisolated(unsafe) public static var baseMemoryBytes = 1 << 30
    public static func runWorker(arguments: [String]) -> Never { exit(64) }
}
#endif
