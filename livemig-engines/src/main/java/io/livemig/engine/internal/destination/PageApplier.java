package io.livemig.engine.internal.destination;

import io.livemig.compress.PageEncoding;
import io.livemig.engine.internal.Codecs;
import io.livemig.engine.internal.MigrationCounters;
import io.livemig.engine.internal.PageDigests;
import io.livemig.engine.internal.wire.Frame;
import io.livemig.engine.internal.wire.PageBatchReader;
import io.livemig.engine.internal.wire.WireException;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemorySink;

import java.nio.ByteBuffer;

/**
 * Applies PAGES frames to the target's memory, all or nothing: the {@link PageBatchReader} checks
 * the whole batch first, the {@link BatchDecoder} then decodes every compressed, delta or dedup
 * entry into scratch, and only then is each entry written to the {@link MemorySink} (before the
 * switchover and in stop-copy) or installed through post-copy's {@link PostcopyReceiver} (after
 * it, where a page is installed once and never overwritten). A batch that fails any of this
 * leaves guest memory untouched. When verifying, the digest of what landed is recorded, read back
 * from guest memory.
 *
 * <p>The receiving thread only.
 */
final class PageApplier {

    private final MemorySink sink;
    private final PageBatchReader reader;
    private final BatchDecoder batch;
    private final ByteBuffer readBack;
    private final DestinationVerifier verifier;
    private final MigrationCounters counters;
    private final PageBatchReader.Sink toSink = this::write;
    private final PageBatchReader.Sink toPostcopy = this::install;
    private PostcopyReceiver postcopy;
    /** The entry being applied, counted from 0 in each batch. */
    private int entry;

    /**
     * @param sink             the target's memory
     * @param layout           the announced layout
     * @param agreedEncodings  the encodings agreed in the handshake (bit n for wire id n)
     * @param batchPages       the most entries of a batch, as SETUP announced
     * @param verifier         records digests of what landed, or null without verification
     * @param counters         counts applied pages by encoding and the highest round
     */
    PageApplier(MemorySink sink, MemoryLayout layout, long agreedEncodings, int batchPages, DestinationVerifier verifier,
                MigrationCounters counters) {
        this.sink = sink;
        this.reader = new PageBatchReader(layout, agreedEncodings, batchPages);
        this.batch = new BatchDecoder(sink, layout, batchPages, Codecs.encodingsOf(agreedEncodings));
        this.readBack = verifier == null ? null : PageDigests.scratch(layout.pageSizeBytes(), 1);
        this.verifier = verifier;
        this.counters = counters;
    }

    /** From now on pages are installed through {@code receiver} (post-copy). */
    void postcopy(PostcopyReceiver receiver) {
        this.postcopy = receiver;
    }

    /**
     * Checks, decodes and applies one PAGES frame.
     *
     * @throws WireException if the batch is malformed or an entry does not decode; nothing of it
     *                       was applied
     */
    void apply(Frame frame) throws WireException {
        int round = reader.check(frame);
        batch.decode(reader, frame.payload(), postcopy != null);
        entry = 0;
        reader.forEach(postcopy == null ? toSink : toPostcopy);
        counters.round(round);
    }

    private void write(long page, PageEncoding encoding, ByteBuffer payload) {
        int index = entry++;
        counters.page(encoding, payload.remaining());
        switch (encoding) {
            case ZERO -> sink.zeroPages(page, 1);
            case RAW -> sink.writePages(page, 1, payload);
            case XBZRLE, LZ4, ZSTD, DEDUP -> sink.writePages(page, 1, batch.page(index));
        }
        if (verifier != null) {
            readBack.clear();
            sink.readPages(page, 1, readBack);
            verifier.landed(page, readBack, 0);
        }
    }

    /** XBZRLE and dedup never get here: the decoder refuses them in post-copy. */
    private void install(long page, PageEncoding encoding, ByteBuffer payload) {
        int index = entry++;
        counters.page(encoding, payload.remaining());
        ByteBuffer content = payload;
        PageEncoding installed = encoding;
        if (encoding != PageEncoding.ZERO && encoding != PageEncoding.RAW) {
            content = batch.page(index);
            installed = PageEncoding.RAW;
        }
        int at = content.position();
        if (postcopy.install(page, installed, content) && verifier != null) {
            if (installed == PageEncoding.ZERO) {
                verifier.landedZero(page);
            } else {
                verifier.landed(page, content, at);
            }
        }
    }
}
