import Foundation
import XCTest
@testable import LSTMCodec
@testable import LSTMCore
@testable import LSTMKit

/// Builds protocol-2 pickles by hand, as torch.save writes them (docs/CONVERSIONS.md).
struct PickleBuilder {
    var bytes: [UInt8] = [0x80, 0x02]

    mutating func op(_ b: UInt8...) { bytes += b }
    mutating func string(_ s: String) {
        let u = Array(s.utf8)
        op(0x58)
        bytes += le32(u.count) + u
    }
    mutating func int(_ v: Int) {
        op(0x4A)
        bytes += le32(v)
    }
    mutating func global(_ module: String, _ name: String) {
        op(0x63)
        bytes += Array("\(module)\n\(name)\n".utf8)
    }
    mutating func mark() { op(0x28) }
    mutating func tuple() { op(0x74) }
    mutating func emptyDict() { op(0x7D) }
    mutating func setitems() { op(0x75) }
    mutating func stop() { op(0x2E) }
    func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

    /// `_rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict())`.
    mutating func tensor(key: String, storage: String = "FloatStorage", count: Int, offset: Int = 0, size: [Int], stride: [Int]? = nil) {
        var st = stride ?? []
        if stride == nil {
            var s = 1
            for d in size.reversed() { st.insert(s, at: 0); s *= d }
        }
        global("torch._utils", "_rebuild_tensor_v2")
        mark()
        mark(); string("storage"); global("torch", storage); string(key); string("cpu"); int(count); tuple()
        op(0x51) // BINPERSID
        int(offset)
        mark(); for d in size { int(d) }; tuple()
        mark(); for d in st { int(d) }; tuple()
        op(0x89) // NEWFALSE
        global("collections", "OrderedDict"); op(0x29, 0x52) // EMPTY_TUPLE REDUCE
        tuple()
        op(0x52) // REDUCE
    }
}

/// `.pt` / `.pth` import: PyTorch's own outputs for every fixture, the restricted unpickler's
/// refusals, strided views, nesting, content sniffing and the command line.
final class PyTorchCheckpointTests: XCTestCase {
    static let fixtures = KitTest.path("fixtures/pytorch-pt")

    func unpickle(_ p: PickleBuilder) throws -> Unpickler.Result { try Unpickler.load(p.bytes) }

    func assertRefused(_ p: PickleBuilder, _ kind: LSTMError.Kind, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try unpickle(p), file: file, line: line) { e in
            guard let e = e as? LSTMError else { return XCTFail("\(e)", file: file, line: line) }
            XCTAssertEqual(e.kind, kind, e.description, file: file, line: line)
            XCTAssertFalse(e.description.contains("\n"), file: file, line: line)
            for f in fragments { XCTAssertTrue(e.description.contains(f), "\"\(e.description)\" does not mention \"\(f)\"", file: file, line: line) }
        }
    }

    /// A torch.save-style zip: `archive/data.pkl`, `archive/byteorder`, `archive/data/<key>`.
    func checkpoint(_ p: PickleBuilder, storages: [(String, [UInt8])], byteorder: String = "little", at path: String) {
        var members: [(name: String, data: [UInt8])] = [("archive/data.pkl", p.bytes), ("archive/byteorder", Array(byteorder.utf8))]
        for (k, d) in storages { members.append(("archive/data/\(k)", d)) }
        members.append(("archive/version", Array("3\n".utf8)))
        KitTest.write(ZipWriter.stored(members), to: path)
    }

    func floats(_ v: [Float], bigEndian: Bool = false) -> [UInt8] {
        v.flatMap { x -> [UInt8] in
            let b = (0..<4).map { UInt8(truncatingIfNeeded: x.bitPattern >> (8 * UInt32($0))) }
            return bigEndian ? b.reversed() : b
        }
    }

    /// `{prefix + weight_ih_l0: …, weight_hh_l0, bias_ih_l0, bias_hh_l0}` of an LSTM with I = 2,
    /// H = 1 (4 rows), all in storage `key` one after the other.
    func lstmEntries(_ p: inout PickleBuilder, prefix: String, key: String) {
        // weight_ih [4, 2] at 0, weight_hh [4, 1] at 8, bias_ih [4] at 12, bias_hh [4] at 16: 20 elements
        p.string(prefix + "weight_ih_l0"); p.tensor(key: key, count: 20, offset: 0, size: [4, 2])
        p.string(prefix + "weight_hh_l0"); p.tensor(key: key, count: 20, offset: 8, size: [4, 1])
        p.string(prefix + "bias_ih_l0"); p.tensor(key: key, count: 20, offset: 12, size: [4])
        p.string(prefix + "bias_hh_l0"); p.tensor(key: key, count: 20, offset: 16, size: [4])
    }

    // MARK: PyTorch's outputs

    /// Every fixtures/pytorch-pt case imports (with its golden.json's options) and reproduces
    /// PyTorch's float32 and float64 outputs.
    func testEveryCheckpointReproducesPyTorch() throws {
        let goldens = try GoldenCase.discover(under: PyTorchCheckpointTests.fixtures)
        XCTAssertEqual(goldens.count, 10)
        var pth = 0
        for g in goldens {
            let golden = try GoldenCase(path: g)
            let model = try XCTUnwrap(golden.model)
            XCTAssertTrue(model.hasSuffix(".pt") || model.hasSuffix(".pth"), model)
            if model.hasSuffix(".pth") { pth += 1 }
            XCTAssertEqual(Set(golden.expected.keys), [.f32, .f64], golden.name)
            for precision in Precision.allCases {
                let r = Verifier.verify(golden, precision: precision, modelPath: nil)
                XCTAssertEqual(r.status, .pass, "\(golden.name) [\(precision.rawValue)]: \(r.error ?? r.outputs.filter { !$0.passed }.map(\.name).joined(separator: ","))")
            }
        }
        XCTAssertEqual(pth, 1)
    }

    /// The imported structure and parameter count match the manifest's description of each case.
    func testImportedStructureMatchesTheManifest() throws {
        let data = try XCTUnwrap(FileManager.default.contents(atPath: PyTorchCheckpointTests.fixtures + "/manifest.json"))
        let manifest = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = try XCTUnwrap(manifest["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 10)
        for c in cases {
            let name = c["name"] as! String
            let f = c["features"] as! [String: Any]
            let args = c["convert_args"] as! [String]
            var options = ImportOptions()
            var it = args.makeIterator()
            while let flag = it.next() {
                let v = it.next()!
                switch flag {
                case "--prefix": options.prefix = v
                case "--cell": options.cell = CellFamily(rawValue: v)
                default: XCTFail("\(name): unexpected \(flag)")
                }
            }
            let r = try ModelFormats.read("\(PyTorchCheckpointTests.fixtures)/\(c["dir"] as! String)/\(c["source"] as! String)", options: options)
            XCTAssertEqual(r.formatName, "pytorch")
            let m = r.model
            XCTAssertEqual(m.layers.count, f["layers"] as? Int, name)
            XCTAssertEqual(m.layers[0].spec.cell.rawValue, f["cell"] as? String, name)
            XCTAssertEqual(m.layers[0].spec.direction.count, f["directions"] as? Int, name)
            XCTAssertEqual(m.layers[0].spec.hiddenSize, f["hidden_size"] as? Int, name)
            XCTAssertEqual(m.layers[0].spec.inputSize, f["input_size"] as? Int, name)
            XCTAssertEqual(m.layers[0].spec.lstm.projectionSize, f["proj_size"] as? Int, name)
            let params = m.layers.flatMap(\.passes).flatMap(\.values).map(\.elementCount).reduce(0, +)
            XCTAssertEqual(params, c["param_count"] as? Int, name)
            let dtype = m.layers[0].passes[0][.inputWeights]!.dtype
            XCTAssertEqual("torch.\(dtype.rawValue)", f["weights_dtype"] as? String, name)
            XCTAssertEqual(m.metadata.sourceFramework, "pytorch")
        }
    }

    /// The nested checkpoint is found without --prefix; naming a wrong prefix lists the module.
    func testNestedCheckpointAndPrefixes() throws {
        let nested = PyTorchCheckpointTests.fixtures + "/pt_gru_checkpoint_nested/model.pt"
        let r = try ModelFormats.read(nested)
        XCTAssertTrue(r.notes.contains { $0.contains("model.encoder.rnn.") }, "\(r.notes)")
        XCTAssertEqual(try ModelFormats.read(nested, options: ImportOptions(prefix: "model.encoder.rnn")).model.layers.count, 2)
        XCTAssertThrowsError(try ModelFormats.read(nested, options: ImportOptions(prefix: "optimizer."))) { e in
            XCTAssertTrue("\(e)".contains("model.encoder.rnn."), "\(e)")
        }
        // The Lightning dict has one recurrent module too: its prefix is optional.
        let lightning = try ModelFormats.read(PyTorchCheckpointTests.fixtures + "/pt_lstm_lightning/model.pt")
        XCTAssertTrue(lightning.notes.contains { $0.contains("state_dict.model.lstm.") }, "\(lightning.notes)")
    }

    // MARK: hostile files

    func testWholeModuleIsRefusedNamingTheClass() {
        XCTAssertThrowsError(try ModelFormats.read(PyTorchCheckpointTests.fixtures + "/bad/whole_module.pt")) { e in
            let e = e as! LSTMError
            XCTAssertEqual(e.kind, .unsupported)
            XCTAssertEqual(e.path, PyTorchCheckpointTests.fixtures + "/bad/whole_module.pt")
            XCTAssertFalse(e.description.contains("\n"))
            for f in ["whole torch.nn.LSTM object", "torch.nn.modules.rnn.LSTM", "not a state dict", "model.state_dict()"] {
                XCTAssertTrue(e.message.contains(f), e.message)
            }
        }
    }

    func testEvilGlobalIsRefusedAndNothingRuns() throws {
        let marker = "lstmtool-pickle-was-executed"
        let dirs = [FileManager.default.currentDirectoryPath, KitTest.root]
        for d in dirs { XCTAssertFalse(FileManager.default.fileExists(atPath: d + "/" + marker), "\(d) already holds \(marker)") }
        XCTAssertThrowsError(try ModelFormats.read(PyTorchCheckpointTests.fixtures + "/bad/evil_global.pt")) { e in
            let e = e as! LSTMError
            XCTAssertEqual(e.kind, .unsupported)
            XCTAssertNotNil(e.path)
            XCTAssertFalse(e.description.contains("\n"))
            XCTAssertTrue(e.message.contains("posix.system"), e.message)
            XCTAssertTrue(e.message.contains("refused without running anything"), e.message)
        }
        // The command line too (it runs in the repository root).
        for cmd in [["inspect"], ["convert"]] {
            var args = cmd + ["fixtures/pytorch-pt/bad/evil_global.pt"]
            if cmd == ["convert"] { args.append(KitTest.tempDir(self) + "/out.lstm") }
            let r = try KitTest.run(args)
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("posix.system"), r.stderr)
        }
        for d in dirs { XCTAssertFalse(FileManager.default.fileExists(atPath: d + "/" + marker), "the pickle ran: \(d)/\(marker) exists") }
    }

    func testTruncatedCheckpointIsRefused() {
        XCTAssertThrowsError(try ModelFormats.read(PyTorchCheckpointTests.fixtures + "/bad/truncated.pt")) { e in
            let e = e as! LSTMError
            XCTAssertEqual(e.kind, .truncated, e.description)
            XCTAssertNotNil(e.path)
            XCTAssertFalse(e.description.contains("\n"))
            XCTAssertTrue(e.message.contains("truncated"), e.message)
        }
    }

    /// Every hostile file: exit code 1 and one `error:` line naming the file, for convert and inspect.
    func testCommandLineRefusesBadFilesInOneLine() throws {
        let out = KitTest.tempDir(self) + "/out.lstm"
        for (file, fragment) in [("whole_module.pt", "torch.nn.LSTM"), ("evil_global.pt", "posix.system"), ("truncated.pt", "truncated")] {
            for args in [["inspect", "fixtures/pytorch-pt/bad/\(file)"], ["convert", "fixtures/pytorch-pt/bad/\(file)", out]] {
                let r = try KitTest.run(args)
                XCTAssertEqual(r.status, 1, "\(args): \(r.stderr)")
                XCTAssertTrue(r.stderr.hasPrefix("error: "), r.stderr)
                XCTAssertEqual(r.stderr.split(separator: "\n", omittingEmptySubsequences: false).count, 2, "one line: \(r.stderr)")
                XCTAssertTrue(r.stderr.contains(file) && r.stderr.contains(fragment), r.stderr)
                XCTAssertEqual(r.stdout, "")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        // And a good one converts.
        let ok = try KitTest.run(["convert", "fixtures/pytorch-pt/pt_lstm_lightning/model.pt", out, "--prefix", "state_dict.model.lstm."])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertEqual(try ModelFormats.read(out).model.layers.count, 2)
    }

    // MARK: content sniffing

    /// A `.pt` renamed to `.safetensors` is read as what it is (it used to fail with "header
    /// length 578712552184433488 is more than the 100 MB safetensors allows").
    func testRenamedCheckpointIsRecognisedByContent() throws {
        let dir = KitTest.tempDir(self)
        let renamed = dir + "/model.safetensors"
        try FileManager.default.copyItem(atPath: PyTorchCheckpointTests.fixtures + "/pt_lstm_state_dict/model.pt", toPath: renamed)
        XCTAssertEqual(try ModelFormats.importer(for: renamed).name, "pytorch")
        let r = try ModelFormats.read(renamed)
        XCTAssertEqual(r.formatName, "pytorch")
        XCTAssertEqual(r.model.layers[0].spec.cell, .lstm)
        let cli = try KitTest.run(["inspect", renamed])
        XCTAssertEqual(cli.status, 0, cli.stderr)
        XCTAssertFalse(cli.stderr.contains("header length"), cli.stderr)
        // A .npz (a zip without data.pkl) is not taken for a checkpoint, nor is a safetensors file.
        XCTAssertFalse(TorchCheckpoint.recognizes(ZipWriter.stored([("layer0.npy", [1, 2, 3])])))
        XCTAssertFalse(TorchCheckpoint.recognizes(KitTest.read(KitTest.path("fixtures/pytorch/gru_1l/model.safetensors"))))
        XCTAssertEqual(try ModelFormats.importer(for: KitTest.path("fixtures/pytorch/gru_1l/model.safetensors")).name, "safetensors")
    }

    func testLegacyFormatIsRefusedWithAClearMessage() {
        let path = KitTest.tempDir(self) + "/old.pt"
        KitTest.write(TorchCheckpoint.legacyMagic + [0x2E] + [UInt8](repeating: 0, count: 100), to: path)
        XCTAssertThrowsError(try ModelFormats.read(path)) { e in
            let e = e as! LSTMError
            XCTAssertEqual(e.kind, .unsupported)
            XCTAssertEqual(e.path, path)
            XCTAssertTrue(e.message.contains("legacy torch.save format (before PyTorch 1.6)"), e.message)
            XCTAssertTrue(e.message.contains("re-save it with a current PyTorch"), e.message)
        }
    }

    // MARK: hand-built checkpoints

    /// Views into one storage: offsets, a transposed (strided) view, big-endian storages.
    func testStridedViewsAndByteOrder() throws {
        // storage 0..5; the view size [2, 3] stride [1, 2] is the transpose of [[0,1],[2,3],[4,5]].
        let t = TorchTensor(storage: TorchStorage(type: .float, key: "0", count: 6), offset: 0, size: [2, 3], stride: [1, 2])
        let bytes = try TorchCheckpoint.gather(t, from: floats([0, 1, 2, 3, 4, 5]), bigEndian: false)
        XCTAssertEqual(try ModelTensor(dtype: .float32, shape: [2, 3], bytes: bytes).doubles(), [0, 2, 4, 1, 3, 5])
        let be = try TorchCheckpoint.gather(t, from: floats([0, 1, 2, 3, 4, 5], bigEndian: true), bigEndian: true)
        XCTAssertEqual(be, bytes)
        // An offset view with a dimension of size 1 (its stride does not matter).
        let v = TorchTensor(storage: t.storage, offset: 4, size: [1, 2], stride: [1_000_000, 1])
        XCTAssertEqual(try ModelTensor(dtype: .float32, shape: [1, 2], bytes: TorchCheckpoint.gather(v, from: floats([0, 1, 2, 3, 4, 5]), bigEndian: false)).doubles(), [4, 5])

        // A whole checkpoint in big-endian order, all tensors views of one storage.
        let dir = KitTest.tempDir(self)
        var p = PickleBuilder()
        p.emptyDict(); p.mark(); lstmEntries(&p, prefix: "", key: "0"); p.setitems(); p.stop()
        let values = (0..<20).map { Float($0) / 10 }
        checkpoint(p, storages: [("0", floats(values, bigEndian: true))], byteorder: "big", at: dir + "/be.pt")
        checkpoint(p, storages: [("0", floats(values))], at: dir + "/le.pt")
        let a = try ModelFormats.read(dir + "/be.pt").model, b = try ModelFormats.read(dir + "/le.pt").model
        XCTAssertEqual(a.layers[0].passes, b.layers[0].passes)
        // weight_hh_l0 is elements 8..<12: the LSTM gates i, f, g, o stay in order.
        XCTAssertEqual(a.layers[0].passes[0][.recurrentWeights]!.doubles(), (8..<12).map { Double(Float($0) / 10) })
    }

    /// Several recurrent modules: the error lists them; --prefix picks one. Integer keys,
    /// lists, numbers, integer tensors and an OrderedDict's BUILD state are passed over.
    func testSeveralModulesNestingAndIgnoredValues() throws {
        let dir = KitTest.tempDir(self)
        var p = PickleBuilder()
        p.emptyDict(); p.mark()
        p.string("model"); p.emptyDict(); p.mark()
        lstmEntries(&p, prefix: "enc.rnn.", key: "0")
        lstmEntries(&p, prefix: "dec.rnn.", key: "1")
        p.setitems()
        p.string("epoch"); p.int(3)
        p.string("optimizer"); p.emptyDict(); p.mark()
        p.int(0); p.emptyDict(); p.mark(); p.string("step"); p.tensor(key: "2", storage: "LongStorage", count: 1, size: []); p.setitems()
        p.string("groups"); p.op(0x5D); p.mark(); p.int(1); p.int(2); p.op(0x65) // EMPTY_LIST MARK … APPENDS
        p.setitems()
        p.setitems()
        // OrderedDict state (`_metadata`) set with BUILD.
        p.emptyDict(); p.string("_metadata"); p.emptyDict(); p.op(0x73, 0x62) // SETITEM BUILD
        p.stop()
        let storages = [("0", floats((0..<20).map(Float.init))), ("1", floats((0..<20).map { -Float($0) })), ("2", [UInt8](repeating: 0, count: 8))]
        checkpoint(p, storages: storages, at: dir + "/two.pt")
        XCTAssertThrowsError(try ModelFormats.read(dir + "/two.pt")) { e in
            let s = "\(e)"
            XCTAssertTrue(s.contains("model.dec.rnn.") && s.contains("model.enc.rnn.") && s.contains("--prefix"), s)
        }
        let r = try ModelFormats.read(dir + "/two.pt", options: ImportOptions(prefix: "model.dec.rnn."))
        XCTAssertEqual(r.model.layers[0].passes[0][.inputBias]!.doubles(), [-12, -13, -14, -15])
        XCTAssertTrue(r.notes.contains { $0.contains("not floating point") }, "\(r.notes)")
        let checkpoint = try TorchCheckpoint(path: dir + "/two.pt")
        XCTAssertEqual(checkpoint.entries.map(\.name).first, "model.enc.rnn.weight_ih_l0")
        XCTAssertEqual(checkpoint.entries.count, 8)
        XCTAssertEqual(checkpoint.nonFloatTensors, 1)
    }

    func testStorageMembersAreChecked() throws {
        let dir = KitTest.tempDir(self)
        var p = PickleBuilder()
        p.emptyDict(); p.mark(); lstmEntries(&p, prefix: "", key: "0"); p.setitems(); p.stop()
        // The member holds fewer bytes than its 20 declared elements.
        checkpoint(p, storages: [("0", floats((0..<19).map(Float.init)))], at: dir + "/short.pt")
        XCTAssertThrowsError(try ModelFormats.read(dir + "/short.pt")) { e in
            let e = e as! LSTMError
            XCTAssertEqual(e.kind, .sizeMismatch)
            XCTAssertTrue(e.message.contains("shorter"), e.message)
            XCTAssertEqual(e.path, dir + "/short.pt")
        }
        // The member is missing.
        checkpoint(p, storages: [], at: dir + "/missing.pt")
        XCTAssertThrowsError(try ModelFormats.read(dir + "/missing.pt")) { e in
            XCTAssertEqual((e as! LSTMError).kind, .missingTensor)
            XCTAssertTrue("\(e)".contains("archive/data/0"), "\(e)")
        }
        // A top level that is not a dict.
        var q = PickleBuilder()
        q.tensor(key: "0", count: 20, size: [20]); q.stop()
        checkpoint(q, storages: [("0", floats((0..<20).map(Float.init)))], at: dir + "/tensor.pt")
        XCTAssertThrowsError(try ModelFormats.read(dir + "/tensor.pt")) { e in
            XCTAssertTrue("\(e)".contains("a single tensor, not a dict of tensors"), "\(e)")
        }
    }

    // MARK: the unpickler

    func testUnknownOpcodesAreRefused() {
        var p = PickleBuilder()
        p.op(0xFF)
        assertRefused(p, .unsupported, ["0xff", "byte 2"])
        var q = PickleBuilder()
        q.op(0x69) // INST: builds arbitrary objects
        q.bytes += Array("os\nsystem\n".utf8)
        assertRefused(q, .unsupported, ["INST"])
        var r = PickleBuilder()
        r.global("torch._utils", "_rebuild_tensor_v2"); r.op(0x29, 0x81) // EMPTY_TUPLE NEWOBJ
        assertRefused(r, .unsupported, ["NEWOBJ"])
    }

    func testForbiddenGlobalsAreRefusedByName() {
        for (module, name, fragment) in [("os", "system", "os.system"), ("builtins", "eval", "builtins.eval"),
                                         ("torch", "load", "torch.load"), ("__main__", "MyModel", "__main__.MyModel"),
                                         ("torch._utils", "_rebuild_qtensor", "torch._utils._rebuild_qtensor")] {
            var p = PickleBuilder()
            p.global(module, name)
            p.stop()
            assertRefused(p, .unsupported, [fragment, "refused without running anything"])
        }
        var m = PickleBuilder()
        m.global("torch.nn.modules.rnn", "GRU")
        assertRefused(m, .unsupported, ["whole torch.nn.GRU object", "model.state_dict()"])
        // STACK_GLOBAL goes through the same allow-list.
        var s = PickleBuilder()
        s.string("subprocess"); s.string("call"); s.op(0x93)
        assertRefused(s, .unsupported, ["subprocess.call"])
        // A control character in a name is escaped in the message.
        var c = PickleBuilder()
        c.global("os\u{1B}[2J", "x")
        XCTAssertThrowsError(try unpickle(c)) { e in XCTAssertFalse("\(e)".contains("\u{1B}"), "\(e)") }
    }

    func testMemoAndStackErrors() {
        var p = PickleBuilder()
        p.op(0x68, 5) // BINGET 5, never PUT
        assertRefused(p, .malformedHeader, ["memo", "out of range"])
        var q = PickleBuilder()
        q.op(0x6A, 0xFF, 0xFF, 0xFF, 0x7F) // LONG_BINGET
        assertRefused(q, .malformedHeader, ["memo"])
        for ops: [UInt8] in [[0x86], [0x52], [0x73], [0x30], [0x71, 0], [0x62], [0x2E], [0x4E, 0x28, 0x85]] {
            var s = PickleBuilder()
            s.bytes += ops
            XCTAssertThrowsError(try unpickle(s), "\(ops)") { e in
                XCTAssertEqual((e as! LSTMError).kind, .malformedHeader, "\(ops): \(e)")
            }
        }
        var u = PickleBuilder()
        u.op(0x75) // SETITEMS without MARK
        assertRefused(u, .malformedHeader, ["MARK"])
        var a = PickleBuilder()
        a.op(0x4E, 0x4E, 0x61) // APPEND onto None
        assertRefused(a, .malformedHeader, ["APPEND", "None"])
        var t = PickleBuilder()
        t.op(0x4E) // no STOP
        assertRefused(t, .truncated, ["STOP"])
        var v = PickleBuilder()
        v.op(0x58, 10, 0, 0, 0, 0x61) // a string that runs past the end
        assertRefused(v, .truncated, ["ends inside"])
    }

    func testHugeDeclaredSizesAreRefused() {
        var p = PickleBuilder()
        p.op(0x58, 0xFF, 0xFF, 0xFF, 0xFF) // BINUNICODE of 4 GiB
        assertRefused(p, .invalidInput, ["4294967295", "allowed"])
        var b = PickleBuilder()
        b.op(0x8D, 0, 0, 0, 0, 0, 0, 0, 0x10) // BINUNICODE8
        assertRefused(b, .invalidInput, ["allowed"])
        var q = PickleBuilder()
        q.op(0x42, 0, 0, 0, 0x40) // BINBYTES of 1 GiB
        assertRefused(q, .invalidInput, ["allowed"])
        // A tensor whose size overflows.
        var t = PickleBuilder()
        t.tensor(key: "0", count: 10, size: [1 << 30, 1 << 30, 1 << 30, 1 << 30], stride: [1, 1, 1, 1])
        assertRefused(t, .shape, ["overflows"])
        // Too many dimensions.
        var r = PickleBuilder()
        r.tensor(key: "0", count: 10, size: Array(repeating: 1, count: 40))
        assertRefused(r, .invalidInput, ["40 dimensions"])
        // A pickle larger than allowed is refused before it is read.
        XCTAssertThrowsError(try Unpickler.load([UInt8](repeating: 0x4E, count: Unpickler.maxPickleBytes + 1))) { e in
            XCTAssertEqual((e as! LSTMError).kind, .invalidInput)
        }
        // The stack is bounded.
        var s = PickleBuilder()
        s.bytes += [UInt8](repeating: 0x4E, count: Unpickler.maxStackDepth + 1)
        assertRefused(s, .invalidInput, ["stack"])
    }

    func testStorageShorterThanTheViewIsRefused() {
        var p = PickleBuilder()
        p.tensor(key: "0", count: 4, size: [2, 3]) // needs 6 elements
        assertRefused(p, .sizeMismatch, ["shorter than the view", "reaches element 5", "holds 4"])
        var q = PickleBuilder()
        q.tensor(key: "0", count: 10, offset: 8, size: [3]) // elements 8, 9, 10
        assertRefused(q, .sizeMismatch, ["shorter than the view"])
        var r = PickleBuilder()
        r.tensor(key: "0", count: 6, size: [2, 3], stride: [1, 3]) // reaches 1 + 2·3 = 7
        assertRefused(r, .sizeMismatch, ["reaches element 7"])
        // A broadcast (stride 0) view larger than its storage.
        var b = PickleBuilder()
        b.tensor(key: "0", count: 2, size: [1 << 20], stride: [0])
        assertRefused(b, .unsupported, ["expanded view"])
        // An empty view needs no elements.
        var e = PickleBuilder()
        e.tensor(key: "0", count: 0, offset: 5, size: [0, 3]); e.stop()
        XCTAssertNoThrow(try unpickle(e))
    }

    func testDeepNestingIsBounded() throws {
        var p = PickleBuilder()
        p.bytes += [UInt8](repeating: 0x28, count: Unpickler.maxMarkDepth + 1)
        assertRefused(p, .invalidInput, ["nesting deeper than \(Unpickler.maxMarkDepth)"])
        // Deeply nested lists (no MARKs needed) are values in an arena: no recursion, no crash.
        var l = PickleBuilder()
        l.op(0x5D, 0x71, 0) // EMPTY_LIST, PUT 0
        for _ in 0..<200_000 { l.op(0x68, 0, 0x5D, 0x71, 0, 0x61, 0x30) } // GET0 [] PUT0 APPEND POP: a list in the last one
        l.stop()
        XCTAssertNoThrow(try unpickle(l))
        // Dicts nested deeper than maxDictNesting: refused when flattened.
        let dir = KitTest.tempDir(self)
        var d = PickleBuilder()
        let depth = TorchCheckpoint.maxDictNesting + 5
        for _ in 0..<depth { d.emptyDict(); d.string("k") }
        d.int(1)
        for _ in 0..<depth { d.op(0x73) }
        d.stop()
        checkpoint(d, storages: [], at: dir + "/deep.pt")
        XCTAssertThrowsError(try ModelFormats.read(dir + "/deep.pt")) { e in
            XCTAssertEqual((e as! LSTMError).kind, .invalidInput)
            XCTAssertTrue("\(e)".contains("nest more than \(TorchCheckpoint.maxDictNesting) levels"), "\(e)")
        }
        // A dict that holds itself is bounded the same way.
        var c = PickleBuilder()
        c.emptyDict(); c.op(0x71, 0); c.string("self"); c.op(0x68, 0, 0x73, 0x2E)
        checkpoint(c, storages: [], at: dir + "/cycle.pt")
        XCTAssertThrowsError(try ModelFormats.read(dir + "/cycle.pt"))
    }

    /// What torch.save writes decodes to the expected values (hand-built: plain values and a tensor).
    func testAllowedPickleDecodes() throws {
        var p = PickleBuilder()
        p.global("collections", "OrderedDict"); p.op(0x29, 0x52) // OrderedDict()
        p.mark()
        p.string("w"); p.global("torch._utils", "_rebuild_parameter")
        p.mark(); p.tensor(key: "7", storage: "HalfStorage", count: 6, offset: 2, size: [2, 2], stride: [1, 2]); p.op(0x88); p.global("collections", "OrderedDict"); p.op(0x29, 0x52); p.tuple()
        p.op(0x52)
        p.string("n"); p.op(0x8A, 2, 0xFF, 0xFF) // LONG1 −1
        p.string("f"); p.op(0x47, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0) // BINFLOAT 1.5
        p.string("b"); p.op(0x4D, 0x39, 0x30) // BININT2 12345
        p.setitems(); p.stop()
        let r = try unpickle(p)
        guard case .container(let top) = r.value else { return XCTFail() }
        let d = r.containers[top]
        XCTAssertEqual(d.entries.map { $0.key }, [.string("w"), .string("n"), .string("f"), .string("b")])
        XCTAssertEqual(d.entries[0].value, .tensor(TorchTensor(storage: TorchStorage(type: .half, key: "7", count: 6), offset: 2, size: [2, 2], stride: [1, 2])))
        XCTAssertEqual(d.entries[1].value, .int(-1))
        XCTAssertEqual(d.entries[2].value, .float(1.5))
        XCTAssertEqual(d.entries[3].value, .int(12345))
    }

    /// The opcodes and globals of every fixture's data.pkl are read (and only allowed ones occur).
    func testFixturePicklesUseOnlyAllowedGlobals() throws {
        for g in try GoldenCase.discover(under: PyTorchCheckpointTests.fixtures) {
            let golden = try GoldenCase(path: g)
            let path = golden.directory + "/" + golden.model!
            let c = try TorchCheckpoint(path: path)
            XCTAssertFalse(c.entries.isEmpty, path)
            XCTAssertEqual(c.root, "model/")
            XCTAssertFalse(c.bigEndian)
        }
    }
}
