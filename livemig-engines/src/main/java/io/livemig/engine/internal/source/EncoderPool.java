package io.livemig.engine.internal.source;

import io.livemig.engine.internal.EngineThreads;
import io.livemig.compress.PageEncoder;
import io.livemig.engine.internal.MigrationCounters;
import io.livemig.engine.internal.wire.PageBatchWriter;
import io.livemig.spi.MemorySource;
import io.livemig.spi.PageSet;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Several threads that read and encode the pages of a round in parallel, while the migration
 * thread takes the frames they finish ({@link #next()}, in the order they finish) and sends them.
 *
 * <p>Pages are split in blocks of {@value #BLOCK_PAGES} between the threads: block {@code b}
 * belongs to thread {@code b mod n}, always, so each thread's encoder owns the XBZRLE cache and
 * dedup index of its own pages (keyed densely, see {@link PageEncoder}). A round ends only when
 * every frame of it was taken, and a page appears at most once per round, so frames of different
 * threads may interleave freely: no older version of a page can land after a newer one. Dedup
 * references stay within one thread's pages, which that thread sends in order.
 *
 * <p>{@link #start}, {@link #next}, {@link #release}, {@link #stop} and {@link #finish} are for
 * the migration's thread; one round at a time.
 */
final class EncoderPool implements AutoCloseable {

    static final int BLOCK_PAGES = 512;

    /** A finished frame and the framer whose writer it is. */
    record Produced(PageBatchWriter writer, PageFramer from) {
    }

    private record Done(long pages, Throwable error) {
    }

    private final int n;
    private final long pageSpan;
    private final PageFramer[] framers;
    private final ExecutorService threads;
    private volatile boolean stop;
    private BlockingQueue<Object> out;
    private int done;
    private long sent;
    private Throwable workerFailure;

    EncoderPool(int n, MemorySource memory, int pageSize, int batchPages, int maxFrameBytes, PageEncoder.Config config,
                long pageSpan) {
        this.n = n;
        this.pageSpan = pageSpan;
        this.framers = partFramers(n, memory, pageSize, batchPages, maxFrameBytes, config, pageSpan, 2);
        this.threads = Executors.newFixedThreadPool(n, EngineThreads.named("livemig-encoder-"));
    }

    /**
     * Makes one framer per part: part {@code k} owns blocks {@code b} with {@code b mod n == k}, and
     * its encoder keys its pages densely, with a {@code 1/n} share of the XBZRLE cache.
     *
     * @param buffers frame buffers per framer (see {@link PageFramer})
     */
    static PageFramer[] partFramers(int n, MemorySource memory, int pageSize, int batchPages, int maxFrameBytes,
                                    PageEncoder.Config config, long pageSpan, int buffers) {
        PageFramer[] framers = new PageFramer[n];
        long stride = (long) BLOCK_PAGES * n;
        long keys = (pageSpan + stride - 1) / stride * BLOCK_PAGES;
        long cacheShare = Math.max(4L * pageSize, config.xbzrleCacheBytes() / n);
        PageEncoder.Config share = new PageEncoder.Config(config.encodings(), cacheShare, config.zstdLevel(),
                config.xbzrleFirstPass());
        for (int k = 0; k < n; k++) {
            int part = k;
            PageEncoder encoder = new PageEncoder(share, pageSize, keys,
                    key -> key / BLOCK_PAGES * stride + (long) part * BLOCK_PAGES + key % BLOCK_PAGES);
            framers[k] = new PageFramer(memory, pageSize, batchPages, maxFrameBytes, encoder,
                    page -> page / stride * BLOCK_PAGES + page % BLOCK_PAGES, buffers);
        }
        return framers;
    }

    /** @return each thread's counters */
    List<MigrationCounters> counters() {
        List<MigrationCounters> all = new ArrayList<>();
        for (PageFramer f : framers) {
            all.add(f.counters());
        }
        return all;
    }

    /** Starts encoding {@code pages} as round {@code round} on every thread. */
    void start(PageSet pages, int round, boolean skipZeroPages, boolean hashing) {
        for (PageFramer f : framers) {
            f.hashRound(hashing); // before the workers start: the executor orders it before their appends
        }
        out = new LinkedBlockingQueue<>();
        stop = false;
        done = 0;
        sent = 0;
        workerFailure = null;
        BlockingQueue<Object> queue = out;
        for (int k = 0; k < n; k++) {
            int part = k;
            threads.execute(() -> {
                try {
                    queue.add(new Done(encodePart(part, pages, round, skipZeroPages, queue), null));
                } catch (Throwable t) {
                    framers[part].discard();
                    queue.add(new Done(0, t));
                }
            });
        }
    }

    /**
     * Waits for the next finished frame.
     *
     * @return the frame, or null once every thread has ended (call {@link #finish()} then)
     * @throws InterruptedException if interrupted while waiting (call {@link #stop()} and go on
     *                              taking frames until null)
     */
    Produced next() throws InterruptedException {
        while (done < n) {
            Object o = out.take();
            if (o instanceof Produced p) {
                return p;
            }
            Done d = (Done) o;
            done++;
            sent += d.pages();
            if (d.error() != null && workerFailure == null) {
                workerFailure = d.error();
                stop = true;
            }
        }
        return null;
    }

    /** Gives a frame's writer back to its framer, sent or not. */
    void release(Produced p) {
        p.from().release(p.writer());
    }

    /** Asks every thread to stop at its next page; the frames they already made still come out of {@link #next()}. */
    void stop() {
        stop = true;
    }

    /**
     * Ends the round, once {@link #next()} returned null.
     *
     * @return the page entries sent
     * @throws RuntimeException the failure of an encoder thread, if one failed
     */
    long finish() {
        rethrowUnchecked(workerFailure, "an encoder thread failed");
        return sent;
    }

    /**
     * Throws a worker thread's failure on the migration thread: a RuntimeException or Error as it
     * is, anything else (a checked exception the caller does not expect) wrapped. Nothing if null.
     */
    static void rethrowUnchecked(Throwable failure, String what) {
        if (failure instanceof RuntimeException e) {
            throw e;
        }
        if (failure instanceof Error e) {
            throw e;
        }
        if (failure != null) {
            throw new IllegalStateException(what, failure);
        }
    }

    private long encodePart(int part, PageSet pages, int round, boolean skipZeroPages, BlockingQueue<Object> queue)
            throws InterruptedException {
        PageFramer framer = framers[part];
        long count = 0;
        for (long block = part; block * BLOCK_PAGES < pageSpan; block += n) {
            long end = (block + 1) * BLOCK_PAGES;
            for (long p = pages.nextSetBit(block * BLOCK_PAGES); p >= 0 && p < end; p = pages.nextSetBit(p + 1)) {
                if (stop) {
                    framer.discard();
                    return count;
                }
                if (framer.append(p, round, skipZeroPages, true)) {
                    count++;
                }
                PageBatchWriter full = framer.takeFull();
                if (full != null) {
                    queue.add(new Produced(full, framer));
                }
            }
        }
        PageBatchWriter last = framer.flush();
        if (last != null) {
            queue.add(new Produced(last, framer));
        }
        return count;
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
