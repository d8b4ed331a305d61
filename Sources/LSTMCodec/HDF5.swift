import CHDF5
import Foundation
import LSTMCore

/// HDF5 files through the HDF5 C library (what Keras writes: `.h5`, and `model.weights.h5`
/// inside a `.keras` zip). The only place lstmtool calls libhdf5.
///
/// Files are opened from bytes in memory (the core driver with a file image), never from a
/// path, so a `.keras` member needs no temporary file, and written into memory the same way.
/// Every identifier is closed by its owner; every negative return becomes an `LSTMError`.
/// libhdf5's own error printing is switched off; all calls are serialised (Debian's build is
/// not thread-safe).
private let hdf5Lock = NSLock()

/// Runs `body` holding the library lock, with HDF5's automatic error printing off.
private func withHDF5<R>(_ body: () throws -> R) rethrows -> R {
    hdf5Lock.lock()
    defer { hdf5Lock.unlock() }
    _ = H5Eset_auto2(lstm_h5e_default(), nil, nil)
    return try body()
}

/// Names made unique per process: HDF5 keeps open in-memory files by name.
private nonisolated(unsafe) var imageCounter = 0

/// A dataset's values: little-endian element bytes of a float type.
public struct HDF5Dataset: Sendable {
    public var dtype: DType
    public var shape: [Int]
    public var bytes: [UInt8]
}

/// What an HDF5 path names.
public enum HDF5ObjectKind: Sendable {
    case group, dataset, other
}

/// An HDF5 file opened read-only from its bytes: in this process, or — when
/// `HDF5Isolation.workerCommand` is set, as the command-line tool does — in a child process
/// with memory and time limits, so that libhdf5 crashing, hanging or allocating without bound
/// on a hostile file ends in a one-line error (docs/SECURITY.md, "HDF5").
public final class HDF5File: @unchecked Sendable {
    /// The file's name, for messages.
    public let name: String
    private enum Backend {
        case local(HDF5LocalFile)
        #if os(Linux)
        case remote(HDF5WorkerClient)
        #endif
    }
    private let backend: Backend
    /// The most links a group may list, and the largest attribute read.
    public static let maxChildren = 100_000
    public static let maxAttributeBytes = 1 << 26

    /// True when `head` starts with the HDF5 signature.
    public static func looksLikeHDF5(_ head: [UInt8]) -> Bool {
        head.count >= 8 && head[0..<8].elementsEqual([0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A])
    }

    /// Opens the HDF5 file whose bytes are `image`.
    public init(image: [UInt8], name: String) throws {
        self.name = name
        guard HDF5File.looksLikeHDF5(image) else {
            throw LSTMError(.badMagic, "not an HDF5 file (no HDF5 signature)", path: name)
        }
        #if os(Linux)
        if let command = HDF5Isolation.workerCommand {
            backend = .remote(try HDF5WorkerClient(command: command, image: image, name: name))
            return
        }
        #endif
        backend = .local(try HDF5LocalFile(image: image, name: name))
    }

    /// The kind of object at `path` (`/a/b` or `a/b`, relative to the root), nil when no link
    /// leads there.
    public func kind(of path: String) throws -> HDF5ObjectKind? {
        switch backend {
        case .local(let f): return try f.kind(of: path)
        #if os(Linux)
        case .remote(let r): return try r.kind(of: path)
        #endif
        }
    }

    /// The names of the links in the group at `path`, in name order.
    public func children(of path: String) throws -> [String] {
        switch backend {
        case .local(let f): return try f.children(of: path)
        #if os(Linux)
        case .remote(let r): return try r.children(of: path)
        #endif
        }
    }

    /// The strings an attribute holds; nil when the object has no such attribute.
    public func strings(attribute: String, of path: String) throws -> [String]? {
        switch backend {
        case .local(let f): return try f.strings(attribute: attribute, of: path)
        #if os(Linux)
        case .remote(let r): return try r.strings(attribute: attribute, of: path)
        #endif
        }
    }

    /// The floating-point dataset at `path` as little-endian bytes; refuses more than `limit` bytes.
    public func dataset(_ path: String, limit: Int) throws -> HDF5Dataset {
        switch backend {
        case .local(let f): return try f.dataset(path, limit: limit)
        #if os(Linux)
        case .remote(let r): return try r.dataset(path, limit: limit)
        #endif
        }
    }
}

/// An HDF5 file opened in this process through libhdf5 (what the worker process uses).
final class HDF5LocalFile: @unchecked Sendable {
    /// The file's name, for messages.
    let name: String
    private let file: hid_t

    /// Opens the HDF5 file whose bytes are `image` (copied by the library).
    init(image: [UInt8], name: String) throws {
        self.name = name
        guard HDF5File.looksLikeHDF5(image) else {
            throw LSTMError(.badMagic, "not an HDF5 file (no HDF5 signature)", path: name)
        }
        file = try withHDF5 {
            let fapl = H5Pcreate(lstm_h5p_file_access())
            guard fapl >= 0 else { throw LSTMError(.io, "HDF5: cannot create a file access property list", path: name) }
            defer { H5Pclose(fapl) }
            guard H5Pset_fapl_core(fapl, 1 << 16, false) >= 0 else { throw LSTMError(.io, "HDF5: cannot select the in-memory driver", path: name) }
            let ok = image.withUnsafeBytes { H5Pset_file_image(fapl, UnsafeMutableRawPointer(mutating: $0.baseAddress), $0.count) }
            guard ok >= 0 else { throw LSTMError(.io, "HDF5: cannot hand the file image to the library", path: name) }
            imageCounter += 1
            let id = H5Fopen("lstmtool-image-\(getpid())-\(imageCounter)", lstm_h5f_acc_rdonly(), fapl)
            guard id >= 0 else {
                throw LSTMError(.malformedHeader, "HDF5 cannot open the file: it is damaged or truncated", path: name)
            }
            return id
        }
    }

    deinit {
        withHDF5 { _ = H5Fclose(file) }
    }

    private func fail(_ message: String, _ kind: LSTMError.Kind = .malformedHeader) -> LSTMError {
        LSTMError(kind, message, path: name)
    }

    /// The kind of object at `path` (`/a/b` or `a/b`, relative to the root), nil when no link
    /// leads there. Each component is checked in turn, so a missing group is "absent", while
    /// a damaged one is an error.
    func kind(of path: String) throws -> HDF5ObjectKind? {
        try withHDF5 { try kindLocked(path) }
    }

    private func kindLocked(_ path: String) throws -> HDF5ObjectKind? {
        let parts = path.split(separator: "/").map(String.init)
        guard !parts.isEmpty else { return .group }
        var prefix = ""
        for p in parts {
            guard !p.isEmpty, p != "." else { return nil }
            prefix += "/" + p
            let e = H5Lexists(file, prefix, lstm_h5p_default())
            if e < 0 { throw fail("HDF5 cannot read the link \(prefix): the file is damaged or truncated") }
            if e == 0 { return nil }
        }
        let obj = H5Oopen(file, "/" + parts.joined(separator: "/"), lstm_h5p_default())
        guard obj >= 0 else { throw fail("HDF5 cannot open the object \(path): the file is damaged or truncated") }
        defer { H5Oclose(obj) }
        switch H5Iget_type(obj) {
        case H5I_GROUP: return .group
        case H5I_DATASET: return .dataset
        default: return .other
        }
    }

    /// The names of the links in the group at `path`, in name order.
    func children(of path: String) throws -> [String] {
        try withHDF5 {
            let g = H5Gopen2(file, path.isEmpty ? "/" : path, lstm_h5p_default())
            guard g >= 0 else { throw fail("HDF5 cannot open the group \(path)") }
            defer { H5Gclose(g) }
            var info = H5G_info_t()
            guard H5Gget_info(g, &info) >= 0 else { throw fail("HDF5 cannot read the group \(path)") }
            guard info.nlinks <= UInt64(HDF5File.maxChildren) else { throw fail("group \(path) has \(info.nlinks) links, more than the \(HDF5File.maxChildren) allowed") }
            var out: [String] = []
            for i in 0..<info.nlinks {
                let n = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, lstm_h5p_default())
                guard n >= 0, n < 1 << 16 else { throw fail("HDF5 cannot read link \(i) of the group \(path)") }
                var buf = [CChar](repeating: 0, count: Int(n) + 1)
                guard H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buf, buf.count, lstm_h5p_default()) >= 0 else {
                    throw fail("HDF5 cannot read link \(i) of the group \(path)")
                }
                out.append(String(decoding: buf.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
            return out
        }
    }

    /// The strings an attribute holds (one for a scalar, one per element for a 1-D array),
    /// fixed-length or variable-length; nil when the object has no such attribute.
    func strings(attribute: String, of path: String) throws -> [String]? {
        try withHDF5 {
            let obj = H5Oopen(file, path.isEmpty ? "/" : path, lstm_h5p_default())
            guard obj >= 0 else { throw fail("HDF5 cannot open the object \(path)") }
            defer { H5Oclose(obj) }
            let exists = H5Aexists(obj, attribute)
            guard exists >= 0 else { throw fail("HDF5 cannot read the attributes of \(path)") }
            if exists == 0 { return nil }
            let attr = H5Aopen(obj, attribute, lstm_h5p_default())
            guard attr >= 0 else { throw fail("HDF5 cannot open the attribute \(attribute) of \(path)") }
            defer { H5Aclose(attr) }
            let type = H5Aget_type(attr)
            guard type >= 0 else { throw fail("HDF5 cannot read the type of the attribute \(attribute) of \(path)") }
            defer { H5Tclose(type) }
            let space = H5Aget_space(attr)
            guard space >= 0 else { throw fail("HDF5 cannot read the shape of the attribute \(attribute) of \(path)") }
            defer { H5Sclose(space) }
            let rank = H5Sget_simple_extent_ndims(space)
            let count = H5Sget_simple_extent_npoints(space)
            guard rank >= 0, rank <= 1, count >= 0, count <= Int64(HDF5File.maxChildren) else {
                throw fail("attribute \(attribute) of \(path) is not a string or a list of strings")
            }
            let n = Int(count)
            // An empty list (h5py writes `[]` as an empty float64 array) has no strings.
            if n == 0 { return [] }
            guard H5Tget_class(type) == H5T_STRING else { throw fail("attribute \(attribute) of \(path) is not a string") }
            let isVariable = H5Tis_variable_str(type)
            guard isVariable >= 0 else { throw fail("HDF5 cannot read the type of the attribute \(attribute) of \(path)") }
            if isVariable > 0 {
                let mem = H5Tcopy(lstm_h5t_c_s1())
                guard mem >= 0 else { throw fail("HDF5: cannot make a string type", .io) }
                defer { H5Tclose(mem) }
                H5Tset_size(mem, lstm_h5t_variable())
                H5Tset_cset(mem, H5Tget_cset(type))
                var ptrs = [UnsafeMutablePointer<CChar>?](repeating: nil, count: n)
                let r = ptrs.withUnsafeMutableBytes { H5Aread(attr, mem, $0.baseAddress) }
                defer { for p in ptrs where p != nil { H5free_memory(p) } }
                guard r >= 0 else { throw fail("HDF5 cannot read the attribute \(attribute) of \(path)") }
                var total = 0
                return try ptrs.map { p in
                    guard let p else { return "" }
                    let len = strnlen(p, HDF5File.maxAttributeBytes)
                    total += len
                    guard total < HDF5File.maxAttributeBytes else { throw fail("attribute \(attribute) of \(path) is larger than \(HDF5File.maxAttributeBytes) bytes") }
                    return String(decoding: UnsafeRawBufferPointer(start: p, count: len), as: UTF8.self)
                }
            }
            let size = H5Tget_size(type)
            guard size > 0, n == 0 || size <= HDF5File.maxAttributeBytes / n else {
                throw fail("attribute \(attribute) of \(path) is larger than \(HDF5File.maxAttributeBytes) bytes")
            }
            var buf = [UInt8](repeating: 0, count: max(1, n * size))
            let r = buf.withUnsafeMutableBytes { H5Aread(attr, type, $0.baseAddress) }
            guard r >= 0 else { throw fail("HDF5 cannot read the attribute \(attribute) of \(path)") }
            return (0..<n).map { k in
                let s = buf[(k * size)..<((k + 1) * size)]
                let end = s.firstIndex(of: 0) ?? s.endIndex
                return String(decoding: s[s.startIndex..<end], as: UTF8.self)
            }
        }
    }

    /// The floating-point dataset at `path` (float16, float32 or float64, either byte order),
    /// as little-endian bytes; refuses more than `limit` bytes.
    func dataset(_ path: String, limit: Int) throws -> HDF5Dataset {
        try withHDF5 {
            let d = H5Dopen2(file, path, lstm_h5p_default())
            guard d >= 0 else { throw fail("HDF5 cannot open the dataset \(path)") }
            defer { H5Dclose(d) }
            let type = H5Dget_type(d)
            guard type >= 0 else { throw fail("HDF5 cannot read the type of the dataset \(path)") }
            defer { H5Tclose(type) }
            guard H5Tget_class(type) == H5T_FLOAT else { throw fail("dataset \(path) does not hold floating-point numbers", .invalidInput) }
            let size = H5Tget_size(type)
            let dtype: DType
            var mem: hid_t
            var closeMem = false
            switch size {
            case 4: dtype = .float32; mem = lstm_h5t_ieee_f32le()
            case 8: dtype = .float64; mem = lstm_h5t_ieee_f64le()
            case 2:
                // IEEE half: sign at 15, exponent 10..14 (bias 15), mantissa 0..9. Read as
                // little-endian by copying the file type and setting its order.
                var spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0
                guard H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) >= 0,
                      spos == 15, epos == 10, esize == 5, mpos == 0, msize == 10, H5Tget_ebias(type) == 15 else {
                    throw fail("dataset \(path) holds 16-bit floats that are not IEEE half precision", .unsupported)
                }
                dtype = .float16
                mem = H5Tcopy(type)
                guard mem >= 0, H5Tset_order(mem, H5T_ORDER_LE) >= 0 else { throw fail("HDF5: cannot make a half type", .io) }
                closeMem = true
            default:
                throw fail("dataset \(path) holds \(size)-byte floats; float16, float32 and float64 are supported", .unsupported)
            }
            defer { if closeMem { H5Tclose(mem) } }
            let space = H5Dget_space(d)
            guard space >= 0 else { throw fail("HDF5 cannot read the shape of the dataset \(path)") }
            defer { H5Sclose(space) }
            guard H5Sget_simple_extent_type(space) != H5S_NULL else { throw fail("dataset \(path) is empty (null dataspace)", .shape) }
            let rank = H5Sget_simple_extent_ndims(space)
            guard rank >= 0, rank <= 32 else { throw fail("HDF5 cannot read the shape of the dataset \(path)") }
            var dims = [hsize_t](repeating: 0, count: Int(rank))
            guard H5Sget_simple_extent_dims(space, &dims, nil) == rank else { throw fail("HDF5 cannot read the shape of the dataset \(path)") }
            guard dims.allSatisfy({ $0 < UInt64(Int32.max) }) else { throw fail("dataset \(path) has a dimension too large", .shape) }
            let shape = dims.map { Int($0) }
            let count = try checkedProduct(shape + [dtype.size], what: "dataset \(path)")
            guard count <= limit else { throw fail("dataset \(path) has \(count) bytes, more than the \(limit) allowed", .invalidInput) }
            var bytes = [UInt8](repeating: 0, count: count)
            let r = bytes.withUnsafeMutableBytes { H5Dread(d, mem, lstm_h5s_all(), lstm_h5s_all(), lstm_h5p_default(), $0.baseAddress) }
            guard r >= 0 else { throw fail("HDF5 cannot read the dataset \(path): the file is damaged or truncated") }
            return HDF5Dataset(dtype: dtype, shape: shape, bytes: bytes)
        }
    }
}

/// Builds an HDF5 file in memory (the core driver without a backing file) and hands out its
/// bytes: groups, float datasets and string attributes, the way h5py writes them.
public final class HDF5Builder: @unchecked Sendable {
    private var file: hid_t
    private var closed = false

    public init() throws {
        file = try withHDF5 {
            let fapl = H5Pcreate(lstm_h5p_file_access())
            guard fapl >= 0 else { throw LSTMError(.io, "HDF5: cannot create a file access property list") }
            defer { H5Pclose(fapl) }
            guard H5Pset_fapl_core(fapl, 1 << 16, false) >= 0 else { throw LSTMError(.io, "HDF5: cannot select the in-memory driver") }
            imageCounter += 1
            let id = H5Fcreate("lstmtool-new-\(getpid())-\(imageCounter)", lstm_h5f_acc_trunc(), lstm_h5p_default(), fapl)
            guard id >= 0 else { throw LSTMError(.io, "HDF5: cannot create an in-memory file") }
            return id
        }
    }

    deinit {
        if !closed { withHDF5 { _ = H5Fclose(file) } }
    }

    private func fail(_ s: String) -> LSTMError { LSTMError(.io, "HDF5: \(s)") }

    /// Creates the group at `path` and any missing parents.
    public func createGroup(_ path: String) throws {
        try withHDF5 {
            var prefix = ""
            for p in path.split(separator: "/") {
                prefix += "/" + p
                let e = H5Lexists(file, prefix, lstm_h5p_default())
                guard e >= 0 else { throw fail("cannot look up \(prefix)") }
                if e > 0 { continue }
                // No modification times in the file: the same model gives the same bytes.
                let gcpl = H5Pcreate(lstm_h5p_group_create())
                defer { H5Pclose(gcpl) }
                _ = H5Pset_obj_track_times(gcpl, false)
                let g = H5Gcreate2(file, prefix, lstm_h5p_default(), gcpl, lstm_h5p_default())
                guard g >= 0 else { throw fail("cannot create the group \(prefix)") }
                H5Gclose(g)
            }
        }
    }

    /// Writes a float32 or float64 dataset (little-endian `bytes`) at `path`, whose parent group exists.
    public func writeDataset(_ path: String, dtype: DType, shape: [Int], bytes: [UInt8]) throws {
        let type: hid_t
        switch dtype {
        case .float32: type = withHDF5 { lstm_h5t_ieee_f32le() }
        case .float64: type = withHDF5 { lstm_h5t_ieee_f64le() }
        default: throw LSTMError(.unsupported, "HDF5 datasets are written as float32 or float64, not \(dtype.rawValue)")
        }
        guard try checkedProduct(shape + [dtype.size], what: path) == bytes.count else {
            throw LSTMError(.sizeMismatch, "dataset \(path): \(bytes.count) bytes for shape \(shape)")
        }
        try withHDF5 {
            let dims = shape.map { hsize_t($0) }
            let space = shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), dims, nil)
            guard space >= 0 else { throw fail("cannot create a dataspace of shape \(shape)") }
            defer { H5Sclose(space) }
            let dcpl = H5Pcreate(lstm_h5p_dataset_create())
            defer { H5Pclose(dcpl) }
            _ = H5Pset_obj_track_times(dcpl, false)  // reproducible bytes (SOURCE_DATE_EPOCH, docs/CLI.md)
            let d = H5Dcreate2(file, path, type, space, lstm_h5p_default(), dcpl, lstm_h5p_default())
            guard d >= 0 else { throw fail("cannot create the dataset \(path)") }
            defer { H5Dclose(d) }
            let r = bytes.withUnsafeBytes { H5Dwrite(d, type, lstm_h5s_all(), lstm_h5s_all(), lstm_h5p_default(), $0.baseAddress) }
            guard r >= 0 else { throw fail("cannot write the dataset \(path)") }
        }
    }

    /// Sets a scalar variable-length UTF-8 string attribute (what h5py writes for a `str`).
    public func setStringAttribute(_ name: String, _ value: String, on path: String) throws {
        try withHDF5 {
            let obj = H5Oopen(file, path.isEmpty ? "/" : path, lstm_h5p_default())
            guard obj >= 0 else { throw fail("cannot open \(path)") }
            defer { H5Oclose(obj) }
            let type = H5Tcopy(lstm_h5t_c_s1())
            guard type >= 0 else { throw fail("cannot make a string type") }
            defer { H5Tclose(type) }
            H5Tset_size(type, lstm_h5t_variable())
            H5Tset_cset(type, H5T_CSET_UTF8)
            let space = H5Screate(H5S_SCALAR)
            guard space >= 0 else { throw fail("cannot create a scalar dataspace") }
            defer { H5Sclose(space) }
            let attr = H5Acreate2(obj, name, type, space, lstm_h5p_default(), lstm_h5p_default())
            guard attr >= 0 else { throw fail("cannot create the attribute \(name) of \(path)") }
            defer { H5Aclose(attr) }
            let r: herr_t = value.withCString { s in
                var p: UnsafePointer<CChar>? = s
                return withUnsafeMutablePointer(to: &p) { H5Awrite(attr, type, $0) }
            }
            guard r >= 0 else { throw fail("cannot write the attribute \(name) of \(path)") }
        }
    }

    /// The file's bytes; the builder cannot be used afterwards.
    public func finish() throws -> [UInt8] {
        try withHDF5 {
            guard !closed else { throw fail("the file was already finished") }
            guard H5Fflush(file, H5F_SCOPE_GLOBAL) >= 0 else { throw fail("cannot flush the in-memory file") }
            let n = H5Fget_file_image(file, nil, 0)
            guard n > 0 else { throw fail("cannot read back the in-memory file") }
            var out = [UInt8](repeating: 0, count: n)
            let m = out.withUnsafeMutableBytes { H5Fget_file_image(file, $0.baseAddress, n) }
            guard m == n else { throw fail("cannot read back the in-memory file") }
            closed = true
            H5Fclose(file)
            return out
        }
    }
}
