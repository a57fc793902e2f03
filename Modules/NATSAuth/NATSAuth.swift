// Placeholder until the module lands.
enum NATSAuthModule {}
