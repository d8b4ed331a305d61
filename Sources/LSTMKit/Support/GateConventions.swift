import LSTMCore

/// A gate block of a stacked recurrent tensor.
package enum Gate: String, Sendable, CaseIterable {
    case input, forget, candidate, output  // LSTM (the candidate is PyTorch's g, ONNX's c)
    case update, reset, new                // GRU (z, r, n/h)
    case single                            // RNN
}

/// Frameworks whose gate orders lstmtool converts from and to.
package enum Framework: String, Sendable {
    case lstmtool, onnx, pytorch, keras
}

/// Every gate order lstmtool knows, in one table (docs/CONVERSIONS.md, from
/// ../shared/docs/conventions.md §3.3, §5.1, §6.1, §9). Converters never reorder by hand:
/// they call `reorder` with two rows of this table.
package enum GateConventions {
    package static func order(_ framework: Framework, _ cell: CellFamily, coupled: Bool = false) -> [Gate] {
        switch (framework, cell) {
        case (_, .rnn): return [.single]
        case (.lstmtool, .lstm): return coupled ? [.forget, .candidate, .output] : [.input, .forget, .candidate, .output]
        case (.lstmtool, .gru): return [.update, .reset, .new]
        case (.onnx, .lstm): return [.input, .output, .forget, .candidate]
        case (.onnx, .gru): return [.update, .reset, .new]
        case (.pytorch, .lstm): return [.input, .forget, .candidate, .output]
        case (.pytorch, .gru): return [.reset, .update, .new]
        case (.keras, .lstm): return [.input, .forget, .candidate, .output]
        case (.keras, .gru): return [.update, .reset, .new]
        }
    }

    /// Peephole vector order where a framework stacks them into one tensor (ONNX `P`).
    package static func peepholeOrder(_ framework: Framework) -> [Gate] {
        framework == .onnx ? [.input, .output, .forget] : [.input, .forget, .output]
    }

    /// Rebuilds a tensor whose first axis stacks gate blocks in order `from` so that it stacks
    /// the blocks named by `to` (a subset, in any order). The bytes of each block are copied
    /// as they are, so the conversion is bit-exact.
    package static func reorder(_ t: ModelTensor, from: [Gate], to: [Gate]) throws -> ModelTensor {
        guard let rows = t.shape.first, rows % from.count == 0 else {
            throw LSTMError(.shape, "a stacked gate tensor of shape \(t.shape) does not split into \(from.count) gate blocks")
        }
        let blockBytes = t.bytes.count / from.count
        var out: [UInt8] = []
        out.reserveCapacity(blockBytes * to.count)
        for g in to {
            guard let k = from.firstIndex(of: g) else {
                throw LSTMError(.conversion, "gate \(g.rawValue) is not among the source's gates \(from.map(\.rawValue))")
            }
            out.append(contentsOf: t.bytes[(k * blockBytes)..<((k + 1) * blockBytes)])
        }
        var shape = t.shape
        shape[0] = rows / from.count * to.count
        return try ModelTensor(dtype: t.dtype, shape: shape, bytes: out, encoding: t.encoding)
    }

    /// One gate block of a stacked tensor.
    package static func block(_ t: ModelTensor, _ gate: Gate, of order: [Gate]) throws -> ModelTensor {
        try reorder(t, from: order, to: [gate])
    }

    /// Stacks tensors along their first axis (same dtype and trailing shape).
    package static func stack(_ parts: [ModelTensor]) throws -> ModelTensor {
        guard let first = parts.first else { throw LSTMError(.conversion, "nothing to stack") }
        for p in parts where p.dtype != first.dtype || Array(p.shape.dropFirst()) != Array(first.shape.dropFirst()) {
            throw LSTMError(.shape, "cannot stack tensors of shapes \(first.shape) and \(p.shape)")
        }
        var shape = first.shape
        shape[0] = parts.map { $0.shape[0] }.reduce(0, +)
        return try ModelTensor(dtype: first.dtype, shape: shape, bytes: parts.flatMap(\.bytes), encoding: first.encoding)
    }

    /// Splits a tensor along its first axis into `count` equal parts.
    package static func split(_ t: ModelTensor, into count: Int) throws -> [ModelTensor] {
        guard let rows = t.shape.first, count > 0, rows % count == 0 else {
            throw LSTMError(.shape, "cannot split shape \(t.shape) into \(count) equal parts")
        }
        let n = t.bytes.count / count
        var shape = t.shape
        shape[0] = rows / count
        return try (0..<count).map { try ModelTensor(dtype: t.dtype, shape: shape, bytes: Array(t.bytes[($0 * n)..<(($0 + 1) * n)]), encoding: t.encoding) }
    }

    /// The element-wise negation (sign bit flipped: exact, NaN payloads kept). Used to move
    /// a coupled LSTM between "keep i, f = 1 - i" (ONNX) and "keep f, i = 1 - f" (lstmtool),
    /// which are the same function for a sigmoid gate because 1 - σ(a) = σ(-a).
    package static func negated(_ t: ModelTensor) -> ModelTensor {
        var out = t
        let size = t.dtype.size
        for i in stride(from: size - 1, to: out.bytes.count, by: size) { out.bytes[i] ^= 0x80 }
        return out
    }
}
