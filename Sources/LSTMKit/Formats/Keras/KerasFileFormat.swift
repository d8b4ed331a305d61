internal import LSTMCodec
import LSTMCore

/// Keras models: Keras 3 `.keras` zips (`config.json`, `metadata.json`, `model.weights.h5`) and
/// legacy single-file HDF5 `.h5` (Keras 2, tf.keras, Keras 3's `model.save("x.h5")`), and
/// weights-only `.weights.h5` with `--config` (docs/CONVERSIONS.md, "Keras").
struct KerasFileFormat: ModelImporter, ModelExporter {
    let name = "keras"
    let displayName = "Keras model (.keras, .h5)"
    let extensions = ["keras", "h5"]
    /// Legacy `.h5` is read, not written: Keras 3 writes `.keras`.
    let writtenExtensions = ["keras"]

    static let maxConfigBytes = 1 << 26
    static let maxWeightsBytes = 1 << 34

    /// An HDF5 file, or a zip whose first member is one a `.keras` file starts with.
    func recognizes(head: [UInt8]) -> Bool {
        if HDF5File.looksLikeHDF5(head) { return true }
        guard let first = ZipArchive.firstMemberName(head) else { return false }
        return ["metadata.json", "config.json", "model.weights.h5"].contains(first)
    }

    func importModel(at path: String, options: ImportOptions) throws -> ImportResult {
        var notes = ImportNotes()
        let head = try LSTMError.about(path) {
            let f = try MappedFile(path: path)
            return f.bytes(0..<min(f.size, 8))
        }
        let importer: KerasImporter
        if HDF5File.looksLikeHDF5(head) {
            importer = try KerasFileFormat.h5Importer(path, options: options, notes: &notes)
        } else if ZipArchive.looksLikeZip(head) {
            importer = try KerasFileFormat.zipImporter(path, options: options, notes: &notes)
        } else {
            throw LSTMError(.badMagic, "not a Keras file: neither a .keras zip archive nor HDF5", path: path)
        }
        let model = try importer.model(notes: &notes)
        return ImportResult(model: model, notes: notes.messages, formatName: name)
    }

    func export(_ model: Model, to path: String, options: WriteOptions) throws {
        guard ModelFormats.fileExtension(path) == "keras" else {
            throw LSTMError(.unsupported, "lstmtool writes Keras 3 .keras files, not legacy .h5; name the output .keras", path: path)
        }
        try AtomicFile.write(path, chunks: [try KerasExporter.encode(model)])
    }

    static func parseJSON(_ bytes: [UInt8], what: String, path: String) throws -> StrictJSON.Value {
        do {
            return try StrictJSON.parse(bytes)
        } catch {
            throw LSTMError(.invalidInput, "\(what) is not valid JSON (\(error))", path: path)
        }
    }

    static func zipImporter(_ path: String, options: ImportOptions, notes: inout ImportNotes) throws -> KerasImporter {
        let zip = try LSTMError.about(path) { try ZipArchive(path: path) }
        func member(_ n: String, limit: Int) throws -> [UInt8] {
            guard let e = zip.entry(n) else {
                throw LSTMError(.invalidInput, "not a Keras 3 .keras archive: it has no \(n) (members: \(zip.entries.prefix(8).map(\.name).joined(separator: ", ")))", path: path)
            }
            return try zip.data(e, limit: limit)
        }
        let configBytes = try member("config.json", limit: maxConfigBytes)
        let weightBytes = try member("model.weights.h5", limit: maxWeightsBytes)
        var version = ""
        if let e = zip.entry("metadata.json") {
            let meta = try parseJSON(try zip.data(e, limit: maxConfigBytes), what: "metadata.json", path: path)
            version = meta["keras_version"]?.string ?? ""
        }
        let json: StrictJSON.Value
        if let c = options.config {
            json = try parseJSON(try readWholeFile(c, limit: maxConfigBytes), what: c, path: c)
            notes.messages.append("model config read from \(ConvertSupport.fileName(c)) instead of the archive's config.json")
        } else {
            json = try parseJSON(configBytes, what: "config.json", path: path)
        }
        let config = try KerasModelConfig(json: json) { LSTMError(.invalidInput, "config.json: \($0)", path: path) }
        let h5 = try HDF5File(image: weightBytes, name: "\(path): model.weights.h5")
        return KerasImporter(path: path, h5: h5, layout: .keras3, config: config, kerasVersion: version, options: options)
    }

    static func h5Importer(_ path: String, options: ImportOptions, notes: inout ImportNotes) throws -> KerasImporter {
        let bytes = try LSTMError.about(path) { try readWholeFile(path, limit: maxWeightsBytes) }
        let h5 = try HDF5File(image: bytes, name: path)
        // Attributes over 64 KiB are split into name0, name1, … (tf-keras hdf5_format.py).
        func longAttribute(_ n: String, of obj: String) throws -> String? {
            if let v = try h5.strings(attribute: n, of: obj) { return v.joined() }
            var parts: [String] = []
            while parts.count < 100_000, let p = try h5.strings(attribute: "\(n)\(parts.count)", of: obj) { parts.append(p.joined()) }
            return parts.isEmpty ? nil : parts.joined()
        }
        var version = try h5.strings(attribute: "keras_version", of: "/")?.first ?? ""
        let layout: KerasWeightLayout
        let hasModelWeights = try h5.kind(of: "model_weights") == .group
        if hasModelWeights {
            layout = .legacy(root: "model_weights")
            if version.isEmpty { version = try h5.strings(attribute: "keras_version", of: "model_weights")?.first ?? "" }
        } else if try h5.kind(of: "layers") == .group {
            layout = .keras3
        } else if try h5.strings(attribute: "layer_names", of: "/") != nil {
            layout = .legacy(root: "")
        } else {
            throw LSTMError(.invalidInput, "an HDF5 file but not a Keras model: no model_weights or layers group, no layer_names", path: path)
        }
        let json: StrictJSON.Value
        if let c = options.config {
            json = try parseJSON(try readWholeFile(c, limit: maxConfigBytes), what: c, path: c)
        } else if let text = try longAttribute("model_config", of: "/") {
            json = try parseJSON(Array(text.utf8), what: "the model_config attribute", path: path)
        } else {
            throw LSTMError(.invalidInput, "a Keras weights file without a model config: give the model's config.json (or model.to_json() output) with --config", path: path)
        }
        if version.isEmpty, let v = json["keras_version"]?.string { version = v }
        let config = try KerasModelConfig(json: json) { LSTMError(.invalidInput, "model config: \($0)", path: path) }
        return KerasImporter(path: path, h5: h5, layout: layout, config: config, kerasVersion: version, options: options)
    }
}
