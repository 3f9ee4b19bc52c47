// VigilChunk: see ARCHITECTURE.md. Implementation lands with its roadmap step.
import VigilCore
public enum VigilChunkModule { public static let name = "VigilChunk" }
