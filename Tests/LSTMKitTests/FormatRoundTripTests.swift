import Foundation
import XCTest
@testable import LSTMCodec
@testable import LSTMCore
@testable import LSTMKit

/// Every cell family and variant, every dtype and every encoding survive .lstm bytes and the
/// JSON form bit for bit, and so do NaN payloads, -0.0, infinities and unknown header fields.
final class FormatRoundTripTests: XCTestCase {
    func readBack(_ model: Model, _ dir: String, _ name: String, options: WriteOptions = WriteOptions()) throws -> Model {
        let path = "\(dir)/\(name).lstm"
        try ModelWriter.write(model, to: path, options: options)
        return try ModelReader(path: path).model()
    }

    func jsonBack(_ model: Model) throws -> Model {
        try JSONForm.decode(Array(try JSONForm.encode(model).utf8), path: "<json>")
    }

    func testEveryVariantDTypeAndEncodingRoundTripsThroughLSTMAndJSON() throws {
        let dir = KitTest.tempDir(self)
        var checked = 0
        for (vi, variant) in KitTest.variants.enumerated() {
            for dtype in DType.allCases {
                for encoding in Encoding.allCases {
                    let name = "\(variant.name)-\(dtype.rawValue)-\(encoding.rawValue)"
                    let m = KitTest.model(variant.specs, dtype: dtype, encoding: encoding, seed: UInt64(vi * 16 + 1), name: name)
                    let back = try readBack(m, dir, name)
                    XCTAssertEqual(back, m, name)
                    // Equal as values: same tensors (dtype, shape, bytes, encoding) and the same specs.
                    for (a, b) in zip(back.namedTensors, m.namedTensors) {
                        XCTAssertEqual(a.name, b.name, name)
                        XCTAssertEqual(a.tensor.bytes, b.tensor.bytes, "\(name) \(a.name)")
                        XCTAssertEqual(a.tensor.dtype, dtype, "\(name) \(a.name)")
                        XCTAssertEqual(a.tensor.encoding, encoding, "\(name) \(a.name)")
                    }
                    // Writing what was read gives the same bytes again.
                    XCTAssertEqual(try KitTest.encode(back), try KitTest.encode(m), name)
                    let viaJSON = try jsonBack(back)
                    XCTAssertEqual(viaJSON, m, "\(name) via JSON")
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, KitTest.variants.count * 12)
    }

    func testWriteOptionsEncodingOverridesEveryTensor() throws {
        let dir = KitTest.tempDir(self)
        let m = KitTest.model(KitTest.variants[4].specs, dtype: .float16, encoding: .raw)
        for enc in Encoding.allCases {
            let back = try readBack(m, dir, "o-\(enc.rawValue)", options: WriteOptions(encoding: enc, level: 9))
            XCTAssertEqual(Set(back.namedTensors.map(\.tensor.encoding)), [enc])
            XCTAssertEqual(back.namedTensors.map(\.tensor.bytes), m.namedTensors.map(\.tensor.bytes))
            let header = try KitTest.split(try KitTest.encode(m, options: WriteOptions(encoding: enc))).header
            for e in header.tensors {
                XCTAssertEqual(e.encoding, enc)
                if enc == .raw { XCTAssertEqual(e.storedSize, e.rawSize) }
                XCTAssertEqual(e.offset % Preamble.alignment, 0, "blob offsets are aligned")
            }
        }
    }

    /// Special bit patterns of each dtype: NaNs with payloads (quiet, signalling, negative),
    /// -0.0, ±Inf, the smallest subnormal, the largest finite value and an inexact decimal.
    static let specialBits: [DType: [UInt64]] = [
        .float32: [0x7FC0_0001, 0x7F80_0001, 0xFFC0_0000, 0x8000_0000, 0x7F80_0000, 0xFF80_0000, 0x0000_0001, 0x7F7F_FFFF],
        .float16: [0x7E01, 0x7C01, 0xFE00, 0x8000, 0x7C00, 0xFC00, 0x0001, 0x7BFF],
        .bfloat16: [0x7FC1, 0x7F81, 0xFFC0, 0x8000, 0x7F80, 0xFF80, 0x0001, 0x3DCD],
        .float64: [0x7FF8_0000_0000_0001, 0x7FF0_0000_0000_0001, 0xFFF8_0000_0000_0000, 0x8000_0000_0000_0000,
                   0x7FF0_0000_0000_0000, 0xFFF0_0000_0000_0000, 0x0000_0000_0000_0001, 0x3FB9_9999_9999_999A],
    ]

    static func specialTensor(_ dtype: DType, encoding: Encoding) throws -> ModelTensor {
        var bytes: [UInt8] = []
        for b in specialBits[dtype]! {
            for k in 0..<dtype.size { bytes.append(UInt8(truncatingIfNeeded: b >> (8 * UInt64(k)))) }
        }
        return try ModelTensor(dtype: dtype, shape: [4, 2], bytes: bytes, encoding: encoding)
    }

    func testNaNPayloadsNegativeZeroAndInfinitySurviveBitForBit() throws {
        let dir = KitTest.tempDir(self)
        let spec = LayerSpec(cell: .rnn, inputSize: 2, hiddenSize: 4)
        for dtype in DType.allCases {
            for enc in Encoding.allCases {
                var m = KitTest.model([spec], dtype: dtype, encoding: enc)
                let special = try Self.specialTensor(dtype, encoding: enc)
                m.layers[0].passes[0][.inputWeights] = special
                let back = try readBack(m, dir, "special-\(dtype.rawValue)-\(enc.rawValue)")
                XCTAssertEqual(back.layers[0].passes[0][.inputWeights]?.bytes, special.bytes, "\(dtype) \(enc) via .lstm")
                let json = try JSONForm.encode(back)
                let viaJSON = try jsonBack(back)
                XCTAssertEqual(viaJSON.layers[0].passes[0][.inputWeights]?.bytes, special.bytes, "\(dtype) \(enc) via JSON")
                XCTAssertEqual(viaJSON, m)
                // A NaN with a payload cannot be a decimal: the JSON form falls back to the bits.
                XCTAssertTrue(json.contains("bits_hex"), "\(dtype): payload NaNs are written as bits")
            }
        }
        // Without payload NaNs, -0.0 and ±inf are written as values and still come back exactly.
        let plain = try ModelTensor(dtype: .float32, shape: [4, 2],
                               bytes: [0x8000_0000, 0x7F80_0000, 0xFF80_0000, 0x7FC0_0000, 0x3DCC_CCCD, 0x3F80_0000, 0x7F7F_FFFF, 0].flatMap { (b: UInt32) in
                                   (0..<4).map { UInt8(truncatingIfNeeded: b >> (8 * $0)) }
                               })
        var m = KitTest.model([spec])
        m.layers[0].passes[0][.inputWeights] = plain
        let json = try JSONForm.encode(m)
        XCTAssertFalse(json.contains("bits_hex"))
        XCTAssertTrue(json.contains("-0.0") || json.contains("-0"), "negative zero is written with its sign")
        XCTAssertEqual(try jsonBack(m).layers[0].passes[0][.inputWeights]?.bytes, plain.bytes)
    }

    func testMetadataAndLayerOptionsRoundTrip() throws {
        let dir = KitTest.tempDir(self)
        var m = KitTest.model(KitTest.variants[7].specs)
        m.metadata = Metadata(name: "naïve ✓ model", description: "line one\nline two \"quoted\"", producerName: "tests",
                              producerVersion: "9.9", sourceFramework: "pytorch", sourceFile: "a/b.safetensors",
                              created: "2026-01-02T03:04:05Z", properties: [("z", "last"), ("a", ""), ("k", "v=1")])
        let back = try readBack(m, dir, "meta")
        XCTAssertEqual(back.metadata, m.metadata)
        XCTAssertEqual(back.metadata.properties.map(\.key), ["z", "a", "k"], "property order is kept")
        let spec = back.layers[0].spec
        XCTAssertEqual(spec.lstm.cellClip, 0.75)
        XCTAssertEqual(spec.lstm.projectionClip, 0.5)
        XCTAssertEqual(spec.activationClip?.bitPattern, Double(Float(0.9)).bitPattern, "float32 attribute values are kept exactly")
        XCTAssertEqual(try jsonBack(back), m)
        let acts = try readBack(KitTest.model(KitTest.variants[2].specs), dir, "acts").layers[0].spec.activations
        XCTAssertEqual(acts[0][0].alpha.bitPattern, Double(Float(0.7)).bitPattern)
        XCTAssertEqual(acts[1][0].kind, .leakyRelu)
    }

    /// A field this version does not know, appended to the header message (tag 1000, bytes,
    /// and tag 1001, varint), survives read → write → read, through .lstm and through JSON;
    /// unknown fields of metadata, layers and tensors survive too.
    func testUnknownHeaderFieldsSurviveReadWriteRead() throws {
        let dir = KitTest.tempDir(self)
        let m = KitTest.model(KitTest.variants[3].specs, encoding: .zlib)
        let parts = try KitTest.split(try KitTest.encode(m))
        // tag 1000, wire type 2: key (1000 << 3) | 2 = 8002 = varint C2 3E; then length 5 and "hello".
        let lengthDelimited: [UInt8] = [0xC2, 0x3E, 5] + Array("hello".utf8)
        // tag 1001, wire type 0: key 8008 = C8 3E; value 300 = AC 02.
        let varint: [UInt8] = [0xC8, 0x3E, 0xAC, 0x02]
        let file = KitTest.assemble(headerBytes: parts.headerBytes + lengthDelimited + varint, blobs: parts.blobs)
        let path = dir + "/unknown.lstm"
        KitTest.write(file, to: path)

        let first = try ModelReader(path: path).model()
        XCTAssertEqual(first.unknownFields.map(\.tag), [1000, 1001])
        XCTAssertEqual(first.unknownFields.map(\.wireType), [2, 0])
        XCTAssertEqual(first.layers, m.layers, "the known part reads as before")

        let rewritten = dir + "/rewritten.lstm"
        try ModelWriter.write(first, to: rewritten)
        let rewrittenBytes = KitTest.read(rewritten)
        let header = try KitTest.split(rewrittenBytes).headerBytes
        XCTAssertNotNil(header.firstRange(of: lengthDelimited), "the bytes field is written back as it was")
        XCTAssertNotNil(header.firstRange(of: varint), "the varint field is written back as it was")
        let second = try ModelReader(path: rewritten).model()
        XCTAssertEqual(second, first)

        // Through JSON and back to .lstm.
        let viaJSON = try jsonBack(second)
        XCTAssertEqual(viaJSON.unknownFields, first.unknownFields)
        XCTAssertEqual(try KitTest.encode(viaJSON), rewrittenBytes)

        // The same fields put on the metadata, a layer and a tensor entry.
        var h = parts.header
        h.metadata.unknownFields = first.unknownFields
        h.layers[0].unknownFields = [first.unknownFields[1]]
        h.tensors[2].unknownFields = [first.unknownFields[0]]
        let nested = dir + "/nested.lstm"
        KitTest.write(try KitTest.assemble(header: h, blobs: parts.blobs), to: nested)
        let n1 = try ModelReader(path: nested).model()
        XCTAssertEqual(n1.metadata.unknownFields, first.unknownFields)
        XCTAssertEqual(n1.layers[0].spec.unknownFields, [first.unknownFields[1]])
        XCTAssertEqual(n1.namedTensors[2].tensor.unknownFields, [first.unknownFields[0]])
        let n2 = try readBack(try jsonBack(n1), dir, "nested-again")
        XCTAssertEqual(n2, n1)
        XCTAssertEqual(try KitTest.split(try KitTest.encode(n2)).header, h)
    }
}
