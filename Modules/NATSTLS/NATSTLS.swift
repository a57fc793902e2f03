// Placeholder until the module lands.
enum NATSTLSModule {}
