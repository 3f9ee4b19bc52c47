import Testing
@testable import VigilServer

@Test func moduleLinks() { #expect(VigilServerModule.name == "VigilServer") }
