import Foundation
import XCTest
@testable import LSTMCodec
@testable import LSTMCore
@testable import LSTMKit

/// Shared helpers of the Format*, Eval* and CLI* tests (namespaced to stay clear of other test files).
enum KitTest {
    /// The package root (this file is Tests/LSTMKitTests/FormatTestSupport.swift).
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static func path(_ relative: String) -> String { root + "/" + relative }

    // MARK: deterministic random numbers

    struct RNG {
        var state: UInt64
        init(_ seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        /// Uniform in [-scale, scale).
        mutating func uniform(_ scale: Double = 1) -> Double {
            (Double(next() >> 11) / Double(1 << 53) * 2 - 1) * scale
        }
        mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    // MARK: models

    /// Fills every tensor a spec needs with random values of `dtype`, stored with `encoding`.
    static func layer(_ spec: LayerSpec, dtype: DType = .float32, encoding: Encoding = .raw,
                      scale: Double = 0.5, rng: inout RNG) -> Layer {
        var passes: [[TensorRole: ModelTensor]] = []
        for _ in 0..<spec.direction.count {
            var pass: [TensorRole: ModelTensor] = [:]
            for role in spec.expectedRoles {
                let shape = spec.expectedShape(role)!
                let n = shape.reduce(1, *)
                let values = (0..<n).map { _ in rng.uniform(scale) }
                pass[role] = ModelTensor(values, shape: shape, dtype: dtype, encoding: encoding)
            }
            passes.append(pass)
        }
        return Layer(spec: spec, passes: passes)
    }

    static func model(_ specs: [LayerSpec], dtype: DType = .float32, encoding: Encoding = .raw,
                      scale: Double = 0.5, seed: UInt64 = 1, name: String = "test") -> Model {
        var rng = RNG(seed)
        let layers = specs.map { layer($0, dtype: dtype, encoding: encoding, scale: scale, rng: &rng) }
        return Model(metadata: Metadata(name: name, producerName: "LSTMKitTests"), layers: layers)
    }

    /// One model of every cell family and variant (each a list of layer specs).
    static let variants: [(name: String, specs: [LayerSpec])] = [
        ("rnn_tanh", [LayerSpec(cell: .rnn, inputSize: 3, hiddenSize: 4)]),
        ("rnn_relu_reverse", [LayerSpec(cell: .rnn, inputSize: 3, hiddenSize: 4, direction: .reverse, activations: [[.relu]])]),
        ("rnn_bidirectional_nobias", [LayerSpec(cell: .rnn, inputSize: 2, hiddenSize: 3, direction: .bidirectional, hasBias: false,
                                                activations: [[Activation(.scaledTanh, alpha: Double(Float(0.7)), beta: Double(Float(1.3)))],
                                                              [Activation(.leakyRelu, alpha: Double(Float(0.3)))]])]),
        ("lstm", [LayerSpec(cell: .lstm, inputSize: 3, hiddenSize: 4)]),
        ("lstm_peephole_all", [LayerSpec(cell: .lstm, inputSize: 3, hiddenSize: 4, lstm: LSTMOptions(peepholes: [.input, .forget, .output]))]),
        ("lstm_peephole_subset", [LayerSpec(cell: .lstm, inputSize: 3, hiddenSize: 4, lstm: LSTMOptions(peepholes: [.forget]))]),
        ("lstm_coupled", [LayerSpec(cell: .lstm, inputSize: 3, hiddenSize: 4, lstm: LSTMOptions(peepholes: [.forget, .output], coupled: true))]),
        ("lstm_projection_clips", [LayerSpec(cell: .lstm, inputSize: 3, hiddenSize: 5, direction: .bidirectional,
                                             lstm: LSTMOptions(peepholes: [.input, .output], projectionSize: 2, cellClip: 0.75, projectionClip: 0.5),
                                             activationClip: Double(Float(0.9)))]),
        ("lstm_activations_initial_state", [LayerSpec(cell: .lstm, inputSize: 2, hiddenSize: 3, direction: .reverse,
                                                      activations: [[Activation(.hardSigmoid, alpha: Double(Float(0.2)), beta: 0.5), .tanh,
                                                                     Activation(.elu, alpha: Double(Float(0.3)))]],
                                                      hasInitialState: true)]),
        ("gru_reset_before", [LayerSpec(cell: .gru, inputSize: 3, hiddenSize: 4, resetAfter: false)]),
        ("gru_reset_after", [LayerSpec(cell: .gru, inputSize: 3, hiddenSize: 4, direction: .bidirectional, resetAfter: true, hasInitialState: true)]),
        ("gru_clip_nobias", [LayerSpec(cell: .gru, inputSize: 3, hiddenSize: 2, hasBias: false, activationClip: 0.4, resetAfter: false)]),
        ("lstm_2l_bidirectional", [LayerSpec(cell: .lstm, inputSize: 3, hiddenSize: 4, direction: .bidirectional),
                                   LayerSpec(cell: .lstm, inputSize: 8, hiddenSize: 4, direction: .bidirectional)]),
        ("stack_widths_mixed_cells", [LayerSpec(cell: .gru, inputSize: 3, hiddenSize: 5, direction: .bidirectional),
                                      LayerSpec(cell: .lstm, inputSize: 10, hiddenSize: 3, lstm: LSTMOptions(projectionSize: 2)),
                                      LayerSpec(cell: .rnn, inputSize: 2, hiddenSize: 6, direction: .reverse)]),
    ]

    // MARK: files

    /// A fresh temporary directory, removed when the test ends.
    static func tempDir(_ test: XCTestCase) -> String {
        let dir = NSTemporaryDirectory() + "lstmkit-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    static func write(_ bytes: [UInt8], to path: String) {
        let written = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        precondition(written, "test setup could not write \(path)")
    }

    static func read(_ path: String) -> [UInt8] {
        [UInt8](FileManager.default.contents(atPath: path) ?? Data())
    }

    static func encode(_ model: Model, options: WriteOptions = WriteOptions()) throws -> [UInt8] {
        try ModelWriter.encode(model, options: options).flatMap { $0 }
    }

    /// A .lstm file taken apart: its preamble, decoded header and blob section.
    struct Parts {
        var preamble: Preamble
        var headerBytes: [UInt8]
        var header: HeaderRecord
        var blobs: [UInt8]
    }

    static func split(_ file: [UInt8]) throws -> Parts {
        let pre = try Preamble(parsing: Array(file[0..<Preamble.size]), fileSize: file.count, path: "<memory>")
        let hb = Array(file[pre.headerOffset..<(pre.headerOffset + pre.headerLength)])
        let header = try hb.withUnsafeBytes { try HeaderCodec.decode($0) }
        return Parts(preamble: pre, headerBytes: hb, header: header,
                     blobs: Array(file[pre.blobOffset..<(pre.blobOffset + pre.blobLength)]))
    }

    /// Re-assembles a file from header bytes and a blob section, with a correct preamble
    /// (header length, header CRC, blob offset and length) unless told otherwise.
    static func assemble(headerBytes: [UInt8], blobs: [UInt8], version: FormatVersion = .current) -> [UInt8] {
        let blobOffset = ModelWriter.align(Preamble.size + headerBytes.count)
        let pre = Preamble(version: version, flags: 0, headerOffset: Preamble.size, headerLength: headerBytes.count,
                           headerCRC: Zlib.crc32(headerBytes), alignment: Preamble.alignment,
                           blobOffset: blobOffset, blobLength: blobs.count)
        return pre.encoded() + headerBytes + [UInt8](repeating: 0, count: blobOffset - Preamble.size - headerBytes.count) + blobs
    }

    static func assemble(header: HeaderRecord, blobs: [UInt8]) throws -> [UInt8] {
        assemble(headerBytes: try HeaderCodec.encode(header), blobs: blobs)
    }

    /// Writes `bytes` to a temporary file and opens and loads it; returns the error it throws.
    static func loadError(_ bytes: [UInt8], in dir: String, name: String = "crafted.lstm",
                          file: StaticString = #filePath, line: UInt = #line) -> LSTMError? {
        let path = dir + "/" + name
        write(bytes, to: path)
        do {
            _ = try ModelReader(path: path).model()
            XCTFail("\(name): loading succeeded, expected an error", file: file, line: line)
            return nil
        } catch let e as LSTMError {
            return e
        } catch {
            XCTFail("\(name): not an LSTMError: \(error)", file: file, line: line)
            return nil
        }
    }

    // MARK: float bits

    static func bits(_ t: ModelTensor) -> [UInt8] { t.bytes }

    // MARK: the CLI binary

    /// The lstmtool executable this build made: the test target depends on the CLI target,
    /// so SwiftPM links it into the build folder that holds the test bundle. Never a binary
    /// found elsewhere, which could be stale.
    static let binary: String? = {
        let bundles = Bundle.allBundles.map(\.bundleURL).filter { $0.pathExtension == "xctest" }
        let folder = bundles.first?.deletingLastPathComponent()
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidate = folder.appendingPathComponent("lstmtool").path
        return FileManager.default.isExecutableFile(atPath: candidate) ? candidate : nil
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the lstmtool binary in the package root.
    static func run(_ args: [String], environment: [String: String] = [:], file: StaticString = #filePath, line: UInt = #line) throws -> Result {
        guard let bin = binary else {
            XCTFail("the lstmtool executable was not found: build it first (swift build --scratch-path .build-tests)", file: file, line: line)
            throw LSTMError(.io, "no binary")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: root)
        if !environment.isEmpty {
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Read both pipes before waiting so that a large output cannot block the child.
        final class Box: @unchecked Sendable { var data = Data() }
        let errBox = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errBox.data = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        let errData = errBox.data
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }
}

extension Array where Element == UInt8 {
    /// Index of the first occurrence of `pattern`, or nil.
    func firstRange(of pattern: [UInt8]) -> Range<Int>? {
        guard pattern.count <= count else { return nil }
        for i in 0...(count - pattern.count) where self[i] == pattern[0] {
            if Array(self[i..<(i + pattern.count)]) == pattern { return i..<(i + pattern.count) }
        }
        return nil
    }
}
