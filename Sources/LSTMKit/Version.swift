@_exported import LSTMCore

public enum LSTMKitVersion { public static let string = "0.1.0" }
