package io.livemig.engine.internal.destination;

import io.livemig.api.ProtocolException.Kind;
import io.livemig.compress.CorruptPageException;
import io.livemig.compress.PageDecoder;
import io.livemig.compress.PageEncoding;
import io.livemig.engine.internal.MigrationCounters;
import io.livemig.engine.internal.PageDigests;
import io.livemig.engine.internal.wire.Frame;
import io.livemig.engine.internal.wire.PageBatchReader;
import io.livemig.engine.internal.wire.WireException;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemorySink;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Applies PAGES frames to the target's memory: the {@link PageBatchReader} checks the whole batch
 * first, then each entry is decoded and written to the {@link MemorySink} (before the switchover
 * and in stop-copy) or installed through post-copy's {@link PostcopyReceiver} (after it, where a
 * page is installed once and never overwritten). When verifying, the digest of what landed is
 * recorded, read back from guest memory.
 *
 * <p>The receiving thread only.
 */
final class PageApplier {

    private final MemorySink sink;
    private final MemoryLayout layout;
    private final PageBatchReader reader;
    private final PageDecoder decoder;
    private final ByteBuffer decoded;
    private final ByteBuffer readBack;
    private final DestinationVerifier verifier;
    private final MigrationCounters counters;
    private final PageBatchReader.Sink toSink = this::write;
    private final PageBatchReader.Sink toPostcopy = this::install;
    private PostcopyReceiver postcopy;

    /**
     * @param sink             the target's memory
     * @param agreedEncodings  the encodings agreed in the handshake (bit n for wire id n)
     * @param verifier         records digests of what landed, or null without verification
     * @param counters         counts applied pages by encoding and the highest round
     */
    PageApplier(MemorySink sink, MemoryLayout layout, long agreedEncodings, DestinationVerifier verifier,
                MigrationCounters counters) {
        this.sink = sink;
        this.layout = layout;
        this.reader = new PageBatchReader(layout, agreedEncodings);
        this.decoder = new PageDecoder(layout.pageSizeBytes());
        this.decoded = ByteBuffer.allocateDirect(layout.pageSizeBytes()).order(ByteOrder.nativeOrder());
        this.readBack = verifier == null ? null : PageDigests.scratch(layout.pageSizeBytes(), 1);
        this.verifier = verifier;
        this.counters = counters;
    }

    /** From now on pages are installed through {@code receiver} (post-copy). */
    void postcopy(PostcopyReceiver receiver) {
        this.postcopy = receiver;
    }

    /**
     * Checks and applies one PAGES frame.
     *
     * @throws WireException if the batch is malformed (nothing of it was applied) or a page does not
     *                       decode (the pages before it in the batch were applied)
     */
    void apply(Frame frame) throws WireException {
        int round;
        try {
            round = reader.read(frame, postcopy == null ? toSink : toPostcopy);
        } catch (CorruptPageException e) {
            throw new WireException(Kind.INCONSISTENT_LENGTH, "undecodable page: " + e.getMessage());
        }
        counters.round(round);
    }

    private void write(long page, PageEncoding encoding, ByteBuffer payload) {
        counters.page(encoding, payload.remaining());
        switch (encoding) {
            case ZERO -> sink.zeroPages(page, 1);
            case RAW -> sink.writePages(page, 1, payload);
            case XBZRLE, LZ4, ZSTD, DEDUP -> {
                decoded.clear();
                long base = PageDecoder.basePage(page, encoding, payload);
                if (base >= 0) {
                    if (!layout.contains(base)) {
                        throw new CorruptPageException(page, encoding, "refers to page " + base
                                + ", which is not guest RAM");
                    }
                    sink.readPages(base, 1, decoded);
                    decoded.clear();
                }
                decoder.decode(page, encoding, payload, decoded);
                decoded.clear();
                sink.writePages(page, 1, decoded);
            }
        }
        if (verifier != null) {
            readBack.clear();
            sink.readPages(page, 1, readBack);
            verifier.landed(page, readBack, 0);
        }
    }

    private void install(long page, PageEncoding encoding, ByteBuffer payload) {
        counters.page(encoding, payload.remaining());
        if (encoding == PageEncoding.XBZRLE || encoding == PageEncoding.DEDUP) {
            throw new CorruptPageException(page, encoding, encoding.reportName()
                    + " in post-copy: the destination may not hold the content it builds on");
        }
        ByteBuffer content = payload;
        PageEncoding installed = encoding;
        if (encoding != PageEncoding.ZERO && encoding != PageEncoding.RAW) {
            decoded.clear();
            decoder.decode(page, encoding, payload, decoded);
            content = decoded.duplicate().position(0).limit(decoded.capacity());
            installed = PageEncoding.RAW;
        }
        if (postcopy.install(page, installed, content) && verifier != null) {
            if (installed == PageEncoding.ZERO) {
                verifier.landedZero(page);
            } else {
                verifier.landed(page, content, content.position());
            }
        }
    }
}
