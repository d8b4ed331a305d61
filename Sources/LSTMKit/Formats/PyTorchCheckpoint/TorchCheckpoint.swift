internal import LSTMCodec
import LSTMCore

/// A checkpoint written by `torch.save` in the zip format (PyTorch ≥ 1.6): a zip whose members
/// sit under one top folder (`<stem>/`): `data.pkl` (the pickled object), `byteorder`,
/// `version`, and one member `data/<key>` per storage. The pickle is read by the restricted
/// ``Unpickler``; nested dicts are flattened with `.` into names (`model.encoder.rnn.weight_ih_l0`)
/// and their floating-point tensors kept as views, read from their storages on demand.
struct TorchCheckpoint {
    /// The most bytes one storage member may have (a deflated member is inflated into exactly
    /// this many bytes at most).
    static let maxStorageBytes = 1 << 34
    /// How deeply dicts may nest inside the checkpoint.
    static let maxDictNesting = 64
    /// The most named values flattening may visit.
    static let maxFlattenedEntries = 1_000_000

    /// A floating-point tensor of the checkpoint, by its flattened name.
    struct Entry {
        var name: String
        var tensor: TorchTensor
    }

    let path: String
    let zip: ZipArchive
    /// The members' folder, with its trailing slash (`model/`).
    let root: String
    /// Floating-point tensors in pickle order.
    let entries: [Entry]
    /// Tensors left out because they are not floating point (optimizer steps, counters).
    let nonFloatTensors: Int
    /// Their names (flattened with `.`, printable), in pickle order.
    let nonFloatNames: [String]
    let bigEndian: Bool

    /// The first bytes of a legacy (before 1.6) `torch.save` file: pickle protocol 2 and the
    /// magic number 0x1950a86a20f9469cfc6c as a LONG1.
    static let legacyMagic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

    /// True when `head` is a zip whose first member is `…/data.pkl` (what torch.save writes
    /// first), or a legacy torch.save file.
    static func recognizes(_ head: [UInt8]) -> Bool {
        if head.starts(with: legacyMagic) { return true }
        guard let first = ZipArchive.firstMemberName(head) else { return false }
        return first == "data.pkl" || first.hasSuffix("/data.pkl")
    }

    init(path: String) throws {
        self.path = path
        let file = try MappedFile(path: path)
        let head = file.bytes(0..<min(file.size, 64))
        if head.starts(with: TorchCheckpoint.legacyMagic) {
            throw LSTMError(.unsupported, "legacy torch.save format (before PyTorch 1.6): re-save it with a current PyTorch, torch.save(torch.load(f), g), without _use_new_zipfile_serialization=False", path: path)
        }
        guard ZipArchive.looksLikeZip(head) else {
            throw LSTMError(.badMagic, "not a torch.save checkpoint: PyTorch ≥ 1.6 writes a zip archive (starting with PK), this file starts otherwise", path: path)
        }
        let zip: ZipArchive
        do {
            zip = try ZipArchive(path: path)
        } catch let e as LSTMError {
            throw LSTMError(e.kind == .malformedHeader ? .truncated : e.kind,
                            "cannot read the checkpoint's zip archive (truncated or damaged?): \(e.message)", path: path)
        }
        let pickles = zip.entries.filter { $0.name == "data.pkl" || $0.name.hasSuffix("/data.pkl") }
        guard let pkl = pickles.min(by: { $0.name.count < $1.name.count }) else {
            throw LSTMError(.malformedHeader, "zip archive without a data.pkl member: not a torch.save checkpoint", path: path)
        }
        let root = String(pkl.name.dropLast("data.pkl".count))
        if zip.entries.contains(where: { $0.name == root + "constants.pkl" || $0.name.hasPrefix(root + "code/") }) {
            throw LSTMError(.unsupported, "a TorchScript archive (torch.jit.save), not a torch.save state dict; save `model.state_dict()` with torch.save instead", path: path)
        }
        if let bo = zip.entry(root + "byteorder") {
            let text = String(decoding: try LSTMError.about(path) { try zip.data(bo, limit: 16) }, as: UTF8.self)
            switch text {
            case "little": bigEndian = false
            case "big": bigEndian = true
            default: throw LSTMError(.malformedHeader, "byteorder member says \"\(Unpickler.printable(text))\", not little or big", path: path)
            }
        } else {
            bigEndian = false
        }
        let pickled = try LSTMError.about(path) {
            let bytes = try zip.data(pkl, limit: Unpickler.maxPickleBytes)
            return try Unpickler.load(bytes, what: "data.pkl")
        }
        var entries: [Entry] = []
        var nonFloat: [String] = []
        try TorchCheckpoint.flatten(pickled, path: path, into: &entries, nonFloat: &nonFloat)
        // Every storage a tensor names must be a member holding exactly its elements, and one key
        // one storage.
        var seen: [String: TorchStorage] = [:]
        for e in entries {
            let s = e.tensor.storage
            if let other = seen[s.key] {
                guard other == s else {
                    throw LSTMError(.malformedHeader, "storage \(Unpickler.printable(s.key)) is named as \(other.count) × \(other.type.torchName) and as \(s.count) × \(s.type.torchName)", path: path)
                }
                continue
            }
            seen[s.key] = s
            let member = root + "data/" + s.key
            guard let m = zip.entry(member) else {
                throw LSTMError(.missingTensor, "tensor \(Unpickler.printable(e.name)): its storage member \(Unpickler.printable(member)) is missing", path: path)
            }
            let (bytes, overflow) = s.count.multipliedReportingOverflow(by: s.type.elementSize)
            guard !overflow, bytes <= TorchCheckpoint.maxStorageBytes else {
                throw LSTMError(.invalidInput, "storage \(Unpickler.printable(s.key)) declares \(s.count) elements of \(s.type.torchName), more than the \(TorchCheckpoint.maxStorageBytes) bytes allowed", path: path)
            }
            // Deflate expands at most 1032:1; a member claiming more is a bomb (torch.save stores).
            guard m.method != 8 || m.size / 1032 <= m.compressedSize else {
                throw LSTMError(.invalidInput, "storage member \(Unpickler.printable(member)) declares \(m.size) bytes from \(m.compressedSize) compressed, more than deflate can produce", path: path)
            }
            guard m.size == bytes else {
                throw LSTMError(.sizeMismatch, "storage \(Unpickler.printable(member)) has \(m.size) bytes but its \(s.count) \(s.type.torchName) elements need \(bytes): the storage is shorter than its tensors' views", path: path)
            }
        }
        self.zip = zip
        self.root = root
        self.entries = entries
        nonFloatTensors = nonFloat.count
        nonFloatNames = nonFloat
    }

    /// Walks the unpickled object: dicts are flattened with `.` (integer keys in decimal),
    /// floating-point tensors kept; everything else (numbers, strings, lists, integer tensors) is
    /// left out. The top level must be a dict.
    static func flatten(_ r: Unpickler.Result, path: String, into out: inout [Entry], nonFloat: inout [String]) throws {
        guard case .container(let top) = r.value, r.containers[top].kind == .dict else {
            let what: String
            switch r.value {
            case .tensor: what = "a single tensor"
            case .container(let i): what = "a \(r.containers[i].kind)"
            default: what = "a plain value"
            }
            throw LSTMError(.invalidInput, "the checkpoint holds \(what), not a dict of tensors (a state dict or a checkpoint dict holding one)", path: path)
        }
        var names = Set<String>()
        var visited = 0
        var work: [(container: Int, prefix: String, depth: Int)] = [(top, "", 1)]
        // Depth-first in pickle order: a stack of dicts whose entries are pushed in reverse.
        while let item = work.popLast() {
            let (c, prefix, depth) = item
            var children: [(Int, String, Int)] = []
            for (key, value) in r.containers[c].entries {
                visited += 1
                guard visited <= maxFlattenedEntries else {
                    throw LSTMError(.invalidInput, "the checkpoint's dicts hold more than \(maxFlattenedEntries) entries", path: path)
                }
                let k: String
                switch key {
                case .string(let s): k = s
                case .int(let i): k = String(i)
                default: continue
                }
                let name = prefix + k
                switch value {
                case .tensor(let t):
                    guard t.storage.type.dtype != nil else { nonFloat.append(Unpickler.printable(name)); continue }
                    guard names.insert(name).inserted else {
                        throw LSTMError(.malformedHeader, "two tensors are named \(Unpickler.printable(name)) once nested dicts are flattened with '.'", path: path)
                    }
                    out.append(Entry(name: name, tensor: t))
                case .container(let i) where r.containers[i].kind == .dict:
                    guard depth < maxDictNesting else {
                        throw LSTMError(.invalidInput, "dicts nest more than \(maxDictNesting) levels deep (at \(Unpickler.printable(name)))", path: path)
                    }
                    children.append((i, name + ".", depth + 1))
                default:
                    continue
                }
            }
            work += children.reversed()
        }
    }

    /// The tensor's elements gathered in row-major order from its (strided) view, little-endian.
    func load(_ e: Entry, cache: StorageCache) throws -> ModelTensor {
        let t = e.tensor
        guard let dtype = t.storage.type.dtype else {
            throw LSTMError(.unsupported, "tensor \(Unpickler.printable(e.name)) is \(t.storage.type.torchName); weights must be floating point", path: path)
        }
        let data = try storage(t.storage, cache: cache)
        return try LSTMError.about(path) {
            try ModelTensor(dtype: dtype, shape: t.size, bytes: TorchCheckpoint.gather(t, from: data, bigEndian: bigEndian))
        }
    }

    private func storage(_ s: TorchStorage, cache: StorageCache) throws -> [UInt8] {
        if let d = cache.data[s.key] { return d }
        guard let m = zip.entry(root + "data/" + s.key) else {
            throw LSTMError(.missingTensor, "storage member \(Unpickler.printable(root + "data/" + s.key)) is missing", path: path)
        }
        let d = try LSTMError.about(path) { try zip.data(m, limit: TorchCheckpoint.maxStorageBytes) }
        cache.data[s.key] = d
        return d
    }

    /// Copies the view's elements out of `storage` (whose size the caller checked against
    /// the view with ``Unpickler/checkView``), swapping bytes when the file is big-endian.
    static func gather(_ t: TorchTensor, from storage: [UInt8], bigEndian: Bool) throws -> [UInt8] {
        let es = t.storage.type.elementSize
        try Unpickler.checkView(t, what: "a tensor", fail: { LSTMError($0, $1) })
        guard t.storage.count * es <= storage.count else {
            throw LSTMError(.sizeMismatch, "storage \(t.storage.key) has \(storage.count) bytes, fewer than its \(t.storage.count) elements")
        }
        let n = t.elementCount
        var out = [UInt8](repeating: 0, count: n * es)
        guard n > 0 else { return out }
        let rank = t.size.count
        // A dimension of size 1 never moves; its stride may be anything.
        let stride = Swift.zip(t.size, t.stride).map { $0 == 1 ? 0 : $1 }
        var index = [Int](repeating: 0, count: rank)
        var src = t.offset
        for k in 0..<n {
            let from = src * es, to = k * es
            if bigEndian {
                for b in 0..<es { out[to + b] = storage[from + es - 1 - b] }
            } else {
                for b in 0..<es { out[to + b] = storage[from + b] }
            }
            // Next index in row-major order, moving `src` by the strides.
            var d = rank - 1
            while d >= 0 {
                index[d] += 1
                src += stride[d]
                if index[d] < t.size[d] { break }
                src -= stride[d] * t.size[d]
                index[d] = 0
                d -= 1
            }
        }
        return out
    }
}

/// Storages already read, so that views sharing one are read once.
final class StorageCache {
    var data: [String: [UInt8]] = [:]
}
