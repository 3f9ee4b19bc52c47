import VigilChunk
import VigilCore

// The append path: validate the whole batch, apply it to the head and encode its WAL records,
// all under the head lock (so the log order is the head order); then wait for the fsync outside it.

extension Head {
    /// Applies `batch` to the head. Returns the result and the framed WAL records to log
    /// (empty when nothing was accepted). Throws `InvalidSeriesError` before changing anything.
    /// Samples older than `minValid` (the clock minus retention) are counted as too old.
    func appendLocked(_ batch: [SeriesSamples], refs: RefSamples? = nil, minValid: Int64 = .min) throws(InvalidSeriesError) -> (RefAppendResult, [UInt8]) {
        try batch.withUnsafeBufferPointer { (bp) throws(InvalidSeriesError) in try appendLocked(bp, refs: refs, minValid: minValid) }
    }

    private func appendLocked(_ batch: UnsafeBufferPointer<SeriesSamples>, refs: RefSamples?, minValid: Int64) throws(InvalidSeriesError) -> (RefAppendResult, [UInt8]) {
        // Phase 1: resolve series and validate; nothing is modified.
        var found = ContiguousArray<MemSeries?>(repeating: nil, count: batch.count)
        var hashes = ContiguousArray<UInt64>(repeating: 0, count: batch.count)
        for i in 0..<batch.count {
            if batch[i].timestamps.count != batch[i].values.count {
                throw InvalidSeriesError(index: i, labels: batch[i].labels,
                                         reason: "\(batch[i].timestamps.count) timestamps but \(batch[i].values.count) values")
            }
            let h = seriesHash(batch[i].labels)
            hashes[i] = h
            if let s = lookupLocked(batch[i].labels, hash: h) {
                found[i] = s
            } else {
                do { try batch[i].labels.validate() } catch {
                    throw InvalidSeriesError(index: i, labels: batch[i].labels, reason: error.description)
                }
                if batch[i].labels.count > MemSeries.maxLabels {
                    throw InvalidSeriesError(index: i, labels: batch[i].labels,
                                             reason: "\(batch[i].labels.count) labels (at most \(MemSeries.maxLabels))")
                }
            }
        }

        // Phase 2: apply.
        var result = AppendResult()
        var seriesRefs = [UInt64](repeating: 0, count: batch.count)
        var seriesPayload: [UInt8] = []
        var samplesPayload: [UInt8] = []
        samplesPayload.reserveCapacity(batch.count * 24)
        var acceptedT: [Int64] = []
        var acceptedV: [Double] = []
        var newest = maxTime

        for i in 0..<batch.count {
            let ss = batch[i]
            let n = ss.timestamps.count
            if n == 0 { continue }
            var s = found[i]
            if s == nil {
                // A batch may name the same new series twice: look again.
                s = lookupLocked(ss.labels, hash: hashes[i])
            }
            if s == nil {
                guard ss.timestamps.contains(where: { $0 >= minValid }) else {
                    result.tooOld += n
                    continue
                }
                let created = createLocked(ref: nextRef, labels: ss.labels, hash: hashes[i])
                encodeSeriesRecordEntry(created.ref, ss.labels, into: &seriesPayload)
                result.newSeries += 1
                s = created
            }
            guard let s else { continue }
            seriesRefs[i] = s.ref

            ss.timestamps.withUnsafeBufferPointer { tp in
                ss.values.withUnsafeBufferPointer { vp in
                    // Fast path: strictly increasing and all newer than the series' newest sample.
                    var inOrder = tp[0] > s.maxTime && tp[0] >= minValid
                    if inOrder {
                        var prev = tp[0]
                        for k in 1..<n {
                            let t = tp[k]
                            if t <= prev { inOrder = false; break }
                            prev = t
                        }
                    }
                    if inOrder {
                        for k in 0..<n { appendSampleLocked(s, tp[k], vp[k]) }
                        encodeSamplesEntry(s.ref, tp, vp, into: &samplesPayload)
                        result.accepted += n
                    } else {
                        acceptedT.removeAll(keepingCapacity: true)
                        acceptedV.removeAll(keepingCapacity: true)
                        for k in 0..<n {
                            let t = tp[k]
                            if t < minValid {
                                result.tooOld += 1
                            } else if t == s.maxTime {
                                if s.lastValueBits == vp[k].bitPattern { result.identical += 1 } else { result.duplicate += 1 }
                            } else if t < s.maxTime {
                                result.outOfOrder += 1
                            } else {
                                appendSampleLocked(s, t, vp[k])
                                acceptedT.append(t)
                                acceptedV.append(vp[k])
                            }
                        }
                        if !acceptedT.isEmpty {
                            acceptedT.withUnsafeBufferPointer { at in
                                acceptedV.withUnsafeBufferPointer { av in
                                    encodeSamplesEntry(s.ref, at, av, into: &samplesPayload)
                                }
                            }
                            result.accepted += acceptedT.count
                        }
                    }
                }
            }
            if s.maxTime > newest { newest = s.maxTime }
        }

        // By-reference entries: one sample each.
        var unknown: [Int] = []
        if let refs, !refs.isEmpty {
            samplesPayload.reserveCapacity(samplesPayload.count + refs.count * 20)
            refs.refs.withUnsafeBufferPointer { rp in
                refs.timestamps.withUnsafeBufferPointer { tp in
                    refs.values.withUnsafeBufferPointer { vp in
                        let n = min(rp.count, tp.count, vp.count)
                        for k in 0..<n {
                            // Series and open-chunk tails are cache misses: ask for them ahead.
                            if k + 16 < n { prefetchLocked(rp[k + 16], deep: false) }
                            if k + 8 < n { prefetchLocked(rp[k + 8], deep: true) }
                            guard let u = slotLocked(rp[k]) else {
                                unknown.append(k)
                                continue
                            }
                            let t = tp[k], v = vp[k]
                            u._withUnsafeGuaranteedRef { s in
                                if t > s.maxTime && t >= minValid {
                                    appendSampleLocked(s, t, v)
                                    encodeOneSampleEntry(s.ref, t, v, into: &samplesPayload)
                                    result.accepted += 1
                                    if t > newest { newest = t }
                                } else if t < minValid {
                                    result.tooOld += 1
                                } else if t == s.maxTime {
                                    if s.lastValueBits == v.bitPattern { result.identical += 1 } else { result.duplicate += 1 }
                                } else {
                                    result.outOfOrder += 1
                                }
                            }
                        }
                    }
                }
            }
        }
        maxTime = newest

        var framed: [UInt8] = []
        if !seriesPayload.isEmpty {
            WALFormat.frame(.series, seriesPayload, into: &framed)
        }
        if !samplesPayload.isEmpty {
            framed.reserveCapacity(framed.count + samplesPayload.count + WALFormat.recordHeaderSize)
            WALFormat.frame(.samples, samplesPayload, into: &framed)
        }
        walBytesSinceCheckpoint += framed.count
        var out = RefAppendResult()
        out.result = result
        out.seriesRefs = seriesRefs
        out.unknownRefs = unknown
        return (out, framed)
    }
}

/// A samples entry of one sample (the layout of `encodeSamplesEntry` with n = 1).
@inline(__always)
func encodeOneSampleEntry(_ ref: UInt64, _ t: Int64, _ v: Double, into out: inout [UInt8]) {
    putUvarint(&out, ref)
    out.append(1)
    putVarint(&out, t)
    putU64LE(&out, v.bitPattern)
}

func encodeSeriesRecordEntry(_ ref: UInt64, _ labels: Labels, into out: inout [UInt8]) {
    putUvarint(&out, ref)
    encodeLabels(labels, into: &out)
}

/// ref, n, t0 (zigzag varint), n-1 uvarint deltas, n little-endian float64 bit patterns.
func encodeSamplesEntry(_ ref: UInt64, _ ts: UnsafeBufferPointer<Int64>, _ vs: UnsafeBufferPointer<Double>,
                        into out: inout [UInt8]) {
    let n = ts.count
    putUvarint(&out, ref)
    putUvarint(&out, UInt64(n))
    putVarint(&out, ts[0])
    var prev = ts[0]
    for k in 1..<max(1, n) {
        putUvarint(&out, UInt64(bitPattern: ts[k] &- prev))
        prev = ts[k]
    }
    let start = out.count
    out.append(contentsOf: repeatElement(0, count: n * 8))
    out.withUnsafeMutableBytes { p in
        for k in 0..<n {
            p.storeBytes(of: vs[k].bitPattern.littleEndian, toByteOffset: start + 8 * k, as: UInt64.self)
        }
    }
}

/// Decoded WAL records.
enum WALRecord {
    case series([(UInt64, Labels)])
    case samples([(ref: UInt64, ts: [Int64], vs: [Double])])

    static func decode(_ type: WALRecordType, _ payload: UnsafeRawBufferPointer) throws(DecodeError) -> WALRecord {
        var r = ByteReader(payload)
        switch type {
        case .series:
            var out: [(UInt64, Labels)] = []
            while !r.isAtEnd {
                let ref = try r.uvarint()
                out.append((ref, try r.labels()))
            }
            return .series(out)
        case .samples:
            var out: [(ref: UInt64, ts: [Int64], vs: [Double])] = []
            while !r.isAtEnd {
                let ref = try r.uvarint()
                let n = try r.count(limit: r.remaining / 8)
                guard n > 0 else { throw DecodeError(reason: "empty sample entry", offset: r.pos) }
                var ts = [Int64]()
                ts.reserveCapacity(n)
                var t = try r.varint()
                ts.append(t)
                for _ in 1..<n {
                    let p = r.pos
                    let d = try r.uvarint()
                    guard d > 0 && d <= UInt64(Int64.max) else { throw DecodeError(reason: "bad delta", offset: p) }
                    let (nt, o) = t.addingReportingOverflow(Int64(d))
                    guard !o else { throw DecodeError(reason: "timestamp overflow", offset: p) }
                    t = nt
                    ts.append(t)
                }
                var vs = [Double]()
                vs.reserveCapacity(n)
                for _ in 0..<n { vs.append(Double(bitPattern: try r.u64())) }
                out.append((ref, ts, vs))
            }
            return .samples(out)
        }
    }
}
