import Foundation
import LSTMKit

let model = try RecurrentModel(contentsOf: URL(fileURLWithPath: CommandLine.arguments[1]))  // any registered format
let (T, B, I) = (50, 1, model.inputSize)
let xs: [Float] = (0..<(T * B * I)).map { Float(sin(Double($0) * 0.01)) }
let x = try Tensor<Float>(shape: [T, B, I], scalars: xs)       // time-major [T, B, I]
var whole = model.initialState(batchSize: B)                     // learned initial state if the model has one, else zeros
let y = try model.run(x, state: &whole)                          // Tensor<Float> [T, B, model.outputSize]; state now after step T
var chunked = model.initialState(batchSize: B)
let y1 = try model.run(try x.slice(steps: 0..<20), state: &chunked)
let y2 = try model.run(try x.slice(steps: 20..<T), state: &chunked)
print(y.shape, y.scalars == y1.scalars + y2.scalars, whole == chunked)   // "[50, 1, 64] true true" for a 64-unit model
