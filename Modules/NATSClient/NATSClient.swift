// Placeholder until the module lands.
enum NATSClientModule {}
