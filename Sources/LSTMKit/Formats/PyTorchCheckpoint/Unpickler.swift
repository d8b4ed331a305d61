import LSTMCore

/// The Python globals a `torch.save` state dict refers to: the only ones ``Unpickler`` accepts.
/// The same idea as PyTorch's `torch.load(weights_only=True)`: a pickle may name these and
/// nothing else, and "calling" one only builds data here — no code runs.
enum TorchGlobal: Equatable, Sendable {
    /// `collections.OrderedDict`: called with `()`, makes an empty dict.
    case orderedDict
    /// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`.
    case rebuildTensorV2
    /// `torch._utils._rebuild_parameter(data, requires_grad, hooks)`: an `nn.Parameter`.
    case rebuildParameter
    /// `torch._utils._rebuild_parameter_with_state(data, requires_grad, hooks, state)`.
    case rebuildParameterWithState
    /// `torch.FloatStorage` and the other typed storages: only named in persistent ids.
    case storage(TorchStorageType)

    /// The allowed global `module.name`, or nil.
    init?(module: String, name: String) {
        switch (module, name) {
        case ("collections", "OrderedDict"): self = .orderedDict
        case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensorV2
        case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter
        case ("torch._utils", "_rebuild_parameter_with_state"): self = .rebuildParameterWithState
        case ("torch", _):
            guard let s = TorchStorageType(rawValue: name) else { return nil }
            self = .storage(s)
        default: return nil
        }
    }

    var qualifiedName: String {
        switch self {
        case .orderedDict: return "collections.OrderedDict"
        case .rebuildTensorV2: return "torch._utils._rebuild_tensor_v2"
        case .rebuildParameter: return "torch._utils._rebuild_parameter"
        case .rebuildParameterWithState: return "torch._utils._rebuild_parameter_with_state"
        case .storage(let s): return "torch.\(s.rawValue)"
        }
    }
}

/// A typed storage class of `torch.save`: its element size and, for floating-point types,
/// the dtype weights may have. Integer storages are read (optimizer steps, counters) but never
/// become weights.
enum TorchStorageType: String, CaseIterable, Sendable {
    case float = "FloatStorage", double = "DoubleStorage", half = "HalfStorage", bfloat16 = "BFloat16Storage"
    case long = "LongStorage", int = "IntStorage", short = "ShortStorage", char = "CharStorage"
    case byte = "ByteStorage", bool = "BoolStorage"

    var elementSize: Int {
        switch self {
        case .double, .long: return 8
        case .float, .int: return 4
        case .half, .bfloat16, .short: return 2
        case .char, .byte, .bool: return 1
        }
    }

    /// The weight dtype, for floating-point storages.
    var dtype: DType? {
        switch self {
        case .float: return .float32
        case .double: return .float64
        case .half: return .float16
        case .bfloat16: return .bfloat16
        default: return nil
        }
    }

    /// `torch.float32`-style name, for messages.
    var torchName: String {
        switch self {
        case .float: return "float32"
        case .double: return "float64"
        case .half: return "float16"
        case .bfloat16: return "bfloat16"
        case .long: return "int64"
        case .int: return "int32"
        case .short: return "int16"
        case .char: return "int8"
        case .byte: return "uint8"
        case .bool: return "bool"
        }
    }
}

/// One storage of a checkpoint, as its persistent id names it: the zip member `data/<key>`
/// holding `count` elements of `type`.
struct TorchStorage: Equatable, Sendable {
    var type: TorchStorageType
    var key: String
    var count: Int
}

/// A tensor: a strided view into a storage (`torch._utils._rebuild_tensor_v2`).
struct TorchTensor: Equatable, Sendable {
    var storage: TorchStorage
    var offset: Int
    var size: [Int]
    var stride: [Int]

    /// The number of elements of the view.
    var elementCount: Int { size.reduce(1, *) }
}

/// A value on the unpickler's stack. Containers live in the unpickler's arena and are named by
/// index, so that values never own each other: no recursion builds, copies or frees them.
enum PickleValue: Equatable, Sendable {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer wider than 64 bits (kept only as "some integer").
    case bigInt
    case float(Double)
    case string(String)
    /// A bytes object; only its length is kept.
    case bytes(count: Int)
    /// A list, tuple or dict: an index into ``Unpickler/Result/containers``.
    case container(Int)
    case global(TorchGlobal)
    case storage(TorchStorage)
    case tensor(TorchTensor)
}

/// A list, tuple or dict made by the pickle.
struct PickleContainer: Sendable {
    enum Kind: Sendable { case list, tuple, dict }
    var kind: Kind
    /// Elements of a list or tuple.
    var items: [PickleValue] = []
    /// Entries of a dict in insertion order (a repeated key replaces the value in place).
    var entries: [(key: PickleValue, value: PickleValue)] = []
    var index: [DictKey: Int] = [:]

    enum DictKey: Hashable, Sendable { case string(String), int(Int) }

    init(kind: Kind, items: [PickleValue] = []) {
        self.kind = kind
        self.items = items
    }

    mutating func set(_ key: PickleValue, _ value: PickleValue) {
        let k: DictKey?
        switch key {
        case .string(let s): k = .string(s)
        case .int(let i): k = .int(i)
        default: k = nil
        }
        if let k, let at = index[k] {
            entries[at].value = value
            return
        }
        if let k { index[k] = entries.count }
        entries.append((key, value))
    }
}

/// A restricted unpickler for the `data.pkl` of a `torch.save` checkpoint. It knows the
/// opcodes of pickle protocols 2–4 that plain data needs (no `INST`/`OBJ`/`NEWOBJ`, no text
/// opcodes), and the globals of ``TorchGlobal``; anything else is refused with a message
/// naming it. Nothing is ever imported, called or executed: `REDUCE` of an allowed global
/// builds a dict or a tensor view, and a persistent id becomes a ``TorchStorage``.
///
/// Every size is bounded by the named caps below, checked before anything is allocated.
struct Unpickler {
    /// The most bytes a `data.pkl` may have.
    static let maxPickleBytes = 64 << 20
    /// The most values the stack may hold at once.
    static let maxStackDepth = 100_000
    /// The most open `MARK`s (how deeply `MARK … TUPLE` may nest).
    static let maxMarkDepth = 256
    /// The most memo entries.
    static let maxMemoEntries = 1_000_000
    /// The most values (containers, container elements and stack pushes) one pickle may make.
    static let maxObjects = 1_000_000
    /// The longest string, bytes object or global name.
    static let maxStringBytes = 1 << 20
    /// The most dimensions a tensor may have.
    static let maxTensorRank = 32

    struct Result {
        var value: PickleValue
        var containers: [PickleContainer]
    }

    private let bytes: [UInt8]
    private let what: String
    private var pos = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    private var containers: [PickleContainer] = []
    private var objects = 0

    /// Unpickles `bytes`; `what` names the pickle in messages (`data.pkl`).
    static func load(_ bytes: [UInt8], what: String = "data.pkl") throws -> Result {
        guard bytes.count <= maxPickleBytes else {
            throw LSTMError(.invalidInput, "\(what) has \(bytes.count) bytes, more than the \(maxPickleBytes) allowed")
        }
        var u = Unpickler(bytes: bytes, what: what)
        let v = try u.run()
        return Result(value: v, containers: u.containers)
    }

    private init(bytes: [UInt8], what: String) {
        self.bytes = bytes
        self.what = what
    }

    // MARK: errors and reading

    private func fail(_ kind: LSTMError.Kind, _ message: String, at offset: Int? = nil) -> LSTMError {
        LSTMError(kind, "\(what) byte \(offset ?? pos): \(message)")
    }

    private mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= bytes.count - pos else {
            throw fail(.truncated, "the pickle ends inside an opcode's argument (needs \(n) bytes, \(bytes.count - pos) left)")
        }
        defer { pos += n }
        return bytes[pos..<(pos + n)]
    }

    private mutating func uintLE(_ n: Int) throws -> Int {
        var v = 0
        for (k, b) in try take(n).enumerated() { v |= Int(b) << (8 * k) }
        return v
    }

    private mutating func line() throws -> String {
        let start = pos
        guard let nl = bytes[pos...].prefix(256).firstIndex(of: 0x0A) else {
            throw fail(.malformedHeader, "a GLOBAL name is not ended by a newline within 256 bytes", at: start)
        }
        let s = bytes[pos..<nl]
        pos = nl + 1
        guard let text = String(validating: s, as: UTF8.self) else { throw fail(.malformedHeader, "a GLOBAL name is not UTF-8", at: start) }
        return text
    }

    private mutating func text(_ n: Int) throws -> String {
        let start = pos
        guard n <= Unpickler.maxStringBytes else {
            throw fail(.invalidInput, "a string declares \(n) bytes, more than the \(Unpickler.maxStringBytes) allowed")
        }
        let b = try take(n)
        guard let s = String(validating: b, as: UTF8.self) else { throw fail(.malformedHeader, "a string is not valid UTF-8", at: start) }
        return s
    }

    // MARK: the stack

    private mutating func push(_ v: PickleValue) throws {
        objects += 1
        guard objects <= Unpickler.maxObjects else { throw fail(.invalidInput, "more than \(Unpickler.maxObjects) values") }
        guard stack.count < Unpickler.maxStackDepth else { throw fail(.invalidInput, "the stack grows past \(Unpickler.maxStackDepth) values") }
        stack.append(v)
    }

    private mutating func pop(_ op: String) throws -> PickleValue {
        guard stack.count > (marks.last ?? 0), let v = stack.popLast() else { throw fail(.malformedHeader, "\(op) on an empty stack (stack underflow)") }
        return v
    }

    /// The values above the last MARK, which is removed.
    private mutating func popMark(_ op: String) throws -> [PickleValue] {
        guard let m = marks.popLast() else { throw fail(.malformedHeader, "\(op) without a MARK") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    private mutating func newContainer(_ c: PickleContainer) throws -> PickleValue {
        objects += c.items.count
        guard objects <= Unpickler.maxObjects else { throw fail(.invalidInput, "more than \(Unpickler.maxObjects) values") }
        containers.append(c)
        return .container(containers.count - 1)
    }

    /// The index of the container on top of the stack (below any MARK being closed), of `kind`.
    private func target(_ kind: PickleContainer.Kind, _ op: String, below: Int? = nil) throws -> Int {
        let at = (below ?? stack.count) - 1
        guard at >= 0, at < stack.count else { throw fail(.malformedHeader, "\(op) with nothing to add to (stack underflow)") }
        guard case .container(let i) = stack[at], containers[i].kind == kind else {
            throw fail(.malformedHeader, "\(op) on a \(describe(stack[at])), not a \(kind)")
        }
        return i
    }

    func describe(_ v: PickleValue) -> String {
        switch v {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .container(let i): return "\(containers[i].kind)"
        case .global(let g): return g.qualifiedName
        case .storage: return "storage"
        case .tensor: return "tensor"
        }
    }

    // MARK: the machine

    private mutating func run() throws -> PickleValue {
        while true {
            let at = pos
            guard pos < bytes.count else { throw fail(.truncated, "the pickle ends before its STOP opcode") }
            let op = bytes[pos]
            pos += 1
            switch op {
            case 0x80: // PROTO
                let v = try uintLE(1)
                guard v >= 2 && v <= 5 else { throw fail(.unsupported, "pickle protocol \(v); torch.save writes protocol 2", at: at) }
            case 0x95: // FRAME (protocol 4): a length hint only
                _ = try take(8)
            case 0x2E: // STOP
                guard marks.isEmpty, let v = stack.last else { throw fail(.malformedHeader, "STOP with \(stack.isEmpty ? "an empty stack" : "an open MARK")", at: at) }
                return v
            case 0x28: // MARK
                guard marks.count < Unpickler.maxMarkDepth else {
                    throw fail(.invalidInput, "nesting deeper than \(Unpickler.maxMarkDepth) MARKs", at: at)
                }
                marks.append(stack.count)
            case 0x30: _ = try pop("POP") // POP
            case 0x31: _ = try popMark("POP_MARK") // POP_MARK
            case 0x32: // DUP
                guard let v = stack.last, stack.count > (marks.last ?? 0) else { throw fail(.malformedHeader, "DUP on an empty stack (stack underflow)", at: at) }
                try push(v)
            case 0x4E: try push(.none) // NONE
            case 0x88: try push(.bool(true)) // NEWTRUE
            case 0x89: try push(.bool(false)) // NEWFALSE
            case 0x4B: try push(.int(try uintLE(1))) // BININT1
            case 0x4D: try push(.int(try uintLE(2))) // BININT2
            case 0x4A: try push(.int(Int(Int32(truncatingIfNeeded: try uintLE(4))))) // BININT
            case 0x8A: // LONG1
                let n = try uintLE(1)
                let b = try take(n)
                if n == 0 {
                    try push(.int(0))
                } else if n <= 8 {
                    var v: UInt64 = 0
                    for (k, x) in b.enumerated() { v |= UInt64(x) << (8 * k) }
                    if n < 8 && b.last! & 0x80 != 0 { v |= ~0 << (8 * UInt64(n)) } // sign-extend
                    try push(.int(Int(Int64(bitPattern: v))))
                } else {
                    try push(.bigInt)
                }
            case 0x47: // BINFLOAT (big-endian double)
                var v: UInt64 = 0
                for x in try take(8) { v = v << 8 | UInt64(x) }
                try push(.float(Double(bitPattern: v)))
            case 0x58: try push(.string(try text(try uintLE(4)))) // BINUNICODE
            case 0x8C: try push(.string(try text(try uintLE(1)))) // SHORT_BINUNICODE
            case 0x8D: // BINUNICODE8
                let n = try uintLE(8)
                guard n <= Unpickler.maxStringBytes else { throw fail(.invalidInput, "a string declares \(n) bytes, more than the \(Unpickler.maxStringBytes) allowed", at: at) }
                try push(.string(try text(n)))
            case 0x55, 0x43: // SHORT_BINSTRING, SHORT_BINBYTES
                let n = try uintLE(1)
                _ = try take(n)
                try push(.bytes(count: n))
            case 0x54, 0x42: // BINSTRING, BINBYTES
                let n = try uintLE(4)
                guard n <= Unpickler.maxStringBytes else { throw fail(.invalidInput, "a bytes object declares \(n) bytes, more than the \(Unpickler.maxStringBytes) allowed", at: at) }
                _ = try take(n)
                try push(.bytes(count: n))
            case 0x29: try push(try newContainer(PickleContainer(kind: .tuple))) // EMPTY_TUPLE
            case 0x5D: try push(try newContainer(PickleContainer(kind: .list))) // EMPTY_LIST
            case 0x7D: try push(try newContainer(PickleContainer(kind: .dict))) // EMPTY_DICT
            case 0x85, 0x86, 0x87: // TUPLE1, TUPLE2, TUPLE3
                let n = Int(op - 0x84)
                var items: [PickleValue] = []
                for _ in 0..<n { items.append(try pop("TUPLE\(n)")) }
                try push(try newContainer(PickleContainer(kind: .tuple, items: items.reversed())))
            case 0x74: try push(try newContainer(PickleContainer(kind: .tuple, items: try popMark("TUPLE")))) // TUPLE
            case 0x6C: try push(try newContainer(PickleContainer(kind: .list, items: try popMark("LIST")))) // LIST
            case 0x64: // DICT
                let items = try popMark("DICT")
                guard items.count % 2 == 0 else { throw fail(.malformedHeader, "DICT with an odd number of items", at: at) }
                var d = PickleContainer(kind: .dict)
                try count(items.count / 2)
                for k in stride(from: 0, to: items.count, by: 2) { d.set(items[k], items[k + 1]) }
                try push(try newContainer(d))
            case 0x61: // APPEND
                let v = try pop("APPEND")
                let i = try target(.list, "APPEND")
                try count(1)
                containers[i].items.append(v)
            case 0x65: // APPENDS
                let items = try popMark("APPENDS")
                let i = try target(.list, "APPENDS")
                try count(items.count)
                containers[i].items += items
            case 0x73: // SETITEM
                let v = try pop("SETITEM"), k = try pop("SETITEM")
                let i = try target(.dict, "SETITEM")
                try count(1)
                containers[i].set(k, v)
            case 0x75: // SETITEMS
                let items = try popMark("SETITEMS")
                guard items.count % 2 == 0 else { throw fail(.malformedHeader, "SETITEMS with an odd number of items", at: at) }
                let i = try target(.dict, "SETITEMS")
                try count(items.count / 2)
                for k in stride(from: 0, to: items.count, by: 2) { containers[i].set(items[k], items[k + 1]) }
            case 0x71: try put(try uintLE(1), at: at) // BINPUT
            case 0x72: try put(try uintLE(4), at: at) // LONG_BINPUT
            case 0x94: try put(memo.count, at: at) // MEMOIZE
            case 0x68: try get(try uintLE(1), at: at) // BINGET
            case 0x6A: try get(try uintLE(4), at: at) // LONG_BINGET
            case 0x63: // GLOBAL
                let module = try line(), name = try line()
                try push(.global(try allowed(module, name, at: at)))
            case 0x93: // STACK_GLOBAL
                let n = try pop("STACK_GLOBAL"), m = try pop("STACK_GLOBAL")
                guard case .string(let name) = n, case .string(let module) = m else {
                    throw fail(.malformedHeader, "STACK_GLOBAL needs two strings", at: at)
                }
                try push(.global(try allowed(module, name, at: at)))
            case 0x51: // BINPERSID
                try push(.storage(try storage(try pop("BINPERSID"), at: at)))
            case 0x52: // REDUCE
                let args = try pop("REDUCE"), callable = try pop("REDUCE")
                try push(try reduce(callable, args, at: at))
            case 0x62: // BUILD: object state; a state dict's OrderedDict carries `_metadata` this way
                let state = try pop("BUILD")
                guard let obj = stack.last, stack.count > (marks.last ?? 0) else { throw fail(.malformedHeader, "BUILD with no object (stack underflow)", at: at) }
                switch (obj, state) {
                case (.container(let i), _) where containers[i].kind == .dict: break
                case (.tensor, _): break
                default: throw fail(.unsupported, "BUILD (setting an object's state) on a \(describe(obj)); a state dict builds only dicts and tensors", at: at)
                }
            default:
                throw fail(.unsupported, "unknown or disallowed pickle opcode 0x\(String(op, radix: 16)) (\(Unpickler.opcodeName(op))); torch.save state dicts do not use it", at: at)
            }
        }
    }

    private mutating func count(_ n: Int) throws {
        objects += n
        guard objects <= Unpickler.maxObjects else { throw fail(.invalidInput, "more than \(Unpickler.maxObjects) values") }
    }

    private mutating func put(_ index: Int, at: Int) throws {
        guard let v = stack.last, stack.count > (marks.last ?? 0) else { throw fail(.malformedHeader, "memo PUT on an empty stack (stack underflow)", at: at) }
        guard memo[index] != nil || memo.count < Unpickler.maxMemoEntries else {
            throw fail(.invalidInput, "more than \(Unpickler.maxMemoEntries) memo entries", at: at)
        }
        memo[index] = v
    }

    private mutating func get(_ index: Int, at: Int) throws {
        guard let v = memo[index] else { throw fail(.malformedHeader, "memo GET \(index) of an entry never PUT (memo out of range)", at: at) }
        try push(v)
    }

    /// Names a forbidden global in one line; a pickled `torch.nn` module gets its own message.
    private func allowed(_ module: String, _ name: String, at: Int) throws -> TorchGlobal {
        if let g = TorchGlobal(module: module, name: name) { return g }
        let qualified = Unpickler.printable(module + "." + name)
        if module.hasPrefix("torch.nn.modules.") || module == "torch.nn" {
            throw LSTMError(.unsupported, "the checkpoint pickles a whole torch.nn.\(Unpickler.printable(name)) object (\(qualified)), not a state dict; save `model.state_dict()` instead")
        }
        if module.hasPrefix("__torch__") {
            throw LSTMError(.unsupported, "the checkpoint refers to \(qualified): a TorchScript archive (torch.jit.save), not a torch.save state dict; save `model.state_dict()` with torch.save instead")
        }
        throw fail(.unsupported, "refers to the Python global \(qualified), which a state dict never needs; refused without running anything (allowed: tensors, typed storages, OrderedDict and plain values, as torch.load(weights_only=True))", at: at)
    }

    /// `('storage', torch.FloatStorage, '<key>', '<location>', numel)`.
    private func storage(_ pid: PickleValue, at: Int) throws -> TorchStorage {
        guard case .container(let i) = pid, containers[i].kind == .tuple else {
            throw fail(.malformedHeader, "a persistent id is a \(describe(pid)), not a storage tuple", at: at)
        }
        let t = containers[i].items
        guard t.count == 5, case .string("storage") = t[0] else {
            throw fail(.unsupported, "a persistent id is not ('storage', type, key, location, size)", at: at)
        }
        guard case .global(.storage(let type)) = t[1] else {
            throw fail(.unsupported, "a storage's type is \(describe(t[1])), not a typed storage such as torch.FloatStorage", at: at)
        }
        guard case .string(let key) = t[2], !key.isEmpty, key.utf8.count <= 64 else {
            throw fail(.malformedHeader, "a storage key is not a short string", at: at)
        }
        guard case .string = t[3] else { throw fail(.malformedHeader, "a storage location is not a string", at: at) }
        guard case .int(let n) = t[4], n >= 0 else { throw fail(.malformedHeader, "storage \(Unpickler.printable(key)) has a size that is not a count", at: at) }
        return TorchStorage(type: type, key: key, count: n)
    }

    private func args(_ v: PickleValue, _ what: String, at: Int) throws -> [PickleValue] {
        guard case .container(let i) = v, containers[i].kind == .tuple else {
            throw fail(.malformedHeader, "\(what) is applied to a \(describe(v)), not an argument tuple", at: at)
        }
        return containers[i].items
    }

    private func ints(_ v: PickleValue, _ what: String, at: Int) throws -> [Int] {
        guard case .container(let i) = v, containers[i].kind == .tuple || containers[i].kind == .list else {
            throw fail(.malformedHeader, "a tensor's \(what) is a \(describe(v)), not a tuple of integers", at: at)
        }
        let items = containers[i].items
        guard items.count <= Unpickler.maxTensorRank else {
            throw fail(.invalidInput, "a tensor's \(what) has \(items.count) dimensions, more than the \(Unpickler.maxTensorRank) allowed", at: at)
        }
        return try items.map {
            guard case .int(let n) = $0, n >= 0 else { throw fail(.malformedHeader, "a tensor's \(what) holds \(describe($0) == "int" ? "a negative or huge integer" : "a " + describe($0))", at: at) }
            return n
        }
    }

    /// Applies an allowed global: builds a dict or a tensor view, nothing else.
    private mutating func reduce(_ callable: PickleValue, _ argv: PickleValue, at: Int) throws -> PickleValue {
        guard case .global(let g) = callable else {
            throw fail(.malformedHeader, "REDUCE calls a \(describe(callable)), not an allowed global", at: at)
        }
        let a = try args(argv, g.qualifiedName, at: at)
        switch g {
        case .orderedDict:
            guard a.isEmpty else { throw fail(.unsupported, "collections.OrderedDict is called with arguments; torch.save writes OrderedDict()", at: at) }
            return try newContainer(PickleContainer(kind: .dict))
        case .rebuildParameter, .rebuildParameterWithState:
            let n = g == .rebuildParameter ? 3 : 4
            guard a.count == n, case .tensor = a[0] else {
                throw fail(.malformedHeader, "\(g.qualifiedName) takes (tensor, requires_grad, hooks\(n == 4 ? ", state" : "")), got \(a.count) arguments", at: at)
            }
            return a[0]
        case .rebuildTensorV2:
            guard a.count == 6 || a.count == 7 else {
                throw fail(.malformedHeader, "torch._utils._rebuild_tensor_v2 takes 6 or 7 arguments, got \(a.count)", at: at)
            }
            guard case .storage(let s) = a[0] else { throw fail(.malformedHeader, "a tensor's storage is a \(describe(a[0])), not a persistent storage", at: at) }
            guard case .int(let offset) = a[1], offset >= 0 else { throw fail(.malformedHeader, "a tensor's storage offset is not a non-negative integer", at: at) }
            let size = try ints(a[2], "size", at: at), stride = try ints(a[3], "stride", at: at)
            guard size.count == stride.count else {
                throw fail(.malformedHeader, "a tensor's size \(size) and stride \(stride) differ in rank", at: at)
            }
            let t = TorchTensor(storage: s, offset: offset, size: size, stride: stride)
            try Unpickler.checkView(t, what: "a tensor", fail: { fail($0, $1, at: at) })
            return .tensor(t)
        case .storage(let s):
            throw fail(.unsupported, "torch.\(s.rawValue) is called directly; torch.save names storages only in persistent ids", at: at)
        }
    }

    /// Checks that the view `t` lies inside its storage's declared element count, with checked
    /// arithmetic: `offset + Σ (size_i − 1)·stride_i < count` (nothing to check when empty),
    /// and has no more elements than the storage.
    static func checkView(_ t: TorchTensor, what: String, fail: (LSTMError.Kind, String) -> LSTMError) throws {
        let n = try checkedProduct(t.size, what: "\(what)'s size \(t.size)")
        guard n > 0 else { return }
        var last = t.offset
        for (s, st) in zip(t.size, t.stride) {
            let (p, o1) = (s - 1).multipliedReportingOverflow(by: st)
            let (q, o2) = last.addingReportingOverflow(p)
            guard !o1, !o2 else { throw fail(.invalidInput, "\(what)'s view (offset \(t.offset), size \(t.size), stride \(t.stride)) overflows") }
            last = q
        }
        guard last < t.storage.count else {
            throw fail(.sizeMismatch, "\(what)'s view (offset \(t.offset), size \(t.size), stride \(t.stride)) reaches element \(last) but storage \(printable(t.storage.key)) holds \(t.storage.count): the storage is shorter than the view")
        }
        // Views that repeat elements (stride 0, as `expand` makes) could be far larger than the file.
        guard n <= t.storage.count else {
            throw fail(.unsupported, "\(what) has \(n) elements, more than its storage's \(t.storage.count) (an expanded view with stride \(t.stride)); save a contiguous copy (.clone())")
        }
    }

    /// `s` with control characters escaped, at most 120 characters (names from a file are data).
    static func printable(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars.prefix(120) {
            if u.value < 0x20 || u.value == 0x7F { out += "\\u{\(String(u.value, radix: 16))}" } else { out.unicodeScalars.append(u) }
        }
        return s.unicodeScalars.count > 120 ? out + "…" : out
    }

    /// The pickletools name of an opcode byte, for messages.
    static func opcodeName(_ op: UInt8) -> String {
        let names: [UInt8: String] = [
            0x49: "INT", 0x4C: "LONG", 0x53: "STRING", 0x56: "UNICODE", 0x46: "FLOAT", 0x70: "PUT", 0x67: "GET",
            0x50: "PERSID", 0x69: "INST", 0x6F: "OBJ", 0x81: "NEWOBJ", 0x92: "NEWOBJ_EX", 0x8B: "LONG4",
            0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x8F: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET",
            0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER", 0x8E: "BINBYTES8",
        ]
        return names[op] ?? "not a pickle opcode"
    }
}
