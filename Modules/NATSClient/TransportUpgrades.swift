import NATSTLS
import NATSTransport

/// TLS and WebSocket layers over a dialed stream.
enum TransportUpgrades {
    /// Runs the TLS client handshake; a new context per attempt picks up rotated files.
    static func tls(over stream: any ByteStream, url: ServerURL, verifyHost: String, options: ConnectOptions) async throws(NATSError) -> TLSStream {
        let context: TLSContext
        do {
            context = try TLSContext(configuration: options.tls.configuration)
        } catch {
            throw NATSError(.tls, "the TLS configuration cannot be used: \(error)", underlying: error)
        }
        do {
            return try await TLSStream.connect(over: stream, context: context, serverHostname: verifyHost, timeout: options.connectionTimeout)
        } catch {
            throw NATSError(.tls, "TLS handshake with \(url) failed: \(error)", underlying: error)
        }
    }

    static func webSocket(over stream: any ByteStream, url: ServerURL, verifyHost: String, options: ConnectOptions) async throws(NATSError) -> any ByteStream {
        throw NATSError(.config, "WebSocket is not available in this build")
    }
}
