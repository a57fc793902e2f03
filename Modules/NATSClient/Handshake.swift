import NATSWire

/// The connect handshake as a pure state machine: INFO → [TLS] → CONNECT+PING → PONG.
///
/// No I/O: the connector feeds it what arrived and performs the action it returns.
struct HandshakeStateMachine: Sendable {
    /// What the user and the URL asked for.
    struct Requirements: Sendable, Equatable {
        /// TLS required by the options (`requireTLS`, `tlsFirst`).
        var tlsRequiredByOptions = false
        /// TLS required by the URL scheme (`tls://`).
        var tlsRequiredByURL = false
        /// TLS already done before INFO (TLS-first).
        var tlsFirst = false
        /// The transport is WebSocket: TLS, if any, belongs to `wss://`, never to NATS.
        var webSocket = false
    }

    enum State: Sendable, Equatable {
        case awaitingInfo
        case upgradingTLS(ServerInfo)
        case authenticating(ServerInfo)
        case awaitingPong(ServerInfo)
        case connected(ServerInfo)
        case failed
    }

    enum Action: Sendable, Equatable {
        /// Upgrade the transport to TLS, then call ``tlsEstablished()``.
        case upgradeToTLS
        /// Produce the CONNECT (auth fields, signing the nonce), then call ``connectReady()``.
        case authenticate(ServerInfo)
        /// Write CONNECT and PING in one write.
        case sendConnectAndPing
        /// Answer a PING during the handshake.
        case sendPong
        /// Connected.
        case connected(ServerInfo)
        /// Give up with this error.
        case fail(HandshakeFailure)
        /// Nothing to do; keep reading.
        case wait
    }

    enum HandshakeFailure: Sendable, Equatable {
        case secureConnectionRequired
        case server(ServerError)
        case unexpected(String)
    }

    private(set) var state: State = .awaitingInfo
    let requirements: Requirements

    init(requirements: Requirements) {
        self.requirements = requirements
    }

    mutating func infoReceived(_ info: ServerInfo) -> Action {
        switch state {
        case .awaitingInfo:
            if requirements.webSocket && requirements.tlsRequiredByOptions && !requirements.tlsRequiredByURL {
                // TLS was asked for, but a `ws://` URL has none and NATS-level TLS does not
                // apply to WebSocket: use `wss://`.
                state = .failed
                return .fail(.secureConnectionRequired)
            }
            if requirements.webSocket || requirements.tlsFirst {
                state = .authenticating(info)
                return .authenticate(info)
            }
            let wanted = requirements.tlsRequiredByOptions || requirements.tlsRequiredByURL
            if wanted && !(info.tlsRequired || info.tlsAvailable) {
                state = .failed
                return .fail(.secureConnectionRequired)
            }
            if wanted || info.tlsRequired {
                state = .upgradingTLS(info)
                return .upgradeToTLS
            }
            state = .authenticating(info)
            return .authenticate(info)
        case .awaitingPong(_):
            state = .awaitingPong(info)
            return .wait
        case .upgradingTLS, .authenticating, .connected, .failed:
            return .wait
        }
    }

    mutating func tlsEstablished() -> Action {
        guard case .upgradingTLS(let info) = state else { return .wait }
        state = .authenticating(info)
        return .authenticate(info)
    }

    mutating func connectReady() -> Action {
        guard case .authenticating(let info) = state else { return .wait }
        state = .awaitingPong(info)
        return .sendConnectAndPing
    }

    mutating func pongReceived() -> Action {
        guard case .awaitingPong(let info) = state else {
            state = .failed
            return .fail(.unexpected("PONG before CONNECT"))
        }
        state = .connected(info)
        return .connected(info)
    }

    mutating func pingReceived() -> Action {
        switch state {
        case .awaitingPong, .authenticating, .upgradingTLS: return .sendPong
        case .awaitingInfo:
            state = .failed
            return .fail(.unexpected("PING before INFO"))
        case .connected, .failed: return .wait
        }
    }

    mutating func errReceived(_ error: ServerError) -> Action {
        state = .failed
        return .fail(.server(error))
    }

    mutating func messageReceived() -> Action {
        state = .failed
        return .fail(.unexpected("a message before the handshake completed"))
    }
}
