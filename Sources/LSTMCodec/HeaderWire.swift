import LSTMCore

/// The wire-level rules of the header (docs/FORMAT.md §7, rules W1–W9), checked in Swift on the
/// raw bytes before protobuf-c sees them, so that what is refused does not depend on a
/// decoder's internals: every tag, wire type, varint, length and count of the header is
/// checked here against the schema, in byte order, and the first violation is the error.
public enum HeaderWire {
    /// The most layers, tensors, metadata properties, activations per layer, dimensions per
    /// tensor and unknown fields per message a header may hold (docs/FORMAT.md §8).
    public static let maxLayers = 4096
    public static let maxTensors = 100_000
    public static let maxProperties = 4096
    public static let maxActivations = 16
    public static let maxRank = 8
    public static let maxUnknownFields = 1024

    /// What the walk counted: enough to size the decoder's allocation budget.
    public struct Counts: Equatable, Sendable {
        public var messages = 0
        public var unknownFields = 0
        public var repeatedScalars = 0
    }

    enum Kind { case varint(Scalar), fixed64, bytes(Content), repeatedVarint }
    enum Scalar { case uint64, uint32, bool, enumeration }
    enum Content { case string, message(Message) }
    enum Message { case header, metadata, keyValue, layer, activation, tensor }

    struct Field {
        let name: String
        let kind: Kind
        let repeated: Bool
    }

    static func schema(_ m: Message) -> [UInt64: Field] {
        func f(_ name: String, _ kind: Kind, repeated: Bool = false) -> Field { Field(name: name, kind: kind, repeated: repeated) }
        switch m {
        case .header:
            return [1: f("metadata", .bytes(.message(.metadata))), 2: f("layers", .bytes(.message(.layer)), repeated: true),
                    3: f("tensors", .bytes(.message(.tensor)), repeated: true)]
        case .metadata:
            var s: [UInt64: Field] = [:]
            for (i, n) in ["name", "description", "producer_name", "producer_version", "source_framework", "source_file", "created"].enumerated() {
                s[UInt64(i + 1)] = f(n, .bytes(.string))
            }
            s[8] = f("properties", .bytes(.message(.keyValue)), repeated: true)
            return s
        case .keyValue:
            return [1: f("key", .bytes(.string)), 2: f("value", .bytes(.string))]
        case .layer:
            return [1: f("cell", .varint(.enumeration)), 2: f("input_size", .varint(.uint64)), 3: f("hidden_size", .varint(.uint64)),
                    4: f("direction", .varint(.enumeration)), 5: f("has_bias", .varint(.bool)),
                    6: f("gate_layout", .varint(.enumeration)), 7: f("activations", .bytes(.message(.activation)), repeated: true),
                    8: f("peephole_input", .varint(.bool)), 9: f("peephole_forget", .varint(.bool)),
                    10: f("peephole_output", .varint(.bool)), 11: f("coupled_input_forget", .varint(.bool)),
                    12: f("projection_size", .varint(.uint64)), 13: f("activation_clip", .fixed64), 14: f("cell_clip", .fixed64),
                    15: f("projection_clip", .fixed64), 16: f("reset_after", .varint(.bool)), 17: f("has_initial_state", .varint(.bool))]
        case .activation:
            return [1: f("kind", .varint(.enumeration)), 2: f("alpha", .fixed64), 3: f("beta", .fixed64)]
        case .tensor:
            return [1: f("name", .bytes(.string)), 2: f("dtype", .varint(.enumeration)), 3: f("shape", .repeatedVarint, repeated: true),
                    4: f("encoding", .varint(.enumeration)), 5: f("offset", .varint(.uint64)), 6: f("stored_size", .varint(.uint64)),
                    7: f("raw_size", .varint(.uint64)), 8: f("crc32", .varint(.uint32))]
        }
    }

    static func messageName(_ m: Message) -> String {
        switch m {
        case .header: return "Header"
        case .metadata: return "Metadata"
        case .keyValue: return "KeyValue"
        case .layer: return "Layer"
        case .activation: return "Activation"
        case .tensor: return "Tensor"
        }
    }

    /// Checks the header bytes; returns what they hold, or throws `malformedHeader` naming the
    /// byte offset and the rule.
    public static func check(_ bytes: UnsafeRawBufferPointer) throws -> Counts {
        var counts = Counts()
        let b = bytes.bindMemory(to: UInt8.self)
        try walk(b, 0..<b.count, .header, "header", &counts)
        return counts
    }

    private static func fail(_ at: Int, _ s: String) -> LSTMError {
        LSTMError(.malformedHeader, "header byte \(at): \(s)")
    }

    /// A varint at `p` (W3): at most 10 bytes, the value fits in 64 bits.
    private static func varint(_ b: UnsafeBufferPointer<UInt8>, _ p: inout Int, _ end: Int) throws -> UInt64 {
        let start = p
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard p < end else { throw fail(start, "a varint runs past the end of its message") }
            let byte = b[p]
            p += 1
            if shift == 63 && byte > 1 { throw fail(start, "a varint overflows 64 bits") }
            v |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return v }
            shift += 7
            if shift > 63 { throw fail(start, "a varint is longer than 10 bytes") }
        }
    }

    private static func walk(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ m: Message, _ context: String,
                             _ counts: inout Counts) throws {
        counts.messages += 1
        let fields = schema(m)
        var seen = Set<UInt64>()
        var repeatedCount: [UInt64: Int] = [:]
        var unknown = 0
        var p = range.lowerBound
        let end = range.upperBound
        while p < end {
            let at = p
            let tag = try varint(b, &p, end)
            let number = tag >> 3, wire = Int(tag & 7)
            // W1: field numbers 1 … 2^29 − 1 (a tag is a 32-bit value).
            guard tag <= UInt64(UInt32.max), number >= 1, number < 1 << 29 else {
                throw fail(at, "field number \(number) is not valid (1 … 2^29 − 1)")
            }
            // W2: wire types 0 (varint), 1 (64-bit), 2 (length-delimited), 5 (32-bit) only.
            guard [0, 1, 2, 5].contains(wire) else {
                throw fail(at, wire == 3 || wire == 4 ? "\(context): field \(number) is a group (wire type \(wire)), which the format does not use"
                                                      : "\(context): field \(number) has wire type \(wire), which does not exist")
            }
            var payload = p..<p
            var value: UInt64 = 0
            switch wire {
            case 0: value = try varint(b, &p, end)
            case 1, 5:
                let n = wire == 1 ? 8 : 4
                guard end - p >= n else { throw fail(at, "field \(number) runs past the end of its message") }
                p += n
            default:
                let n = try varint(b, &p, end)
                guard n <= UInt64(end - p) else { throw fail(at, "field \(number) declares \(n) bytes, more than its message has left") }
                payload = p..<(p + Int(n))
                p += Int(n)
            }
            guard let field = fields[number] else {
                // W7: unknown fields are kept as they are (§9), up to a count.
                unknown += 1
                counts.unknownFields += 1
                guard unknown <= maxUnknownFields else {
                    throw fail(at, "\(context): more than \(maxUnknownFields) unknown fields in one \(messageName(m))")
                }
                continue
            }
            let what = context == "header" ? field.name : "\(context).\(field.name)"
            // W4: a known field has its schema's wire type (shape: varint or packed).
            let expected: [Int]
            switch field.kind {
            case .varint: expected = [0]
            case .fixed64: expected = [1]
            case .bytes: expected = [2]
            case .repeatedVarint: expected = [0, 2]
            }
            guard expected.contains(wire) else {
                throw fail(at, "\(what) has wire type \(wire), the schema's is \(expected.map(String.init).joined(separator: " or "))")
            }
            // W5: a field that is not repeated appears at most once.
            if !field.repeated {
                guard seen.insert(number).inserted else { throw fail(at, "\(what) appears more than once") }
            }
            switch field.kind {
            case .varint(let scalar):
                // W6: the value fits the field's type.
                let v = value
                switch scalar {
                case .uint64: break
                case .uint32: guard v <= UInt64(UInt32.max) else { throw fail(at, "\(what) is \(v), more than a uint32 holds") }
                case .bool: guard v <= 1 else { throw fail(at, "\(what) is \(v); a bool is 0 or 1") }
                case .enumeration: guard v <= UInt64(Int32.max) else { throw fail(at, "\(what) is \(v), not an enum value (0 … 2^31 − 1)") }
                }
            case .fixed64:
                break
            case .repeatedVarint:
                var n = 0
                if wire == 2 {
                    var q = payload.lowerBound
                    while q < payload.upperBound {
                        _ = try varint(b, &q, payload.upperBound)
                        n += 1
                    }
                } else {
                    n = 1
                }
                repeatedCount[number, default: 0] += n
                counts.repeatedScalars += n
                guard repeatedCount[number]! <= maxRank else { throw fail(at, "\(what) has more than \(maxRank) dimensions") }
            case .bytes(.string):
                // W8: strings are UTF-8 without NUL (a NUL would cut a C string short).
                let s = UnsafeBufferPointer(rebasing: b[payload])
                guard !s.contains(0) else { throw fail(at, "\(what) contains a NUL byte") }
                guard String(validating: s, as: UTF8.self) != nil else { throw fail(at, "\(what) is not valid UTF-8") }
            case .bytes(.message(let sub)):
                repeatedCount[number, default: 0] += 1
                let n = repeatedCount[number]!
                // W9: counts.
                let cap: Int? = switch (m, number) {
                case (.header, 2): maxLayers
                case (.header, 3): maxTensors
                case (.metadata, 8): maxProperties
                case (.layer, 7): maxActivations
                default: nil
                }
                if let cap, n > cap { throw fail(at, "more than \(cap) \(what) entries") }
                let child: String = switch (m, number) {
                case (.header, 1): "metadata"
                case (.header, 2): "layer \(n - 1)"
                case (.header, 3): "tensor \(n - 1)"
                default: "\(what)[\(n - 1)]"
                }
                try walk(b, payload, sub, child, &counts)
            }
        }
    }
}
