import Testing
@testable import VigilChunk

@Test func moduleLinks() { #expect(VigilChunkModule.name == "VigilChunk") }
