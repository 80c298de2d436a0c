package io.livemig.engine.internal.destination;

import io.livemig.compress.PageEncoding;
import io.livemig.engine.internal.Codecs;
import io.livemig.engine.internal.MigrationCounters;
import io.livemig.engine.internal.PageDigests;
import io.livemig.engine.internal.wire.Frame;
import io.livemig.engine.internal.wire.PageBatchReader;
import io.livemig.engine.internal.wire.WireException;
import io.livemig.spi.DemandPaging;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemorySink;

import java.nio.ByteBuffer;

/**
 * Applies PAGES frames to the target's memory, all or nothing: the {@link PageBatchReader} checks
 * the whole batch first, the {@link BatchDecoder} then decodes every compressed, delta or dedup
 * entry into scratch, and only then is each entry written to the {@link MemorySink} (before the
 * switchover and in stop-copy) or installed through post-copy's {@link PostcopyReceiver} (after
 * it, where a page is installed once and never overwritten; contiguous pages of a frame are
 * installed as one run). A batch that fails any of this leaves guest memory untouched. When
 * verifying, the digest of what landed is recorded, read back from guest memory (pre-copy) or
 * taken from the bytes installed (post-copy).
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
    private final int pageBytes;
    /** The entry being applied, counted from 0 in each batch. */
    private int entry;
    /**
     * Post-copy: the pages of the open run, contiguous from {@link #runFirst}, gathered from one
     * frame so that they are installed at once (direct: the provider may hand it to the kernel).
     */
    private ByteBuffer run;
    private long runFirst;
    /** Pages in {@link #run}; 0 when no run is open. */
    private int runPages;

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
        this.pageBytes = layout.pageSizeBytes();
    }

    /**
     * Makes what post-copy's installs need, ahead of the switchover: made in {@link #postcopy},
     * inside the downtime, the buffer cost milliseconds there (its pages are faulted in while the
     * provider's arming holds the address space's lock).
     */
    void preparePostcopy() {
        if (run == null) {
            run = ByteBuffer.allocateDirect(DemandPaging.MAX_RUN_PAGES * pageBytes);
        }
    }

    /** From now on pages are installed through {@code receiver} (post-copy). */
    void postcopy(PostcopyReceiver receiver) {
        preparePostcopy();
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
        if (postcopy == null) {
            reader.forEach(toSink);
        } else {
            reader.forEach(toPostcopy);
            installRun();
        }
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

    /**
     * XBZRLE and dedup never get here: the decoder refuses them in post-copy. A zero page is
     * installed at once; other pages join the open run if they continue it, and the run is
     * installed when a page does not continue it, when it is full, or at the end of the frame.
     */
    private void install(long page, PageEncoding encoding, ByteBuffer payload) {
        int index = entry++;
        counters.page(encoding, payload.remaining());
        if (encoding == PageEncoding.ZERO) {
            installRun();
            if (postcopy.install(page, PageEncoding.ZERO, payload) && verifier != null) {
                verifier.landedZero(page);
            }
            return;
        }
        ByteBuffer content = encoding == PageEncoding.RAW ? payload : batch.page(index);
        if (runPages > 0 && (page != runFirst + runPages || runPages == DemandPaging.MAX_RUN_PAGES)) {
            installRun();
        }
        if (runPages == 0) {
            runFirst = page;
        }
        run.put(runPages * pageBytes, content, content.position(), pageBytes);
        runPages++;
    }

    /** Installs the open run, if any, and records the digests of the pages that landed. */
    private void installRun() {
        if (runPages == 0) {
            return;
        }
        long installed;
        try {
            installed = postcopy.installRun(runFirst, runPages, run.limit(runPages * pageBytes).position(0));
        } finally {
            run.clear(); // the next run's pages go in by absolute puts, up to the capacity
        }
        if (verifier != null) {
            for (int k = 0; k < runPages; k++) {
                if ((installed & 1L << k) != 0) {
                    verifier.landed(runFirst + k, run, k * pageBytes);
                }
            }
        }
        runPages = 0;
    }
}
