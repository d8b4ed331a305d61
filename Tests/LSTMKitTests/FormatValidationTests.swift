import Foundation
import XCTest
@testable import LSTMCodec
@testable import LSTMCore
@testable import LSTMKit

/// Each way a file can be broken, crafted byte by byte: the reader refuses it with the right
/// error kind and a message that names the place.
final class FormatValidationTests: XCTestCase {
    var dir = ""
    /// LSTM I=3, H=4, raw float32: W_x 192 B, W_h 256 B, b_x 64 B, b_h 64 B.
    let base = KitTest.model([LayerSpec(cell: .lstm, inputSize: 3, hiddenSize: 4)], seed: 7)

    override func setUp() {
        dir = KitTest.tempDir(self)
    }

    func expect(_ bytes: [UInt8], _ kind: LSTMError.Kind, _ fragments: [String], name: String = "crafted.lstm",
                file: StaticString = #filePath, line: UInt = #line) {
        guard let e = KitTest.loadError(bytes, in: dir, name: name, file: file, line: line) else { return }
        XCTAssertEqual(e.kind, kind, e.description, file: file, line: line)
        XCTAssertTrue(e.description.contains(name), "the message names the file: \(e.description)", file: file, line: line)
        for f in fragments {
            XCTAssertTrue(e.description.contains(f), "\"\(e.description)\" does not mention \"\(f)\"", file: file, line: line)
        }
        XCTAssertFalse(e.message.contains("\n"), "one line", file: file, line: line)
    }

    func baseFile() throws -> [UInt8] { try KitTest.encode(base) }

    func patch64(_ file: inout [UInt8], at offset: Int, _ value: UInt64) {
        for k in 0..<8 { file[offset + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(k))) }
    }

    /// Lays the blobs out again (aligned, in order) after replacing some tensors' stored bytes;
    /// stored sizes follow, everything else in the header is kept (so raw sizes may now lie).
    func relayout(_ parts: KitTest.Parts, replacing: [Int: [UInt8]]) throws -> [UInt8] {
        var h = parts.header
        var blobs: [UInt8] = []
        for (i, e) in parts.header.tensors.enumerated() {
            let stored = replacing[i] ?? Array(parts.blobs[e.offset..<(e.offset + e.storedSize)])
            blobs += [UInt8](repeating: 0, count: ModelWriter.align(blobs.count) - blobs.count)
            h.tensors[i].offset = blobs.count
            h.tensors[i].storedSize = stored.count
            blobs += stored
        }
        return try KitTest.assemble(header: h, blobs: blobs)
    }

    func testTheBaseFileIsValid() throws {
        let path = dir + "/ok.lstm"
        KitTest.write(try baseFile(), to: path)
        XCTAssertEqual(try ModelReader(path: path).model(), base)
    }

    func testBadMagic() throws {
        var f = try baseFile()
        f[1] = UInt8(ascii: "X")
        expect(f, .badMagic, ["magic"])
        expect(Array("{\"format\": \"lstmtool-json\"}".utf8), .badMagic, ["magic"], name: "text.lstm")
        expect([], .badMagic, ["magic"], name: "empty.lstm")
    }

    func testTruncatedAtEveryPart() throws {
        let f = try baseFile()
        let parts = try KitTest.split(f)
        let headerEnd = parts.preamble.headerOffset + parts.preamble.headerLength
        let cuts: [(Int, String)] = [
            (4, "preamble"), (20, "preamble"), (63, "preamble"),
            (Preamble.size + 5, "header"), (headerEnd - 1, "header"),
            (parts.preamble.blobOffset + 1, "blob section"), (parts.preamble.blobOffset + 300, "blob section"),
            (f.count - 1, "blob section"),
        ]
        for (cut, part) in cuts {
            expect(Array(f[0..<cut]), .truncated, ["truncated", part], name: "cut\(cut).lstm")
        }
    }

    func testHeaderOutOfBounds() throws {
        var f = try baseFile()
        patch64(&f, at: 16, 8)  // header offset inside the preamble
        expect(f, .outOfBounds, ["header offset 8", "preamble"], name: "inside.lstm")
        f = try baseFile()
        patch64(&f, at: 24, UInt64(f.count))  // header length beyond the end of the file
        expect(f, .truncated, ["header ends at byte \(64 + f.count)"], name: "long.lstm")
        f = try baseFile()
        patch64(&f, at: 24, 1 << 40)  // absurd length: refused before anything is read
        expect(f, .malformedHeader, ["header length"], name: "huge.lstm")
        f = try baseFile()
        patch64(&f, at: 16, UInt64.max - 10)
        expect(f, .outOfBounds, ["preamble offsets"], name: "wrap.lstm")
    }

    func testHeaderCRCMismatch() throws {
        var f = try baseFile()
        f[Preamble.size + 10] ^= 0x01
        expect(f, .checksum, ["header CRC mismatch"])
    }

    func testBlobOutOfBounds() throws {
        let parts = try KitTest.split(try baseFile())
        var h = parts.header
        h.tensors[1].offset = parts.blobs.count
        expect(try KitTest.assemble(header: h, blobs: parts.blobs), .outOfBounds, ["layers.0.forward.W_h", "outside the blob section"])
        h = parts.header
        h.tensors[3].storedSize += 64
        h.tensors[3].rawSize = h.tensors[3].storedSize  // keep raw == stored: only the bounds are wrong
        h.tensors[3].shape = [h.tensors[3].rawSize / 4]
        expect(try KitTest.assemble(header: h, blobs: parts.blobs), .outOfBounds, ["layers.0.forward.b_h", "outside the blob section"], name: "long.lstm")
    }

    func testOverlappingBlobs() throws {
        let parts = try KitTest.split(try baseFile())
        var h = parts.header
        h.tensors[3].offset = h.tensors[2].offset
        expect(try KitTest.assemble(header: h, blobs: parts.blobs), .overlap, ["layers.0.forward.b_x", "layers.0.forward.b_h", "overlap"])
    }

    func testBlobCRCMismatchNamesTheTensorAndSparesTheHeaderReader() throws {
        let f = try baseFile()
        let parts = try KitTest.split(f)
        var bad = f
        let e = parts.header.tensors[2]
        bad[parts.preamble.blobOffset + e.offset + 5] ^= 0x10
        let path = dir + "/flipped.lstm"
        KitTest.write(bad, to: path)
        let reader = try ModelReader(path: path)  // the header is fine
        XCTAssertNoThrow(try InspectReport(reader: reader, stats: false))
        XCTAssertThrowsError(try InspectReport(reader: reader, stats: true)) { error in
            let e = error as? LSTMError
            XCTAssertEqual(e?.kind, .checksum)
            XCTAssertTrue(e?.message.contains("layers.0.forward.b_x: CRC mismatch") ?? false, e?.message ?? "")
        }
        expect(bad, .checksum, ["layers.0.forward.b_x", "CRC mismatch"], name: "flipped.lstm")
    }

    /// Flipping any byte inside any blob (raw or compressed) is caught and names the tensor.
    func testFlippingAnyBlobByteIsCaught() throws {
        for path in ["fixtures/models/lstm.lstm", "fixtures/models/rnn_tanh.lstm", "fixtures/models/gru_reset_before.lstm",
                     "fixtures/models/lstm_peephole_all.lstm"] {
            let f = KitTest.read(KitTest.path(path))
            let parts = try KitTest.split(f)
            let target = dir + "/flip.lstm"
            var flips = 0
            for e in parts.header.tensors {
                for k in 0..<e.storedSize {
                    var bad = f
                    bad[parts.preamble.blobOffset + e.offset + k] ^= 0xFF
                    KitTest.write(bad, to: target)
                    do {
                        _ = try ModelReader(path: target).model()
                        XCTFail("\(path): flipping byte \(k) of \(e.name) went unnoticed")
                    } catch let err as LSTMError {
                        XCTAssertTrue([.checksum, .sizeMismatch].contains(err.kind), err.message)
                        XCTAssertTrue(err.message.contains(e.name), "\(err.message) does not name \(e.name)")
                    }
                    flips += 1
                }
            }
            XCTAssertEqual(flips, parts.header.tensors.map(\.storedSize).reduce(0, +))
        }
    }

    func testInflatedSizeDiffersFromDeclared() throws {
        let zm = KitTest.model([LayerSpec(cell: .lstm, inputSize: 3, hiddenSize: 4)], encoding: .zlib, seed: 7)
        let parts = try KitTest.split(try KitTest.encode(zm))
        let raw = zm.namedTensors[2].tensor.bytes  // b_x, 64 bytes
        let longer = try Zlib.compress(raw + [1, 2, 3, 4, 5, 6, 7, 8], level: 6, strategy: .standard)
        expect(try relayout(parts, replacing: [2: longer]), .sizeMismatch, ["layers.0.forward.b_x", "more than the declared 64"], name: "longer.lstm")
        let shorter = try Zlib.compress(Array(raw[0..<60]), level: 6, strategy: .standard)
        expect(try relayout(parts, replacing: [2: shorter]), .sizeMismatch, ["layers.0.forward.b_x", "64"], name: "shorter.lstm")
        // A shuffled tensor too.
        let sm = KitTest.model([LayerSpec(cell: .lstm, inputSize: 3, hiddenSize: 4)], encoding: .shuffleZlib, seed: 7)
        let sparts = try KitTest.split(try KitTest.encode(sm))
        let garbageTail = try Zlib.compress(byteShuffle(raw, elementSize: 4) + [0, 0, 0, 0], level: 1, strategy: .standard)
        expect(try relayout(sparts, replacing: [2: garbageTail]), .sizeMismatch, ["layers.0.forward.b_x"], name: "shuffled.lstm")
        // Bytes after the end of the zlib stream.
        let trailing = try Zlib.compress(raw, level: 6, strategy: .standard) + [0xAA, 0xBB]
        expect(try relayout(parts, replacing: [2: trailing]), .sizeMismatch, ["layers.0.forward.b_x", "trailing"], name: "trailing.lstm")
    }

    func testDeclaredRawSizeLargerThanTheCompressedBytesCouldHold() throws {
        let zm = KitTest.model([LayerSpec(cell: .lstm, inputSize: 3, hiddenSize: 4)], encoding: .zlib, seed: 7)
        let parts = try KitTest.split(try KitTest.encode(zm))
        var h = parts.header
        h.tensors[0].shape = [16, 3_000_000]
        h.tensors[0].rawSize = 16 * 3_000_000 * 4
        expect(try KitTest.assemble(header: h, blobs: parts.blobs), .sizeMismatch,
               ["layers.0.forward.W_x", "declares 192000000 raw bytes", "compressed bytes can hold"])
        // A raw tensor must store exactly its raw size.
        let rparts = try KitTest.split(try baseFile())
        h = rparts.header
        h.tensors[0].shape = [16, 4]
        h.tensors[0].rawSize = 256
        expect(try KitTest.assemble(header: h, blobs: rparts.blobs), .sizeMismatch, ["layers.0.forward.W_x", "stores 192 bytes"], name: "raw.lstm")
        // raw_size must match the shape.
        h = rparts.header
        h.tensors[1].rawSize = 100
        expect(try KitTest.assemble(header: h, blobs: rparts.blobs), .sizeMismatch, ["layers.0.forward.W_h", "raw_size 100"], name: "rawsize.lstm")
    }

    /// A shape whose byte size overflows 64 bits is refused (it used to trap while building the message).
    func testShapeWhoseByteSizeOverflowsIsRefused() throws {
        let parts = try KitTest.split(try baseFile())
        var h = parts.header
        h.tensors[0].shape = [Int(Int32.max), Int(Int32.max)]
        h.tensors[0].dtype = .float64
        expect(try KitTest.assemble(header: h, blobs: parts.blobs), .sizeMismatch, ["layers.0.forward.W_x", "more than 2^63"])
        h.tensors[0].shape = [Int(Int32.max), Int(Int32.max), Int(Int32.max)]
        expect(try KitTest.assemble(header: h, blobs: parts.blobs), .shape, ["layers.0.forward.W_x", "overflows"], name: "rank3.lstm")
    }

    func testTrailingBytesAfterTheBlobSection() throws {
        expect(try baseFile() + [UInt8](repeating: 0, count: 64), .outOfBounds, ["64 unexpected bytes after the blob section"])
    }

    func testShapesThatDoNotFitTheCell() throws {
        let parts = try KitTest.split(try baseFile())
        // LSTM W_x must be [4H, I] = [16, 3]; [3, 16] has the same size.
        var h = parts.header
        h.tensors[0].shape = [3, 16]
        expect(try KitTest.assemble(header: h, blobs: parts.blobs), .shape, ["layers.0.forward.W_x", "[3, 16]", "expected [16, 3]"], name: "transposed.lstm")
        // The same tensors under a coupled layer: W_x must be [3H, I] = [12, 3].
        h = parts.header
        h.layers[0].lstm.coupled = true
        expect(try KitTest.assemble(header: h, blobs: parts.blobs), .shape, ["layers.0.forward.W_x", "expected [12, 3]", "coupled"], name: "coupled.lstm")
        // A peephole declared but not stored.
        h = parts.header
        h.layers[0].lstm.peepholes = [.output]
        expect(try KitTest.assemble(header: h, blobs: parts.blobs), .missingTensor, ["layer 0", "layers.0.forward.p_o", "[4]"], name: "peephole.lstm")
        // A projection declared: W_h must then be [16, P] and W_proj is missing.
        h = parts.header
        h.layers[0].lstm.projectionSize = 2
        expect(try KitTest.assemble(header: h, blobs: parts.blobs), .shape, ["layers.0.forward.W_h", "expected [16, 2]"], name: "projection.lstm")
        // Duplicate tensor name.
        h = parts.header
        h.tensors[3].name = h.tensors[2].name
        expect(try KitTest.assemble(header: h, blobs: parts.blobs), .invalidModel, ["layers.0.forward.b_x appears twice"], name: "duplicate.lstm")
        // A name outside the scheme, a layer that does not exist, a pass the layer lacks.
        for (bad, fragment) in [("weights", "not named layers.K.PASS.ROLE"), ("layers.3.forward.b_h", "names layer 3"),
                                ("layers.0.reverse.b_h", "no reverse pass"), ("layers.0.forward.W_y", "not named")] {
            h = parts.header
            h.tensors[3].name = bad
            expect(try KitTest.assemble(header: h, blobs: parts.blobs), .extraTensor, [bad, fragment], name: "name.lstm")
        }
        // A bias without bias: extra tensors.
        h = parts.header
        h.layers[0].hasBias = false
        expect(try KitTest.assemble(header: h, blobs: parts.blobs), .extraTensor, ["layers.0.forward.b_x", "unexpected tensor"], name: "nobias.lstm")
    }

    func testExtraPeepholeTensorAndLayerChaining() throws {
        let m = KitTest.model([LayerSpec(cell: .lstm, inputSize: 3, hiddenSize: 4, lstm: LSTMOptions(peepholes: [.input, .forget, .output]))])
        let parts = try KitTest.split(try KitTest.encode(m))
        var h = parts.header
        h.layers[0].lstm.peepholes = [.forget, .output]
        expect(try KitTest.assemble(header: h, blobs: parts.blobs), .extraTensor, ["layers.0.forward.p_i"])
        // A GRU stored as an RNN: W_x has 3 gate blocks where 1 is expected.
        let g = KitTest.model([LayerSpec(cell: .gru, inputSize: 3, hiddenSize: 4)])
        let gparts = try KitTest.split(try KitTest.encode(g))
        h = gparts.header
        h.layers[0].cell = .rnn
        h.layers[0].activations = [[.tanh]]
        expect(try KitTest.assemble(header: h, blobs: gparts.blobs), .shape, ["layers.0.forward.W_x", "expected [4, 3]"], name: "gru-as-rnn.lstm")
        // Two layers whose widths do not chain.
        let two = KitTest.model(KitTest.variants[12].specs)
        let tparts = try KitTest.split(try KitTest.encode(two))
        h = tparts.header
        h.layers[0].direction = .reverse
        h.layers[0].activations = [h.layers[0].activations[0]]
        h.tensors = h.tensors.filter { !$0.name.hasPrefix("layers.0.reverse") }
        expect(try KitTest.assemble(header: h, blobs: tparts.blobs), .extraTensor, ["layers.0.forward"], name: "chain1.lstm")
        h.tensors = h.tensors.map { var t = $0; t.name = t.name.replacingOccurrences(of: "layers.0.forward", with: "layers.0.reverse"); return t }
        expect(try KitTest.assemble(header: h, blobs: tparts.blobs), .invalidModel, ["layer 1: input_size 8", "outputs 4"], name: "chain2.lstm")
    }

    func testNonUTF8String() throws {
        var m = base
        m.metadata.name = "@@MARK@@"
        let parts = try KitTest.split(try KitTest.encode(m))
        var hb = parts.headerBytes
        let r = try XCTUnwrap(hb.firstRange(of: Array("@@MARK@@".utf8)))
        hb.replaceSubrange(r, with: [0x41, 0xFF, 0xFE, 0xC3, 0x28, 0x42, 0x43, 0x44])
        expect(KitTest.assemble(headerBytes: hb, blobs: parts.blobs), .malformedHeader, ["metadata.name", "UTF-8"])
        // In a tensor name too.
        var hb2 = parts.headerBytes
        let r2 = try XCTUnwrap(hb2.firstRange(of: Array("layers.0.forward.W_h".utf8)))
        hb2[r2.lowerBound + 3] = 0xC0
        expect(KitTest.assemble(headerBytes: hb2, blobs: parts.blobs), .malformedHeader, ["tensor 1.name", "UTF-8"], name: "tensorname.lstm")
    }

    func testUnknownEnumValue() throws {
        let parts = try KitTest.split(try baseFile())
        // The tensor message: name (field 1), then dtype (field 2, key 0x10) = 1 (float32).
        let name = Array("layers.0.forward.W_h".utf8)
        var hb = parts.headerBytes
        let r = try XCTUnwrap(hb.firstRange(of: name))
        XCTAssertEqual(Array(hb[r.upperBound..<(r.upperBound + 2)]), [0x10, 0x01])
        hb[r.upperBound + 1] = 9
        expect(KitTest.assemble(headerBytes: hb, blobs: parts.blobs), .malformedHeader, ["layers.0.forward.W_h", "unknown or missing dtype (9)"])
        // The layer message starts with its cell family (field 1, key 0x08) = 2 (LSTM).
        var hb2 = parts.headerBytes
        let lr = try XCTUnwrap(hb2.firstRange(of: [0x08, 0x02, 0x10, 0x03, 0x18, 0x04]))  // cell=LSTM, input 3, hidden 4
        hb2[lr.lowerBound + 1] = 7
        expect(KitTest.assemble(headerBytes: hb2, blobs: parts.blobs), .malformedHeader, ["layer 0", "unknown or missing cell family (7)"], name: "cell.lstm")
    }

    func testGRUWithoutResetAfterIsRefused() throws {
        let g = KitTest.model([LayerSpec(cell: .gru, inputSize: 3, hiddenSize: 4, resetAfter: false)])
        let parts = try KitTest.split(try KitTest.encode(g))
        // reset_after is field 16 (key 0x80 0x01), followed by has_initial_state, field 17 (key 0x88 0x01).
        // Renumbering it to the unknown field 18 (key 0x90 0x01) removes it without changing any length.
        var hb = parts.headerBytes
        let r = try XCTUnwrap(hb.firstRange(of: [0x80, 0x01, 0x00, 0x88, 0x01]))
        hb[r.lowerBound] = 0x90
        expect(KitTest.assemble(headerBytes: hb, blobs: parts.blobs), .malformedHeader, ["layer 0", "reset_after"])
    }

    /// Random bytes, random bytes behind a good preamble and mutated headers (with their CRC
    /// fixed so that the protobuf decoder and the checks behind it see them) never crash.
    /// Garbage is refused with an LSTMError. A mutated file is either refused or, where the
    /// change lands in bytes that carry no meaning (alignment padding), read as exactly the
    /// original model: never a different model.
    func testGarbageIsRefusedAndMutationsNeverChangeTheModel() throws {
        var rng = KitTest.RNG(99)
        let path = dir + "/garbage.lstm"
        let original = KitTest.model(KitTest.variants[7].specs, encoding: .zlib)
        var refused = 0, unchanged = 0
        /// `.refused`: random bytes; `.refusedOrOriginal`: mutations the CRCs cover;
        /// `.anyValidModel`: a header re-checksummed after mutation is a legitimate file.
        enum Expect { case refused, refusedOrOriginal, anyValidModel }
        func attempt(_ bytes: [UInt8], _ expect: Expect = .refused) {
            KitTest.write(bytes, to: path)
            do {
                let r = try ModelReader(path: path)
                _ = try InspectReport(reader: r, stats: false)
                let m = try r.model()
                switch expect {
                case .refused: XCTFail("garbage of \(bytes.count) bytes was accepted")
                case .refusedOrOriginal: XCTAssertEqual(m.layers, original.layers, "a mutation was read as a different model")
                case .anyValidModel: XCTAssertNoThrow(try m.validate())
                }
                unchanged += 1
            } catch is LSTMError {
                refused += 1
            } catch {
                XCTFail("not an LSTMError: \(error)")
            }
        }
        let good = try KitTest.encode(original)
        let parts = try KitTest.split(good)
        for size in [0, 1, 7, 8, 9, 63, 64, 65, 100, 1000, 4096, 70_000] {
            let random = (0..<size).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            attempt(random)
            attempt(Preamble.magic + random)
            attempt(Array(good[0..<Preamble.size]) + random)
        }
        for _ in 0..<400 {
            var hb = parts.headerBytes
            for _ in 0..<(1 + rng.int(4)) {
                let i = rng.int(hb.count)
                switch rng.int(3) {
                case 0: hb[i] = UInt8(truncatingIfNeeded: rng.next())
                case 1: hb[i] ^= 1 << UInt8(rng.int(8))
                default: hb = Array(hb[0..<i])  // cut
                }
                if hb.isEmpty { break }
            }
            attempt(KitTest.assemble(headerBytes: hb, blobs: parts.blobs), .anyValidModel)
        }
        for _ in 0..<200 {
            var f = good
            for _ in 0..<(1 + rng.int(3)) { f[rng.int(f.count)] = UInt8(truncatingIfNeeded: rng.next()) }
            attempt(f, .refusedOrOriginal)
        }
        XCTAssertGreaterThan(refused, 600, "most garbage is refused (\(refused) refused, \(unchanged) read)")
    }
}
