package io.livemig.engine.internal.destination;

import io.livemig.engine.internal.EngineThreads;
import io.livemig.engine.internal.LatencyHistogram;
import io.livemig.engine.internal.jfr.JfrEvents;
import io.livemig.api.MigrationException;
import io.livemig.api.PostcopyStats;
import io.livemig.api.ProtocolException.Kind;
import io.livemig.api.TimeSource;
import io.livemig.compress.PageEncoding;
import io.livemig.engine.internal.wire.Frame;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.FrameWriter;
import io.livemig.engine.internal.wire.Message;
import io.livemig.engine.internal.wire.PageBitmap;
import io.livemig.engine.internal.wire.PostcopyFrames;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.engine.internal.wire.WireException;
import io.livemig.spi.DemandPaging;
import io.livemig.spi.PageSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The destination's side of post-copy: arms the target's demand paging with the pages still to
 * come, turns each first fault into a page request (sent by a thread of its own, batched, so a
 * faulting vCPU never waits on the network to send), installs arriving pages, and measures fault
 * latency (fault to installation).
 *
 * <p>Thread-safe: faults arrive on vCPU threads, installs on the receiving thread; the page
 * bookkeeping is guarded by {@code this}.
 */
final class PostcopyReceiver implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(PostcopyReceiver.class);

    private final DemandPaging paging;
    private final TimeSource time;
    private final DestinationLink link;
    private final PageSet stillMissing;
    private final ConcurrentHashMap<Long, Long> faultNanosByPage = new ConcurrentHashMap<>();
    /**
     * A bit per page, set before the page's entry in {@link #faultNanosByPage}: an arriving page
     * looks the map up (boxing its number) only if its bit says a vCPU faulted on it.
     */
    private final AtomicLongArray faulted;
    private final LinkedBlockingQueue<Long> requests = new LinkedBlockingQueue<>();
    /** Fault-to-installation latencies of pulled pages; guarded by {@code this}. */
    private final LatencyHistogram latencies = new LatencyHistogram();
    private final Thread requester;
    /** Acknowledge post-copy frames every this many bytes (the source's push window is at least twice this). */
    static final long ACK_EVERY_BYTES = 256 << 10;
    /** Receiving thread only. */
    private long receivedBytes;
    /** Receiving thread only. */
    private long ackedAt;
    private long pulled;
    private long pushed;
    private volatile boolean closed;

    /**
     * @param paging    the target's demand paging, armed here
     * @param missing   the pages the source announced
     * @param time      the destination's clock
     * @param link      where page requests go (from a thread of this receiver's own)
     * @param vcpuCount the target's vCPUs
     */
    PostcopyReceiver(DemandPaging paging, PageSet missing, TimeSource time, DestinationLink link, int vcpuCount) {
        this.paging = paging;
        this.time = time;
        this.link = link;
        this.stillMissing = missing.copy();
        this.faulted = new AtomicLongArray(missing.wordCount());
        // A platform thread: it starts inside the downtime, and the first virtual thread of a
        // process pays for starting their scheduler (10-60 ms measured here). The thread's task
        // and the fault listener are classes, not lambdas: linking a lambda's call site the first
        // time costs milliseconds, and this runs inside the downtime.
        this.requester = EngineThreads.unstarted("livemig-page-requests", new Runnable() {
            @Override
            public void run() {
                sendRequests();
            }
        });
        // Started before the arming: a thread's start maps its stack, which waits for the
        // address space's lock while a KVM provider's arming moves guest RAM (1.5 ms measured).
        requester.start();
        try {
            paging.arm(missing, new DemandPaging.FaultListener() {
                @Override
                public void onFault(long page, int vcpu) {
                    PostcopyReceiver.this.onFault(page, vcpu);
                }
            });
        } catch (RuntimeException e) {
            closed = true;
            requester.interrupt();
            throw e;
        }
    }

    private void onFault(long page, int vcpu) {
        // A compare-and-set loop, not getAndAccumulate's lambda: the first fault comes right
        // after the resume, where linking a call site costs milliseconds (see the constructor).
        int word = (int) (page >>> 6);
        long bits;
        do {
            bits = faulted.get(word);
        } while ((bits & 1L << page) == 0 && !faulted.compareAndSet(word, bits, bits | 1L << page));
        if (faultNanosByPage.putIfAbsent(page, time.nanoTime()) == null) {
            requests.add(page);
        }
    }

    private void sendRequests() {
        FrameWriter writer = new FrameWriter(8 * Wire.MAX_REQUEST_PAGES + 64);
        long[] batch = new long[Wire.MAX_REQUEST_PAGES];
        try {
            while (!closed) {
                batch[0] = requests.take();
                int n = 1;
                Long more;
                while (n < batch.length && (more = requests.poll()) != null) {
                    batch[n++] = more;
                }
                n = stillMissing(batch, n);
                if (n == 0) {
                    continue; // every page arrived (pushed) while its request waited here
                }
                if (!link.trySend(PostcopyFrames.PageRequest.write(writer, batch, n))) {
                    // The link is down: these are asked again after recovery.
                    LOG.debug("{} page requests wait for a new link", n);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Keeps, in order, the pages of {@code pages[0..count)} that are still missing: a request for
     * a page that arrived meanwhile would only be a race at the source.
     *
     * @return how many were kept, at the front of {@code pages}
     */
    private synchronized int stillMissing(long[] pages, int count) {
        int kept = 0;
        for (int i = 0; i < count; i++) {
            if (stillMissing.contains(pages[i])) {
                pages[kept++] = pages[i];
            }
        }
        return kept;
    }

    /**
     * Installs a page that arrived.
     *
     * @return whether it was installed (false for a page not missing: it is left unchanged)
     */
    synchronized boolean install(long page, PageEncoding encoding, ByteBuffer payload) {
        if (!stillMissing.contains(page)) {
            return false;
        }
        boolean installed = encoding == PageEncoding.ZERO ? paging.installZero(page) : paging.install(page, payload);
        arrived(page);
        return installed;
    }

    /**
     * Installs a run of contiguous pages that arrived, with one {@link DemandPaging#installRun}
     * per stretch of the run's pages still missing (one, unless some came twice).
     *
     * @param firstPage the run's first page
     * @param pageCount 1 to {@link DemandPaging#MAX_RUN_PAGES}
     * @param content   exactly {@code pageCount} pages; not retained
     * @return a mask: bit {@code i} set if page {@code firstPage + i} was installed; pages not
     *         missing are left unchanged
     */
    synchronized long installRun(long firstPage, int pageCount, ByteBuffer content) {
        int pageBytes = content.remaining() / pageCount;
        int start = content.position();
        int limit = content.limit();
        long installed = 0;
        int i = 0;
        while (i < pageCount) {
            if (!stillMissing.contains(firstPage + i)) {
                i++;
                continue;
            }
            int end = i + 1;
            while (end < pageCount && stillMissing.contains(firstPage + end)) {
                end++;
            }
            // The stretch as content's window (a slice per stretch was the receiver's garbage).
            content.limit(start + end * pageBytes).position(start + i * pageBytes);
            try {
                installed |= paging.installRun(firstPage + i, end - i, content) << i;
            } finally {
                content.limit(limit).position(start);
            }
            for (int k = i; k < end; k++) {
                arrived(firstPage + k);
            }
            i = end;
        }
        return installed;
    }

    /** Called with the lock held: {@code page} is no longer missing; a pulled page's wait is measured. */
    private void arrived(long page) {
        stillMissing.remove(page);
        Long faultedAt = (faulted.get((int) (page >>> 6)) & 1L << page) == 0 ? null : faultNanosByPage.get(page);
        if (faultedAt != null) {
            long waited = time.nanoTime() - faultedAt;
            latencies.record(waited);
            JfrEvents.demandFault(page, waited);
            pulled++;
        } else {
            pushed++;
        }
    }

    /** @return pages announced and not installed yet */
    synchronized long missingPages() {
        return stillMissing.cardinality();
    }

    /** @return a copy of the pages still missing */
    synchronized PageSet missingSet() {
        return stillMissing.copy();
    }

    /**
     * Goes on over a new channel after a recovery: tells the source which pages are still missing
     * (RECOVER_MISSING chunks, RECOVER), waits for its RECOVER_ACK, then counts acknowledgements
     * from zero and asks again for every page a vCPU is still blocked on.
     *
     * @return the pages still missing
     * @throws WireException if the source answers anything but a well-formed RECOVER_ACK
     */
    long resumeOn(DestinationLink link, Message.Context context) throws WireException, MigrationException {
        PageSet missing = missingSet();
        for (PageBitmap chunk : PageBitmap.chunks(FrameType.RECOVER_MISSING, missing, link.frameLimitBytes())) {
            link.send(chunk);
        }
        link.send(new PostcopyFrames.Recover(missing.cardinality()));
        Frame ack = link.receive();
        if (ack.type() != FrameType.RECOVER_ACK) {
            throw new WireException(Kind.UNEXPECTED, "expected RECOVER_ACK after recovery, got " + ack.type());
        }
        Message.read(ack, context);
        newChannel();
        rerequestOutstanding();
        return missing.cardinality();
    }

    /** After a recovery: asks again for every page a vCPU faulted on that has not arrived. */
    private synchronized void rerequestOutstanding() {
        for (Long page : faultNanosByPage.keySet()) {
            if (stillMissing.contains(page)) {
                requests.add(page);
            }
        }
    }

    /** @return the POSTCOPY_DONE message: fault count, latency percentiles, blocked time per vCPU */
    synchronized PostcopyFrames.PostcopyDone done() {
        return new PostcopyFrames.PostcopyDone(faultNanosByPage.size(), latencies.percentileNanos(50),
                latencies.percentileNanos(99),
                paging.blockedNanosPerVcpu());
    }

    /** @return the destination's view of post-copy for its own report */
    synchronized PostcopyStats stats(int recoveries) {
        PostcopyFrames.PostcopyDone d = done();
        List<Duration> blocked = new ArrayList<>();
        for (long nanos : d.blockedNanos()) {
            blocked.add(Duration.ofNanos(nanos));
        }
        return new PostcopyStats(d.faults(), pulled, pushed, 0, Duration.ofNanos(d.latencyP50Nanos()),
                Duration.ofNanos(d.latencyP99Nanos()), blocked, recoveries);
    }

    /**
     * Flow control: counts a post-copy PAGES frame of {@code frameBytes} bytes received on the
     * current channel.
     *
     * @return the byte count to acknowledge now (POSTCOPY_ACK, every {@value #ACK_EVERY_BYTES}
     *         bytes), or -1 if none is due
     */
    long received(long frameBytes) {
        receivedBytes += frameBytes;
        if (receivedBytes - ackedAt < ACK_EVERY_BYTES) {
            return -1;
        }
        ackedAt = receivedBytes;
        return receivedBytes;
    }

    /** After a recovery: acknowledgements count from zero on the new channel. */
    private void newChannel() {
        receivedBytes = 0;
        ackedAt = 0;
    }

    /** Stops the requester and disarms demand paging. Idempotent; never throws. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            requester.interrupt();
            try {
                paging.disarm();
            } catch (RuntimeException e) {
                // Never let a provider's disarm replace the failure or report being built.
                LOG.warn("disarming demand paging failed", e);
            }
        }
    }
}
