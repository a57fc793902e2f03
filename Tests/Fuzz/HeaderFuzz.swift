// libFuzzer entry point for NATSHeaders. Built by Tools/fuzz.sh, not by Package.swift.
//
// The input is a header block. If it parses: validate() must pass unless the status is
// below 100 (the only thing parse accepts and validate rejects), and then write(to:)
// must produce exactly wireLength bytes that parse back to equal headers and re-encode
// to the same bytes.
import NATSWire
import NIOCore

private func fail(_ message: String) -> Never {
    fatalError("HeaderFuzz: \(message)")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNATSHeaders(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : count)
    var bytes = ByteBuffer()
    bytes.writeBytes(input)

    let parsed: NATSHeaders
    do {
        parsed = try NATSHeaders.parse(bytes)
    } catch {
        _ = error.description
        return 0
    }
    _ = parsed.description
    _ = parsed.isEmpty
    if let first = parsed.entries.first {
        if parsed[first.name] != first.value { fail("subscript of \(first.name)") }
        if parsed.values(for: first.name).first != first.value { fail("values(for:) of \(first.name)") }
    }

    do {
        try parsed.validate()
    } catch {
        if let status = parsed.status, status < 100 { return 0 }
        fail("parsed headers fail validate(): \(error) for \(parsed)")
    }

    var written = ByteBuffer()
    parsed.write(to: &written)
    if written.readableBytes != parsed.wireLength {
        fail("wireLength \(parsed.wireLength) != written \(written.readableBytes) for \(parsed)")
    }
    let reparsed: NATSHeaders
    do {
        reparsed = try NATSHeaders.parse(written)
    } catch {
        fail("written headers do not parse: \(error); \(String(buffer: written).debugDescription)")
    }
    if reparsed != parsed { fail("round trip changed \(parsed) into \(reparsed)") }
    var rewritten = ByteBuffer()
    reparsed.write(to: &rewritten)
    if rewritten != written { fail("re-encoding differs") }
    return 0
}
