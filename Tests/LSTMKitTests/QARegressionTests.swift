import Foundation
import XCTest
@testable import LSTMCodec
@testable import LSTMCore
@testable import LSTMKit

/// Regressions found by a QA pass over the command line (each test names the bug it pins).
final class QARegressionTests: XCTestCase {
    func assertOneLineError(_ r: KitTest.Result, _ fragments: [String] = [], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 1, "stderr: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("error: "), r.stderr, file: file, line: line)
        XCTAssertEqual(r.stderr.split(separator: "\n", omittingEmptySubsequences: false).count, 2, "exactly one line: \(r.stderr)", file: file, line: line)
        for f in fragments { XCTAssertTrue(r.stderr.contains(f), "\"\(r.stderr)\" does not mention \"\(f)\"", file: file, line: line) }
    }

    func npy(_ a: NpyArray, _ path: String) { KitTest.write(Npy.encode(a), to: path) }

    /// x [6, 3, 5] for fixtures/models/lstm.lstm (I = 5).
    func writeInput(_ path: String) {
        var rng = KitTest.RNG(11)
        npy(NpyArray(kind: .float32, shape: [6, 3, 5], values: (0..<90).map { _ in rng.uniform() }), path)
    }

    func copyCase(_ name: String, to dir: String) throws {
        try FileManager.default.copyItem(atPath: KitTest.path("fixtures/golden/\(name)"), toPath: dir + "/" + name)
    }

    // Bug: one unreadable golden.json in a folder stopped `verify DIR` before any case ran
    // (exit 1, no report); every other case must still run, and the bad one is an ERROR.
    func testVerifyFolderWithABrokenGoldenRunsEveryOtherCase() throws {
        let dir = KitTest.tempDir(self)
        try copyCase("lstm", to: dir)
        try copyCase("rnn_tanh", to: dir)
        try FileManager.default.createDirectory(atPath: dir + "/broken", withIntermediateDirectories: true)
        KitTest.write(Array("{\"name\": ".utf8), to: dir + "/broken/golden.json")
        try FileManager.default.createDirectory(atPath: dir + "/unknown_output", withIntermediateDirectories: true)
        KitTest.write(Array(#"{"inputs": {"input": "x.npy"}, "expected": {"f32": {"outputs": {"zz": "y.npy"}}}}"#.utf8),
                      to: dir + "/unknown_output/golden.json")
        let r = try KitTest.run(["verify", dir])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertEqual(r.stderr, "")
        XCTAssertTrue(r.stdout.contains("PASS lstm [f32]"), r.stdout)
        XCTAssertTrue(r.stdout.contains("PASS rnn_tanh [f64]"), r.stdout)
        XCTAssertTrue(r.stdout.contains("ERROR broken"), r.stdout)
        XCTAssertTrue(r.stdout.contains("unknown output \"zz\""), r.stdout)
        XCTAssertTrue(r.stdout.hasSuffix("verify: 4 passed, 2 failed (2 could not run)\n"), r.stdout)
        let j = try KitTest.run(["verify", dir, "--json"])
        XCTAssertEqual(j.status, 1)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(report["passed"] as? Int, 4)
        XCTAssertEqual(report["errors"] as? Int, 2)
        // A missing target says so, rather than asking for a folder.
        assertOneLineError(try KitTest.run(["verify", dir + "/absent"]), ["absent: no such file or folder"])
    }

    // Bug: with --atol 0 --rtol 0 every failing element scored infinity and "worst at" named
    // the first failing element, not the one with the largest error.
    func testWorstElementWithZeroTolerancesIsTheLargestError() {
        let want: [Double] = [1, 2, 3, 4]
        let got: [Double] = [1.1, 2, 3.5, 4.2]
        let c = OutputComparison(name: "y", got: got, gotShape: [4, 1, 1], want: want, wantShape: [4, 1, 1],
                                 axes: ["step", "batch", "unit"], timeAxis: 0, atol: 0, rtol: 0)
        XCTAssertEqual(c.worstIndex, [2, 0, 0])
        XCTAssertEqual(c.worstGot, 3.5)
        XCTAssertEqual(c.failingElements, 3)
        // A NaN/Inf mismatch still counts as the worst.
        let n = OutputComparison(name: "y", got: [1.1, .nan, 3.5], gotShape: [3], want: [1, 2, 3], wantShape: [3],
                                 axes: ["unit"], timeAxis: nil, atol: 0, rtol: 0)
        XCTAssertEqual(n.worstIndex, [1])
    }

    // Bug: an int64 entry of Int64.min trapped in abs() (Illegal instruction, crash trace).
    func testInt64MinIsAnErrorNotACrash() throws {
        let dir = KitTest.tempDir(self)
        var bytes = Npy.encode(NpyArray(kind: .int64, shape: [3], values: [0, 3, 1]))
        let min = UInt64(bitPattern: Int64.min)
        for k in 0..<8 { bytes[bytes.count - 24 + k] = UInt8(truncatingIfNeeded: min >> (8 * UInt64(k))) }
        XCTAssertThrowsError(try Npy.decode(bytes, name: "lens.npy")) { e in
            XCTAssertTrue((e as? LSTMError)?.message.contains("lens.npy") ?? false, "\(e)")
        }
        KitTest.write(bytes, to: dir + "/lens.npy")
        writeInput(dir + "/x.npy")
        assertOneLineError(try KitTest.run(["run", "fixtures/models/lstm.lstm", "--input", dir + "/x.npy", "--output", dir + "/y.npy",
                                            "--sequence-lengths", dir + "/lens.npy"]), ["lens.npy", "index 0"])
    }

    // Bug: a length outside 0...T was reported without naming the file.
    func testSequenceLengthOutOfRangeNamesTheFile() throws {
        let dir = KitTest.tempDir(self)
        writeInput(dir + "/x.npy")
        for (name, lens) in [("long.npy", [7.0, 3, 1]), ("negative.npy", [6.0, -1, 1])] {
            npy(NpyArray(kind: .int32, shape: [3], values: lens), dir + "/" + name)
            assertOneLineError(try KitTest.run(["run", "fixtures/models/lstm.lstm", "--input", dir + "/x.npy", "--output", dir + "/y.npy",
                                                "--sequence-lengths", dir + "/" + name]), [name, "0...6"])
        }
    }

    // Bug: `inspect` (any reader) on a FIFO blocked for ever in open(2) waiting for a writer.
    func testReadingAFIFOFailsAtOnce() throws {
        let dir = KitTest.tempDir(self)
        let fifo = dir + "/pipe.lstm"
        let mk = Process()
        mk.executableURL = URL(fileURLWithPath: "/usr/bin/mkfifo")
        mk.arguments = [fifo]
        try mk.run()
        mk.waitUntilExit()
        XCTAssertEqual(mk.terminationStatus, 0)
        final class Box: @unchecked Sendable { var error: Error? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            do { _ = try MappedFile(path: fifo) } catch { box.error = error }
            done.signal()
        }
        guard done.wait(timeout: .now() + 10) == .success else { return XCTFail("opening a FIFO blocked") }
        XCTAssertEqual((box.error as? LSTMError)?.message, "\(fifo): not a regular file")
    }

    // Bug: a NUL character in metadata was silently cut off by the .lstm writer (protobuf-c
    // strings are C strings): json -> lstm lost everything after it. Now it is refused.
    func testNULInMetadataIsRefusedByTheLSTMWriter() throws {
        let dir = KitTest.tempDir(self)
        var model = KitTest.model([LayerSpec(cell: .rnn, inputSize: 2, hiddenSize: 3)])
        model.metadata.name = "a\u{0}b"
        XCTAssertThrowsError(try ModelWriter.write(model, to: dir + "/m.lstm")) { e in
            XCTAssertEqual((e as? LSTMError)?.message, "\(dir)/m.lstm: metadata name contains a NUL character (U+0000), which a .lstm header cannot hold")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/m.lstm"))
        model.metadata.name = "ok"
        model.metadata.properties = [(key: "k", value: "v\u{0}")]
        XCTAssertThrowsError(try ModelWriter.write(model, to: dir + "/m.lstm"))
        // The JSON form holds it exactly.
        let json = try JSONForm.encode(model)
        XCTAssertEqual(try JSONForm.decode(Array(json.utf8), path: "m.json").metadata.properties.first?.value, "v\u{0}")
    }

    // Bug: a JSON syntax error read "not valid JSON (message("unexpected end at byte 0"))".
    func testJSONSyntaxErrorReadsWell() throws {
        XCTAssertThrowsError(try JSONForm.decode([], path: "m.json")) { e in
            XCTAssertEqual((e as? LSTMError)?.message, "m.json: not valid JSON (unexpected end at byte 0)")
        }
        let dir = KitTest.tempDir(self)
        KitTest.write(Array("{\"inputs\": ".utf8), to: dir + "/golden.json")
        XCTAssertThrowsError(try GoldenCase(path: dir)) { e in
            XCTAssertTrue((e as? LSTMError)?.message.contains("golden.json: not valid JSON (") ?? false, "\(e)")
        }
    }

    // Bug: run wrote Y and then failed on HN (missing folder), replacing an existing Y although
    // the command failed; docs/CLI.md promises a failed command leaves outputs as they were.
    func testRunReplacesNoOutputWhenOneCannotBeWritten() throws {
        let dir = KitTest.tempDir(self)
        writeInput(dir + "/x.npy")
        let old: [UInt8] = Array("old y".utf8)
        KitTest.write(old, to: dir + "/y.npy")
        try FileManager.default.createDirectory(atPath: dir + "/folder.npy", withIntermediateDirectories: true)
        for hn in [dir + "/absent/hn.npy", dir + "/folder.npy"] {
            assertOneLineError(try KitTest.run(["run", "fixtures/models/lstm.lstm", "--input", dir + "/x.npy", "--output", dir + "/y.npy",
                                                "--final-h", hn]), [hn])
            XCTAssertEqual(KitTest.read(dir + "/y.npy"), old)
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") }
        XCTAssertEqual(left, [], "temporary files left behind")
        let ok = try KitTest.run(["run", "fixtures/models/lstm.lstm", "--input", dir + "/x.npy", "--output", dir + "/y.npy",
                                  "--final-h", dir + "/hn.npy", "--final-c", dir + "/cn.npy"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertEqual(try Npy.decode(KitTest.read(dir + "/y.npy"), name: "y").shape, [6, 3, 4])
        XCTAssertEqual(try Npy.decode(KitTest.read(dir + "/cn.npy"), name: "cn").shape, [1, 3, 4])
    }

    // Bug: error messages and verify's report quoted names from files with raw escape
    // sequences (ESC reached the terminal); inspect let bidi controls and U+2028 through.
    func testUntrustedNamesAreEscapedInErrorsReportsAndInspect() throws {
        let dir = KitTest.tempDir(self)
        var model = KitTest.model([LayerSpec(cell: .rnn, inputSize: 2, hiddenSize: 3)])
        model.metadata.name = "x\u{202E}evil\u{2028}y"
        let json = try JSONForm.encode(model)
        KitTest.write(Array(json.utf8), to: dir + "/m.json")
        let i = try KitTest.run(["inspect", dir + "/m.json"])
        XCTAssertTrue(i.stdout.contains("name: x\\u{202e}evil\\u{2028}y"), i.stdout)
        // An unknown tensor role with an escape sequence in its name.
        let bad = json.replacingOccurrences(of: "\"W_x\"", with: "\"W\\u001b[31mx\"")
        XCTAssertNotEqual(bad, json)
        KitTest.write(Array(bad.utf8), to: dir + "/bad.json")
        let r = try KitTest.run(["inspect", dir + "/bad.json"])
        assertOneLineError(r, ["W\\u{1b}[31mx"])
        XCTAssertFalse(r.stderr.contains("\u{1b}"))
        // verify's text report: a case name and an error from the file.
        try FileManager.default.createDirectory(atPath: dir + "/case", withIntermediateDirectories: true)
        KitTest.write(Array(#"{"name": "n\u001b[2J", "model": "../bad.json", "inputs": {"input": "x.npy"}, "expected": {"f32": {"outputs": {"y": "y.npy"}}}}"#.utf8),
                      to: dir + "/case/golden.json")
        let v = try KitTest.run(["verify", dir + "/case"])
        XCTAssertEqual(v.status, 1)
        XCTAssertFalse(v.stdout.contains("\u{1b}"), v.stdout)
        XCTAssertTrue(v.stdout.contains("ERROR n\\u{1b}[2J [f32]"), v.stdout)
    }

    // Bug: run's and verify's --help examples were wrapped mid-command at 80 columns.
    func testHelpFitsEightyColumns() throws {
        for sub in ["inspect", "convert", "run", "verify", "diff", "analyze"] {
            let h = try KitTest.run([sub, "--help"])
            for l in h.stdout.split(separator: "\n") where !l.hasPrefix("USAGE:") {
                XCTAssertLessThanOrEqual(l.count, 80, "\(sub) --help: \(l)")
            }
            // No example line is broken into an unindented continuation.
            let examples = h.stdout.components(separatedBy: "Examples:\n").last?.components(separatedBy: "\n\n").first ?? ""
            for l in examples.split(separator: "\n") {
                XCTAssertTrue(l.hasPrefix("  "), "\(sub) --help example line not indented: \(l)")
            }
        }
    }

    // Bug: a failing import printed its `note:` lines before the error, so the failure was not
    // one line; notes now appear only when the command succeeds.
    func testNotesOnlyOnSuccess() throws {
        let dir = KitTest.tempDir(self)
        let source = KitTest.path("fixtures/pytorch/lstm_2l_bi/model_in_module.safetensors")
        let ok = try KitTest.run(["convert", source, dir + "/m.lstm"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stderr.contains("note: "), "the import should say which module it took: \(ok.stderr)")
        // The same import into a format that refuses the model fails with exactly one line.
        let proj = KitTest.path("fixtures/pytorch/lstm_proj/model.safetensors")
        assertOneLineError(try KitTest.run(["convert", proj, dir + "/m.onnx", "--cell", "lstm"]), ["projection"])
    }

    // Bug: an .npz of states with an array the model has no layer for was silently ignored.
    func testStatesNpzWithAnExtraLayerIsRefused() throws {
        let dir = KitTest.tempDir(self)
        writeInput(dir + "/x.npy")
        let h = NpyArray(kind: .float32, shape: [1, 3, 4], values: Array(repeating: 0, count: 12))
        KitTest.write(Npz.encode([("layer0", h), ("layer1", h)]), to: dir + "/h0.npz")
        assertOneLineError(try KitTest.run(["run", KitTest.path("fixtures/models/lstm.lstm"), "--input", dir + "/x.npy",
                                            "--output", dir + "/y.npy", "--initial-h", dir + "/h0.npz"]), ["layer1", "expected layer0"])
    }
}
