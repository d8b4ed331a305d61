import Foundation
import XCTest
@testable import LSTMCodec
@testable import LSTMCore
@testable import LSTMKit

/// Issue 13, the everyday workflow: `diff`, golden cases made by the tool, the recorded
/// layout and its warning, honest reports, reproducible files, the diff-friendly JSON form.
final class WorkflowTests: XCTestCase {
    func lstmModel(coupled: Bool = false) -> Model {
        KitTest.model([LayerSpec(cell: .lstm, inputSize: 3, hiddenSize: 4, direction: .bidirectional, lstm: LSTMOptions(coupled: coupled)),
                       LayerSpec(cell: .lstm, inputSize: 8, hiddenSize: 4, direction: .bidirectional)], seed: 13, name: "wf")
    }

    /// `model` with element `index` of `role` in `layer`/`pass` replaced by `value`.
    func changing(_ model: Model, layer: Int, pass: Int = 0, role: TensorRole, index: Int, to value: Float) -> Model {
        var m = model
        var v = m.layers[layer].passes[pass][role]!.floats()
        v[index] = value
        m.layers[layer].passes[pass][role] = ModelTensor(v, shape: m.layers[layer].passes[pass][role]!.shape)
        return m
    }

    /// `model` with gate blocks `j` and `k` of `role` exchanged.
    func swapping(_ model: Model, layer: Int, role: TensorRole, _ j: Int, _ k: Int) -> Model {
        var m = model
        let t = m.layers[layer].passes[0][role]!
        let h = m.layers[layer].spec.hiddenSize
        let row = t.shape.count > 1 ? t.shape[1] : 1
        var v = t.floats()
        for i in 0..<(h * row) { v.swapAt(j * h * row + i, k * h * row + i) }
        m.layers[layer].passes[0][role] = ModelTensor(v, shape: t.shape)
        return m
    }

    // MARK: diff

    func testDiffFindsOneElementASwapAndAnActivation() throws {
        let a = lstmModel()
        XCTAssertTrue(ModelDiff(a, a).equal)
        XCTAssertTrue(ModelDiff(a, a).tensors.allSatisfy { $0.status == .identical })

        // One element: W_h of layer 1's reverse pass, row 4·1 + 2 (gate f, unit 2), column 3.
        var b = changing(a, layer: 1, pass: 1, role: .recurrentWeights, index: (4 + 2) * 4 + 3, to: 9)
        var d = ModelDiff(a, b)
        XCTAssertFalse(d.equal)
        let changed = d.tensors.filter { $0.status == .different }
        XCTAssertEqual(changed.map(\.name), ["layers.1.reverse.W_h"])
        XCTAssertEqual(changed[0].whole?.aboveTolerance, 1)
        XCTAssertEqual(changed[0].whole?.worstIndex, [6, 3])
        XCTAssertEqual(changed[0].blocks.filter { $0.aboveTolerance > 0 }.map(\.gate), ["f"])
        XCTAssertTrue(d.text(nameA: "a", nameB: "b").contains("gate f (rows 4..<8): max abs"))
        // Within a tolerance larger than the change: equal.
        XCTAssertTrue(ModelDiff(a, b, atol: 20).equal)

        // Swapped gate blocks i and f of layer 0's W_x: named as a permutation.
        b = swapping(a, layer: 0, role: .inputWeights, 0, 1)
        d = ModelDiff(a, b)
        let swapped = try XCTUnwrap(d.tensors.first { $0.name == "layers.0.forward.W_x" })
        XCTAssertEqual(swapped.status, .different)
        XCTAssertEqual(swapped.blocks.filter { $0.aboveTolerance > 0 }.map(\.gate), ["i", "f"])
        XCTAssertEqual(Set(swapped.swaps), ["i→f", "f→i"])
        XCTAssertTrue(d.text(nameA: "a", nameB: "b").contains("the gate blocks are permuted"))

        // A changed activation: a structural difference, the tensors identical.
        b = a
        b.layers[0].spec.activations[0][1] = .relu
        d = ModelDiff(a, b)
        XCTAssertFalse(d.equal)
        XCTAssertEqual(d.structure.map(\.field), ["activations (forward)"])
        XCTAssertTrue(d.tensors.allSatisfy { $0.status == .identical })

        // Metadata alone does not make models different.
        b = a
        b.metadata.description = "other"
        XCTAssertTrue(ModelDiff(a, b).equal)
        XCTAssertEqual(ModelDiff(a, b).metadata.map(\.field), ["description"])
    }

    func testDiffAcrossFormats() throws {
        let dir = KitTest.tempDir(self)
        let a = lstmModel()
        try ModelFormats.write(a, to: dir + "/a.lstm")
        for ext in ["onnx", "safetensors", "json", "keras"] {
            try ModelFormats.write(a, to: dir + "/a." + ext)
            let r = try KitTest.run(["diff"] + ["a.lstm", "a." + ext].map { dir + "/" + $0 })
            XCTAssertEqual(r.status, 0, "\(ext): \(r.stdout) \(r.stderr)")
        }
        // One changed element, found through ONNX's gate order (i o f c).
        let one = changing(a, layer: 0, role: .inputWeights, index: 3 * 4 * 3 + 1 * 3 + 2, to: 5)
        try ModelFormats.write(one, to: dir + "/one.onnx")
        var r = try KitTest.run(["diff", dir + "/a.lstm", dir + "/one.onnx"])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stdout.contains("layers.0.forward.W_x         DIFFERS"), r.stdout)
        XCTAssertTrue(r.stdout.contains("gate o (rows 12..<16): max abs"), r.stdout)
        XCTAssertTrue(r.stdout.contains("1 above atol"), r.stdout)
        // Swapped blocks, found through PyTorch's safetensors (i f g o) and its JSON report.
        let swapped = swapping(a, layer: 1, role: .recurrentBias, 2, 3)
        try ModelFormats.write(swapped, to: dir + "/swapped.safetensors")
        r = try KitTest.run(["diff", dir + "/swapped.safetensors", dir + "/a.lstm", "--json"])
        XCTAssertEqual(r.status, 2, r.stderr)
        let j = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(j["equal"] as? Bool, false)
        let tensors = try XCTUnwrap(j["tensors"] as? [[String: Any]])
        let bias = try XCTUnwrap(tensors.first { $0["name"] as? String == "layers.1.forward.b_h" })
        XCTAssertEqual(bias["status"] as? String, "different")
        XCTAssertEqual(Set(bias["permuted_gates"] as? [String] ?? []), ["g→o", "o→g"])
        XCTAssertEqual(tensors.filter { $0["status"] as? String == "different" }.count, 1)
        // A changed activation, through ONNX.
        var act = a
        act.layers[1].spec.activations[1][2] = .relu
        try ModelFormats.write(act, to: dir + "/act.onnx")
        r = try KitTest.run(["diff", dir + "/act.onnx", dir + "/a.lstm"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stdout.contains("layer 1: activations (reverse) sigmoid, tanh, relu → sigmoid, tanh, tanh"), r.stdout)
        // Errors: 1; usage: 64.
        XCTAssertEqual(try KitTest.run(["diff", dir + "/a.lstm", dir + "/absent.lstm"]).status, 1)
        XCTAssertEqual(try KitTest.run(["diff", dir + "/a.lstm"]).status, 64)
        XCTAssertEqual(try KitTest.run(["diff", dir + "/a.lstm", dir + "/a.lstm", "--atol", "-1"]).status, 64)
    }

    func testDiffOfLayerCountAndShapes() {
        let a = lstmModel()
        var b = a
        b.layers.removeLast()
        let d = ModelDiff(a, b)
        XCTAssertFalse(d.equal)
        XCTAssertEqual(d.structure.first?.field, "layers")
        XCTAssertTrue(d.tensors.contains { $0.status == .onlyInA && $0.name == "layers.1.reverse.W_x" })
        let c = KitTest.model([LayerSpec(cell: .lstm, inputSize: 3, hiddenSize: 5)], seed: 13)
        let e = ModelDiff(KitTest.model([LayerSpec(cell: .lstm, inputSize: 3, hiddenSize: 4)], seed: 13), c)
        XCTAssertTrue(e.structure.contains { $0.field == "hidden_size" })
        XCTAssertTrue(e.tensors.allSatisfy { $0.status == .shapeDiffers })
    }

    // MARK: golden cases made by the tool

    func testMakeGoldenSelfRecordedAndGiven() throws {
        let dir = KitTest.tempDir(self)
        // lstmtool's own f64 outputs.
        var r = try KitTest.run(["verify", "--make-golden", dir + "/self", "--model", "fixtures/golden/lstm/model.json",
                                 "--input", "fixtures/golden/lstm/x.npy"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains("regression"), r.stderr)
        let g = try GoldenCase(path: dir + "/self")
        XCTAssertEqual(Set(g.expected.keys), [.f32, .f64])
        XCTAssertTrue(g.expected[.f64]?.reference?.contains("not an independent implementation") ?? false)
        XCTAssertTrue(g.warnings.isEmpty, "\(g.warnings)")
        r = try KitTest.run(["verify", dir + "/self"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("verify: 2 passed, 0 failed"), r.stdout)
        // Existing case: refused, nothing changed.
        r = try KitTest.run(["verify", "--make-golden", dir + "/self", "--model", "fixtures/golden/lstm/model.json",
                             "--input", "fixtures/golden/lstm/x.npy"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("already exists"), r.stderr)

        // Outputs of another implementation (onnxruntime's float32 ones), batch-first, with states.
        let src = "fixtures/golden/lstm_batch_first/"
        let bf = try GoldenCase(path: KitTest.path(src))
        var args = ["verify", "fixtures/golden/lstm_batch_first/" + bf.model!, "--make-golden", dir + "/given", "--batch-first",
                    "--input", src + bf.inputs["input"]!, "--reference", "onnxruntime (copied)"]
        for (k, flag) in [("initial_h", "--initial-h"), ("initial_c", "--initial-c"), ("sequence_lengths", "--sequence-lengths")] {
            if let f = bf.inputs[k] { args += [flag, src + f] }
        }
        for (k, flag) in [("y", "--expected-y"), ("hn", "--expected-hn"), ("cn", "--expected-cn")] {
            if let f = bf.expected[.f32]?.outputs[k] { args += [flag, src + f] }
        }
        r = try KitTest.run(args)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let given = try GoldenCase(path: dir + "/given")
        XCTAssertEqual(Array(given.expected.keys), [.f32], "float32 outputs make an f32 expectation only")
        XCTAssertEqual(given.expected[.f32]?.reference, "onnxruntime (copied)")
        XCTAssertTrue(given.batchFirst)
        XCTAssertEqual(try KitTest.run(["verify", dir + "/given"]).status, 0)
        // Usage errors.
        XCTAssertEqual(try KitTest.run(["verify", "--make-golden", dir + "/x", "--model", "m.lstm"]).status, 64)
        XCTAssertEqual(try KitTest.run(["verify", "fixtures", "--input", "x.npy"]).status, 64)
    }

    func testGoldenTypoWarnsAndShapeFailureIsNamed() throws {
        let dir = KitTest.tempDir(self)
        let src = KitTest.path("fixtures/golden/lstm")
        for f in ["model.json", "x.npy", "y.npy", "hn.npy", "cn.npy"] {
            try FileManager.default.copyItem(atPath: src + "/" + f, toPath: dir + "/" + f)
        }
        let text = """
            {"name": "typo", "model": "model.json", "inputs": {"input": "x.npy"}, "batchFirst": false,
             "provenance": {"anything": 1}, "generator": "hand",
             "expected": {"f32": {"outputs": {"y": "y.npy", "hn": "hn.npy", "cn": "cn.npy"}, "refrence": "onnxruntime"}}}
            """
        KitTest.write(Array(text.utf8), to: dir + "/golden.json")
        var r = try KitTest.run(["verify", dir])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains("warning: ") && r.stderr.contains("\"batchFirst\"") && r.stderr.contains("did you mean \"batch_first\""), r.stderr)
        XCTAssertTrue(r.stderr.contains("\"refrence\"") && r.stderr.contains("did you mean \"reference\""), r.stderr)
        XCTAssertFalse(r.stderr.contains("provenance\""), "provenance keys are not warned about: \(r.stderr)")
        XCTAssertEqual(try KitTest.run(["verify", dir, "--quiet"]).stderr, "")
        // An expected output of the wrong shape: named as such in the summary line, never "0".
        KitTest.write(Npy.encode(NpyArray(kind: .float32, shape: [2, 2], values: [0, 0, 0, 0])), to: dir + "/hn.npy")
        r = try KitTest.run(["verify", dir])
        XCTAssertEqual(r.status, 2)
        let summary = try XCTUnwrap(r.stdout.split(separator: "\n").first)
        XCTAssertTrue(summary.contains("hn wrong shape"), String(summary))
        XCTAssertFalse(summary.contains("hn 0"), String(summary))
        XCTAssertTrue(r.stdout.contains("hn: shape"), r.stdout)
    }

    func testVerifyReportsPerLayerStateError() throws {
        let dir = KitTest.tempDir(self)
        let src = KitTest.path("fixtures/golden/lstm_2l_bidirectional")
        for f in try FileManager.default.contentsOfDirectory(atPath: src) {
            try FileManager.default.copyItem(atPath: src + "/" + f, toPath: dir + "/" + f)
        }
        let g = try GoldenCase(path: dir)
        let hnFile = dir + "/" + g.expected[.f64]!.outputs["hn"]!
        var hn = try Npy.decode(KitTest.read(hnFile), name: hnFile)
        hn.values[hn.values.count - 1] += 0.5  // the last layer·direction
        KitTest.write(Npy.encode(hn), to: hnFile)
        let r = try KitTest.run(["verify", dir, "--precision", "f64", "--json"])
        XCTAssertEqual(r.status, 2)
        let j = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let outputs = try XCTUnwrap(((j["cases"] as? [[String: Any]])?.first?["outputs"]) as? [[String: Any]])
        let hnOut = try XCTUnwrap(outputs.first { $0["name"] as? String == "hn" })
        let perLayer = try XCTUnwrap(hnOut["max_abs_error_per_layer_direction"] as? [Double])
        XCTAssertEqual(perLayer.count, 4)
        XCTAssertEqual(perLayer[3], 0.5, accuracy: 1e-6)
        XCTAssertLessThan(perLayer[0], 1e-9)
        let text = try KitTest.run(["verify", dir, "--precision", "f64"]).stdout
        XCTAssertTrue(text.contains("max abs error per layer·direction: 0="), text)
    }

    // MARK: layout

    func testRecordedLayoutWarningAndRunContract() throws {
        let dir = KitTest.tempDir(self)
        // A PyTorch state dict cannot say batch_first; convert --layout records it.
        try ModelFormats.write(lstmModel(), to: dir + "/m.safetensors")
        var r = try KitTest.run(["convert", dir + "/m.safetensors", dir + "/bf.lstm", "--layout", "batch_major"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let inspect = try KitTest.run(["inspect", dir + "/bf.lstm"]).stdout
        XCTAssertTrue(inspect.contains("run (recorded layout batch_major: use --batch-first): X [B, T, 3] → Y [B, T, 8], h/c [4, B, 4]"), inspect)
        let plain = try KitTest.run(["inspect", "fixtures/models/lstm_stack_widths.lstm"]).stdout
        XCTAssertTrue(plain.contains("run: X [T, B, "), plain)
        // The trap: a batch-first input [B=2, T=5, 3] run without --batch-first still fits.
        var rng = KitTest.RNG(3)
        KitTest.write(Npy.encode(NpyArray(kind: .float32, shape: [2, 5, 3], values: (0..<30).map { _ in rng.uniform() })), to: dir + "/x.npy")
        r = try KitTest.run(["run", dir + "/bf.lstm", "--input", dir + "/x.npy", "--output", dir + "/y.npy"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr.components(separatedBy: "warning: ").count - 1, 1, "warned once: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("layout batch_major") && r.stderr.contains("add --batch-first"), r.stderr)
        // Correct runs: no warning.
        r = try KitTest.run(["run", dir + "/bf.lstm", "--input", dir + "/x.npy", "--output", dir + "/y.npy", "--batch-first"])
        XCTAssertEqual(r.status, 0)
        XCTAssertFalse(r.stderr.contains("warning"), r.stderr)
        r = try KitTest.run(["run", dir + "/m.safetensors", "--input", dir + "/x.npy", "--output", dir + "/y.npy"])
        XCTAssertFalse(r.stderr.contains("warning"), "nothing recorded, nothing to warn about: \(r.stderr)")
        r = try KitTest.run(["run", dir + "/bf.lstm", "--input", dir + "/x.npy", "--output", dir + "/y.npy", "--quiet"])
        XCTAssertEqual(r.stderr, "")
        // ONNX records its layout attribute; Keras batch-major.
        try ModelFormats.write(lstmModel(), to: dir + "/m.onnx")
        let onnx = try ModelFormats.read(KitTest.path("fixtures/golden/lstm/model.onnx")).model
        XCTAssertEqual(RecordedLayout.recorded(in: onnx), .timeMajor)
        try ModelFormats.write(lstmModel(), to: dir + "/m.keras")
        XCTAssertEqual(RecordedLayout.recorded(in: try ModelFormats.read(dir + "/m.keras").model), .batchMajor)
        // --layout none removes it.
        r = try KitTest.run(["convert", dir + "/bf.lstm", dir + "/none.lstm", "--layout", "none"])
        XCTAssertNil(RecordedLayout.recorded(in: try ModelFormats.read(dir + "/none.lstm").model))
    }

    // MARK: honest reports

    func testInspectNamesTheFormatAndInventsNoTime() throws {
        let dir = KitTest.tempDir(self)
        try ModelFormats.write(lstmModel(), to: dir + "/m.safetensors")
        let r = try KitTest.run(["inspect", dir + "/m.safetensors"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix(dir + "/m.safetensors: PyTorch state dict (safetensors)"), r.stdout)
        XCTAssertFalse(r.stdout.contains("lstmtool model, format"))
        XCTAssertFalse(r.stdout.contains("created"), r.stdout)
        let j = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try KitTest.run(["inspect", dir + "/m.safetensors", "--json"]).stdout.utf8)) as? [String: Any])
        XCTAssertEqual(j["format"] as? String, "safetensors")
        XCTAssertNil((j["metadata"] as? [String: Any])?["created"])
    }

    func testLeftOutTensorsAreNamed() throws {
        let dir = KitTest.tempDir(self)
        let dict = try StateDictExporter.stateDict(lstmModel())
        var tensors = dict.tensors.map { (name: "enc.rnn." + $0.name, tensor: $0.tensor) }
        for k in 0..<12 { tensors.append((name: "head.w\(k)", tensor: ModelTensor([Float(1), 2], shape: [2]))) }
        KitTest.write(SafetensorsFile.encode(tensors, metadata: []), to: dir + "/big.safetensors")
        let result = try ModelFormats.read(dir + "/big.safetensors")
        let note = try XCTUnwrap(result.notes.first { $0.contains("left out 12 tensor(s)") })
        XCTAssertTrue(note.contains("'head.w0'") && note.contains("'head.w9'") && note.contains("and 2 more"), note)
        XCTAssertFalse(note.contains("'head.w10'"), note)
    }

    func testONNXExportRoundTripsMetadata() throws {
        let dir = KitTest.tempDir(self)
        var m = lstmModel()
        m.metadata = Metadata(name: "encoder", description: "from a larger module", producerName: "me", producerVersion: "1",
                              sourceFramework: "pytorch", sourceFile: "enc.pt", created: "2025-01-02T03:04:05Z",
                              properties: [("layout", "batch_major"), ("k", "v")])
        try ModelFormats.write(m, to: dir + "/m.onnx")
        let back = try ModelFormats.read(dir + "/m.onnx").model
        XCTAssertEqual(back.metadata, m.metadata)
        XCTAssertTrue(ModelDiff(m, back).metadata.isEmpty)
    }

    // MARK: reproducible files

    func testSourceDateEpochMakesConversionsIdentical() throws {
        let dir = KitTest.tempDir(self)
        try ModelFormats.write(lstmModel(), to: dir + "/m.safetensors")
        try ModelFormats.write(lstmModel(), to: dir + "/m.onnx")
        let env = ["SOURCE_DATE_EPOCH": "1700000000"]
        for (input, output) in [("m.safetensors", "lstm"), ("m.onnx", "lstm"), ("m.safetensors", "json"), ("m.onnx", "keras"),
                                ("m.safetensors", "onnx")] {
            var outs: [[UInt8]] = []
            for k in 0..<2 {
                if k == 1 { Thread.sleep(forTimeInterval: 1.1) }
                let out = dir + "/out\(k)." + output
                let r = try KitTest.run(["convert", dir + "/" + input, out], environment: env)
                XCTAssertEqual(r.status, 0, r.stderr)
                outs.append(KitTest.read(out))
            }
            XCTAssertTrue(outs[0] == outs[1], "\(input) → .\(output) differs between two conversions")
            if output == "lstm" && input.hasSuffix("safetensors") {
                XCTAssertEqual(try ModelFormats.read(dir + "/out0.lstm").model.metadata.created, "2023-11-14T22:13:20Z")
            }
        }
        // The option wins; none records no time.
        var r = try KitTest.run(["convert", dir + "/m.onnx", dir + "/c.lstm", "--created", "2020-01-01T00:00:00Z"], environment: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try ModelFormats.read(dir + "/c.lstm").model.metadata.created, "2020-01-01T00:00:00Z")
        r = try KitTest.run(["convert", dir + "/m.onnx", dir + "/n.lstm", "--created", "none"])
        XCTAssertNil(try ModelFormats.read(dir + "/n.lstm").model.metadata.created)
        XCTAssertEqual(try KitTest.run(["convert", dir + "/m.onnx", dir + "/n.lstm", "--created", "yesterday"]).status, 64)
        r = try KitTest.run(["convert", dir + "/m.onnx", dir + "/n.lstm"], environment: ["SOURCE_DATE_EPOCH": "soon"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("SOURCE_DATE_EPOCH"), r.stderr)
    }

    // MARK: the JSON form

    func testJSONFormDiffsRowByRow() throws {
        let a = lstmModel()
        let textA = try JSONForm.encode(a)
        // Bounded lines, and the form reads back bit for bit.
        XCTAssertLessThanOrEqual(textA.split(separator: "\n").map(\.count).max() ?? 0, 200)
        XCTAssertEqual(try JSONForm.decode(Array(textA.utf8), path: "a.json"), a)
        let b = changing(a, layer: 1, pass: 1, role: .recurrentWeights, index: 7, to: 0.125)
        let linesA = textA.split(separator: "\n", omittingEmptySubsequences: false)
        let linesB = try JSONForm.encode(b).split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(linesA.count, linesB.count)
        let changed = zip(linesA, linesB).filter { $0 != $1 }
        XCTAssertEqual(changed.count, 1, "one changed element changes one line")
        XCTAssertTrue(changed.first?.1.contains("0.125") ?? false)
        // The old one-line form still reads.
        let oneLine = try JSONForm.decode(KitTest.read(KitTest.path("fixtures/golden/lstm/model.json")), path: "model.json")
        let again = try JSONForm.decode(Array(try JSONForm.encode(oneLine).utf8), path: "again.json")
        XCTAssertEqual(again, oneLine)
    }

    // MARK: settings in the open

    func testEveryEnvironmentVariableIsInHelp() throws {
        let run = try KitTest.run(["run", "--help"]).stdout
        for v in ["LSTMTOOL_THREADS", "LSTMTOOL_MAX_MEMORY_MIB", "LSTMTOOL_KERNEL", "LSTMTOOL_SPIN_US"] { XCTAssertTrue(run.contains(v), "run --help: \(v)") }
        let verify = try KitTest.run(["verify", "--help"]).stdout
        for v in ["LSTMTOOL_THREADS", "LSTMTOOL_MAX_MEMORY_MIB", "LSTMTOOL_KERNEL", "LSTMTOOL_SPIN_US", "--make-golden", "--expected-y", "Examples:"] {
            XCTAssertTrue(verify.contains(v), "verify --help: \(v)")
        }
        XCTAssertTrue(try KitTest.run(["convert", "--help"]).stdout.contains("SOURCE_DATE_EPOCH"))
        let diff = try KitTest.run(["diff", "--help"])
        XCTAssertEqual(diff.status, 0)
        XCTAssertTrue(diff.stdout.contains("USAGE: lstmtool diff") && diff.stdout.contains("Examples:"))
        let doc = String(decoding: KitTest.read(KitTest.path("docs/CLI.md")), as: UTF8.self)
        for v in ["LSTMTOOL_THREADS", "LSTMTOOL_MAX_MEMORY_MIB", "LSTMTOOL_KERNEL", "LSTMTOOL_SPIN_US", "SOURCE_DATE_EPOCH", "lstmtool diff", "--make-golden"] {
            XCTAssertTrue(doc.contains(v), "docs/CLI.md lists \(v)")
        }
    }
}
