import NATSAuth
import NATSTransport
import NATSWire

/// Fills CONNECT's auth fields for one attempt through NATSAuth's resolver, which applies
/// the spec's priority order and signs this connection's nonce.
enum ClientAuth {
    static func apply(to connect: inout ConnectInfo, info: ServerInfo, url: ServerURL, options: ConnectOptions) async throws(NATSError) {
        do {
            let fields = try await AuthResolver.resolve(options.auth, urlUser: url.user, urlPassword: url.password, nonce: info.nonce)
            fields.apply(to: &connect)
        } catch {
            throw NATSError(.authentication, "cannot produce credentials for \(url): \(error)", underlying: error)
        }
    }
}
