import Foundation
internal import LSTMCodec
import LSTMCore

/// Statistics of one tensor's values (`inspect --stats`).
package struct TensorStats: Sendable {
    package var min: Double
    package var max: Double
    package var mean: Double
    package var std: Double
    package var nanCount: Int
    package var infCount: Int

    package init(_ values: [Double]) {
        var lo = Double.infinity, hi = -Double.infinity, sum = 0.0, n = 0, nan = 0, inf = 0
        for v in values {
            if v.isNaN { nan += 1; continue }
            if v.isInfinite { inf += 1; continue }
            lo = Swift.min(lo, v)
            hi = Swift.max(hi, v)
            sum += v
            n += 1
        }
        let mean = n > 0 ? sum / Double(n) : .nan
        var sq = 0.0
        for v in values where v.isFinite { sq += (v - mean) * (v - mean) }
        self.min = n > 0 ? lo : .nan
        self.max = n > 0 ? hi : .nan
        self.mean = mean
        self.std = n > 0 ? (sq / Double(n)).squareRoot() : .nan
        nanCount = nan
        infCount = inf
    }
}

/// One tensor row of the report.
package struct TensorRow: Sendable {
    package var name: String
    package var dtype: DType
    package var shape: [Int]
    package var encoding: Encoding
    package var rawBytes: Int
    /// Bytes in the file; nil when the model was not read from a .lstm file.
    package var storedBytes: Int?
    package var crc32: UInt32?
    /// Offset of the stored bytes from the start of the file (.lstm only).
    package var fileOffset: Int?
    package var stats: TensorStats?
}

/// What `lstmtool inspect` shows, built from the header alone unless stats are asked for.
package struct InspectReport: Sendable {
    package static let schemaVersion = 1
    package var path: String
    package var formatVersion: String
    package var fileSize: Int?
    package var metadata: Metadata
    package var layers: [LayerSpec]
    package var tensors: [TensorRow]
    package var statsIncluded: Bool
    /// The file's real format: `lstm` for a .lstm file, else the importer's name (`onnx`, …).
    package var formatName: String = "lstm"
    /// What a person calls that format, for the text report's first line.
    package var formatDisplayName: String = "lstmtool model"

    package var totalParameters: Int { layers.map(\.parameterCount).reduce(0, +) }

    /// From a .lstm file's header; with `stats`, every blob is read, its CRC checked and its
    /// values summarised (a corrupt blob throws).
    package init(reader: ModelReader, stats: Bool) throws {
        path = reader.path
        formatVersion = reader.version.description
        fileSize = reader.fileSize
        metadata = reader.header.metadata
        layers = reader.header.layers
        statsIncluded = stats
        tensors = try reader.header.tensors.map { e in
            TensorRow(name: e.name, dtype: e.dtype, shape: e.shape, encoding: e.encoding, rawBytes: e.rawSize,
                      storedBytes: e.storedSize, crc32: e.crc32, fileOffset: reader.blobOffset + e.offset,
                      stats: stats ? TensorStats(try reader.tensor(e).doubles()) : nil)
        }
    }

    /// From a model read from another format (JSON, ONNX, safetensors); `format` names it.
    package init(model: Model, path: String, stats: Bool, format: (any ModelFileFormat)? = nil) {
        self.path = path
        if let format {
            formatName = format.name
            formatDisplayName = format.displayName
        }
        fileSize = fileSizeIfReadable(path)
        formatVersion = FormatVersion.current.description
        metadata = model.metadata
        layers = model.layers.map(\.spec)
        statsIncluded = stats
        tensors = model.namedTensors.map { name, t in
            TensorRow(name: name, dtype: t.dtype, shape: t.shape, encoding: t.encoding, rawBytes: t.bytes.count,
                      storedBytes: nil, crc32: nil, fileOffset: nil, stats: stats ? TensorStats(t.doubles()) : nil)
        }
    }

    func tensors(ofLayer k: Int) -> [TensorRow] {
        tensors.filter { parseTensorName($0.name)?.layer == k }
    }

    // MARK: text

    package func text() -> String {
        var out: [String] = []
        let kind = formatName == "lstm" ? "lstmtool model, format \(formatVersion)" : formatDisplayName
        out.append("\(safe(path)): \(kind)" + (fileSize.map { ", \($0) bytes" } ?? ""))
        let m = metadata
        let metaPairs: [(String, String?)] = [("name", m.name), ("description", m.description),
                                              ("producer", [m.producerName, m.producerVersion].compactMap { $0 }.joined(separator: " ").nilIfEmpty),
                                              ("source", [m.sourceFramework, m.sourceFile].compactMap { $0 }.joined(separator: ": ").nilIfEmpty),
                                              ("created", m.created)]
        for (k, v) in metaPairs { if let v { out.append("  \(k): \(safe(v))") } }
        for kv in m.properties { out.append("  \(safe(kv.key)) = \(safe(kv.value))") }
        out.append("")
        if !layers.isEmpty {
            let recorded = RecordedLayout.recorded(in: Model(metadata: metadata, layers: []))
            if recorded == .batchMajor {
                out.append("run (recorded layout batch_major: use --batch-first): \(RunContract.text(layers, batchFirst: true))")
            } else {
                out.append("run: \(RunContract.text(layers, batchFirst: false))"
                           + (recorded == .timeMajor ? "   (recorded layout time_major)" : ""))
            }
            out.append("")
        }
        for (k, s) in layers.enumerated() {
            var variant: [String] = []
            if s.cell == .lstm {
                if !s.lstm.peepholes.isEmpty { variant.append("peepholes: " + s.lstm.peepholes.sorted().map(\.rawValue).joined(separator: ",")) }
                if s.lstm.coupled { variant.append("coupled input/forget (i = 1 - f)") }
                if let p = s.lstm.projectionSize { variant.append("projection \(p)") }
                if let c = s.lstm.cellClip { variant.append("cell clip \(shortDecimal(c))") }
                if let c = s.lstm.projectionClip { variant.append("projection clip \(shortDecimal(c))") }
            }
            if s.cell == .gru { variant.append(s.resetAfter ? "reset-after" : "reset-before") }
            if let c = s.activationClip { variant.append("activation clip \(shortDecimal(c))") }
            if !s.hasBias { variant.append("no bias") }
            if s.hasInitialState { variant.append("learned initial state") }
            out.append("layer \(k): \(s.cell.rawValue.uppercased()) \(s.direction.rawValue), input \(s.inputSize), hidden \(s.hiddenSize)"
                       + (s.lstm.projectionSize != nil ? ", output \(s.outputSize)" : "")
                       + (variant.isEmpty ? "" : "; " + variant.joined(separator: "; ")))
            let acts = s.activations.enumerated().map { d, list in
                (s.direction.count > 1 ? "\(s.direction.passes[d].rawValue): " : "") + list.map(\.summary).joined(separator: ", ")
            }
            out.append("  activations: " + acts.joined(separator: " | ") + "   parameters: \(s.parameterCount)")
            for t in tensors(ofLayer: k) {
                var line = "  \(pad(t.name, 28)) \(pad(t.dtype.rawValue, 8)) \(pad(shapeText(t.shape), 12)) \(pad(t.encoding.rawValue, 12))"
                if let stored = t.storedBytes {
                    line += " \(stored) B" + (t.encoding == .raw ? "" : " (\(ratioText(stored, t.rawBytes)) of \(t.rawBytes) B)")
                } else {
                    line += " \(t.rawBytes) B"
                }
                out.append(line)
                if let st = t.stats {
                    var sLine = "      min \(num(st.min))  max \(num(st.max))  mean \(num(st.mean))  std \(num(st.std))"
                    if st.nanCount > 0 || st.infCount > 0 { sLine += "  WARNING: \(st.nanCount) NaN, \(st.infCount) Inf" }
                    out.append(sLine)
                }
            }
        }
        out.append("")
        out.append("total parameters: \(totalParameters)")
        if statsIncluded { out.append("checksums: all \(tensors.count) tensors OK") }
        return out.joined(separator: "\n") + "\n"
    }

    // MARK: JSON (schema in docs/INSPECT_JSON.md)

    package func json() -> String {
        var top: [(String, JSONValue)] = [
            ("inspect_schema_version", .int(InspectReport.schemaVersion)),
            ("path", .string(path)),
            ("format", .string(formatName)),
            ("format_version", .string(formatVersion)),
            ("file_size", .optionalInt(fileSize)),
            ("metadata", JSONForm.metadataValue(metadata)),
        ]
        var ls: [JSONValue] = []
        for (k, s) in layers.enumerated() {
            var f: [(String, JSONValue)] = [
                ("index", .int(k)), ("cell", .string(s.cell.rawValue)), ("input_size", .int(s.inputSize)),
                ("hidden_size", .int(s.hiddenSize)), ("output_size", .int(s.outputSize)),
                ("direction", .string(s.direction.rawValue)), ("num_directions", .int(s.direction.count)),
                ("bias", .bool(s.hasBias)), ("gate_layout", .string(s.gateLayout.rawValue)),
                ("peepholes", .array(s.lstm.peepholes.sorted().map { .string($0.rawValue) })),
                ("coupled", .bool(s.lstm.coupled)),
                ("reset_after", s.cell == .gru ? .bool(s.resetAfter) : .null),
                ("projection_size", .optionalInt(s.lstm.projectionSize)),
                ("activation_clip", .optionalDouble(s.activationClip)),
                ("cell_clip", .optionalDouble(s.lstm.cellClip)),
                ("projection_clip", .optionalDouble(s.lstm.projectionClip)),
                ("initial_state", .bool(s.hasInitialState)),
                ("activations", .array(s.activations.map { list in
                    .array(list.map { a in .object([("kind", .string(a.kind.rawValue)), ("alpha", .double(a.alpha)), ("beta", .double(a.beta))]) })
                })),
                ("parameters", .int(s.parameterCount)),
            ]
            f.append(("tensors", .array(tensors(ofLayer: k).map(tensorJSON))))
            ls.append(.object(f))
        }
        top.append(("layers", .array(ls)))
        let recorded = RecordedLayout.recorded(in: Model(metadata: metadata, layers: []))
        top.append(("layout", .optionalString(recorded?.rawValue)))
        top.append(("run_contract", .string(RunContract.text(layers, batchFirst: recorded == .batchMajor))))
        top.append(("total_parameters", .int(totalParameters)))
        top.append(("stats_included", .bool(statsIncluded)))
        return JSONValue.object(top).render() + "\n"
    }

    func tensorJSON(_ t: TensorRow) -> JSONValue {
        var f: [(String, JSONValue)] = [
            ("name", .string(t.name)), ("dtype", .string(t.dtype.rawValue)), ("shape", .array(t.shape.map { .int($0) })),
            ("encoding", .string(t.encoding.rawValue)), ("raw_bytes", .int(t.rawBytes)),
            ("stored_bytes", .optionalInt(t.storedBytes)),
            ("file_offset", .optionalInt(t.fileOffset)),
            ("compression_ratio", t.storedBytes.map { .double(t.rawBytes == 0 ? 1 : Double($0) / Double(t.rawBytes)) } ?? .null),
            ("crc32", t.crc32.map { .string(hex($0)) } ?? .null),
        ]
        if let st = t.stats {
            f.append(("stats", .object([("min", .double(st.min)), ("max", .double(st.max)), ("mean", .double(st.mean)),
                                        ("std", .double(st.std)), ("nan_count", .int(st.nanCount)), ("inf_count", .int(st.infCount))])))
        }
        return .object(f)
    }
}

/// Escapes control characters: names and metadata come from untrusted files. Besides the C0/C1
/// controls, the line and paragraph separators and the bidirectional-text controls (which can
/// make a terminal show text other than what the file holds) are escaped too.
func safe(_ s: String) -> String {
    var r = ""
    for u in s.unicodeScalars {
        if u.value < 0x20 || u.value == 0x7F || (0x80...0x9F).contains(u.value) || [0x200E, 0x200F, 0x2028, 0x2029].contains(u.value)
            || (0x202A...0x202E).contains(u.value) || (0x2066...0x2069).contains(u.value) {
            r += "\\u{\(String(u.value, radix: 16))}"
        } else {
            r.unicodeScalars.append(u)
        }
    }
    return r
}

/// The size of the file at `path`, or nil when it cannot be read (a folder, a pipe).
func fileSizeIfReadable(_ path: String) -> Int? {
    (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
func shapeText(_ s: [Int]) -> String { "[" + s.map(String.init).joined(separator: ", ") + "]" }
func ratioText(_ stored: Int, _ raw: Int) -> String { raw == 0 ? "-" : String(format: "%.1f%%", 100.0 * Double(stored) / Double(raw)) }
func num(_ v: Double) -> String { v.isNaN ? "nan" : String(format: "%.6g", v) }

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}

/// The same escaping for the command line's error messages, which quote names from files.
package func escapingControlCharacters(_ s: String) -> String { safe(s) }
