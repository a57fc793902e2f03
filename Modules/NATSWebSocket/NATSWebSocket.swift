// Placeholder until the module lands.
enum NATSWebSocketModule {}
