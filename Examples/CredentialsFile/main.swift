// A `.creds` file (`with_credentials_file`): the JWT and the seed that signs the nonce; read again on every connect.
// Runs against `Tools/demo.sh`'s servers; environment variables override the defaults.
import Foundation
import NATSClient

let env = ProcessInfo.processInfo.environment

let url = env["NATS_URL"] ?? "nats://127.0.0.1:4224"
let path = env["NATS_CREDS"] ?? "/tmp/nats-swift-demo/user.creds"

let client = try await ConnectOptions.withCredentialsFile(path)
    .connect(url)

// Round trip: subscribe to a fresh inbox, publish to it, receive it back.
let inbox = client.newInbox()
let subscription = try await client.subscribe(to: inbox)
let start = ContinuousClock.now
try await client.publish("hello", to: inbox)
for try await _ in subscription { break }
print("ok rtt=\(ContinuousClock.now - start) tls=\(client.tlsInfo?.version ?? "none") server=\(client.serverInfo?.serverName ?? "?")")
await client.close()
