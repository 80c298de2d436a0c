package io.livemig.engine.internal;

import io.livemig.api.MigrationCancelledException;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationPhase;
import io.livemig.api.SourceVmState;
import io.livemig.compress.PageEncoder;
import io.livemig.engine.internal.wire.FrameWriter;
import io.livemig.spi.MemorySource;
import io.livemig.spi.PageSet;

import java.nio.ByteBuffer;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Several threads that read and encode the pages of a round in parallel, while the migration
 * thread sends the frames they produce (in the order they finish).
 *
 * <p>Pages are split in blocks of {@value #BLOCK_PAGES} between the threads: block {@code b}
 * belongs to thread {@code b mod n}, always, so each thread's encoder owns the XBZRLE cache and
 * dedup index of its own pages (keyed densely, see {@link PageEncoder}). A round returns only when
 * every frame of it was sent, and a page appears at most once per round, so frames of different
 * threads may interleave freely: no older version of a page can land after a newer one. Dedup
 * references stay within one thread's pages, which that thread sends in order.
 */
final class EncoderPool implements AutoCloseable {

    static final int BLOCK_PAGES = 512;

    /** Sends one finished frame (on the migration thread). */
    interface Sender {
        void send(ByteBuffer frame) throws MigrationException;
    }

    private record Ready(ByteBuffer frame, FrameWriter writer, PageFramer from) {
    }

    private record Done(long pages, Throwable error) {
    }

    private final int n;
    private final long pageSpan;
    private final PageFramer[] framers;
    private final ExecutorService threads;
    private volatile boolean stop;

    EncoderPool(int n, MemorySource memory, int pageSize, int batchPages, int maxFrameBytes, PageEncoder.Config config,
                long pageSpan) {
        this.n = n;
        this.pageSpan = pageSpan;
        this.framers = new PageFramer[n];
        long stride = (long) BLOCK_PAGES * n;
        long keys = (pageSpan + stride - 1) / stride * BLOCK_PAGES;
        long cacheShare = Math.max(4L * pageSize, config.xbzrleCacheBytes() / n);
        PageEncoder.Config share = new PageEncoder.Config(config.encodings(), cacheShare, config.zstdLevel());
        for (int k = 0; k < n; k++) {
            int part = k;
            PageEncoder encoder = new PageEncoder(share, pageSize, keys,
                    key -> key / BLOCK_PAGES * stride + (long) part * BLOCK_PAGES + key % BLOCK_PAGES);
            framers[k] = new PageFramer(memory, pageSize, batchPages, maxFrameBytes, encoder,
                    page -> page / stride * BLOCK_PAGES + page % BLOCK_PAGES, 2);
        }
        this.threads = Executors.newFixedThreadPool(n, Thread.ofPlatform().daemon().name("livemig-encoder-", 0)
                .factory());
    }

    /** @return the framers, for their counters */
    PageFramer[] framers() {
        return framers;
    }

    /**
     * Encodes {@code pages} on the pool and sends every frame through {@code sender} on the
     * calling thread; returns when all are sent, or throws after the threads have stopped.
     *
     * @return the number of page entries sent
     */
    long round(PageSet pages, int round, boolean skipZeroPages, Sender sender, MigrationPhase phase,
               SourceVmState vmState) throws MigrationException {
        BlockingQueue<Object> out = new LinkedBlockingQueue<>();
        stop = false;
        for (int k = 0; k < n; k++) {
            int part = k;
            threads.execute(() -> {
                try {
                    out.add(new Done(encodePart(part, pages, round, skipZeroPages, out), null));
                } catch (Throwable t) {
                    framers[part].discard();
                    out.add(new Done(0, t));
                }
            });
        }
        int done = 0;
        long sent = 0;
        MigrationException failure = null;
        Throwable workerFailure = null;
        boolean interrupted = false;
        while (done < n) {
            Object o;
            try {
                o = out.take();
            } catch (InterruptedException e) {
                interrupted = true;
                stop = true;
                if (failure == null) {
                    failure = new MigrationCancelledException("interrupted", phase, vmState);
                }
                continue;
            }
            if (o instanceof Ready r) {
                try {
                    if (failure == null && workerFailure == null) {
                        sender.send(r.frame());
                    }
                } catch (MigrationException e) {
                    failure = e;
                    stop = true;
                } finally {
                    r.from().release(r.writer());
                }
            } else {
                Done d = (Done) o;
                done++;
                sent += d.pages();
                if (d.error() != null && workerFailure == null) {
                    workerFailure = d.error();
                    stop = true;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        if (failure != null) {
            throw failure;
        }
        if (workerFailure instanceof RuntimeException e) {
            throw e;
        }
        if (workerFailure instanceof Error e) {
            throw e;
        }
        if (workerFailure != null) {
            throw new IllegalStateException("an encoder thread failed", workerFailure);
        }
        return sent;
    }

    private long encodePart(int part, PageSet pages, int round, boolean skipZeroPages, BlockingQueue<Object> out)
            throws Exception {
        PageFramer framer = framers[part];
        PageFramer.FrameOut handOver = (frame, writer, from) -> out.add(new Ready(frame, writer, from));
        long sent = 0;
        for (long block = part; block * BLOCK_PAGES < pageSpan; block += n) {
            long end = (block + 1) * BLOCK_PAGES;
            for (long p = pages.nextSetBit(block * BLOCK_PAGES); p >= 0 && p < end; p = pages.nextSetBit(p + 1)) {
                if (stop) {
                    framer.discard();
                    return sent;
                }
                if (framer.append(p, round, skipZeroPages, true, handOver)) {
                    sent++;
                }
            }
        }
        framer.flush(handOver);
        return sent;
    }

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
