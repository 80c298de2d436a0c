package io.livemig.engine.internal.source;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.compress.PageEncoder;
import io.livemig.engine.internal.Codecs;
import io.livemig.engine.internal.MigrationCounters;
import io.livemig.engine.internal.strategy.CopyContext.RoundResult;
import io.livemig.engine.internal.wire.PageBatchWriter;
import io.livemig.engine.internal.wire.StreamFrames;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemorySource;
import io.livemig.spi.PageSet;

import java.util.ArrayList;
import java.util.List;

/**
 * Sends pages: frames them (reading each page straight into the frame, encoding it with the
 * agreed codecs), and sends every frame through the {@link SourceLink}, paced to the bandwidth
 * limit. Rounds are encoded by an {@link EncoderPool} with several encoder threads, or on the
 * migration's thread with one; post-copy pages always go through the migration thread's framer.
 * With {@link SourceStreams data connections}, rounds go over them instead ({@link StreamPool}),
 * and in post-copy pushed pages go over them ({@link #pushPostcopy}) while demanded pages take the
 * first channel ({@link #appendPostcopy}), so that they never queue behind the push.
 * It also keeps the pages the guest reported free and that were therefore never sent, which
 * verification treats as zero pages.
 *
 * <p>The migration's thread only. Owns the encoder threads: {@link #close()} stops them.
 */
public final class PageSender implements AutoCloseable {

    private final SourceLink link;
    private final int pageSize;
    private final io.livemig.api.TimeSource time;
    /** Frames pages on the migration thread: every page with one encoder thread, post-copy always. */
    private final PageFramer framer;
    /** The parallel encoders of pre-copy and stop-copy rounds; null with one encoder thread. */
    private final EncoderPool pool;
    /** The data connections, or null for none (or once dropped after a post-copy recovery). */
    private SourceStreams streams;
    /** The data connections as made, for their counters after {@link #dropStreams()}; null without. */
    private final SourceStreams connections;
    /** Rounds over the data connections; null without them. */
    private StreamPool streamPool;
    /** Frames post-copy's pushed pages for the data connections; null without them. */
    private final PageFramer pushFramer;
    /** The data connection the next pushed frame goes on. */
    private int nextPushStream;
    /** Real time of the last frame on the first channel during post-copy's push, for keep-alives. */
    private long lastControlNanos = System.nanoTime();
    private final long keepAliveNanos;
    private PageSet skippedFree;

    /**
     * @param memory        the source VM's memory
     * @param options       the codecs, encoder threads and clock
     * @param batchPages    the most entries per PAGES frame, as announced in SETUP
     * @param maxFrameBytes the agreed frame limit
     * @param link          where frames go
     */
    public PageSender(MemorySource memory, MigrationOptions options, int batchPages, int maxFrameBytes,
                      SourceLink link) {
        this(memory, options, batchPages, maxFrameBytes, link, null);
    }

    /**
     * @param streams the data connections rounds and pushed pages go on, or null to send every
     *                page on {@code link}; owned by this sender from now on
     */
    PageSender(MemorySource memory, MigrationOptions options, int batchPages, int maxFrameBytes, SourceLink link,
               SourceStreams streams) {
        this.link = link;
        this.streams = streams;
        this.connections = streams;
        this.keepAliveNanos = Math.min(1_000_000_000L, options.ioTimeout().toNanos() / 4);
        this.time = options.timeSource();
        MemoryLayout layout = memory.layout();
        this.pageSize = layout.pageSizeBytes();
        PageEncoder.Config codecs = Codecs.encoderConfig(options);
        if (streams != null) {
            pool = null;
            streamPool = new StreamPool(streams, link, memory, pageSize, batchPages, maxFrameBytes, codecs,
                    layout.pageSpan(), keepAliveNanos);
            codecs = Codecs.withoutHistory(codecs);
        } else if (options.encoderThreads() > 1) {
            pool = new EncoderPool(options.encoderThreads(), memory, pageSize, batchPages, maxFrameBytes, codecs,
                    layout.pageSpan());
            // Post-copy pages go through the migration thread's framer: no deltas or references
            // there, so it needs no cache or index of its own.
            codecs = Codecs.withoutHistory(codecs);
        } else {
            pool = null;
        }
        framer = new PageFramer(memory, pageSize, batchPages, maxFrameBytes, codecs.encodings().isEmpty() ? null
                : new PageEncoder(codecs, pageSize, layout.pageSpan()), page -> page, 1);
        pushFramer = streams == null ? null : new PageFramer(memory, pageSize, batchPages, maxFrameBytes,
                codecs.encodings().isEmpty() ? null : new PageEncoder(codecs, pageSize, layout.pageSpan()),
                page -> page, 1);
    }

    /**
     * Sends every page of {@code pages} in page order as round {@code round}: zero pages as a
     * bare entry (or not at all with {@code skipZeroPages}, or where this sender never sent the
     * page non-zero), others in the best agreed encoding. Checks for cancellation and a
     * destination abort between frames.
     *
     * @param mayCut whether the round stops early when the caller asks for post-copy (a live
     *               round: its pages all go to post-copy then)
     * @return pages and bytes sent and the time it took
     */
    public RoundResult sendRound(PageSet pages, int round, boolean skipZeroPages, boolean mayCut)
            throws MigrationException {
        long start = time.nanoTime();
        long bytesBefore = bytesSent();
        long sentPages = 0;
        boolean cut = false;
        io.livemig.engine.internal.LiveControl control = link.control();
        // Small rounds (those before a switchover) hash what they send, so that the next leaves
        // out what is sent again unchanged (SentHashes); big ones are not worth the hashing.
        boolean hashing = pages.cardinality() <= SentHashes.SMALL_ROUND_PAGES;
        if (streamPool != null) {
            flush();
            sentPages = streamPool.sendRound(pages, round, skipZeroPages, mayCut, hashing);
            cut = mayCut && control.postcopyRequested();
            if (skippedFree != null) {
                skippedFree.removeAll(pages);
            }
        } else if (pool != null) {
            flush();
            sentPages = sendOnPool(pages, round, skipZeroPages, mayCut, hashing);
            cut = mayCut && control.postcopyRequested();
            if (skippedFree != null) {
                skippedFree.removeAll(pages);
            }
        } else {
            framer.hashRound(hashing);
            for (long page = pages.nextSetBit(0); page >= 0; page = pages.nextSetBit(page + 1)) {
                // At frame boundaries, as cancellation: not a volatile read per page.
                if (mayCut && !framer.hasOpenFrame() && control.postcopyRequested()) {
                    cut = true;
                    break;
                }
                if (append(page, round, skipZeroPages, true)) {
                    sentPages++;
                }
            }
            flush();
        }
        return new RoundResult(sentPages, bytesSent() - bytesBefore, time.nanoTime() - start, cut);
    }

    /** @return forward frame bytes sent on the first channel and every data connection */
    private long bytesSent() {
        return link.bytesSent() + (streams == null ? 0 : streams.bytesSent());
    }

    private long sendOnPool(PageSet pages, int round, boolean skipZeroPages, boolean mayCut, boolean hashing)
            throws MigrationException {
        io.livemig.engine.internal.LiveControl control = link.control();
        pool.start(pages, round, skipZeroPages, hashing);
        MigrationException failure = null;
        boolean interrupted = false;
        while (true) {
            EncoderPool.Produced p;
            try {
                p = pool.next();
            } catch (InterruptedException e) {
                interrupted = true;
                pool.stop();
                if (failure == null) {
                    failure = link.interrupted();
                }
                continue;
            }
            if (p == null) {
                break;
            }
            try {
                if (failure == null) {
                    link.checkCancelled();
                    link.countPages(p.writer().entries());
                    link.sendPaced(p.writer().frame());
                    if (mayCut && control.postcopyRequested()) {
                        // The rest of the round goes to post-copy: frames already made still go.
                        pool.stop();
                    }
                }
            } catch (MigrationException e) {
                failure = e;
                pool.stop();
            } finally {
                pool.release(p);
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        if (failure != null) {
            throw failure;
        }
        return pool.finish();
    }

    /**
     * Post-copy: adds {@code page} to the frame being built, sending the frame when it is full.
     * No delta or reference: the destination does not hold the page.
     */
    public void appendPostcopy(long page, int round) throws MigrationException {
        append(page, round, false, false);
    }

    private boolean append(long page, int round, boolean skipZeroPages, boolean allowDelta) throws MigrationException {
        if (!framer.hasOpenFrame()) {
            link.checkCancelled();
        }
        boolean added;
        try {
            added = framer.append(page, round, skipZeroPages, allowDelta);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw link.interrupted();
        }
        if (added && skippedFree != null) {
            skippedFree.remove(page);
        }
        send(framer.takeFull());
        return added;
    }

    /**
     * Post-copy: adds a page of the background push. With data connections it goes on them (each
     * full frame on the next connection in turn: every page is sent once after the switchover, so
     * any connection will do), and the first channel carries a PING whenever it has been quiet for
     * the keep-alive interval; without, as {@link #appendPostcopy}.
     */
    public void pushPostcopy(long page, int round) throws MigrationException {
        if (streams == null) {
            appendPostcopy(page, round);
            return;
        }
        if (!pushFramer.hasOpenFrame()) {
            link.checkCancelled();
        }
        try {
            pushFramer.append(page, round, false, false);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw link.interrupted();
        }
        if (skippedFree != null) {
            skippedFree.remove(page);
        }
        push(pushFramer.takeFull());
    }

    private void push(PageBatchWriter frame) throws MigrationException {
        if (frame == null) {
            return;
        }
        try {
            link.countPages(frame.entries());
            streams.sendPaced(nextPushStream, frame.frame());
            nextPushStream = (nextPushStream + 1) % streams.count();
        } finally {
            pushFramer.release(frame);
        }
        if (System.nanoTime() - lastControlNanos >= keepAliveNanos) {
            link.ping();
            lastControlNanos = System.nanoTime();
        }
        link.tick();
    }

    /** Sends the frames being built, if they hold any entry. */
    public void flush() throws MigrationException {
        send(framer.flush());
        if (streams != null) {
            push(pushFramer.flush());
        }
    }

    /**
     * Post-copy, before POSTCOPY_END: with data connections, flushes and sends a SYNC on each and
     * then on the first channel, so the destination checks that every page arrived only once every
     * connection delivered its pages. Nothing without data connections.
     */
    public void syncStreams() throws MigrationException {
        if (streams == null) {
            return;
        }
        flush();
        long sequence = streams.nextSequence();
        for (int k = 0; k < streams.count(); k++) {
            streams.link(k).send(new StreamFrames.Sync(sequence));
        }
        link.send(new StreamFrames.Sync(sequence));
    }

    /**
     * After a post-copy recovery: closes the data connections (the destination dropped its ends
     * when the link broke); every page goes on the first channel from now on.
     */
    public void dropStreams() {
        if (streams == null) {
            return;
        }
        pushFramer.discard();
        streams.close();
        streams = null;
    }

    private void send(PageBatchWriter frame) throws MigrationException {
        if (frame == null) {
            return;
        }
        try {
            link.countPages(frame.entries());
            link.sendPaced(frame.frame());
        } finally {
            framer.release(frame);
        }
    }

    /** Drops the frame being built (its pages are sent again after a recovery). */
    public void discardOpenFrame() {
        framer.discard();
    }

    /**
     * Records pages the guest reported free and that are therefore not sent: the destination
     * holds zeros there, and verification treats them as zero pages on the source too (a hint
     * means their content does not matter). Sending such a page later removes it again.
     */
    public void skipFreePages(PageSet free) {
        if (skippedFree == null) {
            skippedFree = free.copy();
        } else {
            skippedFree.addAll(free);
        }
    }

    /** @return the free pages skipped and never sent since, or null if none was skipped */
    public PageSet skippedFreePages() {
        return skippedFree;
    }

    /** @return the counters of every framer (the report adds them up) */
    public List<MigrationCounters> counters() {
        List<MigrationCounters> all = new ArrayList<>();
        all.add(framer.counters());
        if (streamPool != null) {
            all.addAll(streamPool.counters());
            all.add(pushFramer.counters());
            all.addAll(connections.counters());
        }
        if (pool != null) {
            all.addAll(pool.counters());
        }
        return all;
    }

    /** Stops the encoder threads and closes the data connections. Idempotent. */
    @Override
    public void close() {
        if (pool != null) {
            pool.close();
        }
        if (streamPool != null) {
            streamPool.close();
        }
        if (streams != null) {
            streams.close();
        }
    }
}
