internal import LSTMCodec
import LSTMCore

/// File-level inputs and outputs of `lstmtool run` (shapes in docs/CLI.md).
package enum RunIO {
    package static func readArray(_ path: String) throws -> NpyArray {
        try Npy.decode(try readWholeFile(path), name: path)
    }

    /// Reads X ([T, B, I], or [B, T, I] when batch-first) into a time-major RunInput.
    package static func readInput(_ path: String, model: Model, batchFirst: Bool) throws -> RunInput {
        let a = try readArray(path)
        guard a.isFloat else { throw LSTMError(.invalidInput, "\(path): input must be float16, float32 or float64, got \(a.kind.rawValue)") }
        let i = model.inputSize
        let layout = batchFirst ? "[B, T, \(i)]" : "[T, B, \(i)]"
        guard a.shape.count == 3, a.shape[2] == i else {
            throw LSTMError(.shape, "\(path): input has shape \(a.shape), expected \(layout) (the model's input size is \(i))")
        }
        if !batchFirst { return RunInput(x: a.values, steps: a.shape[0], batch: a.shape[1]) }
        let b = a.shape[0], t = a.shape[1]
        var x = [Double](repeating: 0, count: a.values.count)
        for bi in 0..<b { for ti in 0..<t { for k in 0..<i { x[(ti * b + bi) * i + k] = a.values[(bi * t + ti) * i + k] } } }
        return RunInput(x: x, steps: t, batch: b)
    }

    /// Initial states: a .npy `[L·D, B, W]` (layer-major, direction-minor) when every layer has
    /// the same width, or a .npz with `layer0`, `layer1`, … each `[D, B, W_k]`.
    package static func readStates(_ path: String, model: Model, batch: Int, cell: Bool) throws -> [[Double]] {
        let what = cell ? "initial c" : "initial h"
        if cell { try requireAllLSTM(model, path) }
        let widths = model.layers.map { cell ? $0.spec.hiddenSize : $0.spec.outputSize }
        let dirs = model.layers.map { $0.spec.direction.count }
        if path.lowercased().hasSuffix(".npz") {
            let members = try Npz.decode(try readWholeFile(path), name: path)
            let expected = (0..<model.layers.count).map { "layer\($0)" }
            let names = expected.count == 1 ? "layer0" : "layer0…layer\(model.layers.count - 1)"
            if let extra = members.map(\.0).first(where: { !expected.contains($0) }) {
                throw LSTMError(.shape, "\(path): \(what) has an array \(extra) the \(model.layers.count)-layer model has no use for (expected \(names))")
            }
            var out: [[Double]] = []
            for k in 0..<model.layers.count {
                guard let a = members.first(where: { $0.0 == "layer\(k)" })?.1 else {
                    throw LSTMError(.shape, "\(path): \(what) has no array layer\(k) (expected \(names))")
                }
                let want = [dirs[k], batch, widths[k]]
                guard a.isFloat, a.shape == want else {
                    throw LSTMError(.shape, "\(path): \(what) layer\(k) has shape \(a.shape), expected \(want)")
                }
                out.append(a.values)
            }
            return out
        }
        let a = try readArray(path)
        guard Set(widths).count == 1 else {
            throw LSTMError(.shape, "\(path): the layers differ in width (\(widths)); give \(what) as a .npz with layer0…layer\(model.layers.count - 1)")
        }
        let total = dirs.reduce(0, +)
        let want = [total, batch, widths[0]]
        guard a.isFloat, a.shape == want else {
            throw LSTMError(.shape, "\(path): \(what) has shape \(a.shape), expected [L·D, B, \(cell ? "H" : "P")] = \(want)")
        }
        var out: [[Double]] = []
        var offset = 0
        for k in 0..<model.layers.count {
            let n = dirs[k] * batch * widths[0]
            out.append(Array(a.values[offset..<(offset + n)]))
            offset += n
        }
        return out
    }

    /// Sequence lengths `[B]`; with `steps`, each must be in `0...steps` (the error names the file and entry).
    package static func readLengths(_ path: String, batch: Int, steps: Int? = nil) throws -> [Int] {
        let a = try readArray(path)
        guard a.kind == .int32 || a.kind == .int64 else {
            throw LSTMError(.invalidInput, "\(path): sequence lengths must be int32 or int64, got \(a.kind.rawValue)")
        }
        guard a.shape == [batch] else { throw LSTMError(.shape, "\(path): sequence lengths have shape \(a.shape), expected [\(batch)]") }
        let lengths = a.values.map { Int($0) }
        if let t = steps, let k = lengths.firstIndex(where: { $0 < 0 || $0 > t }) {
            throw LSTMError(.invalidInput, "\(path): sequence length \(lengths[k]) of batch entry \(k) is outside 0...T = 0...\(t)")
        }
        return lengths
    }

    /// Y as [T, B, D·P], or [B, T, D·P] when batch-first.
    package static func outputArray(_ out: RunOutput, input: RunInput, model: Model, precision: Precision, batchFirst: Bool) -> NpyArray {
        let t = input.steps, b = input.batch, w = model.outputSize
        let kind: NpyArray.Kind = precision == .f32 ? .float32 : .float64
        if !batchFirst { return NpyArray(kind: kind, shape: [t, b, w], values: out.y) }
        var v = [Double](repeating: 0, count: out.y.count)
        for ti in 0..<t { for bi in 0..<b { for k in 0..<w { v[(bi * t + ti) * w + k] = out.y[(ti * b + bi) * w + k] } } }
        return NpyArray(kind: kind, shape: [b, t, w], values: v)
    }

    /// Final states as written by `--final-h/--final-c` (same layout rules as the inputs).
    package static func writeStates(_ states: [[Double]], to path: String, model: Model, batch: Int, cell: Bool, precision: Precision) throws {
        try AtomicFile.write(path, chunks: [try encodeStates(states, path: path, model: model, batch: batch, cell: cell, precision: precision)])
    }

    /// Cell states are defined layer by layer only when every layer is an LSTM.
    static func requireAllLSTM(_ model: Model, _ path: String) throws {
        guard model.layers.allSatisfy({ $0.spec.cell == .lstm }) else {
            throw LSTMError(.invalidInput, "\(path): cell states need every layer to be an LSTM; this stack mixes \(model.layers.map(\.spec.cell.rawValue).joined(separator: ", "))")
        }
    }

    /// The bytes `--final-h`/`--final-c` write: .npz per layer, or one stacked .npy.
    package static func encodeStates(_ states: [[Double]], path: String, model: Model, batch: Int, cell: Bool, precision: Precision) throws -> [UInt8] {
        if cell { try requireAllLSTM(model, path) }
        let kind: NpyArray.Kind = precision == .f32 ? .float32 : .float64
        let widths = model.layers.map { cell ? $0.spec.hiddenSize : $0.spec.outputSize }
        let dirs = model.layers.map { $0.spec.direction.count }
        if path.lowercased().hasSuffix(".npz") {
            let arrays = (0..<model.layers.count).map { k in ("layer\(k)", NpyArray(kind: kind, shape: [dirs[k], batch, widths[k]], values: states[k])) }
            return Npz.encode(arrays)
        }
        guard Set(widths).count == 1 else {
            throw LSTMError(.invalidInput, "\(path): the layers differ in width (\(widths)); write the final states to a .npz file")
        }
        let a = NpyArray(kind: kind, shape: [dirs.reduce(0, +), batch, widths[0]], values: states.flatMap { $0 })
        return Npy.encode(a)
    }
}

/// Atomic writers for the CLI's outputs.
/// Hands the bytes of one output file to `emit`, buffer by buffer (the same function type as
/// `AtomicFile.Producer`, named here so that LSTMCodec stays an implementation detail).
package typealias OutputProducer = (_ emit: (UnsafeRawBufferPointer) throws -> Void) throws -> Void

package enum AtomicFileWrite {
    package static func npy(_ a: NpyArray, to path: String) throws {
        try AtomicFile.write(path, chunks: [Npy.encode(a)])
    }

    package static func bytes(_ b: [UInt8], to path: String) throws {
        try AtomicFile.write(path, chunks: [b])
    }

    /// Several outputs that belong together: none is replaced unless all of them could be written.
    package static func all(_ files: [(path: String, bytes: [UInt8])]) throws {
        try AtomicFile.writeAll(files.map { (path: $0.path, chunks: [$0.bytes]) })
    }

    /// `all` for files given as producers (`TypedRunIO.outputWriter`).
    package static func all(producing files: [(path: String, produce: OutputProducer)]) throws {
        try AtomicFile.writeAll(producing: files)
    }
}

package func isDirectoryPath(_ path: String) -> Bool { isDirectory(path) }

package func pathExists(_ path: String) -> Bool { fileExists(path) }

func readWholeFileBytes(_ path: String) throws -> [UInt8] { try readWholeFile(path) }
