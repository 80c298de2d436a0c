package io.livemig.engine.internal.source;

import io.livemig.engine.internal.EngineThreads;
import io.livemig.api.MigrationException;
import io.livemig.compress.PageEncoder;
import io.livemig.engine.internal.MigrationCounters;
import io.livemig.engine.internal.wire.PageBatchWriter;
import io.livemig.engine.internal.wire.StreamFrames;
import io.livemig.spi.MemorySource;
import io.livemig.spi.PageSet;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Sends the rounds of pre-copy and stop-copy over the {@link SourceStreams}: one thread per data
 * connection reads, encodes and sends its own pages, and ends each round with a SYNC on its
 * connection; once every thread is done, the migration's thread sends the same SYNC on the first
 * channel (docs/protocol.md, section 6).
 *
 * <p><b>Why a page is never overtaken by an older copy of itself.</b> Pages are split in blocks
 * of {@value EncoderPool#BLOCK_PAGES} as in {@link EncoderPool}: block {@code b} belongs to
 * connection {@code b mod n}, for the whole migration. A page therefore always travels on the same
 * connection, which delivers in order, so its round-{@code k+1} copy arrives after its round-{@code k}
 * copy, and an XBZRLE delta after the version it is a delta of (each connection's encoder owns the
 * cache of its own pages, as each destination thread applies them). Dedup references stay within
 * one connection's pages too. The SYNC at the end of every round is what the destination needs to
 * act on the first channel's switchover frames (COMMIT) only after every page of the last round
 * landed.
 *
 * <p>While the threads send, the first channel would be quiet for as long as a round lasts; the
 * migration's thread sends a PING on it every {@link #keepAliveNanos} of real time, so that the
 * destination's receive on it does not time out.
 *
 * <p>{@link #sendRound} is for the migration's thread, one round at a time. Owns its threads:
 * {@link #close()} stops them.
 */
final class StreamPool implements AutoCloseable {

    private record Done(long pages, Throwable error) {
    }

    private final SourceStreams streams;
    private final SourceLink control;
    private final int n;
    private final long pageSpan;
    private final PageFramer[] framers;
    private final ExecutorService threads;
    private final long keepAliveNanos;
    private volatile boolean stop;

    StreamPool(SourceStreams streams, SourceLink control, MemorySource memory, int pageSize, int batchPages,
               int maxFrameBytes, PageEncoder.Config codecs, long pageSpan, long keepAliveNanos) {
        this.streams = streams;
        this.control = control;
        this.n = streams.count();
        this.pageSpan = pageSpan;
        this.keepAliveNanos = keepAliveNanos;
        this.framers = EncoderPool.partFramers(n, memory, pageSize, batchPages, maxFrameBytes, codecs, pageSpan, 1);
        this.threads = Executors.newFixedThreadPool(n, EngineThreads.named("livemig-stream-"));
    }

    /** @return each connection's encoder counters */
    List<MigrationCounters> counters() {
        List<MigrationCounters> all = new ArrayList<>();
        for (PageFramer f : framers) {
            all.add(f.counters());
        }
        return all;
    }

    /**
     * Sends {@code pages} as round {@code round} over every connection and ends it with SYNC on
     * each and on the first channel.
     *
     * @return the page entries sent
     * @throws MigrationException if a connection failed, the destination aborted, or the migration
     *                            was cancelled; the other threads stop at their next page
     */
    long sendRound(PageSet pages, int round, boolean skipZeroPages, boolean mayCut, boolean hashing)
            throws MigrationException {
        for (PageFramer f : framers) {
            f.hashRound(hashing); // before the senders start: the executor orders it before their appends
        }
        long sequence = streams.nextSequence();
        LinkedBlockingQueue<Done> done = new LinkedBlockingQueue<>();
        stop = false;
        for (int k = 0; k < n; k++) {
            int part = k;
            threads.execute(() -> {
                try {
                    done.add(new Done(sendPart(part, pages, round, skipZeroPages, sequence), null));
                } catch (Throwable t) {
                    stop = true;
                    framers[part].discard();
                    done.add(new Done(0, t));
                }
            });
        }
        long sent = 0;
        Throwable failure = null;
        boolean interrupted = false;
        for (int finished = 0; finished < n; ) {
            Done d;
            try {
                d = done.poll(keepAliveNanos, TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                interrupted = true;
                stop = true;
                if (failure == null) {
                    failure = control.interrupted();
                }
                continue;
            }
            if (d == null) {
                if (failure == null) {
                    try {
                        control.checkCancelled();
                        control.tick();
                        if (mayCut && control.control().postcopyRequested()) {
                            // The rest of the round goes to post-copy.
                            stop = true;
                        }
                        control.ping();
                    } catch (MigrationException e) {
                        failure = e;
                        stop = true;
                    }
                }
                continue;
            }
            finished++;
            sent += d.pages();
            if (d.error() != null && (failure == null || !(failure instanceof MigrationException)
                    && d.error() instanceof MigrationException)) {
                failure = d.error();
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        if (failure instanceof MigrationException e) {
            throw e;
        }
        EncoderPool.rethrowUnchecked(failure, "a stream thread failed");
        control.send(new StreamFrames.Sync(sequence));
        return sent;
    }

    private long sendPart(int part, PageSet pages, int round, boolean skipZeroPages, long sequence)
            throws MigrationException, InterruptedException {
        PageFramer framer = framers[part];
        SourceLink link = streams.link(part);
        long count = 0;
        for (long block = part; block * EncoderPool.BLOCK_PAGES < pageSpan; block += n) {
            long end = (block + 1) * EncoderPool.BLOCK_PAGES;
            for (long p = pages.nextSetBit(block * EncoderPool.BLOCK_PAGES); p >= 0 && p < end;
                 p = pages.nextSetBit(p + 1)) {
                if (stop) {
                    framer.discard();
                    return count;
                }
                if (framer.append(p, round, skipZeroPages, true)) {
                    count++;
                }
                send(part, framer, framer.takeFull());
            }
        }
        send(part, framer, framer.flush());
        link.send(new StreamFrames.Sync(sequence));
        return count;
    }

    private void send(int part, PageFramer framer, PageBatchWriter frame) throws MigrationException {
        if (frame == null) {
            return;
        }
        try {
            control.checkCancelled();
            control.countPages(frame.entries());
            streams.sendPaced(part, frame.frame());
        } finally {
            framer.release(frame);
        }
    }

    /** Stops the threads. Idempotent. */
    @Override
    public void close() {
        stop = true;
        threads.shutdownNow();
        try {
            threads.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
