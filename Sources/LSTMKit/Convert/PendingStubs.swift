import LSTMCore
enum SafetensorsImporter {
    static func load(path: String, options: ImportOptions, notes: inout ImportNotes) throws -> Model {
        throw LSTMError(.unsupported, "\(path): safetensors import is not implemented yet")
    }
}
enum SafetensorsExporter {
    static func encode(_ model: Model) throws -> [UInt8] { throw LSTMError(.unsupported, "safetensors export is not implemented yet") }
}
