import ArgumentParser
import XCTest
@testable import LSTMKit
@testable import lstmtool

/// Every subcommand's options parsed in process (swift-argument-parser's `parseAsRoot`):
/// values land where they should, enums refuse unknown words, validation refuses bad values.
final class CLIParsingTests: XCTestCase {
    func parse<C: ParsableCommand>(_ args: [String], as _: C.Type, file: StaticString = #filePath, line: UInt = #line) throws -> C {
        let parsed = try LSTMTool.parseAsRoot(args)
        return try XCTUnwrap(parsed as? C, "\(args) parsed as \(type(of: parsed))", file: file, line: line)
    }

    func assertRefused(_ args: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try LSTMTool.parseAsRoot(args), "\(args) should be refused", file: file, line: line)
    }

    func testInspect() throws {
        let c = try parse(["inspect", "m.lstm", "--stats", "--json", "--cell", "gru", "--nonlinearity", "relu",
                           "--prefix", "enc.rnn.", "--node", "LSTM_1"], as: InspectCommand.self)
        XCTAssertEqual(c.file, "m.lstm")
        XCTAssertTrue(c.stats)
        XCTAssertTrue(c.json)
        XCTAssertEqual(c.importOptions.options.cell, .gru)
        XCTAssertEqual(c.importOptions.options.nonlinearity, .relu)
        XCTAssertEqual(c.importOptions.options.prefix, "enc.rnn.")
        XCTAssertEqual(c.importOptions.options.node, "LSTM_1")
        let d = try parse(["inspect", "m.lstm"], as: InspectCommand.self)
        XCTAssertFalse(d.stats || d.json)
        XCTAssertNil(d.importOptions.options.cell)
        assertRefused(["inspect", "m.lstm", "--cell", "transformer"])
        assertRefused(["inspect", "m.lstm", "--nonlinearity", "sigmoid"])
        assertRefused(["inspect"])
    }

    func testConvert() throws {
        let c = try parse(["convert", "a.onnx", "b.lstm", "--encoding", "shuffle_zlib", "--level", "9", "--strategy", "standard"],
                          as: ConvertCommand.self)
        XCTAssertEqual(c.input, "a.onnx")
        XCTAssertEqual(c.output, "b.lstm")
        XCTAssertEqual(c.encoding, .shuffleZlib)
        XCTAssertEqual(c.level, 9)
        XCTAssertEqual(c.strategy, .standard)
        let d = try parse(["convert", "a.onnx", "b.json"], as: ConvertCommand.self)
        XCTAssertNil(d.encoding)
        XCTAssertEqual(d.level, 6)
        XCTAssertEqual(d.strategy, .huffmanOnly)
        assertRefused(["convert", "a.onnx", "b.lstm", "--encoding", "gzip"])
        assertRefused(["convert", "a.onnx", "b.lstm", "--level", "10"])
        assertRefused(["convert", "a.onnx", "b.lstm", "--strategy", "fast"])
        assertRefused(["convert", "a.onnx", "b.txt"])  // no format writes .txt
        for out in ["b.lstm", "b.json", "b.onnx", "b.safetensors"] {
            XCTAssertNoThrow(try LSTMTool.parseAsRoot(["convert", "a.onnx", out]), out)
        }
    }

    func testRun() throws {
        let c = try parse(["run", "m.lstm", "--input", "x.npy", "--output", "y.npy", "--initial-h", "h0.npy", "--initial-c", "c0.npz",
                           "--sequence-lengths", "l.npy", "--final-h", "hn.npy", "--final-c", "cn.npy", "--batch-first",
                           "--precision", "f64", "--prefix", "rnn."], as: RunCommand.self)
        XCTAssertEqual(c.model, "m.lstm")
        XCTAssertEqual(c.input, "x.npy")
        XCTAssertEqual(c.output, "y.npy")
        XCTAssertEqual(c.initialH, "h0.npy")
        XCTAssertEqual(c.initialC, "c0.npz")
        XCTAssertEqual(c.sequenceLengths, "l.npy")
        XCTAssertEqual(c.finalH, "hn.npy")
        XCTAssertEqual(c.finalC, "cn.npy")
        XCTAssertTrue(c.batchFirst)
        XCTAssertEqual(c.precision, .f64)
        XCTAssertEqual(c.importOptions.options.prefix, "rnn.")
        XCTAssertEqual(try parse(["run", "m.lstm", "--input", "x", "--output", "y"], as: RunCommand.self).precision, .f32)
        assertRefused(["run", "m.lstm", "--input", "x.npy"])
        assertRefused(["run", "m.lstm", "--input", "x.npy", "--output", "y.npy", "--precision", "f16"])
        assertRefused(["run", "m.lstm", "--input", "x.npy", "--output", "y.npy", "--final-h", "./y.npy"])
    }

    func testVerify() throws {
        let c = try parse(["verify", "m.lstm", "--golden", "g", "--precision", "f32", "--atol", "1e-4", "--rtol", "0.01", "--json", "-v"],
                          as: VerifyCommand.self)
        XCTAssertEqual(c.target, "m.lstm")
        XCTAssertEqual(c.golden, "g")
        XCTAssertEqual(c.precision, .f32)
        XCTAssertEqual(c.atol, 1e-4)
        XCTAssertEqual(c.rtol, 0.01)
        XCTAssertTrue(c.json)
        XCTAssertTrue(c.verbose)
        XCTAssertEqual(try parse(["verify", "fixtures"], as: VerifyCommand.self).precision, .all)
        assertRefused(["verify", "fixtures", "--precision", "f16"])
        assertRefused(["verify", "fixtures", "--atol", "-1"])
        assertRefused(["verify", "fixtures", "--rtol", "-0.5"])
    }

    func testDiffAndWorkflowOptions() throws {
        let d = try parse(["diff", "a.lstm", "b.onnx", "--atol", "1e-6", "--json", "--cell", "lstm", "-q"], as: DiffCommand.self)
        XCTAssertEqual(d.a, "a.lstm")
        XCTAssertEqual(d.b, "b.onnx")
        XCTAssertEqual(d.atol, 1e-6)
        XCTAssertTrue(d.json && d.messages.quiet)
        XCTAssertEqual(d.importOptions.options.cell, .lstm)
        XCTAssertEqual(try parse(["diff", "a.lstm", "b.lstm"], as: DiffCommand.self).atol, 0)
        assertRefused(["diff", "a.lstm"])
        assertRefused(["diff", "a.lstm", "b.lstm", "--atol", "-1"])

        let m = try parse(["verify", "--make-golden", "out", "--model", "m.lstm", "--input", "x.npy", "--initial-h", "h0.npy",
                           "--batch-first", "--expected-y", "y.npy", "--expected-hn", "hn.npy", "--reference", "PyTorch 2.5",
                           "--cell", "gru"], as: VerifyCommand.self)
        XCTAssertNil(m.target)
        XCTAssertEqual(m.make.makeGolden, "out")
        XCTAssertEqual(m.make.model, "m.lstm")
        XCTAssertEqual(m.make.input, "x.npy")
        XCTAssertEqual(m.make.initialH, "h0.npy")
        XCTAssertTrue(m.make.batchFirst)
        XCTAssertEqual(m.make.expectedY, "y.npy")
        XCTAssertEqual(m.make.expectedHn, "hn.npy")
        XCTAssertEqual(m.make.reference, "PyTorch 2.5")
        XCTAssertEqual(m.make.importOptions.options.cell, .gru)
        XCTAssertEqual(try parse(["verify", "m.lstm", "--make-golden", "out", "--input", "x.npy"], as: VerifyCommand.self).target, "m.lstm")
        assertRefused(["verify", "--make-golden", "out", "--input", "x.npy"])  // no model
        assertRefused(["verify", "--make-golden", "out", "--model", "m.lstm"])  // no input
        assertRefused(["verify", "m.lstm", "--make-golden", "out", "--model", "m.lstm", "--input", "x.npy"])
        assertRefused(["verify", "fixtures", "--expected-y", "y.npy"])
        assertRefused(["verify", "fixtures", "--cell", "lstm"])
        assertRefused(["verify"])

        let c = try parse(["convert", "a.pt", "b.lstm", "--created", "2026-01-02T03:04:05Z", "--layout", "batch_major", "--quiet"],
                          as: ConvertCommand.self)
        XCTAssertEqual(c.created, "2026-01-02T03:04:05Z")
        XCTAssertEqual(c.layout, .batchMajor)
        XCTAssertTrue(c.messages.quiet)
        XCTAssertEqual(try parse(["convert", "a.pt", "b.lstm", "--created", "none", "--layout", "none"], as: ConvertCommand.self).layout, LayoutChoice.none)
        assertRefused(["convert", "a.pt", "b.lstm", "--created", "tomorrow"])
        assertRefused(["convert", "a.pt", "b.lstm", "--layout", "batch_first"])
        XCTAssertTrue(try parse(["run", "m.lstm", "--input", "x", "--output", "y", "-q"], as: RunCommand.self).messages.quiet)
    }

    /// The options the other tests do not reach: Keras import flags, TFLite export, masking,
    /// golden-case extras, plots, draw and analyze.
    func testEveryRemainingOption() throws {
        let i = try parse(["inspect", "m.keras", "--layer", "encoder", "--config", "config.json", "-q"], as: InspectCommand.self)
        XCTAssertEqual(i.importOptions.options.layer, "encoder")
        XCTAssertEqual(i.importOptions.options.config, "config.json")

        let c = try parse(["convert", "m.lstm", "m.tflite", "--batch-first", "--batch-size", "4"], as: ConvertCommand.self)
        XCTAssertTrue(c.batchFirst)
        XCTAssertEqual(c.batchSize, 4)
        XCTAssertEqual(try parse(["convert", "m.lstm", "m.tflite"], as: ConvertCommand.self).batchSize, 1)
        assertRefused(["convert", "m.lstm", "m.tflite", "--batch-size", "0"])
        assertRefused(["convert", "m.lstm", "m.tflite", "--batch-size", "x"])

        let r = try parse(["run", "m.keras", "--input", "x", "--output", "y", "--masked-output", "hold"], as: RunCommand.self)
        XCTAssertEqual(r.maskedOutput, .hold)
        XCTAssertNil(try parse(["run", "m.lstm", "--input", "x", "--output", "y"], as: RunCommand.self).maskedOutput)
        assertRefused(["run", "m.lstm", "--input", "x", "--output", "y", "--masked-output", "repeat"])

        let v = try parse(["verify", "fixtures", "--plot", "plots", "-q"], as: VerifyCommand.self)
        XCTAssertEqual(v.plot, "plots")
        XCTAssertTrue(v.messages.quiet)
        let g = try parse(["verify", "--make-golden", "out", "--model", "m.lstm", "--input", "x.npy", "--initial-c", "c0.npy",
                           "--sequence-lengths", "l.npy", "--masked-output", "zero", "--expected-cn", "cn.npy", "--name", "case1"],
                          as: VerifyCommand.self)
        XCTAssertEqual(g.make.initialC, "c0.npy")
        XCTAssertEqual(g.make.sequenceLengths, "l.npy")
        XCTAssertEqual(g.make.maskedOutput, .zero)
        XCTAssertEqual(g.make.expectedCn, "cn.npy")
        XCTAssertEqual(g.make.name, "case1")

        let d = try parse(["draw", "m.safetensors", "-o", "m.svg", "--cell", "gru", "--prefix", "rnn."], as: DrawCommand.self)
        XCTAssertEqual(d.model, "m.safetensors")
        XCTAssertEqual(d.output, "m.svg")
        XCTAssertEqual(d.importOptions.options.cell, .gru)
        XCTAssertEqual(try parse(["draw", "m.lstm", "--output", "x.svg"], as: DrawCommand.self).output, "x.svg")
        XCTAssertTrue(try parse(["draw", "m.lstm", "-o", "x.svg", "--quiet"], as: DrawCommand.self).messages.quiet)
        assertRefused(["draw", "m.lstm"])  // no output

        let a = try parse(["analyze", "m.lstm", "--input", "x.npy", "--initial-h", "h0.npy", "--initial-c", "c0.npy",
                           "--batch-first", "--json", "--svg", "r.svg", "--node", "n", "-q"], as: AnalyzeCommand.self)
        XCTAssertEqual(a.model, "m.lstm")
        XCTAssertEqual(a.input, "x.npy")
        XCTAssertEqual(a.initialH, "h0.npy")
        XCTAssertEqual(a.initialC, "c0.npy")
        XCTAssertTrue(a.batchFirst && a.json && a.messages.quiet)
        XCTAssertEqual(a.svg, "r.svg")
        XCTAssertEqual(a.importOptions.options.node, "n")
        assertRefused(["analyze", "m.lstm"])  // no input
    }
}
