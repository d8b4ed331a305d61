import LSTMCore

/// The input layout a model's source used, recorded in the metadata property `layout`
/// (docs/FORMAT.md §3.1): `batch_major` (X `[B, T, I]`: Keras, PyTorch `batch_first=True`,
/// ONNX `layout=1`) or `time_major` (X `[T, B, I]`: ONNX `layout=0`). Sources that cannot
/// say (a PyTorch state dict) record nothing unless `convert --layout` does.
package enum RecordedLayout: String, Sendable, CaseIterable {
    case batchMajor = "batch_major"
    case timeMajor = "time_major"

    /// The metadata property key.
    package static let propertyKey = "layout"
    /// The key Keras imports wrote before `layout` existed; still read.
    package static let legacyKerasKey = "keras.layout"

    /// The layout `model` records, or nil when it records none (or an unknown value).
    package static func recorded(in model: Model) -> RecordedLayout? {
        let props = model.metadata.properties
        let v = props.first { $0.key == propertyKey }?.value ?? props.first { $0.key == legacyKerasKey }?.value
        return v.flatMap(RecordedLayout.init(rawValue:))
    }

    /// True for `batch_major`: run the model with `--batch-first`.
    package var isBatchFirst: Bool { self == .batchMajor }

    /// `model` with its `layout` property set to `layout` (replacing any earlier one), or
    /// removed when `layout` is nil.
    package static func setting(_ layout: RecordedLayout?, in model: Model) -> Model {
        var m = model
        let keys = [propertyKey, legacyKerasKey]
        let at = m.metadata.properties.firstIndex { keys.contains($0.key) }
        m.metadata.properties.removeAll { keys.contains($0.key) }
        if let layout {
            m.metadata.properties.insert((propertyKey, layout.rawValue), at: min(at ?? Int.max, m.metadata.properties.count))
        }
        return m
    }

    /// The warning `run` prints when the flag given disagrees with the recorded layout, or nil
    /// when they agree (or nothing is recorded, or `shape` is not a 3-D input of the model's
    /// width, whose first two axes could be read either way).
    package static func mismatchWarning(model: Model, inputShape: [Int], batchFirst: Bool, path: String) -> String? {
        guard let recorded = recorded(in: model), recorded.isBatchFirst != batchFirst,
              inputShape.count == 3, inputShape[2] == model.inputSize else { return nil }
        let (a, b) = (inputShape[0], inputShape[1])
        if recorded.isBatchFirst {
            return "\(path) records layout batch_major (its source took X as [B, T, I]) but --batch-first was not given: "
                + "X [\(a), \(b), \(inputShape[2])] is read as T = \(a) steps of B = \(b) sequences; if it is [B, T, I], add --batch-first"
        }
        return "\(path) records layout time_major (its source took X as [T, B, I]) but --batch-first was given: "
            + "X [\(a), \(b), \(inputShape[2])] is read as B = \(a) sequences of T = \(b) steps; if it is [T, B, I], drop --batch-first"
    }
}

/// The shapes `lstmtool run` takes and gives for a model, in words (`inspect` shows them).
package enum RunContract {
    /// `X [T, B, 10] → Y [T, B, 20], h/c [2, B, 20]`, in the given layout.
    package static func text(_ specs: [LayerSpec], batchFirst: Bool) -> String {
        guard let first = specs.first, let last = specs.last else { return "" }
        let t = batchFirst ? "B, T" : "T, B"
        var s = "X [\(t), \(first.inputSize)] → Y [\(t), \(last.direction.count * last.outputSize)]"
        let dirs = specs.map(\.direction.count).reduce(0, +)
        let hWidths = specs.map(\.outputSize), cWidths = specs.map(\.hiddenSize)
        let hasLSTM = specs.contains { $0.cell == .lstm }
        let allLSTM = specs.allSatisfy { $0.cell == .lstm }
        if Set(hWidths).count == 1 {
            let h = "[\(dirs), B, \(hWidths[0])]"
            if hasLSTM && allLSTM && Set(cWidths).count == 1 {
                s += cWidths[0] == hWidths[0] ? ", h/c \(h)" : ", h \(h), c [\(dirs), B, \(cWidths[0])]"
            } else {
                s += ", h \(h)"
            }
        } else {
            s += ", h .npz " + specs.enumerated().map { "layer\($0) [\($1.direction.count), B, \($1.outputSize)]" }.joined(separator: ", ")
            if hasLSTM && allLSTM {
                s += "; c .npz " + specs.enumerated().map { "layer\($0) [\($1.direction.count), B, \($1.hiddenSize)]" }.joined(separator: ", ")
            }
        }
        return s
    }
}
