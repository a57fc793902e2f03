public import NATSTransport
import NIOCore

/// Reads from `stream` until the text received so far contains `marker`, and returns all of
/// it. For raw-protocol checks in tests.
///
/// - Throws: ``NATSServerError`` when the stream ends or `timeout` passes first.
public func readUntil(
    _ stream: any ByteStream,
    contains marker: String,
    timeout: Duration = .seconds(5)
) async throws -> String {
    try await withDeadline(timeout) {
        var received = ""
        while !received.contains(marker) {
            guard let chunk = try await stream.read() else {
                throw NATSServerError("stream ended before '\(marker)' arrived; got: \(received.suffix(500))")
            }
            received += String(buffer: chunk)
        }
        return received
    }
}
