import Foundation
import XCTest
@testable import LSTMCodec
@testable import LSTMCore
@testable import LSTMKit

/// The corruption matrix (docs/SECURITY.md): for a small file of every cell kind, raw and
/// compressed, every single-byte flip, every truncation point and a fixed sample of multi-byte
/// mutations. Each must end in an `LSTMError`, or — where the damaged bytes carry no meaning
/// (padding, the flags and reserved fields, the minor version) — in exactly the model read
/// before. Never a crash, a hang, another error type, or a silently different model.
final class CorruptionMatrixTests: XCTestCase {
    /// How one mutated file was read.
    enum Outcome { case refused(LSTMError.Kind), same, different(String) }

    static func read(_ bytes: [UInt8], expecting original: Model) -> Outcome {
        do {
            let m = try ModelReader(bytes: bytes, name: "mutated.lstm").model()
            // Touch every weight: a raw tensor is read from the mapped bytes lazily.
            for layer in m.layers { for pass in layer.passes { for (_, t) in pass { _ = t.bytes } } }
            return m == original ? .same : .different("reads as another model")
        } catch let e as LSTMError {
            return .refused(e.kind)
        } catch {
            return .different("threw \(type(of: error)): \(error)")
        }
    }

    /// The files: every v1.0 format fixture (one per cell kind and option), as written (raw),
    /// and three of them again with zlib and shuffle+zlib blobs.
    static func files() throws -> [(name: String, bytes: [UInt8])] {
        let dir = KitTest.path("fixtures/format/v1.0")
        var out: [(String, [UInt8])] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() where name.hasSuffix(".lstm") {
            out.append((name, KitTest.read(dir + "/" + name)))
        }
        for (name, enc) in [("lstm.lstm", Encoding.zlib), ("gru_reset_after.lstm", .shuffleZlib), ("rnn_tanh.lstm", .shuffleZlib)] {
            let m = try ModelReader(path: dir + "/" + name).model()
            out.append(("\(name) as \(enc.rawValue)", try KitTest.encode(m, options: WriteOptions(encoding: enc, level: 6, strategy: .standard))))
        }
        return out
    }

    /// Bytes that carry no meaning: flags, minor version, reserved, every padding byte (after
    /// the header, between blobs), and the alignment field (another power of two that every
    /// offset still satisfies names the same layout). Deflate streams have redundant bits of
    /// their own (the padding after the last block, code lengths of unused symbols): a flip
    /// there inflates to the same bytes, which the stream's Adler-32 and the tensor's CRC-32
    /// then prove; such bytes are returned too, as the second set.
    static func meaningless(_ bytes: [UInt8]) throws -> (padding: Set<Int>, deflate: Set<Int>) {
        let parts = try KitTest.split(bytes)
        var s = Set(10..<16).union(56..<64).union(36..<40)
        let pre = parts.preamble
        s.formUnion((pre.headerOffset + pre.headerLength)..<pre.blobOffset)
        var used = [Bool](repeating: false, count: pre.blobLength)
        var deflate = Set<Int>()
        for t in parts.header.tensors {
            for i in t.offset..<(t.offset + t.storedSize) { used[i] = true }
            if t.encoding != .raw { deflate.formUnion((pre.blobOffset + t.offset)..<(pre.blobOffset + t.offset + t.storedSize)) }
        }
        for (i, u) in used.enumerated() where !u { s.insert(pre.blobOffset + i) }
        return (s, deflate)
    }

    func testCorruptionMatrix() throws {
        var flips = 0, truncations = 0, multi = 0, same = 0, sameDeflate = 0, refusedByKind: [String: Int] = [:]
        var rng = SplitMix(seed: 0x1157)
        let started = Date()
        for (name, bytes) in try CorruptionMatrixTests.files() {
            let original = try ModelReader(bytes: bytes, name: name).model()
            let (padding, deflate) = try CorruptionMatrixTests.meaningless(bytes)
            func check(_ mutated: [UInt8], _ what: String, mayBeSame: Bool, inDeflate: Bool = false) {
                switch CorruptionMatrixTests.read(mutated, expecting: original) {
                case .refused(let k): refusedByKind[k.rawValue, default: 0] += 1
                case .same:
                    if inDeflate && !mayBeSame { sameDeflate += 1 } else { same += 1 }
                    XCTAssertTrue(mayBeSame || inDeflate, "\(name): \(what) reads as the same model, but the bytes carry meaning")
                case .different(let why): XCTFail("\(name): \(what) \(why)")
                }
            }
            // Every byte, two flips each: the lowest bit, and all eight bits.
            for i in 0..<bytes.count {
                for mask: UInt8 in [0x01, 0xFF] {
                    var m = bytes
                    m[i] ^= mask
                    flips += 1
                    check(m, "byte \(i) ^ \(String(mask, radix: 16))", mayBeSame: padding.contains(i), inDeflate: deflate.contains(i))
                }
            }
            // Every truncation point.
            for n in 0..<bytes.count {
                truncations += 1
                check(Array(bytes[0..<n]), "truncated to \(n) bytes", mayBeSame: false)
            }
            // A fixed sample of multi-byte mutations: 2–16 random bytes overwritten, a run
            // zeroed, bytes inserted or deleted.
            for _ in 0..<400 {
                var m = bytes
                let what: String
                switch rng.next() % 4 {
                case 0:
                    let k = 2 + Int(rng.next() % 15)
                    var positions: [Int] = []
                    for _ in 0..<k {
                        let p = Int(rng.next() % UInt64(m.count))
                        positions.append(p)
                        m[p] = UInt8(truncatingIfNeeded: rng.next())
                    }
                    what = "bytes \(positions) overwritten"
                    let meaningful = positions.contains { !padding.contains($0) }
                    check(m, what, mayBeSame: !meaningful || m == bytes,
                          inDeflate: positions.allSatisfy { padding.contains($0) || deflate.contains($0) })
                case 1:
                    let p = Int(rng.next() % UInt64(m.count)), n = min(m.count - p, 1 + Int(rng.next() % 64))
                    for i in p..<(p + n) { m[i] = 0 }
                    what = "bytes \(p)..<\(p + n) zeroed"
                    check(m, what, mayBeSame: (p..<(p + n)).allSatisfy { padding.contains($0) || bytes[$0] == 0 },
                          inDeflate: (p..<(p + n)).allSatisfy { padding.contains($0) || deflate.contains($0) || bytes[$0] == 0 })
                case 2:
                    let p = Int(rng.next() % UInt64(m.count + 1)), n = 1 + Int(rng.next() % 8)
                    m.insert(contentsOf: (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: p)
                    check(m, "\(n) bytes inserted at \(p)", mayBeSame: false)
                default:
                    let p = Int(rng.next() % UInt64(m.count)), n = min(m.count - p, 1 + Int(rng.next() % 8))
                    m.removeSubrange(p..<(p + n))
                    check(m, "\(n) bytes deleted at \(p)", mayBeSame: false)
                }
                multi += 1
            }
        }
        let seconds = Date().timeIntervalSince(started)
        let kinds = refusedByKind.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        print("corruption matrix: \(flips) single-byte flips, \(truncations) truncations, \(multi) multi-byte mutations; "
              + "\(same) read as the same model (padding, flags, reserved, minor, alignment), \(sameDeflate) as the same model through "
              + "redundant deflate bits (output proven by Adler-32 and CRC-32), the rest refused (\(kinds)); "
              + String(format: "%.1f s", seconds))
    }
}

/// A small deterministic generator (SplitMix64) so the multi-byte sample is the same every run.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
