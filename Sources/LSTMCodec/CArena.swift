#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLSTMSupport
import CProtobufC

/// Owns the C memory of a protobuf-c message being built for packing; frees it all at once.
final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    deinit { for b in blocks { free(b) } }

    /// Zero-filled storage for `count` values of `T`.
    func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let raw = calloc(max(count, 1), MemoryLayout<T>.stride)!
        blocks.append(raw)
        return raw.bindMemory(to: T.self, capacity: max(count, 1))
    }

    func string(_ s: String?) -> UnsafeMutablePointer<CChar>? {
        guard let s else { return nil }
        let p = strdup(s)!
        blocks.append(UnsafeMutableRawPointer(p))
        return p
    }

    func bytes(_ b: [UInt8]) -> UnsafeMutablePointer<UInt8> {
        let p = allocate(UInt8.self, count: b.count)
        for (i, v) in b.enumerated() { p[i] = v }
        return p
    }

    /// An array of pointers to the given values (protobuf-c's repeated-message form).
    func pointerArray<T>(_ values: [T]) -> UnsafeMutablePointer<UnsafeMutablePointer<T>?> {
        let array = allocate(UnsafeMutablePointer<T>?.self, count: values.count)
        for (i, v) in values.enumerated() {
            let p = allocate(T.self, count: 1)
            p.initialize(to: v)
            array[i] = p
        }
        return array
    }

    func attachUnknownFields(_ fields: [UnknownFieldValue], to base: inout ProtobufCMessage) {
        guard !fields.isEmpty else { return }
        let arr = allocate(ProtobufCMessageUnknownField.self, count: fields.count)
        for (i, f) in fields.enumerated() {
            arr[i] = ProtobufCMessageUnknownField(tag: f.tag, wire_type: ProtobufCWireType(rawValue: UInt32(f.wireType)),
                                                  len: f.data.count, data: bytes(f.data))
        }
        base.n_unknown_fields = UInt32(fields.count)
        base.unknown_fields = arr
    }
}

typealias UnknownFieldValue = (tag: UInt32, wireType: UInt8, data: [UInt8])

/// Reads the unknown fields protobuf-c kept on a message. Field number 0 is not a valid
/// protobuf field (protobuf-c accepts an over-long encoding of it and cannot repack it).
func readUnknownFields(_ base: ProtobufCMessage, context: String) throws -> [(tag: UInt32, wireType: UInt8, data: [UInt8])] {
    var out: [(UInt32, UInt8, [UInt8])] = []
    guard base.n_unknown_fields > 0, let fields = base.unknown_fields else { return [] }
    for i in 0..<Int(base.n_unknown_fields) {
        let f = fields[i]
        if f.tag == 0 { throw CodecError.malformed("\(context): field number 0 is not valid") }
        let data = f.len > 0 && f.data != nil ? Array(UnsafeBufferPointer(start: f.data, count: f.len)) : []
        out.append((f.tag, UInt8(truncatingIfNeeded: f.wire_type.rawValue), data))
    }
    return out
}

/// Errors of the codec layer before they get their file context.
enum CodecError: Error {
    case malformed(String)
}

/// A protobuf-c allocator that refuses to hand out more than a budget in total
/// (lstm_budget_allocator), so that a small hostile message cannot make unpack allocate
/// gigabytes. One per unpack; it must outlive the unpacked message (free it with the same one).
final class BudgetAllocator {
    private let state: UnsafeMutablePointer<lstm_budget_allocator>

    init(budget: Int) {
        state = .allocate(capacity: 1)
        lstm_budget_allocator_init(state, budget)
    }

    deinit { state.deallocate() }

    /// What protobuf-c's unpack and free_unpacked take (the allocator is the struct's first member).
    var pointer: UnsafeMutablePointer<ProtobufCAllocator> {
        UnsafeMutableRawPointer(state).assumingMemoryBound(to: ProtobufCAllocator.self)
    }

    /// True when an allocation was refused, i.e. unpack failed for lack of budget.
    var exhausted: Bool { state.pointee.exhausted != 0 }
}

/// A protobuf-c string as Swift: nil when absent, an error when not UTF-8.
func decodeCString(_ p: UnsafeMutablePointer<CChar>?, _ what: String) throws -> String? {
    guard let p else { return nil }
    guard let s = String(validatingCString: p) else { throw CodecError.malformed("\(what) is not valid UTF-8") }
    return s
}
