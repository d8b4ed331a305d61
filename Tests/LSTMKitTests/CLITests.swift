import Foundation
import XCTest
@testable import LSTMCodec
@testable import LSTMCore
@testable import LSTMKit

/// The lstmtool binary end to end: exit codes, one-line errors, help, inspect --json, run's
/// shape rules and verify's failures.
final class CLITests: XCTestCase {
    func assertOneLineError(_ r: KitTest.Result, _ fragments: [String] = [], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 1, "stderr: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("error: "), r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.hasSuffix("\n"), file: file, line: line)
        XCTAssertEqual(r.stderr.split(separator: "\n", omittingEmptySubsequences: false).count, 2, "exactly one line: \(r.stderr)", file: file, line: line)
        for f in fragments { XCTAssertTrue(r.stderr.contains(f), "\"\(r.stderr)\" does not mention \"\(f)\"", file: file, line: line) }
    }

    func npy(_ a: NpyArray, _ path: String) { KitTest.write(Npy.encode(a), to: path) }
    func loadNpy(_ path: String) throws -> NpyArray { try Npy.decode(KitTest.read(path), name: path) }

    // MARK: exit codes, errors, help

    func testExitCodesAndOneLineErrors() throws {
        let dir = KitTest.tempDir(self)
        XCTAssertEqual(try KitTest.run(["inspect", "fixtures/models/lstm.lstm"]).status, 0)
        // Invalid input: one line on stderr, nothing on stdout.
        var rng = KitTest.RNG(5)
        KitTest.write((0..<300).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, to: dir + "/random.lstm")
        let r = try KitTest.run(["inspect", dir + "/random.lstm"])
        assertOneLineError(r, ["random.lstm"])
        XCTAssertEqual(r.stdout, "")
        let good = KitTest.read(KitTest.path("fixtures/models/lstm_2l_bidirectional.lstm"))
        KitTest.write(Array(good[0..<(good.count / 2)]), to: dir + "/cut.lstm")
        assertOneLineError(try KitTest.run(["inspect", dir + "/cut.lstm"]), ["truncated"])
        assertOneLineError(try KitTest.run(["inspect", dir + "/absent.lstm"]), ["absent.lstm"])
        assertOneLineError(try KitTest.run(["run", dir + "/absent.lstm", "--input", "x.npy", "--output", dir + "/y.npy"]))
        assertOneLineError(try KitTest.run(["convert", dir + "/random.lstm", dir + "/out.json"]))
        var v2 = good
        v2[8] = 2
        KitTest.write(v2, to: dir + "/v2.lstm")
        assertOneLineError(try KitTest.run(["inspect", dir + "/v2.lstm"]), ["2.0", "1.x"])
        // A model whose metadata holds a newline still gets a one-line error elsewhere.
        // Usage errors: 64.
        for args in [["inspect"], ["inspect", "a.lstm", "--bogus"], ["run", "fixtures/models/lstm.lstm"],
                     ["run", "fixtures/models/lstm.lstm", "--input", "x", "--output", "y", "--precision", "f16"],
                     ["convert", "fixtures/models/lstm.lstm", dir + "/out.txt"], ["frobnicate"],
                     ["verify", "fixtures", "--atol", "-1"]] {
            let u = try KitTest.run(args)
            XCTAssertEqual(u.status, 64, "\(args): \(u.stderr)")
        }
    }

    func testHelpOfEverySubcommand() throws {
        let top = try KitTest.run(["--help"])
        XCTAssertEqual(top.status, 0)
        for sub in ["inspect", "convert", "run", "verify"] {
            XCTAssertTrue(top.stdout.contains(sub), "top-level help lists \(sub)")
            for args in [[sub, "--help"], ["help", sub]] {
                let h = try KitTest.run(args)
                XCTAssertEqual(h.status, 0, "\(args)")
                XCTAssertTrue(h.stdout.contains("USAGE: lstmtool \(sub)"), h.stdout)
                XCTAssertTrue(h.stdout.contains("Examples:"), "\(sub) --help shows examples")
            }
        }
        let run = try KitTest.run(["run", "--help"]).stdout
        for flag in ["--input", "--output", "--initial-h", "--initial-c", "--sequence-lengths", "--final-h", "--final-c", "--batch-first", "--precision"] {
            XCTAssertTrue(run.contains(flag), "run --help lists \(flag)")
        }
        XCTAssertEqual(try KitTest.run(["--version"]).status, 0)
    }

    // MARK: inspect

    func testInspectJSONKeys() throws {
        let r = try KitTest.run(["inspect", "fixtures/models/lstm_projection.lstm", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(j["format_version"] as? String, "1.0")
        XCTAssertEqual(j["total_parameters"] as? Int, 728)
        let layers = try XCTUnwrap(j["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.count, 1)
        let l = layers[0]
        XCTAssertEqual(l["cell"] as? String, "lstm")
        XCTAssertEqual(l["parameters"] as? Int, 728)
        XCTAssertEqual(l["peepholes"] as? [String], ["input", "forget", "output"])
        XCTAssertEqual(l["coupled"] as? Bool, false)
        XCTAssertTrue(l["reset_after"] is NSNull, "reset_after is null for an LSTM")
        XCTAssertEqual(l["projection_size"] as? Int, 5)
        XCTAssertEqual(l["direction"] as? String, "bidirectional")

        let gru = try JSONSerialization.jsonObject(with: Data(try KitTest.run(["inspect", "fixtures/models/gru_reset_after.lstm", "--json"]).stdout.utf8)) as! [String: Any]
        let g = (gru["layers"] as! [[String: Any]])[0]
        XCTAssertEqual(g["cell"] as? String, "gru")
        XCTAssertEqual(g["reset_after"] as? Bool, true)
        XCTAssertTrue(g["projection_size"] is NSNull)
        XCTAssertEqual(g["peepholes"] as? [String], [])
        let coupled = try JSONSerialization.jsonObject(with: Data(try KitTest.run(["inspect", "fixtures/models/lstm_coupled.lstm", "--json"]).stdout.utf8)) as! [String: Any]
        let c = (coupled["layers"] as! [[String: Any]])[0]
        XCTAssertEqual(c["coupled"] as? Bool, true)
        XCTAssertEqual(c["peepholes"] as? [String], ["forget", "output"])
        let rnn = try JSONSerialization.jsonObject(with: Data(try KitTest.run(["inspect", "fixtures/golden/rnn_reverse/model.json", "--json"]).stdout.utf8)) as! [String: Any]
        XCTAssertEqual((rnn["layers"] as! [[String: Any]])[0]["cell"] as? String, "rnn")
        XCTAssertEqual((rnn["layers"] as! [[String: Any]])[0]["direction"] as? String, "reverse")
    }

    func testInspectStatsCatchesAFlippedBlobByte() throws {
        let dir = KitTest.tempDir(self)
        var f = KitTest.read(KitTest.path("fixtures/models/gru_reset_after.lstm"))
        let parts = try KitTest.split(f)
        let e = parts.header.tensors[1]
        f[parts.preamble.blobOffset + e.offset + e.storedSize / 2] ^= 0x04
        KitTest.write(f, to: dir + "/flipped.lstm")
        let plain = try KitTest.run(["inspect", dir + "/flipped.lstm"])
        XCTAssertEqual(plain.status, 0, "inspect without --stats reads no blob")
        XCTAssertTrue(plain.stdout.contains("total parameters: 150"))
        let stats = try KitTest.run(["inspect", dir + "/flipped.lstm", "--stats"])
        assertOneLineError(stats, [e.name])
        XCTAssertTrue(stats.stderr.contains("CRC mismatch"), stats.stderr)
        let ok = try KitTest.run(["inspect", "fixtures/models/gru_reset_after.lstm", "--stats"])
        XCTAssertEqual(ok.status, 0)
        XCTAssertTrue(ok.stdout.contains("checksums: all 4 tensors OK"), ok.stdout)
    }

    // MARK: run

    func testRunMatchesTheGoldenAndBatchFirstIsATranspose() throws {
        let dir = KitTest.tempDir(self)
        let r = try KitTest.run(["run", "fixtures/golden/lstm/model.json", "--input", "fixtures/golden/lstm/x.npy", "--output", dir + "/y.npy",
                                 "--final-h", dir + "/hn.npy", "--final-c", dir + "/cn.npy", "--precision", "f64"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for (got, want) in [("y", "y64"), ("hn", "hn64"), ("cn", "cn64")] {
            let a = try loadNpy(dir + "/\(got).npy"), b = try loadNpy(KitTest.path("fixtures/golden/lstm/\(want).npy"))
            XCTAssertEqual(a.kind, .float64)
            XCTAssertEqual(a.shape, b.shape)
            XCTAssertLessThan(zip(a.values, b.values).map { abs($0 - $1) }.max()!, 1e-10, got)
        }
        // The same input batch-first.
        let x = try loadNpy(KitTest.path("fixtures/golden/lstm/x.npy"))
        let (t, b, i) = (x.shape[0], x.shape[1], x.shape[2])
        var bf = [Double](repeating: 0, count: x.values.count)
        for ti in 0..<t { for bi in 0..<b { for k in 0..<i { bf[(bi * t + ti) * i + k] = x.values[(ti * b + bi) * i + k] } } }
        npy(NpyArray(kind: .float32, shape: [b, t, i], values: bf), dir + "/xbf.npy")
        let r2 = try KitTest.run(["run", "fixtures/golden/lstm/model.json", "--input", dir + "/xbf.npy", "--output", dir + "/ybf.npy", "--batch-first",
                                  "--final-h", dir + "/hnbf.npy"])
        XCTAssertEqual(r2.status, 0, r2.stderr)
        let r3 = try KitTest.run(["run", "fixtures/golden/lstm/model.json", "--input", "fixtures/golden/lstm/x.npy", "--output", dir + "/ytm.npy",
                                  "--final-h", dir + "/hntm.npy"])
        XCTAssertEqual(r3.status, 0, r3.stderr)
        let ybf = try loadNpy(dir + "/ybf.npy"), ytm = try loadNpy(dir + "/ytm.npy")
        XCTAssertEqual(ybf.kind, .float32)
        let w = ytm.shape[2]
        XCTAssertEqual(ybf.shape, [b, t, w])
        for ti in 0..<t { for bi in 0..<b { for k in 0..<w {
            XCTAssertEqual(ybf.values[(bi * t + ti) * w + k], ytm.values[(ti * b + bi) * w + k])
        } } }
        XCTAssertEqual(try loadNpy(dir + "/hnbf.npy"), try loadNpy(dir + "/hntm.npy"), "states keep their layout with --batch-first")
    }

    func testRunStatesTheExpectedShapeAndRefusesFortranOrder() throws {
        let dir = KitTest.tempDir(self)
        npy(NpyArray(kind: .float32, shape: [2, 1, 7], values: [Double](repeating: 0.5, count: 14)), dir + "/x7.npy")
        assertOneLineError(try KitTest.run(["run", "fixtures/models/lstm.lstm", "--input", dir + "/x7.npy", "--output", dir + "/y.npy"]),
                           ["[2, 1, 7]", "expected [T, B, 5]"])
        assertOneLineError(try KitTest.run(["run", "fixtures/models/lstm.lstm", "--input", dir + "/x7.npy", "--output", dir + "/y.npy", "--batch-first"]),
                           ["expected [B, T, 5]"])
        npy(NpyArray(kind: .float32, shape: [2, 1, 5], values: [Double](repeating: 0.5, count: 10)), dir + "/x.npy")
        npy(NpyArray(kind: .float32, shape: [3, 1, 4], values: [Double](repeating: 0, count: 12)), dir + "/h0.npy")
        assertOneLineError(try KitTest.run(["run", "fixtures/models/lstm.lstm", "--input", dir + "/x.npy", "--output", dir + "/y.npy",
                                            "--initial-h", dir + "/h0.npy"]), ["[3, 1, 4]", "expected [L·D, B, P] = [1, 1, 4]"])
        npy(NpyArray(kind: .int32, shape: [2], values: [1, 2]), dir + "/lens.npy")
        assertOneLineError(try KitTest.run(["run", "fixtures/models/lstm.lstm", "--input", dir + "/x.npy", "--output", dir + "/y.npy",
                                            "--sequence-lengths", dir + "/lens.npy"]), ["expected [1]"])
        // A Fortran-order array (NumPy header with fortran_order True), and the same bytes in C order.
        func rawNpy(fortran: Bool) -> [UInt8] {
            var header = "{'descr': '<f4', 'fortran_order': \(fortran ? "True" : "False"), 'shape': (2, 1, 5), }"
            while (10 + header.count + 1) % 64 != 0 { header += " " }
            header += "\n"
            return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count & 0xFF), UInt8(header.count >> 8)] + Array(header.utf8)
                + [UInt8](repeating: 0, count: 40)
        }
        KitTest.write(rawNpy(fortran: true), to: dir + "/fortran.npy")
        assertOneLineError(try KitTest.run(["run", "fixtures/models/lstm.lstm", "--input", dir + "/fortran.npy", "--output", dir + "/y.npy"]),
                           ["fortran.npy", "Fortran"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/y.npy"), "no output on error")
        KitTest.write(rawNpy(fortran: false), to: dir + "/c.npy")
        let ok = try KitTest.run(["run", "fixtures/models/lstm.lstm", "--input", dir + "/c.npy", "--output", dir + "/y.npy"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertEqual(try loadNpy(dir + "/y.npy").shape, [2, 1, 4])
    }

    func testStackWhoseWidthsDifferUsesNpzStates() throws {
        let dir = KitTest.tempDir(self)
        let model = "fixtures/models/lstm_stack_widths.lstm"
        npy(NpyArray(kind: .float64, shape: [3, 2, 5], values: (0..<30).map { Double($0 % 7) / 7 - 0.4 }), dir + "/x.npy")
        assertOneLineError(try KitTest.run(["run", model, "--input", dir + "/x.npy", "--output", dir + "/y.npy", "--final-h", dir + "/hn.npy"]), [".npz"])
        let ok = try KitTest.run(["run", model, "--input", dir + "/x.npy", "--output", dir + "/y.npy",
                                  "--final-h", dir + "/hn.npz", "--final-c", dir + "/cn.npz", "--precision", "f64"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        let hn = try Npz.decode(KitTest.read(dir + "/hn.npz"), name: "hn.npz")
        XCTAssertEqual(hn.map(\.0), ["layer0", "layer1"])
        XCTAssertEqual(hn.map(\.1.shape), [[1, 2, 4], [1, 2, 5]])
        let cn = try Npz.decode(KitTest.read(dir + "/cn.npz"), name: "cn.npz")
        XCTAssertEqual(cn.map(\.1.shape), [[1, 2, 4], [1, 2, 5]])
        let y = try loadNpy(dir + "/y.npy")
        XCTAssertEqual(y.shape, [3, 2, 5])
        // The final h of the last layer is y's last step.
        XCTAssertEqual(Array(y.values[20..<30]), hn[1].1.values)
        // States go back in as .npz; a .npy is refused with a message naming .npz.
        assertOneLineError(try KitTest.run(["run", model, "--input", dir + "/x.npy", "--output", dir + "/y2.npy",
                                            "--initial-h", dir + "/x.npy"]), [".npz", "layer0"])
        let again = try KitTest.run(["run", model, "--input", dir + "/x.npy", "--output", dir + "/y2.npy", "--precision", "f64",
                                     "--initial-h", dir + "/hn.npz", "--initial-c", dir + "/cn.npz"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertNotEqual(try loadNpy(dir + "/y2.npy"), y, "the given states are used")
    }

    func testConvertFailureLeavesTheOutputAsItWas() throws {
        let dir = KitTest.tempDir(self)
        let out = dir + "/out.lstm"
        XCTAssertEqual(try KitTest.run(["convert", "fixtures/golden/gru_reset_before/model.json", out]).status, 0)
        let before = KitTest.read(out)
        let bad = try String(contentsOfFile: KitTest.path("fixtures/golden/lstm/model.json"), encoding: .utf8)
            .replacingOccurrences(of: "\"shape\": [16, 5]", with: "\"shape\": [5, 16]")
        try bad.write(toFile: dir + "/bad.json", atomically: true, encoding: .utf8)
        assertOneLineError(try KitTest.run(["convert", dir + "/bad.json", out]), ["W_x"])
        XCTAssertEqual(KitTest.read(out), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["bad.json", "out.lstm"])
        // Round trip through JSON with the CLI is bit-exact.
        XCTAssertEqual(try KitTest.run(["convert", out, dir + "/m.json"]).status, 0)
        XCTAssertEqual(try KitTest.run(["convert", dir + "/m.json", dir + "/m.lstm"]).status, 0)
        XCTAssertEqual(KitTest.read(dir + "/m.lstm"), before)
    }

    // MARK: verify

    func testVerifyPassesOnTheFixtures() throws {
        let r = try KitTest.run(["verify", "fixtures/golden/lstm", "--json"])
        XCTAssertEqual(r.status, 0, r.stdout)
        let j = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(j["passed"] as? Int, 2)
        XCTAssertEqual(j["failed"] as? Int, 0)
    }

    func testVerifyCatchesAPerturbedWeight() throws {
        let dir = KitTest.tempDir(self)
        var m = try ModelFormats.read(KitTest.path("fixtures/golden/lstm/model.json")).model
        var wx = m.layers[0].passes[0][.inputWeights]!.floats()
        wx[7] += 1e-3
        m.layers[0].passes[0][.inputWeights] = ModelTensor(wx, shape: [16, 5])
        try ModelWriter.write(m, to: dir + "/perturbed.lstm")
        let r = try KitTest.run(["verify", dir + "/perturbed.lstm", "--golden", "fixtures/golden/lstm"])
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("FAIL lstm [f64]"), r.stdout)
        XCTAssertTrue(r.stdout.contains("    y: "), "the report names the output: \(r.stdout)")
        XCTAssertTrue(r.stdout.contains("first step out of tolerance: 0"), r.stdout)
        XCTAssertTrue(r.stdout.contains("worst at step "), r.stdout)
        XCTAssertTrue(r.stdout.contains("verify: 0 passed, 2 failed") || r.stdout.contains("verify: 1 passed, 1 failed"), r.stdout)
        let j = try JSONSerialization.jsonObject(with: Data(try KitTest.run(["verify", dir + "/perturbed.lstm", "--golden", "fixtures/golden/lstm",
                                                                           "--precision", "f64", "--json"]).stdout.utf8)) as! [String: Any]
        let outputs = ((j["cases"] as! [[String: Any]])[0]["outputs"] as! [[String: Any]])
        let y = outputs.first { $0["name"] as? String == "y" }!
        XCTAssertEqual(y["passed"] as? Bool, false)
        XCTAssertEqual(y["first_failing_step"] as? Int, 0)
        XCTAssertGreaterThan(y["max_abs_error"] as? Double ?? 0, 1e-6)
        XCTAssertLessThan(y["max_abs_error"] as? Double ?? 1, 1e-2)
    }

    func copyCase(_ name: String, to dir: String) throws -> String {
        let dest = dir + "/" + name
        try FileManager.default.copyItem(atPath: KitTest.path("fixtures/golden/\(name)"), toPath: dest)
        return dest
    }

    func testVerifyCatchesAPerturbedGolden() throws {
        let dir = KitTest.tempDir(self)
        let c = try copyCase("lstm", to: dir)
        // y is [T=7, B=3, 4]: change step 3, batch 1, unit 2 in both expectations.
        for file in ["y.npy", "y64.npy"] {
            var a = try loadNpy(c + "/" + file)
            a.values[(3 * 3 + 1) * 4 + 2] += 1e-3
            npy(a, c + "/" + file)
        }
        let r = try KitTest.run(["verify", c])
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("FAIL lstm [f32]") && r.stdout.contains("FAIL lstm [f64]"), r.stdout)
        XCTAssertTrue(r.stdout.contains("    y: "), r.stdout)
        XCTAssertTrue(r.stdout.contains("1 element(s) out of tolerance"), r.stdout)
        XCTAssertTrue(r.stdout.contains("worst at step 3, batch 1, unit 2"), r.stdout)
        XCTAssertTrue(r.stdout.contains("first step out of tolerance: 3"), r.stdout)
        XCTAssertFalse(r.stdout.contains("    hn: "), "hn still passes and is not detailed")
        let j = try JSONSerialization.jsonObject(with: Data(try KitTest.run(["verify", c, "--json"]).stdout.utf8)) as! [String: Any]
        for cs in j["cases"] as! [[String: Any]] {
            let y = (cs["outputs"] as! [[String: Any]]).first { $0["name"] as? String == "y" }!
            XCTAssertEqual(y["first_failing_step"] as? Int, 3)
            XCTAssertEqual((y["worst"] as! [String: Any])["index"] as? [Int], [3, 1, 2])
            XCTAssertEqual(y["failing_elements"] as? Int, 1)
        }
        // A loose tolerance given on the command line lets it pass.
        XCTAssertEqual(try KitTest.run(["verify", c, "--atol", "1e-2"]).status, 0)
    }

    func testVerifyCountsNaNAsItsOwnFailure() throws {
        let dir = KitTest.tempDir(self)
        let c = try copyCase("gru_reset_after", to: dir)
        var a = try loadNpy(c + "/y64.npy")
        a.values[5] = .nan
        npy(a, c + "/y64.npy")
        let r = try KitTest.run(["verify", c, "--precision", "f64"])
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("1 NaN/Inf mismatch(es)"), r.stdout)
        // NaN produced by the model where the golden is finite.
        let dir2 = KitTest.tempDir(self)
        var m = try ModelFormats.read(KitTest.path("fixtures/golden/gru_reset_after/model.json")).model
        var wh = m.layers[0].passes[0][.recurrentWeights]!.floats()
        wh[0] = .nan
        m.layers[0].passes[0][.recurrentWeights] = ModelTensor(wh, shape: m.layers[0].passes[0][.recurrentWeights]!.shape)
        try ModelWriter.write(m, to: dir2 + "/nan.lstm")
        let j = try JSONSerialization.jsonObject(with: Data(try KitTest.run(["verify", dir2 + "/nan.lstm", "--golden", "fixtures/golden/gru_reset_after",
                                                                           "--json", "--atol", "1e3"]).stdout.utf8)) as! [String: Any]
        XCTAssertEqual(j["failed"] as? Int, 2, "NaN fails whatever the tolerance")
        let y = ((j["cases"] as! [[String: Any]])[0]["outputs"] as! [[String: Any]]).first { $0["name"] as? String == "y" }!
        XCTAssertGreaterThan(y["nonfinite_mismatches"] as? Int ?? 0, 0)
    }

    func testVerifyMissingFilesAreErrors() throws {
        let dir = KitTest.tempDir(self)
        assertOneLineError(try KitTest.run(["verify", "fixtures/models/lstm.lstm", "--golden", dir + "/nowhere"]))
        assertOneLineError(try KitTest.run(["verify", dir]), ["no golden.json"])
        let c = try copyCase("rnn_tanh", to: dir)
        try FileManager.default.removeItem(atPath: c + "/x.npy")
        let r = try KitTest.run(["verify", c])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("x.npy"), r.stdout)
        XCTAssertTrue(r.stdout.contains("could not run"), r.stdout)
    }

    /// Long work shows progress on stderr when it is a terminal (here a pseudo-terminal made
    /// by util-linux's `script`, part of every Debian system), and prints nothing extra into a
    /// pipe; the outputs are the same bytes either way (run feeds chunks with its state
    /// carried, which is bitwise the whole run).
    func testProgressOnlyOnATerminalAndSameOutputs() throws {
        let dir = KitTest.tempDir(self)
        var rng = KitTest.RNG(31)
        let t = 9000, b = 2
        npy(NpyArray(kind: .float32, shape: [t, b, 4], values: (0..<(t * b * 4)).map { _ in Double(Float(rng.uniform(1))) }), dir + "/x.npy")
        npy(NpyArray(kind: .int32, shape: [b], values: [Double(t), 5000]), dir + "/l.npy")
        let model = "fixtures/models/lstm_peephole_all.lstm"
        let piped = try KitTest.run(["run", model, "--input", dir + "/x.npy", "--output", dir + "/y1.npy", "--sequence-lengths", dir + "/l.npy",
                                     "--final-h", dir + "/h1.npy", "--final-c", dir + "/c1.npy"])
        XCTAssertEqual(piped.status, 0, piped.stderr)
        XCTAssertEqual(piped.stderr, "", "nothing extra into a pipe")
        let bin = try XCTUnwrap(KitTest.binary)
        let command = [bin, "run", model, "--input", dir + "/x.npy", "--output", dir + "/y2.npy", "--sequence-lengths", dir + "/l.npy",
                       "--final-h", dir + "/h2.npy", "--final-c", dir + "/c2.npy"].map { "'\($0)'" }.joined(separator: " ")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        p.arguments = ["-qec", command, "/dev/null"]
        p.currentDirectoryURL = URL(fileURLWithPath: KitTest.root)
        let out = Pipe()
        p.standardOutput = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let seen = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, seen)
        XCTAssertTrue(seen.contains("run: step"), "progress on a terminal: \(seen.suffix(200))")
        for name in ["y", "h", "c"] {
            XCTAssertEqual(KitTest.read(dir + "/\(name)1.npy"), KitTest.read(dir + "/\(name)2.npy"), "\(name): the same bytes with and without progress")
        }
    }
}
