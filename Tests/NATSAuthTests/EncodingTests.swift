import Testing
@testable import NATSAuth
