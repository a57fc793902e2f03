import NATSTLS
import NATSWebSocket
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

    /// Runs the WebSocket opening handshake; the URL's path, when it has one, wins over the
    /// configured path.
    static func webSocket(over stream: any ByteStream, url: ServerURL, verifyHost: String, options: ConnectOptions) async throws(NATSError) -> any ByteStream {
        var configuration = options.webSocket
        if !url.path.isEmpty && url.path != "/" { configuration.path = url.path }
        do {
            return try await WebSocketStream.connect(
                over: stream, host: url.host, port: url.port, secure: url.requiresTLS,
                configuration: configuration, timeout: options.connectionTimeout
            )
        } catch let error as WebSocketError {
            throw NATSError(.connection, "WebSocket handshake with \(url) failed: \(error)", underlying: error)
        } catch let error as TLSError {
            throw NATSError(.tls, "TLS failed during the WebSocket handshake with \(url): \(error)", underlying: error)
        } catch {
            throw NATSError(.connection, "WebSocket handshake with \(url) failed: \(error)", underlying: error)
        }
    }
}
