# Sourced by Tools/test.sh and Tools/sanitize.sh: the two phases the suites run in.
#
# Phase 1: the module suites, CPU-heavy (TLS bulk transfers in memory, parsers fed at every
# split point) and free of wall-clock protocol timeouts. Phase 2: every suite that talks to a
# nats-server or a scripted server, whose timeouts (the server's TLS handshake and
# authorization timeouts, the client's) are wall-clock; run beside phase 1 on 2 cores, the
# starved ones expired (NATSServerTLSTests once saw its server close a TLS handshake after
# 10 s while the in-memory bulk transfers held both cooperative threads).
PHASE1=(--filter '^(NATSWireTests|NATSAuthTests|NATSTransportTests|NATSTLSTests|NATSWebSocketTests)\.'
        --skip '^NATSTLSTests\.NATSServerTLSTests/')
PHASE2=(--filter '^(NATSClientTests|NATSIntegrationTests)\.|^NATSTLSTests\.NATSServerTLSTests/')
