import Foundation
import XCTest
@testable import LSTMCore
@testable import LSTMKit

/// Pictures: `draw` for every model in fixtures/models and every cell variant, `verify --plot`
/// and the analyze report. Every SVG must be well-formed XML (xmllint) and render
/// (rsvg-convert); both tools are required (Makefile APT_PACKAGES: libxml2-utils librsvg2-bin).
final class DrawTests: XCTestCase {
    static func tool(_ name: String) -> String? {
        for dir in ["/usr/bin", "/usr/local/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: dir + "/" + name) {
            return dir + "/" + name
        }
        return nil
    }

    /// Runs a tool; returns its exit status and stderr.
    static func runTool(_ path: String, _ args: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func checkSVGFile(_ path: String, test: XCTestCase, file: StaticString = #filePath, line: UInt = #line) throws {
        guard let xmllint = tool("xmllint"), let rsvg = tool("rsvg-convert") else {
            XCTFail("xmllint and rsvg-convert are required to check the SVG pictures: apt-get install libxml2-utils librsvg2-bin (make deps)",
                    file: file, line: line)
            return
        }
        let (s1, e1) = try runTool(xmllint, ["--noout", path])
        XCTAssertEqual(s1, 0, "\(path) is not well-formed XML: \(e1)", file: file, line: line)
        let png = path + ".png"
        let (s2, e2) = try runTool(rsvg, [path, "-o", png])
        XCTAssertEqual(s2, 0, "\(path) does not render: \(e2)", file: file, line: line)
        let size = (try? FileManager.default.attributesOfItem(atPath: png)[.size] as? Int) ?? 0
        XCTAssertGreaterThan(size, 1000, "\(path) rendered to an empty picture", file: file, line: line)
        try? FileManager.default.removeItem(atPath: png)
    }

    static func checkSVG(_ svg: String, name: String, test: XCTestCase, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = KitTest.tempDir(test)
        let path = dir + "/" + name + ".svg"
        try svg.write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertFalse(svg.contains("<script"), file: file, line: line)
        XCTAssertFalse(svg.contains("@font-face") || svg.contains("href=\"http"), "self-contained", file: file, line: line)
        try checkSVGFile(path, test: test, file: file, line: line)
    }

    func testDrawEveryFixtureModel() throws {
        let dir = KitTest.tempDir(self)
        let models = try FileManager.default.contentsOfDirectory(atPath: KitTest.path("fixtures/models")).filter { $0.hasSuffix(".lstm") }.sorted()
        XCTAssertGreaterThanOrEqual(models.count, 11)
        var pictures: [String: String] = [:]
        for m in models {
            let out = dir + "/" + m + ".svg"
            let r = try KitTest.run(["draw", "fixtures/models/" + m, "-o", out])
            XCTAssertEqual(r.status, 0, "\(m): \(r.stderr)")
            try DrawTests.checkSVGFile(out, test: self)
            let svg = try String(contentsOfFile: out, encoding: .utf8)
            pictures[m] = svg
            // Deterministic: the same bytes again.
            let again = try KitTest.run(["draw", "fixtures/models/" + m, "-o", out + "2"])
            XCTAssertEqual(again.status, 0)
            XCTAssertEqual(try String(contentsOfFile: out + "2", encoding: .utf8), svg, "\(m): draw is deterministic")
        }
        // Variants are visibly different: no two fixture models give the same picture, and
        // each shows what makes it special.
        XCTAssertEqual(Set(pictures.values).count, pictures.count)
        func has(_ m: String, _ s: String) { XCTAssertTrue(pictures[m]?.contains(s) ?? false, "\(m) shows \(s)") }
        func hasNot(_ m: String, _ s: String) { XCTAssertFalse(pictures[m]?.contains(s) ?? true, "\(m) does not show \(s)") }
        has("lstm_peephole_all.lstm", ">i</tspan>")
        has("lstm_peephole_all.lstm", ">f</tspan>")
        has("lstm_peephole_all.lstm", ">o</tspan>")
        has("lstm_peephole_subset.lstm", ">f</tspan>")
        hasNot("lstm_peephole_subset.lstm", ">i</tspan>")
        hasNot("lstm.lstm", "stroke-dasharray=\"5 3\"")
        has("lstm_coupled.lstm", "1−")
        has("lstm_coupled.lstm", "i = 1 − f")
        has("lstm_projection.lstm", "W_proj")
        has("gru_reset_before.lstm", "reset-before")
        has("gru_reset_after.lstm", "W_hn h + b_hn")
        has("lstm_2l_bidirectional.lstm", "LSTM ← reverse")
        has("rnn_relu.lstm", "ReLU")
    }

    func testDrawEveryVariant() throws {
        for v in KitTest.variants {
            let m = KitTest.model(v.specs, name: v.name)
            let svg = ModelDiagram.svg(m, title: v.name)
            XCTAssertEqual(svg, ModelDiagram.svg(m, title: v.name))
            try DrawTests.checkSVG(svg, name: v.name, test: self)
        }
        // Clips and non-default activations are labelled.
        let clip = KitTest.variants.first { $0.name == "lstm_projection_clips" }!
        let svg = ModelDiagram.svg(KitTest.model(clip.specs), title: "c")
        for s in ["clip ±0.75", "clip ±0.5", "activation clip", "±0.9"] { XCTAssertTrue(svg.contains(s), s) }
        let acts = KitTest.variants.first { $0.name == "lstm_activations_initial_state" }!
        let svg2 = ModelDiagram.svg(KitTest.model(acts.specs), title: "a")
        for s in ["hard σ", "ELU", "hard_sigmoid(alpha=", "learned h0, c0"] { XCTAssertTrue(svg2.contains(s), s) }
        // Untrusted names are escaped.
        var m = KitTest.model([LayerSpec(cell: .rnn, inputSize: 2, hiddenSize: 2)])
        m.metadata.name = "<evil & \"name\">\u{1}"
        try DrawTests.checkSVG(ModelDiagram.svg(m, title: "x"), name: "escaped", test: self)
    }

    func testVerifyPlotWritesOnePlotPerCaseAndOutput() throws {
        let dir = KitTest.tempDir(self)
        let r = try KitTest.run(["verify", "fixtures/golden/lstm_peephole_all", "--plot", dir + "/plots"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/plots").sorted()
        XCTAssertEqual(files, ["lstm_peephole_all_cn.svg", "lstm_peephole_all_hn.svg", "lstm_peephole_all_y.svg"])
        for f in files { try DrawTests.checkSVGFile(dir + "/plots/" + f, test: self) }
        let y = try String(contentsOfFile: dir + "/plots/lstm_peephole_all_y.svg", encoding: .utf8)
        XCTAssertTrue(y.contains("f32:") && y.contains("f64:"), "f32 and f64 on one plot")
        // A failing case marks its first step out of tolerance.
        let fail = try KitTest.run(["verify", "fixtures/golden/lstm_peephole_all", "--atol", "1e-9", "--rtol", "0", "--precision", "f32",
                                    "--plot", dir + "/fail"])
        XCTAssertEqual(fail.status, 2, fail.stderr)
        let fy = try String(contentsOfFile: dir + "/fail/lstm_peephole_all_y.svg", encoding: .utf8)
        XCTAssertTrue(fy.contains("first out of tolerance at step"), fy)
        // An unwritable folder is a one-line error.
        KitTest.write([1], to: dir + "/file")
        let bad = try KitTest.run(["verify", "fixtures/golden/lstm", "--plot", dir + "/file/sub"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.hasPrefix("error: "), bad.stderr)
    }

    func testHelpOfNewCommandsFitsEightyColumns() throws {
        let top = try KitTest.run(["--help"]).stdout
        for sub in ["draw", "analyze"] {
            XCTAssertTrue(top.contains(sub), "top-level help lists \(sub)")
            let h = try KitTest.run([sub, "--help"])
            XCTAssertEqual(h.status, 0)
            for l in h.stdout.split(separator: "\n") where !l.hasPrefix("USAGE:") {
                XCTAssertLessThanOrEqual(l.count, 80, "\(sub) --help: \(l)")
            }
            let examples = h.stdout.components(separatedBy: "Examples:\n").last?.components(separatedBy: "\n\n").first ?? ""
            XCTAssertFalse(examples.isEmpty)
            for l in examples.split(separator: "\n") { XCTAssertTrue(l.hasPrefix("  "), "\(sub) --help example line not indented: \(l)") }
        }
    }

    func testDrawCommandErrorsAndHelp() throws {
        let h = try KitTest.run(["draw", "--help"])
        XCTAssertEqual(h.status, 0)
        XCTAssertTrue(h.stdout.contains("USAGE: lstmtool draw") && h.stdout.contains("Examples:"), h.stdout)
        XCTAssertEqual(try KitTest.run(["draw", "fixtures/models/lstm.lstm"]).status, 64)
        let r = try KitTest.run(["draw", "fixtures/models/absent.lstm", "-o", "/tmp/never.svg"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1)
    }
}
