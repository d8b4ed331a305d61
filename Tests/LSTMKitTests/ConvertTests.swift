import Foundation
import XCTest
@testable import LSTMCodec
@testable import LSTMCore
@testable import LSTMKit

/// The converters: proof by the source frameworks' outputs, bit-exact round trips, gate
/// conventions, and one-line errors on bad input (docs/CONVERSIONS.md).
final class ConvertTests: XCTestCase {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static func path(_ relative: String) -> String { root + "/" + relative }

    func tempDir() throws -> String {
        let dir = NSTemporaryDirectory() + "lstmtool-convert-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    func cases(_ suite: String, having file: String) throws -> [String] {
        let base = ConvertTests.path("fixtures/\(suite)")
        return try FileManager.default.contentsOfDirectory(atPath: base).sorted()
            .map { base + "/" + $0 }.filter { FileManager.default.fileExists(atPath: $0 + "/" + file) }
    }

    // MARK: proof by the source's outputs

    /// Every fixtures/converted case (PyTorch safetensors and ONNX exports, onnxruntime-run
    /// ONNX goldens) imports and reproduces the source's outputs in f32 and f64.
    func testConvertedGoldensReproduceTheSourceOutputs() throws {
        let goldens = try GoldenCase.discover(under: ConvertTests.path("fixtures/converted"))
        XCTAssertGreaterThanOrEqual(goldens.count, 40)
        var onnx = 0, safetensors = 0
        for g in goldens {
            let golden = try GoldenCase(path: g)
            if golden.model?.hasSuffix(".onnx") == true { onnx += 1 } else { safetensors += 1 }
            for precision in Precision.allCases where golden.expected[precision] != nil {
                let r = Verifier.verify(golden, precision: precision, modelPath: nil)
                XCTAssertEqual(r.status, .pass, "\(golden.name) [\(precision.rawValue)]: \(r.error ?? r.outputs.filter { !$0.passed }.map(\.name).joined(separator: ","))")
            }
        }
        XCTAssertEqual(safetensors, try cases("pytorch", having: "model.safetensors").count + cases("pytorch", having: "model_in_module.safetensors").count)
        XCTAssertEqual(onnx, try cases("golden", having: "model.onnx").count + cases("pytorch", having: "model.onnx").count)
    }

    /// Each ONNX golden model imports to the same function as the canonical model.json:
    /// spot-check that the import's spec matches (peepholes kept, coupled, clip, activations).
    func testONNXImportMatchesTheCanonicalSpecs() throws {
        for dir in try cases("golden", having: "model.onnx") {
            let imported = try ModelFormats.read(dir + "/model.onnx").model
            let canonical = try ModelFormats.read(dir + "/model.json").model
            XCTAssertEqual(imported.layers.count, canonical.layers.count, dir)
            for (a, b) in zip(imported.layers, canonical.layers) {
                XCTAssertEqual(a.spec.cell, b.spec.cell, dir)
                XCTAssertEqual(a.spec.direction, b.spec.direction, dir)
                XCTAssertEqual(a.spec.hiddenSize, b.spec.hiddenSize, dir)
                XCTAssertEqual(a.spec.activations, b.spec.activations, dir)
                XCTAssertEqual(a.spec.activationClip, b.spec.activationClip, dir)
                XCTAssertEqual(a.spec.lstm.coupled, b.spec.lstm.coupled, dir)
                XCTAssertEqual(a.spec.resetAfter, b.spec.resetAfter, dir)
                XCTAssertEqual(a.spec.hasBias, b.spec.hasBias, dir)
            }
            XCTAssertEqual(imported.metadata.sourceFramework, "onnx")
            XCTAssertEqual(imported.metadata.sourceFile, "model.onnx")
            XCTAssertTrue(imported.metadata.producerName?.hasPrefix("lstmtool") ?? false)
        }
    }

    // MARK: round trips

    /// safetensors → Model → .lstm → Model → safetensors gives the same tensors, bit for bit.
    func testSafetensorsRoundTripIsBitExact() throws {
        let dir = try tempDir()
        for c in try cases("pytorch", having: "model.safetensors") {
            let src = c + "/model.safetensors"
            var opts = ImportOptions()
            if c.hasSuffix("rnn_relu_2l_bi") { opts.nonlinearity = .relu }
            let model = try ModelFormats.read(src, options: opts).model
            try ModelFormats.write(model, to: dir + "/m.lstm")
            try ModelFormats.write(try ModelFormats.read(dir + "/m.lstm").model, to: dir + "/back.safetensors")
            let a = try SafetensorsFile(path: src)
            let b = try SafetensorsFile(path: dir + "/back.safetensors")
            XCTAssertEqual(Set(a.entries.map(\.name)), Set(b.entries.map(\.name)), c)
            for e in a.entries {
                guard let f = b.entries.first(where: { $0.name == e.name }) else { continue }
                XCTAssertEqual(e.dtype, f.dtype, "\(c) \(e.name)")
                XCTAssertEqual(e.shape, f.shape, "\(c) \(e.name)")
                XCTAssertEqual(a.bytes(e), b.bytes(f), "\(c) \(e.name) differs")
            }
            XCTAssertTrue(b.metadata.contains { $0.key == "format" && $0.value == "pt" })
            // The nonlinearity travels in __metadata__, so the re-import needs no option.
            let reread = try ModelFormats.read(dir + "/back.safetensors")
            XCTAssertFalse(reread.notes.contains { $0.contains("assumed tanh") }, c)
            let again = reread.model
            XCTAssertEqual(again.layers.map(\.spec.activations), model.layers.map(\.spec.activations), c)
            XCTAssertEqual(again.layers.map(\.passes), model.layers.map(\.passes), c)
        }
    }

    /// onnx → Model → .lstm → Model → onnx → Model keeps every weight bit for bit.
    func testONNXRoundTripIsBitExact() throws {
        let dir = try tempDir()
        let sources = try cases("golden", having: "model.onnx").map { $0 + "/model.onnx" }
            + cases("pytorch", having: "model.onnx").map { $0 + "/model.onnx" }
        XCTAssertGreaterThan(sources.count, 25)
        for src in sources {
            let first = try ModelFormats.read(src).model
            try ModelFormats.write(first, to: dir + "/m.lstm")
            try ModelFormats.write(try ModelFormats.read(dir + "/m.lstm").model, to: dir + "/back.onnx")
            let second = try ModelFormats.read(dir + "/back.onnx").model
            XCTAssertEqual(first.layers.map(\.spec), second.layers.map(\.spec), src)
            XCTAssertEqual(first.layers.map(\.passes), second.layers.map(\.passes), src)
            // And the ONNX tensors themselves: W/R/B/P of the re-export equal the first export's.
            let e1 = try ONNXCodec.decode(try ONNXExporter.encode(first), context: "first")
            let e2 = try ONNXCodec.decode(try ONNXExporter.encode(second), context: "second")
            XCTAssertEqual(e1.graph?.initializers, e2.graph?.initializers, src)
        }
    }

    /// Learned initial states and coupled LSTMs survive the ONNX export (as initializer
    /// defaults and input_forget=1 with the negated forget gate).
    func testONNXExportKeepsLearnedStatesAndCoupledGates() throws {
        let dir = try tempDir()
        for name in ["lstm_learned_initial_state", "lstm_coupled", "gru_reset_before", "lstm_activations", "lstm_peephole_subset"] {
            let model = try ModelFormats.read(ConvertTests.path("fixtures/golden/\(name)/model.json")).model
            try ModelFormats.write(model, to: dir + "/x.onnx")
            let back = try ModelFormats.read(dir + "/x.onnx").model
            for (a, b) in zip(model.layers, back.layers) {
                XCTAssertEqual(a.spec.hasInitialState, b.spec.hasInitialState, name)
                XCTAssertEqual(a.spec.lstm.coupled, b.spec.lstm.coupled, name)
                XCTAssertEqual(a.spec.resetAfter, b.spec.resetAfter, name)
                for (pa, pb) in zip(a.passes, b.passes) {
                    for (role, t) in pa {
                        guard let u = pb[role] else { XCTFail("\(name): \(role.rawValue) lost"); continue }
                        XCTAssertEqual(t.converted(to: u.dtype).bytes, u.bytes, "\(name) \(role.rawValue)")
                    }
                }
            }
        }
    }

    // MARK: conventions

    /// ONNX i,o,f,c → canonical i,f,g,o and PyTorch GRU r,z,n → z,r,n, on labelled blocks.
    func testGateOrdersMoveLabelledBlocks() throws {
        func labelled(_ order: [Gate]) -> ModelTensor {
            ModelTensor(order.map { Float(Gate.allCases.firstIndex(of: $0)!) }, shape: [order.count])
        }
        let onnx = labelled(GateConventions.order(.onnx, .lstm))
        let ours = try GateConventions.reorder(onnx, from: GateConventions.order(.onnx, .lstm), to: GateConventions.order(.lstmtool, .lstm))
        XCTAssertEqual(ours.floats(), [Gate.input, .forget, .candidate, .output].map { Float(Gate.allCases.firstIndex(of: $0)!) })
        let torchGRU = labelled(GateConventions.order(.pytorch, .gru))
        let gru = try GateConventions.reorder(torchGRU, from: GateConventions.order(.pytorch, .gru), to: GateConventions.order(.lstmtool, .gru))
        XCTAssertEqual(gru.floats(), [Gate.update, .reset, .new].map { Float(Gate.allCases.firstIndex(of: $0)!) })
        XCTAssertEqual(GateConventions.peepholeOrder(.onnx), [.input, .output, .forget])
    }

    // MARK: refusals

    func testExportRefusalsSayWhy() throws {
        let cases: [(String, String, String)] = [
            ("lstm_projection", "onnx", "projection"), ("lstm_cell_clip", "onnx", "cell state"),
            ("lstm_peephole_all", "safetensors", "peephole"), ("lstm_coupled", "safetensors", "couples"),
            ("gru_reset_before", "safetensors", "reset-before"), ("gru_clip", "safetensors", "clips"),
            ("lstm_activations", "safetensors", "activations"), ("lstm_learned_initial_state", "safetensors", "initial states"),
            ("rnn_reverse", "safetensors", "reverse"),
        ]
        let dir = try tempDir()
        for (name, format, word) in cases {
            let out = dir + "/out.\(format)"
            try Data("keep".utf8).write(to: URL(fileURLWithPath: out))
            let r = try KitTest.run(["convert", "fixtures/golden/\(name)/model.json", out])
            XCTAssertEqual(r.status, 1, name)
            XCTAssertTrue(r.stderr.hasPrefix("error: ") && r.stderr.contains(word), "\(name): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertEqual(try String(contentsOfFile: out, encoding: .utf8), "keep", "\(name): output touched")
        }
    }

    // MARK: bad input

    /// Runs `lstmtool convert BAD out.lstm` and checks: exit 1, one `error:` line naming
    /// every fragment, and the output left as it was.
    func assertConvertFails(_ input: String, _ fragments: [String], args: [String] = [], file: StaticString = #filePath, line: UInt = #line) throws {
        let out = (AtomicFile.directoryOf(input)) + "/out.lstm"
        try Data("keep".utf8).write(to: URL(fileURLWithPath: out))
        let r = try KitTest.run(["convert", input, out] + args)
        XCTAssertEqual(r.status, 1, r.stderr, file: file, line: line)
        let lines = r.stderr.split(separator: "\n").filter { !$0.hasPrefix("note: ") }
        XCTAssertEqual(lines.count, 1, r.stderr, file: file, line: line)
        XCTAssertTrue(lines.first?.hasPrefix("error: ") ?? false, r.stderr, file: file, line: line)
        for f in fragments { XCTAssertTrue(r.stderr.contains(f), "\"\(r.stderr)\" does not mention \"\(f)\"", file: file, line: line) }
        XCTAssertEqual(try String(contentsOfFile: out, encoding: .utf8), "keep", "output touched", file: file, line: line)
    }

    func safetensors(_ header: String, data: Int, lengthOverride: UInt64? = nil) -> [UInt8] {
        var out: [UInt8] = []
        let h = Array(header.utf8)
        appendLE(lengthOverride ?? UInt64(h.count), &out)
        return out + h + [UInt8](repeating: 0, count: data)
    }

    func testBadSafetensorsGiveOneLineErrors() throws {
        let dir = try tempDir()
        func write(_ name: String, _ bytes: [UInt8]) throws -> String {
            let p = dir + "/" + name + ".safetensors"
            try Data(bytes).write(to: URL(fileURLWithPath: p))
            return p
        }
        let good = try Array(Data(contentsOf: URL(fileURLWithPath: ConvertTests.path("fixtures/pytorch/lstm_1l/model.safetensors"))))
        try assertConvertFails(try write("short", Array(good.prefix(5))), ["short.safetensors", "too short"])
        try assertConvertFails(try write("truncated", Array(good.prefix(good.count - 3))), ["truncated.safetensors"])
        try assertConvertFails(try write("garbage", (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 37) }), ["garbage.safetensors"])
        try assertConvertFails(try write("overrun", safetensors("{}", data: 0, lengthOverride: 4096)), ["overrun.safetensors", "overruns"])
        try assertConvertFails(try write("huge", safetensors("{}", data: 0, lengthOverride: 1 << 40)), ["huge.safetensors", "100 MB"])
        let f = #"{"weight_ih_l0":{"dtype":"F32","shape":[4,1],"data_offsets":[0,16]},"weight_hh_l0":{"dtype":"F32","shape":[4,1],"data_offsets":[8,24]}}"#
        try assertConvertFails(try write("overlap", safetensors(f, data: 24)), ["overlap.safetensors", "weight_hh_l0", "overlap"])
        let d = #"{"weight_ih_l0":{"dtype":"F32","shape":[4,1],"data_offsets":[0,16]},"weight_ih_l0":{"dtype":"F32","shape":[4,1],"data_offsets":[16,32]}}"#
        try assertConvertFails(try write("duplicate", safetensors(d, data: 32)), ["duplicate.safetensors", "duplicate key \"weight_ih_l0\""])
        let u = #"{"weight_ih_l0":{"dtype":"F7","shape":[4,1],"data_offsets":[0,16]}}"#
        try assertConvertFails(try write("dtype", safetensors(u, data: 16)), ["weight_ih_l0", "unknown dtype \"F7\""])
        let s = #"{"weight_ih_l0":{"dtype":"F32","shape":[4,2],"data_offsets":[0,16]}}"#
        try assertConvertFails(try write("size", safetensors(s, data: 16)), ["weight_ih_l0", "needs 32 bytes"])
        let m = #"{"__metadata__":{"format":3},"weight_ih_l0":{"dtype":"F32","shape":[4,1],"data_offsets":[0,16]}}"#
        try assertConvertFails(try write("meta", safetensors(m, data: 16)), ["__metadata__.format"])
        let g = #"{"weight_ih_l0":{"dtype":"F32","shape":[4,1],"data_offsets":[0,16]}}"#
        try assertConvertFails(try write("gap", safetensors(g, data: 20)), ["gap.safetensors", "cover 16 bytes"])
        // Contradictory option: --cell gru on LSTM-shaped weights.
        try FileManager.default.copyItem(atPath: ConvertTests.path("fixtures/pytorch/lstm_1l/model.safetensors"), toPath: dir + "/lstm.safetensors")
        try assertConvertFails(dir + "/lstm.safetensors", ["--cell gru", "weight_ih_l0"], args: ["--cell", "gru"])
        // Several modules without --prefix: the error lists them.
        let two = #"{"a.weight_ih_l0":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]},"a.weight_hh_l0":{"dtype":"F32","shape":[1,1],"data_offsets":[4,8]},"b.weight_ih_l0":{"dtype":"F32","shape":[1,1],"data_offsets":[8,12]},"b.weight_hh_l0":{"dtype":"F32","shape":[1,1],"data_offsets":[12,16]}}"#
        try assertConvertFails(try write("two", safetensors(two, data: 16)), ["a.", "b.", "--prefix"])
    }

    /// Decodes a golden ONNX model, lets `edit` break it, and writes it beside a copy.
    func mutatedONNX(_ dir: String, _ name: String, from source: String, _ edit: (inout ONNXModelProto) -> Void) throws -> String {
        var m = try ONNXCodec.decode(try readWholeFile(ConvertTests.path(source)), context: source)
        edit(&m)
        let p = dir + "/" + name + ".onnx"
        try Data(try ONNXCodec.encode(m)).write(to: URL(fileURLWithPath: p))
        return p
    }

    func editNode(_ m: inout ONNXModelProto, op: String, _ edit: (inout ONNXNode) -> Void) {
        guard var g = m.graph, let i = g.nodes.firstIndex(where: { $0.opType == op }) else { return }
        edit(&g.nodes[i])
        m.graph = g
    }

    func testBadONNXGivesOneLineErrors() throws {
        let dir = try tempDir()
        let good = try readWholeFile(ConvertTests.path("fixtures/golden/lstm_clip/model.onnx"))
        try Data(good.prefix(good.count / 2)).write(to: URL(fileURLWithPath: dir + "/truncated.onnx"))
        try assertConvertFails(dir + "/truncated.onnx", ["truncated.onnx"])
        try Data((0..<500).map { UInt8(truncatingIfNeeded: $0 &* 91 &+ 7) }).write(to: URL(fileURLWithPath: dir + "/garbage.onnx"))
        try assertConvertFails(dir + "/garbage.onnx", ["garbage.onnx"])
        try Data().write(to: URL(fileURLWithPath: dir + "/empty.onnx"))
        try assertConvertFails(dir + "/empty.onnx", ["empty.onnx"])

        let src = "fixtures/golden/lstm_activations/model.onnx"
        let unknown = try mutatedONNX(dir, "unknown_activation", from: src) { m in
            editNode(&m, op: "LSTM") { n in
                n.attributes = n.attributes.map { $0.name == "activations" ? .strings("activations", ["HardSigmoid", "Swish", "Affine", "HardSigmoid", "Affine", "ScaledTanh"]) : $0 }
            }
        }
        try assertConvertFails(unknown, ["lstm_0", "activations", "unknown activation \"Swish\""])
        let alphas = try mutatedONNX(dir, "alpha", from: src) { m in
            editNode(&m, op: "LSTM") { n in n.attributes.append(.floats("activation_alpha", [1, 2, 3, 4, 5, 6, 7])); n.attributes.removeAll { $0.name == "activation_alpha" && $0.floats.count == 6 } }
        }
        try assertConvertFails(alphas, ["activation_alpha has 7 values"])
        let hidden = try mutatedONNX(dir, "hidden", from: "fixtures/golden/lstm_clip/model.onnx") { m in
            editNode(&m, op: "LSTM") { n in n.attributes = n.attributes.map { $0.name == "hidden_size" ? .int("hidden_size", 5) : $0 } }
        }
        try assertConvertFails(hidden, ["lstm_0", "hidden_size is 5"])
        let coupled = try mutatedONNX(dir, "coupled", from: src) { m in
            editNode(&m, op: "LSTM") { n in n.attributes.append(.int("input_forget", 1)) }
        }
        try assertConvertFails(coupled, ["input_forget", "HardSigmoid", "Sigmoid"])
        let direction = try mutatedONNX(dir, "direction", from: "fixtures/golden/rnn_tanh/model.onnx") { m in
            editNode(&m, op: "RNN") { n in n.attributes = n.attributes.map { $0.name == "direction" ? .string("direction", "sideways") : $0 } }
        }
        try assertConvertFails(direction, ["rnn_0", "direction", "sideways"])
        let external = try mutatedONNX(dir, "external", from: "fixtures/golden/rnn_tanh/model.onnx") { m in
            guard var g = m.graph, let i = g.initializers.firstIndex(where: { $0.name == "W_0" }) else { return }
            g.initializers[i].rawData = nil
            g.initializers[i].isExternal = true
            g.initializers[i].externalData = [("location", "../secret.bin")]
            m.graph = g
        }
        try assertConvertFails(external, ["W_0", "../secret.bin", "relative path"])
        // A wrong perm between stacked layers (PyTorch's old exporter bug) is refused, not imported.
        let perm = try mutatedONNX(dir, "perm", from: "fixtures/golden/lstm_2l_bidirectional/model.onnx") { m in
            editNode(&m, op: "Transpose") { n in n.attributes = [.ints("perm", [0, 2, 3, 1])] }
        }
        try assertConvertFails(perm, ["lstm_1"])
    }

    /// Weights from external data files beside the model, and in the typed fields.
    func testONNXExternalAndTypedData() throws {
        let dir = try tempDir()
        let src = "fixtures/golden/gru_reset_before/model.onnx"
        var blob: [UInt8] = []
        let external = try mutatedONNX(dir, "external", from: src) { m in
            guard var g = m.graph else { return }
            for (i, t) in g.initializers.enumerated() where t.name == "W_0" || t.name == "R_0" {
                guard let raw = t.rawData else { continue }
                g.initializers[i].externalData = [("location", "weights.bin"), ("offset", String(blob.count)), ("length", String(raw.count))]
                g.initializers[i].isExternal = true
                g.initializers[i].rawData = nil
                blob += raw
            }
            // B in the typed float field.
            if let b = g.initializers.firstIndex(where: { $0.name == "B_0" }), let raw = g.initializers[b].rawData {
                g.initializers[b].floatData = stride(from: 0, to: raw.count, by: 4).map { Float(bitPattern: UInt32(raw[$0]) | UInt32(raw[$0 + 1]) << 8 | UInt32(raw[$0 + 2]) << 16 | UInt32(raw[$0 + 3]) << 24) }
                g.initializers[b].rawData = nil
            }
            m.graph = g
        }
        try Data(blob).write(to: URL(fileURLWithPath: dir + "/weights.bin"))
        let a = try ModelFormats.read(external).model
        let b = try ModelFormats.read(ConvertTests.path(src)).model
        XCTAssertEqual(a.layers.map(\.passes), b.layers.map(\.passes))
        // A length beyond the file is refused.
        try Data(blob.prefix(blob.count - 4)).write(to: URL(fileURLWithPath: dir + "/weights.bin"))
        try assertConvertFails(external, ["R_0", "weights.bin"])
    }

    /// A graph with two independent stacks needs --node; with it, the named one is imported.
    func testSeveralStacksNeedNode() throws {
        let dir = try tempDir()
        let twin = try mutatedONNX(dir, "twin", from: "fixtures/golden/rnn_tanh/model.onnx") { m in
            guard var g = m.graph, let rnn = g.nodes.first(where: { $0.opType == "RNN" }) else { return }
            var copy = rnn
            copy.name = "rnn_twin"
            copy.outputs = ["Y_twin", "Yh_twin"]
            g.nodes.append(copy)
            m.graph = g
        }
        try assertConvertFails(twin, ["2 recurrent stacks", "rnn_0", "rnn_twin", "--node"])
        let notesResult = try ModelFormats.read(twin, options: ImportOptions(node: "rnn_twin"))
        let notes = notesResult.notes
        let m = notesResult.model
        XCTAssertEqual(m.layers.count, 1)
        XCTAssertTrue(notes.contains { $0.contains("rnn_0") }, "\(notes)")
    }

    func testSafetensorsPrefixSelection() throws {
        let notesResult = try ModelFormats.read(ConvertTests.path("fixtures/pytorch/lstm_2l_bi/model_in_module.safetensors"))
        let notes = notesResult.notes
        let m = notesResult.model
        XCTAssertEqual(m.layers.count, 2)
        XCTAssertTrue(notes.contains { $0.contains("encoder.rnn.") })
        XCTAssertThrowsError(try ModelFormats.read(ConvertTests.path("fixtures/pytorch/lstm_2l_bi/model_in_module.safetensors"),
                                                  options: ImportOptions(prefix: "decoder.")).model) { e in
            XCTAssertTrue("\(e)".contains("encoder.rnn."), "\(e)")
        }
        let rnnNotesResult = try ModelFormats.read(ConvertTests.path("fixtures/pytorch/rnn_tanh/model.safetensors"))
        let rnnNotes = rnnNotesResult.notes
        _ = rnnNotesResult.model
        XCTAssertTrue(rnnNotes.contains { $0.contains("assumed tanh") })
    }
}
